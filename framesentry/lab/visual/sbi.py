"""Self-blended images (SBI, Shiohara & Yamasaki, CVPR 2022): training fakes made from real faces alone.

A real face is blended with a slightly transformed copy of itself (colour, frequency and geometry changes)
inside a soft mask built from its own 68 facial landmarks. The result has the traces every face swap leaves
- a blending boundary, colour and sharpness mismatch between the inner face and its surroundings, a small
misalignment - and nothing of one generator's fingerprint, so a detector trained on it learns the traces
rather than DFDC's generators. Two mask families: the whole inner face (hull of jaw and brows: face swaps)
and the lower face / mouth (hull of the lower jaw and nose: lip-sync tools repaint only there).

Landmarks come from dlib's 68-point predictor (``dlib-bin`` + the ``face-recognition-models`` wheel, training
only: the ``train`` extra). dlib's HOG detector misses some of the tight dataset crops; those get a fixed
inset rectangle, which the predictor handles (measured: same landmarks within a few pixels where both exist).
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from framesentry.config import Settings
from framesentry.errors import ModelError

FACE_POINTS = list(range(0, 27))  # jaw line (0-16) and brows (17-26)
LOWER_POINTS = [*range(2, 15), 29, 31, 35]  # lower jaw, nose bridge middle and nostrils: mouth and chin
FALLBACK_INSET = 0.07  # rectangle given to the predictor when HOG finds no face (tight crops)


@dataclass(frozen=True)
class SBIConfig:
    """Ranges of the self-blending transforms; saved with the model for reproducibility."""

    lower_face_p: float = 0.3  # share of blends restricted to the lower face / mouth
    hull_scale_min: float = 0.85  # the mask hull is scaled about its centre by this..max
    hull_scale_max: float = 1.05
    deform: float = 0.04  # random per-point jitter (normal sigma) of the hull, fraction of the face size
    blur_min: float = 0.02  # mask feathering sigma, fraction of the face size
    blur_max: float = 0.08
    ratios: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)  # blend strength inside the mask
    color_shift: float = 0.08  # per-channel gain range (+-) of the source copy
    brightness: float = 0.1
    contrast: float = 0.1
    sharpen_p: float = 0.3
    soften_p: float = 0.5  # blur or down-up resize of the source (frequency mismatch)
    shift_max: float = 0.03  # source translation, fraction of the side
    scale_max: float = 0.03  # source zoom (+-)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _model_file(name: str) -> Path:
    """A file of the face-recognition-models wheel, found without importing it (its __init__ needs pkg_resources)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("face-recognition-models is not installed (install the project's `train` extra)")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    if not path.is_file():
        raise ModelError(f"{name} not found in face-recognition-models", path=str(path))
    return path


