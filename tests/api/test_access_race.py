"""Access changes racing with ingestion, other access changes and deletes, on PostgreSQL and
SQLite with the real embedded Qdrant engine: whatever the interleaving, once every writer has
returned each chunk carries the list last committed to the database (``core.db.access``).

The interleavings are forced, not hoped for: a store method of one writer pauses (after its
real call) until the test lets it go, while another writer runs in a thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from core.access import Principal, user_token
from core.db import documents as doc_queries
from core.db import identity
from core.db.session import transaction
from core.resources import ready
from index import types as fields
from index.store import Scope, VectorStore
from services.documents import DocumentService
from services.schemas.documents import AccessSpec
from tests.files import long_text
from tests.support import make_settings
from tests.workers.helpers import new_doc
from workers.context import Outcome, StageContext, parse_each
from workers.embed_stage import run_embed_group
from workers.parse_stage import run_parse_group
from zhiku.container import Container, build_parse_fn
from zhiku.database import build_sessions

WAIT_S = 30


class Paused:
    """The real store; the ``nth`` call of ``method`` signals ``reached`` and waits for
    ``proceed``, after its real call (or, with ``before``, ahead of it), and sets ``done``
    once the real call returned."""

    def __init__(self, store: VectorStore, method: str, nth: int = 1, before: bool = False):
        self._store, self._method, self._nth, self._before = store, method, nth, before
        self._calls = 0
        self.reached, self.proceed, self.done = (threading.Event() for _ in range(3))

    def _pause(self) -> None:
        self.reached.set()
        assert self.proceed.wait(WAIT_S), "the test never let the call go on"

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._store, name)
        if name != self._method:
            return real

        def paused(*args: Any, **kwargs: Any) -> Any:
            self._calls += 1
            chosen = self._calls == self._nth
            if chosen and self._before:
                self._pause()
            result = real(*args, **kwargs)
            if chosen:
                self.done.set()
                if not self._before:
                    self._pause()
            return result

        return paused


@dataclass
class Env:
    svc: StageContext
    container: Container
    owner: Principal
    reader: Principal  # a second user of the tenant

    def documents(self, store: VectorStore | None = None) -> DocumentService:
        return DocumentService(
            self.container.sessions,
            self.container.blobs,
            ready(store or self.svc.store),
            self.container.dispatcher,
            self.container.settings.limits,
        )

    def parsed_doc(self, text: str) -> str:
        doc_id = new_doc(self.svc, self.owner, text)
        parse = parse_each(build_parse_fn(self.container.settings))
        outcomes, _ = run_parse_group(self.svc, [(doc_id, 1)], parse)
        assert outcomes[doc_id] is Outcome.EMBED_NEXT
        return doc_id

    def chunk_lists(self, doc_id: str) -> set[tuple[str, ...]]:
        chunks = self.svc.store.document_chunks(Scope.admin(self.owner.tenant_id), doc_id)
        return {tuple(c.payload[fields.ACCESS]) for c in chunks}

    def committed(self, doc_id: str) -> tuple[str, ...]:
        with self.container.sessions() as session:
            doc = doc_queries.get_document(session, doc_id)
            return tuple(sorted({*doc.access, user_token(doc.owner_id)}))


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def env(request, tmp_path_factory) -> Iterator[Env]:  # type: ignore[no-untyped-def]
    database = {"url": request.getfixturevalue("pg_url")} if request.param == "postgresql" else {}
    settings = make_settings(
        tmp_path_factory.mktemp("race"),
        database=database,
        embedding={"batch_size": 4},
        worker={"stale_after_s": 60},
    )
    build_sessions(settings, migrate=True)
    container = Container(settings, role="cli")
    with transaction(container.sessions) as s:
        # One tenant per module using the fixture (``test_version_race`` shares it).
        module = request.module.__name__.rsplit(".", 1)[-1]
        tenant = identity.create_tenant(s, f"race-{request.param}-{module}")
        owner = identity.principal_for(identity.create_user(s, tenant.id, "owner"))
        reader = identity.principal_for(identity.create_user(s, tenant.id, "reader"))
    yield Env(container.stage_context, container, owner, reader)
    container.close()


def only(env: Env, who: Principal) -> AccessSpec:
    return AccessSpec(users=[who.user_id], groups=[], everyone=False)


def in_thread(target: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """Run ``target`` on a thread; its result (or exception) lands in the returned list."""
    out: list[object] = []

    def run() -> None:
        try:
            out.append(target())
        except Exception as exc:  # handed to the test, which re-raises it
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def finish(thread: threading.Thread, out: list[object]) -> object:
    thread.join(WAIT_S)
    assert not thread.is_alive() and out, "the writer never finished"
    if isinstance(out[0], Exception):
        raise out[0]
    return out[0]


def test_slice_written_with_the_old_list_inside_an_uncommitted_patch(env: Env) -> None:
    """The PATCH has written the store but not committed; a slice lands with the old list and
    its re-check still reads the old version. The PATCH's re-apply after commit wins."""
    doc_id = env.parsed_doc(long_text(24, seed=31))
    patch_store = Paused(env.svc.store, "set_document_access")
    worker_store = Paused(env.svc.store, "upsert", before=True)
    worker_svc = replace(env.svc, store_resource=ready(worker_store))

    worker, worker_out = in_thread(lambda: run_embed_group(worker_svc, [(doc_id, 1)]))
    assert worker_store.reached.wait(WAIT_S)  # claimed with the old list, about to upsert
    patch, patch_out = in_thread(
        lambda: env.documents(patch_store).change_access(
            env.owner, doc_id, AccessSpec(users=[], groups=[], everyone=True)
        )
    )
    assert patch_store.reached.wait(WAIT_S)  # written to the store, not committed yet
    worker_store.proceed.set()
    assert worker_store.done.wait(WAIT_S)  # the old list lands after the PATCH's write
    time.sleep(0.3)  # and its re-check reads the version the PATCH has not committed yet
    patch_store.proceed.set()
    finish(patch, patch_out)
    outcomes, errors = finish(worker, worker_out)  # type: ignore[misc]
    assert errors == {} and outcomes[doc_id] is Outcome.DONE
    assert env.chunk_lists(doc_id) == {env.committed(doc_id)}
    assert env.committed(doc_id) == ("everyone", user_token(env.owner.user_id))


