"""Training-time augmentation that models how real-world video degrades a face crop.

DFDC crops are clean-ish frames; uploaded video is re-encoded, rescaled, blurred and noisy. Each image gets
a random subset of those degradations (JPEG last, as a codec would apply it) plus framing jitter and a
horizontal flip, so the detector does not rely on artefacts that one re-encode would destroy.

Framing jitter has two forms. The original one only crops inside the image (zoom-in). The run-time face stage
(MTCNN + ``crop_face``) reproduces the dataset's framing only approximately (crop side / box side IQR
0.83-0.92), and a model that never saw a zoomed-out or shifted crop swung from p_fake 0.02 to 0.97 on a
re-detected face. So with probability ``framing_p`` the view is instead zoomed by ``zoom_min..zoom_max``
(> 1 = zoom out) and shifted by up to ``shift_max`` of the side, the uncovered border filled by reflection,
edge replication or a soft random scene texture (what a pasted or real background looks like).
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
    framing_p: float = 0.0  # 0 = the base model's recipe; fine-tuning for framing robustness uses ~0.7
    zoom_min: float = 0.90  # view side / crop side (< 1 zooms in, > 1 zooms out)
    zoom_max: float = 1.20
    shift_max: float = 0.08  # centre shift, fraction of the side, per axis
    texture_p: float = 0.4  # share of padded views filled with scene texture (rest: reflect or edge)

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


def _texture(h: int, w: int, rng: np.random.Generator) -> NDArray[np.float32]:
    """Smooth blobby colour field with sensor noise: a cheap stand-in for the scene around a face."""
    from PIL import Image

    gh, gw = int(rng.integers(2, 6)), int(rng.integers(2, 6))
    base = rng.uniform(40, 200, size=3)
    coarse = base + rng.uniform(-45, 45, size=(gh, gw, 1)) + rng.uniform(-15, 15, size=(gh, gw, 3))
    coarse = np.clip(coarse, 0, 255).astype(np.uint8)
    field = np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)
    return field + rng.normal(0.0, rng.uniform(1.0, 8.0), size=(h, w, 3)).astype(np.float32)


def _pad_with_texture(
    img: NDArray[np.uint8], pad: tuple[int, int, int, int], rng: np.random.Generator
) -> NDArray[np.uint8]:
    """Place ``img`` on a texture canvas grown by (top, bottom, left, right), with feathered edges."""
    h, w = img.shape[:2]
    top, bottom, left, right = pad
    canvas = _texture(h + top + bottom, w + left + right, rng)
    ramp = max(1.0, 0.03 * w)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dist = np.minimum(np.minimum(yy + 0.5, h - yy - 0.5), np.minimum(xx + 0.5, w - xx - 0.5))
    alpha = np.clip(dist / ramp, 0.0, 1.0)[..., None]
    region = canvas[top : top + h, left : left + w]
    canvas[top : top + h, left : left + w] = region + alpha * (img.astype(np.float32) - region)
    return np.clip(canvas, 0, 255).astype(np.uint8)


def _zoom_shift(img: NDArray[np.uint8], rng: np.random.Generator, cfg: AugmentConfig) -> NDArray[np.uint8]:
    """View of ``zoom`` x the side, centre shifted up to ``shift_max``; the part outside the image is padded."""
    h, w = img.shape[:2]
    zoom = rng.uniform(cfg.zoom_min, cfg.zoom_max)
    aspect = np.exp(rng.uniform(np.log(0.95), np.log(1.05)))
    vh, vw = max(8, round(h * zoom / np.sqrt(aspect))), max(8, round(w * zoom * np.sqrt(aspect)))
    cy = h / 2 + rng.uniform(-cfg.shift_max, cfg.shift_max) * h
    cx = w / 2 + rng.uniform(-cfg.shift_max, cfg.shift_max) * w
    y0, x0 = round(cy - vh / 2), round(cx - vw / 2)
    y1, x1 = y0 + vh, x0 + vw
    pad = (max(0, -y0), max(0, y1 - h), max(0, -x0), max(0, x1 - w))
    if any(pad):
        if rng.random() < cfg.texture_p:
            img = _pad_with_texture(img, pad, rng)
        else:
            widths = ((pad[0], pad[1]), (pad[2], pad[3]), (0, 0))
            reflect = rng.random() < 0.6 and max(pad) < min(h, w)
            img = np.pad(img, widths, mode="reflect") if reflect else np.pad(img, widths, mode="edge")
        y0, y1, x0, x1 = y0 + pad[0], y1 + pad[0], x0 + pad[2], x1 + pad[2]
    return img[y0:y1, x0:x1]


def degrade(img: NDArray[np.uint8], rng: np.random.Generator, cfg: AugmentConfig | None = None) -> NDArray[np.uint8]:
    """One augmented copy of an RGB uint8 HWC image, same shape and dtype as the input."""
    from PIL import Image, ImageEnhance, ImageFilter

    cfg = cfg or AugmentConfig()
    h, w = img.shape[:2]
    if cfg.framing_p > 0 and rng.random() < cfg.framing_p:
        out = _zoom_shift(img, rng, cfg)
    else:
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
