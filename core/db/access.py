"""Access lists, and how the vector store's copy of them follows the database.

The database holds the truth (``DocumentAccess`` rows and ``Document.access_version``); every
chunk in the store carries a copy (``store_tokens``: the list plus the owner's own token, so an
owner never loses its document). Writers race: an access change (``PATCH /access``), a worker
upserting slices with the list it read when it claimed the document, a worker copying an
identical twin's chunks, a delete. The invariant kept is:

    Once every writer has returned, each chunk of a document carries the list last committed
    to the database.

It rests on three rules:

1. Every access change bumps ``access_version`` in the transaction that changes the list
   (``change_access``), under the document's row lock (``lock_document``).
2. ``apply_latest`` writes the committed list to the store *while holding the row lock*, after
   reading the list under that same lock. Two of them never interleave, and each writes what
   was committed when it took the lock, so the last one to run writes the newest list.
   An access change calls it after its commit.
3. A writer of chunks (worker slice, twin copy) reads the list with its version, upserts, and
   *after* the upsert returns reads the version again (``access_versions``); if it moved, it
   calls ``apply_latest``. Proof: let a change commit version v' at time c and call
   ``apply_latest`` (A) after c. If the writer's re-check ran after c it saw v' and calls
   ``apply_latest`` itself, after its upsert. Otherwise its upsert finished before the re-check,
   so before c, so before A, which rewrites the upserted chunks. Either way an
   ``apply_latest`` runs after the upsert and writes the newest list.

The row lock is a no-op ``UPDATE`` as the transaction's first statement: on PostgreSQL it takes
the row lock (as ``SELECT ... FOR UPDATE`` would); on SQLite it takes the database's single
write lock, which serialises writers the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, exists, or_, select, update
from sqlalchemy.orm import Session

from core.access import Principal, user_token
from core.db.models import Document, DocumentAccess
from core.db.session import SessionFactory, transaction

# write(tenant_id, doc_id, tokens): rewrite the list on every chunk of a document in the store.
StoreAccessWriter = Callable[[str, str, list[str]], None]


@dataclass(frozen=True)
class AccessState:
    """What the store must carry for one document, at one committed access version."""

    tenant_id: str
    version: int
    tokens: list[str]


def store_tokens(access: Iterable[str], owner_id: str | None) -> list[str]:
    """The tokens written on chunks: the access list, plus the owner (who always reads)."""
    tokens = set(access)
    if owner_id is not None:
        tokens.add(user_token(owner_id))
    return sorted(tokens)


def lock_document(session: Session, doc_id: str) -> bool:
    """Take the document's row lock until the transaction ends; False when it is gone.
    Must be the transaction's first statement on SQLite (a read before it would not hold
    the write lock, and could be stale)."""
    table = Document.__table__
    result = session.execute(
        update(table)
        .where(table.c.id == doc_id)
        # Both set to themselves: a lock, not a change (and ``updated_at`` keeps its value).
        .values(access_version=table.c.access_version, updated_at=table.c.updated_at)
    )
    return result.rowcount == 1


def change_access(session: Session, doc: Document, tokens: Sequence[str]) -> None:
    """Replace the list and bump its version (the caller holds the row lock)."""
    doc.access = list(tokens)
    doc.access_version = (doc.access_version or 1) + 1
    session.flush()


def access_states(session: Session, doc_ids: Sequence[str]) -> dict[str, AccessState]:
    """The committed state of these documents (those that exist), in two queries."""
    if not doc_ids:
        return {}
    rows = session.execute(
        select(Document.id, Document.tenant_id, Document.owner_id, Document.access_version).where(
            Document.id.in_(list(doc_ids))
        )
    ).all()
    lists: dict[str, list[str]] = {row.id: [] for row in rows}
    for doc_id, token in session.execute(
        select(DocumentAccess.document_id, DocumentAccess.token).where(
            DocumentAccess.document_id.in_(list(lists))
        )
    ):
        lists[doc_id].append(token)
    return {
        row.id: AccessState(
            row.tenant_id, row.access_version or 1, store_tokens(lists[row.id], row.owner_id)
        )
        for row in rows
    }


def access_versions(session: Session, doc_ids: Sequence[str]) -> dict[str, int]:
    """The committed access version of these documents (those that exist), in one query."""
    if not doc_ids:
        return {}
    rows = session.execute(
        select(Document.id, Document.access_version).where(Document.id.in_(list(doc_ids)))
    )
    return {doc_id: version or 1 for doc_id, version in rows}


def apply_latest(
    sessions: SessionFactory, doc_ids: Iterable[str], write: StoreAccessWriter
) -> dict[str, AccessState]:
    """Write each document's committed list to the store under its row lock (rule 2); one
    short transaction per document, so no two locks are held at once (no deadlock). Returns
    what was written; a deleted document is skipped (its chunks go with it)."""
    applied: dict[str, AccessState] = {}
    for doc_id in sorted(set(doc_ids)):
        with transaction(sessions) as session:
            if not lock_document(session, doc_id):
                continue
            state = access_states(session, [doc_id])[doc_id]
            write(state.tenant_id, doc_id, state.tokens)
            applied[doc_id] = state
    return applied


def owned_or_shared(principal: Principal) -> ColumnElement[bool]:
    """The SQL condition "the caller owns it, or its list names one of the caller's tokens"."""
    return or_(
        Document.owner_id == principal.user_id,
        exists().where(
            DocumentAccess.document_id == Document.id,
            DocumentAccess.token.in_(principal.access_tokens()),
        ),
    )


def may_read(principal: Principal, doc: Document) -> bool:
    """Whether the caller may see this document: its tenant, and admin, owner or on the list."""
    if doc.tenant_id != principal.tenant_id:
        return False
    if principal.is_admin or doc.owner_id == principal.user_id:
        return True
    return principal.can_read(doc.tenant_id, doc.access)


def readable_ids(session: Session, principal: Principal, doc_ids: Iterable[str]) -> set[str]:
    """Which of these documents the caller may read, in one query."""
    wanted = sorted(set(doc_ids))
    if not wanted:
        return set()
    query = select(Document.id).where(
        Document.id.in_(wanted), Document.tenant_id == principal.tenant_id
    )
    if not principal.is_admin:
        query = query.where(owned_or_shared(principal))
    return set(session.scalars(query))
