"""The detection pipeline: a media file in, an ``AnalysisResult`` out.

Both the upload path and (later) the live path go through the same stages: probe, sampled frames -> faces ->
tracks -> visual scores; audio windows -> voice activity -> audio scores; fusion -> verdict. Work is streamed
in bounded batches, so memory does not grow with the file's length.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from framesentry.config import Settings, get_settings
from framesentry.inference.detectors import Detectors
from framesentry.inference.fusion import (
    AudioObservation,
    FaceObservation,
    audio_video_score,
    noisy_or,
    segment_scores,
    track_scores,
    visual_video_score,
)
from framesentry.inference.result import (
    AnalysisResult,
    AudioWindowScore,
    FaceScore,
    FaceTrack,
    MediaSummary,
    ModalityScore,
    Segment,
)
from framesentry.inference.routing import MediaFacts, Outcome, Router, RoutingPolicy, policy_for
from framesentry.inference.verdict import decide

if TYPE_CHECKING:
    from framesentry.media import MediaInfo

T = TypeVar("T")
ProgressCallback = Callable[[str, float], None]
"""Called with (stage, fraction of the file done in that stage, 0..1)."""

FRAME_BATCH = 8
TOP_SEGMENTS = 3


def _noop(_stage: str, _fraction: float) -> None:
    return None


class _Timer:
    """Accumulates wall-clock seconds per stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, stage: str, started: float) -> None:
        self.seconds[stage] = round(self.seconds.get(stage, 0.0) + time.perf_counter() - started, 4)


