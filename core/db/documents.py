"""Documents and their ingestion jobs: every query the API and the workers run on them.

Processing is fenced by ``run_token``: a run claims a document, and every later write of that
run checks it still holds the claim. A run that lost its claim (its worker was presumed dead
and another took over) stops writing, so each chunk ends up written by exactly one live run.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    bindparam,
    exists,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from core.access import Principal
from core.db.access import change_access, may_read, owned_or_shared
from core.db.models import (
    Document,
    DocumentStage,
    DocumentStatus,
    new_id,
    utcnow,
)
from core.db.name_match import like_pattern
from core.errors import NotFound
from core.text_forms import name_forms, tag_forms

ACTIVE = (DocumentStatus.QUEUED, DocumentStatus.PROCESSING)


def create_document(session: Session, **fields: object) -> Document:
    doc = Document(**fields)
    session.add(doc)
    session.flush()
    return doc


def add_document(session: Session, access: Sequence[str], **fields: object) -> Document:
    """A new document with its id and access list set, added but not flushed: an upload of
    many files writes all its rows in one flush (the access list set before it, so nothing is
    read back)."""
    doc = Document(id=fields.pop("id", None) or new_id(), **fields)
    doc.access = list(access)
    session.add(doc)
    return doc


def get_document(session: Session, doc_id: str) -> Document:
    doc = session.get(Document, doc_id)
    if doc is None:
        raise NotFound("document not found")
    return doc


def load_documents(session: Session, doc_ids: Sequence[str]) -> dict[str, Document]:
    """These documents (those that exist) by id, in one query."""
    if not doc_ids:
        return {}
    return {
        doc.id: doc for doc in session.scalars(select(Document).where(Document.id.in_(doc_ids)))
    }


def chunks_to_embed(session: Session, doc_ids: Sequence[str]) -> dict[str, int]:
    """Chunks each document still has to embed: its parse's count less those a previous slice
    already wrote (0 before parsing)."""
    if not doc_ids:
        return {}
    rows = session.execute(
        select(Document.id, Document.chunks_total, Document.chunks_indexed).where(
            Document.id.in_(doc_ids)
        )
    )
    return {doc_id: max(0, (total or 0) - (indexed or 0)) for doc_id, total, indexed in rows}


def readable_document(session: Session, principal: Principal, doc_id: str) -> Document:
    """The document if the caller may see it; NotFound otherwise (never reveal that it exists)."""
    doc = session.get(Document, doc_id)
    if doc is None or not may_read(principal, doc):
        raise NotFound("document not found")
    return doc


def _has_tag(session: Session, tag: str) -> ColumnElement[bool]:
    """Documents whose tag list (a JSON array) holds ``tag`` in any of its forms (either
    script, either width: ``tag_forms``); exact, it missed 公开 for the filter 公開."""
    forms = tag_forms(tag)
    if session.get_bind().dialect.name == "postgresql":
        return or_(*(Document.tags.cast(JSONB).contains([form]) for form in forms))
    each = func.json_each(Document.tags).table_valued("value")
    return exists(select(literal(1)).select_from(each).where(each.c.value.in_(forms)))


def list_documents(
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    name: str | None = None,
    tag: str | None = None,
    mime_type: str | None = None,
    ids: Sequence[str] = (),
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Document], int]:
    """The caller's readable documents of their tenant, newest first, with the total that
    match. ``name``: a case-insensitive substring of the title or the file name (no
    wildcards); ``tag``: one tag exactly; ``ids``: only these (a progress display's poll)."""
    query = select(Document).where(Document.tenant_id == principal.tenant_id)
    if status:
        query = query.where(Document.status == status)
    if name:
        # In either Chinese script: 请假 finds 請假規定, 報銷 finds 报销制度.
        query = query.where(
            or_(
                *(
                    column.ilike(like_pattern(form), escape="\\")
                    for form in name_forms(name)
                    for column in (Document.title, Document.filename)
                )
            )
        )
    if tag:
        query = query.where(_has_tag(session, tag))
    if mime_type:
        query = query.where(Document.mime_type == mime_type)
    if ids:
        query = query.where(Document.id.in_(list(ids)))
    if not principal.is_admin:
        query = query.where(owned_or_shared(principal))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = query.order_by(Document.created_at.desc(), Document.id).offset(offset).limit(limit)
    return list(session.scalars(page)), total


def requeue_failed(session: Session, doc: Document) -> None:
    """Send a failed document back to the start of its pipeline (same version, same file):
    its counters, reason and any claim cleared, as for a new version."""
    doc.status = DocumentStatus.QUEUED
    doc.stage = DocumentStage.STORED
    doc.chunks_done = doc.chunks_total = doc.chunks_indexed = doc.attempts = 0
    doc.error = doc.run_token = doc.heartbeat_at = doc.reused_from = None
    doc.parse_info = {}
    session.flush()


def find_indexed_twins(
    session: Session, wanted: Sequence[tuple[str, str, str]]
) -> dict[str, tuple[str, dict]]:
    """Ready documents with the same bytes in the same tenant, whose chunks can be reused, for
    many documents in one query: ``wanted`` holds (tenant, content hash, document id); the
    result maps each document that has such a twin to the twin's (id, parse facts)."""
    if not wanted:
        return {}
    rows = session.execute(
        select(Document.id, Document.tenant_id, Document.content_hash, Document.parse_info).where(
            Document.tenant_id.in_(sorted({tenant for tenant, _, _ in wanted})),
            Document.content_hash.in_(sorted({digest for _, digest, _ in wanted})),
            Document.status == DocumentStatus.READY,
        )
    )
    ready: dict[tuple[str, str], list[tuple[str, dict]]] = {}
    for twin_id, tenant, digest, parse_info in rows:
        ready.setdefault((tenant, digest), []).append((twin_id, dict(parse_info or {})))
    twins: dict[str, tuple[str, dict]] = {}
    for tenant, digest, doc_id in wanted:
        twin = next((t for t in ready.get((tenant, digest), ()) if t[0] != doc_id), None)
        if twin is not None:
            twins[doc_id] = twin
    return twins


def claim_many(
    session: Session, items: Sequence[tuple[str, int]], stale_after: timedelta
) -> dict[str, str]:
    """Take the processing claim for several document versions, one statement per version
    number; a version is left unclaimed when a live run holds it, or it is gone, finished, or
    superseded. Returns the claimed ones, each with its token. They share one token; every
    write it fences also names the document, so sharing grants nothing across documents."""
    token = claim_versions(session, items, stale_after)
    ids = [doc_id for doc_id, _ in items]
    claimed = session.scalars(
        select(Document.id).where(Document.id.in_(ids), Document.run_token == token)
    )
    return dict.fromkeys(claimed, token)


def claim_versions(
    session: Session, items: Sequence[tuple[str, int]], stale_after: timedelta
) -> str:
    """``claim_many``'s updates alone (on the table: no ORM bookkeeping on this hot path):
    the token the claimed documents now carry."""
    token, now, table = new_id(), utcnow(), Document.__table__
    by_version: dict[int, list[str]] = {}
    for doc_id, version in items:
        by_version.setdefault(version, []).append(doc_id)
    for version, doc_ids in by_version.items():
        session.connection().execute(
            update(table)
            .where(
                table.c.id.in_(doc_ids),
                table.c.version == version,
                table.c.status.in_(ACTIVE),
                or_(table.c.run_token.is_(None), table.c.heartbeat_at < now - stale_after),
            )
            .values(
                run_token=token,
                heartbeat_at=now,
                status=DocumentStatus.PROCESSING,
                attempts=table.c.attempts + 1,
            )
        )
    return token


def release(session: Session, doc_id: str, token: str) -> None:
    """Give the claim back so the next stage (maybe on another machine) can take it at once."""
    session.execute(
        update(Document)
        .where(Document.id == doc_id, Document.run_token == token)
        .values(run_token=None)
    )


def record_progress(session: Session, doc_id: str, token: str, **values: object) -> bool:
    """Write stage/progress fields and the heartbeat; False when the claim was lost."""
    result = session.execute(
        update(Document)
        .where(Document.id == doc_id, Document.run_token == token)
        .values(heartbeat_at=utcnow(), **values)
    )
    return result.rowcount == 1


def record_progress_many(
    session: Session, updates: Sequence[tuple[str, str, dict[str, object]]]
) -> set[str]:
    """``record_progress`` for many (document, token, values) at once, one executemany per
    set of fields; returns the documents whose claim still holds (the others were lost)."""
    if not updates:
        return set()
    now = utcnow()
    by_fields: dict[tuple[str, ...], list[dict[str, object]]] = {}
    for doc_id, token, values in updates:
        row = {"b_id": doc_id, "b_token": token, **{f"b_{k}": v for k, v in values.items()}}
        by_fields.setdefault(tuple(sorted(values)), []).append(row)
    table = Document.__table__
    for names, rows in by_fields.items():
        statement = (
            update(table)
            .where(table.c.id == bindparam("b_id"), table.c.run_token == bindparam("b_token"))
            .values(heartbeat_at=now, **{n: bindparam(f"b_{n}") for n in names})
        )
        session.connection().execute(statement, rows)
    tokens = {doc_id: token for doc_id, token, _ in updates}
    held = session.connection().execute(
        select(table.c.id, table.c.run_token).where(table.c.id.in_(list(tokens)))
    )
    return {doc_id for doc_id, token in held if token is not None and tokens[doc_id] == token}


def release_many(
    session: Session, updates: Sequence[tuple[str, str, dict[str, object]]]
) -> set[str]:
    """Write each document's values and give its claim back, for many documents in three
    statements; returns those whose claim still held (the others are left untouched)."""
    held = record_progress_many(session, updates)
    tokens = {token for doc_id, token, _ in updates if doc_id in held}
    if held:
        table = Document.__table__
        session.connection().execute(
            update(table)
            .where(table.c.id.in_(list(held)), table.c.run_token.in_(list(tokens)))
            .values(run_token=None)
        )
    return held


def finished_values(chunk_count: int) -> dict[str, object]:
    """What marks a document ready with ``chunk_count`` chunks (besides giving the claim
    back)."""
    return {
        "status": DocumentStatus.READY,
        "stage": DocumentStage.DONE,
        "chunks_done": chunk_count,
        "chunks_total": chunk_count,
        "chunks_indexed": chunk_count,
        "error": None,
    }


def fail(
    session: Session,
    doc_id: str,
    reason: str,
    token: str | None = None,
    unclaimed_since: datetime | None = None,
) -> bool:
    """Mark a document failed. ``token``: only while that run holds it. ``unclaimed_since``:
    only while no live run holds it (no claim, or a heartbeat older than this), so a caller
    that does not hold the claim never fails a document another run is finishing."""
    query = update(Document).where(Document.id == doc_id)
    if token is not None:
        query = query.where(Document.run_token == token)
    if unclaimed_since is not None:
        query = query.where(
            or_(Document.run_token.is_(None), Document.heartbeat_at < unclaimed_since)
        )
    result = session.execute(
        query.values(status=DocumentStatus.FAILED, error=reason[:2000], run_token=None)
    )
    return result.rowcount == 1


def start_new_version(session: Session, doc: Document, **content: object) -> None:
    """Bump the version and queue it. Clearing the claim fences off any run still working on
    the previous version: its next write finds the claim gone and it stops."""
    for key, value in content.items():
        setattr(doc, key, value)
    doc.version += 1
    doc.status = DocumentStatus.QUEUED
    doc.stage = DocumentStage.STORED
    doc.chunks_done = doc.chunks_total = doc.chunks_indexed = doc.attempts = 0
    doc.error = doc.run_token = doc.heartbeat_at = doc.reused_from = None
    doc.parse_info = {}
    session.flush()


def set_access(session: Session, doc: Document, tokens: Sequence[str]) -> None:
    """Replace the access list and bump its version (see ``core.db.access``)."""
    change_access(session, doc, tokens)


def delete_document(session: Session, doc: Document) -> None:
    session.delete(doc)
    session.flush()


def stale_documents(session: Session, stale_after: timedelta, limit: int = 100) -> list[Document]:
    """Active documents nobody has touched for ``stale_after``: their worker died or their
    message was lost. The sweeper re-queues them."""
    cutoff = utcnow() - stale_after
    return list(
        session.scalars(
            select(Document)
            .where(
                Document.status.in_(ACTIVE),
                or_(Document.heartbeat_at.is_(None), Document.heartbeat_at < cutoff),
                Document.updated_at < cutoff,
            )
            .limit(limit)
        )
    )


def take_over_unfinished(session: Session) -> list[tuple[str, int, str]]:
    """Clear every claim on unfinished documents and return (id, version, stage) for each.
    Only for a process that knows it is the sole runner (the embedded default at start-up):
    whatever claims exist belong to a run that died with the previous process."""
    rows = list(
        session.execute(
            select(Document.id, Document.version, Document.stage).where(Document.status.in_(ACTIVE))
        )
    )
    session.execute(update(Document).where(Document.status.in_(ACTIVE)).values(run_token=None))
    return [(doc_id, version, stage) for doc_id, version, stage in rows]


def touch(session: Session, doc_id: str, cutoff: datetime) -> bool:
    """Atomically mark a stale document as re-queued; only one sweeper wins."""
    result = session.execute(
        update(Document)
        .where(
            Document.id == doc_id,
            or_(Document.heartbeat_at.is_(None), Document.heartbeat_at < cutoff),
        )
        .values(heartbeat_at=utcnow(), run_token=None)
    )
    return result.rowcount == 1


def count_by_status(session: Session, tenant_id: str) -> dict[str, int]:
    rows = session.execute(
        select(Document.status, func.count())
        .where(Document.tenant_id == tenant_id)
        .group_by(Document.status)
    )
    return {status: n for status, n in rows}
