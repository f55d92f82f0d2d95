"""Score fusion: spectral CNN logit (+ optional AASIST fake logit) + LPC-residual peakiness (+ optional frozen
Whisper encoder features) -> one logit.

A logistic regression on standardised features, with the squares of the residual features so a window can
be suspicious for being too smooth (Griffin-Lim) or too pulse-like (LPC vocoder, diphone TTS). Its config
(feature names, standardisation, weights) is a JSON dict stored in the model card. Without Whisper it has
four or five inputs and is fitted on the validation speakers; with Whisper's 768 pooled features it is the
detector's back end, fitted on the train speakers with its regularisation chosen on validation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

RESIDUAL = ("res_log_kurt", "res_log_crest")


def raw_features(
    cnn: NDArray[np.float64],
    peaky: NDArray[np.float64],
    aasist: NDArray[np.float64] | None = None,
    whisper: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """``[N, k]``: cnn logit, (AASIST fake logit), residual log kurtosis, residual log crest factor, (Whisper)."""
    cols = [np.asarray(cnn, dtype=np.float64)]
    if aasist is not None:
        cols.append(np.asarray(aasist, dtype=np.float64))
    cols += [peaky[:, 0], peaky[:, 1]]
    out = np.stack(cols, axis=1)
    if whisper is not None:
        out = np.concatenate([out, np.asarray(whisper, dtype=np.float64)], axis=1)
    return out


def feature_names(use_aasist: bool, whisper: bool) -> list[str]:
    """Names of the scalar columns of ``raw_features``; a Whisper block is one ``whisper`` entry at the end."""
    return ["cnn"] + (["aasist"] if use_aasist else []) + list(RESIDUAL) + (["whisper"] if whisper else [])


def whisper_columns(raw: NDArray[np.float64], features: list[str]) -> NDArray[np.float64]:
    """The columns a Whisper back end uses, from ``raw_features`` without AASIST (cnn, the two residual
    features, the Whisper block), in ``features`` order: a back end may use a subset (e.g. Whisper alone)."""
    cols = {"cnn": raw[:, :1], "res_log_kurt": raw[:, 1:2], "res_log_crest": raw[:, 2:3], "whisper": raw[:, 3:]}
    return np.concatenate([cols[f] for f in features], axis=1)


def design(
    raw: NDArray[np.float64], mean: NDArray[np.float64], std: NDArray[np.float64], features: list[str] | None = None
) -> NDArray[np.float64]:
    """Standardise, then append squares of the two residual features (two-sided deviations)."""
    u = (raw - mean) / std
    # Old (four/five-input) configs end with the two residual columns; Whisper configs name them.
    idx = [features.index(r) for r in RESIDUAL if r in features] if features and "whisper" in features else [-2, -1]
    return np.concatenate([u, u[:, idx] ** 2], axis=1)


def fit_linear(raw: NDArray[np.float64], y: NDArray[np.int64], features: list[str], c: float) -> dict[str, Any]:
    """Fit the L2 logistic regression on ``raw`` (the Whisper back end); returns the fusion config."""
    from sklearn.linear_model import LogisticRegression

    mean, std = raw.mean(axis=0), raw.std(axis=0) + 1e-6
    lr = LogisticRegression(C=c, max_iter=3000, class_weight="balanced").fit(design(raw, mean, std, features), y)
    return {
        "use_aasist": "aasist" in features,
        "use_whisper": "whisper" in features,
        "aasist_variant": "AASIST",
        "features": features,
        "C": c,
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "weights": [float(v) for v in lr.coef_[0]],
        "bias": float(lr.intercept_[0]),
    }


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
    x = design(raw, np.asarray(cfg["mean"]), np.asarray(cfg["std"]), cfg.get("features"))
    return np.asarray(x @ np.asarray(cfg["weights"]) + float(cfg["bias"]), dtype=np.float64)
