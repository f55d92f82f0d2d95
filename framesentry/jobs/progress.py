"""Progress of a running job, written to the database (the source of truth the API reads).

The pipeline reports ``(stage, fraction of that stage)``; this turns it into one overall fraction using the
share of work each stage usually takes, throttles the writes, enforces the job's time limit between batches,
and stops the job when it was deleted, lost to another worker, or the embedded server is shutting down.
A separate heartbeat thread proves the worker is alive even while one batch takes long.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from types import TracebackType

from framesentry.errors import JobTimeLimitError
from framesentry.jobs.context import JobContext
from framesentry.store import analyses as repo

log = logging.getLogger(__name__)

MIN_WRITE_INTERVAL_S = 0.5


class JobAbandoned(Exception):
    """The job was deleted or claimed by another worker: stop quietly, write nothing more."""


class JobInterrupted(Exception):
    """The embedded server is stopping: hand the job back to the queue."""


def stage_spans(has_video: bool, has_audio: bool) -> dict[str, tuple[float, float]]:
    """Share of the overall bar for each stage (visual and audio cost about the same per second on CPU)."""
    spans = {"probe": (0.0, 0.02), "saving": (0.97, 0.99)}
    if has_video and has_audio:
        spans |= {"visual": (0.02, 0.5), "audio": (0.5, 0.97)}
    else:
        spans |= {"visual": (0.02, 0.97), "audio": (0.02, 0.97)}
    return spans


class ProgressReporter:
    """Callable handed to the pipeline as its progress callback."""

    def __init__(
        self,
        ctx: JobContext,
        analysis_id: uuid.UUID,
        lease: str,
        *,
        has_video: bool,
        has_audio: bool,
        deadline: float,
    ) -> None:
        self.ctx = ctx
        self.analysis_id = analysis_id
        self.lease = lease
        self.spans = stage_spans(has_video, has_audio)
        self.deadline = deadline
        self.lost = threading.Event()
        self._last_write = 0.0
        self._last_stage = ""
        self.overall = 0.0

    def check(self) -> None:
        """Raise if the job must stop now (time limit, lost lease, shutdown)."""
        if self.lost.is_set():
            raise JobAbandoned(str(self.analysis_id))
        if time.monotonic() > self.deadline:
            limit = self.ctx.settings.job_time_limit_s
            raise JobTimeLimitError(f"The analysis took longer than the {limit:g} s limit.", limit_s=limit)
        if self.ctx.shutting_down.is_set():
            raise JobInterrupted(str(self.analysis_id))

    def __call__(self, stage: str, fraction: float) -> None:
        self.check()
        lo, hi = self.spans.get(stage, (self.overall, self.overall))
        self.overall = max(self.overall, lo + (hi - lo) * min(1.0, max(0.0, fraction)))
        now = time.monotonic()
        if stage == self._last_stage and now - self._last_write < MIN_WRITE_INTERVAL_S:
            return
        self._last_stage, self._last_write = stage, now
        self._write(stage)

    def enter(self, stage: str) -> None:
        """Mark the start of a stage we run ourselves (probe, saving)."""
        self.check()
        self.overall = max(self.overall, self.spans.get(stage, (self.overall, 0.0))[0])
        self._last_stage, self._last_write = stage, time.monotonic()
        self._write(stage)

    def _write(self, stage: str) -> None:
        with self.ctx.db.transaction() as session:
            ok = repo.report_progress(session, self.analysis_id, self.lease, stage, self.overall)
        if not ok:
            self.lost.set()
            raise JobAbandoned(str(self.analysis_id))


class Heartbeat:
    """Background thread: refresh ``heartbeat_at`` every ``job_heartbeat_s`` while the job runs."""

    def __init__(self, reporter: ProgressReporter) -> None:
        self.reporter = reporter
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="framesentry-heartbeat", daemon=True)

    def _run(self) -> None:
        r = self.reporter
        while not self._stop.wait(r.ctx.settings.job_heartbeat_s):
            try:
                with r.ctx.db.transaction() as session:
                    alive = repo.heartbeat(session, r.analysis_id, r.lease)
            except Exception:  # a missed beat is not fatal; the next one may succeed
                log.warning("heartbeat for %s failed", r.analysis_id, exc_info=True)
                continue
            if not alive:
                r.lost.set()
                return

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
