"""``framesentry worker``: a Celery worker for the distributed mode (Redis broker, shared database)."""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

import typer


def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Jobs run at once (default FRAMESENTRY_WORKER_CONCURRENCY, 1).")
    ] = None,
    pool: Annotated[str, typer.Option(help="Celery pool: prefork (time limits enforced) or solo.")] = "prefork",
    log_level: Annotated[str, typer.Option(help="Worker log level.")] = "info",
) -> None:
    """Run a Celery worker for the distributed mode (FRAMESENTRY_BROKER_URL).

    Migrates the database first (safe beside the API) and re-queues jobs left by a worker that died. Stop with
    Ctrl-C: a running job finishes first; a killed worker's job is redelivered.
    """
    from framesentry.cli.service_settings import load_settings
    from framesentry.errors import ConfigError
    from framesentry.jobs.app import create_celery
    from framesentry.jobs.recovery import requeue
    from framesentry.jobs.tasks import context_of
    from framesentry.obs import exposition
    from framesentry.store.migrate import upgrade

    settings = load_settings()
    if settings.embedded:
        raise ConfigError(
            "framesentry worker needs FRAMESENTRY_BROKER_URL (e.g. redis://127.0.0.1:6379/0). "
            "Without a broker, `framesentry serve` runs its own worker in-process."
        )
    if pool not in ("prefork", "solo", "threads"):
        raise typer.BadParameter("pool must be prefork, solo or threads", param_hint="--pool")
    if settings.worker_metrics_port:
        # Before anything imports prometheus_client: the pool children inherit the directory and write there.
        exposition.use_multiprocess_dir(settings.work_dir / "metrics")
    _own_logging(settings.log_format, log_level)
    app = create_celery(settings)
    upgrade(context_of(app).db.engine)
    requeue(app, stale_only=True)  # jobs of a worker that died: back now, not after the visibility timeout
    if settings.worker_metrics_port:
        port = exposition.serve_worker_metrics(settings.host, settings.worker_metrics_port)
        typer.echo(f"worker metrics on http://{settings.host}:{port}/metrics", err=True)
    app.set_current()
    app.set_default()
    app.worker_main([
        "worker",
        f"--pool={pool}",
        f"--concurrency={concurrency or settings.worker_concurrency}",
        f"--loglevel={log_level.upper()}",
        f"--queues={settings.queue_name}",
        f"--hostname=framesentry-{os.getpid()}@%h",
        "--without-gossip",
        "--without-mingle",
    ])


def _own_logging(fmt: Literal["plain", "json"], level: str) -> None:
    """Celery leaves logging alone when ``setup_logging`` has a receiver: ours, plain or JSON for every
    process; a pool child that exits has its live gauges dropped from the worker's metrics."""
    from celery.signals import setup_logging, worker_process_shutdown

    from framesentry.obs import exposition, logs

    def configure(**_: Any) -> None:
        logs.configure(fmt, level)

    def child_exited(pid: int | None = None, **_: Any) -> None:
        exposition.forget_process(pid or os.getpid())

    setup_logging.connect(configure, weak=False)
    worker_process_shutdown.connect(child_exited, weak=False)
    logs.configure(fmt, level)
