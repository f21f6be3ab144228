"""/v1/audit: a tenant's audit trail, for its admins and auditors (docs/security.md).

``/answers``: the record of searches and answers, in full for auditors, redacted for admins
(no question, query, filters, passages, error or answer). ``/events``: who changed what
(users, roles, groups, keys, documents), for both.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import Audit, AuditReader, require_audit_reader
from services.schemas.audit import AnswerRecordsPublic, AuditEventsPublic
from services.schemas.bounds import ID_PATTERN, MAX_ID_CHARS, MAX_OFFSET, Moment

router = APIRouter(prefix="/v1/audit", tags=["audit"], dependencies=[Depends(require_audit_reader)])

Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
Limit = Annotated[int, Query(ge=1, le=500)]
# Ids and action names: bounded, and no NUL or control character ever reaches PostgreSQL.
OptionalId = Annotated[str | None, Query(max_length=MAX_ID_CHARS, pattern=ID_PATTERN)]
Action = Annotated[str | None, Query(max_length=60, pattern=r"^[A-Za-z0-9._:-]+$")]


@router.get("/answers", response_model=AnswerRecordsPublic, operation_id="audit-answers")
def list_answer_records(
    service: Audit,
    principal: AuditReader,
    user_id: OptionalId = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> AnswerRecordsPublic:
    return service.answer_records(principal, user_id, offset, limit)


@router.get("/events", response_model=AuditEventsPublic, operation_id="audit-events")
def list_events(
    service: Audit,
    principal: AuditReader,
    action: Action = None,
    actor_id: OptionalId = None,
    target_id: OptionalId = None,
    since: Annotated[
        Moment | None, Query(description="From this moment (inclusive), with its zone.")
    ] = None,
    until: Annotated[Moment | None, Query(description="Before this moment, with its zone.")] = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> AuditEventsPublic:
    """Newest first; filter by action (e.g. ``key.revoke``), actor, target, and time
    (ISO 8601 with a zone: ``2026-01-31T08:00:00+08:00``, ``…Z``).

    A time without a zone is refused (422), as the search filters refuse it: read as UTC it
    was eight hours off for a Beijing auditor who meant local time, and an audit filter
    that silently misses the hour asked for is worse than one that asks."""
    return service.events(
        principal,
        action=action,
        actor_id=actor_id,
        target_id=target_id,
        since=since,
        until=until,
        offset=offset,
        limit=limit,
    )
