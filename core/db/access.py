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

A process can die between an access change's commit and its ``apply_latest``, and the store
can refuse that write (down, restarting). So the database also records which version the
store is known to carry, ``Document.store_access_version``:

4. ``apply_latest`` sets it to the version it wrote, in its transaction (under the lock, after
   the store write returned); a write that raises leaves it where it was. A worker that
   finished a document sets it to the version its chunks were written with, only while that
   is still the committed version (``record_store_versions``). A new document starts at 1,
   its first version, before any chunk exists.
5. ``reconcile_store_access`` runs ``apply_latest`` on every document whose store copy is
   behind (or unknown: NULL); the API and the Celery worker run it at start-up and the
   sweeper every ``worker.sweep_interval_s``. A change whose store write never happened is
   thus in force at the latest one sweep after the process (or the store) is back.

6. ``apply_latest`` writes the document's stored tags with its list (a payload update of both,
   ``StoreAccessWriter``). Tags never change after an upload, except where migration 0013
   rewrote tags stored before they were folded (``core.text_forms.stored_tags``): it sets the
   mark of each document it changed to NULL (unknown), so rule 5 brings the chunks' tags in
   line with the rows', which the tag filters match (``retrieval.filters``).

The mark never claims more than the store holds when every writer has returned: it only
moves to a version the store was just given. (A worker that dies after an upsert with an
older list but before its re-check can leave a newer mark over those chunks; its document is
still claimed, and the run that takes it over rewrites every chunk with the committed list.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, exists, or_, select, text, update
from sqlalchemy.orm import Session

from core.access import Principal, user_token
from core.db.models import STORE_BEHIND, Document, DocumentAccess
from core.db.session import SessionFactory, transaction
from core.errors import NotFound, PermissionDenied

# write(tenant_id, doc_id, tokens, tags): rewrite the list and the tags on every chunk of a
# document in the store (``VectorStore.set_document_access``).
StoreAccessWriter = Callable[[str, str, list[str], list[str]], None]


@dataclass(frozen=True)
class AccessState:
    """What the store must carry for one document, at one committed access version."""

    tenant_id: str
    version: int
    tokens: list[str]
    tags: list[str]


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
        select(
            Document.id,
            Document.tenant_id,
            Document.owner_id,
            Document.access_version,
            Document.tags,
        ).where(Document.id.in_(list(doc_ids)))
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
            row.tenant_id,
            row.access_version or 1,
            store_tokens(lists[row.id], row.owner_id),
            list(row.tags or []),
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
            write(state.tenant_id, doc_id, state.tokens, state.tags)
            # Only once the store took it (rule 4): a failed write leaves the mark behind.
            session.execute(
                update(Document.__table__)
                .where(Document.__table__.c.id == doc_id)
                .values(
                    store_access_version=state.version,
                    updated_at=Document.__table__.c.updated_at,
                )
            )
            applied[doc_id] = state
    return applied


def record_store_versions(session: Session, written: dict[str, int]) -> None:
    """A worker finished these documents, every chunk written with the list of the given
    version: mark the store in line, for each one still at that version (a change committed
    since is left behind for ``apply_latest`` to catch up)."""
    table = Document.__table__
    by_version: dict[int, list[str]] = {}
    for doc_id, version in written.items():
        by_version.setdefault(version, []).append(doc_id)
    # One statement per version (nearly always one in all), not one per document.
    for version, doc_ids in sorted(by_version.items()):
        session.execute(
            update(table)
            .where(table.c.id.in_(sorted(doc_ids)), table.c.access_version == version)
            .values(store_access_version=version, updated_at=table.c.updated_at)
        )


def behind_in_store(session: Session, limit: int) -> list[str]:
    """Documents whose store copy of the list is older than the committed one, or unknown."""
    # The partial index's own predicate, word for word, so the planner uses it.
    query = select(Document.id).where(text(STORE_BEHIND))
    return list(session.scalars(query.order_by(Document.id).limit(limit)))


def reconcile_store_access(
    sessions: SessionFactory, write: StoreAccessWriter, batch: int = 200, rounds: int = 50
) -> int:
    """Bring every document whose store copy is behind in line with its committed list
    (rule 5); returns how many were written. A store that refuses raises at the first
    document (the next sweep tries again); ``rounds`` bounds one call under a stream of
    new changes."""
    written = 0
    for _ in range(rounds):
        with sessions() as session:
            behind = behind_in_store(session, batch)
        if not behind:
            break
        written += len(apply_latest(sessions, behind, write))
        if len(behind) < batch:
            break
    return written


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


def may_read_text(principal: Principal, doc: Document) -> bool:
    """Whether the caller may read the document's text (a passage, the original file): its
    owner, or one its list admits, exactly whom a search finds it for (the store's copy of
    the list carries the owner's token). Being an admin is not enough: an admin manages
    every document's metadata, but reads text only where the list names them
    (docs/security.md, "Roles")."""
    if doc.tenant_id != principal.tenant_id:
        return False
    return doc.owner_id == principal.user_id or principal.can_read(doc.tenant_id, doc.access)


# An admin sees the document (its metadata), so saying why tells them nothing new.
ADMIN_NOT_ON_LIST = (
    "an admin reads a document's text only where its access list names them: add yourself"
    " to the list (recorded) to read it"
)


def text_readable_document(session: Session, principal: Principal, doc_id: str) -> Document:
    """The document if the caller may read its text (``may_read_text``); NotFound for one
    they may not see at all, as if it did not exist (``documents.readable_document``), and
    PermissionDenied for an admin its list does not name."""
    doc = session.get(Document, doc_id)
    if doc is None or not may_read(principal, doc):
        raise NotFound("document not found")
    if not may_read_text(principal, doc):
        raise PermissionDenied(ADMIN_NOT_ON_LIST)
    return doc


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
