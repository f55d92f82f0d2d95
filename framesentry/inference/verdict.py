"""From a calibrated probability to Real / Fake / Uncertain with a confidence.

Thresholds come from settings, never from code: a newsroom may want fewer false alarms than a call plugin.
"""

from __future__ import annotations

from framesentry.inference.result import Verdict


def decide(p_fake: float, *, real_threshold: float, fake_threshold: float) -> tuple[Verdict, float]:
    """Verdict and confidence (the probability of the side the score leans to).

    ``p <= real_threshold`` is Real, ``p >= fake_threshold`` is Fake, anything between is Uncertain.
    """
    if not 0.0 <= p_fake <= 1.0:
        raise ValueError(f"p_fake out of range: {p_fake}")
    if not real_threshold < fake_threshold:
        raise ValueError("real_threshold must be below fake_threshold")
    if p_fake >= fake_threshold:
        verdict = Verdict.FAKE
    elif p_fake <= real_threshold:
        verdict = Verdict.REAL
    else:
        verdict = Verdict.UNCERTAIN
    confidence = max(p_fake, 1.0 - p_fake)
    return verdict, round(confidence, 4)
