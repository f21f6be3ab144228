"""feedback (thumbs up/down, a comment) on answer records (the chat page)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("answer_records", sa.Column("feedback", sa.String(8), nullable=True))
    op.add_column("answer_records", sa.Column("feedback_comment", sa.Text(), nullable=True))
    op.add_column(
        "answer_records",
        sa.Column("feedback_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("answer_records", "feedback_at")
    op.drop_column("answer_records", "feedback_comment")
    op.drop_column("answer_records", "feedback")
