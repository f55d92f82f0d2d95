"""Training-time augmentation that models how real-world video degrades a face crop.

DFDC crops are clean-ish frames; uploaded video is re-encoded, rescaled, blurred and noisy. Each image gets
a random subset of those degradations (JPEG last, as a codec would apply it) plus framing jitter and a
horizontal flip, so the detector does not rely on artefacts that one re-encode would destroy.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of each degradation; saved with the model for reproducibility."""

    crop_scale_min: float = 0.80  # fraction of the crop's area kept by the random crop
    flip_p: float = 0.5
    color_p: float = 0.8
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    rescale_p: float = 0.3
    rescale_min: float = 0.4  # down-scale factor range before scaling back up
    rescale_max: float = 0.8
    blur_p: float = 0.2
    blur_sigma_max: float = 1.5
    noise_p: float = 0.2
    noise_sigma_max: float = 8.0
    jpeg_p: float = 0.5
    jpeg_quality_min: int = 30
    jpeg_quality_max: int = 95

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _random_crop(img: NDArray[np.uint8], rng: np.random.Generator, scale_min: float) -> NDArray[np.uint8]:
    """Near-square crop of 80-100 % of the area at a random offset: framing jitter like a detector's."""
    h, w = img.shape[:2]
    scale = rng.uniform(scale_min, 1.0)
    aspect = np.exp(rng.uniform(np.log(0.9), np.log(1.1)))
    ch = min(h, round(h * np.sqrt(scale / aspect)))
    cw = min(w, round(w * np.sqrt(scale * aspect)))
    y = int(rng.integers(0, h - ch + 1))
    x = int(rng.integers(0, w - cw + 1))
    return img[y : y + ch, x : x + cw]


def degrade(img: NDArray[np.uint8], rng: np.random.Generator, cfg: AugmentConfig | None = None) -> NDArray[np.uint8]:
    """One augmented copy of an RGB uint8 HWC image, same shape and dtype as the input."""
    from PIL import Image, ImageEnhance, ImageFilter

    cfg = cfg or AugmentConfig()
    h, w = img.shape[:2]
    out = _random_crop(img, rng, cfg.crop_scale_min)
    if rng.random() < cfg.flip_p:
        out = out[:, ::-1]
    pil = Image.fromarray(np.ascontiguousarray(out))
    if pil.size != (w, h):
        pil = pil.resize((w, h), Image.Resampling.BILINEAR)
    if rng.random() < cfg.color_p:
        for enhancer, amount in (
            (ImageEnhance.Brightness, cfg.brightness),
            (ImageEnhance.Contrast, cfg.contrast),
            (ImageEnhance.Color, cfg.saturation),
        ):
            pil = enhancer(pil).enhance(float(rng.uniform(1 - amount, 1 + amount)))
    if rng.random() < cfg.rescale_p:
        f = rng.uniform(cfg.rescale_min, cfg.rescale_max)
        small = (max(8, round(w * f)), max(8, round(h * f)))
        method = Image.Resampling.BILINEAR if rng.random() < 0.5 else Image.Resampling.BICUBIC
        pil = pil.resize(small, method).resize((w, h), method)
    if rng.random() < cfg.blur_p:
        pil = pil.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.3, cfg.blur_sigma_max))))
    arr = np.asarray(pil)
    if rng.random() < cfg.noise_p:
        noise = rng.normal(0.0, rng.uniform(1.0, cfg.noise_sigma_max), size=arr.shape)
        arr = np.clip(arr.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    if rng.random() < cfg.jpeg_p:
        buf = io.BytesIO()
        quality = int(rng.integers(cfg.jpeg_quality_min, cfg.jpeg_quality_max + 1))
        Image.fromarray(arr).save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        with Image.open(buf) as im:
            arr = np.asarray(im.convert("RGB"))
    return np.ascontiguousarray(arr, dtype=np.uint8)


def degrade_batch(
    images: NDArray[np.uint8], rng: np.random.Generator, cfg: AugmentConfig | None = None
) -> NDArray[np.uint8]:
    """Augment each image of an NHWC batch independently."""
    return np.stack([degrade(im, rng, cfg) for im in images])
