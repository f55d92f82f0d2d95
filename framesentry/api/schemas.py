"""Response bodies of the HTTP API (the OpenAPI document is generated from these)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from framesentry.inference.result import AnalysisResult, Verdict
from framesentry.store.models import Analysis as AnalysisRow
from framesentry.store.models import WebhookDelivery as DeliveryRow

Status = Literal["queued", "running", "done", "failed"]


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. 'over_limit', 'not_found'.")
    message: str = Field(description="What went wrong, in words meant for people.")
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorResponse(BaseModel):
    """The one error shape of the whole API."""

    error: ErrorBody


class AnalysisLinks(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    self_: str = Field(alias="self", description="This analysis.")
    webhooks: str = Field(description="Recorded webhook delivery attempts.")


class VideoInfo(BaseModel):
    filename: str
    content_type: str | None
    size_bytes: int
    sha256: str
    container: str | None
    duration_s: float | None
    width: int | None
    height: int | None
    fps: float | None
    has_video: bool
    has_audio: bool


class AnalysisSummary(BaseModel):
    """Status and headline numbers (lists and the 202 answer to an upload)."""

    id: uuid.UUID
    status: Status
    stage: str | None = Field(description="What the worker is doing: queued, probe, visual, audio, saving, done...")
    progress_pct: float = Field(ge=0, le=100)
    verdict: Verdict | None = Field(None, description="Set when done.")
    p_fake: float | None = Field(None, ge=0, le=1, description="Calibrated probability of manipulation.")
    confidence: float | None = Field(None, ge=0, le=1)
    error: ErrorBody | None = Field(None, description="Why it failed (status 'failed').")
    attempts: int = Field(description="Times a worker started this job (retries and redeliveries count).")
    callback_url: str | None
    video: VideoInfo
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    links: AnalysisLinks


class DeepPassState(BaseModel):
    """The deep pass (explanations, report) that runs after the verdict."""

    status: Literal["queued", "running", "done", "failed"]
    stage: str | None = None
    progress_pct: float = 0.0
    error: str | None = None
    explanation: str = Field(description="URL of the explanation JSON.")
    report: str = Field(description="URL of the PDF report (once done).")


class AnalysisDetail(AnalysisSummary):
    """Everything about one analysis; ``result`` is the full detection result once done."""

    result: AnalysisResult | None = Field(None, description="Per-modality, per-face, per-segment scores, timing.")
    deep_pass: DeepPassState | None = Field(None, description="Explanations' progress; null if none was queued.")


class PageLinks(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    self_: str = Field(alias="self")
    next: str | None
    prev: str | None


class AnalysisPage(BaseModel):
    items: list[AnalysisSummary]
    total: int = Field(description="Matches across all pages.")
    limit: int
    offset: int
    links: PageLinks


class WebhookAttempt(BaseModel):
    delivery_id: uuid.UUID = Field(description="Same for every attempt at one event.")
    event: str
    url: str
    attempt: int
    succeeded: bool
    outcome: Literal["2xx", "3xx", "4xx", "5xx", "1xx", "blocked", "unreachable"] = Field(
        description="Status class of the answer, 'unreachable' (no HTTP answer) or 'blocked' (the URL resolves "
        "to an internal address that is not allow-listed). Nothing more of the answer is reported."
    )
    error: Literal["not_accepted", "unreachable", "blocked"] | None
    duration_ms: float | None
    created_at: datetime


class WebhookAttempts(BaseModel):
    items: list[WebhookAttempt]


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(description="'degraded' when a dependency cannot be reached.")
    mode: Literal["embedded", "distributed"]
    auth: bool = Field(description="Whether X-API-Key is required.")
    checks: dict[str, Literal["ok", "unreachable", "embedded"]] = Field(
        default_factory=dict, description="database and broker: 'ok', 'unreachable' or 'embedded' (in-process).")
    version: str


def _links(row: AnalysisRow) -> AnalysisLinks:
    base = f"/v1/analyses/{row.id}"
    return AnalysisLinks(self_=base, webhooks=f"{base}/webhooks")


def summary(row: AnalysisRow) -> dict[str, Any]:
    v = row.video
    error = None
    if row.error_code is not None:
        error = ErrorBody(code=row.error_code, message=row.error_message or "", details=row.error_details or {})
    return {
        "id": row.id,
        "status": row.status,
        "stage": row.stage,
        "progress_pct": round(100.0 * row.progress, 1),
        "verdict": row.verdict,
        "p_fake": row.p_fake,
        "confidence": row.confidence,
        "error": error,
        "attempts": row.attempts,
        "callback_url": row.callback_url,
        "video": VideoInfo(
            filename=v.filename, content_type=v.content_type, size_bytes=v.size_bytes, sha256=v.sha256,
            container=v.container, duration_s=v.duration_s, width=v.width, height=v.height, fps=v.fps,
            has_video=v.has_video, has_audio=v.has_audio,
        ),
        "created_at": row.created_at,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "links": _links(row),
    }


def to_summary(row: AnalysisRow) -> AnalysisSummary:
    return AnalysisSummary(**summary(row))


def deep_pass_state(analysis_id: Any, data: dict[str, Any] | None) -> DeepPassState | None:
    if not data or "status" not in data:
        return None
    base = f"/v1/analyses/{analysis_id}"
    return DeepPassState(status=data["status"], stage=data.get("stage"),
                         progress_pct=round(100.0 * float(data.get("progress") or 0.0), 1), error=data.get("error"),
                         explanation=f"{base}/explanation", report=f"{base}/report.pdf")


def to_detail(row: AnalysisRow, deep_pass: dict[str, Any] | None = None) -> AnalysisDetail:
    result = AnalysisResult.model_validate(row.result) if row.result is not None else None
    return AnalysisDetail(**summary(row), result=result, deep_pass=deep_pass_state(row.id, deep_pass))


def to_attempt(row: DeliveryRow) -> WebhookAttempt:
    from framesentry.jobs.webhooks import NOT_ACCEPTED, outcome_class

    outcome = outcome_class(row.status_code, row.error)
    error = None if row.succeeded else NOT_ACCEPTED if row.status_code is not None else outcome
    return WebhookAttempt(
        delivery_id=row.delivery_id, event=row.event, url=row.url, attempt=row.attempt, succeeded=row.succeeded,
        outcome=outcome, error=error, duration_ms=row.duration_ms, created_at=row.created_at,
    )
