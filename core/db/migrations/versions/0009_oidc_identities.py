"""single sign-on: users' e-mail and their OpenID Connect subject

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # An e-mail names one user per tenant, whatever its case (both SQLite and PostgreSQL
    # index expressions; several users without an e-mail are fine: NULLs are distinct).
    # A tenant already holding the same address twice makes this fail: fix those first.
    op.create_index(
        "ux_users_tenant_email",
        "users",
        ["tenant_id", sa.text("lower(email)")],
        unique=True,
    )
    op.create_table(
        "oidc_identities",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "issuer", "subject"),
        sa.UniqueConstraint("user_id", "issuer"),
    )
    op.create_index("ix_oidc_identities_user_id", "oidc_identities", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_oidc_identities_user_id", table_name="oidc_identities")
    op.drop_table("oidc_identities")
    op.drop_index("ux_users_tenant_email", table_name="users")
