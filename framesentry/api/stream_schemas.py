"""Bodies of the live-stream API: stream keys, sessions, the score series and the WebSocket messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from framesentry.store.models import Stream as StreamRow
from framesentry.store.models import StreamKey as KeyRow
from framesentry.store.series import Bucket


class StreamCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="A label for the source, e.g. 'studio-2'.")


class IngestUrls(BaseModel):
    rtmp: str = Field(description="Publish here with OBS/ffmpeg: rtmp://host:port/live/<key>.")
    whip: str = Field(description="WHIP endpoint (RFC 9725): POST an SDP offer here.")
    publish_page: str = Field(description="A browser page that publishes the camera over WHIP.")


class StreamKeyInfo(BaseModel):
    id: int
    name: str
    prefix: str = Field(description="First characters of the key, to tell keys apart.")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class StreamKeyCreated(StreamKeyInfo):
    key: str = Field(description="The secret stream key. Shown once; only its hash is stored.")
    ingest: IngestUrls


class StreamKeyList(BaseModel):
    items: list[StreamKeyInfo]


class StreamInfo(BaseModel):
    id: uuid.UUID
    key_id: int | None
    source: Literal["rtmp", "whip"]
    state: Literal["live", "ended", "failed"]
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    verdict: str | None = Field(description="Current (live) or final smoothed verdict.")
    p_fake: float | None = Field(description="Current smoothed probability of manipulation.")
    windows_scored: int
    windows_dropped: int
    links: dict[str, str]


class StreamPage(BaseModel):
    items: list[StreamInfo]
    total: int
    limit: int
    offset: int


class SeriesBucket(BaseModel):
    start: datetime
    avg_p_fake: float
    max_p_fake: float
    avg_visual_p: float | None
    avg_audio_p: float | None
    count: int
    last_verdict: str | None


class SeriesResponse(BaseModel):
    stream_id: uuid.UUID
    start: datetime
    end: datetime
    bucket_s: float
    buckets: list[SeriesBucket]


class ScoreMessage(BaseModel):
    """One WebSocket message on ``/v1/streams/{id}/scores`` (``type`` 'score'; the last one is 'end')."""

    type: Literal["score", "end", "error"]
    seq: int = Field(description="Increases by one per message of this stream.")
    stream_id: str
    kind: Literal["visual", "audio"]
    stream_t_s: float = Field(description="Stream time of the window that was scored, seconds.")
    server_time: datetime
    latency_ms: float = Field(description="Window closed (frame or audio received) -> this message, server side.")
    visual: dict[str, Any]
    audio: dict[str, Any]
    faces: list[dict[str, Any]] = Field(description="Per tracked face: track_id, p_fake (rolling mean), box.")
    p_fake_window: float | None = Field(description="Fused score of this update before smoothing.")
    p_fake: float | None = Field(description="Smoothed fused probability (the verdict's basis).")
    verdict: Literal["real", "fake", "uncertain"]
    events: list[dict[str, Any]] = Field(description="e.g. {type: verdict_changed, from, to, stream_t_s, p_fake}; "
                                         "a change to fake also has `explanation`: the URL of its heat map.")
    dropped: dict[str, int] = Field(description="Windows dropped so far because detection fell behind.")


def to_key_info(row: KeyRow) -> StreamKeyInfo:
    return StreamKeyInfo.model_validate(row, from_attributes=True)


def to_stream_info(row: StreamRow) -> StreamInfo:
    base = f"/v1/streams/{row.id}"
    return StreamInfo(
        id=row.id, key_id=row.key_id, source=row.source,
        state=row.state,
        started_at=row.started_at, ended_at=row.ended_at, end_reason=row.end_reason, verdict=row.verdict,
        p_fake=row.p_fake, windows_scored=row.windows_scored, windows_dropped=row.windows_dropped,
        links={"self": base, "scores": f"{base}/scores", "series": f"{base}/series"},
    )


def to_bucket(b: Bucket) -> SeriesBucket:
    return SeriesBucket.model_validate(b, from_attributes=True)
