"""Scoring the visual detector on the fixed val/test splits, through the exact runtime input path.

Images are the original 224 px crops (not the training cache), fed through ``VisualDetector.logits``, so the
numbers describe what the server does. The robustness block re-scores test after fixed, seeded
degradations (re-encode, down-scale, blur) because real uploads are worse than DFDC frames. The framing block
pastes test crops into a 1280x720 scene, re-detects and re-crops them with the runtime face stage, and reports
how far scores move: the runtime framing only approximates the dataset's, and a detector that swings with a
few percent of zoom or shift is not usable on real video.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from framesentry.config import Settings, get_settings
from framesentry.inference.calibration import Calibrator
from framesentry.inference.metrics import accuracy_at, equal_error_rate, expected_calibration_error, roc_auc
from framesentry.lab.visual.band import band_report
from framesentry.lab.visual.dataset import Sample, load_images, read_labels, split_indices

FRAME_SIZE = (1280, 720)
FRAMING_WIDTHS = (224, 320)
FRAMING_N = 200

LogitFn = Callable[[NDArray[np.uint8]], NDArray[np.float64]]


def split_data(
    settings: Settings, split: str, limit: int | None = None, samples: list[Sample] | None = None
) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """224 px crops and labels of one split (optionally a class-balanced prefix of ``limit`` images)."""
    samples = samples if samples is not None else read_labels(settings)
    idx = split_indices(samples, split, limit)
    labels = np.array([samples[i].label for i in idx], dtype=np.int64)
    return load_images(settings, samples, idx), labels


def metrics_report(logits: NDArray[np.float64], labels: NDArray[np.int64], calibrator: Calibrator) -> dict[str, float]:
    """AUC, EER, accuracy at p_fake 0.5 (calibrated) and ECE before/after calibration."""
    p_raw = Calibrator()(logits)
    p_cal = calibrator(logits)
    eer, _ = equal_error_rate(logits, labels)
    return {
        "n": int(labels.size),
        "auc": roc_auc(logits, labels),
        "eer": eer,
        "accuracy": accuracy_at(p_cal, labels, 0.5),
        "accuracy_uncalibrated": accuracy_at(p_raw, labels, 0.5),
        "ece_before": expected_calibration_error(p_raw, labels),
        "ece_after": expected_calibration_error(p_cal, labels),
    }


def _jpeg(img: NDArray[np.uint8], quality: int) -> NDArray[np.uint8]:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"))


def _down_up(img: NDArray[np.uint8], factor: float) -> NDArray[np.uint8]:
    from PIL import Image

    h, w = img.shape[:2]
    pil = Image.fromarray(img).resize((round(w * factor), round(h * factor)), Image.Resampling.BILINEAR)
    return np.asarray(pil.resize((w, h), Image.Resampling.BILINEAR))


def _blur(img: NDArray[np.uint8], radius: float) -> NDArray[np.uint8]:
    from PIL import Image, ImageFilter

    return np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(radius=radius)))


DEGRADATIONS: dict[str, Callable[[NDArray[np.uint8]], NDArray[np.uint8]]] = {
    "jpeg_q40": lambda im: _jpeg(im, 40),
    "downscale_0.5": lambda im: _down_up(im, 0.5),
    "blur_r1.5": lambda im: _blur(im, 1.5),
}


def robustness_report(logit_fn: LogitFn, images: NDArray[np.uint8], labels: NDArray[np.int64]) -> dict[str, float]:
    """Test AUC after each fixed degradation (deterministic, so comparable across models)."""
    return {name: roc_auc(logit_fn(np.stack([f(im) for im in images])), labels) for name, f in DEGRADATIONS.items()}


def framing_recrops(
    settings: Settings, n: int = FRAMING_N, widths: tuple[int, ...] = FRAMING_WIDTHS
) -> tuple[NDArray[np.uint8], NDArray[np.int64], NDArray[np.uint8], NDArray[np.int64]]:
    """(originals, their labels, recrops, original index of each recrop) for ``n`` class-balanced test crops.

    Each crop is pasted at every width into a fixed textured 1280x720 scene at a seeded position, MTCNN runs on
    the frame and the box nearest the paste centre is re-cropped by ``crop_face``. Misses are dropped (the
    count is reported). The recrops depend only on the face stage, so they are cached under ``work_dir``.
    """
    import hashlib

    from framesentry.inference.faces.crops import crop_face
    from framesentry.inference.faces.detector import FaceDetector
    from framesentry.lab.samples import background, compose_frame

    x, y = split_data(settings, "test", n)
    tag = hashlib.sha256(f"{n}|{widths}|{settings.face_crop_margin}|{settings.face_detect_max_side}".encode())
    path = settings.work_dir / "visual_cache" / f"framing_recrops_{tag.hexdigest()[:12]}.npz"
    if path.is_file():
        with np.load(path) as z:
            return x, y, z["crops"], z["index"]
    rng = np.random.default_rng(2026)
    bg = background(FRAME_SIZE, seed=7)
    detector = FaceDetector(settings)
    crops: list[NDArray[np.uint8]] = []
    index: list[int] = []
    for i, face in enumerate(x):
        for w in widths:
            px = int(rng.integers(80, FRAME_SIZE[0] - w - 80))
            py = int(rng.integers(40, FRAME_SIZE[1] - w - 40))
            frame = compose_frame(FRAME_SIZE, [(face, (px, py, w))], bg=bg)
            boxes = detector.detect(frame)
            if not boxes:
                continue
            cx, cy = px + w / 2, py + w / 2
            box = min(boxes, key=lambda b: (b.centre[0] - cx) ** 2 + (b.centre[1] - cy) ** 2)
            crops.append(crop_face(frame, box, settings))
            index.append(i)
    arr, idx = np.stack(crops), np.array(index, dtype=np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, crops=arr, index=idx)
    return x, y, arr, idx


def framing_report(logit_fn: LogitFn, calibrator: Calibrator, settings: Settings, n: int = FRAMING_N) -> dict[str, Any]:
    """AUC of re-detected, re-cropped test faces and mean |p_recrop - p_original| (calibrated p_fake)."""
    x, y, recrops, idx = framing_recrops(settings, n)
    orig_logits = logit_fn(x)
    rec_logits = logit_fn(recrops)
    p_orig, p_rec = calibrator(orig_logits)[idx], calibrator(rec_logits)
    shift = np.abs(p_rec - p_orig)
    return {
        "n_faces": len(x),
        "n_recrops": len(recrops),
        "widths": list(FRAMING_WIDTHS),
        "recrop_auc": roc_auc(rec_logits, y[idx]),
        "original_auc_same_faces": roc_auc(orig_logits, y),
        "mean_abs_shift": float(shift.mean()),
        "p90_abs_shift": float(np.quantile(shift, 0.9)),
        "flip_rate_at_0.5": float(np.mean((p_rec >= 0.5) != (p_orig >= 0.5))),
    }


def evaluate_visual(
    settings: Settings | None = None, limit: int | None = None, robustness: bool = True
) -> dict[str, Any]:
    """Score the committed model: test AUC/accuracy/ECE before-after, val AUC, and robustness on test.

    Calibration is the committed one (fit on val during training); nothing here is fit on test.
    """
    from framesentry.inference.visual.model import VisualDetector

    settings = settings or get_settings()
    det = VisualDetector.load(settings)
    samples = read_labels(settings)
    x_val, y_val = split_data(settings, "val", limit, samples)
    x_test, y_test = split_data(settings, "test", limit, samples)
    val_logits = det.logits(x_val)
    val = metrics_report(val_logits, y_val, det.calibrator)
    test = metrics_report(det.logits(x_test), y_test, det.calibrator)
    out: dict[str, Any] = {
        "model_version": det.version,
        "calibration": det.calibrator.to_dict(),
        "test_auc": test["auc"],
        "test_accuracy": test["accuracy"],
        "test_ece_before": test["ece_before"],
        "test_ece_after": test["ece_after"],
        "val_auc": val["auc"],
        "val": val,
        "test": test,
        "verdict_band": band_report(det.calibrator(val_logits), y_val),
    }
    if robustness:
        out["test_auc_degraded"] = robustness_report(det.logits, x_test, y_test)
        out["framing"] = framing_report(det.logits, det.calibrator, settings)
    return out
