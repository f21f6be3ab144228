"""The audit trail: answer records and audit events, by role (docs/security.md).

- An auditor reads answer records in full: the question, what was retrieved and cited, the
  answer. That is the role's purpose, and the only way to read another user's questions.
- An admin reads answer records redacted (who, when, which endpoint, outcome, latency,
  how many passages): enough to run the service, nothing of what was asked or found. Even
  the retrieved document ids are withheld, since which documents answered tells the topic.
- Both read the audit events, which never hold content.
- Members read neither.
"""

from __future__ import annotations

from datetime import datetime

from core.access import Principal
from core.db import conversations as queries
from core.db import events
from core.db.models import AnswerRecord, AuditEvent
from core.db.session import SessionFactory, transaction
from core.errors import PermissionDenied
from services.schemas.audit import (
    AnswerRecordPublic,
    AnswerRecordsPublic,
    AuditEventPublic,
    AuditEventsPublic,
)


def answer_record_public(record: AnswerRecord, full: bool) -> AnswerRecordPublic:
    """The record as the caller may see it: ``full`` for auditors, redacted otherwise."""
    summary = AnswerRecordPublic(
        id=record.id,
        user_id=record.user_id,
        endpoint=record.endpoint,
        conversation_id=record.conversation_id,
        model=record.model,
        backend=record.backend,
        prompt_version=record.prompt_version,
        outcome=record.outcome,
        latency_ms=record.latency_ms,
        retrieved_count=len(record.retrieved or []),
        cited_count=len(record.cited or []),
        created_at=record.created_at,
        redacted=not full,
        feedback=record.feedback,
        feedback_at=record.feedback_at,
    )
    if not full:
        return summary
    return summary.model_copy(
        update={
            "question": record.question,
            "search_query": record.search_query,
            "filters": record.filters,
            "retrieved": record.retrieved,
            "cited": record.cited,
            "error": record.error,
            "answer": record.answer,
            "feedback_comment": record.feedback_comment,
        }
    )


def event_public(event: AuditEvent) -> AuditEventPublic:
    return AuditEventPublic.model_validate(event, from_attributes=True)


def _require_audit_reader(principal: Principal) -> None:
    if not (principal.is_admin or principal.is_auditor):
        raise PermissionDenied("only a tenant's admins and auditors read its audit trail")


class AuditService:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    def answer_records(
        self, principal: Principal, user_id: str | None, offset: int, limit: int
    ) -> AnswerRecordsPublic:
        _require_audit_reader(principal)
        full = principal.is_auditor
        with transaction(self._sessions) as session:
            rows, total = queries.answer_records(
                session, principal.tenant_id, user_id=user_id, offset=offset, limit=limit
            )
            data = [answer_record_public(r, full) for r in rows]
        return AnswerRecordsPublic(
            data=data, count=total, offset=offset, limit=limit, redacted=not full
        )

    def events(
        self,
        principal: Principal,
        *,
        action: str | None = None,
        actor_id: str | None = None,
        target_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> AuditEventsPublic:
        _require_audit_reader(principal)
        with transaction(self._sessions) as session:
            rows, total = events.list_events(
                session,
                principal.tenant_id,
                action=action,
                actor_id=actor_id,
                target_id=target_id,
                since=since,
                until=until,
                offset=offset,
                limit=limit,
            )
            data = [event_public(e) for e in rows]
        return AuditEventsPublic(data=data, count=total, offset=offset, limit=limit)
