"""Stable ids for faces across sampled frames, so per-face scores can be pooled per person.

Frames are sampled sparsely (``visual_sample_fps``, 2/s by default), so a face may move a fair way between
samples and boxes of the same person need not overlap. Matching therefore uses overlap OR centre distance
measured in face sizes, with a size-ratio gate so a small background face is not taken for a large one, and
a global Hungarian assignment (``scipy.optimize.linear_sum_assignment``) so two nearby faces never swap ids
because of the order they were detected in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from framesentry.inference.faces.detector import FaceBox

_FORBIDDEN = 1e6  # cost of a pair that fails the gates


@dataclass(frozen=True)
class TrackInfo:
    """One person's track: when it was first/last seen, how often, and its latest box."""

    track_id: int
    first_seen_s: float
    last_seen_s: float
    hits: int
    last_box: FaceBox
    active: bool


@dataclass
class _Track:
    track_id: int
    first_seen_s: float
    last_seen_s: float
    box: FaceBox
    hits: int = 1
    missed: int = 0


def iou(a: FaceBox, b: FaceBox) -> float:
    """Intersection over union of two boxes (0 when they do not touch)."""
    iw = min(a.x2, b.x2) - max(a.x1, b.x1)
    ih = min(a.y2, b.y2) - max(a.y1, b.y1)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / (a.area + b.area - inter)


class FaceTracker:
    """Greedy-free (Hungarian) IoU + centre-distance tracker.

    ``max_missed``: a track survives this many consecutive updates without a match, then ends (a face that
    comes back later gets a new id). ``min_iou``: overlap that alone is enough to match. ``max_centre_dist``:
    otherwise, centres must be within this many face sizes (longer box side). ``max_size_ratio``: the larger
    of the two boxes may be at most this many times the smaller.
    """

    def __init__(
        self,
        max_missed: int = 4,
        min_iou: float = 0.3,
        max_centre_dist: float = 1.0,
        max_size_ratio: float = 2.0,
    ) -> None:
        if max_missed < 0 or not 0 < min_iou <= 1 or max_centre_dist <= 0 or max_size_ratio < 1:
            raise ValueError("invalid tracker parameters")
        self.max_missed = max_missed
        self.min_iou = min_iou
        self.max_centre_dist = max_centre_dist
        self.max_size_ratio = max_size_ratio
        self._active: list[_Track] = []
        self._ended: list[_Track] = []
        self._next_id = 0

    def _cost(self, track: _Track, box: FaceBox) -> float:
        """Lower is better; ``_FORBIDDEN`` when the pair fails the gates."""
        prev = track.box
        big, small = max(prev.size, box.size), min(prev.size, box.size)
        if small <= 0 or big / small > self.max_size_ratio:
            return _FORBIDDEN
        overlap = iou(prev, box)
        (px, py), (bx, by) = prev.centre, box.centre
        dist = math.hypot(px - bx, py - by) / big
        if overlap < self.min_iou and dist > self.max_centre_dist:
            return _FORBIDDEN
        return (1.0 - overlap) + dist

    def update(self, t_s: float, boxes: Sequence[FaceBox]) -> list[int]:
        """Match this frame's boxes to live tracks; returns the track id of each box, in the given order.

        Unmatched boxes start new tracks; tracks unmatched for more than ``max_missed`` updates end. Call once
        per sampled frame, including frames with no faces (that is how misses are counted).
        """
        ids = [-1] * len(boxes)
        matched: set[int] = set()
        if self._active and boxes:
            from scipy.optimize import linear_sum_assignment

            cost = np.array([[self._cost(t, b) for b in boxes] for t in self._active], dtype=np.float64)
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
                if cost[r, c] >= _FORBIDDEN:
                    continue
                track = self._active[r]
                track.box, track.last_seen_s, track.missed = boxes[c], t_s, 0
                track.hits += 1
                ids[c] = track.track_id
                matched.add(r)
        survivors: list[_Track] = []
        for i, track in enumerate(self._active):
            if i not in matched:
                track.missed += 1
            (survivors if track.missed <= self.max_missed else self._ended).append(track)
        self._active = survivors
        for c, box in enumerate(boxes):
            if ids[c] < 0:
                track = _Track(self._next_id, t_s, t_s, box)
                self._next_id += 1
                self._active.append(track)
                ids[c] = track.track_id
        return ids

    def tracks(self, include_ended: bool = True) -> list[TrackInfo]:
        """Every track (ended ones too unless ``include_ended`` is False), ordered by id."""
        pool = self._active + (self._ended if include_ended else [])
        active = {t.track_id for t in self._active}
        return sorted(
            (TrackInfo(t.track_id, t.first_seen_s, t.last_seen_s, t.hits, t.box, t.track_id in active) for t in pool),
            key=lambda info: info.track_id,
        )
