"""Tags are stored folded, and those stored before are folded by migration 0013, in the
database and in the vector store's payloads, on SQLite and PostgreSQL.

A document tagged ＨＲ (full-width, as a Chinese input method types it) was not found by the
filter HR: the filter folds what it is given (``core.text_forms.tag_forms``), but the stored
tag was not folded. New uploads store tags folded (``stored_tags``). Rows stored before are
rewritten by the migration; their chunks in the store still carry the old form, which the
filters no longer send, until the access reconcile (run at start-up and by the sweeper)
rewrites them from the rows (``core.db.access``, rule 6)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from alembic import command
from sqlalchemy import update

from core.db import access as access_queries
from core.db.migrate import alembic_config, upgrade
from core.db.models import Document
from core.db.session import transaction
from index import types as fields
from tests.api.world import World, chunks_of, upload, wait_terminal
from tests.live import ThreadServer
from tests.support import make_settings

# (file, text, the tags typed, as stored, filters that must find it)
TYPED = [
    (
        "人事制度.txt",
        "人事制度：新员工试用期为三个月。",
        "ＨＲ，人事",
        ["HR", "人事"],
        ["HR", "ＨＲ"],
    ),
    (
        "人事規定.txt",
        "人事規定：新員工試用期為三個月。",
        "人事、２０２６",
        ["人事", "2026"],
        ["2026"],
    ),
    ("onboarding.txt", "Onboarding: the probation period is three months.", "ＱＡ", ["QA"], ["QA"]),
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory) -> Iterator[ThreadServer]:  # type: ignore[no-untyped-def]
    database = {"url": request.getfixturevalue("pg_url")} if request.param == "postgresql" else {}
    settings = make_settings(tmp_path_factory.mktemp(f"folded-{request.param}"), database=database)
    with ThreadServer(settings) as live:
        yield live


@pytest.fixture(scope="module")
def world(server: ThreadServer) -> World:
    return World(server)


def _listed(client: httpx.Client, tag: str) -> set[str]:
    r = client.get("/v1/documents", params={"tag": tag, "limit": 100})
    assert r.status_code == 200, r.text
    return {d["filename"] for d in r.json()["data"]}


def _searched(client: httpx.Client, query: str, tag: str) -> set[str]:
    r = client.post("/v1/search", json={"query": query, "limit": 50, "filters": {"tags": [tag]}})
    assert r.status_code == 200, r.text
    return {hit["filename"] for hit in r.json()["results"]}


@pytest.mark.parametrize(("name", "text", "typed", "stored", "filters"), TYPED)
def test_an_upload_stores_its_tags_folded_and_either_form_finds_them(
    server: ThreadServer,
    world: World,
    name: str,
    text: str,
    typed: str,
    stored: list[str],
    filters: list[str],
) -> None:
    with world.client("ann") as ann:
        r = upload(ann, [(name, text.encode())], tags=typed)
        assert r.status_code == 202, r.text
        doc = r.json()["data"][0]
        assert doc["tags"] == stored
        assert wait_terminal(ann, doc["id"])["status"] == "ready"
        for point in chunks_of(server, world.tenant_a.id, doc["id"]):
            assert point.payload[fields.TAGS] == stored
        for wanted in filters:
            assert name in _listed(ann, wanted), wanted
            assert name in _searched(ann, text, wanted), wanted


def test_tags_stored_before_folding_are_folded_in_the_rows_and_the_store(
    server: ThreadServer, world: World
) -> None:
    name, text = "旧标签.txt", "旧制度：报销须在三十天内提交。"
    legacy = ["ＨＲ", "財務，２０２５", "hr"]
    with world.client("ann") as ann, world.client("carol") as carol:
        r = upload(ann, [(name, text.encode())], access={"users": [world.ids["ann"]]})
        doc_id = r.json()["data"][0]["id"]
        assert wait_terminal(ann, doc_id)["status"] == "ready"
        # As an upload before tags were folded left it: the row and every chunk as typed.
        sessions, store = server.container.sessions, server.container.store
        with transaction(sessions) as s:
            s.execute(update(Document).where(Document.id == doc_id).values(tags=legacy))
            tokens = access_queries.access_states(s, [doc_id])[doc_id].tokens
        store.set_document_access(world.tenant_a.id, doc_id, tokens, legacy)
        assert name not in _listed(ann, "HR") and name not in _searched(ann, text, "HR")

        command.stamp(alembic_config(server.container.settings.database_url), "0012")
        upgrade(server.container.settings.database_url)
        assert ann.get(f"/v1/documents/{doc_id}").json()["tags"] == ["HR", "財務", "2025", "hr"]
        assert name in _listed(ann, "HR") and name in _listed(ann, "财务")
        # The chunks still carry the typed forms, which no filter sends any more...
        assert name not in _searched(ann, text, "HR")
        server.container.reconcile_access()  # ...until the reconcile rewrites them
        for point in chunks_of(server, world.tenant_a.id, doc_id):
            assert point.payload[fields.TAGS] == ["HR", "財務", "2025", "hr"]
            assert point.payload[fields.ACCESS] == tokens  # the access list kept as it was
        for wanted in ("HR", "ＨＲ", "财务", "財務", "2025", "２０２５", "hr"):
            assert name in _searched(ann, text, wanted), wanted
        # The access list is unchanged: carol, not on it, finds it by no tag.
        assert name not in _searched(carol, text, "HR") and name not in _listed(carol, "HR")
        with server.container.sessions() as s:
            assert s.get(Document, doc_id).store_access_version is not None  # type: ignore[union-attr]
