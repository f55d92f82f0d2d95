"""How ``stream_scores`` is laid out on each backend, and the DDL for each layout.

Three layouts, chosen once by migration 0002 from what the database offers:

- ``timescale``: the extension is installed or installable -> a hypertable on ``ts`` plus a 1-minute
  continuous aggregate (``stream_scores_1m``) refreshed by a policy. Timescale makes its own chunks.
- ``partitioned``: plain PostgreSQL -> ``PARTITION BY RANGE (ts)`` with daily partitions created on demand by
  the write path (``ensure_partitions``) and a default partition, so an insert never fails for want of one.
  Partitions live in their own schema (``stream_scores_parts``), the way Timescale keeps chunks out of the
  way, so reflection of the main schema still matches ``models.py``.
- ``sqlite``: a plain table whose primary key (stream_id, ts, stream_t_s) is the (stream_id, ts) index.

Migration 0002 runs ``ddl_for``; changing a statement here changes what that migration creates, so a schema
change needs a new migration (and new statements), not an edit of these.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterable
from datetime import date, timedelta
from enum import StrEnum

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from framesentry.errors import ConfigError

log = logging.getLogger(__name__)

SCORES_TABLE = "stream_scores"
PARTITION_SCHEMA = "stream_scores_parts"
DEFAULT_PARTITION = "stream_scores_default"
CAGG_VIEW = "stream_scores_1m"
PARTITION_LOCK_TIMEOUT = "5s"
"""A partition is created under a short lock timeout: if it cannot get its locks, rows go to the default."""

COLUMNS = ("stream_id", "ts", "stream_t_s", "p_fake", "visual_p", "audio_p", "verdict", "latency_ms")


class Layout(StrEnum):
    SQLITE = "sqlite"
    PARTITIONED = "partitioned"
    TIMESCALE = "timescale"
    PLAIN = "plain"
    """A plain PostgreSQL table (only if someone dropped the extension after migrating; queries still work)."""


def create_scores_table_sql(*, partitioned: bool) -> str:
    """The PostgreSQL CREATE TABLE (same columns and constraint names as ``models.StreamScore``)."""
    return (
        f"CREATE TABLE {SCORES_TABLE} (\n"
        "    stream_id UUID NOT NULL,\n"
        "    ts TIMESTAMP WITH TIME ZONE NOT NULL,\n"
        "    stream_t_s DOUBLE PRECISION NOT NULL,\n"
        "    p_fake DOUBLE PRECISION NOT NULL,\n"
        "    visual_p DOUBLE PRECISION,\n"
        "    audio_p DOUBLE PRECISION,\n"
        "    verdict VARCHAR(16) NOT NULL,\n"
        "    latency_ms DOUBLE PRECISION,\n"
        f"    CONSTRAINT pk_{SCORES_TABLE} PRIMARY KEY (stream_id, ts, stream_t_s),\n"
        f"    CONSTRAINT fk_{SCORES_TABLE}_stream_id_streams FOREIGN KEY (stream_id)"
        " REFERENCES streams (id) ON DELETE CASCADE\n"
        ")" + (" PARTITION BY RANGE (ts)" if partitioned else "")
    )


def timescale_ddl() -> list[str]:
    """Hypertable (1-day chunks) + continuous aggregate of 1-minute buckets + its refresh policy.

    ``WITH NO DATA`` because Alembic runs inside a transaction, where Timescale refuses to materialise a
    continuous aggregate; the policy fills it within a minute.
    """
    bucket = "time_bucket(INTERVAL '1 minute', ts)"
    return [
        create_scores_table_sql(partitioned=False),
        f"SELECT create_hypertable('{SCORES_TABLE}', 'ts', chunk_time_interval => INTERVAL '1 day')",
        f"CREATE MATERIALIZED VIEW {CAGG_VIEW} WITH (timescaledb.continuous) AS\n"
        f"SELECT stream_id, {bucket} AS bucket, avg(p_fake) AS avg_p_fake, max(p_fake) AS max_p_fake,"
        " count(*) AS n\n"
        f"FROM {SCORES_TABLE}\n"
        f"GROUP BY stream_id, {bucket}\n"
        "WITH NO DATA",
        f"SELECT add_continuous_aggregate_policy('{CAGG_VIEW}', start_offset => INTERVAL '1 day',"
        " end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute')",
    ]


def partitioned_ddl() -> list[str]:
    """Range-partitioned parent + default partition; daily partitions come from ``ensure_partitions``."""
    return [
        f"CREATE SCHEMA IF NOT EXISTS {PARTITION_SCHEMA}",
        create_scores_table_sql(partitioned=True),
        f"CREATE TABLE {PARTITION_SCHEMA}.{DEFAULT_PARTITION} PARTITION OF {SCORES_TABLE} DEFAULT",
    ]


def ddl_for(layout: Layout) -> list[str]:
    """The PostgreSQL statements that create ``stream_scores`` in ``layout`` (SQLite uses ``op.create_table``)."""
    if layout is Layout.TIMESCALE:
        return timescale_ddl()
    if layout is Layout.PARTITIONED:
        return partitioned_ddl()
    if layout is Layout.PLAIN:
        return [create_scores_table_sql(partitioned=False)]
    raise ValueError(f"no PostgreSQL DDL for layout {layout}")


def drop_ddl() -> list[str]:
    """Undo any PostgreSQL layout (the view first: it depends on the hypertable)."""
    return [
        f"DROP MATERIALIZED VIEW IF EXISTS {CAGG_VIEW} CASCADE",
        f"DROP TABLE IF EXISTS {SCORES_TABLE} CASCADE",
        f"DROP SCHEMA IF EXISTS {PARTITION_SCHEMA} CASCADE",
    ]


def choose_layout(conn: Connection) -> Layout:
    """Migration-time choice. May run ``CREATE EXTENSION timescaledb`` (in a savepoint: if the extension is
    available but cannot be created -- not preloaded, no privilege -- the plain partitioned path is used)."""
    if conn.dialect.name == "sqlite":
        return Layout.SQLITE
    if conn.scalar(text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")):
        return Layout.TIMESCALE
    if not conn.scalar(text("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")):
        return Layout.PARTITIONED
    try:
        with conn.begin_nested():
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS timescaledb"))
    except DBAPIError as exc:
        log.warning("timescaledb is available but could not be created (%s); using native partitions",
                    exc.orig)
        return Layout.PARTITIONED
    return Layout.TIMESCALE


_layouts: weakref.WeakKeyDictionary[Engine, Layout] = weakref.WeakKeyDictionary()
_partitions: weakref.WeakKeyDictionary[Engine, set[date]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def detect_layout(engine: Engine) -> Layout:
    """What migration 0002 built here; looked up once per engine (pg_extension + the table's relkind)."""
    cached = _layouts.get(engine)
    if cached is not None:
        return cached
    if engine.dialect.name == "sqlite":
        layout = Layout.SQLITE
    else:
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT c.relkind::text AS relkind,"
                    " EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') AS timescale"
                    " FROM pg_class c WHERE c.oid = to_regclass(:t)"
                ),
                {"t": SCORES_TABLE},
            ).first()
            if row is None:
                raise ConfigError(f"table {SCORES_TABLE} does not exist: the database schema is not migrated")
            if row.relkind == "p":
                layout = Layout.PARTITIONED
            elif row.timescale and conn.scalar(
                text("SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = :t"),
                {"t": SCORES_TABLE},
            ):
                layout = Layout.TIMESCALE
            else:
                layout = Layout.PLAIN
    with _lock:
        _layouts[engine] = layout
    return layout


