"""Audit rows committed in groups, on real PostgreSQL and SQLite: every row of many concurrent
writers is committed before its ``write`` returns, in fewer transactions than rows; a row that
fails fails its own writer alone; ``close`` commits what is queued, and a write after it still
lands (in the caller's thread)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from core.access import Principal
from core.db import conversations, identity
from core.db.group_commit import GroupCommitter
from core.db.models import AnswerRecord
from core.db.session import transaction


@pytest.fixture
def principal(sessions) -> Principal:  # type: ignore[no-untyped-def]
    import uuid

    with transaction(sessions) as s:
        tenant = identity.create_tenant(s, f"gc-{uuid.uuid4().hex[:8]}")
        user = identity.create_user(s, tenant.id, "王芳")
    return Principal(tenant_id=tenant.id, user_id=user.id)


def rows(sessions, principal: Principal) -> list[str]:  # type: ignore[no-untyped-def]
    with sessions() as s:
        query = select(AnswerRecord.question).where(AnswerRecord.tenant_id == principal.tenant_id)
        return list(s.scalars(query))


def record(principal: Principal, question: str):  # type: ignore[no-untyped-def]
    return lambda session: conversations.record_answer(
        session, principal, endpoint="search", question=question, outcome="ok"
    )


def test_concurrent_writers_share_transactions_and_lose_nothing(sessions, principal) -> None:  # type: ignore[no-untyped-def]
    writer = GroupCommitter(sessions)
    barrier = threading.Barrier(32)
    seen_before_return: list[bool] = []

    def one(n: int) -> None:
        barrier.wait()
        for i in range(10):
            question = f"问题 {n}-{i}"
            writer.write(record(principal, question))
            # Committed before write returned: another session reads it at once.
            with sessions() as s:
                found = s.scalar(
                    select(func.count()).where(
                        AnswerRecord.tenant_id == principal.tenant_id,
                        AnswerRecord.question == question,
                    )
                )
            seen_before_return.append(found == 1)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    assert all(seen_before_return) and len(seen_before_return) == 320
    assert sorted(rows(sessions, principal)) == sorted(
        f"问题 {n}-{i}" for n in range(32) for i in range(10)
    )
    assert writer.rows == 320 and writer.batches < 320  # grouped, and all of them


def test_a_failing_row_fails_its_own_writer_only(sessions, principal) -> None:  # type: ignore[no-untyped-def]
    writer = GroupCommitter(sessions)
    errors: dict[str, BaseException] = {}

    def bad(session) -> None:  # type: ignore[no-untyped-def]
        raise ValueError("this row is refused")

    def run(name: str, work) -> None:  # type: ignore[no-untyped-def]
        try:
            writer.write(work)
        except BaseException as exc:  # recorded for the assertion
            errors[name] = exc

    works = {f"good-{n}": record(principal, f"good-{n}") for n in range(8)} | {"bad": bad}
    threads = [threading.Thread(target=run, args=item) for item in works.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    assert list(errors) == ["bad"] and isinstance(errors["bad"], ValueError)
    assert sorted(rows(sessions, principal)) == sorted(f"good-{n}" for n in range(8))


def test_close_commits_what_is_queued_and_later_writes_commit_in_place(sessions, principal) -> None:  # type: ignore[no-untyped-def]
    writer = GroupCommitter(sessions, max_queue=4)
    threads = [
        threading.Thread(target=writer.write, args=(record(principal, f"q{n}"),)) for n in range(12)
    ]
    for thread in threads:
        thread.start()
    writer.close()
    for thread in threads:
        thread.join()
    writer.write(record(principal, "after close"))
    assert sorted(rows(sessions, principal)) == sorted(
        [*(f"q{n}" for n in range(12)), "after close"]
    )
