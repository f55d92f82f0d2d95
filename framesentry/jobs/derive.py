"""Turn an ``AnalysisResult`` into what the store keeps: headline columns, the JSON, and per-time rows."""

from __future__ import annotations

from framesentry.inference.result import AnalysisResult, FaceScore
from framesentry.store.analyses import AudioSegmentRow, Completion, FrameRow


def frame_rows(result: AnalysisResult) -> list[FrameRow]:
    """One row per sampled frame that had faces, with each face's track, box and score."""
    by_time: dict[float, list[FaceScore]] = {}
    for face in result.frames:
        by_time.setdefault(face.t_s, []).append(face)
    return [
        FrameRow(
            t_s=t,
            faces=[{"track_id": f.track_id, "box": list(f.box), "p_fake": f.p_fake} for f in faces],
            max_p_fake=max(f.p_fake for f in faces),
        )
        for t, faces in sorted(by_time.items())
    ]


def audio_segment_rows(result: AnalysisResult) -> list[AudioSegmentRow]:
    """One row per report segment of a file with audio: was speech scored there, and how fake it sounded."""
    if not result.media.has_audio:
        return []
    return [
        AudioSegmentRow(
            start_s=seg.start_s, end_s=seg.end_s, speech=seg.audio_p_fake is not None, p_fake=seg.audio_p_fake
        )
        for seg in result.segments
    ]


def completion(result: AnalysisResult, display_name: str) -> Completion:
    """The store's view of a finished analysis. ``media.path`` becomes the upload's name (no server paths)."""
    media = result.media.model_copy(update={"path": display_name})
    clean = result.model_copy(update={"media": media})
    return Completion(
        verdict=clean.verdict.value,
        p_fake=clean.p_fake,
        confidence=clean.confidence,
        visual_p_fake=clean.visual.p_fake,
        audio_p_fake=clean.audio.p_fake,
        model_versions=dict(clean.models),
        result=clean.model_dump(mode="json"),
        frames=frame_rows(clean),
        audio_segments=audio_segment_rows(clean),
    )
