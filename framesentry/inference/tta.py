"""Test-time augmentation for the visual model: used by the escalated (deeper) pass on Uncertain results.

Why a horizontal flip only: faces are near-symmetric and the training augmentation flipped them, so the
flipped crop is in distribution; averaging the two logits before calibration smooths framing noise without
the crop shifts that hurt this model (see the model card's framing numbers).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from framesentry.inference.detectors import Detectors

TTA_NAMES = ("hflip",)


class FlipAveraged:
    """A visual detector whose logit is the mean over the crop and its mirror image."""

    def __init__(self, base: Any) -> None:
        self.base = base
        self.version = f"{base.version}+tta-hflip"
        self.engine = base.engine

    def predict(self, crops: NDArray[np.uint8]) -> NDArray[np.float64]:
        crops = np.ascontiguousarray(crops)
        logits = (self.base.logits(crops) + self.base.logits(np.ascontiguousarray(crops[:, :, ::-1]))) / 2.0
        return np.asarray(self.base.calibrator(logits), dtype=np.float64)


class TTADetectors(Detectors):
    """The same models as ``base`` (shared, not reloaded), with the visual detector flip-averaged."""

    def __init__(self, base: Detectors) -> None:
        super().__init__(base.settings)
        self._base = base
        self.__dict__["faces"] = base.faces
        self.__dict__["audio"] = base.audio
        self.__dict__["vad"] = base.vad

    @cached_property
    def visual(self) -> Any:
        return FlipAveraged(self._base.visual)