def _batched(it: Iterator[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in it:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def score_visual(
    path: Path, duration_s: float, detectors: Detectors, progress: ProgressCallback, router: Router | None = None
) -> tuple[list[FaceObservation], int]:
    """Faces on sampled frames, tracked and scored. Returns observations and the number of frames sampled."""
    from framesentry.inference.faces import FaceTracker, crop_face
    from framesentry.media import iter_sampled_frames

    settings = detectors.settings
    tracker = FaceTracker()
    observations: list[FaceObservation] = []
    frames_seen = 0
    for frames in _batched(iter_sampled_frames(path, settings.visual_sample_fps), FRAME_BATCH):
        frames_seen += len(frames)
        boxes_per_frame = detectors.faces.detect_batch([f.rgb for f in frames])
        crops: list[np.ndarray] = []
        meta: list[tuple[float, int, tuple[int, int, int, int]]] = []
        for frame, boxes in zip(frames, boxes_per_frame, strict=True):
            track_ids = tracker.update(frame.t_s, boxes)
            for box, track_id in zip(boxes, track_ids, strict=True):
                crop = crop_face(frame.rgb, box, settings)
                int_box = (int(box.x1), int(box.y1), int(box.x2), int(box.y2))
                if router is not None and not router.keep_face(crop, int_box):  # ROUTING: unusable face
                    continue
                crops.append(crop)
                meta.append((frame.t_s, track_id, int_box))
        if crops:
            probs = detectors.visual.predict(np.stack(crops))
            observations.extend(
                FaceObservation(t_s=t, track_id=tid, box=box, p_fake=float(p))
                for (t, tid, box), p in zip(meta, probs, strict=True)
            )
        progress("visual", min(1.0, frames[-1].t_s / duration_s) if duration_s > 0 else 1.0)
    return observations, frames_seen


def score_audio(
    path: Path, duration_s: float, detectors: Detectors, progress: ProgressCallback, router: Router | None = None
) -> tuple[list[AudioObservation], int]:
    """Audio windows with enough speech, scored. Returns observations and the count of skipped windows."""
    from framesentry.inference.audio.streaming import stream_windows
    from framesentry.media import iter_audio

    settings = detectors.settings
    observations: list[AudioObservation] = []
    skipped = 0
    chunks = (chunk.samples for chunk in iter_audio(path, sample_rate=settings.audio_sample_rate))
    windows = stream_windows(
        chunks,
        sample_rate=settings.audio_sample_rate,
        window_samples=settings.audio_window_samples,
        stride_samples=round(settings.audio_stride_s * settings.audio_sample_rate),
    )
    for batch in _batched(windows, settings.batch_size):
        speech = [detectors.vad.speech_fraction(w.samples, settings.audio_sample_rate) for w in batch]
        # ROUTING: the router gates each window (VAD, SNR, clipping); without one, VAD alone.
        keep = [w for w, s in zip(batch, speech, strict=True)
                if (router.keep_audio(w.samples, s) if router is not None else s >= settings.vad_min_speech_fraction)]
        skipped += len(batch) - len(keep)
        if keep:
            probs = detectors.audio.predict(np.stack([w.samples for w in keep]))
            observations.extend(
                AudioObservation(start_s=w.start_s, end_s=w.end_s, p_fake=float(p))
                for w, p in zip(keep, probs, strict=True)
            )
        progress("audio", min(1.0, batch[-1].end_s / duration_s) if duration_s > 0 else 1.0)
    return observations, skipped


def analyze_file(
    path: Path | str,
    settings: Settings | None = None,
    detectors: Detectors | None = None,
    progress: ProgressCallback | None = None,
    policy: RoutingPolicy | None = None,
) -> AnalysisResult:
    """Analyse one media file end to end. Raises typed ``MediaError`` for bad input."""
    from framesentry.media import probe

    settings = settings or get_settings()
    detectors = detectors or Detectors(settings)
    report = progress or _noop
    path = Path(path)
    timer = _Timer()
    t_total = time.perf_counter()

    t0 = time.perf_counter()
    info = probe(path, settings)
    timer.add("probe", t0)
    duration = info.duration_s or 0.0
    # --- ROUTING (inference/routing.py): the policy picks the path and every decision lands in the result ---
    router = Router(policy or policy_for(settings), settings.audio_sample_rate)
    plan = router.plan(MediaFacts(info.video is not None, info.audio is not None, duration))

    faces: list[FaceObservation] = []
    frames_seen = skipped = 0
    if info.video is not None and plan.get("visual") == "run":
        t0 = time.perf_counter()
        faces, frames_seen = score_visual(path, duration, detectors, report, router)
        timer.add("visual", t0)
        visual_p = visual_video_score(faces)
        visual = ModalityScore(
            status="ok" if faces else "no_face",
            p_fake=visual_p,
            windows_scored=len(faces),
            windows_skipped=0 if faces else frames_seen,
            model_version=detectors.visual.version if faces else None,
        )
    else:
        visual = ModalityScore(status="no_video" if info.video is None else "disabled")

    windows: list[AudioObservation] = []
    if info.audio is not None and plan.get("audio") == "run":
        t0 = time.perf_counter()
        windows, skipped = score_audio(path, duration, detectors, report, router)
        timer.add("audio", t0)
        audio = ModalityScore(
            status="ok" if windows else "no_speech",
            p_fake=audio_video_score(windows),
            windows_scored=len(windows),
            windows_skipped=skipped,
            model_version=detectors.audio.version if windows else None,
        )
    else:
        audio = ModalityScore(status="no_audio" if info.audio is None else "disabled")

    result = _assemble(info, settings, detectors, faces, windows, visual, audio, timer, t_total)
    router.conclude(visual.status == "no_face", len(faces), frames_seen, audio.status == "no_speech", len(windows),
                    skipped)
    router.escalate(Outcome(result.verdict.value, result.p_fake, visual.status, audio.status))
    return result.model_copy(update={"routing": router.decisions()})  # ROUTING: decisions recorded


def _assemble(
    info: MediaInfo,
    settings: Settings,
    detectors: Detectors,
    faces: list[FaceObservation],
    windows: list[AudioObservation],
    visual: ModalityScore,
    audio: ModalityScore,
    timer: _Timer,
    t_total: float,
) -> AnalysisResult:
    """Fuse modalities, build segments and the verdict."""
    fused = noisy_or(visual.p_fake, audio.p_fake)
    # Nothing to judge (no face and no speech): say so with an uninformative probability.
    p_fake = 0.5 if fused is None else fused
    verdict, confidence = decide(p_fake, real_threshold=settings.real_threshold, fake_threshold=settings.fake_threshold)

    tracks = []
    for tid, (mean, peak, count) in sorted(track_scores(faces).items()):
        obs = [f for f in faces if f.track_id == tid]
        largest = max(obs, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
        tracks.append(
            FaceTrack(
                track_id=tid,
                first_seen_s=min(f.t_s for f in obs),
                last_seen_s=max(f.t_s for f in obs),
                frames=count,
                p_fake=mean,
                max_p_fake=peak,
                box=largest.box,
            )
        )
    # Containers without a declared duration: the timeline is as long as what was decoded.
    duration = max([info.duration_s or 0.0] + [f.t_s for f in faces] + [w.end_s for w in windows])
    segments = [Segment(**vars(s)) for s in segment_scores(faces, windows, duration, settings.segment_s)]
    suspicious = sorted(segments, key=lambda s: s.p_fake, reverse=True)[:TOP_SEGMENTS]
    timer.seconds["total"] = round(time.perf_counter() - t_total, 4)
    video, audio_info = info.video, info.audio
    return AnalysisResult(
        verdict=verdict,
        p_fake=round(p_fake, 6),
        confidence=confidence,
        thresholds={"real": settings.real_threshold, "fake": settings.fake_threshold},
        visual=visual,
        audio=audio,
        faces=tracks,
        segments=segments,
        frames=[FaceScore(t_s=f.t_s, track_id=f.track_id, box=f.box, p_fake=f.p_fake) for f in faces],
        audio_windows=[AudioWindowScore(start_s=w.start_s, end_s=w.end_s, p_fake=w.p_fake) for w in windows],
        suspicious_segments=suspicious,
        media=MediaSummary(
            path=str(info.path),
            container=info.container_format,
            duration_s=round(duration, 3),
            size_bytes=info.size_bytes,
            width=video.width if video else None,
            height=video.height if video else None,
            fps=video.fps if video else None,
            has_video=video is not None,
            has_audio=audio_info is not None,
        ),
        timing_s=timer.seconds,
        models=detectors.versions(),
    )
