"""What the chat page needs beside the answer, over real HTTP on PostgreSQL: the ``sources``
event, feedback on an answer (only by its asker, idempotent, seen by auditors), and a cited
passage and its original file (404 for anyone who may not read the document).

The answers here are "no_context" ones (nothing the asker may read matches), which need no
model: the model's answers are tested in ``tests/api/test_chat.py``."""

from __future__ import annotations

import httpx
import pytest

from core.db import identity
from core.db import keys as key_queries
from core.db.session import transaction
from index.types import chunk_id
from tests.api.test_chat import ask, llm_settings
from tests.api.world import World, seeded_world
from tests.live import ThreadServer
from tests.llm.backends import dead_backend
from tests.support import make_settings

PRIVATE = (
    "lantern.txt",
    "Lantern Works\n\nThe Lantern Works budget is kept by the finance team. <img src=x "
    "onerror=alert(1)> Its treasurer is Wen Mei (温梅).",
)
PUBLIC = {"note.txt": "Canteen\n\nThe canteen opens at eight o'clock and closes at two."}


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(
        tmp_path_factory.mktemp("sources"),
        database={"url": pg_url},
        llm=llm_settings(dead_backend("down")),  # never asked: no answer below needs a model
    )
    with ThreadServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def world(server: ThreadServer) -> World:
    world = seeded_world(server, PUBLIC, PRIVATE)
    with transaction(server.container.sessions) as s:
        pepper = server.container.settings.secret_key
        # In zed's tenant: dana audits, yan administers.
        dana = identity.create_user(s, world.tenant_b.id, "dana", is_auditor=True)
        yan = identity.create_user(s, world.tenant_b.id, "yan", is_admin=True)
        world.keys["dana"] = key_queries.issue_api_key(s, dana, pepper).plaintext
        world.keys["yan"] = key_queries.issue_api_key(s, yan, pepper).plaintext
    return world


def no_context_answer(client: httpx.Client, question: str) -> dict[str, dict]:
    events = ask(client, question)
    kinds = [e for e, _ in events]
    assert kinds == ["meta", "sources", "token", "citations", "done"], kinds
    return dict(events)


def test_sources_come_before_the_first_token(world: World) -> None:
    # Zed's tenant holds no document: tenant A's files are no source of his.
    with world.client("zed") as zed:
        events = no_context_answer(zed, "Who is the treasurer of Lantern Works?")
    assert events["sources"] == {"sources": []}
    assert events["done"]["outcome"] == "no_context"
    with world.client("zed") as zed:  # the same without streaming
        r = zed.post("/v1/chat", json={"message": "Lantern Works?", "stream": False})
    assert r.json()["outcome"] == "no_context" and r.json()["sources"] == []


def test_feedback_is_the_askers_own_and_replaces_the_last_vote(
    server: ThreadServer, world: World
) -> None:
    with world.client("zed") as zed:
        events = no_context_answer(zed, "Lantern Works 的司库是谁？")
        answer_id = events["done"]["answer_id"]
        conversation_id = events["meta"]["conversation_id"]
        path = f"/v1/answers/{answer_id}/feedback"
        first = zed.post(path, json={"rating": "up"})
        assert first.status_code == 200, first.text
        assert first.json()["rating"] == "up" and first.json()["comment"] == ""
        assert zed.post(path, json={"rating": "up"}).json()["rating"] == "up"  # idempotent
        changed = zed.post(path, json={"rating": "down", "comment": "没有找到  答案 "})
        assert changed.json() == {**changed.json(), "rating": "down", "comment": "没有找到 答案"}
        stored = zed.get(f"/v1/conversations/{conversation_id}").json()["messages"][1]
        assert stored["answer_id"] == answer_id and stored["feedback"] == "down"

        for bad in (
            {"rating": "sideways"},
            {"rating": "up", "comment": "x" * 1001},
            {"rating": "up", "comment": "bell\x07"},
            {},
        ):
            assert zed.post(path, json=bad).status_code in (400, 422), bad
        assert zed.post("/v1/answers/nope/feedback", json={"rating": "up"}).status_code == 404

    # Nobody else may vote on it, in its tenant (even its admin or auditor) or another.
    for who in ("yan", "dana", "ann", "bob"):
        with world.client(who) as other:
            assert other.post(path, json={"rating": "up"}).status_code == 404, who
    assert httpx.post(server.url + path, json={"rating": "up"}).status_code == 401

    # Auditors read the vote and the comment; an admin reads the vote, never the comment.
    with world.client("dana") as dana:
        records = dana.get("/v1/audit/answers", params={"limit": 200}).json()["data"]
    record = next(r for r in records if r["id"] == answer_id)
    assert record["feedback"] == "down" and record["feedback_comment"] == "没有找到 答案"
    assert record["feedback_at"]
    with world.client("yan") as yan:
        records = yan.get("/v1/audit/answers", params={"limit": 200}).json()["data"]
    record = next(r for r in records if r["id"] == answer_id)
    assert record["feedback"] == "down" and record["feedback_comment"] is None


