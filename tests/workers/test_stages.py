"""The ingestion stages called directly, on SQLite and the embedded Qdrant engine: re-runs,
claims taken over, and documents changed or deleted while they are being embedded."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from core.access import Principal
from core.blobs import document_prefix
from core.chunk_pages import page_key
from core.db import documents as doc_queries
from core.db import identity
from core.db import jobs as job_queries
from core.db.models import DocumentStage
from core.db.session import transaction
from core.resources import ready
from index import types as fields
from index.store import Scope
from tests.files import long_text
from tests.support import make_settings
from tests.workers.helpers import new_doc
from workers import parse_stage
from workers.context import Outcome, ParseFn, StageContext, parse_each
from workers.embed_stage import run_embed_group
from workers.parse_stage import run_parse_group
from workers.retry import Fail, RetryPolicy
from workers.runs import ClaimLost, finish_all, open_run, record_progress
from zhiku.container import Container, build_parse_fn
from zhiku.database import build_sessions


def run_parse_stage(svc: StageContext, doc_id: str, version: int, parse: ParseFn) -> Outcome:
    outcomes, errors = run_parse_group(svc, [(doc_id, version)], parse_each(parse))
    assert errors == {}, errors
    return outcomes[doc_id]


def run_embed_stage(svc: StageContext, doc_id: str, version: int) -> Outcome:
    outcomes, errors = run_embed_group(svc, [(doc_id, version)])
    assert errors == {}, errors
    return outcomes[doc_id]


def stage_context(settings) -> tuple[StageContext, Container]:  # type: ignore[no-untyped-def]
    """The stages' context as the composition root builds it (nothing started)."""
    container = Container(settings, role="cli")
    return container.stage_context, container


