"""API keys with roles, expiry and a public id (no part of the secret kept); the upload outbox marker.

``api_keys.prefix`` held the first six characters of each key, i.e. short keys whole: it is replaced by
``public_id`` (random, or derived from the digest for existing rows). Existing keys came from
FRAMESENTRY_API_KEYS and had every right: they become ``admin`` keys with source ``config`` (the next start
reconciles them with the setting). ``analyses.enqueued_at`` is set once the job's message is published; a
``queued`` row without it was never handed to the broker (the API died in between) and the sweeper sends it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("public_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("name", sa.String(length=100), nullable=False, server_default=""))
        batch.add_column(sa.Column("role", sa.String(length=16), nullable=False, server_default="admin"))
        batch.add_column(sa.Column("source", sa.String(length=8), nullable=False, server_default="config"))
        batch.add_column(sa.Column("expires_at", TS, nullable=True))
    op.execute(sa.text("UPDATE api_keys SET public_id = substr(key_sha256, 1, 12)"))
    with op.batch_alter_table("api_keys") as batch:
        batch.alter_column("public_id", existing_type=sa.String(length=32), nullable=False)
        batch.create_unique_constraint(op.f("uq_api_keys_public_id"), ["public_id"])
        batch.drop_column("prefix")
    with op.batch_alter_table("analyses") as batch:
        batch.add_column(sa.Column("enqueued_at", TS, nullable=True))
    op.execute(sa.text("UPDATE analyses SET enqueued_at = created_at"))  # assume rows from before were published


def downgrade() -> None:
    with op.batch_alter_table("analyses") as batch:
        batch.drop_column("enqueued_at")
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("prefix", sa.String(length=12), nullable=False, server_default=""))
    op.execute(sa.text("UPDATE api_keys SET prefix = public_id"))
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_constraint(op.f("uq_api_keys_public_id"), type_="unique")
        for column in ("expires_at", "source", "role", "name", "public_id"):
            batch.drop_column(column)
