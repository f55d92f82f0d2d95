"""Repository for stream keys and live streams (the rows behind ``/v1/streams`` and the publish endpoints).

A stream key is a secret a publisher puts in its URL; like API keys only its SHA-256 is stored and the
plaintext is handed out once, at creation. A stream is one publish session: ``live`` until it ends
(``ended``) or breaks (``failed``). Every state change is one conditional UPDATE, so two parties ending the
same stream (publisher disconnect and an API ``DELETE``) cannot both win.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from framesentry.errors import AuthError, ConflictError
from framesentry.store.analyses import _rowcount
from framesentry.store.models import Stream, StreamKey, StreamSource, StreamState, utcnow
from framesentry.store.users import hash_key

STREAM_KEY_PREFIX = "fsk_"
"""Tells a stream key from an API key (``fs_``) at a glance."""


@dataclass(frozen=True)
class NewStreamKey:
    """A freshly created key: ``key`` is the only time the plaintext exists outside the publisher."""

    row: StreamKey
    key: str


@dataclass(frozen=True)
class StreamPage:
    items: list[Stream]
    total: int


# --- keys -------------------------------------------------------------------------------------------------------


def new_stream_key() -> str:
    """URL-safe (it goes in ``rtmp://host/live/<key>`` and ``/v1/whip/<key>``) and 192 bits of entropy."""
    return STREAM_KEY_PREFIX + secrets.token_urlsafe(24)


def create_stream_key(session: Session, owner_id: int, name: str) -> NewStreamKey:
    key = new_stream_key()
    row = StreamKey(owner_id=owner_id, name=name, key_sha256=hash_key(key), prefix=key[: len(STREAM_KEY_PREFIX) + 4])
    session.add(row)
    session.flush()
    return NewStreamKey(row=row, key=key)


def resolve_stream_key(session: Session, key: str) -> StreamKey | None:
    """The live (not revoked) key row for a plaintext key, or None."""
    return session.scalars(
        select(StreamKey).where(StreamKey.key_sha256 == hash_key(key), StreamKey.revoked_at.is_(None))
    ).first()


def get_stream_key(session: Session, key_id: int, owner_id: int | None = None) -> StreamKey | None:
    stmt = select(StreamKey).where(StreamKey.id == key_id)
    if owner_id is not None:
        stmt = stmt.where(StreamKey.owner_id == owner_id)
    return session.scalars(stmt).first()


def list_stream_keys(session: Session, owner_id: int, *, include_revoked: bool = False) -> list[StreamKey]:
    """Newest first."""
    stmt = select(StreamKey).where(StreamKey.owner_id == owner_id)
    if not include_revoked:
        stmt = stmt.where(StreamKey.revoked_at.is_(None))
    return list(session.scalars(stmt.order_by(StreamKey.created_at.desc(), StreamKey.id.desc())))


def revoke_stream_key(session: Session, key_id: int, owner_id: int | None = None) -> bool:
    """Revoke a key (new publishes with it are refused; a stream already live on it runs on until it ends).

    False when there is no such key (for this owner) or it was already revoked.
    """
    stmt = update(StreamKey).where(StreamKey.id == key_id, StreamKey.revoked_at.is_(None))
    if owner_id is not None:
        stmt = stmt.where(StreamKey.owner_id == owner_id)
    result = session.execute(stmt.values(revoked_at=utcnow()).execution_options(synchronize_session=False))
    return _rowcount(result) == 1


# --- streams ----------------------------------------------------------------------------------------------------


def live_stream_for_key(session: Session, key_id: int) -> Stream | None:
    return session.scalars(
        select(Stream).where(Stream.key_id == key_id, Stream.state == StreamState.LIVE.value)
    ).first()


def start_stream(session: Session, key: StreamKey, source: str, *, takeover: bool = False) -> Stream:
    """Open a live stream on ``key``. One live stream per key: a second publisher gets ``ConflictError``,
    unless ``takeover`` (a publisher reconnecting), which first ends the old one with reason ``replaced``.

    The database's partial unique index decides races between two publishers starting at once.
    """
    if key.revoked_at is not None:
        raise AuthError("This stream key has been revoked.", key_id=key.id)
    StreamSource(source)  # ValueError on anything but rtmp/whip, before the CHECK constraint says so
    if takeover:
        old = live_stream_for_key(session, key.id)
        if old is not None:
            end_stream(session, old.id, reason="replaced")
    now = utcnow()
    stream = Stream(
        key_id=key.id, owner_id=key.owner_id, source=source, state=StreamState.LIVE.value, started_at=now,
        windows_scored=0, windows_dropped=0, updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(stream)
    except IntegrityError as exc:
        raise ConflictError("This stream key is already publishing a live stream.", key_id=key.id) from exc
    session.execute(
        update(StreamKey).where(StreamKey.id == key.id).values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    return stream


def update_stream(
    session: Session,
    stream_id: uuid.UUID,
    *,
    verdict: str | None,
    p_fake: float | None,
    windows_scored: int,
    windows_dropped: int,
) -> bool:
    """Periodic refresh of a live stream's headline verdict and counters (totals, not increments, so a
    repeated update is harmless). ``updated_at`` doubles as the heartbeat. False once the stream is over."""
    result = session.execute(
        update(Stream)
        .where(Stream.id == stream_id, Stream.state == StreamState.LIVE.value)
        .values(verdict=verdict, p_fake=p_fake, windows_scored=windows_scored, windows_dropped=windows_dropped,
                updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def end_stream(
    session: Session,
    stream_id: uuid.UUID,
    *,
    reason: str,
    failed: bool = False,
    verdict: str | None = None,
    p_fake: float | None = None,
    windows_scored: int | None = None,
    windows_dropped: int | None = None,
) -> bool:
    """Close a live stream (``failed`` for a broken one); final numbers are stored when given.
    False when it is not live any more (someone else ended it first) or does not exist."""
    now = utcnow()
    values: dict[str, object] = {
        "state": (StreamState.FAILED if failed else StreamState.ENDED).value,
        "ended_at": now,
        "end_reason": reason[:255],
        "updated_at": now,
    }
    for column, value in (("verdict", verdict), ("p_fake", p_fake), ("windows_scored", windows_scored),
                          ("windows_dropped", windows_dropped)):
        if value is not None:
            values[column] = value
    result = session.execute(
        update(Stream)
        .where(Stream.id == stream_id, Stream.state == StreamState.LIVE.value)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def fail_stale_streams(session: Session, stale_before: datetime, reason: str = "lost") -> list[uuid.UUID]:
    """Fail live streams not refreshed since ``stale_before`` (their server died); frees their keys.

    Call at server start (embedded mode: every live row is stale) and now and then from a supervisor.
    """
    now = utcnow()
    ids = list(
        session.scalars(
            select(Stream.id).where(Stream.state == StreamState.LIVE.value, Stream.updated_at < stale_before)
        )
    )
    if ids:
        session.execute(
            update(Stream)
            .where(Stream.id.in_(ids), Stream.state == StreamState.LIVE.value)
            .values(state=StreamState.FAILED.value, ended_at=now, end_reason=reason, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    return ids


def get_stream(session: Session, stream_id: uuid.UUID, owner_id: int | None = None) -> Stream | None:
    """A stream by id; with ``owner_id`` only if it belongs to that user."""
    stmt = select(Stream).where(Stream.id == stream_id)
    if owner_id is not None:
        stmt = stmt.where(Stream.owner_id == owner_id)
    return session.scalars(stmt).first()


def list_streams(
    session: Session,
    *,
    owner_id: int | None,
    state: str | None = None,
    key_id: int | None = None,
    limit: int = 20,
    offset: int = 0,
) -> StreamPage:
    """Newest first; ``total`` counts every match, not only this page."""
    conditions = []
    if owner_id is not None:
        conditions.append(Stream.owner_id == owner_id)
    if state is not None:
        conditions.append(Stream.state == state)
    if key_id is not None:
        conditions.append(Stream.key_id == key_id)
    total = session.scalar(select(func.count()).select_from(Stream).where(*conditions)) or 0
    items = session.scalars(
        select(Stream).where(*conditions).order_by(Stream.started_at.desc(), Stream.id).limit(limit).offset(offset)
    ).all()
    return StreamPage(items=list(items), total=total)


def delete_stream(session: Session, stream_id: uuid.UUID, owner_id: int | None = None) -> bool:
    """Delete a finished stream and (by ON DELETE CASCADE) its score series. A live stream is refused:
    end it first, so the publisher's side is not left writing into nothing."""
    stream = get_stream(session, stream_id, owner_id)
    if stream is None:
        return False
    if stream.state == StreamState.LIVE.value:
        raise ConflictError("This stream is still live; stop it before deleting it.", stream_id=str(stream_id))
    session.delete(stream)
    session.flush()
    return True
