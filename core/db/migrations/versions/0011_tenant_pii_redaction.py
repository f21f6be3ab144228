"""tenant settings: personal-data redaction mode (off / ingest / answers / both)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Null: the deployment's default (ZHIKU_PII__DEFAULT_MODE), so existing rows keep it.
    with op.batch_alter_table("tenant_settings") as batch:
        batch.add_column(sa.Column("pii_redaction", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tenant_settings") as batch:
        batch.drop_column("pii_redaction")
