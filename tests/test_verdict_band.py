"""The Uncertain band fit: known answers on hand-made scores, and the eval's section merge."""

from __future__ import annotations

import numpy as np
import pytest

from framesentry.cli.evaluate import _place
from framesentry.lab.visual.band import fit_verdict_band
from framesentry.lab.visual.crossdomain import clip_metrics


def test_band_holds_the_scores_the_model_cannot_call() -> None:
    """Scores 0..0.3 are all real, 0.7..1 all fake, the middle mixed: the band is exactly the middle."""
    rng = np.random.default_rng(0)
    real = np.concatenate([rng.uniform(0.0, 0.3, 400), rng.uniform(0.3, 0.7, 100)])
    fake = np.concatenate([rng.uniform(0.7, 1.0, 400), rng.uniform(0.3, 0.7, 100)])
    p, y = np.concatenate([real, fake]), np.array([0] * 500 + [1] * 500)
    real_t, fake_t = fit_verdict_band(p, y, precision=0.99)
    assert 0.28 <= real_t <= 0.32 and 0.68 <= fake_t <= 0.72
    loose = fit_verdict_band(p, y, precision=0.8)
    assert real_t <= loose[0] < loose[1] <= fake_t  # a lower precision narrows the band
    with pytest.raises(ValueError):
        fit_verdict_band(np.full(200, 0.5), np.arange(200) % 2, precision=0.9)  # no information


def test_clip_metrics_and_section_merge() -> None:
    """Per-manipulation AUC is each family against all reals; recomputing one section keeps its siblings."""
    rows = [
        {"label": 1, "manipulation": "A", "p_fake": 0.9, "verdict": "fake"},
        {"label": 1, "manipulation": "B", "p_fake": 0.2, "verdict": "real"},
        {"label": 0, "manipulation": "real", "p_fake": 0.5, "verdict": "uncertain"},
        {"label": 0, "manipulation": "real", "p_fake": 0.1, "verdict": "real"},
    ]
    m = clip_metrics(rows)
    assert m["per_manipulation"]["A"]["auc"] == 1.0 and m["per_manipulation"]["B"]["auc"] == 0.5
    assert m["fakes_caught"] == 0.5 and m["false_positive_rate"] == 0.0 and m["uncertain_rate"] == 0.25
    doc = {"visual": {"x": 1}, "crossdomain": {"audio": {"auc": 0.7}, "video": {"auc": 0.1}}}
    _place(doc, ("crossdomain", "video"), {"auc": 0.6})
    assert doc == {"visual": {"x": 1}, "crossdomain": {"audio": {"auc": 0.7}, "video": {"auc": 0.6}}}
