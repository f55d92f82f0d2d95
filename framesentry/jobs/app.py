"""The Celery application, built from settings.

Reliability settings: ``acks_late`` (a job is acknowledged only after it finished), ``reject_on_worker_lost``
(a killed pool child puts its job back), prefetch 1 (a worker holds no more jobs than it runs) and, on Redis,
a visibility timeout longer than the job time limit (a job held by a worker that vanished is redelivered).
The result backend is off: the database is the source of truth for status and progress.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from framesentry.config import Settings
from framesentry.jobs.context import JobContext
from framesentry.jobs.tasks import ANALYZE, register_tasks

MEMORY_BROKER = "memory://localhost/"


def transport_options(settings: Settings) -> dict[str, Any]:
    if settings.embedded:
        return {"polling_interval": 0.1}
    visibility = settings.visibility_timeout_s
    options: dict[str, Any] = {
        "visibility_timeout": visibility,
        # Sweep for messages of dead workers often enough to honour a short visibility timeout.
        "unacked_restore_interval": max(1, min(60, round(visibility / 5))),
        "unacked_restore_throttle": 1,
        "socket_connect_timeout": settings.broker_timeout_s,
        # A broker that accepts but never answers must not hang a publish (an upload) for minutes.
        "socket_timeout": settings.broker_timeout_s,
    }
    if settings.broker_key_prefix:
        options["global_keyprefix"] = settings.broker_key_prefix
    return options


def create_celery(settings: Settings, context: JobContext | None = None) -> Celery:
    """A Celery app for these settings; the embedded server uses the in-process memory broker."""
    app = Celery("framesentry", set_as_current=False)
    app.conf.update(
        broker_url=settings.broker_url or MEMORY_BROKER,
        broker_transport_options=transport_options(settings),
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=settings.broker_timeout_s,
        result_backend=None,
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=settings.queue_name,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=settings.worker_concurrency,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_hijack_root_logger=False,
        worker_enable_remote_control=False,
        worker_send_task_events=False,
        enable_utc=True,
    )
    ctx = context or JobContext(settings)
    app.framesentry_context = ctx
    register_tasks(app)

    def _after_fork(**_: Any) -> None:
        ctx.after_fork()

    worker_process_init.connect(_after_fork, weak=False)
    return app


def enqueue_analysis(app: Celery, analysis_id: str, queue: str) -> None:
    """Publish one analysis job (raises kombu/redis errors when the broker is unreachable)."""
    app.send_task(ANALYZE, args=[analysis_id], queue=queue, retry=True,
                  retry_policy={"max_retries": 1, "interval_start": 0.2, "interval_step": 0.5})
