"""The shapes the API answers with, as ``TypedDict``s (JSON stays plain dicts; type checkers know the keys).

They mirror the server's OpenAPI schemas (``framesentry openapi``); nested results the client does not read
field by field (an analysis ``result``, per-modality blocks) stay ``dict[str, Any]``.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

Verdict = Literal["real", "fake", "uncertain"]


class ErrorBody(TypedDict):
    code: str
    message: str
    details: dict[str, Any]


class Analysis(TypedDict):
    id: str
    status: Literal["queued", "running", "done", "failed"]
    stage: str | None
    progress_pct: float
    verdict: Verdict | None
    p_fake: float | None
    confidence: float | None
    error: ErrorBody | None
    attempts: int
    callback_url: str | None
    video: dict[str, Any]
    created_at: str
    started_at: str | None
    finished_at: str | None
    links: dict[str, str]
    result: NotRequired[dict[str, Any] | None]


class AnalysisPage(TypedDict):
    items: list[Analysis]
    total: int
    limit: int
    offset: int
    links: dict[str, str | None]


class IngestUrls(TypedDict):
    rtmp: str
    whip: str
    publish_page: str


class StreamKey(TypedDict):
    id: int
    name: str
    prefix: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


class StreamKeyCreated(StreamKey):
    key: str
    ingest: IngestUrls


class StreamInfo(TypedDict):
    id: str
    key_id: int | None
    name: str | None
    source: Literal["rtmp", "whip"]
    state: Literal["live", "ended", "failed"]
    started_at: str
    ended_at: str | None
    end_reason: str | None
    verdict: Verdict | None
    p_fake: float | None
    windows_scored: int
    windows_dropped: int
    links: dict[str, str]


class StreamPage(TypedDict):
    items: list[StreamInfo]
    total: int
    limit: int
    offset: int


class SeriesResponse(TypedDict):
    stream_id: str
    start: str
    end: str
    bucket_s: float
    buckets: list[dict[str, Any]]


class ScoreMessage(TypedDict):
    """One ``score`` message of ``WS /v1/streams/{id}/scores``."""

    type: Literal["score"]
    seq: int
    stream_id: str
    kind: Literal["visual", "audio"]
    stream_t_s: float
    server_time: str
    latency_ms: float
    visual: dict[str, Any]
    audio: dict[str, Any]
    faces: list[dict[str, Any]]
    p_fake_window: float | None
    p_fake: float | None
    verdict: Verdict
    events: list[dict[str, Any]]
    dropped: dict[str, int]
