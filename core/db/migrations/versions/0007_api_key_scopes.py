"""API keys' scope (full, chat, upload) and allowed browser origins (the widget)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing keys keep doing everything their user may, from anywhere.
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(
            sa.Column("scope", sa.String(length=16), nullable=False, server_default="full")
        )
        batch.add_column(
            sa.Column("allowed_origins", sa.JSON(), nullable=False, server_default="[]")
        )


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("allowed_origins")
        batch.drop_column("scope")
