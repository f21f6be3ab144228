"""documents: tags stored before they were folded, in the form new uploads store

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 20:00:00

Tags stored before ``core.text_forms.stored_tags`` may hold full-width forms (ＨＲ) or several
tags in one (人事，２０２６, split before only at the ASCII comma): the filter HR missed ＨＲ.
Each row's tags become ``stored_tags(tags)``, as an upload stores them now: split at the commas
people type, full-width forms folded, trimmed, each kept once. The script and case are kept,
so distinct tags stay distinct (HR and hr, 公开 and 公開 are each kept as written).

A row whose tags changed gets ``store_access_version`` NULL ("the store's copy is unknown"):
the chunks in the vector store carry the tags they were written with, and the access
reconcile (``core.db.access``, rule 6: run at the API's and the worker's start and by the
sweeper) rewrites their tags with their access list, no re-embedding. Idempotent: a second run
finds every row in its stored form and changes nothing. The downgrade keeps the folded tags
(the typed forms are not kept; the folded ones mean the same to every filter).
"""

import re
import unicodedata
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000

# The rule as it stood when this revision was written (``core.text_forms.stored_tags`` of
# 2026-12-03), frozen here: a migration must do the same thing whatever the live code
# becomes later. A test checks the two still agree today.
_SEPARATORS = re.compile("[,\uff0c\u3001]")


def stored_tags(tags: Iterable[str]) -> list[str]:
    def fold(text: str) -> str:
        return text if text.isascii() else unicodedata.normalize("NFKC", text)

    folded = (fold(part).strip() for tag in tags for part in _SEPARATORS.split(tag))
    return list(dict.fromkeys(tag for tag in folded if tag))


documents = sa.table(
    "documents",
    sa.column("id", sa.String),
    sa.column("tags", sa.JSON),
    sa.column("store_access_version", sa.Integer),
)


def upgrade() -> None:
    connection = op.get_bind()
    after = ""
    while True:
        # Keyset pages by id: a tenant's millions of rows never sit in memory at once.
        rows = connection.execute(
            sa.select(documents.c.id, documents.c.tags)
            .where(documents.c.id > after)
            .order_by(documents.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        changed = [
            {"row_id": row.id, "folded": folded}
            for row in rows
            if isinstance(row.tags, list)
            and (folded := stored_tags(str(tag) for tag in row.tags)) != row.tags
        ]
        if changed:
            connection.execute(
                documents.update()
                .where(documents.c.id == sa.bindparam("row_id"))
                .values(
                    tags=sa.bindparam("folded", type_=sa.JSON),
                    store_access_version=None,
                ),
                changed,
            )
        after = rows[-1].id


def downgrade() -> None:
    pass
