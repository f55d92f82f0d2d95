"""``framesentry worker``: a Celery worker for the distributed mode (Redis broker, shared database)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Annotated, Any, Literal

import typer

WEBHOOK_THREADS = 8
QUEUES = ("all", "analyses", "explain", "webhooks")


def _exit_with_parent(parent: int) -> None:
    """A webhook worker started by ``framesentry worker`` ends when its parent is gone (even if SIGKILLed)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="framesentry-parent-watch", daemon=True).start()


def _beside(queues: str, log_level: str, pool: str | None = None) -> subprocess.Popen[bytes]:
    """A worker process for another queue, started by ``--queues all`` and ending with it."""
    args = [sys.executable, "-m", "framesentry", "worker", "--queues", queues, "--log-level", log_level,
            "--parent", str(os.getpid())]
    return subprocess.Popen(args + (["--pool", pool] if pool else []))


def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Jobs run at once (default FRAMESENTRY_WORKER_CONCURRENCY, 1).")
    ] = None,
    pool: Annotated[str, typer.Option(help="Celery pool: prefork (time limits enforced) or solo.")] = "prefork",
    log_level: Annotated[str, typer.Option(help="Worker log level.")] = "info",
    queues: Annotated[str, typer.Option(
        help="'all' (analyses here, plus a deep-pass and a webhook worker process beside it), 'analyses', "
        "'explain' (deep passes only) or 'webhooks'.")] = "all",
    parent: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    """Run a Celery worker for the distributed mode (FRAMESENTRY_BROKER_URL).

    Migrates the database first (safe beside the API) and re-queues jobs left by a worker that died. While it
    runs it keeps a presence key in Redis and sweeps every FRAMESENTRY_SWEEP_INTERVAL_S: running jobs of workers
    that are gone (SIGKILL, lost machine) are handed back at once, and queued jobs nobody took are sent again.
    Deep passes (explanations, FRAMESENTRY_EXPLAIN_QUEUE_NAME) and webhooks run in separate processes from their
    own queues, so neither a deep pass nor a slow receiver ever holds an analysis. Stop with Ctrl-C: a running
    job finishes first.
    """
    from framesentry.cli.service_settings import load_settings
    from framesentry.errors import ConfigError
    from framesentry.jobs import presence
    from framesentry.jobs.app import create_celery
    from framesentry.jobs.recovery import Sweeper, requeue
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
    if queues not in QUEUES:
        raise typer.BadParameter(f"queues must be one of {', '.join(QUEUES)}", param_hint="--queues")
    if parent is not None:
        _exit_with_parent(parent)
    if settings.worker_metrics_port and queues in ("all", "analyses"):
        # Before anything imports prometheus_client: the pool children inherit the directory and write there.
        exposition.use_multiprocess_dir(settings.work_dir / "metrics")
    _own_logging(settings.log_format, log_level)
    app = create_celery(settings)
    ctx = context_of(app)
    argv = ["worker", f"--loglevel={log_level.upper()}", "--without-gossip", "--without-mingle"]
    if queues == "webhooks":
        app.set_current()
        app.set_default()
        app.worker_main([*argv, "--pool=threads", f"--concurrency={concurrency or WEBHOOK_THREADS}",
                         f"--queues={settings.webhook_queue}", f"--hostname=framesentry-hooks-{os.getpid()}@%h"])
        return
    if queues == "explain":  # deep passes hold no lease: no presence, no sweeper, no metrics port of their own
        app.set_current()
        app.set_default()
        app.worker_main([*argv, f"--pool={pool}", f"--concurrency={concurrency or settings.worker_concurrency}",
                         f"--queues={settings.explain_queue}", f"--hostname=framesentry-explain-{os.getpid()}@%h"])
        return
    upgrade(ctx.db.engine)
    ctx.worker_id = presence.new_worker_id()
    beat = presence.Presence(settings, ctx.worker_id) if presence.supported(settings) else None
    if beat is not None:
        beat.start()
    requeue(app, stale_only=True)  # jobs of a worker that stopped beating long ago: back now
    sweeper = Sweeper(app)
    sweeper.start()  # and jobs of a worker that died just now, as soon as its presence key expires
    beside = []
    if queues == "all":
        beside.append(_beside("webhooks", log_level))
        if settings.explain_enabled:
            beside.append(_beside("explain", log_level, pool))
    if settings.worker_metrics_port:
        port = exposition.serve_worker_metrics(settings.host, settings.worker_metrics_port)
        typer.echo(f"worker metrics on http://{settings.host}:{port}/metrics", err=True)
    app.set_current()
    app.set_default()
    try:
        app.worker_main([
            *argv,
            f"--pool={pool}",
            f"--concurrency={concurrency or settings.worker_concurrency}",
            f"--queues={settings.queue_name}",
            f"--hostname=framesentry-{os.getpid()}@%h",
        ])
    finally:
        sweeper.stop()
        if beat is not None:
            beat.stop()
        for process in beside:
            process.terminate()
        for process in beside:
            process.wait(30)


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
