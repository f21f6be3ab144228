"""An access change whose store write never happened (the process died after the commit, or
the store refused the write) is brought into the store by the next start-up or sweep
(``core.db.access``, rules 4 and 5). On PostgreSQL and SQLite, with the real embedded Qdrant
engine, and searched the way callers search.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from core.access import Principal, user_token
from core.db import access as access_queries
from core.db import documents as doc_queries
from core.db import identity
from core.db.models import Document
from core.db.session import transaction
from core.errors import UpstreamUnavailable
from core.resources import ready
from index import types as fields
from index.store import Scope, VectorStore
from services.documents import DocumentService
from services.schemas.documents import AccessSpec
from tests.api.world import World, upload, wait_terminal
from tests.live import ThreadServer
from tests.support import make_settings
from tests.workers.helpers import new_doc
from workers.context import Outcome, parse_each
from workers.embed_stage import run_embed_group
from workers.parse_stage import run_parse_group
from workers.sweeper import Sweeper, reconcile_access
from zhiku.container import Container, build_parse_fn
from zhiku.database import build_sessions

WAIT_S = 30
TEXT = (
    "Harbour safety manual. Every crane at the north pier is inspected each Monday.\n\n"
    "港口安全手册：北码头的每台起重机每周一检查一次。"
)


class RefusingStore:
    """The real store, except that access writes fail as a store that is down does."""

    def __init__(self, store: VectorStore) -> None:
        self._store = store

    def set_document_access(self, *_: Any) -> None:
        raise UpstreamUnavailable("the vector store is down (test)")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@dataclass
class Env:
    container: Container
    owner: Principal
    reader: Principal  # on the list before the change
    newcomer: Principal  # on the list after it

    @property
    def store(self) -> VectorStore:
        return self.container.store

    def documents(self, store: Any = None) -> DocumentService:
        c = self.container
        return DocumentService(
            c.sessions, c.blobs, ready(store or self.store), c.dispatcher, c.settings.limits
        )

    def ready_doc(self, text: str, readers: list[Principal]) -> str:
        svc = self.container.stage_context
        doc_id = new_doc(svc, self.owner, text)
        parse = parse_each(build_parse_fn(self.container.settings))
        assert run_parse_group(svc, [(doc_id, 1)], parse)[0][doc_id] is Outcome.EMBED_NEXT
        assert run_embed_group(svc, [(doc_id, 1)])[0][doc_id] is Outcome.DONE
        change = self.documents().change_access(self.owner, doc_id, spec(readers))
        assert change.in_force
        return doc_id

    def found_by(self, who: Principal, query: str, doc_id: str) -> bool:
        hits = self.container.retriever_resource.get().search(who, query, limit=20).hits
        return any(hit.doc_id == doc_id for hit in hits)

    def chunk_lists(self, doc_id: str) -> set[tuple[str, ...]]:
        chunks = self.store.document_chunks(Scope.admin(self.owner.tenant_id), doc_id)
        return {tuple(c.payload[fields.ACCESS]) for c in chunks}

    def versions(self, doc_id: str) -> tuple[int, int | None]:
        with self.container.sessions() as session:
            doc = session.get(Document, doc_id)
            assert doc is not None
            return doc.access_version, doc.store_access_version

    def committed(self, doc_id: str) -> tuple[str, ...]:
        with self.container.sessions() as session:
            doc = doc_queries.get_document(session, doc_id)
            return tuple(access_queries.store_tokens(doc.access, doc.owner_id))


def spec(readers: list[Principal]) -> AccessSpec:
    return AccessSpec(users=[p.user_id for p in readers], groups=[], everyone=False)


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def env(request, tmp_path_factory) -> Iterator[Env]:  # type: ignore[no-untyped-def]
    database = {"url": request.getfixturevalue("pg_url")} if request.param == "postgresql" else {}
    settings = make_settings(
        tmp_path_factory.mktemp("reconcile"), database=database, embedding={"batch_size": 4}
    )
    build_sessions(settings, migrate=True)
    container = Container(settings, role="cli")
    with transaction(container.sessions) as s:
        tenant = identity.create_tenant(s, f"reconcile-{request.param}")
        owner, reader, newcomer = (
            identity.principal_for(identity.create_user(s, tenant.id, name))
            for name in ("owner", "reader", "newcomer")
        )
    yield Env(container, owner, reader, newcomer)
    container.close()


def test_a_refused_store_write_answers_not_in_force_and_the_sweeper_applies_it(env: Env) -> None:
    doc_id = env.ready_doc(TEXT, [env.reader])
    assert env.found_by(env.reader, "When is the crane inspected?", doc_id)

    change = env.documents(RefusingStore(env.store)).change_access(
        env.owner, doc_id, spec([env.newcomer])
    )
    # Committed (listed with the new list), but not claimed to be in force: the store still
    # admits the removed reader, and the database knows the store is behind.
    assert not change.in_force
    assert change.document.access.users == [env.newcomer.user_id]
    access_version, store_version = env.versions(doc_id)
    assert store_version is not None and store_version < access_version
    assert env.found_by(env.reader, "起重机多久检查一次？", doc_id)

    sweeper = Sweeper(
        env.container.sessions,
        env.container.dispatcher,
        env.container.settings.worker,
        lambda: env.store.set_document_access,
    )
    sweeper.start()  # its first sweep runs at once
    try:
        deadline = time.monotonic() + WAIT_S
        while env.chunk_lists(doc_id) != {env.committed(doc_id)}:
            assert time.monotonic() < deadline, "the sweeper never applied the committed list"
            time.sleep(0.1)
    finally:
        sweeper.stop()
    assert env.versions(doc_id) == (access_version, access_version)
    for query in ("When is the crane inspected?", "起重机多久检查一次？"):
        assert not env.found_by(env.reader, query, doc_id)
        assert env.found_by(env.newcomer, query, doc_id)


def test_a_crash_after_the_commit_is_repaired_at_the_next_start(env: Env) -> None:
    doc_id = env.ready_doc("Pier lighting rota. 码头照明值班表。", [env.reader])
    # What the PATCH commits, and then the process dies: no store write at all.
    with transaction(env.container.sessions) as session:
        assert access_queries.lock_document(session, doc_id)
        doc = doc_queries.get_document(session, doc_id)
        doc_queries.set_access(session, doc, [user_token(env.newcomer.user_id)])
    assert env.chunk_lists(doc_id) != {env.committed(doc_id)}
    assert env.found_by(env.reader, "pier lighting rota", doc_id)

    env.container.reconcile_access()  # what the API and the worker run at start-up

    assert env.chunk_lists(doc_id) == {env.committed(doc_id)}
    assert not env.found_by(env.reader, "pier lighting rota", doc_id)
    assert not env.found_by(env.reader, "码头照明值班表", doc_id)
    assert env.found_by(env.newcomer, "码头照明值班表", doc_id)
    access_version, store_version = env.versions(doc_id)
    assert store_version == access_version
    # In line: nothing left to do, and the store is not even asked.
    assert reconcile_access(env.container.sessions, _never) == 0


def test_ingestion_marks_the_store_in_line_and_an_unknown_mark_is_written_once(env: Env) -> None:
    doc_id = env.ready_doc("Tide tables for the winter. 冬季潮汐表。", [env.owner])
    assert env.versions(doc_id) == (2, 2)  # the change of ``ready_doc`` was applied
    svc = env.container.stage_context
    fresh = new_doc(svc, env.owner, "Berth booking rules. 泊位预订规则。")
    parse = parse_each(build_parse_fn(env.container.settings))
    run_parse_group(svc, [(fresh, 1)], parse)
    assert run_embed_group(svc, [(fresh, 1)])[0][fresh] is Outcome.DONE
    assert env.versions(fresh) == (1, 1)  # the worker recorded what it wrote
    with transaction(env.container.sessions) as session:
        session.get(Document, fresh).store_access_version = None  # as 0005 leaves a non-ready one
    assert reconcile_access(env.container.sessions, lambda: env.store.set_document_access) == 1
    assert env.versions(fresh) == (1, 1)
    assert env.chunk_lists(fresh) == {env.committed(fresh)}


def _never() -> access_queries.StoreAccessWriter:
    raise AssertionError("nothing is behind: the store must not be opened")


@pytest.fixture(scope="module")
def http(pg_url, tmp_path_factory) -> Iterator[tuple[ThreadServer, World]]:  # type: ignore[no-untyped-def]
    settings = make_settings(
        tmp_path_factory.mktemp("reconcile-http"),
        database={"url": pg_url},
        worker={"sweep_interval_s": 1},
    )
    with ThreadServer(settings) as srv:
        yield srv, World(srv)


def found_over_http(client: httpx.Client, query: str, doc_id: str) -> bool:
    r = client.post("/v1/search", json={"query": query, "limit": 20})
    assert r.status_code == 200, r.text
    return any(hit["document_id"] == doc_id for hit in r.json()["results"])


def test_patch_answers_202_while_the_store_refuses_and_the_sweeper_catches_up(
    http: tuple[ThreadServer, World], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, world = http
    query = "北码头起重机 crane inspection"
    with world.client("ann") as ann, world.client("bob") as bob, world.client("carol") as carol:
        r = upload(ann, [("harbour.txt", TEXT.encode())], access={"users": [world.ids["bob"]]})
        doc_id = r.json()["data"][0]["id"]
        assert wait_terminal(ann, doc_id)["status"] == "ready"
        assert found_over_http(bob, query, doc_id)

        def refuse(*_: Any) -> None:
            raise UpstreamUnavailable("the vector store is down (test)")

        monkeypatch.setattr(server.container.store, "set_document_access", refuse)
        r = ann.patch(f"/v1/documents/{doc_id}/access", json={"users": [world.ids["carol"]]})
        assert r.status_code == 202, r.text  # saved, not yet in force
        assert r.json()["access"]["users"] == [world.ids["carol"]]
        assert ann.get(f"/v1/documents/{doc_id}").json()["access"]["users"] == [world.ids["carol"]]
        assert found_over_http(bob, query, doc_id)  # what 202 warns about

        monkeypatch.undo()  # the store is back: the sweeper writes the committed list
        deadline = time.monotonic() + WAIT_S
        while found_over_http(bob, query, doc_id):
            assert time.monotonic() < deadline, "the sweeper never applied the committed list"
            time.sleep(0.2)
        assert found_over_http(carol, query, doc_id)
        r = ann.patch(f"/v1/documents/{doc_id}/access", json={"everyone": True})
        assert r.status_code == 200, r.text  # in force at once
