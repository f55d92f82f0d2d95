"""Live detection: stream keys, streams, and the stream_scores time series.

``stream_scores`` depends on the backend, decided here at migration time (see ``store/timeseries_ddl.py``):
Timescale hypertable + continuous aggregate when the extension is available, else a range-partitioned table
with a default partition on PostgreSQL, else a plain table on SQLite.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from framesentry.store import timeseries_ddl
from framesentry.store.timeseries_ddl import Layout

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
LIVE_ONLY = sa.text("state = 'live'")


def upgrade() -> None:
    op.create_table(
        "stream_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("key_sha256", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_used_at", TS, nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_stream_keys_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stream_keys")),
        sa.UniqueConstraint("key_sha256", name=op.f("uq_stream_keys_key_sha256")),
    )
    op.create_index(op.f("ix_stream_keys_owner_id"), "stream_keys", ["owner_id"])
    op.create_table(
        "streams",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("end_reason", sa.String(length=255), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=True),
        sa.Column("p_fake", sa.Float(), nullable=True),
        sa.Column("windows_scored", sa.Integer(), nullable=False),
        sa.Column("windows_dropped", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("source IN ('rtmp', 'whip')", name=op.f("ck_streams_source")),
        sa.CheckConstraint("state IN ('live', 'ended', 'failed')", name=op.f("ck_streams_state")),
        sa.ForeignKeyConstraint(
            ["key_id"], ["stream_keys.id"], name=op.f("fk_streams_key_id_stream_keys"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_streams_owner_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_streams")),
    )
    op.create_index(op.f("ix_streams_key_id"), "streams", ["key_id"])
    op.create_index(op.f("ix_streams_state"), "streams", ["state"])
    op.create_index("ix_streams_owner_started", "streams", ["owner_id", "started_at"])
    op.create_index("uq_streams_live_key", "streams", ["key_id"], unique=True,
                    postgresql_where=LIVE_ONLY, sqlite_where=LIVE_ONLY)

    layout = timeseries_ddl.choose_layout(op.get_bind())
    if layout is Layout.SQLITE:
        op.create_table(
            "stream_scores",
            sa.Column("stream_id", sa.Uuid(), nullable=False),
            sa.Column("ts", TS, nullable=False),
            sa.Column("stream_t_s", sa.Float(), nullable=False),
            sa.Column("p_fake", sa.Float(), nullable=False),
            sa.Column("visual_p", sa.Float(), nullable=True),
            sa.Column("audio_p", sa.Float(), nullable=True),
            sa.Column("verdict", sa.String(length=16), nullable=False),
            sa.Column("latency_ms", sa.Float(), nullable=True),
            sa.ForeignKeyConstraint(["stream_id"], ["streams.id"], name=op.f("fk_stream_scores_stream_id_streams"),
                                    ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("stream_id", "ts", "stream_t_s", name=op.f("pk_stream_scores")),
        )
    else:
        for statement in timeseries_ddl.ddl_for(layout):
            op.execute(sa.text(statement))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_table("stream_scores")
    else:
        for statement in timeseries_ddl.drop_ddl():
            op.execute(sa.text(statement))
    op.drop_index("uq_streams_live_key", table_name="streams")
    op.drop_table("streams")
    op.drop_table("stream_keys")