def test_a_passage_and_its_file_only_for_readers(server: ThreadServer, world: World) -> None:
    doc_id = world.doc_ids["lantern.txt"]  # type: ignore[attr-defined]
    first = chunk_id(world.tenant_a.id, doc_id, 1, 0)
    with world.client("ann") as ann:
        r = ann.get(f"/v1/documents/{doc_id}/passages/{first}")
        assert r.status_code == 200, r.text
        passage = r.json()
        assert "Wen Mei" in passage["text"] and passage["title"]
        assert passage["document_id"] == doc_id and passage["position"] == 0
        assert passage["before"] == "" and passage["file_url"] == f"/v1/documents/{doc_id}/file"
        # Text is data: the markup in the document comes back as the characters it was.
        assert "<img src=x onerror=alert(1)>" in passage["text"]
        original = ann.get(passage["file_url"])
        assert original.status_code == 200 and original.content == PRIVATE[1].encode()
        assert original.headers["content-disposition"].startswith("attachment;")
        assert original.headers["content-type"] == "application/octet-stream"
        assert original.headers["x-content-type-options"] == "nosniff"
        missing = chunk_id(world.tenant_a.id, doc_id, 1, 999)
        assert ann.get(f"/v1/documents/{doc_id}/passages/{missing}").status_code == 404
        assert ann.get("/v1/documents/nope/file").status_code == 404
        assert ann.get(f"/v1/documents/nope/passages/{first}").status_code == 404

    # Bob (same tenant, not on the list) and zed (another tenant) get what a missing one gets.
    for who in ("bob", "carol", "zed"):
        with world.client(who) as other:
            r = other.get(f"/v1/documents/{doc_id}/passages/{first}")
            assert r.status_code == 404 and r.json() == {"detail": "document not found"}, who
            assert other.get(f"/v1/documents/{doc_id}/file").status_code == 404, who
    assert httpx.get(f"{server.url}/v1/documents/{doc_id}/file").status_code == 401
    assert httpx.get(f"{server.url}/v1/documents/{doc_id}/passages/{first}").status_code == 401

    # A document everyone may read: bob reads its passage.
    public = world.doc_ids["note.txt"]  # type: ignore[attr-defined]
    with world.client("bob") as bob:
        r = bob.get(f"/v1/documents/{public}/passages/{chunk_id(world.tenant_a.id, public, 1, 0)}")
        assert r.status_code == 200 and "canteen" in r.json()["text"]


def test_the_openapi_schema_documents_the_new_routes(server: ThreadServer, world: World) -> None:
    with world.client("ann") as ann:
        schema = ann.get("/openapi.json").json()
    paths = schema["paths"]
    assert "post" in paths["/v1/answers/{answer_id}/feedback"]
    assert "get" in paths["/v1/documents/{document_id}/passages/{chunk_id}"]
    assert "get" in paths["/v1/documents/{document_id}/file"]
    assert "sources" in paths["/v1/chat"]["post"]["description"]
