"""/v1/chat, conversations and the OpenAI-compatible API over real HTTP, answered by a real
llama.cpp server (the packaged model) through Zhiku's client: streaming, citations, follow-up
rewriting, "don't know", audit records, failover and every kind of bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest
from sqlalchemy import select

from core.db.models import AnswerRecord
from core.db.session import transaction
from llm import prompts
from llm.local_server import LlamaCppServer
from tests.api.world import World, seeded_world, upload, wait_terminal
from tests.live import ThreadServer
from tests.llm.backends import dead_backend
from tests.support import make_settings

DOCS = {
    "etna.txt": "Mount Etna\n\nMount Etna is a volcano on the east coast of Sicily. In 1886 its "
    "lava flows reached the town of Nicolosi.",
    "nightjar.txt": "Project Nightjar\n\nProject Nightjar is a weather satellite programme. It "
    "was allotted forty million euros in 2025, and its launch is planned for March 2027.",
    "bees.md": "# Almond pollination\n\nBeekeepers truck two million hives to California's "
    "Central Valley every February to pollinate the almond orchards.",
}
# Short contexts keep CPU prompts fast; the behaviour under test does not depend on length.
RETRIEVAL = {"context_tokens": 400, "max_passages": 3}


def llm_settings(*backends: object) -> dict[str, object]:
    return {"backends": list(backends), "local": {"enabled": False}}


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory, llama_server: LlamaCppServer):  # type: ignore[no-untyped-def]
    # A dead backend first: every answer below also proves the failover to the live one.
    backends = [
        dead_backend("down"),
        llama_server.backend_settings(name="local", read_timeout_s=180),
    ]
    settings = make_settings(
        tmp_path_factory.mktemp("chat"),
        database={"url": pg_url},
        llm=llm_settings(*backends),
        retrieval=RETRIEVAL,
    )
    with ThreadServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def world(server: ThreadServer) -> World:
    return seeded_world(server, DOCS)


def sse_events(response: httpx.Response) -> Iterator[tuple[str, dict]]:
    event = None
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            assert event is not None
            yield event, json.loads(line.removeprefix("data: "))
            event = None


def ask(client: httpx.Client, message: str, **body: object) -> list[tuple[str, dict]]:
    with client.stream("POST", "/v1/chat", json={"message": message, **body}) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        return list(sse_events(r))


def last_record(server: ThreadServer, user_id: str) -> AnswerRecord:
    with transaction(server.container.sessions) as session:
        record = session.scalars(
            select(AnswerRecord)
            .where(AnswerRecord.user_id == user_id)
            .order_by(AnswerRecord.created_at.desc())
        ).first()
        assert record is not None
        return record


@pytest.mark.slow
def test_chat_routes_need_a_key(server: ThreadServer) -> None:
    for method, path in [
        ("POST", "/v1/chat"),
        ("GET", "/v1/conversations"),
        ("GET", "/v1/conversations/x"),
        ("DELETE", "/v1/conversations/x"),
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/models"),
    ]:
        assert httpx.request(method, server.url + path).status_code == 401, path


@pytest.mark.slow
def test_streamed_answer_cites_its_source_and_is_stored(server: ThreadServer, world: World) -> None:
    with world.client("bob") as bob:
        events = ask(bob, "When did lava from Mount Etna reach Nicolosi?")
        kinds = [e for e, _ in events]
        assert kinds[:2] == ["meta", "sources"] and kinds[-2:] == ["citations", "done"]
        assert kinds.count("token") >= 2, events
        answer = "".join(d["text"] for e, d in events if e == "token")
        assert "1886" in answer
        citations = dict(events)["citations"]["citations"]
        etna = world.doc_ids["etna.txt"]  # type: ignore[attr-defined]
        # The passages the model read, before its first token, numbered as it cites them.
        sources = dict(events)["sources"]["sources"]
        assert [s["number"] for s in sources] == list(range(1, len(sources) + 1))
        first = sources[0]
        assert first["document_id"] == etna and "Nicolosi" in first["excerpt"]
        assert first["chunk_ids"] == citations[0]["chunk_ids"] and not first["truncated"]
        assert [c["document_id"] for c in citations] == [etna]
        assert citations[0]["number"] == 1 and citations[0]["chunk_ids"]
        assert f"[{citations[0]['number']}]" in answer
        done = dict(events)["done"]
        assert done["outcome"] == "ok" and done["model"]

        conversation_id = dict(events)["meta"]["conversation_id"]
        stored = bob.get(f"/v1/conversations/{conversation_id}").json()
        assert [m["role"] for m in stored["messages"]] == ["user", "assistant"]
        assert stored["messages"][1]["content"] == answer.strip()
        assert stored["messages"][1]["citations"][0]["document_id"] == etna
        listed = bob.get("/v1/conversations").json()
        assert conversation_id in [c["id"] for c in listed["data"]]

    record = last_record(server, world.ids["bob"])
    assert record.endpoint == "chat" and record.conversation_id == conversation_id
    assert record.outcome == "ok" and record.backend == "local" and record.model
    assert record.retrieved[0]["doc_id"] == etna
    assert record.cited == [{"number": 1, "doc_id": etna, "chunk_ids": citations[0]["chunk_ids"]}]
    assert record.prompt_version == f"answer.{prompts.default_version('answer')}"


@pytest.mark.slow
def test_follow_up_questions_retrieve_what_the_history_implies(
    server: ThreadServer, world: World
) -> None:
    with world.client("carol") as carol:
        first = ask(carol, "What is Project Nightjar?")
        conversation_id = dict(first)["meta"]["conversation_id"]
        follow_up = ask(carol, "How much money was it allotted?", conversation_id=conversation_id)
        assert dict(follow_up)["meta"]["conversation_id"] == conversation_id
    record = last_record(server, world.ids["carol"])
    assert "nightjar" in record.search_query.lower(), record.search_query
    assert record.retrieved[0]["doc_id"] == world.doc_ids["nightjar.txt"]  # type: ignore[attr-defined]
    # What the small CPU model then writes varies; that it answered from the right document
    # is what the rewrite is for.
    assert dict(follow_up)["done"]["outcome"] in ("ok", "declined")


@pytest.mark.slow
def test_says_so_when_the_passages_lack_the_answer(server: ThreadServer, world: World) -> None:
    with world.client("bob") as bob:
        r = bob.post(
            "/v1/chat", json={"message": "Who won the 1998 football world cup?", "stream": False}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["outcome"] == "declined", body["answer"]
        assert body["citations"] == []
        # Not an answer, but the passages it read are still shown, numbered.
        assert body["sources"] and body["sources"][0]["number"] == 1


@pytest.mark.slow
def test_a_user_who_may_read_nothing_relevant_gets_no_context(world: World) -> None:
    with world.client("zed") as zed:  # another tenant, no documents
        r = zed.post("/v1/chat", json={"message": "When did lava reach Nicolosi?", "stream": False})
        assert r.status_code == 200, r.text
        assert r.json()["outcome"] == "no_context" and r.json()["citations"] == []
        assert "1886" not in r.json()["answer"]


@pytest.mark.slow
def test_bad_chat_requests_get_clear_errors(world: World) -> None:
    with world.client("bob") as bob, world.client("carol") as carol:
        mine = bob.post("/v1/chat", json={"message": "Where is Etna?", "stream": False})
        conversation_id = mine.json()["conversation_id"]
        for body, status in [
            # Refused by the request's schema, before any work (422 with the field).
            ({"message": "  "}, 422),
            ({"message": "x" * 5000}, 422),
            ({"message": "hi", "conversation_id": "no-such-id"}, 404),
            ({"message": "hi", "filters": {"file_types": ["exe"]}}, 400),
            ({}, 422),
        ]:
            r = bob.post("/v1/chat", json=body)
            assert r.status_code == status, (body, r.text)
            assert r.json()["detail"]
        # Another user's conversation is not found: ids reveal nothing.
        r = carol.post("/v1/chat", json={"message": "hi", "conversation_id": conversation_id})
        assert r.status_code == 404
        assert carol.get(f"/v1/conversations/{conversation_id}").status_code == 404
        assert carol.delete(f"/v1/conversations/{conversation_id}").status_code == 404
        assert bob.delete(f"/v1/conversations/{conversation_id}").status_code == 204
        assert bob.get(f"/v1/conversations/{conversation_id}").status_code == 404


@pytest.mark.slow
def test_openai_client_non_streaming_and_streaming(server: ThreadServer, world: World) -> None:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=world.keys["bob"], max_retries=0)
    assert [m.id for m in client.models.list()] == ["zhiku"]
    question = [{"role": "user", "content": "How many hives are trucked to the Central Valley?"}]
    completion = client.chat.completions.create(model="zhiku", messages=question)
    text = completion.choices[0].message.content or ""
    assert "two million" in text.lower() or "2 million" in text.lower() or "2,000,000" in text
    assert "Sources:" in text
    bees = world.doc_ids["bees.md"]  # type: ignore[attr-defined]
    assert [c["document_id"] for c in completion.model_extra["citations"]] == [bees]

    pieces = []
    final_citations = None
    for chunk in client.chat.completions.create(model="zhiku", messages=question, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.model_extra.get("citations") is not None:
            final_citations = chunk.model_extra["citations"]
    assert len(pieces) >= 2 and "Sources:" in "".join(pieces)
    assert final_citations and final_citations[0]["document_id"] == bees
    assert last_record(server, world.ids["bob"]).endpoint == "chat.completions"

    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=question)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="zhiku", messages=[{"role": "assistant", "content": "hello"}]
        )
    bad_key = openai.OpenAI(base_url=server.url + "/v1", api_key="zk_wrong_key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad_key.models.list()


def test_every_backend_down_is_a_clear_503(pg_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(
        tmp_path,
        database={"url": pg_url},
        llm=llm_settings(dead_backend("a"), dead_backend("b")),
        retrieval=RETRIEVAL,
    )
    with ThreadServer(settings) as srv:
        world = World(srv)
        with world.client("ann") as ann:
            r = upload(ann, [("etna.txt", DOCS["etna.txt"].encode())])
            assert wait_terminal(ann, r.json()["data"][0]["id"])["status"] == "ready"
            r = ann.post("/v1/chat", json={"message": "When did lava reach Nicolosi?"})
            assert r.status_code == 503
            assert "'a'" in r.json()["detail"] or "a" in r.json()["detail"]
            assert "answer" in r.json()["detail"]
            r = ann.post(
                "/v1/chat/completions",
                json={"model": "zhiku", "messages": [{"role": "user", "content": "Etna?"}]},
            )
            assert r.status_code == 503 and r.json()["error"]["message"]
        record = last_record(srv, world.ids["ann"])
        assert record.outcome == "error" and "no LLM backend answered" in (record.error or "")
