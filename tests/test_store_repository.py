"""Store: the migrations create exactly the models' schema, and the job state machine behaves on both
SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from framesentry.store import analyses as repo
from framesentry.store import users
from framesentry.store.analyses import AudioSegmentRow, Completion, FrameRow
from framesentry.store.db import Database
from framesentry.store.migrate import current_revision, upgrade
from framesentry.store.models import AudioSegment, Base, Frame, User, Video, utcnow
from framesentry.store.storage import LocalStorage

pytest_plugins = ["conftest_service"]


def _video(db: Database, owner: str = "alice") -> tuple[int, uuid.UUID]:
    with db.transaction() as s:
        user = users.ensure_user(s, f"{owner}-{uuid.uuid4().hex[:6]}")
        video = repo.add_video(s, owner_id=user.id, filename="a.mp4", size_bytes=10, sha256="ab" * 32,
                               storage_key=f"videos/{uuid.uuid4().hex}.mp4", has_video=True, has_audio=True)
        return user.id, video.id


def _analysis(db: Database, key: str | None = None) -> uuid.UUID:
    _, video_id = _video(db)
    with db.transaction() as s:
        return repo.add_analysis(s, s.get_one(Video, video_id), idempotency_key=key).id


def test_migrations_match_models(db: Database) -> None:
    """Proves alembic's head schema is what the ORM expects (no drift between models.py and migrations)."""
    from alembic.script import ScriptDirectory

    from framesentry.store.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config(db.engine)).get_current_head()
    assert head is not None and current_revision(db.engine) == head
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []
    tables = set(inspect(db.engine).get_table_names())
    assert {"users", "api_keys", "videos", "analyses", "frames", "audio_segments", "explanations",
            "webhook_deliveries", "stream_keys", "streams", "stream_scores"} <= tables


def test_upgrade_is_idempotent_and_reversible(tmp_path: Path) -> None:
    """Running upgrade twice is a no-op; downgrade to base removes every table (SQLite, in batch mode)."""
    from alembic import command

    from framesentry.store.migrate import alembic_config

    database = Database(f"sqlite:///{tmp_path / 'x.db'}")
    upgrade(database.engine)
    upgrade(database.engine)
    with database.engine.connect() as conn:
        cfg = alembic_config(database.engine)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
        conn.commit()
    assert set(inspect(database.engine).get_table_names()) <= {"alembic_version"}


def test_claim_progress_complete(db: Database) -> None:
    """A queued job is claimed once; only its owner may report progress or complete it; rows are stored."""
    aid = _analysis(db)
    stale = utcnow() - timedelta(seconds=30)
    with db.transaction() as s:
        first = repo.claim(s, aid, "w1", stale)
    with db.transaction() as s:
        second = repo.claim(s, aid, "w2", stale)
    assert first.claimed and first.attempts == 1
    assert not second.claimed and second.status == "running"
    with db.transaction() as s:
        assert repo.report_progress(s, aid, "w1", "visual", 0.4)
        assert not repo.report_progress(s, aid, "w2", "visual", 0.9)
    done = Completion(
        verdict="real", p_fake=0.1, confidence=0.8, visual_p_fake=0.1, audio_p_fake=None, model_versions={"v": "1"},
        result={"verdict": "real"}, frames=[FrameRow(0.5, [{"track_id": 1, "box": [1, 2, 3, 4], "p_fake": 0.1}], 0.1)],
        audio_segments=[AudioSegmentRow(0.0, 2.0, True, 0.2), AudioSegmentRow(2.0, 4.0, False, None)],
    )
    with db.transaction() as s:
        assert not repo.complete(s, aid, "w2", done)
    with db.transaction() as s:
        assert repo.complete(s, aid, "w1", done)
    with db.session() as s:
        row = repo.get(s, aid)
        assert row is not None and row.status == "done" and row.progress == 1.0 and row.verdict == "real"
        assert [f.t_s for f in repo.frames_of(s, aid)] == [0.5]
        assert [(a.start_s, a.speech) for a in repo.audio_segments_of(s, aid)] == [(0.0, True), (2.0, False)]


def test_stale_job_can_be_reclaimed(db: Database) -> None:
    """A running job whose worker stopped beating is claimed again, and the old worker loses it."""
    aid = _analysis(db)
    with db.transaction() as s:
        assert repo.claim(s, aid, "dead", utcnow() - timedelta(seconds=30)).claimed
    with db.transaction() as s:  # heartbeat is "now": anything older than the future counts as stale
        again = repo.claim(s, aid, "new", utcnow() + timedelta(seconds=1))
    assert again.claimed and again.attempts == 2
    with db.transaction() as s:
        assert not repo.heartbeat(s, aid, "dead")
        assert repo.heartbeat(s, aid, "new")


