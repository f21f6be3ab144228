"""Which versions of documents a search may answer with: the database's word on what the
vector store holds for a moment (``retrieval.served``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from core.db.models import Document, DocumentStatus
from core.db.session import SessionFactory, connection


def served_versions(
    session: Session | Connection, pairs: Sequence[tuple[str, int]]
) -> set[tuple[str, int]]:
    """Which of these (document, version) pairs a search may answer with: the ready version
    of a ready document; while a new version is being ingested (or failed), the versions
    before it (the last ready one: older ones were dropped when it became ready). Never a
    version still being written, one left behind by a newer ready version, or a document
    that is gone: the store may hold those for a moment (a slice in flight while the
    document was deleted or replaced) or, after a crash, until a sweep removes them."""
    ids = sorted({doc_id for doc_id, _ in pairs})
    if not ids:
        return set()
    rows = {
        row.id: row
        for row in session.execute(
            select(Document.id, Document.version, Document.status).where(Document.id.in_(ids))
        )
    }
    served: set[tuple[str, int]] = set()
    for doc_id, version in pairs:
        row = rows.get(doc_id)
        if row is None:
            continue
        ready = row.status == DocumentStatus.READY
        if version == row.version if ready else version < row.version:
            served.add((doc_id, version))
    return served


def lookup_served(
    sessions: SessionFactory, pairs: Sequence[tuple[str, int]]
) -> set[tuple[str, int]]:
    """:func:`served_versions` on a plain connection: it runs on every search, where building
    and closing a Session cost more than the query."""
    with connection(sessions) as conn:
        return served_versions(conn, pairs)
