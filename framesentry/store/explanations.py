"""Explanations of analyses and live streams: the deep pass's state and its artifacts.

One ``kind='deep_pass'`` row per analysis holds ``data = {status, stage, progress, error, explanation}``;
each artifact is a ``kind='artifact'`` row with its name, media type and storage key (bytes in media storage).
Rows go with their analysis or stream (ON DELETE CASCADE); ``storage_keys_of*`` let the caller delete the bytes.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from framesentry.store.models import Explanation, utcnow

DEEP_PASS = "deep_pass"
ARTIFACT = "artifact"


def deep_pass_of(session: Session, analysis_id: uuid.UUID) -> Explanation | None:
    return session.scalars(
        select(Explanation).where(Explanation.analysis_id == analysis_id, Explanation.kind == DEEP_PASS)
    ).first()


def unfinished_deep_passes(session: Session) -> list[uuid.UUID]:
    """Analyses whose deep pass is still ``queued`` or ``running`` by its row (the state is JSON, so it is read
    here rather than filtered in SQL the same way on SQLite and PostgreSQL)."""
    rows = session.execute(select(Explanation.analysis_id, Explanation.data).where(Explanation.kind == DEEP_PASS))
    return [aid for aid, data in rows if aid is not None and (data or {}).get("status") in ("queued", "running")]


def set_deep_pass(session: Session, analysis_id: uuid.UUID, **fields: Any) -> Explanation:
    """Create or update the deep-pass row's state (merging ``fields`` into its data)."""
    row = deep_pass_of(session, analysis_id)
    if row is None:
        row = Explanation(analysis_id=analysis_id, kind=DEEP_PASS, data={})
        session.add(row)
    row.data = {**(row.data or {}), **fields, "updated_at": utcnow().isoformat()}
    session.flush()
    return row


def add_artifact(
    session: Session, name: str, media_type: str, storage_key: str, *, analysis_id: uuid.UUID | None = None,
    stream_id: uuid.UUID | None = None, data: dict[str, Any] | None = None,
) -> Explanation:
    """Record one artifact (replacing an earlier one of the same name for the same owner)."""
    if (analysis_id is None) == (stream_id is None):
        raise ValueError("an artifact belongs to exactly one analysis or stream")
    owner = Explanation.analysis_id == analysis_id if analysis_id is not None else Explanation.stream_id == stream_id
    for old in session.scalars(select(Explanation).where(owner, Explanation.kind == ARTIFACT,
                                                         Explanation.name == name)):
        session.delete(old)
    row = Explanation(analysis_id=analysis_id, stream_id=stream_id, kind=ARTIFACT, name=name,
                      media_type=media_type, storage_key=storage_key, data=data)
    session.add(row)
    session.flush()
    return row


def artifacts_of(session: Session, analysis_id: uuid.UUID) -> list[Explanation]:
    return list(session.scalars(select(Explanation).where(
        Explanation.analysis_id == analysis_id, Explanation.kind == ARTIFACT).order_by(Explanation.id)))


def stream_artifacts(session: Session, stream_id: uuid.UUID) -> list[Explanation]:
    return list(session.scalars(select(Explanation).where(
        Explanation.stream_id == stream_id, Explanation.kind == ARTIFACT).order_by(Explanation.id)))


def artifact(
    session: Session, name: str, *, analysis_id: uuid.UUID | None = None, stream_id: uuid.UUID | None = None
) -> Explanation | None:
    owner = Explanation.analysis_id == analysis_id if analysis_id is not None else Explanation.stream_id == stream_id
    return session.scalars(select(Explanation).where(owner, Explanation.kind == ARTIFACT,
                                                     Explanation.name == name)).first()


def storage_keys_of(session: Session, analysis_id: uuid.UUID) -> list[str]:
    """Media-storage keys of an analysis's artifacts (delete them after the rows are gone)."""
    return [k for k in session.scalars(select(Explanation.storage_key).where(
        Explanation.analysis_id == analysis_id, Explanation.storage_key.is_not(None))) if k]


def storage_keys_of_stream(session: Session, stream_id: uuid.UUID) -> list[str]:
    return [k for k in session.scalars(select(Explanation.storage_key).where(
        Explanation.stream_id == stream_id, Explanation.storage_key.is_not(None))) if k]
