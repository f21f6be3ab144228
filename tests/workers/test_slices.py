"""A large document is embedded a slice at a time, called stage by stage on SQLite and both
store backends: each run hands it back with where the next one starts, a small document
queued meanwhile is ready before it, an interrupted slice is done again without duplicates,
and a document parsed into too many chunks fails with the reason before any is embedded."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from api.reasons import localize
from api.web.i18n import CHINESE
from core import chunk_pages
from core.blobs import BlobStore
from core.db import documents as doc_queries
from core.db import identity
from core.db import jobs as job_queries
from core.db.session import transaction
from core.resources import Resource
from index import types as fields
from index.store import Scope
from tests.files import long_text
from tests.support import make_settings
from tests.workers.helpers import new_doc
from tests.workers.test_stages import run_parse_stage, stage_context
from workers.context import Outcome
from workers.embed_stage import run_embed_group
from zhiku.container import build_parse_fn
from zhiku.database import build_sessions

SLICE = 4


@pytest.fixture(scope="module", params=["embedded", "server"])
def env(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(
        tmp_path_factory.mktemp("slices"),
        embedding={"batch_size": 4},
        worker={"stale_after_s": 60, "embed_slice_chunks": SLICE},
        parsing={"max_chunks_per_document": 40},
        qdrant={"url": ":memory:" if request.param == "server" else ""},
    )
    build_sessions(settings, migrate=True)
    svc, container = stage_context(settings)
    with transaction(svc.sessions) as s:
        tenant = identity.create_tenant(s, "slices")
        principal = identity.principal_for(identity.create_user(s, tenant.id, "u"))
    yield svc, build_parse_fn(settings), principal
    container.close()


def _doc(svc, doc_id: str):  # type: ignore[no-untyped-def]
    with svc.sessions() as s:
        return doc_queries.get_document(s, doc_id)


def _positions(svc, principal, doc_id: str) -> list[int]:  # type: ignore[no-untyped-def]
    chunks = svc.store.document_chunks(Scope.admin(principal.tenant_id), doc_id)
    assert len({c.id for c in chunks}) == len(chunks)
    return sorted(int(c.payload[fields.POSITION]) for c in chunks)


def test_a_large_document_goes_a_slice_per_run_and_a_small_one_passes_it(env) -> None:  # type: ignore[no-untyped-def]
    svc, parse, principal = env
    big = new_doc(svc, principal, long_text(36, seed=31))
    assert run_parse_stage(svc, big, 1, parse) is Outcome.EMBED_NEXT
    total = _doc(svc, big).chunks_total
    assert total > 2 * SLICE, total
    outcomes, errors = run_embed_group(svc, [(big, 1)], max_chunks=512)
    assert errors == {} and outcomes == {big: Outcome.EMBED_NEXT}
    doc = _doc(svc, big)
    # Handed back: not ready, no claim, the next run starts after the first slice.
    assert (doc.status, doc.run_token, doc.chunks_indexed, doc.chunks_done) == (
        "processing",
        None,
        SLICE,
        SLICE,
    )
    assert _positions(svc, principal, big) == list(range(SLICE))
    # A small document queued behind it is embedded in the next group, beside one slice.
    small = new_doc(svc, principal, "A memo: the chiller in hall 3 is due for service.")
    assert run_parse_stage(svc, small, 1, parse) is Outcome.EMBED_NEXT
    outcomes, _ = run_embed_group(svc, [(small, 1), (big, 1)], max_chunks=512)
    assert outcomes == {small: Outcome.DONE, big: Outcome.EMBED_NEXT}
    assert _doc(svc, small).status == "ready" and _doc(svc, big).status == "processing"
    runs = 2
    while outcomes[big] is Outcome.EMBED_NEXT:
        outcomes, errors = run_embed_group(svc, [(big, 1)], max_chunks=512)
        assert errors == {}
        runs += 1
    assert outcomes[big] is Outcome.DONE and runs == -(-total // SLICE)
    doc = _doc(svc, big)
    assert (doc.status, doc.chunks_done, doc.chunks_indexed) == ("ready", total, total)
    assert _positions(svc, principal, big) == list(range(total))  # each chunk exactly once
    with svc.sessions() as s:
        jobs = Counter(j.status for j in job_queries.jobs_for(s, big) if j.stage == "embedding")
    # One finished embedding job for the version, as for a document embedded in one run.
    assert jobs == {"continued": runs - 1, "done": 1}


class _Reads:
    """The real blob store, noting the keys read."""

    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs
        self.read: list[str] = []

    def get(self, key: str) -> bytes:
        self.read.append(key)
        return self._blobs.get(key)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._blobs, name)


def test_each_slice_reads_only_the_page_its_chunks_are_on(env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Not the whole chunk list per slice (O(n²) reading for a large document)."""
    svc, parse, principal = env
    monkeypatch.setattr(chunk_pages, "PAGE_CHUNKS", 2 * SLICE)
    blobs = _Reads(svc.blobs)
    svc = replace(svc, blobs=blobs)
    big = new_doc(svc, principal, long_text(90, seed=35))
    assert run_parse_stage(svc, big, 1, parse) is Outcome.EMBED_NEXT
    total = _doc(svc, big).chunks_total
    assert total > 4 * SLICE, total
    starts = []
    while True:
        starts.append(_doc(svc, big).chunks_indexed)
        blobs.read.clear()
        outcome = run_embed_group(svc, [(big, 1)])[0][big]
        page = starts[-1] // (2 * SLICE)
        assert blobs.read == [chunk_pages.page_key(principal.tenant_id, big, 1, page)]
        if outcome is not Outcome.EMBED_NEXT:
            break
    assert outcome is Outcome.DONE and starts == list(range(0, total, SLICE))
    assert _positions(svc, principal, big) == list(range(total))


