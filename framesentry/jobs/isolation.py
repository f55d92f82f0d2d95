"""Upload analysis in a child process, beside a server's live streams: the live path keeps its interpreter.

Why a process: an upload in the server's process shares the GIL with the live threads (decoding, face
detection's many small torch calls and the pipeline's bookkeeping are short stretches of Python between
native calls), so it only gets ahead by resting its bulk lane while live windows arrive; in a child at the
idle scheduling policy it uses whatever the live path leaves idle. Measured (``benchmarks/live_streams.py
--with-upload --compare-in-process``, 2 cores, docs/LIVE.md): the upload runs 4-5x faster than in-process, with
live p99 no better or worse than in-process within the run-to-run noise of these machines; and a crash while
decoding a hostile file ends the child, not the server.

The child runs the same ``inference.pipeline.analyze_file`` on the same settings (its own ``BatchedScorer``,
``upload_process_threads`` runtime threads) and streams the progress back, so the job's progress callback
(progress rows, time limit, cancellation) behaves as in-process. A crash while decoding a hostile file ends
the child, not the server: the job fails with ``AnalysisProcessError`` and the next job starts a new child.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framesentry.config import Settings
from framesentry.errors import FrameSentryError, ModelError
from framesentry.jobs.context import PipelineAnalyzer

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess
    from multiprocessing.synchronize import Event

    from framesentry.inference.batching import BatchedScorer
    from framesentry.inference.pipeline import ProgressCallback
    from framesentry.inference.result import AnalysisResult

log = logging.getLogger(__name__)

START_TIMEOUT_S = 180.0
"""A fresh interpreter importing torch and loading the models at low priority on a busy machine."""
PROGRESS_INTERVAL_S = 0.25
CANCEL_TIMEOUT_S = 30.0
"""How long a cancelled analysis may take to reach its next progress report before its child is killed."""


class AnalysisProcessError(ModelError):
    """The analysis process died (e.g. a decoder crashed on the file) or did not start."""

    code = "analysis_process_failed"


class _Cancelled(Exception):
    pass


def _serve(conn: Connection, cancel: Event, settings: dict[str, Any], nice: int) -> None:
    """The child: lower its priority before any thread exists (they inherit it), load the models, then analyse
    one path per request, sending ``("progress", (stage, fraction))`` messages and one final message."""
    _to_background(nice)
    from framesentry.inference.batching import BatchedScorer
    from framesentry.inference.detectors import Detectors
    from framesentry.inference.pipeline import analyze_file

    try:
        scorer = BatchedScorer(Detectors(Settings(**settings)))
        scorer.start()
        scorer.warm_up()
    except Exception as exc:
        conn.send(("error", _portable(exc)))
        return
    conn.send(("ready", None))

    last: dict[str, float] = {}

    def progress(stage: str, fraction: float) -> None:
        if cancel.is_set():
            raise _Cancelled
        # Every stage's first and last report, others at most every PROGRESS_INTERVAL_S: each one wakes a
        # thread of the server (the job's progress rows are written at most every 0.5 s anyway).
        now = time.monotonic()
        if fraction >= 1.0 or now - last.get(stage, -PROGRESS_INTERVAL_S) >= PROGRESS_INTERVAL_S:
            last[stage] = now
            conn.send(("progress", (stage, fraction)))

    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):  # the server went away
            break
        if request is None:
            break
        try:
            result = analyze_file(request, scorer.settings, progress=progress, scorer=scorer)
            conn.send(("result", result.model_dump(mode="json")))
        except _Cancelled:
            conn.send(("cancelled", None))
        except Exception as exc:
            conn.send(("error", _portable(exc)))
    scorer.stop()


def _to_background(nice: int) -> None:
    """Run only on cores live work leaves idle: Linux's SCHED_IDLE policy (a waking live thread takes the core
    at once), else ``nice`` lower priority. Every
    thread already running is moved too (importing numpy starts OpenBLAS's pool, whose idle threads spin at
    normal priority otherwise); threads started later inherit it."""
    if hasattr(os, "SCHED_IDLE") and os.path.isdir("/proc/self/task"):
        try:
            for tid in os.listdir("/proc/self/task"):
                os.sched_setscheduler(int(tid), os.SCHED_IDLE, os.sched_param(0))
            return
        except OSError:
            pass
    if nice > 0:
        os.nice(nice)


def _portable(exc: Exception) -> Exception:
    """The error as the parent can unpickle it: FrameSentry's own errors as they are, others as ModelError."""
    if isinstance(exc, FrameSentryError):
        return exc
    return ModelError(f"analysis failed: {type(exc).__name__}: {exc}")


