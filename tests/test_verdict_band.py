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


def test_cached_crops_match_the_faces_the_router_kept() -> None:
    """The crop cache holds exactly the crops behind ``result.frames``: faces the router dropped after scoring
    (too small or blurred) are left out, so crops and their track rows stay aligned (a mismatch stopped a run)."""
    from types import SimpleNamespace

    from framesentry.errors import DataError
    from framesentry.lab.visual.crossdomain import _RecordingVisual

    class Inner:
        version, engine = "test", None

        def predict(self, crops: np.ndarray) -> np.ndarray:
            return crops[:, 0, 0, 0].astype(np.float64) / 100.0

    rec = _RecordingVisual(Inner())  # type: ignore[arg-type]
    crops = np.zeros((5, 4, 4, 3), np.uint8)
    crops[:, 0, 0, 0] = [10, 20, 30, 40, 50]
    rec.predict(crops[:3])
    rec.predict(crops[3:])
    kept = SimpleNamespace(frames=[SimpleNamespace(t_s=0.0, p_fake=p) for p in (0.2, 0.4, 0.5)])
    assert rec.kept_crops(kept)[:, 0, 0, 0].tolist() == [20, 40, 50]  # type: ignore[arg-type]
    stray = SimpleNamespace(frames=[SimpleNamespace(t_s=1.0, p_fake=0.33)])
    with pytest.raises(DataError, match="cannot match"):
        rec.kept_crops(stray)  # type: ignore[arg-type]
