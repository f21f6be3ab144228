"""Limits on answering: concurrent answers per user and per tenant (429 + Retry-After), the
size of a client's history on /v1/chat/completions, and a non-streaming answer whose client
left (generation stops, the audit record says "cancelled"). Real server, real llama.cpp."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import select

from core.access import Principal
from core.db.models import AnswerRecord
from core.db.session import transaction
from core.errors import InvalidInput, TooManyRequests
from core.settings_llm import AnswerLimits
from llm.local_server import LlamaCppServer
from services.answer_limits import AnswerLimiter, check_history, trim_history
from tests.api.world import World, upload, wait_terminal
from tests.live import ThreadServer
from tests.support import make_settings

ANN = Principal(tenant_id="t1", user_id="ann")
BOB = Principal(tenant_id="t1", user_id="bob")
ZED = Principal(tenant_id="t2", user_id="zed")
DOC = (
    "Lisbon office\n\nThe Lisbon office opened in 2019 and has twelve employees. "
    "里斯本办公室于2019年开业，有十二名员工。"
)


def words(text: str) -> int:
    return len(text.split())


def test_caps_per_user_and_per_tenant_and_slots_come_back() -> None:
    limiter = AnswerLimiter(AnswerLimits(per_user=2, per_tenant=3, retry_after_s=7))
    held = [limiter.acquire(ANN), limiter.acquire(ANN)]
    with pytest.raises(TooManyRequests, match="you already have 2") as over:
        limiter.acquire(ANN)
    assert over.value.retry_after_s == 7
    held.append(limiter.acquire(BOB))
    with pytest.raises(TooManyRequests, match="organisation already has 3"):
        limiter.acquire(BOB)
    limiter.acquire(ZED).release()  # another tenant is not affected
    held[0].release()
    held[0].release()  # twice is once
    assert limiter.running(ANN) == 2
    limiter.acquire(BOB)
    for lease in held:
        lease.release()
    assert limiter.running(ANN) == 1


def test_history_over_the_caps_is_refused_in_both_languages() -> None:
    limits = AnswerLimits(max_history_messages=3, max_history_chars=100)
    check_history([{"role": "user", "content": "短"}] * 3, limits)
    with pytest.raises(InvalidInput, match="4 earlier messages"):
        check_history([{"role": "user", "content": "x"}] * 4, limits)
    with pytest.raises(InvalidInput, match="101 characters"):
        check_history([{"role": "user", "content": "字" * 101}], limits)


def test_history_is_trimmed_to_the_newest_turns_that_fit() -> None:
    turns = [
        {"role": "user", "content": "old " * 500},
        {"role": "assistant", "content": "middle " * 30 + "end"},
        {"role": "user", "content": "newest question"},
    ]
    kept = trim_history(turns, words, budget_tokens=20)
    assert kept[-1]["content"] == "newest question"
    assert kept[0]["role"] == "assistant" and kept[0]["content"].endswith("middle end")
    assert sum(words(t["content"]) for t in kept) <= 20
    assert trim_history(turns, words, budget_tokens=1000)[0]["content"].startswith("old")


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory, llama_server: LlamaCppServer):  # type: ignore[no-untyped-def]
    settings = make_settings(
        tmp_path_factory.mktemp("limits"),
        database={"url": pg_url},
        llm={
            "backends": [llama_server.backend_settings(name="local", read_timeout_s=180)],
            "local": {"enabled": False},
            "answers": {"per_user": 1, "per_tenant": 2, "retry_after_s": 5,
                        "max_history_messages": 6, "max_history_chars": 2000},
        },
        retrieval={"context_tokens": 400, "max_passages": 2},
    )  # fmt: skip
    with ThreadServer(settings) as srv:
        world = World(srv)
        with world.client("ann") as ann:
            r = upload(ann, [("lisbon.txt", DOC.encode())], access={"everyone": True})
            assert wait_terminal(ann, r.json()["data"][0]["id"])["status"] == "ready"
        srv.world = world  # type: ignore[attr-defined]
        yield srv


def completion(question: str, *history: dict[str, str], stream: bool = False) -> dict:
    return {
        "model": "zhiku",
        "stream": stream,
        "messages": [*history, {"role": "user", "content": question}],
    }


def records(server: ThreadServer, user_id: str) -> list[AnswerRecord]:
    with transaction(server.container.sessions) as s:
        rows = s.scalars(select(AnswerRecord).where(AnswerRecord.user_id == user_id)).all()
        s.expunge_all()
        return list(rows)


@pytest.mark.slow
def test_bounded_history_on_the_openai_endpoint(server: ThreadServer) -> None:
    world: World = server.world  # type: ignore[attr-defined]
    turn = {"role": "user", "content": "earlier"}
    with world.client("carol") as carol:
        r = carol.post("/v1/chat/completions", json=completion("When?", *[turn] * 7))
        assert r.status_code == 400 and "7 earlier messages" in r.json()["error"]["message"]
        long_turn = {"role": "assistant", "content": "很长的回答。" * 400}
        r = carol.post("/v1/chat/completions", json=completion("何时？", long_turn))
        assert r.status_code == 400 and "2,400 characters" in r.json()["error"]["message"]
        r = carol.post("/v1/chat/completions", json=completion("x" * 40_000))
        assert r.status_code == 400  # past the wire format's bound (OpenAI's 400, not 422)
        assert r.json()["error"]["param"] == "messages"
        parts = [{"type": "text", "text": "a"}] * 40
        r = carol.post(
            "/v1/chat/completions",
            json={"model": "zhiku", "messages": [{"role": "user", "content": parts}]},
        )
        assert r.status_code == 400


@pytest.mark.slow
def test_a_second_answer_at_once_gets_429_and_the_slot_comes_back(server: ThreadServer) -> None:
    world: World = server.world  # type: ignore[attr-defined]
    question = completion("How many employees does the Lisbon office have?", stream=True)
    with world.client("bob") as bob, world.client("ann") as ann:
        with bob.stream("POST", "/v1/chat/completions", json=question) as first:
            assert first.status_code == 200  # its slot is held while it streams
            second = bob.post("/v1/chat/completions", json=question)
            assert second.status_code == 429, second.text
            assert second.headers["Retry-After"] == "5"
            assert second.json()["error"]["type"] == "rate_limit_error"
            chat = bob.post("/v1/chat", json={"message": "里斯本办公室有多少员工？"})
            assert chat.status_code == 429  # same cap on /v1/chat
            for _ in first.iter_lines():
                pass
        # Finished: the slot is free again (ann too: the tenant cap is 2).
        deadline = time.monotonic() + 10
        while server.container.services.answers.answers_running(ann_of(world)) != 0:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        r = ann.post("/v1/chat/completions", json=completion("里斯本办公室何时开业？"))
        assert r.status_code == 200, r.text


def ann_of(world: World) -> Principal:
    return Principal(tenant_id=world.tenant_a.id, user_id=world.ids["ann"])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("path", "body", "endpoint"),
    [
        (
            "/v1/chat/completions",
            # A question the corpus answers at length (a decline would end before the client
            # leaves, and there would be nothing to cancel).
            completion("详细介绍里斯本办公室的一切，越详细越好。"),
            "chat.completions",
        ),
        ("/v1/chat", {"message": "详细介绍里斯本办公室的一切。", "stream": False}, "chat"),
    ],
)
def test_a_client_that_leaves_a_non_streaming_answer_stops_it(
    server: ThreadServer, path: str, body: dict, endpoint: str
) -> None:
    world: World = server.world  # type: ignore[attr-defined]
    with world.client("carol") as carol, pytest.raises(httpx.TimeoutException):
        carol.post(path, json=body, timeout=1.5)
    deadline = time.monotonic() + 20
    while not any(
        r.outcome == "cancelled" and r.endpoint == endpoint
        for r in records(server, world.ids["carol"])
    ):
        assert time.monotonic() < deadline, (
            "the abandoned answer was not cancelled",
            [(r.outcome, r.endpoint) for r in records(server, world.ids["carol"])],
        )
        time.sleep(0.2)
    assert server.container.services.answers.answers_running(ann_of(world)) == 0
