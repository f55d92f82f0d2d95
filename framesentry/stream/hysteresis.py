"""Verdicts on a live stream that do not flicker: smoothing plus a dwell before every change.

A single window that crosses a threshold is noise; a viewer sees the verdict change only when the smoothed
probability has stayed on the other side for ``dwell`` consecutive updates. Each change is an event, which
clients receive on the WebSocket and the series keeps.
"""

from __future__ import annotations

from dataclasses import dataclass

from framesentry.inference.result import Verdict
from framesentry.inference.verdict import decide


@dataclass(frozen=True)
class VerdictChange:
    """The stream's verdict moved from ``previous`` to ``verdict`` at stream time ``stream_t_s``."""

    previous: Verdict
    verdict: Verdict
    stream_t_s: float
    p_fake: float


@dataclass(frozen=True)
class SmoothedVerdict:
    p_fake: float
    verdict: Verdict
    confidence: float
    change: VerdictChange | None


class VerdictSmoother:
    """Exponential moving average of p_fake, then thresholds with a dwell (hysteresis in time)."""

    def __init__(self, *, real_threshold: float, fake_threshold: float, alpha: float, dwell: int) -> None:
        if not 0 < alpha <= 1:
            raise ValueError("alpha must be in (0, 1]")
        if dwell < 1:
            raise ValueError("dwell must be at least 1")
        self.real_threshold = real_threshold
        self.fake_threshold = fake_threshold
        self.alpha = alpha
        self.dwell = dwell
        self.state = Verdict.UNCERTAIN
        self._ema: float | None = None
        self._candidate: Verdict | None = None
        self._streak = 0

    @property
    def p_fake(self) -> float | None:
        return self._ema

    def update(self, p_fake: float, stream_t_s: float) -> SmoothedVerdict:
        """Fold in one fused probability; returns the smoothed value, the (possibly new) verdict, any change."""
        self._ema = p_fake if self._ema is None else self.alpha * p_fake + (1 - self.alpha) * self._ema
        leaning, confidence = decide(
            min(1.0, max(0.0, self._ema)), real_threshold=self.real_threshold, fake_threshold=self.fake_threshold
        )
        change = None
        if leaning == self.state:
            self._candidate, self._streak = None, 0
        else:
            self._streak = self._streak + 1 if leaning == self._candidate else 1
            self._candidate = leaning
            if self._streak >= self.dwell:
                change = VerdictChange(self.state, leaning, stream_t_s, self._ema)
                self.state, self._candidate, self._streak = leaning, None, 0
        return SmoothedVerdict(self._ema, self.state, confidence, change)