def test_fail_and_finished_jobs_are_not_reclaimed(db: Database) -> None:
    aid = _analysis(db)
    with db.transaction() as s:
        assert repo.fail(s, aid, "corrupt_media", "bad", {"x": 1})
    with db.transaction() as s:
        claim = repo.claim(s, aid, "w", utcnow() + timedelta(days=1))
    assert not claim.claimed and claim.status == "failed"
    with db.session() as s:
        row = repo.get(s, aid)
        assert row is not None and row.error_code == "corrupt_media" and row.error_details == {"x": 1}


def test_idempotency_key_unique_per_owner(db: Database) -> None:
    """The database itself refuses a second job with one user's Idempotency-Key (the race backstop)."""
    owner, video_id = _video(db)
    with db.transaction() as s:
        repo.add_analysis(s, s.get_one(Video, video_id), idempotency_key="k1")
    with pytest.raises(IntegrityError), db.transaction() as s:
        repo.add_analysis(s, s.get_one(Video, video_id), idempotency_key="k1")
    with db.transaction() as s:  # no key: any number of jobs
        repo.add_analysis(s, s.get_one(Video, video_id))
        repo.add_analysis(s, s.get_one(Video, video_id))
    with db.session() as s:
        assert repo.by_idempotency_key(s, owner, "k1") is not None


def test_delete_cascades_and_returns_media_key(db: Database) -> None:
    aid = _analysis(db)
    with db.transaction() as s:
        claim = repo.claim(s, aid, "w", utcnow())
        assert claim.claimed
        repo.complete(s, aid, "w", Completion("fake", 0.9, 0.9, 0.9, None, {}, {}, [FrameRow(1.0, [], None)],
                                               [AudioSegmentRow(0, 1, True, 0.5)]))
    with db.transaction() as s:
        row = repo.get(s, aid)
        assert row is not None
        key = repo.delete_analysis(s, row)
    assert key is not None and key.startswith("videos/")
    with db.session() as s:
        assert repo.get(s, aid) is None
        assert s.scalars(select(Frame).where(Frame.analysis_id == aid)).first() is None
        assert s.scalars(select(AudioSegment).where(AudioSegment.analysis_id == aid)).first() is None


def test_list_filters_and_pagination(db: Database) -> None:
    owner, video_id = _video(db, "lister")
    ids = []
    with db.transaction() as s:
        for _ in range(5):
            ids.append(repo.add_analysis(s, s.get_one(Video, video_id)).id)
    with db.transaction() as s:
        repo.fail(s, ids[0], "x", "y")
    with db.session() as s:
        page = repo.list_page(s, owner_id=owner, limit=2, offset=0)
        assert page.total == 5 and len(page.items) == 2
        assert repo.list_page(s, owner_id=owner, status="failed").total == 1
        assert repo.list_page(s, owner_id=owner, sha256="ab" * 32).total == 5
        assert repo.list_page(s, owner_id=owner, sha256="cd" * 32).total == 0
        assert repo.list_page(s, owner_id=owner, created_after=utcnow() + timedelta(minutes=1)).total == 0


def test_api_keys_are_hashed(db: Database) -> None:
    with db.transaction() as s:
        users.sync_configured_keys(s, ["carol:secret-key-1", "bare-key-2"])
        users.sync_configured_keys(s, ["carol:secret-key-1", "bare-key-2"])  # idempotent
    with db.session() as s:
        carol = users.user_for_key(s, "secret-key-1")
        assert carol is not None and carol.name == "carol"
        user = users.user_for_key(s, "bare-key-2")
        assert user is not None and user.name == users.DEFAULT_USER
        assert users.user_for_key(s, "nope") is None
        stored = [k.key_sha256 for u in s.scalars(select(User)) for k in u.api_keys]
        assert "secret-key-1" not in stored and users.hash_key("secret-key-1") in stored
    with db.transaction() as s:
        assert users.revoke_key(s, "secret-key-1")
        assert users.sync_configured_keys(s, ["bare-key-2"]) == []  # carol's key: already revoked
    with db.session() as s:
        assert users.user_for_key(s, "secret-key-1") is None


def test_local_storage_keys_cannot_escape(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "media")
    staged = storage.staging_path()
    staged.write_bytes(b"data")
    storage.put(staged, "videos/a.mp4")
    assert storage.exists("videos/a.mp4") and not staged.parent.exists()
    with storage.local_path("videos/a.mp4") as path:
        assert path.read_bytes() == b"data"
    for bad in ("../x", "/etc/passwd", "videos/../../x", ""):
        with pytest.raises(ValueError):
            storage.exists(bad)
    assert storage.delete("videos/a.mp4") and not storage.delete("videos/a.mp4")
