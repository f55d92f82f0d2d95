"""Store, live time series: migration 0002 on SQLite and PostgreSQL, daily partitions made on demand, and
bucketed queries that give the same numbers on every backend. The Timescale path cannot run here (the
extension is not installed on this server); its DDL and query are checked as far as plain PostgreSQL can
check them, and each test below says how far that is."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import DBAPIError

from framesentry.errors import RequestError
from framesentry.store import series, streams, timeseries_ddl, users
from framesentry.store.db import Database
from framesentry.store.migrate import alembic_config, current_revision, upgrade
from framesentry.store.models import Base
from framesentry.store.series import Bucket, ScoreRow
from framesentry.store.timeseries_ddl import PARTITION_SCHEMA, Layout

pytest_plugins = ["conftest_service"]

T0 = datetime(2031, 5, 1, 12, 0, 0, tzinfo=UTC)  # a multiple of 10 s since the epoch


def _open(url: str) -> Iterator[Database]:
    database = Database(url)
    upgrade(database.engine)
    yield database
    database.engine.dispose()


@pytest.fixture(scope="module")
def sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    yield from _open(f"sqlite:///{tmp_path_factory.mktemp('db') / 'series.db'}")


@pytest.fixture(scope="module")
def pg_db(pg_url: str) -> Iterator[Database]:
    yield from _open(pg_url)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> Database:
    return request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "pg_db")


def _stream(db: Database) -> uuid.UUID:
    with db.transaction() as s:
        user = users.ensure_user(s, f"live-{uuid.uuid4().hex[:6]}")
        key = streams.create_stream_key(s, user.id, "cam").row
        return streams.start_stream(s, key, "rtmp").id


def _known_series(stream_id: uuid.UUID, t0: datetime = T0) -> list[ScoreRow]:
    """120 windows, one per second at +0.25 s, over two minutes; audio only on even windows."""
    return [
        ScoreRow(stream_id=stream_id, ts=t0 + timedelta(seconds=i + 0.25), stream_t_s=i + 0.25, p_fake=i / 128,
                 visual_p=i / 64, audio_p=(i / 32 if i % 2 == 0 else None),
                 verdict="fake" if i % 10 >= 7 else "real", latency_ms=40.0 + i)
        for i in range(120)
    ]


def _head(db: Database) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(db.engine)).get_current_head()


def test_migration_head_matches_models(db: Database) -> None:
    """Migrations up to head create exactly the models' schema (partitions live in their own schema,
    so the main one reflects like models.py); the layout detected is the one this backend should get."""
    assert current_revision(db.engine) == _head(db)
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []
    assert {"stream_keys", "streams", "stream_scores"} <= set(inspect(db.engine).get_table_names())
    expected = Layout.SQLITE if db.is_sqlite else Layout.PARTITIONED
    assert timeseries_ddl.detect_layout(db.engine) is expected


def test_downgrade_and_upgrade_again(tmp_path: Path, new_pg_database: Callable[[], str]) -> None:
    """0002 down removes the live tables (and the partition schema on PostgreSQL) and can be re-applied."""
    for url in (f"sqlite:///{tmp_path / 'down.db'}", new_pg_database()):
        database = Database(url)
        upgrade(database.engine)
        with database.engine.connect() as conn:
            cfg = alembic_config(database.engine)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0001")
            conn.commit()
        tables = set(inspect(database.engine).get_table_names())
        assert not tables & {"stream_keys", "streams", "stream_scores"} and "analyses" in tables
        if not database.is_sqlite:
            assert PARTITION_SCHEMA not in inspect(database.engine).get_schema_names()
        upgrade(database.engine)
        assert current_revision(database.engine) == _head(database)
        database.engine.dispose()


def _partition_counts(db: Database, stream_id: uuid.UUID) -> dict[str, int]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT tableoid::regclass::text AS part, count(*) AS n FROM stream_scores"
                 " WHERE stream_id = :s GROUP BY 1"), {"s": stream_id},
        ).all()
    return {r.part: r.n for r in rows}


def _attached(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return set(conn.scalars(text(
            "SELECT i.inhrelid::regclass::text FROM pg_inherits i WHERE i.inhparent = 'stream_scores'::regclass"
        )))


def test_partitions_created_on_demand_across_days(pg_db: Database) -> None:
    """Rows of two UTC days create two daily partitions (plus the next day's, ahead of midnight), attached to
    stream_scores, and each row is stored in its day's partition (tableoid), none in the default."""
    sid = _stream(pg_db)
    d1, d2 = date(2031, 6, 1), date(2031, 6, 2)
    rows = [ScoreRow(sid, datetime(2031, 6, 1, 23, 59, 59, 500000, tzinfo=UTC), 1.0, 0.1, "real"),
            ScoreRow(sid, datetime(2031, 6, 2, 0, 0, 0, tzinfo=UTC), 1.5, 0.2, "real"),
            ScoreRow(sid, datetime(2031, 6, 2, 8, 0, 0, tzinfo=UTC), 2.0, 0.3, "real")]
    assert series.append_scores(pg_db, rows) == 3
    p1, p2, p3 = (f"{PARTITION_SCHEMA}.{timeseries_ddl.partition_name(d)}" for d in (d1, d2, d2 + timedelta(1)))
    assert {p1, p2, p3, f"{PARTITION_SCHEMA}.stream_scores_default"} <= _attached(pg_db)
    assert _partition_counts(pg_db, sid) == {p1: 1, p2: 2}


def test_rows_in_default_partition_move_when_their_day_is_created(pg_db: Database) -> None:
    """A row that reached the default partition (written without the write path) is moved into its day's
    partition when that partition is made, instead of the creation failing on the overlap."""
    sid = _stream(pg_db)
    day = date(2031, 7, 4)
    with pg_db.transaction() as s:  # plain insert: no partition made for the day, so PostgreSQL uses the default
        s.execute(text("INSERT INTO stream_scores (stream_id, ts, stream_t_s, p_fake, verdict)"
                       " VALUES (:s, '2031-07-04 10:00:00+00', 0.5, 0.4, 'real')"), {"s": sid})
    default = f"{PARTITION_SCHEMA}.stream_scores_default"
    assert _partition_counts(pg_db, sid) == {default: 1}
    series.append_scores(pg_db, [ScoreRow(sid, datetime(2031, 7, 4, 11, tzinfo=UTC), 1.0, 0.5, "real")])
    assert _partition_counts(pg_db, sid) == {f"{PARTITION_SCHEMA}.{timeseries_ddl.partition_name(day)}": 2}


def test_insert_succeeds_when_partition_cannot_be_made_now(pg_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the partition's locks cannot be had (another session holds the parent in SHARE UPDATE EXCLUSIVE,
    as a concurrent ATTACH would), the batch still lands -- in the default partition -- and the next batch,
    once the lock is gone, creates the partition and moves those rows into it."""
    monkeypatch.setattr(timeseries_ddl, "PARTITION_LOCK_TIMEOUT", "200ms")
    sid = _stream(pg_db)
    day = date(2031, 8, 9)
    blocker = pg_db.engine.connect()
    try:
        blocker.execute(text("LOCK TABLE stream_scores IN SHARE UPDATE EXCLUSIVE MODE"))
        first = [ScoreRow(sid, datetime(2031, 8, 9, 1, tzinfo=UTC), 0.0, 0.1, "real")]
        assert series.append_scores(pg_db, first) == 1
        assert _partition_counts(pg_db, sid) == {f"{PARTITION_SCHEMA}.stream_scores_default": 1}
    finally:
        blocker.rollback()
        blocker.close()
    series.append_scores(pg_db, [ScoreRow(sid, datetime(2031, 8, 9, 2, tzinfo=UTC), 1.0, 0.2, "real")])
    assert _partition_counts(pg_db, sid) == {f"{PARTITION_SCHEMA}.{timeseries_ddl.partition_name(day)}": 2}


def test_append_is_one_statement_and_idempotent(db: Database) -> None:
    """A batch re-sent after an unclear failure adds nothing; a Session target joins the caller's transaction."""
    sid = _stream(db)
    rows = _known_series(sid)[:20]
    assert series.append_scores(db, rows) == 20
    assert series.append_scores(db, rows) == 0
    with db.session() as s:
        assert series.append_scores(s, _known_series(sid)[20:25]) == 5
        s.rollback()
    with db.session() as s:
        assert len(series.scores_of(s, sid)) == 20
    with pytest.raises(ValueError, match="timezone-aware"):
        series.append_scores(db, [ScoreRow(sid, datetime(2031, 1, 1), 0.0, 0.1, "real")])


def _expected_10s(rows: list[ScoreRow]) -> list[Bucket]:
    """What 10 s buckets of ``_known_series`` must be, computed in Python from the same rows."""
    out = []
    for k in range(12):
        chunk = rows[10 * k : 10 * k + 10]
        audio = [r.audio_p for r in chunk if r.audio_p is not None]
        out.append(Bucket(
            start=T0 + timedelta(seconds=10 * k), avg_p_fake=sum(r.p_fake for r in chunk) / 10,
            max_p_fake=max(r.p_fake for r in chunk), avg_visual_p=sum(r.visual_p or 0 for r in chunk) / 10,
            avg_audio_p=sum(audio) / len(audio), count=10, last_verdict=chunk[-1].verdict,
        ))
    return out


def test_bucketed_series_known_numbers(db: Database) -> None:
    """120 rows over 2 minutes in 10 s buckets: 12 buckets of 10 with exact averages (the sums are exact in
    binary, so each backend's one division is correctly rounded and equal to Python's)."""
    sid = _stream(db)
    rows = _known_series(sid)
    series.append_scores(db, rows)
    with db.session() as s:
        got = series.query_series(s, sid, T0, T0 + timedelta(minutes=2), 10)
    assert got == _expected_10s(rows)
    assert got[0].avg_p_fake == pytest.approx(4.5 / 128, abs=0) and got[0].avg_audio_p == pytest.approx(4 / 32)
    assert got[0].last_verdict == "fake" and got[0].start.tzinfo is not None


def test_buckets_align_to_epoch_and_handle_fractions(db: Database) -> None:
    """Buckets align to the epoch, not to the query's start; [start, end) is half-open; 2.5 s buckets
    exercise sub-second bucket arithmetic (rows sit at +0.25 s: counts alternate 3, 2)."""
    sid = _stream(db)
    series.append_scores(db, _known_series(sid))
    with db.session() as s:
        shifted = series.query_series(s, sid, T0 + timedelta(seconds=3), T0 + timedelta(seconds=20.25), 10)
        fine = series.query_series(s, sid, T0, T0 + timedelta(seconds=10), 2.5)
        empty = series.query_series(s, sid, T0 - timedelta(hours=1), T0, 10)
    assert [(b.start, b.count) for b in shifted] == [(T0, 7), (T0 + timedelta(seconds=10), 10)]
    assert [b.count for b in fine] == [3, 2, 3, 2]
    assert [b.start for b in fine] == [T0 + timedelta(seconds=2.5 * k) for k in range(4)]
    assert empty == []


def test_backends_agree(sqlite_db: Database, pg_db: Database) -> None:
    """Same rows -> same buckets on SQLite and PostgreSQL, including an irregular series with awkward floats."""
    irregular = [0.0, 0.3, 7.9, 8.0, 13.37, 29.999999, 30.0, 61.5, 119.0]
    results = []
    for database in (sqlite_db, pg_db):
        sid = _stream(database)
        rows = _known_series(sid) + [
            ScoreRow(sid, T0 + timedelta(minutes=5, seconds=t), 500 + t, (t * 0.1) % 1, "uncertain", visual_p=None,
                     audio_p=0.3) for t in irregular
        ]
        series.append_scores(database, rows)
        with database.session() as s:
            results.append([series.query_series(s, sid, T0, T0 + timedelta(minutes=10), b) for b in (7, 60, 0.5)])
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    us = [(r.ts - epoch) // timedelta(microseconds=1) for r in rows]
    expected_counts = [len({u // round(b * 1e6) for u in us}) for b in (7, 60, 0.5)]
    assert [len(r) for r in results[0]] == [len(r) for r in results[1]] == expected_counts
    for a, b in zip(*results, strict=True):
        assert [(x.start, x.count, x.last_verdict, x.max_p_fake, x.avg_visual_p is None) for x in a] == \
               [(y.start, y.count, y.last_verdict, y.max_p_fake, y.avg_visual_p is None) for y in b]
        for x, y in zip(a, b, strict=True):
            assert x.avg_p_fake == pytest.approx(y.avg_p_fake, rel=1e-12)
            assert (x.avg_audio_p is None) == (y.avg_audio_p is None)
            if x.avg_audio_p is not None:
                assert x.avg_audio_p == pytest.approx(y.avg_audio_p, rel=1e-12)


def test_query_guards(db: Database) -> None:
    sid = _stream(db)
    with db.session() as s:
        for bad in (0, -1, float("nan"), 1e-9):
            with pytest.raises(RequestError):
                series.query_series(s, sid, T0, T0 + timedelta(seconds=10), bad)
        with pytest.raises(RequestError, match="buckets"):
            series.query_series(s, sid, T0, T0 + timedelta(days=2), 1)
        with pytest.raises(RequestError):
            series.query_series(s, sid, datetime(2031, 1, 1), datetime(2031, 1, 2), 60)


# --- the Timescale path: branching, and what plain PostgreSQL can check of its SQL ------------------------------


def test_layout_branches_emit_each_paths_ddl(pg_db: Database, sqlite_db: Database) -> None:
    """Each layout's DDL list has its defining statements, and ts is in the primary key of both PostgreSQL
    paths. On this server the extension is absent, so the migration-time choice must be the partitioned one
    (the test reads the real catalog, so on a server with Timescale it expects Timescale instead)."""
    ts_ddl = "\n".join(timeseries_ddl.ddl_for(Layout.TIMESCALE))
    assert "create_hypertable('stream_scores', 'ts'" in ts_ddl
    assert "WITH (timescaledb.continuous)" in ts_ddl and "time_bucket(INTERVAL '1 minute', ts)" in ts_ddl
    assert "add_continuous_aggregate_policy('stream_scores_1m'" in ts_ddl and "PARTITION BY" not in ts_ddl
    part_ddl = "\n".join(timeseries_ddl.ddl_for(Layout.PARTITIONED))
    assert "PARTITION BY RANGE (ts)" in part_ddl and "PARTITION OF stream_scores DEFAULT" in part_ddl
    assert "timescale" not in part_ddl.lower()
    for ddl in (ts_ddl, part_ddl):
        assert "PRIMARY KEY (stream_id, ts, stream_t_s)" in ddl
    with pg_db.engine.connect() as conn:
        available = conn.scalar(text("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"))
        chosen = timeseries_ddl.choose_layout(conn)
        conn.rollback()
    assert chosen is (Layout.TIMESCALE if available else Layout.PARTITIONED)
    with sqlite_db.engine.connect() as conn:
        assert timeseries_ddl.choose_layout(conn) is Layout.SQLITE


STUBS = [
    # Timescale's documented parameter names, so the named arguments in our DDL must match them to bind.
    """CREATE FUNCTION create_hypertable(relation regclass, time_column_name name,
           chunk_time_interval interval DEFAULT NULL) RETURNS void LANGUAGE plpgsql AS $$
       BEGIN
         IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = relation AND attname = time_column_name
                        AND atttypid = 'timestamptz'::regtype) THEN
           RAISE EXCEPTION 'no timestamptz column % in %', time_column_name, relation;
         END IF;
       END $$""",
    """CREATE FUNCTION time_bucket(bucket_width interval, ts timestamptz) RETURNS timestamptz
       LANGUAGE sql IMMUTABLE AS $$ SELECT date_bin(bucket_width, ts, '2000-01-03 00:00:00+00') $$""",
    """CREATE FUNCTION time_bucket(bucket_width interval, ts timestamptz, origin timestamptz) RETURNS timestamptz
       LANGUAGE sql IMMUTABLE AS $$ SELECT date_bin(bucket_width, ts, origin) $$""",
    """CREATE FUNCTION add_continuous_aggregate_policy(continuous_aggregate regclass, start_offset interval,
           end_offset interval, schedule_interval interval) RETURNS integer LANGUAGE sql AS $$ SELECT 1 $$""",
]


def _stub_schema(conn: Connection, name: str) -> None:
    conn.execute(text(f'CREATE SCHEMA "{name}"'))
    conn.execute(text(f'SET LOCAL search_path = "{name}", public'))
    for stub in STUBS:
        conn.execute(text(stub))


def test_timescale_ddl_parses_and_binds_on_plain_postgres(pg_db: Database) -> None:
    """Runs every Timescale statement on plain PostgreSQL inside a transaction that is rolled back, with stub
    functions named create_hypertable / time_bucket / add_continuous_aggregate_policy in a scratch schema on
    the search path. This proves PostgreSQL parses and binds each statement: the table definition, the
    named arguments against Timescale's parameter names, the columns and GROUP BY of the aggregate's query.
    It does NOT prove Timescale accepts them: ``WITH (timescaledb.continuous)`` is stripped (plain PostgreSQL
    rejects that option), so Timescale's own continuous-aggregate rules are not checked, and the stubs do
    nothing. The stub create_hypertable does check that the time column exists and is a timestamptz."""
    statements = timeseries_ddl.ddl_for(Layout.TIMESCALE)
    stripped = [s.replace(" WITH (timescaledb.continuous)", "") for s in statements]
    assert sum(a != b for a, b in zip(statements, stripped, strict=True)) == 1
    scratch = f"tscheck_{uuid.uuid4().hex[:8]}"
    with pg_db.engine.connect() as conn:
        _stub_schema(conn, scratch)
        for statement in stripped:
            conn.execute(text(statement))
        made = conn.execute(text(
            "SELECT c.relname, c.relkind::text AS kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = :n AND c.relkind IN ('r', 'm') ORDER BY 1"), {"n": scratch}).all()
        conn.rollback()
    assert [tuple(r) for r in made] == [("stream_scores", "r"), ("stream_scores_1m", "m")]
    with pytest.raises(DBAPIError, match="no timestamptz column"), pg_db.engine.connect() as conn:
        _stub_schema(conn, f"tscheck_{uuid.uuid4().hex[:8]}")
        conn.execute(text(re.sub(r"'ts'", "'verdict'", statements[1])))


def test_timescale_query_binds_to_time_bucket_origin_overload(pg_db: Database) -> None:
    """The Timescale query calls time_bucket(interval, timestamptz, timestamptz) -- Timescale's origin
    overload. With a stub of that signature (delegating to date_bin) the statement runs and returns what the
    date_bin path returns. This proves the SQL is well-formed and its argument types pick that overload
    (not the (interval, timestamptz, interval) offset one); it says nothing about Timescale's own bucketing."""
    sid = _stream(pg_db)
    series.append_scores(pg_db, _known_series(sid))
    start, end = T0, T0 + timedelta(minutes=2)
    with pg_db.session() as s:
        expected = series.query_series(s, sid, start, end, 10)
    with pg_db.engine.connect() as conn:
        _stub_schema(conn, f"tscheck_{uuid.uuid4().hex[:8]}")
        conn.execute(text("CREATE FUNCTION time_bucket(w interval, ts timestamptz, \"offset\" interval)"
                          " RETURNS timestamptz LANGUAGE sql AS $$ SELECT NULL::timestamptz $$"))
        rows = conn.execute(series.series_statement(Layout.TIMESCALE, sid, start, end, 10)).all()
        conn.rollback()
    assert [(r.bucket, float(r.avg_p_fake), r.n, r.last_verdict) for r in rows] == \
           [(b.start, b.avg_p_fake, b.count, b.last_verdict) for b in expected]
