"""Turning raw detector logits into calibrated probabilities of manipulation.

Temperature scaling keeps the ranking (AUC) unchanged and fixes over-confidence with one parameter, which
is what a small validation split can support. A bias term (Platt scaling) is available for detectors whose
decision point has shifted on our data (e.g. a pretrained audio model).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True)
class Calibrator:
    """``p_fake = sigmoid((logit - bias) / temperature)``; ``logit`` is the detector's fake-vs-real logit."""

    temperature: float = 1.0
    bias: float = 0.0
    method: str = "identity"

    def __call__(self, logits: ArrayLike) -> NDArray[np.float64]:
        z = (np.asarray(logits, dtype=np.float64) - self.bias) / self.temperature
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0))), dtype=np.float64)

    def to_dict(self) -> dict[str, float | str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, float | str]) -> Calibrator:
        return cls(temperature=float(data["temperature"]), bias=float(data["bias"]), method=str(data["method"]))


def _nll(logits: NDArray[np.float64], labels: NDArray[np.float64], t: float, b: float) -> float:
    z = (logits - b) / t
    # log(1 + exp(-z)) for y=1 and log(1 + exp(z)) for y=0, computed stably.
    return float(np.mean(np.logaddexp(0.0, -z) * labels + np.logaddexp(0.0, z) * (1.0 - labels)))


def fit_temperature(logits: ArrayLike, labels: ArrayLike, fit_bias: bool = False) -> Calibrator:
    """Fit temperature (and optionally bias) by minimising validation NLL (scipy L-BFGS-B)."""
    from scipy.optimize import minimize

    z = np.asarray(logits, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=np.float64).ravel()
    if z.size < 2 or y.min() == y.max():
        raise ValueError("calibration needs both classes")

    def objective(params: NDArray[np.float64]) -> float:
        log_t = params[0]
        b = params[1] if fit_bias else 0.0
        return _nll(z, y, float(np.exp(log_t)), float(b))

    x0 = np.array([0.0, 0.0] if fit_bias else [0.0])
    res = minimize(objective, x0, method="L-BFGS-B")
    t = float(np.exp(res.x[0]))
    b = float(res.x[1]) if fit_bias else 0.0
    return Calibrator(temperature=t, bias=b, method="platt" if fit_bias else "temperature")
