"""What the model cards say: measured quality and known limits of the committed models, for summaries/reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from framesentry.config import Settings


class ModelQuality(BaseModel):
    """One committed model as its card describes it."""

    modality: str
    version: str
    quality: dict[str, float]
    """Headline held-out numbers measured when the model was trained (see the card for the data)."""
    limits: list[str]


def _read(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def _visual(card: dict[str, Any]) -> ModelQuality:
    test = card.get("metrics", {}).get("test", {})
    degraded = card.get("metrics", {}).get("test_auc_degraded", {})
    sha = str(card.get("weights_sha256", ""))
    quality = {f"test_{k}": float(test[k]) for k in ("auc", "eer", "accuracy") if k in test}
    quality.update({f"test_auc_{k}": float(v) for k, v in degraded.items()})
    limits = card.get("limits", [])
    return ModelQuality(modality="visual", version=f"{card.get('arch', '?')}-{card.get('input_size', '?')}@{sha[:12]}",
                        quality=quality, limits=[str(x) for x in (limits if isinstance(limits, list) else [limits])])


def _audio(card: dict[str, Any]) -> ModelQuality:
    metrics = card.get("metrics", {})
    quality: dict[str, float] = {}
    for name, key in (("test_clean", "clean"), ("test_codec", "codec")):
        pooled = metrics.get(name, {}).get("pooled", {})
        if "eer" in pooled:
            quality[f"{key}_pooled_eer"] = float(pooled["eer"])
    for gen, held in metrics.get("held_out", {}).items():
        if isinstance(held, dict) and "fused_eer" in held:
            quality[f"held_out_{gen}_eer"] = float(held["fused_eer"])
    limits = card.get("limits", [])
    text = limits if isinstance(limits, list) else [s.strip() + "." for s in str(limits).split(". ") if s.strip()]
    return ModelQuality(modality="audio", version=str(card.get("version", "?")), quality=quality,
                        limits=[t.rstrip(".") + "." for t in text])


def model_qualities(settings: Settings) -> list[ModelQuality]:
    """Quality and limits of the visual and audio models in ``settings.models_dir`` (missing cards skipped)."""
    out = []
    visual = _read(settings.models_dir / "visual" / "model_card.json")
    if visual:
        out.append(_visual(visual))
    audio = _read(settings.models_dir / "audio" / "model_card.json")
    if audio:
        out.append(_audio(audio))
    return out