class _Child:
    """One analysis process and its pipe."""

    def __init__(self, settings: dict[str, Any], nice: int) -> None:
        ctx = multiprocessing.get_context("spawn")  # never fork a process that runs threads
        self.conn, child_conn = ctx.Pipe()
        self.cancel = ctx.Event()
        self.process: BaseProcess = ctx.Process(
            target=_serve, args=(child_conn, self.cancel, settings, nice), name="framesentry-analysis",
            daemon=True)
        self.busy = False
        """A request is out and its final message (result, error, cancelled) has not come back."""
        started = time.perf_counter()
        self.process.start()
        child_conn.close()
        kind, payload = self.receive(START_TIMEOUT_S)
        if kind != "ready":
            self.kill()
            raise AnalysisProcessError(f"the analysis process could not load the models: {payload}")
        log.info("analysis process %s ready in %.1f s", self.process.pid, time.perf_counter() - started)

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def receive(self, timeout_s: float) -> tuple[str, Any]:
        """The child's next message; ``AnalysisProcessError`` when it died or stayed silent ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        try:
            while not self.conn.poll(0.5):
                if not self.process.is_alive() or time.monotonic() > deadline:
                    code = self.process.exitcode
                    self.kill()
                    raise AnalysisProcessError(
                        "the analysis process died" + (f" (exit code {code})" if code is not None else " (no answer)"),
                        exit_code=code,
                    )
            kind, payload = self.conn.recv()
            self.busy = self.busy and kind == "progress"
        except (EOFError, OSError) as exc:
            code = self.process.exitcode
            self.kill()
            raise AnalysisProcessError(f"the analysis process died (exit code {code})", exit_code=code) from exc
        return str(kind), payload

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(timeout=2.0)
        self.kill()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5.0)
        self.conn.close()


class IsolatedAnalyzer(PipelineAnalyzer):
    """``PipelineAnalyzer`` whose analyses run in child processes (one per concurrent job, kept for the next);
    the deep pass still runs here, on the server's models."""

    def __init__(self, settings: Settings, scorer: BatchedScorer | None = None) -> None:
        """``scorer``: the server's (the deep pass runs on its models, in this process)."""
        super().__init__(settings, scorer)
        self._child_settings = settings.model_dump(mode="json") | {"torch_threads": settings.upload_process_threads}
        self._idle: list[_Child] = []
        self._pool_lock = threading.Lock()
        self._closed = False

    def __call__(self, path: Path, progress: ProgressCallback) -> AnalysisResult:
        from framesentry.inference.result import AnalysisResult

        child = self._take()
        try:
            child.conn.send(str(path))
            child.busy = True
            while True:
                kind, payload = child.receive(self.settings.job_time_limit_s + CANCEL_TIMEOUT_S)
                if kind == "progress":
                    self._report(child, progress, payload)
                elif kind == "result":
                    return AnalysisResult.model_validate(payload)
                else:
                    raise payload  # a typed error from the pipeline
        finally:
            self._give_back(child)

    def start(self) -> None:
        """Start one analysis process now (it loads its models in the background of the first upload)."""
        self._give_back(self._take())

    def close(self) -> None:
        """Stop every idle analysis process; a running one ends with its job."""
        with self._pool_lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for child in idle:
            child.close()

    def pids(self) -> list[int]:
        """Process ids of the idle analysis processes (tests, operators)."""
        with self._pool_lock:
            return [c.process.pid for c in self._idle if c.process.pid is not None]

    # --- internals ------------------------------------------------------------------------------------

    def _report(self, child: _Child, progress: ProgressCallback, payload: tuple[str, float]) -> None:
        """Pass a progress report on; when the callback stops the job, stop the child's analysis first (it
        notices at its next report and stays ready for the next job), then let the callback's exception go."""
        try:
            progress(*payload)
        except BaseException:
            child.cancel.set()
            try:
                while child.receive(CANCEL_TIMEOUT_S)[0] == "progress":
                    pass
            except AnalysisProcessError:
                pass  # it died meanwhile: already killed, and the job is being stopped anyway
            child.cancel.clear()
            raise

    def _take(self) -> _Child:
        with self._pool_lock:
            while self._idle:
                child = self._idle.pop()
                if child.alive:
                    return child
                child.kill()
        return _Child(self._child_settings, self.settings.bulk_nice)

    def _give_back(self, child: _Child) -> None:
        with self._pool_lock:
            keep = child.alive and not child.busy and not self._closed
            if keep:
                self._idle.append(child)
        if not keep:
            child.kill()


def upload_analyzer(settings: Settings, scorer: BatchedScorer, *, beside_live: bool) -> PipelineAnalyzer:
    """How a process analyses uploads: in child processes when live streams run beside them and
    ``upload_process`` is on, else in this process on ``scorer``'s bulk lane."""
    if beside_live and settings.upload_process:
        return IsolatedAnalyzer(settings, scorer)
    return PipelineAnalyzer(settings, scorer)

