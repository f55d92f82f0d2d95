"""Grad-CAM heat maps for the visual model (pytorch-grad-cam), on face crops and back on the full frame.

Why Grad-CAM on ``features.18``: it is MobileNetV2's last convolutional block (1x1 conv to 1,280 channels),
the deepest layer that still has a spatial layout; the head after it only pools and classifies. At the
model's 128 px input that map is 4x4, upsampled to the crop. The target is the model's own leaning: the fake
logit for crops scored fake, the negated logit (evidence for real) for crops scored real, so a map always
shows what drove the score it explains.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from framesentry.config import Settings

METHOD = "GradCAM"
TARGET_LAYER = "features.18"


@dataclass(frozen=True)
class CamResult:
    """Heat maps ``[N, H, W]`` in [0, 1] at crop resolution, with the logits they explain."""

    maps: NDArray[np.float32]
    logits: NDArray[np.float64]
    targets: list[str]
    """Per crop: ``"fake"`` (map of evidence for fake) or ``"real"``."""


def _layer(module: Any, name: str) -> Any:
    target = module
    for part in name.split("."):
        target = target[int(part)] if part.isdigit() else getattr(target, part)
    return target


def gradcam_maps(module: Any, crops: NDArray[np.uint8], input_size: int, layer: str = TARGET_LAYER) -> CamResult:
    """Grad-CAM of the single-logit visual ``module`` for uint8 RGB crops ``[N, H, W, 3]``."""
    import torch
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget

    from framesentry.inference.visual.model import preprocess

    if len(crops) == 0:
        return CamResult(np.zeros((0, *crops.shape[1:3]), np.float32), np.zeros(0), [])
    # A private copy (~15 ms): Grad-CAM hooks the target layer, and the shared model goes on scoring live windows
    # and uploads on other threads meanwhile, whose activations would land in these maps (or break them).
    module = copy.deepcopy(module).eval()
    x = preprocess(np.ascontiguousarray(crops), input_size).contiguous()
    with torch.no_grad():
        logits = module(x).reshape(-1).double().numpy()
    targets = [BinaryClassifierOutputTarget(1 if lo >= 0 else 0) for lo in logits]
    with GradCAM(model=module, target_layers=[_layer(module, layer)]) as cam:
        small = cam(input_tensor=x, targets=targets)  # [N, input, input], each map scaled to [0, 1]
    up = torch.nn.functional.interpolate(
        torch.from_numpy(np.ascontiguousarray(small, dtype=np.float32))[:, None], size=crops.shape[1:3],
        mode="bilinear", align_corners=False,
    )[:, 0].clamp(0, 1)
    return CamResult(up.numpy(), logits, ["fake" if lo >= 0 else "real" for lo in logits])


def overlay(rgb: NDArray[np.uint8], cam: NDArray[np.float32], weight: float = 0.45) -> NDArray[np.uint8]:
    """The heat map (jet colours) blended onto an RGB image of the same size."""
    from pytorch_grad_cam.utils.image import show_cam_on_image

    return np.asarray(show_cam_on_image(rgb.astype(np.float32) / 255.0, cam, use_rgb=True, image_weight=1 - weight))


def overlay_masked(
    rgb: NDArray[np.uint8], cam: NDArray[np.float32], box: tuple[int, int, int, int] | None = None, weight: float = 0.6
) -> NDArray[np.uint8]:
    """Jet colours blended in proportion to the map (untouched where it is 0), with the face box outlined."""
    import matplotlib

    heat = matplotlib.colormaps["jet"](cam)[..., :3] * 255.0
    alpha = (weight * cam)[..., None]
    out = (rgb.astype(np.float32) * (1 - alpha) + heat * alpha).clip(0, 255).astype(np.uint8)
    if box is not None:
        from PIL import Image, ImageDraw

        img = Image.fromarray(out)
        ImageDraw.Draw(img).rectangle(box, outline=(255, 255, 255), width=max(2, rgb.shape[1] // 400))
        out = np.asarray(img)
    return out


def face_box(box: tuple[int, int, int, int]) -> Any:
    """The detector's ``FaceBox`` for a stored integer box (what ``crop_face`` and ``crop_square`` take)."""
    from framesentry.inference.faces.detector import FaceBox

    return FaceBox(float(box[0]), float(box[1]), float(box[2]), float(box[3]), 1.0)


def frame_map(
    frame_hw: tuple[int, int], cam: NDArray[np.float32], box: tuple[int, int, int, int], settings: Settings
) -> NDArray[np.float32]:
    """A crop's heat map placed back where the crop came from in the frame (zero elsewhere)."""
    from PIL import Image

    from framesentry.inference.faces.crops import crop_square

    height, width = frame_hw
    cx, cy, side = crop_square(face_box(box), settings)
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    n = max(1, round(side))
    resized = np.asarray(Image.fromarray(cam.astype(np.float32), mode="F").resize((n, n), Image.Resampling.BILINEAR))
    out = np.zeros((height, width), np.float32)
    fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + n, width), min(y0 + n, height)
    if fx0 < fx1 and fy0 < fy1:
        out[fy0:fy1, fx0:fx1] = resized[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
    return out


def peak(cam: NDArray[np.float32]) -> tuple[int, int]:
    """(x, y) of the map's maximum."""
    y, x = np.unravel_index(int(np.argmax(cam)), cam.shape)
    return int(x), int(y)
