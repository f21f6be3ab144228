"""/v1/audit/answers: a tenant's record of searches and answers, for its admins only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import CurrentPrincipal, StateDep
from core.db import conversations as queries
from core.db.session import transaction
from core.errors import PermissionDenied

router = APIRouter(prefix="/v1/audit", tags=["audit"])


class AnswerRecordPublic(BaseModel):
    id: str
    user_id: str
    endpoint: str
    conversation_id: str | None
    question: str
    search_query: str
    filters: dict
    retrieved: list[dict]
    cited: list[dict]
    model: str | None
    backend: str | None
    prompt_version: str | None
    outcome: str
    error: str | None
    answer: str | None
    latency_ms: int
    created_at: datetime


class AnswerRecordsPublic(BaseModel):
    data: list[AnswerRecordPublic]
    count: int
    offset: int
    limit: int


@router.get("/answers", response_model=AnswerRecordsPublic, operation_id="audit-answers")
def list_answer_records(
    state: StateDep,
    principal: CurrentPrincipal,
    user_id: str | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AnswerRecordsPublic:
    if not principal.is_admin:
        raise PermissionDenied("only a tenant admin may read the audit trail")
    with transaction(state.services.sessions) as session:
        rows, total = queries.answer_records(
            session, principal.tenant_id, user_id=user_id, offset=offset, limit=limit
        )
        data = [AnswerRecordPublic.model_validate(r, from_attributes=True) for r in rows]
    return AnswerRecordsPublic(data=data, count=total, offset=offset, limit=limit)
