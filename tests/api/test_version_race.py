"""A new version racing with the ingestion of the previous one, with the real embedded Qdrant
engine on PostgreSQL and SQLite: once every writer has returned, the ready version's chunks,
and only they, answer. The interleavings are forced with ``Paused`` (``test_access_race``).
"""

from __future__ import annotations

from dataclasses import replace

from core.blobs import original_key
from core.db import documents as doc_queries
from core.db.session import transaction
from core.resources import ready
from index import types as fields
from index.store import Scope
from tests.api.test_access_race import WAIT_S, Env, Paused, env, finish, in_thread
from tests.files import long_text
from workers.context import Outcome, parse_each
from workers.embed_stage import run_embed_group
from workers.parse_stage import run_parse_group
from zhiku.container import build_parse_fn

__all__ = ["env"]  # the fixture, shared with the access races


def upload_version(env: Env, doc_id: str, text: str) -> int:
    """What ``DocumentService.new_version`` records: the next version, queued, its bytes kept."""
    with transaction(env.svc.sessions) as session:
        doc = doc_queries.get_document(session, doc_id)
        doc_queries.start_new_version(
            session, doc, size_bytes=len(text), content_hash=str(hash(text))
        )
        doc.blob_key = original_key(doc.tenant_id, doc.id, doc.version)
        env.svc.blobs.put(doc.blob_key, text.encode())
        return doc.version


def parse(env: Env, doc_id: str, version: int) -> None:
    parse_fn = parse_each(build_parse_fn(env.container.settings))
    outcomes, _ = run_parse_group(env.svc, [(doc_id, version)], parse_fn)
    assert outcomes[doc_id] is Outcome.EMBED_NEXT


def ingest(env: Env, doc_id: str, version: int) -> None:
    parse(env, doc_id, version)
    assert run_embed_group(env.svc, [(doc_id, version)])[0][doc_id] is Outcome.DONE


def versions(env: Env, doc_id: str) -> dict[int, int]:
    """How many chunks of each version the store holds."""
    found: dict[int, int] = {}
    for chunk in env.svc.store.document_chunks(Scope.admin(env.owner.tenant_id), doc_id):
        version = int(chunk.payload[fields.VERSION])
        found[version] = found.get(version, 0) + 1
    return found


def test_a_late_stale_delete_keeps_the_newer_ready_version(env: Env) -> None:
    """Version 2 passed its claim check and is about to drop stale chunks when version 3 is
    uploaded, parsed, embedded and made ready. Its delete then must not take version 3's."""
    doc_id = env.parsed_doc(long_text(6, seed=41))
    assert run_embed_group(env.svc, [(doc_id, 1)])[0][doc_id] is Outcome.DONE
    parse(env, doc_id, upload_version(env, doc_id, long_text(7, seed=42)))
    worker_store = Paused(env.svc.store, "delete_stale_chunks", before=True)
    worker_svc = replace(env.svc, store_resource=ready(worker_store))
    worker, worker_out = in_thread(lambda: run_embed_group(worker_svc, [(doc_id, 2)]))
    assert worker_store.reached.wait(WAIT_S)
    ingest(env, doc_id, upload_version(env, doc_id, long_text(8, seed=43)))
    ready_chunks = versions(env, doc_id)
    assert set(ready_chunks) == {3}
    worker_store.proceed.set()
    outcomes, _ = finish(worker, worker_out)  # type: ignore[misc]
    assert outcomes[doc_id] is Outcome.SKIPPED  # superseded
    assert versions(env, doc_id) == ready_chunks
    with env.container.sessions() as session:
        doc = doc_queries.get_document(session, doc_id)
        assert (doc.version, doc.chunks_done) == (3, ready_chunks[3])


