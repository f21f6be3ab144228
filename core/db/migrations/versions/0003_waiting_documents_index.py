"""an index for the documents waiting for a stage

Workers look up what else waits for their stage on every message (``core.db.stage_queue``); a
partial index over the unfinished documents keeps that lookup off the finished ones.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 06:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNFINISHED = sa.text("status IN ('queued', 'processing')")


def upgrade() -> None:
    op.create_index(
        "ix_documents_waiting",
        "documents",
        ["stage", "updated_at"],
        postgresql_where=UNFINISHED,
        sqlite_where=UNFINISHED,
    )


def downgrade() -> None:
    op.drop_index("ix_documents_waiting", table_name="documents")
