"""The explanation document: what the deep pass found, stored as JSON and served by the API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from framesentry.explain.cards import ModelQuality

EXPLANATION_VERSION = "1.0"


class Artifact(BaseModel):
    """One file the deep pass wrote (image, data, report), addressed by name."""

    name: str
    media_type: str
    description: str


class FaceHeatmap(BaseModel):
    """Grad-CAM of one face on one frame: among the most suspicious frames of its track."""

    track_id: int
    t_s: float
    p_fake: float
    box: tuple[int, int, int, int]
    target: Literal["fake", "real"] = Field(description="What the map shows evidence for.")
    peak_crop_xy: tuple[int, int] = Field(description="Where the map peaks, in the 224x224 crop.")
    peak_frame_xy: tuple[int, int] = Field(description="Where the map peaks, in frame pixels.")
    crop_image: str
    frame_image: str


class TimelineSpan(BaseModel):
    """A stretch of time one modality (or one person's face) scored as suspicious."""

    source: str = Field(description="'visual', 'audio' or 'face:<track_id>'.")
    start_s: float
    end_s: float
    max_p_fake: float


class RefinedScore(BaseModel):
    """The escalated (deeper) look at an Uncertain result: more frames and test-time augmentation."""

    p_fake: float
    verdict: str
    visual_sample_fps: float
    tta: list[str]
    seconds: float


class Explanation(BaseModel):
    """Everything the deep pass says about one analysis (or one live verdict change)."""

    version: str = EXPLANATION_VERSION
    verdict: str
    p_fake: float
    confidence: float
    methods: dict[str, dict[str, str]] = Field(description="Per evidence kind: method, library, target layer.")
    heatmaps: list[FaceHeatmap] = []
    audio_saliency: dict[str, Any] | None = None
    timeline: list[TimelineSpan] = []
    summary: str
    llm_summary: str | None = None
    llm_error: str | None = None
    refined: RefinedScore | None = None
    models: list[ModelQuality] = []
    artifacts: list[Artifact] = []
    timing_s: dict[str, float] = {}
    media_sha256: str | None = None
