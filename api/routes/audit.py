"""/v1/audit/answers: a tenant's record of searches and answers, for its admins only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Audit, CurrentPrincipal
from services.schemas.audit import AnswerRecordsPublic

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("/answers", response_model=AnswerRecordsPublic, operation_id="audit-answers")
def list_answer_records(
    service: Audit,
    principal: CurrentPrincipal,
    user_id: Annotated[str | None, Query(max_length=64)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AnswerRecordsPublic:
    return service.answer_records(principal, user_id, offset, limit)
