"""Store, live streams: stream keys (hashed, shown once, revocable) and the stream lifecycle
(live -> ended | failed, one live stream per key) on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from framesentry.errors import AuthError, ConflictError
from framesentry.store import series, streams, users
from framesentry.store.db import Database
from framesentry.store.models import StreamKey, utcnow
from framesentry.store.series import ScoreRow

pytest_plugins = ["conftest_service"]


def _user(db: Database) -> int:
    with db.transaction() as s:
        return users.ensure_user(s, f"pub-{uuid.uuid4().hex[:6]}").id


def _key(db: Database, owner: int) -> tuple[int, str]:
    with db.transaction() as s:
        made = streams.create_stream_key(s, owner, "studio cam")
        return made.row.id, made.key


def test_keys_are_hashed_resolvable_and_revocable(db: Database) -> None:
    """The plaintext is returned once and never stored; it resolves to its row until revoked, then not."""
    owner, other = _user(db), _user(db)
    key_id, plaintext = _key(db, owner)
    assert plaintext.startswith(streams.STREAM_KEY_PREFIX) and len(plaintext) > 30
    with db.session() as s:
        row = streams.resolve_stream_key(s, plaintext)
        assert row is not None and row.id == key_id and row.owner_id == owner and row.name == "studio cam"
        assert row.key_sha256 == users.hash_key(plaintext) and plaintext not in (row.key_sha256, row.prefix)
        assert row.prefix == plaintext[:8]
        assert streams.resolve_stream_key(s, plaintext + "x") is None
        assert streams.resolve_stream_key(s, "") is None
        assert [k.id for k in streams.list_stream_keys(s, owner)] == [key_id]
        assert streams.list_stream_keys(s, other) == []
    with db.transaction() as s:
        assert not streams.revoke_stream_key(s, key_id, owner_id=other)  # not theirs
        assert streams.revoke_stream_key(s, key_id, owner_id=owner)
        assert not streams.revoke_stream_key(s, key_id, owner_id=owner)  # already revoked
    with db.session() as s:
        assert streams.resolve_stream_key(s, plaintext) is None
        assert streams.list_stream_keys(s, owner) == []
        assert [k.id for k in streams.list_stream_keys(s, owner, include_revoked=True)] == [key_id]
        assert streams.get_stream_key(s, key_id, owner_id=other) is None


def test_two_keys_never_collide(db: Database) -> None:
    owner = _user(db)
    plaintexts = {_key(db, owner)[1] for _ in range(5)}
    assert len(plaintexts) == 5
    with db.session() as s:
        digests = s.scalars(select(StreamKey.key_sha256).where(StreamKey.owner_id == owner)).all()
    assert len(set(digests)) == 5


def test_stream_lifecycle(db: Database) -> None:
    """start -> periodic updates -> end with final numbers; a second end loses; key's last use is recorded."""
    owner = _user(db)
    key_id, plaintext = _key(db, owner)
    with db.transaction() as s:
        key = streams.resolve_stream_key(s, plaintext)
        assert key is not None
        stream = streams.start_stream(s, key, "whip")
        sid = stream.id
    with db.transaction() as s:
        assert streams.update_stream(s, sid, verdict="real", p_fake=0.2, windows_scored=10, windows_dropped=1)
    with db.session() as s:
        live = streams.get_stream(s, sid, owner_id=owner)
        assert live is not None and live.state == "live" and live.source == "whip" and live.windows_scored == 10
        assert live.started_at.tzinfo is not None and live.ended_at is None
        key_row = streams.get_stream_key(s, key_id)
        assert key_row is not None and key_row.last_used_at is not None
        assert streams.live_stream_for_key(s, key_id) is not None
    with db.transaction() as s:
        assert streams.end_stream(s, sid, reason="publisher_disconnected", verdict="fake", p_fake=0.8,
                                  windows_scored=42, windows_dropped=3)
        assert not streams.end_stream(s, sid, reason="api_stop")
        assert not streams.update_stream(s, sid, verdict="real", p_fake=0.1, windows_scored=50, windows_dropped=3)
    with db.session() as s:
        done = streams.get_stream(s, sid)
        assert done is not None and done.state == "ended" and done.end_reason == "publisher_disconnected"
        assert (done.verdict, done.p_fake, done.windows_scored, done.windows_dropped) == ("fake", 0.8, 42, 3)
        assert done.ended_at is not None and done.ended_at >= done.started_at
        assert streams.live_stream_for_key(s, key_id) is None
    stranger = _user(db)
    with db.session() as s:
        assert streams.get_stream(s, sid, owner_id=stranger) is None


