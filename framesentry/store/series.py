"""The live score time series: batch writes and bucketed reads of ``stream_scores``.

Writes come from the live path's write-behind thread in batches: ``append_scores`` turns one batch into one
``INSERT ... VALUES (...), (...) ON CONFLICT DO NOTHING`` (so a batch re-sent after an unclear failure adds
nothing twice), creating the day's partition first on the partitioned layout.

Reads bucket by wall clock: Timescale ``time_bucket``, PostgreSQL ``date_bin``, SQLite integer division of
epoch microseconds. Buckets are aligned to the Unix epoch on every backend, so the same rows give the same
buckets everywhere; empty buckets are not returned.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from typing import cast as cast_type

from sqlalchemy import CursorResult, Integer, Select, Table, case, cast, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from framesentry.errors import RequestError
from framesentry.store import timeseries_ddl
from framesentry.store.db import Database
from framesentry.store.models import StreamScore, UTCDateTime
from framesentry.store.timeseries_ddl import Layout

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_ROWS_PER_STATEMENT = 1000
"""8 columns x 1000 rows stays far below the bind-parameter limits of SQLite (32766) and PostgreSQL (65535)."""
MAX_BUCKETS = 10_000
"""A query asking for more buckets than this is refused (a tiny bucket over days is a mistake, not a chart)."""


@dataclass(frozen=True)
class ScoreRow:
    """One scored window, as the live path reports it. ``ts`` must be timezone-aware."""

    stream_id: uuid.UUID
    ts: datetime
    stream_t_s: float
    p_fake: float
    verdict: str
    visual_p: float | None = None
    audio_p: float | None = None
    latency_ms: float | None = None


@dataclass(frozen=True)
class Bucket:
    """Aggregates of the scores whose ``ts`` falls in [start, start + bucket_s)."""

    start: datetime
    avg_p_fake: float
    max_p_fake: float
    avg_visual_p: float | None
    avg_audio_p: float | None
    count: int
    last_verdict: str | None
    """Verdict of the latest window in the bucket (by ts, then stream time)."""


# --- writes -----------------------------------------------------------------------------------------------------


def _insert(session: Session, rows: Sequence[ScoreRow]) -> int:
    dialect = session.get_bind().dialect.name
    table = cast_type(Table, StreamScore.__table__)  # Core insert: its result carries the rowcount
    ins = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    inserted = 0
    for i in range(0, len(rows), MAX_ROWS_PER_STATEMENT):
        chunk = [asdict(r) for r in rows[i : i + MAX_ROWS_PER_STATEMENT]]
        stmt = ins.values(chunk).on_conflict_do_nothing().execution_options(preserve_rowcount=True)
        result = session.execute(stmt)
        inserted += max(0, cast_type(CursorResult[Any], result).rowcount)
    return inserted


def append_scores(target: Session | Database, rows: Sequence[ScoreRow]) -> int:
    """Insert a batch of score rows in one statement (per 1000 rows); returns how many were new.

    With a ``Session`` the rows join the caller's transaction (the caller commits); with a ``Database`` the
    batch is its own transaction, which is what the write-behind thread wants. Missing daily partitions are
    created beforehand on their own connection and committed (they outlive a rolled-back batch); if one
    cannot be made the rows still land, in the default partition.
    """
    if not rows:
        return 0
    for row in rows:
        if row.ts.tzinfo is None:
            raise ValueError("ScoreRow.ts must be timezone-aware (UTC wall clock)")
    engine = target.engine if isinstance(target, Database) else target.get_bind().engine
    timeseries_ddl.ensure_partitions(engine, {r.ts.astimezone(UTC).date() for r in rows})
    if isinstance(target, Database):
        with target.transaction() as session:
            return _insert(session, rows)
    return _insert(target, rows)


# --- reads ------------------------------------------------------------------------------------------------------


def _bucket_us(bucket_s: float) -> int:
    if not math.isfinite(bucket_s) or bucket_s <= 0:
        raise RequestError("bucket_s must be a positive number of seconds", bucket_s=bucket_s)
    us = round(bucket_s * 1_000_000)
    if us < 1:
        raise RequestError("bucket_s must be at least one microsecond", bucket_s=bucket_s)
    return us


def bucket_expression(layout: Layout, bucket_us: int) -> ColumnElement[Any]:
    """The bucket of ``stream_scores.ts``: a timestamptz on PostgreSQL, epoch microseconds on SQLite."""
    ts = StreamScore.__table__.c.ts
    if layout is Layout.SQLITE:
        # Stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC; SQLAlchemy always writes the microseconds). Whole
        # seconds and microseconds are read apart: SQLite's date functions round to milliseconds.
        epoch_us = (cast(func.strftime("%s", func.substr(ts, 1, 19)), Integer) * 1_000_000
                    + cast(func.substr(ts, 21, 6), Integer))
        return (epoch_us // literal(bucket_us, Integer)) * literal(bucket_us, Integer)
    width = cast(literal(timedelta(microseconds=bucket_us)), postgresql.INTERVAL)
    origin = cast(literal(EPOCH, UTCDateTime), postgresql.TIMESTAMP(timezone=True))
    if layout is Layout.TIMESCALE:
        return func.time_bucket(width, ts, origin)  # the (interval, timestamptz, origin timestamptz) overload
    return func.date_bin(width, ts, origin)


def series_statement(
    layout: Layout, stream_id: uuid.UUID, start: datetime, end: datetime, bucket_s: float
) -> Select[Any]:
    """One SELECT for every backend; only the bucket expression differs."""
    c = StreamScore.__table__.c
    bucket = bucket_expression(layout, _bucket_us(bucket_s)).label("bucket")
    rank = func.row_number().over(partition_by=bucket, order_by=(c.ts.desc(), c.stream_t_s.desc())).label("rn")
    inner = (
        select(bucket, rank, c.p_fake, c.visual_p, c.audio_p, c.verdict)
        .where(c.stream_id == stream_id, c.ts >= start, c.ts < end)
        .subquery()
    )
    return (
        select(
            inner.c.bucket,
            func.avg(inner.c.p_fake).label("avg_p_fake"),
            func.max(inner.c.p_fake).label("max_p_fake"),
            func.avg(inner.c.visual_p).label("avg_visual_p"),
            func.avg(inner.c.audio_p).label("avg_audio_p"),
            func.count().label("n"),
            func.max(case((inner.c.rn == 1, inner.c.verdict), else_=None)).label("last_verdict"),
        )
        .group_by(inner.c.bucket)
        .order_by(inner.c.bucket)
    )


def _bucket_start(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return EPOCH + timedelta(microseconds=int(value))


def query_series(
    session: Session, stream_id: uuid.UUID, start: datetime, end: datetime, bucket_s: float
) -> list[Bucket]:
    """Scores of one stream in [start, end) aggregated into ``bucket_s``-second buckets, oldest first."""
    if start.tzinfo is None or end.tzinfo is None:
        raise RequestError("start and end must be timezone-aware")
    us = _bucket_us(bucket_s)
    if end <= start:
        return []
    if (end - start) / timedelta(microseconds=us) > MAX_BUCKETS:
        raise RequestError(f"at most {MAX_BUCKETS} buckets per query: widen bucket_s or narrow the range",
                           bucket_s=bucket_s)
    layout = timeseries_ddl.detect_layout(session.get_bind().engine)
    rows = session.execute(series_statement(layout, stream_id, start, end, bucket_s)).all()
    return [
        Bucket(
            start=_bucket_start(r.bucket),
            avg_p_fake=float(r.avg_p_fake),
            max_p_fake=float(r.max_p_fake),
            avg_visual_p=None if r.avg_visual_p is None else float(r.avg_visual_p),
            avg_audio_p=None if r.avg_audio_p is None else float(r.avg_audio_p),
            count=int(r.n),
            last_verdict=r.last_verdict,
        )
        for r in rows
    ]


def scores_of(session: Session, stream_id: uuid.UUID, start: datetime | None = None,
              end: datetime | None = None) -> list[StreamScore]:
    """Raw rows of one stream, oldest first (for exports and tests; charts want ``query_series``)."""
    stmt = select(StreamScore).where(StreamScore.stream_id == stream_id)
    if start is not None:
        stmt = stmt.where(StreamScore.ts >= start)
    if end is not None:
        stmt = stmt.where(StreamScore.ts < end)
    return list(session.scalars(stmt.order_by(StreamScore.ts, StreamScore.stream_t_s)))
