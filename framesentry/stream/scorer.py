"""Cross-stream scoring: windows from every live stream share one batcher per model.

A visual work item is one sampled frame of one stream (faces found, cropped and scored together with the
frames of every other stream in the same batch); an audio item is one 4.04 s window (voice activity, then
the audio model on the windows with speech). The models are the same ``Detectors`` the upload path uses.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from framesentry.config import Settings
from framesentry.errors import BatcherStoppedError
from framesentry.inference.detectors import Detectors

if TYPE_CHECKING:
    from concurrent.futures import Future

    from framesentry.engines.batcher import DynamicBatcher
    from framesentry.inference.faces import FaceBox


@dataclass(eq=False)
class VisualItem:
    """One sampled frame. ``closed_at`` is when the window closed (frame received), for latency."""

    t_s: float
    rgb: NDArray[np.uint8] = field(repr=False)
    closed_at: float = field(default_factory=time.perf_counter)


@dataclass(eq=False)
class AudioItem:
    start_s: float
    end_s: float
    samples: NDArray[np.float32] = field(repr=False)
    closed_at: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class FaceResult:
    box: FaceBox
    p_fake: float


@dataclass(frozen=True)
class AudioResult:
    speech_fraction: float
    p_fake: float | None  # None: not enough speech to judge


class LiveScorer:
    """Owns the two batchers. ``submit_visual`` / ``submit_audio`` return futures; never block."""

    def __init__(self, settings: Settings, detectors: Detectors | None = None) -> None:
        self.settings = settings
        self.detectors = detectors or Detectors(settings)
        self._visual: DynamicBatcher[VisualItem, list[FaceResult]] | None = None
        self._audio: DynamicBatcher[AudioItem, AudioResult] | None = None

    def start(self) -> None:
        from framesentry.engines.batcher import DynamicBatcher

        s = self.settings
        common: dict[str, Any] = {
            "max_batch": s.live_batch_max,
            "max_wait_ms": s.live_batch_wait_ms,
            "max_pending": s.live_batch_max * 4,
            "stuck_after_s": 30.0,
        }
        self._visual = DynamicBatcher(self.score_frames, name="live-visual", **common)
        self._audio = DynamicBatcher(self.score_windows, name="live-audio", **common)
        self._visual.start()
        self._audio.start()

    def stop(self) -> None:
        for batcher in (self._visual, self._audio):
            if batcher is not None:
                batcher.stop()
        self._visual = self._audio = None

    def warm_up(self) -> None:
        """Load every model and run each once per small batch size now, so the first live windows are not
        charged the load time or the runtime's first-run allocations (measured: ~1 s for the first audio
        window, ~0.5 s for the first face, when skipped)."""
        d, s = self.detectors, self.settings
        window = np.zeros(s.audio_window_samples, dtype=np.float32)
        d.faces.detect_batch([np.zeros((360, 640, 3), dtype=np.uint8)], min_size_px=s.live_face_min_size_px)
        d.vad.speech_fraction(window, s.audio_sample_rate)
        for n in (1, 2, 4):
            d.visual.predict(np.zeros((2 * n, 224, 224, 3), dtype=np.uint8))
            d.audio.predict(np.stack([window] * n))

    def submit_visual(self, item: VisualItem) -> Future[list[FaceResult]]:
        batcher = self._visual  # read once: stop() may clear it from another thread
        if batcher is None:
            raise BatcherStoppedError("live scoring is not running")
        return batcher.submit(item)

    def submit_audio(self, item: AudioItem) -> Future[AudioResult]:
        batcher = self._audio
        if batcher is None:
            raise BatcherStoppedError("live scoring is not running")
        return batcher.submit(item)

    def stats(self) -> dict[str, dict[str, float | int]]:
        return {
            name: batcher.stats()
            for name, batcher in (("visual", self._visual), ("audio", self._audio))
            if batcher is not None
        }

    # --- the batch functions (run on the batcher's worker thread) -----------------------------------------

    def score_frames(self, items: list[VisualItem]) -> Sequence[list[FaceResult]]:
        """Faces on every frame of the batch (any mix of streams), then all crops in one model call."""
        from framesentry.inference.faces import crop_face

        d, s = self.detectors, self.settings
        boxes_per_frame = d.faces.detect_batch([it.rgb for it in items], min_size_px=s.live_face_min_size_px)
        crops = [crop_face(it.rgb, box, s) for it, boxes in zip(items, boxes_per_frame, strict=True) for box in boxes]
        probs = d.visual.predict(np.stack(crops)) if crops else np.zeros(0)
        out: list[list[FaceResult]] = []
        i = 0
        for boxes in boxes_per_frame:
            out.append([FaceResult(box, float(p)) for box, p in zip(boxes, probs[i : i + len(boxes)], strict=True)])
            i += len(boxes)
        return out

    def score_windows(self, items: list[AudioItem]) -> Sequence[AudioResult]:
        """Voice activity per window; the audio model on those with enough speech, in one call."""
        d, s = self.detectors, self.settings
        rate = s.audio_sample_rate
        fractions = [d.vad.speech_fraction(it.samples, rate) for it in items]
        speech = [i for i, f in enumerate(fractions) if f >= s.vad_min_speech_fraction]
        probs: dict[int, float] = {}
        if speech:
            scores = d.audio.predict(np.stack([items[i].samples for i in speech]))
            probs = {i: float(p) for i, p in zip(speech, scores, strict=True)}
        return [AudioResult(f, probs.get(i)) for i, f in enumerate(fractions)]