class Landmarker:
    """dlib 68-point landmarks on a face crop: HOG face box when found, a fixed inset rectangle otherwise."""

    def __init__(self) -> None:
        try:
            import dlib
        except ImportError as exc:
            raise ModelError("dlib is not installed (install the project's `train` extra: dlib-bin)") from exc
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(_model_file("shape_predictor_68_face_landmarks.dat")))

    def __call__(self, crop: NDArray[np.uint8]) -> NDArray[np.float32]:
        """(68, 2) x, y landmarks in pixels of ``crop`` (RGB uint8 HxWx3)."""
        img = np.ascontiguousarray(crop)
        h, w = img.shape[:2]
        found = self._detector(img, 0)
        if len(found):
            rect = max(found, key=lambda r: r.width() * r.height())
        else:
            dx, dy = round(w * FALLBACK_INSET), round(h * FALLBACK_INSET)
            rect = self._dlib.rectangle(dx, dy, w - 1 - dx, h - 1 - dy)
        shape = self._predictor(img, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def _hull_mask(points: NDArray[np.float32], shape: tuple[int, int]) -> NDArray[np.float32]:
    """Filled convex hull of ``points`` as a float {0, 1} mask of ``shape`` (h, w)."""
    from PIL import Image, ImageDraw
    from scipy.spatial import ConvexHull

    hull = points[ConvexHull(points).vertices]
    img = Image.new("L", (shape[1], shape[0]), 0)
    ImageDraw.Draw(img).polygon([(float(x), float(y)) for x, y in hull], fill=255)
    return np.asarray(img, dtype=np.float32) / 255.0


def blend_mask(
    landmarks: NDArray[np.float32], shape: tuple[int, int], rng: np.random.Generator, cfg: SBIConfig, lower: bool
) -> NDArray[np.float32]:
    """Soft mask in [0, 1]: deformed, scaled landmark hull, feathered, times a random blend ratio.

    The feathering blur spreads outwards, so the hull is eroded by the blur's reach first: the mask never
    leaves the (scaled) landmark hull, i.e. the face.
    """
    from scipy.ndimage import binary_erosion, gaussian_filter

    pts = landmarks[LOWER_POINTS if lower else FACE_POINTS].astype(np.float64)
    size = max(float(np.ptp(landmarks[:, 0])), float(np.ptp(landmarks[:, 1])), 1.0)
    centre = pts.mean(axis=0)
    pts = centre + (pts - centre) * rng.uniform(cfg.hull_scale_min, cfg.hull_scale_max)
    pts = pts + rng.normal(0.0, cfg.deform * size, size=pts.shape)
    hard = _hull_mask(pts.astype(np.float32), shape)
    sigma = rng.uniform(cfg.blur_min, cfg.blur_max) * size
    reach = max(1, int(np.ceil(2.0 * sigma)))
    inner = binary_erosion(hard > 0.5, iterations=reach)
    if not inner.any():  # tiny hull: keep the unblurred one rather than nothing
        inner = hard > 0.5
    soft = gaussian_filter(inner.astype(np.float32), sigma=sigma, truncate=2.0)
    soft = soft * hard  # numerical tails outside the hull are cut exactly
    peak = float(soft.max())
    soft = soft / peak if peak > 0 else soft
    ratio = float(cfg.ratios[int(rng.integers(len(cfg.ratios)))])
    return (soft * ratio).astype(np.float32)


def transformed_source(img: NDArray[np.uint8], rng: np.random.Generator, cfg: SBIConfig) -> NDArray[np.uint8]:
    """The copy blended in: colour gain, brightness/contrast, sharpen or soften, a small shift and zoom."""
    from PIL import Image, ImageFilter

    h, w = img.shape[:2]
    x = img.astype(np.float64)
    x = x * (1.0 + rng.uniform(-cfg.color_shift, cfg.color_shift, size=3))
    mean = x.mean()
    x = (x - mean) * (1.0 + rng.uniform(-cfg.contrast, cfg.contrast)) + mean
    x = x * (1.0 + rng.uniform(-cfg.brightness, cfg.brightness))
    pil = Image.fromarray(np.clip(x, 0, 255).astype(np.uint8))
    if rng.random() < cfg.sharpen_p:
        pil = pil.filter(ImageFilter.UnsharpMask(radius=2, percent=int(rng.integers(50, 150)), threshold=0))
    elif rng.random() < cfg.soften_p:
        if rng.random() < 0.5:
            pil = pil.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.5, 1.5))))
        else:
            f = rng.uniform(0.4, 0.8)
            pil = pil.resize((max(8, round(w * f)), max(8, round(h * f))), Image.Resampling.BILINEAR)
            pil = pil.resize((w, h), Image.Resampling.BILINEAR)
    zoom = 1.0 + rng.uniform(-cfg.scale_max, cfg.scale_max)
    dx, dy = rng.uniform(-cfg.shift_max, cfg.shift_max, size=2) * (w, h)
    # Affine maps output to input: zoom about the centre, then shift.
    a, e = 1.0 / zoom, 1.0 / zoom
    c = w / 2 - a * w / 2 + dx
    f_ = h / 2 - e * h / 2 + dy
    pil = pil.transform((w, h), Image.Transform.AFFINE, (a, 0.0, c, 0.0, e, f_), Image.Resampling.BILINEAR)
    out = np.asarray(pil, dtype=np.uint8)
    # The affine leaves black corners where it sampled outside; keep the original there (outside any mask).
    return np.where(out.sum(axis=2, keepdims=True) == 0, img, out)


