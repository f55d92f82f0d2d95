"""Combining per-window scores into per-person, per-segment and video-level probabilities.

Rules, and why:
- A face track's score is the mean of its frames' calibrated p_fake: frames of one person are repeated
  measurements of one identity, and the mean keeps calibration.
- The visual video score is the worst (highest) track: one manipulated person makes the video manipulated.
- The audio video score is the mean over windows that contain speech.
- Modalities combine by noisy-OR, ``1 - (1 - p_v)(1 - p_a)``: the video is manipulated if either modality
  is, and a missing modality simply drops out (it is reported as missing, not as "real").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FaceObservation:
    """One scored face crop on one sampled frame."""

    t_s: float
    track_id: int
    box: tuple[int, int, int, int]
    p_fake: float


@dataclass(frozen=True)
class AudioObservation:
    """One scored (speech) audio window."""

    start_s: float
    end_s: float
    p_fake: float


def noisy_or(*probabilities: float | None) -> float | None:
    """Probability that at least one present modality is manipulated; ``None`` if none is present."""
    present = [p for p in probabilities if p is not None]
    if not present:
        return None
    return float(1.0 - np.prod([1.0 - p for p in present]))


def fuse_modalities(visual: float | None, audio: float | None) -> float | None:
    """The video-level probability from the two modality probabilities (``None`` for a missing one)."""
    return noisy_or(visual, audio)


def track_scores(faces: Sequence[FaceObservation]) -> dict[int, tuple[float, float, int]]:
    """Per track: (mean p_fake, max p_fake, frame count)."""
    by_track: dict[int, list[float]] = {}
    for f in faces:
        by_track.setdefault(f.track_id, []).append(f.p_fake)
    return {tid: (float(np.mean(ps)), float(np.max(ps)), len(ps)) for tid, ps in by_track.items()}


def visual_video_score(faces: Sequence[FaceObservation], min_track_frames: int = 2) -> float | None:
    """Highest track mean among tracks seen often enough (all tracks if none is long enough)."""
    scores = track_scores(faces)
    if not scores:
        return None
    steady = [mean for mean, _, n in scores.values() if n >= min_track_frames]
    return max(steady) if steady else max(mean for mean, _, _ in scores.values())


def audio_video_score(windows: Sequence[AudioObservation]) -> float | None:
    """Mean p_fake over scored speech windows."""
    if not windows:
        return None
    return float(np.mean([w.p_fake for w in windows]))


@dataclass(frozen=True)
class SegmentScore:
    start_s: float
    end_s: float
    p_fake: float
    visual_p_fake: float | None
    audio_p_fake: float | None
    faces: int


def segment_scores(
    faces: Sequence[FaceObservation],
    windows: Sequence[AudioObservation],
    duration_s: float,
    segment_s: float,
) -> list[SegmentScore]:
    """Timeline buckets of ``segment_s`` seconds; empty buckets (nothing scored) are left out."""
    n = max(1, int(np.ceil(duration_s / segment_s)))
    out: list[SegmentScore] = []
    for i in range(n):
        start, end = i * segment_s, min((i + 1) * segment_s, max(duration_s, segment_s))
        in_seg = [f for f in faces if start <= f.t_s < end]
        # Per frame, the worst face; then the mean over the segment's frames.
        per_frame: dict[float, float] = {}
        for f in in_seg:
            per_frame[f.t_s] = max(per_frame.get(f.t_s, 0.0), f.p_fake)
        visual = float(np.mean(list(per_frame.values()))) if per_frame else None
        overlaps = [(min(end, w.end_s) - max(start, w.start_s), w.p_fake) for w in windows]
        overlaps = [(o, p) for o, p in overlaps if o > 0]
        audio = float(np.average([p for _, p in overlaps], weights=[o for o, _ in overlaps])) if overlaps else None
        fused = fuse_modalities(visual, audio)
        if fused is None:
            continue
        faces_here = len({f.track_id for f in in_seg})
        out.append(SegmentScore(round(start, 3), round(end, 3), fused, visual, audio, faces_here))
    return out
