"""/v1/search over real HTTP: hybrid retrieval, metadata filters, language routing, bad input,
and the audit record, on PostgreSQL and the embedded engine with in-process ingestion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from core.db.models import AnswerRecord
from core.db.session import transaction
from tests.api.world import World, upload, wait_terminal
from tests.live import ThreadServer
from tests.support import make_settings

DOCS = {
    "volcano.txt": "Volcanoes\n\nMount Etna in Sicily erupts often. Lava flows from its craters "
    "reached the town of Nicolosi in 1886, and ash closes Catania airport several times a year.",
    "bees.md": "# Pollination\n\nHoneybees pollinate almond orchards in California each "
    "February; beekeepers truck two million hives to the Central Valley for the bloom.",
    "tea.txt": "绿茶的制作\n\n龙井茶产于杭州西湖一带，采摘后经过杀青、揉捻和干燥。"
    "明前茶在清明节之前采摘，价格最高。",
    "secret.txt": "Project Nightjar budget\n\nThe Nightjar satellite programme was allotted "
    "forty million euros for the launch in 2027.",
}


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("search"), database={"url": pg_url})
    with ThreadServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def world(server: ThreadServer) -> World:
    world = World(server)
    with world.client("ann") as ann:
        public = [(n, b.encode()) for n, b in DOCS.items() if n != "secret.txt"]
        r = upload(ann, public, access={"everyone": True}, tags="nature")
        assert r.status_code == 202, r.text
        ids = {d["filename"]: d["id"] for d in r.json()["data"]}
        r = upload(ann, [("secret.txt", DOCS["secret.txt"].encode())])  # only ann
        ids["secret.txt"] = r.json()["data"][0]["id"]
        for doc_id in ids.values():
            assert wait_terminal(ann, doc_id)["status"] == "ready"
    world.doc_ids = ids  # type: ignore[attr-defined]
    return world


def search(client: httpx.Client, query: str, **body: object) -> httpx.Response:
    return client.post("/v1/search", json={"query": query, **body})


def top_file(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert results, response.json()
    return results[0]["filename"]


def test_search_needs_a_key(server: ThreadServer) -> None:
    assert httpx.post(server.url + "/v1/search", json={"query": "x"}).status_code == 401


def test_finds_the_relevant_chunk_with_its_citation_fields(world: World) -> None:
    with world.client("bob") as bob:
        r = search(bob, "When did lava reach Nicolosi?")
        assert top_file(r) == "volcano.txt"
        hit = r.json()["results"][0]
        assert hit["document_id"] == world.doc_ids["volcano.txt"]  # type: ignore[attr-defined]
        assert "Nicolosi" in hit["text"]
        assert hit["title"] and hit["chunk_id"] and hit["version"] == 1
        assert r.json()["mode"] == "hybrid" and r.json()["language"] == "en"
        # A paraphrase with no shared keyword still finds it: the dense side at work.
        assert top_file(search(bob, "insects carrying pollen for nut trees")) == "bees.md"


def test_chinese_queries_run_on_the_sparse_side(world: World) -> None:
    with world.client("bob") as bob:
        r = search(bob, "龙井茶产于哪里？")
        assert top_file(r) == "tea.txt"
        assert r.json()["language"] == "zh" and r.json()["mode"] == "sparse"


def test_unreadable_documents_never_come_back(world: World) -> None:
    with world.client("bob") as bob:
        results = search(bob, "Nightjar satellite budget", limit=50).json()["results"]
        assert world.doc_ids["secret.txt"] not in {h["document_id"] for h in results}  # type: ignore[attr-defined]
    with world.client("zed") as zed:  # another tenant
        assert search(zed, "Nightjar satellite budget").json()["results"] == []
        assert search(zed, "Etna lava").json()["results"] == []
    with world.client("ann") as ann:  # the owner reads it
        assert top_file(search(ann, "Nightjar satellite budget")) == "secret.txt"


def test_metadata_filters_narrow_the_results(world: World) -> None:
    ids = world.doc_ids  # type: ignore[attr-defined]
    with world.client("ann") as ann:
        only = search(ann, "lava", filters={"document_ids": [ids["bees.md"]]}).json()["results"]
        assert {h["document_id"] for h in only} == {ids["bees.md"]}
        md = search(ann, "lava pollination budget", filters={"file_types": ["md"]})
        assert {h["filename"] for h in md.json()["results"]} == {"bees.md"}
        tagged = search(ann, "Nightjar budget", limit=50, filters={"tags": ["nature"]})
        assert "secret.txt" not in {h["filename"] for h in tagged.json()["results"]}
        future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        later = search(ann, "lava", filters={"created_after": future}).json()["results"]
        assert later == []
        earlier = search(ann, "lava", filters={"created_before": future}).json()["results"]
        assert earlier


def test_bad_searches_get_clear_errors(world: World) -> None:
    with world.client("bob") as bob:
        for body, status in [
            ({"query": "   "}, 422),  # the schema refuses it, before any work
            ({"query": "x" * 5000}, 422),
            ({"query": "lava", "limit": 0}, 422),
            ({"query": "lava", "limit": 1000}, 422),
            ({"query": "lava", "mode": "magic"}, 422),
            ({"query": "lava", "filters": {"file_types": ["exe"]}}, 400),
            ({"query": "lava", "filters": {"created_after": "2026-01-01T00:00:00"}}, 422),
            ({}, 422),
        ]:
            r = bob.post("/v1/search", json=body)
            assert r.status_code == status, (body, r.text)
            assert r.json()["detail"]


def test_each_search_leaves_an_audit_record(server: ThreadServer, world: World) -> None:
    with world.client("carol") as carol:
        r = search(carol, "honeybees almond orchards")
        assert top_file(r) == "bees.md"
    with transaction(server.container.sessions) as session:
        record = session.scalars(
            select(AnswerRecord)
            .where(AnswerRecord.user_id == world.ids["carol"])
            .order_by(AnswerRecord.created_at.desc())
        ).first()
        assert record is not None
        assert record.endpoint == "search" and record.question == "honeybees almond orchards"
        assert record.retrieved[0]["doc_id"] == world.doc_ids["bees.md"]  # type: ignore[attr-defined]
        assert record.outcome == "ok" and record.tenant_id == world.tenant_a.id


def test_admins_read_who_searched_in_their_tenant_only_and_never_what(world: World) -> None:
    with world.client("carol") as carol:
        assert search(carol, "almond orchards").status_code == 200
        assert carol.get("/v1/audit/answers").status_code == 403
    with world.client("ann") as ann:
        r = ann.get("/v1/audit/answers", params={"user_id": world.ids["carol"]})
        assert r.status_code == 200, r.text
        records = r.json()["data"]
        assert records and {rec["user_id"] for rec in records} == {world.ids["carol"]}
        # Who searched, when and how it went; never what (the auditor's view has the text:
        # tests/api/test_audit_privacy.py).
        assert records[0]["redacted"] and records[0]["question"] is None
        assert records[0]["retrieved"] is None and records[0]["outcome"] == "ok"
    with world.client("zed") as zed:  # the other tenant's admin sees none of it
        r = zed.get("/v1/audit/answers", params={"user_id": world.ids["carol"]})
        assert r.json()["count"] == 0