def partition_name(day: date) -> str:
    return f"{SCORES_TABLE}_p{day:%Y%m%d}"


def partition_ddl(day: date) -> list[str]:
    """Create one day's partition, moving that day's rows out of the default partition first.

    ``CREATE TABLE ... PARTITION OF`` would fail if the default partition already holds rows of that day
    (written while the partition could not be made), and it locks the parent exclusively; building the table
    apart and ``ATTACH``-ing it avoids both (ATTACH takes only SHARE UPDATE EXCLUSIVE on the parent).
    """
    name = f"{PARTITION_SCHEMA}.{partition_name(day)}"
    lo, hi = f"{day.isoformat()} 00:00:00+00", f"{(day + timedelta(days=1)).isoformat()} 00:00:00+00"
    cols = ", ".join(COLUMNS)
    return [
        f"CREATE TABLE {name} (LIKE {SCORES_TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)",
        f"WITH moved AS (DELETE FROM {PARTITION_SCHEMA}.{DEFAULT_PARTITION}"
        f" WHERE ts >= '{lo}' AND ts < '{hi}' RETURNING {cols})"
        f" INSERT INTO {name} ({cols}) SELECT {cols} FROM moved",
        f"ALTER TABLE {SCORES_TABLE} ATTACH PARTITION {name} FOR VALUES FROM ('{lo}') TO ('{hi}')",
    ]


def _create_partition(engine: Engine, day: date) -> None:
    """One committed transaction per day, serialised across processes by an advisory lock on its name."""
    name = partition_name(day)
    with engine.begin() as conn:
        conn.execute(text(f"SET LOCAL lock_timeout = '{PARTITION_LOCK_TIMEOUT}'"))
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:n))"), {"n": f"framesentry.{name}"})
        if conn.scalar(text("SELECT to_regclass(:n)"), {"n": f"{PARTITION_SCHEMA}.{name}"}) is not None:
            return
        for statement in partition_ddl(day):
            conn.execute(text(statement))
        log.info("created partition %s.%s", PARTITION_SCHEMA, name)


def ensure_partitions(engine: Engine, days: Iterable[date], ahead_days: int = 1) -> set[date]:
    """Make sure each day (and ``ahead_days`` after the last, so midnight needs no DDL) has a partition.

    Runs on its own connection and commits, so a partition outlives the caller's transaction. Known days are
    cached per engine. A day that cannot be created now is logged and retried on the next call: its rows go
    to the default partition meanwhile and are moved out when the partition is finally made. Returns the
    days still missing (empty when all are in place).
    """
    if detect_layout(engine) is not Layout.PARTITIONED:
        return set()
    wanted = set(days)
    if wanted and ahead_days > 0:
        last = max(wanted)
        wanted.update(last + timedelta(days=i) for i in range(1, ahead_days + 1))
    with _lock:
        known = _partitions.setdefault(engine, set())
        todo = sorted(wanted - known)
    missing: set[date] = set()
    for day in todo:
        try:
            _create_partition(engine, day)
        except DBAPIError as exc:
            log.warning("partition for %s not created now (rows go to the default partition): %s", day, exc.orig)
            missing.add(day)
            continue
        with _lock:
            known.add(day)
    return missing


def forget_partitions(engine: Engine) -> None:
    """Drop this process's memory of existing partitions (after partitions were dropped by hand)."""
    with _lock:
        _partitions.pop(engine, None)
