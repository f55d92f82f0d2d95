"""The one scoring core: what both doors (uploaded files and live streams) call to turn media into scores.

- ``score_frames``: faces found on every frame of the batch (any mix of files and streams), cropped the way the
  training crops were framed, and all crops scored by the visual model in one call.
- ``score_windows``: voice activity on every 4.04 s audio window; the audio model on those with enough speech,
  in one call. A window without enough speech keeps ``p_fake=None``: there is nothing to judge.

Everything after this (tracking, aggregation over a horizon, fusion, verdict) is ``inference.evidence``; the
batching across callers is ``inference.batching``. Neither door has a copy of any of it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from framesentry.inference.detectors import Detectors

if TYPE_CHECKING:
    from framesentry.inference.faces import FaceBox


@dataclass(eq=False)
class FrameJob:
    """One sampled picture to score. ``min_face_px`` (original pixels) is the smallest face looked for;
    ``closed_at`` is when the frame was received (perf_counter), for latency."""

    t_s: float
    rgb: NDArray[np.uint8] = field(repr=False)
    min_face_px: int
    closed_at: float = field(default_factory=time.perf_counter)


@dataclass(eq=False)
class WindowJob:
    """One model-sized audio window (mono 16 kHz) covering ``start_s..end_s`` of the media."""

    start_s: float
    end_s: float
    samples: NDArray[np.float32] = field(repr=False)
    closed_at: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class ScoredFace:
    box: FaceBox
    p_fake: float
    sharpness: float
    """``faces.crop_sharpness`` of the crop the model saw: the router's blur gate reads it, no second crop."""


@dataclass(frozen=True)
class ScoredWindow:
    start_s: float
    end_s: float
    speech_fraction: float
    p_fake: float | None  # None: not enough speech to judge


class ScoringCore:
    """Stateless scoring of batches with one process's ``Detectors``; safe to call from one thread per model."""

    def __init__(self, detectors: Detectors) -> None:
        self.detectors = detectors
        self.settings = detectors.settings

    def score_frames(self, frames: Sequence[FrameJob]) -> list[list[ScoredFace]]:
        """Faces of each frame with their calibrated p_fake, in the frames' order (an empty list: no face)."""
        from framesentry.inference.faces import crop_faces, crop_sharpness

        d = self.detectors
        boxes: list[list[FaceBox]] = [[] for _ in frames]
        for min_face in sorted({f.min_face_px for f in frames}):  # one detector call per face-size floor
            idx = [i for i, f in enumerate(frames) if f.min_face_px == min_face]
            for i, found in zip(idx, d.faces.detect_batch([frames[i].rgb for i in idx], min_size_px=min_face),
                                strict=True):
                boxes[i] = found
        crops = [crop_faces(f.rgb, b, self.settings) for f, b in zip(frames, boxes, strict=True) if b]
        stacked = np.concatenate(crops) if crops else np.zeros((0, 1, 1, 3), dtype=np.uint8)
        probs = d.visual.predict(stacked) if crops else np.zeros(0)
        out: list[list[ScoredFace]] = []
        i = 0
        for found in boxes:
            out.append([ScoredFace(box, float(probs[i + k]), crop_sharpness(stacked[i + k]))
                        for k, box in enumerate(found)])
            i += len(found)
        return out

    def score_windows(self, windows: Sequence[WindowJob]) -> list[ScoredWindow]:
        """Speech fraction of each window, and p_fake for those with at least ``vad_min_speech_fraction``."""
        d, s = self.detectors, self.settings
        fractions = [d.vad.speech_fraction(w.samples, s.audio_sample_rate) for w in windows]
        speech = [i for i, f in enumerate(fractions) if f >= s.vad_min_speech_fraction]
        probs: dict[int, float] = {}
        if speech:
            scores = d.audio.predict(np.stack([windows[i].samples for i in speech]))
            probs = {i: float(p) for i, p in zip(speech, scores, strict=True)}
        return [ScoredWindow(w.start_s, w.end_s, f, probs.get(i))
                for i, (w, f) in enumerate(zip(windows, fractions, strict=True))]

    def warm_up(self, min_face_px: int) -> None:
        """Load every model and run each once per small batch size, so the first real windows are not charged
        the load time or the runtime's first-run allocations (measured: ~1 s for the first audio window,
        ~0.5 s for the first face, when skipped)."""
        d, s = self.detectors, self.settings
        window = np.zeros(s.audio_window_samples, dtype=np.float32)
        d.faces.detect_batch([np.zeros((360, 640, 3), dtype=np.uint8)], min_size_px=min_face_px)
        d.vad.speech_fraction(window, s.audio_sample_rate)
        for n in (1, 2, 4):
            d.visual.predict(np.zeros((2 * n, 224, 224, 3), dtype=np.uint8))
            d.audio.predict(np.stack([window] * n))