def test_patch_committed_between_an_upsert_and_its_recheck(env: Env) -> None:
    doc_id = env.parsed_doc(long_text(30, seed=32))
    worker_store = Paused(env.svc.store, "upsert", nth=2)
    worker_svc = replace(env.svc, store_resource=ready(worker_store))
    worker, worker_out = in_thread(lambda: run_embed_group(worker_svc, [(doc_id, 1)]))
    assert worker_store.reached.wait(WAIT_S)
    env.documents().change_access(env.owner, doc_id, only(env, env.reader))
    worker_store.proceed.set()
    outcomes, errors = finish(worker, worker_out)  # type: ignore[misc]
    assert errors == {} and outcomes[doc_id] is Outcome.DONE
    expected = tuple(sorted([user_token(env.owner.user_id), user_token(env.reader.user_id)]))
    assert env.committed(doc_id) == expected
    assert env.chunk_lists(doc_id) == {expected}


def test_two_patches_take_turns_and_the_last_committed_wins(env: Env) -> None:
    doc_id = env.parsed_doc("双语文档：访问控制列表 access list race. " + long_text(6, seed=33))
    outcomes, _ = run_embed_group(env.svc, [(doc_id, 1)])
    assert outcomes[doc_id] is Outcome.DONE
    first_store = Paused(env.svc.store, "set_document_access")
    first, first_out = in_thread(
        lambda: env.documents(first_store).change_access(
            env.owner, doc_id, AccessSpec(users=[], groups=[], everyone=True)
        )
    )
    assert first_store.reached.wait(WAIT_S)  # the first holds the row lock, uncommitted
    second, second_out = in_thread(
        lambda: env.documents().change_access(env.owner, doc_id, only(env, env.owner))
    )
    second.join(0.5)
    assert second.is_alive(), "the second PATCH must wait for the first's lock"
    first_store.proceed.set()
    finish(first, first_out)
    finish(second, second_out)
    assert env.committed(doc_id) == (user_token(env.owner.user_id),)
    assert env.chunk_lists(doc_id) == {(user_token(env.owner.user_id),)}


def test_a_twin_copy_racing_with_a_patch_gets_the_newest_list(env: Env) -> None:
    text = "同一份文件 identical bytes, copied not embedded. " + long_text(8, seed=34)
    source = env.parsed_doc(text)
    assert run_embed_group(env.svc, [(source, 1)])[0][source] is Outcome.DONE
    twin = env.parsed_doc(text)
    worker_store = Paused(env.svc.store, "upsert")
    worker_svc = replace(env.svc, store_resource=ready(worker_store))
    worker, worker_out = in_thread(lambda: run_embed_group(worker_svc, [(twin, 1)]))
    assert worker_store.reached.wait(WAIT_S)  # the copy is written with the claim's list
    env.documents().change_access(env.owner, twin, only(env, env.reader))
    worker_store.proceed.set()
    outcomes, _ = finish(worker, worker_out)  # type: ignore[misc]
    assert outcomes[twin] is Outcome.DONE
    with env.container.sessions() as session:
        assert doc_queries.get_document(session, twin).reused_from == source
    assert env.chunk_lists(twin) == {env.committed(twin)}
    assert user_token(env.reader.user_id) in env.committed(twin)


def test_a_delete_waits_for_a_patch_and_leaves_nothing(env: Env) -> None:
    doc_id = env.parsed_doc(long_text(6, seed=35))
    assert run_embed_group(env.svc, [(doc_id, 1)])[0][doc_id] is Outcome.DONE
    patch_store = Paused(env.svc.store, "set_document_access")
    patch, patch_out = in_thread(
        lambda: env.documents(patch_store).change_access(
            env.owner, doc_id, AccessSpec(users=[], groups=[], everyone=True)
        )
    )
    assert patch_store.reached.wait(WAIT_S)
    delete, delete_out = in_thread(lambda: env.documents().delete(env.owner, doc_id))
    delete.join(0.5)
    assert delete.is_alive(), "the delete must wait for the PATCH's lock"
    patch_store.proceed.set()
    finish(patch, patch_out)
    finish(delete, delete_out)
    assert env.chunk_lists(doc_id) == set()
