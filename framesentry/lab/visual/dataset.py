"""The dfdc-faces data: labels.csv reading, the fixed split, and a decoded-pixel cache.

Decoding 20k JPEGs every epoch would cost more CPU than the model on a 2-core machine, so every crop is
decoded and resized once into a uint8 ``.npy`` under ``Settings().work_dir`` and memory-mapped afterwards.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from framesentry.config import Settings
from framesentry.errors import DataError

SPLITS = ("train", "val", "test")
LABELS = {"real": 0, "fake": 1}


@dataclass(frozen=True)
class Sample:
    """One labelled crop; ``label`` is 1 = fake, 0 = real."""

    image: str
    label: int
    split: str
    source_video: str


def data_dir(settings: Settings) -> Path:
    """Folder of the face crops, with a clear error when the shared data is not there."""
    root = settings.shared_dir / "data" / "dfdc-faces"
    if not (root / "labels.csv").is_file() or not (root / "images").is_dir():
        raise DataError(f"dfdc-faces not found: expected labels.csv and images/ under {root}", path=str(root))
    return root


def read_labels(settings: Settings) -> list[Sample]:
    """All rows of labels.csv in file order (the order is the cache's row order)."""
    path = data_dir(settings) / "labels.csv"
    samples: list[Sample] = []
    with path.open(newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            try:
                label, split = LABELS[row["label"]], row["split"]
                image, source = row["image"], row["source_video"]
            except KeyError as exc:
                raise DataError(f"{path}: row {i + 2} has a bad or missing field {exc}", path=str(path)) from exc
            if split not in SPLITS:
                raise DataError(f"{path}: row {i + 2} has unknown split {split!r}", path=str(path))
            samples.append(Sample(image=image, label=label, split=split, source_video=source))
    if not samples:
        raise DataError(f"{path} has no rows", path=str(path))
    return samples


def split_indices(samples: Sequence[Sample], split: str, limit: int | None = None) -> NDArray[np.int64]:
    """Row indices of one split; ``limit`` keeps a class-balanced prefix (for tiny test runs)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}")
    idx = np.array([i for i, s in enumerate(samples) if s.split == split], dtype=np.int64)
    if limit is not None and limit < idx.size:
        labels = np.array([samples[i].label for i in idx])
        fake, real = idx[labels == 1], idx[labels == 0]
        n_fake = min(fake.size, max(1, limit // 2))
        idx = np.sort(np.concatenate([fake[:n_fake], real[: limit - n_fake]]))
    return idx


def load_image(path: Path) -> NDArray[np.uint8]:
    """Decode one crop to RGB uint8 HWC."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read image {path}: {exc}", path=str(path)) from exc


def load_images(
    settings: Settings, samples: Sequence[Sample], indices: Sequence[int] | NDArray[np.int64]
) -> NDArray[np.uint8]:
    """Full-resolution (224 px) crops, exactly what the runtime face pipeline hands the model."""
    root = data_dir(settings) / "images"
    return np.stack([load_image(root / samples[i].image) for i in indices])


def resize_uint8(images: NDArray[np.uint8], size: int) -> NDArray[np.uint8]:
    """Antialiased bilinear resize of a uint8 NHWC batch (same kernel as the model's preprocess)."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    y = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return y.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def _cache_key(settings: Settings, size: int) -> str:
    labels = (data_dir(settings) / "labels.csv").read_bytes()
    return hashlib.sha256(labels + f"|{size}".encode()).hexdigest()[:12]


def cached_pixels(settings: Settings, size: int, samples: Sequence[Sample] | None = None) -> NDArray[np.uint8]:
    """All crops as one uint8 [N, size, size, 3] array in labels.csv order, built once then memory-mapped.

    The cache name carries a hash of labels.csv and the size, so a changed dataset never reuses stale pixels.
    """
    samples = list(samples) if samples is not None else read_labels(settings)
    cache_dir = settings.work_dir / "visual_cache"
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"dfdc_faces_{size}px_{_cache_key(settings, size)}.npy"
    if path.is_file():
        arr = np.load(path, mmap_mode="r")
        if arr.shape == (len(samples), size, size, 3):
            return arr
    tmp = path.with_suffix(f".tmp{os.getpid()}.npy")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(samples), size, size, 3))
    chunk = 256
    for start in range(0, len(samples), chunk):
        idx = range(start, min(start + chunk, len(samples)))
        out[start : idx.stop] = resize_uint8(load_images(settings, samples, idx), size)
    out.flush()
    del out
    os.replace(tmp, path)
    return np.load(path, mmap_mode="r")


def sharpness_balanced(
    pixels: NDArray[np.uint8], labels: NDArray[np.float32] | NDArray[np.int64], seed: int, bins: int = 20
) -> NDArray[np.int64]:
    """Positions of a subset of ``pixels`` in which real and fake faces are equally sharp, class by class.

    DFDC's real crops are sharper than its fakes (median Laplacian variance 45 vs 31 on the 144 px train
    cache), so "soft = fake" is a shortcut a model can learn from it, and one that does not carry over: on
    crossdomain-dev the generated talking heads are the sharpest faces of all (docs/VISUAL_GENERALISATION.md).
    Within each of ``bins`` quantile bins of log sharpness (``faces.crop_sharpness``, the runtime's measure)
    the larger class is subsampled to the smaller one's count (seeded), so sharpness alone says nothing about
    the label.
    """
    from framesentry.inference.faces.crops import crop_sharpness

    y = np.asarray(labels).astype(np.int64)
    sharp = np.log(np.array([crop_sharpness(im) for im in pixels]) + 1e-3)
    edges = np.quantile(sharp, np.linspace(0.0, 1.0, bins + 1))
    which = np.clip(np.searchsorted(edges, sharp, side="right") - 1, 0, bins - 1)
    rng = np.random.default_rng(seed)
    keep: list[NDArray[np.int64]] = []
    for b in range(bins):
        real, fake = np.flatnonzero((which == b) & (y == 0)), np.flatnonzero((which == b) & (y == 1))
        n = min(real.size, fake.size)
        keep += [rng.choice(real, n, replace=False), rng.choice(fake, n, replace=False)]
    return np.sort(np.concatenate(keep)).astype(np.int64)
