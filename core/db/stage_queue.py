"""The database as the ingestion queue: which documents a stage message still has to run, and
what else waits for the same stage, taken in turns between tenants.

A message only wakes a worker; these queries say what to do. Both are served by the partial
index over unfinished documents (``ix_documents_waiting``) or by primary key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db.documents import ACTIVE
from core.db.models import Document, utcnow


class WaitingDocument(NamedTuple):
    doc_id: str
    version: int
    chunks: int  # still to embed: parsed, less those a previous slice wrote
    tenant_id: str
    size_bytes: int | None = None  # the original's


def needing_run(
    session: Session,
    items: Sequence[tuple[str, int]],
    stages: Sequence[str],
    stale_after: timedelta,
) -> set[str]:
    """The ids among ``items`` (id, version) that a message for one of ``stages`` still has to
    run: the version is current, unfinished and at one of those stages, and no live run holds
    it. One query for the lot, so messages whose documents another run already took cost next
    to nothing."""
    if not items:
        return set()
    wanted = dict(items)
    rows = session.execute(
        select(
            Document.id,
            Document.version,
            Document.status,
            Document.stage,
            Document.run_token,
            Document.heartbeat_at,
        ).where(Document.id.in_(list(wanted)))
    )
    cutoff = utcnow() - stale_after
    needed = set()
    for row in rows:
        if row.version != wanted[row.id] or row.status not in ACTIVE or row.stage not in stages:
            continue
        heartbeat = row.heartbeat_at
        if heartbeat is not None and heartbeat.tzinfo is None:  # SQLite: naive UTC
            heartbeat = heartbeat.replace(tzinfo=cutoff.tzinfo)
        if row.run_token is None or heartbeat is None or heartbeat < cutoff:
            needed.add(row.id)
    return needed


def waiting_fairly(
    session: Session,
    stages: Sequence[str],
    *,
    exclude: Sequence[str],
    limit: int,
    max_attempts: int,
    max_bytes: int | None = None,
) -> list[WaitingDocument]:
    """Documents waiting at one of ``stages`` that nobody holds: each tenant's oldest first,
    then each tenant's second oldest, and so on, so that a tenant with a few files is served
    beside one with thousands. Documents that already failed an attempt (``attempts`` above
    ``max_attempts``) wait for their own retry message instead, so their backoff holds."""
    conditions = [
        Document.status.in_(ACTIVE),
        Document.stage.in_(list(stages)),
        Document.run_token.is_(None),
        Document.attempts <= max_attempts,
    ]
    if exclude:
        conditions.append(Document.id.not_in(list(exclude)))
    if max_bytes is not None:
        conditions.append(Document.size_bytes <= max_bytes)
    turn = (
        func.row_number()
        # A wave handed over together shares one ``updated_at``: upload order breaks the tie.
        .over(
            partition_by=Document.tenant_id,
            order_by=(Document.updated_at, Document.created_at, Document.id),
        )
        .label("turn")
    )
    ranked = (
        select(
            Document.id,
            Document.version,
            (Document.chunks_total - Document.chunks_indexed).label("chunks_left"),
            Document.tenant_id,
            Document.size_bytes,
            Document.updated_at,
            Document.created_at,
            turn,
        )
        .where(*conditions)
        .subquery()
    )
    query = (
        select(
            ranked.c.id,
            ranked.c.version,
            ranked.c.chunks_left,
            ranked.c.tenant_id,
            ranked.c.size_bytes,
        )
        .order_by(ranked.c.turn, ranked.c.updated_at, ranked.c.created_at, ranked.c.id)
        .limit(limit)
    )
    return [
        WaitingDocument(doc_id, version, max(0, left or 0), tenant_id, size)
        for doc_id, version, left, tenant_id, size in session.execute(query)
    ]


def waiting_counts(session: Session) -> dict[str, int]:
    """Unfinished documents by stage (``stored``: waiting to be parsed, ``parsing``,
    ``embedding``), held by a run or not: the ingestion backlog as the database sees it, for
    ``zhiku_ingest_queue_depth`` (the partial index over unfinished documents serves it)."""
    rows = session.execute(
        select(Document.stage, func.count())
        .where(Document.status.in_(ACTIVE))
        .group_by(Document.stage)
    )
    return {str(stage): int(count) for stage, count in rows}
