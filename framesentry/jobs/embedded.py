"""The embedded worker: a real Celery worker (solo pool) on a thread of the API process, fed by the
in-memory broker. Same task code path as the Redis deployment, no external service.

The memory broker forgets its queue when the process ends, so the database decides what is pending:
on start every analysis still ``queued`` or ``running`` is published again (a job that is really running
elsewhere is protected by its heartbeat lease; a finished one is skipped by the task).
"""

from __future__ import annotations

import logging
import threading
import time

from celery import Celery
from celery.worker import WorkController
from celery.worker import state as worker_state

from framesentry.jobs.recovery import requeue
from framesentry.jobs.tasks import context_of

log = logging.getLogger(__name__)


class _Controller(WorkController):
    """Signals readiness once the consumer is consuming."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.ready = threading.Event()
        super().__init__(*args, **kwargs)

    def on_consumer_ready(self, consumer: object) -> None:
        self.ready.set()


class EmbeddedWorker:
    """Start/stop a one-thread Celery worker inside this process."""

    def __init__(self, app: Celery, *, loglevel: str = "WARNING", queue: str | None = None,
                 recover: bool = True) -> None:
        self.app = app
        self.loglevel = loglevel
        self.queue = queue or context_of(app).settings.queue_name
        self.recover_on_start = recover
        self._controller: _Controller | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout_s: float = 30.0) -> None:
        ctx = context_of(self.app)
        ctx.shutting_down.clear()
        self.app.finalize()
        # Celery's tracer resolves tasks through the current app; ETA tasks (retries with a countdown) run on
        # the timer thread, so this app must also be the process default.
        self.app.set_default()
        self._controller = _Controller(
            app=self.app,
            pool="solo",
            concurrency=1,
            loglevel=self.loglevel,
            hostname=f"embedded-{self.queue}@{ctx.worker_name}",
            queues=[self.queue],
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
            ready_callback=None,
        )
        self._thread = threading.Thread(target=self._run, args=(self._controller,),
                                        name=f"framesentry-worker-{self.queue}", daemon=True)
        self._thread.start()
        if not self._controller.ready.wait(timeout_s):
            raise RuntimeError("embedded worker did not start")
        if self.recover_on_start:
            self.recover()

    def _run(self, controller: _Controller) -> None:
        # Celery's tracer looks tasks up in the *current* app, which is per thread.
        self.app.set_current()
        controller.start()

    def recover(self) -> int:
        """Publish every unfinished analysis again (the memory broker lost them); returns how many."""
        return requeue(self.app, stale_only=False)

    def _busy(self) -> bool:
        """A job from this worker's queue is running (Celery's ``active_requests`` holds every embedded worker's:
        stopping the analyses worker must not wait for a deep pass on the explain worker)."""
        return any(r.delivery_info.get("routing_key") in (self.queue, None) for r in list(worker_state.active_requests))

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ask a running job to hand itself back (it does at its next progress step), then stop the worker."""
        if self._controller is None or self._thread is None:
            return
        context_of(self.app).shutting_down.set()
        deadline = time.monotonic() + timeout_s
        while self._busy() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._controller.stop(in_sighandler=False)
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            log.warning("embedded worker still busy after %.0f s; leaving it to exit with the process", timeout_s)
        self._controller = None
        self._thread = None