@pytest.fixture(scope="module", params=["embedded", "server"])
def env(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Both backends: the embedded engine, and the server backend over qdrant-client's
    in-process stand-in for a Qdrant server."""
    settings = make_settings(
        tmp_path_factory.mktemp("stages"),
        embedding={"batch_size": 4},
        worker={"stale_after_s": 60},
        qdrant={"url": ":memory:" if request.param == "server" else ""},
    )
    build_sessions(settings, migrate=True)
    svc, container = stage_context(settings)
    parse = build_parse_fn(settings)
    with transaction(svc.sessions) as s:
        tenant = identity.create_tenant(s, "stages")
        user = identity.create_user(s, tenant.id, "u")
        principal = identity.principal_for(user)
    yield svc, parse, principal
    container.close()


def stored_chunks(svc: StageContext, principal: Principal, doc_id: str) -> list:  # type: ignore[type-arg]
    return svc.store.document_chunks(Scope.admin(principal.tenant_id), doc_id)


def test_re_running_stages_leaves_one_copy(env) -> None:  # type: ignore[no-untyped-def]
    svc, parse, principal = env
    doc_id = new_doc(svc, principal, long_text(20, seed=1))
    assert run_parse_stage(svc, doc_id, 1, parse) is Outcome.EMBED_NEXT
    # A re-delivered parse message for a parsed document points at the embed stage.
    assert run_parse_stage(svc, doc_id, 1, parse) is Outcome.EMBED_NEXT
    assert run_embed_stage(svc, doc_id, 1) is Outcome.DONE
    first = stored_chunks(svc, principal, doc_id)
    # Finished: every later message is a no-op.
    assert run_embed_stage(svc, doc_id, 1) is Outcome.SKIPPED
    assert run_parse_stage(svc, doc_id, 1, parse) is Outcome.SKIPPED
    assert [c.id for c in stored_chunks(svc, principal, doc_id)] == [c.id for c in first]
    # An embed message that overtakes parsing sends it back to parsing.
    other = new_doc(svc, principal, "A short note about turbines.")
    assert run_embed_stage(svc, other, 1) is Outcome.PARSE_NEXT


def test_a_stale_claim_is_taken_over_and_the_old_run_stops(env) -> None:  # type: ignore[no-untyped-def]
    svc, _, principal = env
    doc_id = new_doc(svc, principal, long_text(3, seed=2))
    old = open_run(svc, doc_id, 1, DocumentStage.PARSING)
    assert not isinstance(old, Outcome)
    # A live claim is respected...
    assert open_run(svc, doc_id, 1, DocumentStage.PARSING) is Outcome.SKIPPED
    # ...until its heartbeat is older than the deadline.
    with transaction(svc.sessions) as s:
        assert doc_id in doc_queries.claim_many(s, [(doc_id, 1)], timedelta(seconds=-1))
    record_progress(svc, {old: {"chunks_done": 1}})
    assert old.active is False
    with svc.sessions() as s:
        # The old run's write was fenced off: the new claim holder's state is untouched.
        assert doc_queries.get_document(s, doc_id).chunks_done == 0


def test_group_embedding_many_small_documents(env) -> None:  # type: ignore[no-untyped-def]
    svc, parse, principal = env
    ids = [new_doc(svc, principal, f"Note {i}: the pump in hall {i} needs oil.") for i in range(9)]
    for doc_id in ids:
        assert run_parse_stage(svc, doc_id, 1, parse) is Outcome.EMBED_NEXT
    outcomes, errors = run_embed_group(svc, [(d, 1) for d in ids])
    assert errors == {} and set(outcomes.values()) == {Outcome.DONE}
    for i, doc_id in enumerate(ids):
        chunks = stored_chunks(svc, principal, doc_id)
        assert len(chunks) == 1 and f"hall {i} " in chunks[0].payload[fields.TEXT]
        with svc.sessions() as s:
            doc = doc_queries.get_document(s, doc_id)
            assert (doc.status, doc.chunks_done, doc.chunks_total) == ("ready", 1, 1)


def test_a_group_copies_the_vectors_of_identical_ready_documents_only(env) -> None:  # type: ignore[no-untyped-def]
    svc, parse, principal = env
    text = "Pump 7 in hall B was serviced on Monday. 七号泵已于周一完成保养。"
    source = new_doc(svc, principal, text)
    assert run_parse_stage(svc, source, 1, parse) is Outcome.EMBED_NEXT
    assert run_embed_stage(svc, source, 1) is Outcome.DONE
    copy = new_doc(svc, principal, text)
    # Two identical uploads in one group: neither is ready, so both are embedded.
    leak = "Valve 3 leaks after a restart. 三号阀重启后漏水。"
    pair = [new_doc(svc, principal, leak), new_doc(svc, principal, leak)]
    fresh = new_doc(svc, principal, "Fan 9 is louder than last week.")
    group = [pair[0], copy, fresh, pair[1]]
    for doc_id in group:
        assert run_parse_stage(svc, doc_id, 1, parse) is Outcome.EMBED_NEXT
    outcomes, errors = run_embed_group(svc, [(d, 1) for d in group])
    assert errors == {} and outcomes == dict.fromkeys(group, Outcome.DONE)
    with svc.sessions() as s:
        docs = {d: doc_queries.get_document(s, d) for d in group}
    assert docs[copy].reused_from == source
    assert [docs[d].reused_from for d in (*pair, fresh)] == [None, None, None]
    assert {doc.status for doc in docs.values()} == {"ready"}
    texts = {d: [c.payload[fields.TEXT] for c in stored_chunks(svc, principal, d)] for d in group}
    assert texts[copy] == [c.payload[fields.TEXT] for c in stored_chunks(svc, principal, source)]
    assert texts[pair[0]] == texts[pair[1]] and "三号阀" in texts[pair[0]][0]
    assert "Fan 9" in texts[fresh][0]


def test_parse_group_fails_only_the_bad_file_and_claims_each_document_once(env) -> None:  # type: ignore[no-untyped-def]
    svc, parse, principal = env
    good = [new_doc(svc, principal, f"Memo {i}: the boiler in block {i} is due.") for i in range(4)]
    bad = new_doc(svc, principal, "")  # an empty file: no text to extract
    large = new_doc(svc, principal, "Pumps and valves. " * 5000)  # a wave of its own
    items = [(d, 1) for d in [good[0], bad, large, *good[1:], good[0]]]  # good[0] twice
    reports: list[dict[str, Outcome]] = []
    outcomes, errors = run_parse_group(
        svc, items, parse_each(parse), lambda done, _: reports.append(done)
    )
    assert errors == {}
    # Each wave reported once parsed, every document once; the small files first, together.
    assert [sorted(r) for r in reports] == [sorted([*good, bad]), [large]]
    assert outcomes[large] is Outcome.EMBED_NEXT
    assert {d: outcomes[d] for d in good} == dict.fromkeys(good, Outcome.EMBED_NEXT)
    assert outcomes[bad] is Outcome.FAILED
    with svc.sessions() as s:
        failed = doc_queries.get_document(s, bad)
        assert failed.status == "failed" and failed.error
        jobs = job_queries.jobs_for(s, good[0])
    assert [(j.stage, j.status) for j in jobs] == [("parsing", "done")]
    # A repeat in an embed group is embedded once, with one job.
    outcomes, errors = run_embed_group(svc, [(d, 1) for d in [*good, good[0]]])
    assert errors == {} and set(outcomes.values()) == {Outcome.DONE}
    for i, doc_id in enumerate(good):
        chunks = stored_chunks(svc, principal, doc_id)
        assert len(chunks) == 1 and f"block {i} " in chunks[0].payload[fields.TEXT]
    with svc.sessions() as s:
        assert [j.stage for j in job_queries.jobs_for(s, good[0])] == ["parsing", "embedding"]


def test_parse_waves_put_small_files_first_and_large_ones_alone() -> None:
    small, large, larger = 1000, parse_stage.SMALL_FILE_BYTES + 1, parse_stage.SMALL_FILE_BYTES * 9
    assert parse_stage.parse_waves([larger, small, large, small, small]) == [[1, 3, 4], [2], [0]]
    many = [small] * (parse_stage.WAVE_FILES + 1)
    assert [len(w) for w in parse_stage.parse_waves(many)] == [parse_stage.WAVE_FILES, 1]
    heavy = [parse_stage.SMALL_FILE_BYTES] * 5  # four fill a wave's byte budget
    assert parse_stage.parse_waves(heavy) == [[0, 1, 2, 3], [4]]


class _Interposed:
    """The real store, with a hook run before its first upsert: a user acting mid-ingestion."""

    def __init__(self, store, hook) -> None:  # type: ignore[no-untyped-def]
        self._store, self._hook, self.calls = store, hook, 0

    def upsert(self, points, made_by=None):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls == 2:
            self._hook()
        return self._store.upsert(points, made_by=made_by)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._store, name)


def test_access_changed_during_embedding_reaches_every_chunk(env) -> None:  # type: ignore[no-untyped-def]
    svc, parse, principal = env
    doc_id = new_doc(svc, principal, long_text(30, seed=3))
    assert run_parse_stage(svc, doc_id, 1, parse) is Outcome.EMBED_NEXT

    def change_access() -> None:
        with transaction(svc.sessions) as s:
            doc_queries.set_access(s, doc_queries.get_document(s, doc_id), ["everyone"])
            svc.store.set_document_access(principal.tenant_id, doc_id, ["everyone"])

    interposed = replace(svc, store_resource=ready(_Interposed(svc.store, change_access)))
    assert run_embed_stage(interposed, doc_id, 1) is Outcome.DONE
    chunks = stored_chunks(svc, principal, doc_id)
    assert len(chunks) > 8
    # The owner's own token rides along on every chunk: an owner never loses its document.
    owner = f"user:{principal.user_id}"
    assert {tuple(c.payload[fields.ACCESS]) for c in chunks} == {("everyone", owner)}


def test_document_deleted_during_embedding_leaves_no_chunks(env) -> None:  # type: ignore[no-untyped-def]
    svc, parse, principal = env
    doc_id = new_doc(svc, principal, long_text(30, seed=4))
    assert run_parse_stage(svc, doc_id, 1, parse) is Outcome.EMBED_NEXT

    def delete() -> None:
        with transaction(svc.sessions) as s:
            doc_queries.delete_document(s, doc_queries.get_document(s, doc_id))
            svc.store.delete_document(principal.tenant_id, doc_id)

    interposed = replace(svc, store_resource=ready(_Interposed(svc.store, delete)))
    assert run_embed_stage(interposed, doc_id, 1) is Outcome.SKIPPED
    assert stored_chunks(svc, principal, doc_id) == []


def test_missing_original_fails_the_document_with_a_reason(env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    svc, parse, principal = env
    doc_id = new_doc(svc, principal, "gone soon")
    svc.blobs.delete_prefix(f"{principal.tenant_id}/{doc_id}")
    run_parse_stage(svc, doc_id, 1, parse)
    with svc.sessions() as s:
        doc = doc_queries.get_document(s, doc_id)
    assert doc.status == "failed" and "missing" in doc.error


def test_group_stops_claiming_past_its_chunk_budget(env) -> None:  # type: ignore[no-untyped-def]
    svc, parse, principal = env
    ids = [new_doc(svc, principal, long_text(12, seed=20 + i)) for i in range(3)]
    for doc_id in ids:
        assert run_parse_stage(svc, doc_id, 1, parse) is Outcome.EMBED_NEXT
    outcomes, errors = run_embed_group(svc, [(d, 1) for d in ids], max_chunks=1)
    assert errors == {}
    assert [outcomes[d] for d in ids] == [Outcome.DONE, Outcome.EMBED_NEXT, Outcome.EMBED_NEXT]
    outcomes, _ = run_embed_group(svc, [(d, 1) for d in ids[1:]])
    assert set(outcomes.values()) == {Outcome.DONE}


def test_document_deleted_during_parsing_leaves_no_chunk_list(env) -> None:  # type: ignore[no-untyped-def]
    """The delete removes the document's blobs while the parser runs; the chunk list written
    afterwards is removed by the run when it finds its claim gone."""
    svc, parse, principal = env
    doc_id = new_doc(svc, principal, long_text(4, seed=5))

    def parse_then_delete(data: bytes, filename: str):  # type: ignore[no-untyped-def]
        result = parse(data, filename)
        with transaction(svc.sessions) as s:
            doc_queries.delete_document(s, doc_queries.get_document(s, doc_id))
        svc.blobs.delete_prefix(document_prefix(principal.tenant_id, doc_id))
        return result

    assert run_parse_stage(svc, doc_id, 1, parse_then_delete) is Outcome.SKIPPED
    assert not svc.blobs.exists(page_key(principal.tenant_id, doc_id, 1, 0))
    assert not svc.blobs.exists(f"{principal.tenant_id}/{doc_id}/v1/original")


def test_failure_reasons_are_plain_words_and_keep_internals_out() -> None:
    policy = RetryPolicy(max_retries=5)
    outage = ConnectionError("db.internal:5432 refused the connection")
    assert policy.decide(outage, 5) == Fail("a temporary failure, retried 5 times")
    bug = policy.decide(KeyError("chunks.json"), 0)
    assert isinstance(bug, Fail)
    assert "KeyError" not in bug.reason and "chunks.json" not in bug.reason


def test_a_run_that_lost_its_claim_deletes_no_chunks(env) -> None:  # type: ignore[no-untyped-def]
    """Finishing drops a document's stale chunks only for the run that holds it: one that
    lost it (to a new version, say) would delete chunks that are not its to judge."""
    svc, parse, principal = env
    doc_id = new_doc(svc, principal, long_text(6, seed=42))
    assert run_parse_stage(svc, doc_id, 1, parse) is Outcome.EMBED_NEXT
    assert run_embed_stage(svc, doc_id, 1) is Outcome.DONE
    kept = [c.id for c in stored_chunks(svc, principal, doc_id)]
    with transaction(svc.sessions) as s:  # embedding again (a re-run: it may find stale chunks)
        doc = doc_queries.get_document(s, doc_id)
        doc.status, doc.stage = "processing", DocumentStage.EMBEDDING
    old = open_run(svc, doc_id, 1, DocumentStage.EMBEDDING)
    assert not isinstance(old, Outcome) and old.may_have_stale_chunks()
    with transaction(svc.sessions) as s:  # taken over
        assert doc_queries.claim_many(s, [(doc_id, 1)], timedelta(seconds=-1))
    failures = finish_all(svc, [(old, 0)])  # 0: every chunk would be "stale" to it
    assert isinstance(failures[old], ClaimLost)
    assert [c.id for c in stored_chunks(svc, principal, doc_id)] == kept
