"""Search: the chunks a caller may read, ranked, with an audit record of what was found."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from core.access import Principal
from core.db import conversations as records
from core.db.group_commit import GroupCommitter
from core.db.models import utcnow
from core.db.session import SessionFactory, transaction
from core.resources import Resource
from retrieval.search import Hit, Retriever, SearchResult
from services.pii import PiiPolicy, mask_fields
from services.schemas.search import SearchHit, SearchRequestBody, SearchResponse


def retrieved_summary(hits: list[Hit]) -> list[dict[str, object]]:
    """What the audit record keeps of each retrieved chunk: enough to find it again."""
    return [
        {
            "chunk_id": h.chunk_id,
            "doc_id": h.doc_id,
            "version": h.version,
            "position": h.position,
            "score": round(h.score, 6),
        }
        for h in hits
    ]


@dataclass(frozen=True)
class Found:
    """What :meth:`SearchService.find` found, and when it was asked."""

    result: SearchResult
    filters: dict[str, object]  # as the audit row describes them
    started: float  # perf_counter at the start: the audit row's latency
    asked_at: datetime


class SearchService:
    def __init__(
        self,
        sessions: SessionFactory,
        retriever: Resource[Retriever],
        audit_writer: GroupCommitter | None = None,
        pii: PiiPolicy | None = None,
    ) -> None:
        self._sessions = sessions
        self._pii = pii  # personal data masked in the results, where the tenant chose so
        self._retriever = retriever
        # Audit rows committed in groups (core.db.group_commit); None: one transaction each.
        self._audit_writer = audit_writer

    # A search is ``find`` then ``record``, both blocking: call them off the event loop.

    def find(self, principal: Principal, body: SearchRequestBody) -> Found:
        """The CPU part of a search: the query embedded, the engine searched. Apart from
        :meth:`record` so that the API bounds this part alone (``api.search_slots``): a
        search waiting for its audit row's commit holds no core and no slot."""
        started = time.perf_counter()
        filters = body.filters.to_domain()
        result = self._retriever.get().search(
            principal,
            body.query,
            limit=body.limit,
            filters=filters,
            mode=body.mode,
            rerank=body.rerank,
        )
        return Found(result, filters.describe(), started, utcnow())

    def record(self, principal: Principal, body: SearchRequestBody, found: Found) -> SearchResponse:
        """The audit row of what :meth:`find` found, committed; then the answer."""
        result = found.result
        row = {
            "endpoint": "search",
            "question": body.query,
            "search_query": body.query,
            "filters": found.filters,
            "retrieved": retrieved_summary(result.hits),
            "outcome": "ok" if result.hits else "no_context",
            "latency_ms": int((time.perf_counter() - found.started) * 1000),
            "created_at": found.asked_at,  # when it was asked, not when its group commits
        }
        if self._audit_writer is not None:
            # Returns once the row is committed: the answer never outruns its audit row.
            self._audit_writer.write(
                lambda session: records.record_answer(session, principal, flush=False, **row)
            )
        else:
            with transaction(self._sessions) as session:
                records.record_answer(session, principal, **row)
        mask = self._pii.served(principal.tenant_id) if self._pii else None
        return SearchResponse(
            query=body.query,
            language=result.language,
            mode=result.mode,
            reranked=result.reranked,
            results=[SearchHit.from_hit(mask_fields(mask, h, "text")) for h in result.hits],
            timings_ms=result.timings_ms,
        )
