"""the access version the vector store carries; who issued each API key

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in core.db.models (a migration keeps its own copy: the model may change later).
STORE_BEHIND = "store_access_version IS NULL OR store_access_version < access_version"


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("store_access_version", sa.Integer(), nullable=True))
    # A ready document's chunks were written with its list when it was embedded, and every
    # change since was applied after its commit: take the store to be in line. Any other
    # document (being ingested, failed) is left unknown (NULL), so the first reconciliation
    # writes its committed list to whatever chunks it has, once.
    documents = sa.table(
        "documents",
        sa.column("status", sa.String),
        sa.column("access_version", sa.Integer),
        sa.column("store_access_version", sa.Integer),
    )
    op.execute(
        documents.update()
        .where(documents.c.status == "ready")
        .values(store_access_version=documents.c.access_version)
    )
    behind = sa.text(STORE_BEHIND)
    op.create_index(
        "ix_documents_store_behind",
        "documents",
        ["id"],
        unique=False,
        postgresql_where=behind,
        sqlite_where=behind,
    )
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("created_by", sa.String(length=36), nullable=True))
        batch.create_foreign_key(
            "fk_api_keys_created_by_users", "users", ["created_by"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_constraint("fk_api_keys_created_by_users", type_="foreignkey")
        batch.drop_column("created_by")
    op.drop_index("ix_documents_store_behind", table_name="documents")
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("store_access_version")
