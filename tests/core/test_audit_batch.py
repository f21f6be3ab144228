"""Search audit rows written with the group's commit (``record_answer(flush=False)``), on
PostgreSQL and SQLite: all of them land before their ``write`` returns, and a row the
database refuses (only at the commit now) still fails its own writer alone."""

from __future__ import annotations

import threading
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.access import Principal
from core.db import conversations, identity
from core.db.group_commit import GroupCommitter
from core.db.models import AnswerRecord
from core.db.session import transaction


def test_unflushed_rows_commit_together_and_a_refused_one_fails_alone(sessions) -> None:  # type: ignore[no-untyped-def]
    with transaction(sessions) as s:
        tenant = identity.create_tenant(s, f"ab-{uuid.uuid4().hex[:8]}")
        user = identity.create_user(s, tenant.id, "李娜")
    principal = Principal(tenant_id=tenant.id, user_id=user.id)
    writer = GroupCommitter(sessions)
    errors: dict[str, BaseException] = {}
    barrier = threading.Barrier(9)

    def run(name: str, question: str | None) -> None:
        barrier.wait()
        try:
            writer.write(
                lambda session: conversations.record_answer(
                    session, principal, flush=False, endpoint="search", question=question
                )
            )
        except BaseException as exc:  # recorded for the assertion
            errors[name] = exc

    questions = {f"good-{n}": f"搜尋 {n} / search {n}" for n in range(8)} | {"bad": None}
    threads = [threading.Thread(target=run, args=item) for item in questions.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    assert list(errors) == ["bad"] and isinstance(errors["bad"], IntegrityError)
    with sessions() as s:
        query = select(AnswerRecord.question).where(AnswerRecord.tenant_id == tenant.id)
        assert sorted(s.scalars(query)) == sorted(q for q in questions.values() if q)