def test_one_live_stream_per_key(db: Database) -> None:
    """A second publisher on a busy key is refused by the database's partial unique index; ``takeover``
    ends the old stream ("replaced") first; after the stream ends the key can publish again."""
    owner = _user(db)
    key_id, _ = _key(db, owner)
    with db.transaction() as s:
        first = streams.start_stream(s, s.get_one(StreamKey, key_id), "rtmp").id
    with pytest.raises(ConflictError), db.transaction() as s:
        streams.start_stream(s, s.get_one(StreamKey, key_id), "rtmp")
    with db.transaction() as s:
        second = streams.start_stream(s, s.get_one(StreamKey, key_id), "rtmp", takeover=True).id
    with db.session() as s:
        old = streams.get_stream(s, first)
        assert old is not None and old.state == "ended" and old.end_reason == "replaced"
    with db.transaction() as s:
        assert streams.end_stream(s, second, reason="error: decoder", failed=True)
        third = streams.start_stream(s, s.get_one(StreamKey, key_id), "whip").id
    with db.session() as s:
        failed = streams.get_stream(s, second)
        assert failed is not None and failed.state == "failed"
        page = streams.list_streams(s, owner_id=owner)
        assert page.total == 3 and page.items[0].id == third
        assert streams.list_streams(s, owner_id=owner, state="live").total == 1
        assert streams.list_streams(s, owner_id=owner, key_id=key_id, limit=1, offset=1).total == 3
        assert len(streams.list_streams(s, owner_id=owner, limit=1, offset=1).items) == 1


def test_revoked_key_cannot_start_and_bad_source_is_refused(db: Database) -> None:
    owner = _user(db)
    key_id, _ = _key(db, owner)
    with db.transaction() as s:
        with pytest.raises(ValueError):
            streams.start_stream(s, s.get_one(StreamKey, key_id), "srt")
        streams.revoke_stream_key(s, key_id)
    with pytest.raises(AuthError), db.transaction() as s:
        streams.start_stream(s, s.get_one(StreamKey, key_id), "rtmp")


def test_stale_live_streams_are_failed(db: Database) -> None:
    """A live stream whose heartbeat (updated_at) is older than the cut-off is failed and frees its key;
    a fresher one is left alone."""
    owner = _user(db)
    k1, _ = _key(db, owner)
    k2, _ = _key(db, owner)
    with db.transaction() as s:
        old = streams.start_stream(s, s.get_one(StreamKey, k1), "rtmp").id
    cut = utcnow()
    with db.transaction() as s:
        fresh = streams.start_stream(s, s.get_one(StreamKey, k2), "rtmp").id
    with db.transaction() as s:
        failed = streams.fail_stale_streams(s, cut, reason="server_restart")  # may include earlier tests' streams
    assert old in failed and fresh not in failed
    with db.session() as s:
        a, b = streams.get_stream(s, old), streams.get_stream(s, fresh)
        assert a is not None and a.state == "failed" and a.end_reason == "server_restart"
        assert b is not None and b.state == "live"
        assert streams.live_stream_for_key(s, k1) is None


def test_delete_refuses_live_and_cascades_scores(db: Database) -> None:
    owner = _user(db)
    key_id, _ = _key(db, owner)
    with db.transaction() as s:
        sid = streams.start_stream(s, s.get_one(StreamKey, key_id), "rtmp").id
    t0 = datetime(2031, 9, 1, tzinfo=UTC)
    series.append_scores(db, [ScoreRow(sid, t0 + timedelta(seconds=i), float(i), 0.5, "real") for i in range(5)])
    with pytest.raises(ConflictError), db.transaction() as s:
        streams.delete_stream(s, sid, owner_id=owner)
    stranger = _user(db)
    with db.transaction() as s:
        streams.end_stream(s, sid, reason="done")
        assert not streams.delete_stream(s, sid, owner_id=stranger)
        assert streams.delete_stream(s, sid, owner_id=owner)
    with db.session() as s:
        assert streams.get_stream(s, sid) is None
        assert series.scores_of(s, sid) == []
