"""The upload door: a media file in, an ``AnalysisResult`` out.

Stages: probe; sampled frames -> the scoring core (faces, crops, visual model); audio windows -> the scoring
core (voice activity, audio model); ``Evidence`` over the whole file (tracks, aggregation, fusion); verdict.
The live door (``stream.session``) feeds the same core and the same ``Evidence`` with a rolling horizon.
Work goes through the process's ``BatchedScorer`` in its bulk lane, a bounded number of items in flight, so
decoding overlaps scoring and memory does not grow with the file's length.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from framesentry.config import Settings, get_settings
from framesentry.inference.batching import BatchedScorer
from framesentry.inference.detectors import Detectors
from framesentry.inference.evidence import Evidence, Horizon, Judgement
from framesentry.inference.fusion import segment_scores
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
from framesentry.inference.scoring import FrameJob, ScoredWindow, WindowJob
from framesentry.inference.verdict import decide

if TYPE_CHECKING:
    from framesentry.media import MediaInfo

T = TypeVar("T")
R = TypeVar("R")
ProgressCallback = Callable[[str, float], None]
"""Called with (stage, fraction of the file done in that stage, 0..1)."""

IN_FLIGHT = 8
"""Frames or windows of one file submitted and not yet collected: enough to fill a batch, bounded memory."""
TOP_SEGMENTS = 3


def _noop(_stage: str, _fraction: float) -> None:
    return None


class _Timer:
    """Accumulates wall-clock seconds per stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, stage: str, started: float) -> None:
        self.seconds[stage] = round(self.seconds.get(stage, 0.0) + time.perf_counter() - started, 4)


def _in_order(jobs: Iterable[T], submit: Callable[[T], Future[R]]) -> Iterable[tuple[T, R]]:
    """Submit jobs with at most ``IN_FLIGHT`` outstanding; yield (job, result) in submission order."""
    pending: deque[tuple[T, Future[R]]] = deque()
    try:
        for job in jobs:
            pending.append((job, submit(job)))
            if len(pending) >= IN_FLIGHT:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
    finally:
        for _, future in pending:  # an error or a cancelled job: free the batcher's slots
            future.cancel()


def score_visual(path: Path, duration_s: float, scorer: BatchedScorer, evidence: Evidence,
                 progress: ProgressCallback, router: Router | None = None) -> None:
    """Sampled frames of the file through the scoring core, into ``evidence`` in time order; the router (when
    given) leaves out faces too small or too blurred to judge."""
    from framesentry.media import iter_sampled_frames

    s = scorer.settings
    frames = (FrameJob(f.t_s, f.rgb, s.face_min_size_px) for f in iter_sampled_frames(path, s.visual_sample_fps))
    for job, faces in _in_order(frames, lambda job: scorer.submit_frame(job, "bulk")):
        if router is not None:  # ROUTING: unusable faces (size and sharpness of what the core scored)
            faces = [f for f in faces if router.keep_face(f)]
        evidence.add_frame(job.t_s, faces)
        progress("visual", min(1.0, job.t_s / duration_s) if duration_s > 0 else 1.0)


def score_audio(path: Path, duration_s: float, scorer: BatchedScorer, evidence: Evidence,
                progress: ProgressCallback, router: Router | None = None) -> None:
    """Audio windows of the file through the scoring core (voice activity, model), into ``evidence``; the
    router (when given) also leaves out windows too noisy or clipped to judge."""
    from framesentry.inference.audio.streaming import stream_windows
    from framesentry.media import iter_audio

    s = scorer.settings
    chunks = (chunk.samples for chunk in iter_audio(path, sample_rate=s.audio_sample_rate))
    windows = (
        WindowJob(w.start_s, w.end_s, w.samples)
        for w in stream_windows(chunks, sample_rate=s.audio_sample_rate, window_samples=s.audio_window_samples,
                                stride_samples=round(s.audio_stride_s * s.audio_sample_rate))
    )
    for job, scored in _in_order(windows, lambda job: scorer.submit_window(job, "bulk")):
        # ROUTING: the router gates each window (VAD, SNR, clipping) and records why; without one, the core's
        # VAD gate alone. A window the router keeps but the core's VAD left unscored stays unscored.
        if router is not None and not router.keep_audio(job.samples, scored.speech_fraction):
            scored = ScoredWindow(scored.start_s, scored.end_s, scored.speech_fraction, None)
        evidence.add_window(scored)
        progress("audio", min(1.0, job.end_s / duration_s) if duration_s > 0 else 1.0)


