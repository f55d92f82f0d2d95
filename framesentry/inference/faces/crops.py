"""Face crops framed like the training data, so the visual model sees at run time what it saw in training.

The visual model is trained on the shared ``dfdc-faces`` crops (224x224, made by another project's detector).
Their framing was measured against OUR detector (MTCNN) rather than guessed:

* 500 random crops (``random.seed(2024)``) were pasted at native 224 px into a 448x448 canvas of smooth random
  colour; MTCNN (``min_face_size=20``, default thresholds) ran on each; the box nearest the canvas centre was
  kept (491/500 found). In crop units (crop side S = 1): box width median 0.903, height 1.146 (height is the
  longer side in 100 % of them: MTCNN boxes are taller than wide, the crops are square and cut the forehead).
* Crop side / max(box w, h): median **0.872** (IQR 0.829-0.924) -> ``Settings.face_crop_margin = -0.128``.
* Crop centre - box centre, in units of max(w, h): dx **+0.005**, dy **+0.043** (crop sits a little lower than
  the box: more chin, less forehead).
* Checks: same numbers within +-0.01 on another 300-crop sample with a grey canvas and with the crops shrunk
  to 112 px; masking the top 10 % of a crop moves the box top by only 0.04 S (the box is driven by facial
  features, so real frames with a full forehead give the same box). Edge-replicated canvases inflate the box
  height (1.22) and are not used. IoU of the predicted crop square vs the true crop: median **0.839**
  (p10 0.733) with these constants; 0.740 for the bare box, 0.450 for the old "box + 30 % margin".

Measurement scripts lived under ``~/.cache/framesentry/faces_measure/`` (not shipped).
"""

from __future__ import annotations

import math

import numpy as np

from framesentry.config import Settings
from framesentry.errors import MediaError
from framesentry.inference.faces.detector import FaceBox

CROP_SIZE = 224  # side of the training crops, in pixels
CENTRE_DX = 0.005  # crop centre minus box centre, x, in units of max(box w, h) (measured, see module doc)
CENTRE_DY = 0.043  # same, y (positive = down)


def crop_square(box: FaceBox, settings: Settings) -> tuple[float, float, float]:
    """(centre x, centre y, side) of the crop square in frame pixels for ``box``."""
    size = box.size
    cx, cy = box.centre
    return cx + CENTRE_DX * size, cy + CENTRE_DY * size, (1.0 + settings.face_crop_margin) * size


def crop_face(frame: np.ndarray, box: FaceBox, settings: Settings) -> np.ndarray:
    """224x224x3 uint8 crop of ``box`` from an HxWx3 uint8 frame, framed like the training crops.

    Parts of the square outside the frame are filled by repeating the border pixels, so a face at the edge
    stays centred in the crop (as the model expects) instead of sliding toward the middle.
    """
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise MediaError("A video frame must be an HxWx3 uint8 RGB array.", shape=str(frame.shape))
    if box.size <= 0:
        raise ValueError(f"Empty face box {box}")
    from PIL import Image

    height, width = frame.shape[:2]
    cx, cy, side = crop_square(box, settings)
    left, top = cx - side / 2, cy - side / 2
    # Whole-pixel window that covers the square, then sub-pixel placement inside it by PIL's resize box.
    x0, y0 = math.floor(left), math.floor(top)
    x1, y1 = math.ceil(left + side), math.ceil(top + side)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if sx0 >= sx1 or sy0 >= sy1:
        raise MediaError("The face box lies outside the frame.", box=str(box), frame=f"{width}x{height}")
    window = frame[sy0:sy1, sx0:sx1]
    pad = ((sy0 - y0, y1 - sy1), (sx0 - x0, x1 - sx1), (0, 0))
    if any(p for pair in pad for p in pair):
        window = np.pad(window, pad, mode="edge")
    img = Image.fromarray(np.ascontiguousarray(window))
    sub = (left - x0, top - y0, left - x0 + side, top - y0 + side)
    out = img.resize((CROP_SIZE, CROP_SIZE), Image.Resampling.BILINEAR, box=sub)
    return np.asarray(out, dtype=np.uint8)


def crop_faces(frame: np.ndarray, boxes: list[FaceBox], settings: Settings) -> np.ndarray:
    """All faces of one frame as an (N, 224, 224, 3) uint8 batch (N may be 0)."""
    if not boxes:
        return np.zeros((0, CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8)
    return np.stack([crop_face(frame, b, settings) for b in boxes])


def crop_sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian of a crop's grey image: low means blurred (the router's face gate reads it)."""
    grey = np.asarray(crop, dtype=np.float32).mean(axis=2)
    lap = grey[1:-1, 1:-1] * -4 + grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:]
    return float(lap.var())

