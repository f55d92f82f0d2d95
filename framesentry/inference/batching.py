"""One process-wide queue in front of each model: uploads and live streams share the scoring core's batches.

``BatchedScorer`` owns a ``DynamicBatcher`` for frames and one for audio windows, both running the
``ScoringCore``. Live windows go in the ``live`` lane and uploads in the ``bulk`` lane: each lane has its own
worker, the bulk one at a lower OS priority, so an upload never queues ahead of a live window. A server with
live streams analyses uploads in a child process with its own scorer instead (``jobs.isolation``), where they
share neither the GIL nor a busy core with the live path (``benchmarks/live_streams.py --with-upload`` measures
both).
Submitting never blocks; a full lane raises
``BackpressureError`` (the live path drops its oldest window, an upload waits for its own results first).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from framesentry.errors import BatcherStoppedError
from framesentry.inference.detectors import Detectors
from framesentry.inference.scoring import FrameJob, ScoredFace, ScoredWindow, ScoringCore, WindowJob

if TYPE_CHECKING:
    from concurrent.futures import Future

    from framesentry.engines.batcher import DynamicBatcher, Lane


class BatchedScorer:
    """Start once per process (``start``/``stop``, or as a context manager); thread-safe ``submit_*``."""

    def __init__(self, detectors: Detectors) -> None:
        self.settings = detectors.settings
        self.core = ScoringCore(detectors)
        self._frames: DynamicBatcher[FrameJob, list[ScoredFace]] | None = None
        self._windows: DynamicBatcher[WindowJob, ScoredWindow] | None = None
        self._lock = threading.Lock()

    @property
    def detectors(self) -> Detectors:
        return self.core.detectors

    @property
    def running(self) -> bool:
        return self._frames is not None

    def start(self) -> None:
        from framesentry.engines.batcher import DynamicBatcher

        s = self.settings
        common: dict[str, Any] = {
            "max_batch": s.live_batch_max,
            "max_wait_ms": s.live_batch_wait_ms,
            "max_pending": s.live_batch_max * 4,
            "stuck_after_s": 30.0,
            "bulk_nice": s.bulk_nice,
            "bulk_share_when_live": s.bulk_share_when_live,
        }
        with self._lock:
            if self._frames is not None:
                return
            frames = DynamicBatcher(self.core.score_frames, name="visual", **common)
            windows = DynamicBatcher(self.core.score_windows, name="audio", **common)
            frames.start()
            windows.start()
            self._frames, self._windows = frames, windows

    def stop(self) -> None:
        with self._lock:
            batchers, self._frames, self._windows = (self._frames, self._windows), None, None
        for batcher in batchers:
            if batcher is not None:
                batcher.stop()

    def __enter__(self) -> BatchedScorer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def submit_frame(self, job: FrameJob, lane: Lane = "live") -> Future[list[ScoredFace]]:
        batcher = self._frames  # read once: stop() may clear it from another thread
        if batcher is None:
            raise BatcherStoppedError("scoring is not running")
        return batcher.submit(job, lane)

    def submit_window(self, job: WindowJob, lane: Lane = "live") -> Future[ScoredWindow]:
        batcher = self._windows
        if batcher is None:
            raise BatcherStoppedError("scoring is not running")
        return batcher.submit(job, lane)

    def warm_up(self) -> None:
        self.core.warm_up(self.settings.live_face_min_size_px)

    def stats(self) -> dict[str, dict[str, float | int]]:
        return {
            name: batcher.stats()
            for name, batcher in (("visual", self._frames), ("audio", self._windows))
            if batcher is not None
        }
