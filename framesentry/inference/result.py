"""The analysis result: one stable, versioned JSON schema shared by the CLI, the API and reports.

Times are stream time in seconds (float) named ``*_s``; probabilities are ``p_fake`` in [0, 1].
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

SCHEMA_VERSION = "1.2"


class Verdict(StrEnum):
    REAL = "real"
    FAKE = "fake"
    UNCERTAIN = "uncertain"


ModalityStatus = Literal["ok", "no_face", "no_video", "no_audio", "no_speech", "disabled"]


class ModalityScore(BaseModel):
    """One modality's video-level score, or why there is none."""

    status: ModalityStatus
    p_fake: float | None = Field(None, ge=0, le=1)
    windows_scored: int = 0
    windows_skipped: int = Field(0, description="Windows not scored (e.g. no speech in an audio window).")
    model_version: str | None = None


class FaceTrack(BaseModel):
    """One person's face followed across sampled frames."""

    track_id: int
    first_seen_s: float
    last_seen_s: float
    frames: int
    p_fake: float = Field(
        ge=0, le=1, description="Track score: trimmed upper mean of the frames' calibrated p_fake (inference.fusion)."
    )
    max_p_fake: float = Field(ge=0, le=1)
    verdict: Verdict | None = Field(
        None, description="This person's own verdict from the track score: which face is manipulated, which is not."
    )
    box: tuple[int, int, int, int] = Field(description="Largest box of the track: x1, y1, x2, y2 in pixels.")


class FaceScore(BaseModel):
    """One face on one sampled frame: the raw evidence behind tracks and segments."""

    t_s: float
    track_id: int
    box: tuple[int, int, int, int]
    p_fake: float = Field(ge=0, le=1)


class AudioWindowScore(BaseModel):
    """One scored speech window (windows without enough speech are counted, not listed)."""

    start_s: float
    end_s: float
    p_fake: float = Field(ge=0, le=1)


class Segment(BaseModel):
    """A fixed-length slice of the timeline with what each modality said about it."""

    start_s: float
    end_s: float
    p_fake: float = Field(ge=0, le=1)
    visual_p_fake: float | None = None
    audio_p_fake: float | None = None
    faces: int = 0


class RouteDecision(BaseModel):
    """One decision of the router (``inference/routing.py``) with its reason; per-item gates carry a count."""

    step: str = Field(description="'visual', 'audio', 'combine', 'escalate', 'audio_window' or 'face'.")
    action: str
    reason: str
    policy: str
    count: int = 1


class MediaSummary(BaseModel):
    path: str
    container: str
    duration_s: float
    size_bytes: int
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    has_video: bool
    has_audio: bool


class AnalysisResult(BaseModel):
    """Everything FrameSentry says about one file."""

    schema_version: str = SCHEMA_VERSION
    verdict: Verdict
    p_fake: float = Field(ge=0, le=1, description="Calibrated probability that the media is manipulated.")
    confidence: float = Field(ge=0, le=1, description="Probability the verdict's leaning is right.")
    thresholds: dict[str, float]
    visual: ModalityScore
    audio: ModalityScore
    faces: list[FaceTrack]
    segments: list[Segment]
    frames: list[FaceScore] = Field(description="Every scored face on every sampled frame, in time order.")
    audio_windows: list[AudioWindowScore] = Field(description="Every scored speech window, in time order.")
    suspicious_segments: list[Segment] = Field(description="The most suspicious segments, worst first.")
    media: MediaSummary
    timing_s: dict[str, float] = Field(description="Wall-clock seconds per stage, and 'total'.")
    models: dict[str, str]
    routing: list[RouteDecision] = Field([], description="The router's decisions, with reasons and counts.")
