"""Repository for videos and analyses: every state change of a job is one short, conditional statement.

State machine: queued -> running -> done | failed. A running job is owned by one worker (``worker`` column)
and kept alive by ``heartbeat_at``; a job whose heartbeat is stale may be claimed again (its worker died).
Writes from a worker name the worker, so a worker that lost its claim cannot overwrite the new owner's work.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Result, delete, func, or_, select, update
from sqlalchemy.orm import Session

from framesentry.store.models import (
    Analysis,
    AnalysisStatus,
    AudioSegment,
    Frame,
    Video,
    utcnow,
)

ACTIVE = (AnalysisStatus.QUEUED.value, AnalysisStatus.RUNNING.value)


def _rowcount(result: Result[Any]) -> int:
    """Rows matched by an UPDATE (DML results are cursor results)."""
    return cast(CursorResult[Any], result).rowcount


@dataclass(frozen=True)
class FrameRow:
    t_s: float
    faces: list[dict[str, Any]]
    max_p_fake: float | None


@dataclass(frozen=True)
class AudioSegmentRow:
    start_s: float
    end_s: float
    speech: bool
    p_fake: float | None


@dataclass
class Completion:
    """What a finished job stores: headline numbers for filtering, the full result, and derived rows."""

    verdict: str
    p_fake: float
    confidence: float
    visual_p_fake: float | None
    audio_p_fake: float | None
    model_versions: dict[str, str]
    result: dict[str, Any]
    frames: list[FrameRow] = field(default_factory=list)
    audio_segments: list[AudioSegmentRow] = field(default_factory=list)


@dataclass(frozen=True)
class Page:
    items: list[Analysis]
    total: int


def add_video(session: Session, **columns: Any) -> Video:
    video = Video(**columns)
    session.add(video)
    session.flush()
    return video


def add_analysis(
    session: Session, video: Video, *, idempotency_key: str | None = None, callback_url: str | None = None
) -> Analysis:
    analysis = Analysis(
        video_id=video.id,
        owner_id=video.owner_id,
        status=AnalysisStatus.QUEUED.value,
        progress=0.0,
        attempts=0,
        idempotency_key=idempotency_key,
        callback_url=callback_url,
        stage="queued",
    )
    session.add(analysis)
    session.flush()
    return analysis


def get(session: Session, analysis_id: uuid.UUID, owner_id: int | None = None) -> Analysis | None:
    """An analysis by id; with ``owner_id`` only if it belongs to that user."""
    stmt = select(Analysis).where(Analysis.id == analysis_id)
    if owner_id is not None:
        stmt = stmt.where(Analysis.owner_id == owner_id)
    return session.scalars(stmt).first()


def by_idempotency_key(session: Session, owner_id: int, key: str) -> Analysis | None:
    return session.scalars(
        select(Analysis).where(Analysis.owner_id == owner_id, Analysis.idempotency_key == key)
    ).first()


def list_page(
    session: Session,
    *,
    owner_id: int | None,
    status: str | None = None,
    verdict: str | None = None,
    sha256: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    limit: int = 20,
    offset: int = 0,
) -> Page:
    """Newest first, filtered; ``total`` counts every match, not only this page."""
    conditions = []
    if owner_id is not None:
        conditions.append(Analysis.owner_id == owner_id)
    if status is not None:
        conditions.append(Analysis.status == status)
    if verdict is not None:
        conditions.append(Analysis.verdict == verdict)
    if created_after is not None:
        conditions.append(Analysis.created_at >= created_after)
    if created_before is not None:
        conditions.append(Analysis.created_at < created_before)
    if sha256 is not None:
        conditions.append(Analysis.video_id.in_(select(Video.id).where(Video.sha256 == sha256)))
    total = session.scalar(select(func.count()).select_from(Analysis).where(*conditions)) or 0
    order = (Analysis.created_at.desc(), Analysis.id)
    items = session.scalars(select(Analysis).where(*conditions).order_by(*order).limit(limit).offset(offset)).all()
    return Page(items=list(items), total=total)


def delete_analysis(session: Session, analysis: Analysis) -> str | None:
    """Delete an analysis and its rows; also its video when nothing else uses it. Returns a storage key to remove."""
    video_id = analysis.video_id
    session.delete(analysis)
    session.flush()
    still_used = session.scalar(select(func.count()).select_from(Analysis).where(Analysis.video_id == video_id))
    if still_used:
        return None
    video = session.get(Video, video_id)
    if video is None:
        return None
    key = video.storage_key
    session.delete(video)
    return key


# --- worker side ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """Outcome of trying to start a job: ``claimed`` or the status that stopped it (None = deleted)."""

    claimed: bool
    status: str | None
    attempts: int = 0
    heartbeat_at: datetime | None = None


def claim(session: Session, analysis_id: uuid.UUID, worker: str, stale_before: datetime) -> Claim:
    """Atomically take a queued job, or a running one whose worker stopped beating before ``stale_before``."""
    now = utcnow()
    result = session.execute(
        update(Analysis)
        .where(
            Analysis.id == analysis_id,
            or_(
                Analysis.status == AnalysisStatus.QUEUED.value,
                (Analysis.status == AnalysisStatus.RUNNING.value)
                & or_(Analysis.heartbeat_at.is_(None), Analysis.heartbeat_at < stale_before),
            ),
        )
        .values(
            status=AnalysisStatus.RUNNING.value,
            worker=worker,
            heartbeat_at=now,
            attempts=Analysis.attempts + 1,
            started_at=func.coalesce(Analysis.started_at, now),
            stage="starting",
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    row = session.execute(
        select(Analysis.status, Analysis.attempts, Analysis.heartbeat_at).where(Analysis.id == analysis_id)
    ).first()
    if row is None:
        return Claim(claimed=False, status=None)
    claimed = _rowcount(result) == 1
    return Claim(claimed=claimed, status=row.status, attempts=row.attempts, heartbeat_at=row.heartbeat_at)


def _owned(analysis_id: uuid.UUID, worker: str) -> Any:
    return (
        (Analysis.id == analysis_id)
        & (Analysis.worker == worker)
        & (Analysis.status == AnalysisStatus.RUNNING.value)
    )


def report_progress(session: Session, analysis_id: uuid.UUID, worker: str, stage: str, progress: float) -> bool:
    """Store stage and overall progress (0..1); False when the job is gone or no longer this worker's."""
    now = utcnow()
    result = session.execute(
        update(Analysis)
        .where(_owned(analysis_id, worker))
        .values(stage=stage, progress=min(1.0, max(0.0, progress)), heartbeat_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def heartbeat(session: Session, analysis_id: uuid.UUID, worker: str) -> bool:
    result = session.execute(
        update(Analysis)
        .where(_owned(analysis_id, worker))
        .values(heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def complete(session: Session, analysis_id: uuid.UUID, worker: str, done: Completion) -> bool:
    """Mark done and store the result with its derived rows, in the caller's transaction."""
    now = utcnow()
    result = session.execute(
        update(Analysis)
        .where(_owned(analysis_id, worker))
        .values(
            status=AnalysisStatus.DONE.value,
            stage="done",
            progress=1.0,
            verdict=done.verdict,
            p_fake=done.p_fake,
            confidence=done.confidence,
            visual_p_fake=done.visual_p_fake,
            audio_p_fake=done.audio_p_fake,
            model_versions=done.model_versions,
            result=done.result,
            error_code=None,
            error_message=None,
            error_details=None,
            finished_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if _rowcount(result) != 1:
        return False
    session.execute(delete(Frame).where(Frame.analysis_id == analysis_id))
    session.execute(delete(AudioSegment).where(AudioSegment.analysis_id == analysis_id))
    session.add_all(
        Frame(analysis_id=analysis_id, t_s=f.t_s, faces=f.faces, max_p_fake=f.max_p_fake) for f in done.frames
    )
    session.add_all(
        AudioSegment(analysis_id=analysis_id, start_s=s.start_s, end_s=s.end_s, speech=s.speech, p_fake=s.p_fake)
        for s in done.audio_segments
    )
    return True


def fail(
    session: Session,
    analysis_id: uuid.UUID,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    worker: str | None = None,
) -> bool:
    """Mark failed with a reason. With ``worker``, only if that worker still owns the job."""
    now = utcnow()
    where = _owned(analysis_id, worker) if worker else (Analysis.id == analysis_id) & Analysis.status.in_(ACTIVE)
    result = session.execute(
        update(Analysis)
        .where(where)
        .values(
            status=AnalysisStatus.FAILED.value,
            stage="failed",
            error_code=code,
            error_message=message,
            error_details=details or {},
            finished_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def requeue(session: Session, analysis_id: uuid.UUID, worker: str, stage: str) -> bool:
    """Hand a running job back to the queue (before a retry), so any worker may claim it."""
    result = session.execute(
        update(Analysis)
        .where(_owned(analysis_id, worker))
        .values(status=AnalysisStatus.QUEUED.value, stage=stage, worker=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def unfinished_ids(session: Session) -> list[uuid.UUID]:
    """Jobs queued or running, oldest first: what an embedded server must re-queue after a restart."""
    return list(
        session.scalars(select(Analysis.id).where(Analysis.status.in_(ACTIVE)).order_by(Analysis.created_at))
    )


def stale_running_ids(session: Session, stale_before: datetime) -> list[uuid.UUID]:
    """Running jobs whose worker stopped beating before ``stale_before`` (it died or lost its database)."""
    return list(
        session.scalars(
            select(Analysis.id)
            .where(Analysis.status == AnalysisStatus.RUNNING.value, Analysis.heartbeat_at < stale_before)
            .order_by(Analysis.created_at)
        )
    )


def frames_of(session: Session, analysis_id: uuid.UUID) -> list[Frame]:
    return list(session.scalars(select(Frame).where(Frame.analysis_id == analysis_id).order_by(Frame.t_s)))


def audio_segments_of(session: Session, analysis_id: uuid.UUID) -> list[AudioSegment]:
    return list(
        session.scalars(
            select(AudioSegment).where(AudioSegment.analysis_id == analysis_id).order_by(AudioSegment.start_s)
        )
    )


def count_by_status(session: Session) -> dict[str, int]:
    """How many analyses are in each status (the queue depth is ``queued``; read by ``/metrics``)."""
    rows = session.execute(select(Analysis.status, func.count()).group_by(Analysis.status))
    return {str(status): int(n) for status, n in rows}


# --- outbox and sweeper ------------------------------------------------------------------------------------------


def mark_enqueued(session: Session, analysis_id: uuid.UUID) -> None:
    """The job's message was published (the outbox marker the sweeper reads)."""
    session.execute(
        update(Analysis).where(Analysis.id == analysis_id).values(enqueued_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def unpublished_ids(session: Session, created_before: datetime, published_before: datetime) -> list[uuid.UUID]:
    """Queued jobs nobody will take: never published (older than ``created_before``: the API died between its
    commit and the publish), or published before ``published_before`` and still queued (the broker may have
    lost the message). Oldest first."""
    return list(
        session.scalars(
            select(Analysis.id)
            .where(
                Analysis.status == AnalysisStatus.QUEUED.value,
                or_(
                    Analysis.enqueued_at.is_(None) & (Analysis.created_at < created_before),
                    Analysis.enqueued_at < published_before,
                ),
            )
            .order_by(Analysis.created_at)
            .limit(1000)
        )
    )


def running_leases(session: Session) -> list[tuple[uuid.UUID, str]]:
    """(id, lease) of every running job, for checking whether the lease's worker still exists."""
    rows = session.execute(
        select(Analysis.id, Analysis.worker).where(Analysis.status == AnalysisStatus.RUNNING.value)
    ).all()
    return [(row.id, row.worker) for row in rows if row.worker]


def release_lease(session: Session, analysis_id: uuid.UUID, lease: str) -> bool:
    """Hand a job whose worker is gone back to the queue (only if ``lease`` still holds it)."""
    result = session.execute(
        update(Analysis)
        .where(_owned(analysis_id, lease))
        .values(status=AnalysisStatus.QUEUED.value, stage="reclaimed", worker=None, enqueued_at=None,
                updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1
