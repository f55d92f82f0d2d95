"""Explanations: artifacts of the deep pass (and of live verdict changes), with names and media types.

``explanations`` existed since 0001 as a bare (kind, storage_key, data) row per analysis. The deep pass
stores one ``kind='deep_pass'`` row per analysis (status, stage, progress and the explanation JSON in
``data``) and one ``kind='artifact'`` row per file (``name``, ``media_type``, ``storage_key``). A live
stream's explanation belongs to the stream, so ``analysis_id`` becomes nullable and ``stream_id`` is added;
both cascade on delete.

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("explanations") as batch:
        batch.add_column(sa.Column("stream_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("name", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("media_type", sa.String(length=127), nullable=True))
        batch.alter_column("analysis_id", existing_type=sa.Uuid(), nullable=True)
        batch.create_foreign_key(
            "fk_explanations_stream_id_streams", "streams", ["stream_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index("ix_explanations_stream_id", ["stream_id"])


def downgrade() -> None:
    op.execute("DELETE FROM explanations WHERE analysis_id IS NULL")
    with op.batch_alter_table("explanations") as batch:
        batch.drop_index("ix_explanations_stream_id")
        batch.drop_constraint("fk_explanations_stream_id_streams", type_="foreignkey")
        batch.alter_column("analysis_id", existing_type=sa.Uuid(), nullable=False)
        batch.drop_column("media_type")
        batch.drop_column("name")
        batch.drop_column("stream_id")
