"""Choosing the Uncertain band (``Settings.real_threshold`` / ``fake_threshold``) from held-out data.

The band is fit on the DFDC **validation** split (the same split the temperature is fit on; never test, never
crossdomain-dev): ``fake_threshold`` is the lowest calibrated p_fake at which the crops called Fake are fake
at least ``precision`` of the time, ``real_threshold`` the highest at which the crops called Real are real
at least ``precision`` of the time (val is balanced, so this is precision at a 0.5 prior, the fusion's stated
prior). Everything between is Uncertain: the scores the model cannot call at that precision. Crossdomain-dev
then only *measures* what the band does on other sources.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

BAND_PRECISION = 0.9
GRID = np.round(np.arange(0.01, 1.0, 0.01), 2)


def fit_verdict_band(
    p_fake: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray, precision: float = BAND_PRECISION
) -> tuple[float, float]:
    """(real_threshold, fake_threshold) on a 0.01 grid; raises when no threshold reaches ``precision``."""
    p = np.asarray(p_fake, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    fake_t = next((t for t in GRID if (p >= t).any() and y[p >= t].mean() >= precision), None)
    real_t = next((t for t in GRID[::-1] if (p <= t).any() and (1 - y[p <= t]).mean() >= precision), None)
    if fake_t is None or real_t is None:
        raise ValueError(f"no threshold reaches precision {precision} on both sides")
    if real_t >= fake_t:  # a very good model: the two calls meet; keep a minimal band around their middle
        mid = round((real_t + fake_t) / 2, 2)
        real_t, fake_t = round(mid - 0.01, 2), round(mid + 0.01, 2)
    return float(real_t), float(fake_t)


def band_report(p_fake: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """The fitted band at 0.9 and 0.95 precision, and the share of val crops each leaves Uncertain."""
    out: dict[str, Any] = {"fit_on": "dfdc-faces val split, calibrated crop p_fake", "n": len(labels)}
    for precision in (BAND_PRECISION, 0.95):
        real_t, fake_t = fit_verdict_band(p_fake, labels, precision)
        uncertain = float(np.mean((p_fake > real_t) & (p_fake < fake_t)))
        out[f"precision_{precision:g}"] = {"real": real_t, "fake": fake_t, "val_uncertain_rate": uncertain}
    return out
