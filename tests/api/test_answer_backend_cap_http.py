"""Over HTTP, against the real llama.cpp server (one answer at a time, so capacity 1) with a
queue of 1: while one answer generates and a second waits for the model, a third is refused
at once with 429 and Retry-After, worded in its question's language, on /v1/chat and on
/v1/chat/completions; /metrics shows the answers generating and waiting; the first two
complete."""

from __future__ import annotations

import concurrent.futures
import time

import httpx
import pytest

from llm.local_server import LlamaCppServer
from tests.api.world import World, upload, wait_terminal
from tests.live import ThreadServer
from tests.support import make_settings

DOC = (
    "Lisbon office\n\nThe Lisbon office opened in 2019 and has twelve employees. It sits by "
    "the river, hosts the support and finance teams, and runs a book club on Fridays. "
    "里斯本办公室于2019年开业，有十二名员工，位于河边，设有客服和财务团队，每周五有读书会。"
)
# Asks for everything at length: the first answer keeps the model for many seconds.
LONG = "详细介绍里斯本办公室的一切：历史、员工、团队、位置和活动，越详细越好。"


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory, llama_server: LlamaCppServer):  # type: ignore[no-untyped-def]
    backend = llama_server.backend_settings(name="local", read_timeout_s=300, max_tokens=400)
    assert backend.max_concurrent == 1  # what llama_cpp.server generates at once
    settings = make_settings(
        tmp_path_factory.mktemp("backend-cap"),
        database={"url": pg_url},
        llm={
            "backends": [backend],
            "local": {"enabled": False},
            "answers": {"per_user": 10, "per_tenant": 10, "per_key": 10,
                        "queue_per_slot": 1, "retry_after_s": 6},
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


def _held(server: ThreadServer) -> tuple[int, int]:
    (load,) = server.container.services.answers.backend_load()
    return load.generating, load.waiting


def _wait_for(server: ThreadServer, held: tuple[int, int], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while _held(server) != held:
        assert time.monotonic() < deadline, (_held(server), "expected", held)
        time.sleep(0.05)


def _chat_to_the_end(client: httpx.Client, question: str) -> list[str]:
    with client.stream("POST", "/v1/chat", json={"message": question}, timeout=300) as r:
        assert r.status_code == 200, r.read()
        return [line for line in r.iter_lines() if line.startswith("event: ")]


@pytest.mark.slow
def test_a_third_answer_is_refused_at_once_while_two_complete(server: ThreadServer) -> None:
    world: World = server.world  # type: ignore[attr-defined]
    with (
        world.client("ann") as ann,
        world.client("bob") as bob,
        world.client("zed") as zed,
        concurrent.futures.ThreadPoolExecutor(1) as pool,
    ):
        with ann.stream("POST", "/v1/chat", json={"message": LONG}, timeout=300) as first:
            assert first.status_code == 200  # the model has begun: its slot is held
            # The second is admitted and waits for the model (llama.cpp answers one at a time).
            second = pool.submit(_chat_to_the_end, bob, "里斯本办公室有多少名员工？")
            _wait_for(server, (1, 1))
            scrape = httpx.get(f"{world.url}/metrics").text
            assert 'zhiku_llm_answers_in_flight{backend="local",state="generating"} 1.0' in scrape
            assert 'zhiku_llm_answers_in_flight{backend="local",state="waiting"} 1.0' in scrape
            assert 'zhiku_llm_answer_capacity{backend="local",kind="slots"} 1.0' in scrape
            assert 'zhiku_llm_answer_capacity{backend="local",kind="queue"} 1.0' in scrape

            # A third, from another tenant that has nothing running: refused at once.
            started = time.monotonic()
            refused = zed.post("/v1/chat", json={"message": "里斯本办公室何时开业？"})
            assert time.monotonic() - started < 5
            assert refused.status_code == 429, refused.text
            assert refused.headers["Retry-After"] == "6"  # no answer timed yet: the setting
            assert refused.json()["detail"] == (
                "回答模型正忙：已有 2 个回答正在生成或排队等候，请 6 秒后再试"
            )
            english = {"role": "user", "content": "When did the Lisbon office open?"}
            openai = zed.post(
                "/v1/chat/completions",
                json={"model": "zhiku", "stream": True, "messages": [english]},
            )
            assert openai.status_code == 429, openai.text
            assert openai.headers["Retry-After"] == "6"
            assert openai.json()["error"]["type"] == "rate_limit_error"
            assert openai.json()["error"]["message"].startswith("the answer model is busy: 2")
            traditional = zed.post(
                "/v1/chat/completions",
                json={"model": "zhiku",
                      "messages": [{"role": "user", "content": "里斯本辦公室有幾名員工？"}]},
            )  # fmt: skip
            assert traditional.status_code == 429
            assert traditional.json()["error"]["message"].startswith("回答模型正忙：已有 2 個回答")
            assert _held(server) == (1, 1)  # the refusals held nothing

            events = [line for line in first.iter_lines() if line.startswith("event: ")]
        assert events[-1] == "event: done", events
        assert second.result(timeout=300)[-1] == "event: done"

    _wait_for(server, (0, 0))
    # Answers timed: a refusal's Retry-After now comes from their durations, within bounds.
    limiter = server.container.services.answers._limiter
    assert limiter.durations.mean() is not None
    assert 1 <= limiter.retry_after_s(2) <= 120
    with world.client("zed") as zed:
        assert _chat_to_the_end(zed, "里斯本办公室何时开业？")[-1] == "event: done"
