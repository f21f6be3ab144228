"""The audit trail of searches and answers, for a tenant's admins."""

from __future__ import annotations

from core.access import Principal
from core.db import conversations as queries
from core.db.session import SessionFactory, transaction
from core.errors import PermissionDenied
from services.schemas.audit import AnswerRecordPublic, AnswerRecordsPublic


class AuditService:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    def answer_records(
        self, principal: Principal, user_id: str | None, offset: int, limit: int
    ) -> AnswerRecordsPublic:
        if not principal.is_admin:
            raise PermissionDenied("only a tenant admin may read the audit trail")
        with transaction(self._sessions) as session:
            rows, total = queries.answer_records(
                session, principal.tenant_id, user_id=user_id, offset=offset, limit=limit
            )
            data = [AnswerRecordPublic.model_validate(r, from_attributes=True) for r in rows]
        return AnswerRecordsPublic(data=data, count=total, offset=offset, limit=limit)
