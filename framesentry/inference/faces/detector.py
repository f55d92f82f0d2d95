"""Face detection with MTCNN (facenet-pytorch 2.6.0, weights inside the wheel, no network).

Frames are shrunk so their longer side is at most ``Settings.face_detect_max_side`` before detection: MTCNN's
cost grows with pixel count and the first-stage image pyramid, and faces worth scoring are big enough to
survive the shrink. Boxes are mapped back to original pixels. ``facenet_pytorch`` (and torch) are imported
on first use only; importing this module is cheap.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from framesentry.config import Settings
from framesentry.errors import MediaError, ModelError

Point = tuple[float, float]

# MTCNN's P-Net sees 12x12 windows: a face smaller than this in the (downscaled) detection image needs an
# up-sampled pyramid level, which is slow. We never up-sample; see ``FaceDetector._min_face``.
_PNET_CELL = 12
# Largest number of frames handed to MTCNN in one call (bounds memory on 4K input).
_MAX_CHUNK = 16

# Tuned on this CPU with synthetic 1280x720 frames (64 frames, 136 real shared val faces of 40-400 px pasted
# on textured scenes; downscaled to 640x360). Found / single-thread CPU ms per frame at batch 1 (batch 8):
#   factor 0.709, thresholds [0.6, 0.7, 0.7] (MTCNN defaults): 129/136, 59 (54) ms
#   factor 0.6,   thresholds [0.7, 0.7, 0.8] (chosen):         130/136, 44 (39) ms
#   factor 0.6,   thresholds [0.8, 0.7, 0.8]:                  130/136, 44 (37) ms (riskier P-Net cut, no gain)
#   factor 0.5,   thresholds [0.7, 0.7, 0.8]:                  123/136 (pyramid too coarse: loses faces)
# On JPEG q30-50 + blurred copies of the frames the defaults and the chosen values both find 123/136.
# The third threshold hardly matters: ``face_min_confidence`` (0.92) filters afterwards anyway.
DEFAULT_FACTOR = 0.6
DEFAULT_THRESHOLDS = (0.7, 0.7, 0.8)


@dataclass(frozen=True)
class FaceBox:
    """One face in ORIGINAL frame pixels. Coordinates may lie slightly outside the frame (MTCNN extrapolates
    a box past the border for a cut-off face); ``crop_face`` relies on that to keep the face centred."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    landmarks: tuple[Point, ...] | None = None  # eyes (left, right), nose, mouth (left, right)

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def size(self) -> float:
        """Longer side: what "face size" means for the minimum-size filter and crop framing."""
        return max(self.width, self.height)

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    @property
    def centre(self) -> Point:
        return ((self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2)


def _load_mtcnn(device: str) -> Any:
    """Build the three MTCNN nets. Only ``facenet_pytorch.models.mtcnn`` is needed; the package __init__
    also imports InceptionResnetV1 (requests/tqdm, no network at import) which is harmless."""
    try:
        from facenet_pytorch.models.mtcnn import MTCNN
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelError(
            "facenet-pytorch is not installed; install facenet-pytorch==2.6.0 with --no-deps.", cause=str(exc)
        ) from exc
    try:
        model = MTCNN(keep_all=True, device=device)
    except (OSError, RuntimeError) as exc:  # weights missing or unreadable inside the wheel
        raise ModelError("The MTCNN weights bundled with facenet-pytorch could not be loaded.", cause=str(exc)) from exc
    return model.eval()


def _resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Antialiased shrink (PIL bilinear widens its kernel when downscaling, so small faces keep detail)."""
    from PIL import Image

    return np.asarray(Image.fromarray(frame).resize((width, height), Image.Resampling.BILINEAR), dtype=np.uint8)


def _check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        shape = getattr(frame, "shape", None)
        raise MediaError("A video frame must be an HxWx3 uint8 RGB array.", shape=str(shape))
    if frame.shape[0] < _PNET_CELL or frame.shape[1] < _PNET_CELL:
        raise MediaError("A video frame is too small to search for faces.", shape=str(frame.shape))


class FaceDetector:
    """MTCNN wrapper: downscale, detect (batched for same-size frames), filter, map back, sort largest first.

    The nets are loaded once, under a lock, on the first call. Detection itself takes no lock: the nets only
    read their weights under ``torch.inference_mode``, so the live and bulk lanes of the batcher run it at the
    same time (a lock here would make a live window wait for an upload's frame, at the upload's low priority).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        factor: float = DEFAULT_FACTOR,
        thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
        device: str = "cpu",
    ) -> None:
        self.settings = settings
        self.factor = factor
        self.thresholds = [float(t) for t in thresholds]
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()

    def _nets(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = _load_mtcnn(self.device)
        return self._model

    def scale_for(self, height: int, width: int) -> float:
        """Factor applied to a frame before detection (<= 1: never up-sampled)."""
        return min(1.0, self.settings.face_detect_max_side / max(height, width))

    def _min_face(self, scale: float, min_size_px: int) -> float:
        """MTCNN ``min_face_size`` in detection pixels: the minimum, shrunk with the frame, but not below
        P-Net's 12 px cell. So on a 1280x720 frame (scale 0.5) faces from 24 px are *found*, and the
        ``min_size_px`` filter then drops those under it; on 4K (scale 1/6) the floor is 72 px. The pyramid's
        cost grows with (12 / min face)^2, which is why the live path may ask for a larger minimum."""
        return max(float(_PNET_CELL), min_size_px * scale)

    def detect(self, frame_rgb: np.ndarray) -> list[FaceBox]:
        """Faces in one HxWx3 uint8 RGB frame, largest first (at most ``max_faces_per_frame``)."""
        return self.detect_batch([frame_rgb])[0]

    def detect_batch(self, frames: list[np.ndarray], min_size_px: int | None = None) -> list[list[FaceBox]]:
        """Faces per frame. Same-size frames go through MTCNN together (one P-Net pass per pyramid level for
        the whole batch), which is what makes the sampled-frames path cheap. ``min_size_px`` (original pixels)
        defaults to ``face_min_size_px``."""
        min_size = self.settings.face_min_size_px if min_size_px is None else min_size_px
        for frame in frames:
            _check_frame(frame)
        out: list[list[FaceBox]] = [[] for _ in frames]
        groups: dict[tuple[int, int], list[int]] = {}
        for i, frame in enumerate(frames):
            groups.setdefault((frame.shape[0], frame.shape[1]), []).append(i)
        for (height, width), idx in groups.items():
            for start in range(0, len(idx), _MAX_CHUNK):
                chunk = idx[start : start + _MAX_CHUNK]
                found = self._detect_same_size([frames[i] for i in chunk], height, width, min_size)
                for i, boxes in zip(chunk, found, strict=True):
                    out[i] = boxes
        return out

    def _detect_same_size(
        self, frames: list[np.ndarray], height: int, width: int, min_size_px: int
    ) -> list[list[FaceBox]]:
        import torch
        from facenet_pytorch.models.utils.detect_face import detect_face

        scale = self.scale_for(height, width)
        dw, dh = max(_PNET_CELL, round(width * scale)), max(_PNET_CELL, round(height * scale))
        small = [f if (dw, dh) == (width, height) else _resize(f, dw, dh) for f in frames]
        sx, sy = width / dw, height / dh  # exact per-axis inverse of the rounding above
        batch = np.ascontiguousarray(np.stack(small))
        nets = self._nets()
        with torch.inference_mode():
            raw_boxes, raw_points = detect_face(
                batch,
                self._min_face(scale, min_size_px),
                nets.pnet,
                nets.rnet,
                nets.onet,
                self.thresholds,
                self.factor,
                nets.device,
            )
        return [self._to_boxes(b, p, sx, sy, min_size_px) for b, p in zip(raw_boxes, raw_points, strict=True)]

    def _to_boxes(
        self, boxes: np.ndarray, points: np.ndarray, sx: float, sy: float, min_size_px: int
    ) -> list[FaceBox]:
        """Map detections back to original pixels, drop small/unsure ones, keep the largest few."""
        s = self.settings
        found: list[FaceBox] = []
        for row, pts in zip(
            np.asarray(boxes, dtype=np.float64).reshape(-1, 5), np.asarray(points).reshape(-1, 5, 2), strict=True
        ):
            x1, y1, x2, y2, score = (float(v) for v in row)
            box = FaceBox(
                x1 * sx,
                y1 * sy,
                x2 * sx,
                y2 * sy,
                score,
                tuple((float(px) * sx, float(py) * sy) for px, py in pts),
            )
            if score >= s.face_min_confidence and box.size >= min_size_px and box.width > 0 < box.height:
                found.append(box)
        found.sort(key=lambda b: b.area, reverse=True)
        return found[: s.max_faces_per_frame]
