"""Cross-domain video evaluation: the real file pipeline over the video clips of ``crossdomain-dev``.

DFDC test AUC says how well the model knows DFDC; these clips (DeepFaceLive swaps, VASA-1 / EMO / StyleTalk
talking heads, real studio and interview clips) say whether it generalises. Every clip goes through
``inference.pipeline.analyze_file`` exactly as an upload does, and the numbers are computed from the results'
verdicts and probabilities. Nothing here is fit or trained: the set is for evaluation and choice only.

Side product: the face crops the pipeline scored are kept under ``work_dir`` (keyed by the face-stage
settings), so a candidate model can be compared on the same faces without running face detection again
(``score_cached_crops``).
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from framesentry.config import Settings, get_settings
from framesentry.errors import DataError
from framesentry.inference.metrics import expected_calibration_error, roc_auc

if TYPE_CHECKING:
    from framesentry.inference.result import AnalysisResult
    from framesentry.inference.visual.model import VisualDetector

LogitFn = Callable[[NDArray[np.uint8]], NDArray[np.float64]]


@dataclass(frozen=True)
class Clip:
    """One labelled video clip of crossdomain-dev; ``label`` 1 = fake."""

    file: str
    label: int
    manipulation: str


def crossdomain_dir(settings: Settings) -> Path:
    """Folder of crossdomain-dev, with a clear error when the shared data is not there."""
    root = settings.shared_dir / "data" / "crossdomain-dev"
    if not (root / "labels.csv").is_file():
        raise DataError(f"crossdomain-dev not found: expected labels.csv under {root}", path=str(root))
    return root


def video_clips(settings: Settings, limit: int | None = None) -> list[Clip]:
    """The video rows of labels.csv in file order (``limit``: the first N, for smoke tests)."""
    path = crossdomain_dir(settings) / "labels.csv"
    clips: list[Clip] = []
    with path.open(newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            try:
                if row["modality"] != "video":
                    continue
                label = {"real": 0, "fake": 1}[row["label"]]
                clips.append(Clip(row["file"], label, row["manipulation"] if label else "real"))
            except KeyError as exc:
                raise DataError(f"{path}: row {i + 2} has a bad or missing field {exc}", path=str(path)) from exc
    if not clips:
        raise DataError(f"{path} lists no video clips", path=str(path))
    return clips[:limit] if limit else clips


class _RecordingVisual:
    """Wraps the committed visual detector and keeps every crop it is asked to score (per clip)."""

    def __init__(self, inner: VisualDetector) -> None:
        self.inner = inner
        self.version = inner.version
        self.engine = inner.engine
        self.crops: list[NDArray[np.uint8]] = []
        self.probs: list[NDArray[np.float64]] = []

    def predict(self, crops: NDArray[np.uint8]) -> NDArray[np.float64]:
        self.crops.append(np.asarray(crops, dtype=np.uint8))
        self.probs.append(np.asarray(self.inner.predict(crops), dtype=np.float64))
        return self.probs[-1]

    def kept_crops(self, result: AnalysisResult) -> NDArray[np.uint8]:
        """The crops behind ``result.frames``, row for row: the router leaves out faces the model scored
        (too small or blurred), so each kept face is matched, in scoring order, to the crop with its p_fake."""
        if not self.crops:
            return np.zeros((0, 224, 224, 3), np.uint8)
        crops, probs = np.concatenate(self.crops), np.concatenate(self.probs)
        rows: list[int] = []
        j = 0
        for face in result.frames:
            while j < len(probs) and abs(probs[j] - face.p_fake) > 1e-12:
                j += 1
            if j == len(probs):
                raise DataError(f"cannot match the scored face at {face.t_s:.2f}s to a recorded crop")
            rows.append(j)
            j += 1
        return crops[rows]


def _crop_cache(settings: Settings) -> Path:
    """Crops depend on the face stage only; its settings name the folder so a change never reuses them."""
    tag = (
        f"{settings.visual_sample_fps}|{settings.face_detect_max_side}|{settings.face_min_size_px}|"
        f"{settings.face_min_confidence}|{settings.face_crop_margin}|{settings.max_faces_per_frame}"
    )
    return settings.work_dir / "crossdomain_crops" / hashlib.sha256(tag.encode()).hexdigest()[:12]


def _ranked(scores: Sequence[float], labels: Sequence[int]) -> float | None:
    """AUC, or ``None`` where one class is missing."""
    return roc_auc(list(scores), list(labels)) if 0 < sum(labels) < len(labels) else None


def clip_metrics(rows: Sequence[dict[str, Any]], score_key: str = "p_fake") -> dict[str, Any]:
    """AUC overall and per manipulation (each family vs all real clips), verdict rates, from per-clip rows."""
    labels = [int(r["label"]) for r in rows]
    scores = [float(r[score_key]) for r in rows]
    fakes = [r for r in rows if r["label"] == 1]
    reals = [r for r in rows if r["label"] == 0]
    out: dict[str, Any] = {
        "n": len(rows),
        "n_fake": len(fakes),
        "n_real": len(reals),
        "auc": _ranked(scores, labels),
        "ece": expected_calibration_error(scores, labels),
    }
    if "verdict" in rows[0]:
        out["fakes_caught"] = sum(r["verdict"] == "fake" for r in fakes) / max(1, len(fakes))
        out["false_positive_rate"] = sum(r["verdict"] == "fake" for r in reals) / max(1, len(reals))
        out["reals_called_real"] = sum(r["verdict"] == "real" for r in reals) / max(1, len(reals))
        out["uncertain_rate"] = sum(r["verdict"] == "uncertain" for r in rows) / max(1, len(rows))
    per: dict[str, Any] = {}
    real_scores = [float(r[score_key]) for r in reals]
    for family in sorted({r["manipulation"] for r in fakes}):
        fam = [float(r[score_key]) for r in fakes if r["manipulation"] == family]
        per[family] = {
            "n": len(fam),
            "auc": _ranked(fam + real_scores, [1] * len(fam) + [0] * len(real_scores)),
            "median_p_fake": float(np.median(fam)),
        }
    per["real"] = {"n": len(reals), "median_p_fake": float(np.median(real_scores)) if reals else None}
    out["per_manipulation"] = per
    return out


def _clip_row(clip: Clip, result: AnalysisResult) -> dict[str, Any]:
    """What the report keeps of one analysis: scores, verdict and per-face results."""
    return {
        "file": clip.file,
        "label": clip.label,
        "manipulation": clip.manipulation,
        "verdict": result.verdict.value,
        "p_fake": result.p_fake,
        "visual_p_fake": result.visual.p_fake,
        "audio_p_fake": result.audio.p_fake,
        "frame_width": result.media.width,
        "faces": [
            {"track_id": t.track_id, "frames": t.frames, "p_fake": round(t.p_fake, 4), "box": list(t.box)}
            for t in result.faces
        ],
    }


def blame_report(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """DeepFaceLive clips show the real source on the left half and the swap on the right: is the face
    blamed (highest track score among tracks of 2+ frames) the one on the right half?"""
    hits: list[bool] = []
    for r in rows:
        if r["manipulation"] != "FaceSwap-DeepFaceLive" or not r["faces"] or not r["frame_width"]:
            continue
        steady = [f for f in r["faces"] if f["frames"] >= 2] or r["faces"]
        worst = max(steady, key=lambda f: f["p_fake"])
        hits.append((worst["box"][0] + worst["box"][2]) / 2 > r["frame_width"] / 2)
    return {"n": len(hits), "swap_side_blamed": sum(hits) / len(hits) if hits else None}


def run_clip(path: Path, detectors: Any, cache: Path | None) -> AnalysisResult:
    """Analyse one clip through the real pipeline; store its crops and frame metadata when ``cache`` is set."""
    from framesentry.inference.pipeline import analyze_file

    recorder = _RecordingVisual(detectors.visual)
    detectors.__dict__["visual"] = recorder  # Detectors caches models in __dict__ (functools.cached_property)
    try:
        result = analyze_file(path, detectors.settings, detectors)
    finally:
        detectors.__dict__["visual"] = recorder.inner
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        crops = recorder.kept_crops(result)
        meta = np.array([(f.t_s, f.track_id, *f.box) for f in result.frames], dtype=np.float64).reshape(-1, 6)
        audio = result.audio.p_fake if result.audio.p_fake is not None else np.nan
        np.savez(cache / f"{path.stem}.npz", crops=crops, meta=meta, audio_p=np.float64(audio))
    return result


def evaluate_crossdomain_video(settings: Settings | None = None, limit: int | None = None) -> dict[str, Any]:
    """Run every crossdomain-dev video clip through the pipeline; metrics of the fused and visual scores.

    ``auc``, ``fakes_caught``, ``false_positive_rate`` and ``uncertain_rate`` describe what a user sees (the
    video-level p_fake and verdict after fusion); ``visual`` is the same on the visual modality alone.
    """
    from framesentry.inference.detectors import Detectors

    settings = settings or get_settings()
    root = crossdomain_dir(settings)
    clips = video_clips(settings, limit)
    detectors = Detectors(settings)
    cache = _crop_cache(settings)
    rows: list[dict[str, Any]] = []
    for clip in clips:
        path = root / clip.file
        if not path.is_file():
            raise DataError(f"crossdomain-dev clip missing: {path}", path=str(path))
        rows.append(_clip_row(clip, run_clip(path, detectors, cache)))
    fused = clip_metrics(rows)
    with_face = [r for r in rows if r["visual_p_fake"] is not None]
    visual = clip_metrics(with_face, "visual_p_fake") if with_face else {}
    (cache / "rows.json").write_text(json.dumps(rows, indent=1))
    return {
        "model_version": detectors.visual.version,
        "thresholds": {"real": settings.real_threshold, "fake": settings.fake_threshold},
        **fused,
        "no_face_clips": len(rows) - len(with_face),
        "visual": visual,
        "deepfacelive_blame": blame_report(rows),
        "clips": rows,
    }


def cached_clip_crops(settings: Settings) -> dict[str, tuple[NDArray[np.uint8], NDArray[np.float64], float | None]]:
    """Per clip file: (crops, [t_s, track_id, x1, y1, x2, y2] rows, audio p_fake) stored by the last run."""
    cache = _crop_cache(settings)
    out: dict[str, tuple[NDArray[np.uint8], NDArray[np.float64], float | None]] = {}
    for clip in video_clips(settings):
        path = cache / f"{Path(clip.file).stem}.npz"
        if not path.is_file():
            raise DataError(f"no cached crops for {clip.file}: run `framesentry eval --only crossdomain` first")
        with np.load(path) as z:
            audio = float(z["audio_p"])
            out[clip.file] = (z["crops"], z["meta"], None if np.isnan(audio) else audio)
    return out


def crossdomain_visual_auc(logit_fn: LogitFn, settings: Settings) -> dict[str, Any]:
    """Visual-only clip AUC (overall and per manipulation) of a candidate model on the cached pipeline crops,
    with ``deepfacelive_blame``: the share of DeepFaceLive clips whose blamed face is the swap.

    Same faces and tracks as the pipeline, same per-track aggregation and worst-track rule
    (``inference.fusion``); the per-frame probability is the sigmoid of the raw logit (no calibration yet).
    The blame share is the quality-controlled number: the source person and the swap share one frame, one
    camera and one encode, so only the manipulation tells them apart, whereas a clip AUC can be won by image
    quality alone. For choosing between training checkpoints; the reported numbers come from
    ``evaluate_crossdomain_video``.
    """
    from framesentry.inference.fusion import FaceObservation, track_scores, visual_video_score

    rows: list[dict[str, Any]] = []
    clips = {c.file: c for c in video_clips(settings)}
    widths = _frame_widths(settings)
    for file, (crops, meta, _audio) in cached_clip_crops(settings).items():
        if not len(crops):
            continue
        p = 1.0 / (1.0 + np.exp(-logit_fn(crops)))
        faces = [FaceObservation(float(m[0]), int(m[1]), (0, 0, 1, 1), float(q)) for m, q in zip(meta, p, strict=True)]
        tracks = [  # the shape blame_report reads from the pipeline's rows; a track's box is its mean box
            {"track_id": tid, "frames": n, "p_fake": score, "box": meta[meta[:, 1] == tid, 2:6].mean(axis=0).tolist()}
            for tid, (score, _max, n) in track_scores(faces).items()
        ]
        clip = clips[file]
        rows.append({"label": clip.label, "manipulation": clip.manipulation, "p_fake": visual_video_score(faces),
                     "faces": tracks, "frame_width": widths.get(file)})
    return {**clip_metrics(rows), "deepfacelive_blame": blame_report(rows)}


def _frame_widths(settings: Settings) -> dict[str, int]:
    """Frame width per clip, from the last pipeline run's rows (the blame test needs the frame's middle)."""
    path = _crop_cache(settings) / "rows.json"
    if not path.is_file():
        return {}
    return {r["file"]: int(r["frame_width"]) for r in json.loads(path.read_text()) if r.get("frame_width")}
