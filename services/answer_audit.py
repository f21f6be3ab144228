"""The one audit record of an answer, or of a failed or abandoned attempt."""

from __future__ import annotations

import time

from core.access import Principal
from core.db import conversations as records
from core.db.session import SessionFactory, transaction
from services.answer_types import Final, Prepared
from services.search import retrieved_summary


def record_answer(
    sessions: SessionFactory,
    principal: Principal,
    prepared: Prepared,
    *,
    endpoint: str,
    final: Final | None,
    error: str | None = None,
    conversation_id: str | None = None,
    shown: str = "",
) -> str:
    """The audit record of one answer (or failed attempt); returns its id. A stopped
    answer in a conversation keeps its turn too: the question and the ``shown`` part."""
    outcome = final.outcome if final else ("cancelled" if error is None else "error")
    with transaction(sessions) as session:
        row = records.record_answer(
            session,
            principal,
            endpoint=endpoint,
            conversation_id=conversation_id,
            question=prepared.question,
            search_query=prepared.search_query,
            filters=prepared.filters.describe(),
            retrieved=retrieved_summary(prepared.result.hits),
            cited=[
                {
                    "number": c["number"],
                    "doc_id": c["document_id"],
                    "chunk_ids": c["chunk_ids"],
                }
                for c in (final.citations if final else [])
            ],
            model=final.model if final else None,
            backend=final.backend if final else None,
            prompt_version=prepared.prompt_version if prepared.messages else None,
            outcome=outcome,
            error=error,
            answer=final.answer if final else None,
            latency_ms=int((time.perf_counter() - prepared.started) * 1000),
        )
        if outcome == "cancelled" and conversation_id is not None:
            records.keep_stopped_turn(
                session, principal, conversation_id, prepared.question, shown, row.id
            )
        return row.id
