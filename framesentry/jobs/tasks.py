"""The Celery tasks: thin wrappers that turn a runner/webhook outcome into ack, retry or a follow-up task."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from celery import Celery, Task
from celery.exceptions import TimeLimitExceeded

from framesentry.errors import JobTimeLimitError, TransientError
from framesentry.jobs import webhooks
from framesentry.jobs.context import JobContext
from framesentry.jobs.deep_pass import queue_state, run_deep_pass_job
from framesentry.jobs.runner import TRANSIENT, mark_failed, retry_delay_s, run_analysis
from framesentry.obs import logs
from framesentry.obs.metrics import metrics, record_gpu_memory

log = logging.getLogger(__name__)

ANALYZE = "framesentry.analyze"
EXPLAIN = "framesentry.explain"
DELIVER_WEBHOOK = "framesentry.deliver_webhook"


def context_of(app: Celery) -> JobContext:
    ctx = getattr(app, "framesentry_context", None)
    if not isinstance(ctx, JobContext):
        raise RuntimeError("Celery app was not made by framesentry.jobs.app.create_celery")
    return ctx


def enqueue_deep_pass(app: Celery, analysis_id: uuid.UUID) -> None:
    """Mark the analysis's deep pass queued (the API shows it at once), then send it to the explain queue."""
    ctx = context_of(app)
    queue_state(ctx, analysis_id)
    app.send_task(EXPLAIN, args=[str(analysis_id)], queue=ctx.settings.explain_queue)


class AnalysisTask(Task):
    """Adds a failure hook: a job killed by the hard time limit (or a bug that escaped) is marked failed."""

    def on_failure(self, exc: BaseException, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                   einfo: Any) -> None:
        analysis_id = uuid.UUID(str(args[0] if args else kwargs["analysis_id"]))
        if isinstance(exc, TimeLimitExceeded):
            code, message = JobTimeLimitError.code, "The analysis ran past the hard time limit and was stopped."
        elif isinstance(exc, TRANSIENT):
            code, message = TransientError.code, f"The analysis kept failing on a temporary fault: {exc}"
        else:
            code, message = "internal_error", "The analysis failed because of an internal error; it has been logged."
        try:
            mark_failed(context_of(self.app), analysis_id, code, message)
        except Exception:
            log.exception("could not mark analysis %s failed", analysis_id)


def register_tasks(app: Celery) -> None:
    """Attach the tasks to ``app`` (each app gets its own, bound to its own settings and context)."""
    settings = context_of(app).settings

    @app.task(
        name=ANALYZE,
        base=AnalysisTask,
        shared=False,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        soft_time_limit=settings.job_time_limit_s + 30,
        time_limit=settings.job_time_limit_s + 90,
        max_retries=None,
    )
    def analyze(self: Task, analysis_id: str, transient_retries: int = 0) -> str:
        """Analyse one uploaded file; the database row says how it went."""
        ctx = context_of(self.app)
        with logs.bound(analysis_id=analysis_id):
            return _analyze(self, ctx, analysis_id, transient_retries)

    def _analyze(self: Task, ctx: JobContext, analysis_id: str, transient_retries: int) -> str:
        t0 = time.perf_counter()
        try:
            outcome = run_analysis(ctx, uuid.UUID(analysis_id), retries_done=transient_retries)
        except TRANSIENT as exc:  # the database or broker failed before the job could even be claimed
            if transient_retries >= settings.job_max_retries:
                raise
            log.warning("analysis %s: %s before start; retrying", analysis_id, exc)
            raise self.retry(args=[analysis_id], kwargs={"transient_retries": transient_retries + 1},
                             countdown=retry_delay_s(settings.job_retry_backoff_s, transient_retries)) from exc
        metrics().job_seconds.labels(outcome.kind).observe(time.perf_counter() - t0)
        record_gpu_memory()
        log.info("analysis %s: %s", analysis_id, outcome.kind)
        if outcome.kind == "done" and settings.explain_enabled:  # the deep pass, after the verdict is stored
            enqueue_deep_pass(app, uuid.UUID(analysis_id))
        if outcome.notify:
            app.send_task(DELIVER_WEBHOOK, args=[analysis_id, str(uuid.uuid4())], queue=settings.webhook_queue)
        if outcome.kind in ("retry", "busy"):
            # Only transient faults use up the retry budget; waiting for another worker's lease does not.
            retries = transient_retries + 1 if outcome.kind == "retry" else transient_retries
            raise self.retry(args=[analysis_id], kwargs={"transient_retries": retries},
                             countdown=outcome.retry_in_s)
        return outcome.kind

    @app.task(name=EXPLAIN, bind=True, shared=False, acks_late=True, soft_time_limit=settings.job_time_limit_s,
              time_limit=settings.job_time_limit_s + 60)
    def explain(self: Task, analysis_id: str) -> str:
        """Deep pass: heat maps, audio saliency, summary and report for a finished analysis."""
        return run_deep_pass_job(context_of(self.app), uuid.UUID(analysis_id)).kind

    @app.task(name=DELIVER_WEBHOOK, bind=True, shared=False, acks_late=True, max_retries=None)
    def deliver_webhook(self: Task, analysis_id: str, delivery_id: str) -> str:
        """POST the signed event; retried with backoff until it is accepted or attempts run out."""
        ctx = context_of(self.app)
        try:
            with logs.bound(analysis_id=analysis_id):
                outcome = webhooks.deliver(ctx, uuid.UUID(analysis_id), uuid.UUID(delivery_id))
        except TRANSIENT as exc:  # our own database hiccuped: try again later, within the attempt budget
            if self.request.retries >= 2 * settings.webhook_max_attempts:
                raise
            delay = webhooks.backoff_s(settings.webhook_backoff_s, 1 + self.request.retries)
            raise self.retry(countdown=delay) from exc
        if outcome.retry_in_s is not None:
            raise self.retry(countdown=outcome.retry_in_s)
        return "delivered" if outcome.delivered else "stopped"
