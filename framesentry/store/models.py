"""Database tables (SQLAlchemy 2 typed ORM). Migrations in ``store/migrations`` create exactly these.

Wall-clock times are timezone-aware UTC; stream times are float seconds named ``*_s``. The full analysis
result is kept as JSON (its schema is versioned in ``inference/result.py``); the per-frame and per-audio-window
rows next to it are there so that time-range queries do not have to open the JSON.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonType = JSON().with_variant(JSONB(), "postgresql")
BigId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY only


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite hands back naive datetimes)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime stored; use framesentry.store.models.utcnow()")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class AnalysisStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    api_keys: Mapped[list[ApiKey]] = relationship(back_populates="user", cascade="all, delete-orphan")


class ApiKey(Base):
    """Only the SHA-256 of a key is stored, with a non-secret ``public_id`` to list, name and revoke it by.

    ``role`` (admin / analyst / publisher / viewer) says what the key may do; ``source`` is ``config`` for keys
    from FRAMESENTRY_API_KEYS (reconciled at every start) and ``api`` for keys made by the API or the CLI."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    role: Mapped[str] = mapped_column(String(16), default="analyst", server_default="admin")
    source: Mapped[str] = mapped_column(String(8), default="api", server_default="config")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="api_keys")


class Video(Base):
    """An uploaded file: what it is (probe metadata), its hash and where the bytes live."""

    __tablename__ = "videos"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str | None] = mapped_column(String(127))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)
    container: Mapped[str | None] = mapped_column(String(64))
    duration_s: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    fps: Mapped[float | None] = mapped_column(Float)
    has_video: Mapped[bool] = mapped_column(Boolean, default=False)
    has_audio: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Analysis(Base):
    """One detection job on one video; the database, not Celery, is the source of truth for its state."""

    __tablename__ = "analyses"
    __table_args__ = (
        UniqueConstraint("owner_id", "idempotency_key", name="uq_analyses_owner_idempotency"),
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress"),
        Index("ix_analyses_owner_created", "owner_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    video_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=AnalysisStatus.QUEUED, index=True)
    stage: Mapped[str | None] = mapped_column(String(32))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Set once the job's message was published (outbox): a queued row without it was never handed over."""
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    callback_url: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    error_details: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    verdict: Mapped[str | None] = mapped_column(String(16), index=True)
    p_fake: Mapped[float | None] = mapped_column(Float)
    confidence: Mapped[float | None] = mapped_column(Float)
    visual_p_fake: Mapped[float | None] = mapped_column(Float)
    audio_p_fake: Mapped[float | None] = mapped_column(Float)
    model_versions: Mapped[dict[str, str] | None] = mapped_column(JsonType)
    result: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    video: Mapped[Video] = relationship(lazy="joined")


class Frame(Base):
    """One sampled frame that had faces: its stream time, the face boxes and their scores."""

    __tablename__ = "frames"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    analysis_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("analyses.id", ondelete="CASCADE"), index=True)
    t_s: Mapped[float] = mapped_column(Float)
    faces: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, doc="[{track_id, box, p_fake}]")
    max_p_fake: Mapped[float | None] = mapped_column(Float)


class AudioSegment(Base):
    """One stretch of audio: its time range, whether voice activity was found, and the audio score."""

    __tablename__ = "audio_segments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    analysis_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("analyses.id", ondelete="CASCADE"), index=True)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    speech: Mapped[bool] = mapped_column(Boolean, doc="Voice activity found (the segment was scored).")
    p_fake: Mapped[float | None] = mapped_column(Float)


class Explanation(Base):
    """Deep-pass state (``kind='deep_pass'``: status, progress, explanation JSON in ``data``) or one artifact
    (``kind='artifact'``: heat map, saliency, report; bytes in media storage) of an analysis or a live stream."""

    __tablename__ = "explanations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    analysis_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("analyses.id", ondelete="CASCADE"), index=True
    )
    stream_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("streams.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(255))
    media_type: Mapped[str | None] = mapped_column(String(127))
    storage_key: Mapped[str | None] = mapped_column(String(255))
    data: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One HTTP attempt to deliver one event to an analysis's callback URL."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    analysis_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("analyses.id", ondelete="CASCADE"), index=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True, doc="Same for every attempt of one event.")
    event: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float | None] = mapped_column(Float)
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- live detection (streams) -----------------------------------------------------------------------------------


class StreamSource(StrEnum):
    RTMP = "rtmp"
    WHIP = "whip"


class StreamState(StrEnum):
    LIVE = "live"
    ENDED = "ended"
    FAILED = "failed"


class StreamKey(Base):
    """What a publisher puts in ``rtmp://host/live/<key>`` or ``POST /v1/whip/<key>``; stored as SHA-256 only."""

    __tablename__ = "stream_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12), doc="First characters of the key, to tell keys apart.")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Stream(Base):
    """One live session from publish to end; headline verdict and counters are refreshed while it runs.

    At most one live stream per key (partial unique index): a second publisher on a busy key is refused.
    """

    __tablename__ = "streams"
    __table_args__ = (
        CheckConstraint("source IN ('rtmp', 'whip')", name="source"),
        CheckConstraint("state IN ('live', 'ended', 'failed')", name="state"),
        Index("ix_streams_owner_started", "owner_id", "started_at"),
        Index(
            "uq_streams_live_key", "key_id", unique=True,
            postgresql_where=text("state = 'live'"), sqlite_where=text("state = 'live'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    key_id: Mapped[int | None] = mapped_column(ForeignKey("stream_keys.id", ondelete="SET NULL"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(8), default=StreamState.LIVE, index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(255))
    verdict: Mapped[str | None] = mapped_column(String(16))
    p_fake: Mapped[float | None] = mapped_column(Float)
    windows_scored: Mapped[int] = mapped_column(Integer, default=0)
    windows_dropped: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    key: Mapped[StreamKey | None] = relationship(lazy="joined", viewonly=True)  # its source's name, for the API


class StreamScore(Base):
    """One scored window of a live stream (the time series behind ``/v1/streams/{id}/series``).

    The primary key holds ``ts`` because PostgreSQL requires the partition/hypertable key in every unique
    index; it also makes a re-sent batch a no-op (inserts use ON CONFLICT DO NOTHING). On PostgreSQL the
    table is a Timescale hypertable or a ``PARTITION BY RANGE (ts)`` table: migration 0002 and
    ``store/timeseries_ddl.py`` create it, not ``metadata.create_all``.
    """

    __tablename__ = "stream_scores"

    stream_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("streams.id", ondelete="CASCADE"), primary_key=True
    )
    ts: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True, doc="Wall clock (UTC) when scored.")
    stream_t_s: Mapped[float] = mapped_column(Float, primary_key=True, doc="Window time in the stream.")
    p_fake: Mapped[float] = mapped_column(Float, doc="Fused score.")
    visual_p: Mapped[float | None] = mapped_column(Float)
    audio_p: Mapped[float | None] = mapped_column(Float)
    verdict: Mapped[str] = mapped_column(String(16))
    latency_ms: Mapped[float | None] = mapped_column(Float)
