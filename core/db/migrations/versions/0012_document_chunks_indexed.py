"""documents: chunks_indexed, where a document embedded a slice at a time resumes

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 05:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # 0 for existing rows: an unfinished document is embedded from its first chunk, as before.
    with op.batch_alter_table("documents") as batch:
        batch.add_column(
            sa.Column("chunks_indexed", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("chunks_indexed")