def analyze_file(
    path: Path | str,
    settings: Settings | None = None,
    detectors: Detectors | None = None,
    progress: ProgressCallback | None = None,
    scorer: BatchedScorer | None = None,
    policy: RoutingPolicy | None = None,
) -> AnalysisResult:
    """Analyse one media file end to end. Raises typed ``MediaError`` for bad input.

    ``scorer`` is the process's shared ``BatchedScorer`` (a server passes its own, so uploads and live streams
    share the models' queues); without one, a private scorer runs for this file only."""
    from framesentry.media import probe

    if scorer is None:
        settings = settings or (detectors.settings if detectors is not None else get_settings())
        with BatchedScorer(detectors or Detectors(settings)) as own:
            return analyze_file(path, settings, progress=progress, scorer=own, policy=policy)
    settings = settings or scorer.settings
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
    evidence = Evidence(Horizon.whole_file())
    run_visual = info.video is not None and plan.get("visual") == "run"
    run_audio = info.audio is not None and plan.get("audio") == "run"
    if run_visual:
        t0 = time.perf_counter()
        score_visual(path, duration, scorer, evidence, report, router)
        timer.add("visual", t0)
    if run_audio:
        t0 = time.perf_counter()
        score_audio(path, duration, scorer, evidence, report, router)
        timer.add("audio", t0)
    result = _assemble(info, settings, scorer.detectors, evidence, evidence.judge(), timer, t_total,
                       run_visual, run_audio)
    router.conclude(result.visual.status == "no_face", len(evidence.faces), evidence.frames_seen,
                    result.audio.status == "no_speech", len(evidence.windows), evidence.windows_skipped)
    router.escalate(Outcome(result.verdict.value, result.p_fake, result.visual.status, result.audio.status))
    return result.model_copy(update={"routing": router.decisions()})  # ROUTING: decisions recorded


def _modalities(info: MediaInfo, detectors: Detectors, evidence: Evidence, judgement: Judgement,
                run_visual: bool, run_audio: bool) -> tuple[ModalityScore, ModalityScore]:
    faces, windows = evidence.faces, evidence.windows
    visual = ModalityScore(status="no_video" if info.video is None else "disabled")
    if run_visual:
        visual = ModalityScore(
            status="ok" if faces else "no_face",
            p_fake=judgement.visual_p,
            windows_scored=len(faces),
            windows_skipped=0 if faces else evidence.frames_seen,
            model_version=detectors.visual.version if faces else None,
        )
    audio = ModalityScore(status="no_audio" if info.audio is None else "disabled")
    if run_audio:
        audio = ModalityScore(
            status="ok" if windows else "no_speech",
            p_fake=judgement.audio_p,
            windows_scored=len(windows),
            windows_skipped=evidence.windows_skipped,
            model_version=detectors.audio.version if windows else None,
        )
    return visual, audio


def _assemble(
    info: MediaInfo,
    settings: Settings,
    detectors: Detectors,
    evidence: Evidence,
    judgement: Judgement,
    timer: _Timer,
    t_total: float,
    run_visual: bool,
    run_audio: bool,
) -> AnalysisResult:
    """Modality scores, segments and the verdict, from the whole file's evidence."""
    visual, audio = _modalities(info, detectors, evidence, judgement, run_visual, run_audio)
    # Nothing to judge (no face and no speech): say so with an uninformative probability.
    p_fake = 0.5 if judgement.p_fake is None else judgement.p_fake
    verdict, confidence = decide(p_fake, real_threshold=settings.real_threshold, fake_threshold=settings.fake_threshold)
    tracks = [
        FaceTrack(track_id=t.track_id, first_seen_s=t.first_seen_s, last_seen_s=t.last_seen_s, frames=t.frames,
                  p_fake=t.p_fake, max_p_fake=t.max_p_fake, box=t.largest_box,
                  verdict=decide(t.p_fake, real_threshold=settings.real_threshold,
                                 fake_threshold=settings.fake_threshold)[0])
        for t in judgement.tracks
    ]
    faces, windows = list(evidence.faces), list(evidence.windows)
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
