"""Quality metrics shared by every detector: AUC, EER, accuracy and calibration error.

Scores follow one convention everywhere: higher = more likely fake; labels are 1 = fake, 0 = real.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def _as_arrays(scores: ArrayLike, labels: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=np.int64).ravel()
    if s.shape != y.shape:
        raise ValueError(f"scores and labels differ in length: {s.shape} vs {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (real) or 1 (fake)")
    if y.min() == y.max():
        raise ValueError("need both classes to compute a ranking metric")
    return s, y


def roc_auc(scores: ArrayLike, labels: ArrayLike) -> float:
    """Area under the ROC curve (scikit-learn's implementation)."""
    from sklearn.metrics import roc_auc_score

    s, y = _as_arrays(scores, labels)
    return float(roc_auc_score(y, s))


def equal_error_rate(scores: ArrayLike, labels: ArrayLike) -> tuple[float, float]:
    """EER and the score threshold where false-accept and false-reject rates meet.

    Returns ``(eer, threshold)``; eer is a fraction in [0, 1].
    """
    from sklearn.metrics import roc_curve

    s, y = _as_arrays(scores, labels)
    fpr, tpr, thresholds = roc_curve(y, s)
    fnr = 1.0 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    # Interpolate between the two ROC points that bracket the crossing for a stable estimate.
    j = min(i + 1, len(fpr) - 1)
    d_i, d_j = fnr[i] - fpr[i], fnr[j] - fpr[j]
    if d_i != d_j and np.sign(d_i) != np.sign(d_j):
        w = d_i / (d_i - d_j)
        eer = fpr[i] + w * (fpr[j] - fpr[i])
    else:
        eer = (fpr[i] + fnr[i]) / 2.0
    threshold = float(thresholds[i]) if np.isfinite(thresholds[i]) else float(s.max())
    return float(eer), threshold


def accuracy_at(probabilities: ArrayLike, labels: ArrayLike, threshold: float = 0.5) -> float:
    """Fraction correct when ``p >= threshold`` is called fake."""
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=np.int64).ravel()
    return float(np.mean((p >= threshold).astype(np.int64) == y))


def expected_calibration_error(probabilities: ArrayLike, labels: ArrayLike, n_bins: int = 15) -> float:
    """ECE with equal-width bins over p_fake: the weighted gap between confidence and frequency."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64).ravel(), 0.0, 1.0)
    y = np.asarray(labels, dtype=np.float64).ravel()
    if p.size == 0:
        raise ValueError("no probabilities")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.digitize(p, edges[1:-1], right=True), 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.mean() * abs(p[mask].mean() - y[mask].mean())
    return float(ece)
