"""Heat maps for one live frame: what a stream showed when its verdict turned Fake."""

from __future__ import annotations

import io

import numpy as np
from numpy.typing import NDArray

from framesentry.explain import gradcam
from framesentry.inference.detectors import Detectors


def _png(rgb: NDArray[np.uint8], max_side: int | None = None) -> bytes:
    from PIL import Image

    img = Image.fromarray(rgb)
    if max_side and max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def explain_frame(
    detectors: Detectors, rgb: NDArray[np.uint8], boxes: list[tuple[int, int, int, int]], max_side: int = 960
) -> tuple[bytes, list[bytes], dict[str, object]]:
    """(frame overlay PNG with every face's Grad-CAM, one crop overlay PNG per face, facts for the record)."""
    from framesentry.inference.faces import crop_face

    settings = detectors.settings
    crops = np.stack([crop_face(rgb, gradcam.face_box(b), settings) for b in boxes])
    cams = gradcam.gradcam_maps(detectors.visual.module, crops, detectors.visual.input_size)
    fmap = np.zeros(rgb.shape[:2], np.float32)
    for cam, box in zip(cams.maps, boxes, strict=True):
        fmap = np.maximum(fmap, gradcam.frame_map(rgb.shape[:2], cam, box, settings))
    frame_png = _png(gradcam.overlay_masked(rgb, fmap), max_side)
    crop_pngs = [_png(gradcam.overlay(c, m)) for c, m in zip(crops, cams.maps, strict=True)]
    facts: dict[str, object] = {"method": gradcam.METHOD, "target_layer": gradcam.TARGET_LAYER,
                                "targets": cams.targets, "peaks_frame_xy": [gradcam.peak(fmap)]}
    return frame_png, crop_pngs, facts