class _FailingStore:
    """The store going away halfway through an upsert: a slice cut off midway, half of it
    written."""

    def __init__(self, store) -> None:  # type: ignore[no-untyped-def]
        self._store = store

    def upsert(self, points, made_by=None) -> None:  # type: ignore[no-untyped-def]
        self._store.upsert(points[: len(points) // 2], made_by=made_by)
        raise ConnectionError("store went away")

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._store, name)


def test_a_slice_cut_off_is_done_again_and_every_chunk_is_stored_once(env) -> None:  # type: ignore[no-untyped-def]
    svc, parse, principal = env
    big = new_doc(svc, principal, long_text(36, seed=32))
    assert run_parse_stage(svc, big, 1, parse) is Outcome.EMBED_NEXT
    total = _doc(svc, big).chunks_total
    assert run_embed_group(svc, [(big, 1)])[0] == {big: Outcome.EMBED_NEXT}
    # The second slice's run writes half its slice, then the store fails.
    failing = _FailingStore(svc.store)
    cut_off = replace(svc, store_resource=Resource("store", lambda: failing))
    outcomes, errors = run_embed_group(cut_off, [(big, 1)])
    assert outcomes == {big: Outcome.RETRY} and isinstance(errors[big], ConnectionError)
    doc = _doc(svc, big)
    # The cut-off slice does not count: the retry starts where the last whole slice ended.
    assert doc.chunks_indexed == SLICE and doc.run_token is None
    assert len(_positions(svc, principal, big)) > SLICE
    while run_embed_group(svc, [(big, 1)])[0][big] is Outcome.EMBED_NEXT:
        pass
    assert _doc(svc, big).status == "ready"
    assert _positions(svc, principal, big) == list(range(total))


def test_a_document_over_the_chunk_limit_fails_with_the_reason_in_both_languages(env) -> None:  # type: ignore[no-untyped-def]
    svc, parse, principal = env
    doc_id = new_doc(svc, principal, long_text(150, seed=33))
    assert run_parse_stage(svc, doc_id, 1, parse) is Outcome.FAILED
    doc = _doc(svc, doc_id)
    assert doc.status == "failed" and doc.chunks_total == 0
    assert doc.error.startswith("the file could not be parsed: the document has ")
    assert doc.error.endswith(" chunks of text (limit 40): split it into smaller files")
    count = doc.error.split("the document has ")[1].split(" chunks")[0]
    assert int(count.replace(",", "")) > 40
    assert localize(doc.error, CHINESE) == (
        f"无法解析该文件：文档切分后有 {count} 个文本块（上限 40 个）：请拆分为较小的文件"
    )
    assert _positions(svc, principal, doc_id) == []


def test_an_access_change_the_store_missed_between_slices_reaches_the_first_slices(env) -> None:  # type: ignore[no-untyped-def]
    """The list changed between two slices and its store write failed (the store was down):
    the run that resumes the document rewrites it on the chunks earlier runs wrote, so the
    store is not marked in line over chunks that carry the old list."""
    svc, parse, principal = env
    doc_id = new_doc(svc, principal, long_text(36, seed=34))
    assert run_parse_stage(svc, doc_id, 1, parse) is Outcome.EMBED_NEXT
    assert run_embed_group(svc, [(doc_id, 1)])[0] == {doc_id: Outcome.EMBED_NEXT}
    with transaction(svc.sessions) as s:
        # Committed, but never written to the store (no apply_latest): its mark stays behind.
        doc_queries.set_access(s, doc_queries.get_document(s, doc_id), ["everyone"])
    while run_embed_group(svc, [(doc_id, 1)])[0][doc_id] is Outcome.EMBED_NEXT:
        pass
    doc = _doc(svc, doc_id)
    assert doc.status == "ready" and doc.store_access_version == doc.access_version
    chunks = svc.store.document_chunks(Scope.admin(principal.tenant_id), doc_id)
    owner = f"user:{principal.user_id}"
    assert len(chunks) == doc.chunks_total
    assert {tuple(c.payload[fields.ACCESS]) for c in chunks} == {("everyone", owner)}
