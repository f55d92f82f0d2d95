"""The deep pass: explanations for one analysed file, after (and apart from) its verdict.

Steps, each reported through ``progress(stage, fraction)``: timeline plot; Grad-CAM on the most suspicious
frames of each face track (re-decoded at the analysis's sampling instants); audio occlusion saliency on the
most suspicious speech windows; for a result the router escalated (Uncertain), a re-analysis with more frames
and flip test-time augmentation; the written summary (and the optional LLM one); the PDF report. Artifacts are
written under ``out_dir`` and listed in the returned ``Explanation``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from framesentry.config import Settings
from framesentry.explain import audio_saliency, gradcam
from framesentry.explain.cards import model_qualities
from framesentry.explain.llm_summary import llm_summary
from framesentry.explain.schema import Artifact, Explanation, FaceHeatmap, RefinedScore
from framesentry.explain.summary import write_summary
from framesentry.explain.timeline import plot_scores, suspicious_spans
from framesentry.inference.detectors import Detectors
from framesentry.inference.result import AnalysisResult, FaceScore

Progress = Callable[[str, float], None]
FRAME_IMAGE_MAX_SIDE = 960


def _noop(_stage: str, _fraction: float) -> None:
    return None


def methods() -> dict[str, dict[str, str]]:
    return {
        "visual": {"method": gradcam.METHOD, "library": "grad-cam==1.5.7 (pytorch-grad-cam)",
                   "target_layer": f"MobileNetV2 {gradcam.TARGET_LAYER} (last conv block)",
                   "target": "the model's own leaning: fake logit if scored fake, negated logit if real"},
        "audio": {"method": audio_saliency.METHOD, "library": "framesentry (numpy)",
                  "target": "fused, calibrated audio detector logit",
                  "occluder": f"{audio_saliency.TIME_BIN_S} s bins of -60 dBFS noise; FFT band zeroing"},
    }


def pick_frames(result: AnalysisResult, per_track: int) -> list[FaceScore]:
    """The ``per_track`` most suspicious scored faces of each track (ties: earliest)."""
    picked: list[FaceScore] = []
    for track in result.faces:
        faces = [f for f in result.frames if f.track_id == track.track_id]
        picked += sorted(faces, key=lambda f: (-f.p_fake, f.t_s))[:per_track]
    return sorted(picked, key=lambda f: f.t_s)


def _save_png(rgb: NDArray[np.uint8], path: Path, max_side: int | None = None) -> None:
    from PIL import Image

    img = Image.fromarray(rgb)
    if max_side and max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    img.save(path, optimize=True)


def explain_faces(
    path: Path, result: AnalysisResult, detectors: Detectors, out_dir: Path, per_track: int
) -> list[FaceHeatmap]:
    """Grad-CAM on the picked faces: crop and full-frame overlays written as PNGs."""
    from framesentry.inference.faces import crop_face
    from framesentry.media import iter_sampled_frames
    from framesentry.media.decode import frames_at

    settings = detectors.settings
    wanted = pick_frames(result, per_track)
    if not wanted:
        return []
    times = sorted({round(f.t_s, 4) for f in wanted})
    # Seek to each frame (a few decoded per time); a container that cannot seek falls back to one decode pass.
    frames = {round(t, 4): rgb for t, rgb in frames_at(path, times).items()}
    if len(frames) < len(times):
        for frame in iter_sampled_frames(path, settings.visual_sample_fps):
            key = round(frame.t_s, 4)
            if key in times:
                frames[key] = frame.rgb
            if len(frames) == len(times) or frame.t_s > times[-1] + 1.0:
                break
    found = [f for f in wanted if round(f.t_s, 4) in frames]
    crops = np.stack([crop_face(frames[round(f.t_s, 4)], gradcam.face_box(f.box), settings)
                      for f in found]) if found else np.zeros((0, 224, 224, 3), np.uint8)
    cams = gradcam.gradcam_maps(detectors.visual.module, crops, detectors.visual.input_size)
    out = []
    for i, (face, crop, cam) in enumerate(zip(found, crops, cams.maps, strict=True)):
        rgb = frames[round(face.t_s, 4)]
        fmap = gradcam.frame_map(rgb.shape[:2], cam, face.box, settings)
        crop_name, frame_name = f"heatmap_t{i:02d}_face{face.track_id}_crop.png", f"heatmap_t{i:02d}_frame.png"
        _save_png(gradcam.overlay(crop, cam), out_dir / crop_name)
        _save_png(gradcam.overlay_masked(rgb, fmap, face.box), out_dir / frame_name, FRAME_IMAGE_MAX_SIDE)
        out.append(FaceHeatmap(track_id=face.track_id, t_s=face.t_s, p_fake=face.p_fake, box=face.box,
                               target="fake" if cams.targets[i] == "fake" else "real",
                               peak_crop_xy=gradcam.peak(cam), peak_frame_xy=gradcam.peak(fmap),
                               crop_image=crop_name, frame_image=frame_name))
    return out


def _audio_span(path: Path, rate: int, start_s: float, end_s: float) -> NDArray[np.float32]:
    """Samples from ``start_s`` to ``end_s`` without holding the rest of the file."""
    from framesentry.media import iter_audio

    parts = []
    for chunk in iter_audio(path, sample_rate=rate):
        if chunk.start_s + chunk.duration_s <= start_s:
            continue
        if chunk.start_s >= end_s:
            break
        a = max(0, round((start_s - chunk.start_s) * rate))
        b = min(len(chunk.samples), round((end_s - chunk.start_s) * rate))
        parts.append(chunk.samples[a:b])
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def explain_audio(
    path: Path, result: AnalysisResult, detectors: Detectors, out_dir: Path, n_windows: int
) -> audio_saliency.AudioSaliency | None:
    """Occlusion saliency on the ``n_windows`` most suspicious speech windows; PNG + JSON written."""
    if not result.audio_windows or n_windows == 0:
        return None
    rate = detectors.settings.audio_sample_rate
    top = sorted(result.audio_windows, key=lambda w: (-w.p_fake, w.start_s))[:n_windows]
    lo, hi = min(w.start_s for w in top), max(w.end_s for w in top)
    signal = _audio_span(path, rate, lo, hi)
    sal = audio_saliency.explain_windows(detectors.audio, signal, rate, sorted(w.start_s for w in top), offset_s=lo)
    audio_saliency.render(sal, signal, out_dir / "audio_saliency.png")
    (out_dir / "audio_saliency.json").write_text(json.dumps(sal.to_dict(), indent=1))
    return sal


def refine(path: Path, result: AnalysisResult, detectors: Detectors) -> RefinedScore | None:
    """The escalated look (router said ``deep_pass``): twice the frames, flip-averaged visual scores."""
    from framesentry.inference.pipeline import analyze_file
    from framesentry.inference.tta import TTA_NAMES, TTADetectors

    if not any(d.step == "escalate" and d.action == "deep_pass" for d in result.routing):
        return None
    settings = detectors.settings
    deeper = settings.model_copy(update={"visual_sample_fps": min(60.0, settings.visual_sample_fps * 2)})
    t0 = time.perf_counter()
    tta = TTADetectors(detectors)
    tta.settings = deeper
    again = analyze_file(path, deeper, tta)
    return RefinedScore(p_fake=again.p_fake, verdict=again.verdict.value,
                        visual_sample_fps=deeper.visual_sample_fps, tta=list(TTA_NAMES),
                        seconds=round(time.perf_counter() - t0, 3))


def run_deep_pass(
    path: Path, result: AnalysisResult, out_dir: Path, detectors: Detectors | None = None,
    settings: Settings | None = None, progress: Progress | None = None, sha256: str | None = None,
) -> Explanation:
    """Explain ``result`` (the analysis of ``path``); artifacts go to ``out_dir`` (created)."""
    from framesentry.explain.report import write_report

    detectors = detectors or Detectors(settings)
    settings = detectors.settings
    report = progress or _noop
    out_dir.mkdir(parents=True, exist_ok=True)
    timing: dict[str, float] = {}
    artifacts: list[Artifact] = []

    def step(name: str) -> Callable[[], None]:
        t0 = time.perf_counter()
        return lambda: timing.__setitem__(name, round(time.perf_counter() - t0, 3))

    t_all = time.perf_counter()
    report("timeline", 0.0)
    done = step("timeline")
    spans = suspicious_spans(result)
    plot_scores(result, out_dir / "timeline.png")
    artifacts.append(Artifact(name="timeline.png", media_type="image/png", description="Scores over time"))
    done()

    report("heatmaps", 0.1)
    done = step("heatmaps")
    heatmaps = explain_faces(path, result, detectors, out_dir, settings.explain_top_frames)
    for h in heatmaps:
        artifacts.append(Artifact(name=h.crop_image, media_type="image/png",
                                  description=f"Grad-CAM, person {h.track_id} at {h.t_s:.2f} s (crop)"))
        artifacts.append(Artifact(name=h.frame_image, media_type="image/png",
                                  description=f"Grad-CAM, person {h.track_id} at {h.t_s:.2f} s (full frame)"))
    done()

    report("audio_saliency", 0.4)
    done = step("audio_saliency")
    sal = explain_audio(path, result, detectors, out_dir, settings.explain_audio_windows)
    if sal is not None:
        artifacts.append(Artifact(name="audio_saliency.png", media_type="image/png",
                                  description="Audio occlusion saliency over the spectrogram"))
        artifacts.append(Artifact(name="audio_saliency.json", media_type="application/json",
                                  description="Audio saliency data: time bins and frequency bands"))
    done()

    report("refine", 0.6)
    done = step("refine")
    refined = refine(path, result, detectors)
    done()

    report("summary", 0.85)
    models = model_qualities(settings)
    notes = [f"Heat maps were made for {len(heatmaps)} face crops (the most suspicious frames of each person); "
             "red marks the regions that pushed the score the most."] if heatmaps else []
    if refined is not None:
        notes.append(f"The deeper pass ({refined.visual_sample_fps:g} frames/s, flip averaging) gives p_fake "
                     f"{refined.p_fake:.2f} ({refined.verdict}).")
    text = write_summary(result, spans, models, sal.top_ranges() if sal else None, notes)
    llm_text, llm_error = llm_summary(settings, text)
    timing["total"] = round(time.perf_counter() - t_all, 3)
    explanation = Explanation(
        verdict=result.verdict.value, p_fake=result.p_fake, confidence=result.confidence, methods=methods(),
        heatmaps=heatmaps, audio_saliency=sal.to_dict() if sal else None, timeline=spans, summary=text,
        llm_summary=llm_text, llm_error=llm_error, refined=refined, models=models, artifacts=artifacts,
        timing_s=timing, media_sha256=sha256,
    )
    report("report", 0.95)
    write_report(result, explanation, out_dir, out_dir / "report.pdf")
    explanation.artifacts.append(Artifact(name="report.pdf", media_type="application/pdf",
                                          description="PDF report"))
    explanation.timing_s["total"] = round(time.perf_counter() - t_all, 3)
    report("done", 1.0)
    return explanation
