"""Claiming a group of documents for a stage run, as plain rows.

A stage claims up to 128 documents at a time, twice per document (parse, then embed), so the
claim is on every document's path: loading each as an ORM ``Document`` (with its access list
as ORM rows, marked dirty by the stage change and flushed row by row) cost more CPU than the
statements themselves on short files (docs/benchmarks.md, issue 12, session 20). Here the
claim reads only the columns a run needs, in three statements whatever the group's size:
the claim itself (``core.db.documents.claim_many``'s update), the claimed rows, their access
tokens; and one more to move the documents to the stage.

The order of the reads matters for access (``core.db.access``, rule 3): the list is read
after its version, in the transaction that holds the claim's row locks, so a run never
writes an older list under a newer version.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.db.documents import claim_versions
from core.db.models import Document, DocumentAccess

_DOCS = Document.__table__
_ACCESS = DocumentAccess.__table__


class ClaimedDocument(NamedTuple):
    """What a stage run needs of a document it claimed, read in the claiming transaction."""

    id: str
    version: int
    tenant_id: str
    owner_id: str | None
    filename: str
    title: str
    mime_type: str
    access: list[str]
    access_version: int | None
    store_access_version: int | None
    tags: list[str] | None
    created_at: datetime
    content_hash: str
    attempts: int
    stage: str
    chunks_total: int | None
    chunks_indexed: int | None


_COLUMNS = [_DOCS.c[name] for name in ClaimedDocument._fields if name != "access"]


def claim_documents(
    session: Session, items: Sequence[tuple[str, int]], stale_after: timedelta
) -> tuple[str, dict[str, ClaimedDocument]]:
    """Claim ``items`` (id, version) as ``claim_many`` does and read the claimed ones. Returns
    the claim's token and the claimed documents by id (those not claimed are absent)."""
    token = claim_versions(session, items, stale_after)
    ids = list(dict.fromkeys(doc_id for doc_id, _ in items))
    if not ids:
        return token, {}
    conn = session.connection()
    rows = conn.execute(select(*_COLUMNS).where(_DOCS.c.id.in_(ids), _DOCS.c.run_token == token))
    found: dict[str, dict[str, Any]] = {row.id: {**row._mapping, "access": []} for row in rows}
    if found:
        tokens = conn.execute(
            select(_ACCESS.c.document_id, _ACCESS.c.token).where(
                _ACCESS.c.document_id.in_(list(found))
            )
        )
        for doc_id, access_token in tokens:
            found[doc_id]["access"].append(access_token)
    return token, {
        doc_id: ClaimedDocument(**{**values, "access": sorted(values["access"])})
        for doc_id, values in found.items()
    }


def enter_stage(session: Session, doc_ids: Sequence[str], stage: str) -> None:
    """Move claimed documents to ``stage`` (those already there are left as they are)."""
    if doc_ids:
        session.connection().execute(
            update(_DOCS)
            .where(_DOCS.c.id.in_(list(doc_ids)), _DOCS.c.stage != stage)
            .values(stage=stage)
        )
