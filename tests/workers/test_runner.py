"""The ingestion runner and its retry policy: one set of rules for the embedded default and
Celery. Stages run for real (SQLite, the embedded Qdrant engine); only the scheduler that
would queue follow-ups and retries records them instead."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from core.db import documents as doc_queries
from core.db import identity
from core.db.models import utcnow
from core.db.session import transaction
from core.errors import UpstreamUnavailable
from core.resources import ready
from tests.support import make_settings
from tests.workers.helpers import new_doc
from workers.context import StageContext, parse_each
from workers.retry import Fail, Retry, RetryPolicy
from workers.runner import EMBED_GROUP_CHUNKS, IngestionRunner, Stage, StageJob
from zhiku.container import Container, build_parse_fn
from zhiku.database import build_sessions


class RecordingScheduler:
    def __init__(self) -> None:
        self.scheduled: list[tuple[Stage, StageJob, float]] = []

    def schedule(self, stage: Stage, job: StageJob, delay_s: float = 0.0) -> None:
        self.scheduled.append((stage, job, delay_s))

    def schedule_many(self, stage: Stage, jobs: list[StageJob]) -> None:
        self.scheduled.extend((stage, job, 0.0) for job in jobs)


def test_policy_retries_transient_errors_with_capped_backoff_then_fails() -> None:
    policy = RetryPolicy(max_retries=6, cap_s=10.0)
    outage = UpstreamUnavailable("the store is away")
    assert [policy.decide(outage, a) for a in range(6)] == [
        Retry(2.0),
        Retry(4.0),
        Retry(8.0),
        Retry(10.0),
        Retry(10.0),
        Retry(10.0),
    ]
    exhausted = policy.decide(outage, 6)
    # Callers read a plain reason; the backend's message and the exception type stay in the log.
    assert exhausted == Fail("a temporary failure, retried 6 times")
    bug = policy.decide(KeyError("position"), 0)  # not transient: no retry at all
    assert isinstance(bug, Fail) and "KeyError" not in bug.reason and "position" not in bug.reason


@pytest.fixture
def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, embedding={"batch_size": 4})
    build_sessions(settings, migrate=True)
    container = Container(settings, role="cli")
    with transaction(container.sessions) as s:
        tenant = identity.create_tenant(s, "runner")
        principal = identity.principal_for(identity.create_user(s, tenant.id, "u"))
    yield container.stage_context, build_parse_fn(settings), principal
    container.close()


def _status(svc: StageContext, doc_id: str) -> tuple[str, str | None]:
    with svc.sessions() as s:
        doc = doc_queries.get_document(s, doc_id)
        return doc.status, doc.error


class _DownStore:
    """A store that is away: every write fails as a lost connection does."""

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        def fail(*_: object, **__: object) -> None:
            raise UpstreamUnavailable("qdrant is away")

        return fail


def test_parse_hands_each_document_to_embedding_and_retries_an_outage(world) -> None:  # type: ignore[no-untyped-def]
    svc, parse, principal = world
    ids = [new_doc(svc, principal, f"Note {i}: the pump in hall {i} needs oil.") for i in range(3)]
    scheduler = RecordingScheduler()
    runner = IngestionRunner(svc, scheduler, RetryPolicy(max_retries=2), parse_each(parse))
    runner.parse([StageJob(d, 1) for d in ids])
    assert scheduler.scheduled == [(Stage.EMBED, StageJob(d, 1), 0.0) for d in ids]

    # The store is away while embedding: every document of the group is retried later...
    scheduler.scheduled.clear()
    down = IngestionRunner(
        replace(svc, store_resource=ready(_DownStore())), scheduler, RetryPolicy(2)
    )
    down.embed([StageJob(d, 1) for d in ids])
    assert scheduler.scheduled == [(Stage.EMBED, StageJob(d, 1, attempt=1), 2.0) for d in ids]
    assert {_status(svc, d)[0] for d in ids} == {"processing"}
    # ...until the retries run out: then each fails with the reason.
    scheduler.scheduled.clear()
    down.embed([StageJob(d, 1, attempt=2) for d in ids])
    assert scheduler.scheduled == []
    for doc_id in ids:
        status, error = _status(svc, doc_id)
        assert status == "failed" and error == "a temporary failure, retried 2 times"


def test_companions_are_what_waits_for_the_stage_within_one_groups_budget(world) -> None:  # type: ignore[no-untyped-def]
    svc, parse, principal = world
    scheduler = RecordingScheduler()
    runner = IngestionRunner(svc, scheduler, RetryPolicy(), parse_each(parse))
    ids = [new_doc(svc, principal, f"Memo {i}: the boiler in block {i} is due.") for i in range(5)]
    first = StageJob(ids[0], 1)
    # Waiting to be parsed: every other small document, oldest first.
    assert [j.doc_id for j in runner.companions(Stage.PARSE, [first])] == ids[1:]
    assert runner.companions(Stage.EMBED, [first]) == []  # nothing parsed yet
    runner.parse([StageJob(d, 1) for d in ids[:3]])
    # Parsed and waiting for embedding: the others that fit the group's chunk budget.
    assert [j.doc_id for j in runner.companions(Stage.EMBED, [first])] == ids[1:3]
    assert [j.doc_id for j in runner.companions(Stage.PARSE, [first])] == ids[3:]
    with transaction(svc.sessions) as s:  # a document as large as a whole group
        doc_queries.get_document(s, ids[1]).chunks_total = EMBED_GROUP_CHUNKS
    assert [j.doc_id for j in runner.companions(Stage.EMBED, [first])] == [ids[2]]
    with transaction(svc.sessions) as s:  # held by a live run elsewhere
        doc_queries.get_document(s, ids[2]).run_token = "someone-else"
    assert [j.doc_id for j in runner.companions(Stage.EMBED, [first])] == []


def test_a_message_for_a_document_already_taken_does_nothing(world) -> None:  # type: ignore[no-untyped-def]
    svc, parse, principal = world
    runner = IngestionRunner(svc, RecordingScheduler(), RetryPolicy(), parse_each(parse))
    ids = [new_doc(svc, principal, f"Memo {i}: the chiller in wing {i}.") for i in range(3)]
    first = StageJob(ids[0], 1)
    assert [j.doc_id for j in runner.gather(Stage.PARSE, [first])] == ids
    runner.parse(runner.gather(Stage.PARSE, [first]))
    # The companions' own parse messages arrive later: nothing left to do.
    assert runner.gather(Stage.PARSE, [StageJob(ids[1], 1), StageJob(ids[2], 1)]) == []
    group = runner.gather(Stage.EMBED, [StageJob(ids[2], 1)])
    assert {j.doc_id for j in group} == set(ids)
    runner.embed(group)
    assert runner.gather(Stage.EMBED, [first]) == []  # ready
    assert runner.gather(Stage.EMBED, [StageJob(ids[0], 2)]) == []  # not this version
    with transaction(svc.sessions) as s:  # held by a live run
        doc = doc_queries.get_document(s, ids[1])
        doc.status, doc.run_token, doc.heartbeat_at = "processing", "live", utcnow()
    assert runner.gather(Stage.EMBED, [StageJob(ids[1], 1)]) == []


def test_one_message_for_many_documents_runs_those_still_waiting(world) -> None:  # type: ignore[no-untyped-def]
    svc, parse, principal = world
    runner = IngestionRunner(svc, RecordingScheduler(), RetryPolicy(), parse_each(parse))
    ids = [new_doc(svc, principal, f"通知 {i}：{i} 号楼的水泵需要保养。") for i in range(4)]
    runner.parse([StageJob(ids[0], 1)])  # one of them was taken by another message
    message = [StageJob(d, 1) for d in ids]
    assert [j.doc_id for j in runner.gather(Stage.PARSE, message)] == ids[1:]


def test_companions_take_turns_between_tenants(world) -> None:  # type: ignore[no-untyped-def]
    """A tenant with one file is served beside a tenant with many, not after all of them."""
    svc, parse, principal = world
    with transaction(svc.sessions) as s:
        other_tenant = identity.create_tenant(s, "small")
        other = identity.principal_for(identity.create_user(s, other_tenant.id, "v"))
    busy = [new_doc(svc, principal, f"Busy tenant file {i}.") for i in range(6)]
    lone = new_doc(svc, other, "The one file of a small tenant. 小租户的唯一文件。")
    runner = IngestionRunner(svc, RecordingScheduler(), RetryPolicy(), parse_each(parse))
    taken = runner.companions(Stage.PARSE, [StageJob(busy[0], 1)])
    assert [j.doc_id for j in taken][:2] in ([busy[1], lone], [lone, busy[1]])
    assert {j.tenant_id for j in taken} == {principal.tenant_id, other.tenant_id}
