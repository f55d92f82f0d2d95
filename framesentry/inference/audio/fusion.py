"""Score fusion: spectral CNN logit (+ optional AASIST fake logit) + LPC-residual peakiness -> one logit.

A logistic regression on standardised features, with the squares of the residual features so a window can
be suspicious for being too smooth (Griffin-Lim) or too pulse-like (LPC vocoder, diphone TTS). Fitted on
the validation speakers only; its config is a small JSON dict stored in the model card.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray


def raw_features(
    cnn: NDArray[np.float64], peaky: NDArray[np.float64], aasist: NDArray[np.float64] | None = None
) -> NDArray[np.float64]:
    """``[N, k]``: cnn logit, (AASIST fake logit), residual log kurtosis, residual log crest factor."""
    cols = [np.asarray(cnn, dtype=np.float64)]
    if aasist is not None:
        cols.append(np.asarray(aasist, dtype=np.float64))
    cols += [peaky[:, 0], peaky[:, 1]]
    return np.stack(cols, axis=1)


def design(raw: NDArray[np.float64], mean: NDArray[np.float64], std: NDArray[np.float64]) -> NDArray[np.float64]:
    """Standardise, then append squares of the two residual features (two-sided deviations)."""
    u = (raw - mean) / std
    return np.concatenate([u, u[:, -2:] ** 2], axis=1)


def fit_fusion(raw: NDArray[np.float64], y: NDArray[np.int64], use_aasist: bool) -> tuple[dict[str, Any], float]:
    """Fit on validation features; returns the config and its 5-fold cross-validated EER."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    from framesentry.inference.metrics import equal_error_rate

    mean, std = raw.mean(axis=0), raw.std(axis=0) + 1e-9
    x = design(raw, mean, std)
    folds = min(5, int(np.bincount(y, minlength=2).min()))
    cv = np.zeros(len(y))
    if folds >= 2:
        for tr, te in StratifiedKFold(folds, shuffle=True, random_state=0).split(x, y):
            cv[te] = LogisticRegression(C=1.0, max_iter=1000).fit(x[tr], y[tr]).decision_function(x[te])
    lr = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
    cfg = {
        "use_aasist": use_aasist,
        "aasist_variant": "AASIST",
        "features": ["cnn"] + (["aasist"] if use_aasist else []) + ["res_log_kurt", "res_log_crest"],
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "weights": [float(v) for v in lr.coef_[0]],
        "bias": float(lr.intercept_[0]),
    }
    return cfg, (equal_error_rate(cv, y)[0] if folds >= 2 else float("nan"))


def apply_fusion(cfg: dict[str, Any], raw: NDArray[np.float64]) -> NDArray[np.float64]:
    """Fused fake logit for raw features laid out as in ``cfg['features']``."""
    x = design(raw, np.asarray(cfg["mean"]), np.asarray(cfg["std"]))
    return np.asarray(x @ np.asarray(cfg["weights"]) + float(cfg["bias"]), dtype=np.float64)