def test_a_superseded_slice_landing_after_the_new_version_is_removed(env: Env) -> None:
    """A slice of version 2 is in flight while version 3 is uploaded and made ready: its
    chunks land after version 3 dropped the older ones, and must not stay beside them."""
    doc_id = env.parsed_doc(long_text(6, seed=44))
    assert run_embed_group(env.svc, [(doc_id, 1)])[0][doc_id] is Outcome.DONE
    parse(env, doc_id, upload_version(env, doc_id, long_text(9, seed=45)))
    worker_store = Paused(env.svc.store, "upsert", before=True)
    worker_svc = replace(env.svc, store_resource=ready(worker_store))
    worker, worker_out = in_thread(lambda: run_embed_group(worker_svc, [(doc_id, 2)]))
    assert worker_store.reached.wait(WAIT_S)
    # Until version 3 is ready, version 1 keeps answering.
    assert set(versions(env, doc_id)) == {1}
    ingest(env, doc_id, upload_version(env, doc_id, long_text(5, seed=46)))
    worker_store.proceed.set()
    assert worker_store.done.wait(WAIT_S)  # version 2's slice landed after version 3's finish
    outcomes, _ = finish(worker, worker_out)  # type: ignore[misc]
    assert outcomes[doc_id] is Outcome.SKIPPED
    assert set(versions(env, doc_id)) == {3}


def found(env: Env, query: str, doc_id: str) -> set[int]:
    """The versions of ``doc_id`` a search by its owner answers with (the container's own
    retriever: the same path as /v1/search)."""
    result = env.container.retriever_resource.get().search(env.owner, query, limit=100)
    return {hit.version for hit in result.hits if hit.doc_id == doc_id}


def test_search_answers_with_the_ready_version_while_the_next_one_is_written(env: Env) -> None:
    """Version 2's first slice is in the store, the rest still in the model: search keeps
    answering with version 1 alone, then with version 2 alone once it is ready."""
    text = long_text(6, seed=47)
    doc_id = env.parsed_doc(text)
    assert run_embed_group(env.svc, [(doc_id, 1)])[0][doc_id] is Outcome.DONE
    query = text.split(".")[0]
    assert found(env, query, doc_id) == {1}
    parse(env, doc_id, upload_version(env, doc_id, long_text(12, seed=47)))
    worker_store = Paused(env.svc.store, "upsert")  # after its real call
    worker_svc = replace(env.svc, store_resource=ready(worker_store))
    worker, worker_out = in_thread(lambda: run_embed_group(worker_svc, [(doc_id, 2)]))
    assert worker_store.reached.wait(WAIT_S)
    assert set(versions(env, doc_id)) == {1, 2}  # the store holds both for now
    assert found(env, query, doc_id) == {1}
    worker_store.proceed.set()
    outcomes, _ = finish(worker, worker_out)  # type: ignore[misc]
    assert outcomes[doc_id] is Outcome.DONE
    assert found(env, query, doc_id) == {2}


def test_a_slice_landing_after_the_delete_returned_is_never_found(env: Env) -> None:
    """The delete returns while a slice is on its way to the store; it lands, and stays
    until the worker's next fenced write finds the document gone. Search never shows it."""
    text = long_text(6, seed=48)
    doc_id = env.parsed_doc(text)
    query = text.split(".")[0]
    landed = Paused(env.svc.store, "upsert")  # after the real call
    on_its_way = Paused(landed, "upsert", before=True)
    worker_svc = replace(env.svc, store_resource=ready(on_its_way))
    worker, worker_out = in_thread(lambda: run_embed_group(worker_svc, [(doc_id, 1)]))
    assert on_its_way.reached.wait(WAIT_S)
    env.documents().delete(env.owner, doc_id)
    on_its_way.proceed.set()
    assert landed.reached.wait(WAIT_S)
    assert versions(env, doc_id)  # in the store, after the delete returned
    assert found(env, query, doc_id) == set()
    landed.proceed.set()
    outcomes, _ = finish(worker, worker_out)  # type: ignore[misc]
    assert outcomes[doc_id] is Outcome.SKIPPED
    assert versions(env, doc_id) == {}  # and removed by the worker
