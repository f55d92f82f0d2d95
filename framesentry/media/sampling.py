"""Which frames are worth scoring: one per sampling instant, chosen by presentation time.

One rule for uploaded files and live streams alike: at each instant k / fps the first frame at or after it is
kept (a live path cannot wait to see which frame was on screen). A 30 fps feed scored at 2 fps keeps every
15th picture; when timestamps jump (a publisher restarts its clock, a network stall) the sampler re-anchors
instead of keeping a burst of frames to "catch up".
"""

from __future__ import annotations

import math


class FrameSampler:
    """Keeps the first frame at or after each instant k / fps of stream time."""

    def __init__(self, fps: float, max_gap_s: float = 5.0) -> None:
        if not fps > 0:
            raise ValueError("fps must be positive")
        self.period = 1.0 / fps
        self.max_gap_s = max_gap_s
        self._next_due: float | None = None

    def keep(self, t_s: float) -> bool:
        """True when this frame (stream time ``t_s``) is the one to score for its sampling instant."""
        due = self._next_due
        if due is not None and t_s + 1e-6 < due and due - t_s <= self.max_gap_s:
            return False
        # First frame, a due instant reached, or the clock went backwards by more than a gap: re-anchor.
        self._next_due = (math.floor(t_s / self.period + 1e-6) + 1) * self.period
        if due is not None and t_s - due > self.max_gap_s:
            self._next_due = t_s + self.period
        return True