def self_blend(
    img: NDArray[np.uint8],
    landmarks: NDArray[np.float32],
    rng: np.random.Generator,
    cfg: SBIConfig | None = None,
    lower: bool | None = None,
    source: NDArray[np.uint8] | None = None,
) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """(fake image, mask) for one real RGB uint8 face; pixels where the mask is 0 are left unchanged.

    ``source`` is what is blended in: by default a transformed copy of the face itself (SBI); the redrawn
    fakes pass the autoencoder's reconstruction of the face instead (``lab.visual.redraw``).
    """
    cfg = cfg or SBIConfig()
    if lower is None:
        lower = bool(rng.random() < cfg.lower_face_p)
    mask = blend_mask(landmarks, img.shape[:2], rng, cfg, lower)
    source = transformed_source(img, rng, cfg) if source is None else source
    m = mask[..., None]
    blended = img.astype(np.float32) * (1.0 - m) + source.astype(np.float32) * m
    out = np.where(m > 0, np.clip(np.rint(blended), 0, 255), img).astype(np.uint8)
    return out, mask


def landmarks_for(images: NDArray[np.uint8], landmarker: Landmarker | None = None) -> NDArray[np.float32]:
    """(N, 68, 2) landmarks for an NHWC uint8 batch."""
    mark = landmarker or Landmarker()
    return np.stack([mark(im) for im in images]) if len(images) else np.zeros((0, 68, 2), np.float32)


def landmark_cache(
    settings: Settings, pixels: NDArray[np.uint8], rows: NDArray[np.int64], size: int
) -> NDArray[np.float32]:
    """Landmarks of ``pixels`` (the ``size``-px cache rows ``rows``), computed once and kept under work_dir."""
    import hashlib

    key = hashlib.sha256(rows.tobytes() + f"|{size}".encode()).hexdigest()[:12]
    path = settings.work_dir / "visual_cache" / f"landmarks68_{size}px_{key}.npy"
    if path.is_file():
        cached = np.load(path)
        if cached.shape == (len(rows), 68, 2):
            return np.asarray(cached, dtype=np.float32)
    marks = landmarks_for(pixels)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, marks)
    return marks


@dataclass
class SBIPool:
    """Real training faces with their landmarks: each draw gives real faces and their self-blended fakes."""

    pixels: NDArray[np.uint8]
    landmarks: NDArray[np.float32]
    cfg: SBIConfig
    redrawn: NDArray[np.uint8] | None = None
    """The autoencoder's reconstruction of every pool face (``lab.visual.redraw``), or none."""
    redraw_share: float = 0.0
    """Share of the fakes made from ``redrawn`` instead of a self-blend."""
    whole_crop_p: float = 0.3
    """Share of redrawn fakes that replace the whole crop rather than a landmark mask."""

    def draw(self, n: int, rng: np.random.Generator) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
        """(n real faces, the same n faces made fake): the pair teaches the trace, not the identity."""
        idx = np.sort(rng.choice(len(self.pixels), size=n, replace=False))
        reals = np.asarray(self.pixels[idx])
        fakes = np.stack([self._fake(im, int(i), rng) for im, i in zip(reals, idx, strict=True)])
        return reals, fakes

    def _fake(self, img: NDArray[np.uint8], i: int, rng: np.random.Generator) -> NDArray[np.uint8]:
        if self.redrawn is None or rng.random() >= self.redraw_share:
            return self_blend(img, self.landmarks[i], rng, self.cfg)[0]
        if rng.random() < self.whole_crop_p:
            return np.asarray(self.redrawn[i])
        return self_blend(img, self.landmarks[i], rng, self.cfg, source=np.asarray(self.redrawn[i]))[0]
