"""A stopped answer keeps its turn: a client that closes /v1/chat's stream (the chat page's
stop button) leaves the question and what had been sent of the answer in the conversation,
marked stopped there and in the list; its audit record says "cancelled". An answered turn is
not marked, and the conversation goes on after a stopped one. Real server, real llama.cpp."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from core.db.models import AnswerRecord
from core.db.session import transaction
from llm.local_server import LlamaCppServer
from tests.api.world import World, upload, wait_terminal
from tests.live import ThreadServer
from tests.support import make_settings

DOC = (
    "Lisbon office\n\nThe Lisbon office opened in 2019 and has twelve employees. "
    "里斯本办公室于2019年开业，有十二名员工。"
)
QUESTION = "详细介绍里斯本办公室的一切，越详细越好。"


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory, llama_server: LlamaCppServer):  # type: ignore[no-untyped-def]
    settings = make_settings(
        tmp_path_factory.mktemp("stopped"),
        database={"url": pg_url},
        llm={
            "backends": [llama_server.backend_settings(name="local", read_timeout_s=180)],
            "local": {"enabled": False},
        },
        retrieval={"context_tokens": 400, "max_passages": 2},
    )
    with ThreadServer(settings) as srv:
        world = World(srv)
        with world.client("ann") as ann:
            r = upload(ann, [("lisbon.txt", DOC.encode())], access={"everyone": True})
            assert wait_terminal(ann, r.json()["data"][0]["id"])["status"] == "ready"
        srv.world = world  # type: ignore[attr-defined]
        yield srv


def outcomes(server: ThreadServer) -> list[tuple[str, str | None, str | None]]:
    with transaction(server.container.sessions) as s:
        rows = s.execute(select(AnswerRecord.outcome, AnswerRecord.error, AnswerRecord.endpoint))
        return [tuple(row) for row in rows]  # type: ignore[misc]


def outcome_of(server: ThreadServer, answer_id: str) -> str | None:
    with transaction(server.container.sessions) as s:
        return s.scalar(select(AnswerRecord.outcome).where(AnswerRecord.id == answer_id))


def read_until(response, stop_at: str) -> tuple[str | None, str]:  # type: ignore[no-untyped-def]
    """Reads a /v1/chat stream until its first ``stop_at`` event ("sources" or "token"), then
    returns (conversation id, the answer text received), leaving the rest unread: the client
    closes the stream there. An answer that ends first fails the test."""
    received = ""
    conversation_id = None
    event = None
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line[len("event: ") :]
        elif line.startswith("data: "):
            data = json.loads(line[len("data: ") :])
            if event == "meta":
                conversation_id = data["conversation_id"]
            elif event == "sources" and stop_at == "sources":
                assert data["sources"], "nothing retrieved: no answer to stop"
                break
            elif event == "token":
                received += data["text"]
                if stop_at == "token":
                    break
            elif event in ("done", "error"):
                pytest.fail(f"the answer ended before it could be stopped: {data}")
    return conversation_id, received


@pytest.mark.slow
def test_a_stopped_stream_keeps_its_question_and_partial_answer(server: ThreadServer) -> None:
    world: World = server.world  # type: ignore[attr-defined]
    with world.client("bob") as bob:
        with bob.stream("POST", "/v1/chat", json={"message": QUESTION}, timeout=180) as r:
            assert r.status_code == 200
            # The stop button, while the model reads the passages (its first token takes
            # seconds on a CPU): the client closes the stream.
            conversation_id, received = read_until(r, "sources")
        assert conversation_id
        # The server notices the closed stream at its next token, then stops the model.
        deadline = time.monotonic() + 180
        while (
            len(messages := bob.get(f"/v1/conversations/{conversation_id}").json()["messages"]) < 2
        ):
            assert time.monotonic() < deadline, ("the stopped turn was not kept", outcomes(server))
            time.sleep(0.3)
        question, answer = messages
        assert (question["role"], question["content"], question["stopped"]) == (
            "user",
            QUESTION,
            False,
        )
        assert answer["role"] == "assistant" and answer["stopped"] is True
        # What the client saw is where the kept answer starts (the server may have sent a
        # little more before it saw the client go).
        assert answer["content"].startswith(received)
        assert outcome_of(server, answer["answer_id"]) == "cancelled"
        listed = bob.get("/v1/conversations").json()["data"]
        assert [(c["id"], c["stopped"]) for c in listed] == [(conversation_id, True)]
        # The conversation goes on; the answered turn is not marked, and the list follows it.
        done = bob.post(
            "/v1/chat",
            json={
                "message": "它有多少名员工？",
                "conversation_id": conversation_id,
                "stream": False,
            },
            timeout=300,
        )
        assert done.status_code == 200, done.text
        detail = bob.get(f"/v1/conversations/{conversation_id}").json()
        assert [m["stopped"] for m in detail["messages"]] == [False, True, False, False]
        assert detail["stopped"] is False
        assert bob.get("/v1/conversations").json()["data"][0]["stopped"] is False


@pytest.mark.slow
def test_a_client_leaving_mid_answer_never_loses_the_turn(server: ThreadServer) -> None:
    """Closed after the first tokens: whether the server saw it go while the model was still
    writing (a stopped turn) or only once the answer was complete (a whole turn), the
    conversation keeps the question and the answer, and the audit agrees with it."""
    world: World = server.world  # type: ignore[attr-defined]
    question = "Tell me everything about the Lisbon office, in as much detail as you can."
    with world.client("carol") as carol:
        with carol.stream("POST", "/v1/chat", json={"message": question}, timeout=300) as r:
            assert r.status_code == 200
            # The client goes away in the middle of the answer.
            conversation_id, received = read_until(r, "token")
        assert conversation_id and received
        deadline = time.monotonic() + 300
        while (
            len(messages := carol.get(f"/v1/conversations/{conversation_id}").json()["messages"])
            < 2
        ):
            assert time.monotonic() < deadline, ("the turn was lost", outcomes(server))
            time.sleep(0.3)
        asked, answer = messages
        assert (asked["role"], asked["content"]) == ("user", question)
        assert answer["role"] == "assistant" and answer["content"].startswith(received)
        expected = {"cancelled"} if answer["stopped"] else {"ok", "declined"}
        assert outcome_of(server, answer["answer_id"]) in expected
