"""Concurrent answers per API key: a key at its cap gets 429 at once while another key of the
same user still answers (the user cap is higher); a caller without a key (a web session's
principal) has the user and tenant caps only. Real server, real llama.cpp, PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

from core.access import Principal
from core.db import identity
from core.db import keys as key_queries
from core.db.session import transaction
from core.errors import TooManyRequests
from core.settings_llm import AnswerLimits
from llm.local_server import LlamaCppServer
from services.answer_limits import AnswerLimiter
from tests.api.world import World, upload, wait_terminal
from tests.live import ThreadServer
from tests.support import make_settings

DOC = (
    "Lisbon office\n\nThe Lisbon office opened in 2019 and has twelve employees. "
    "里斯本办公室于2019年开业，有十二名员工。"
)


def test_the_key_cap_comes_before_the_user_cap_and_only_with_a_key() -> None:
    limiter = AnswerLimiter(AnswerLimits(per_key=1, per_user=3, per_tenant=10, retry_after_s=4))
    bot = Principal(tenant_id="t1", user_id="ann", key_id="k-bot")
    laptop = Principal(tenant_id="t1", user_id="ann", key_id="k-laptop")
    web = Principal(tenant_id="t1", user_id="ann")  # a web session: no key
    held = limiter.acquire(bot)
    with pytest.raises(TooManyRequests, match="this API key already has 1") as over:
        limiter.acquire(bot)
    assert over.value.retry_after_s == 4
    second = limiter.acquire(laptop)
    third = limiter.acquire(web)  # the user's third slot: no key cap applies
    with pytest.raises(TooManyRequests, match="you already have 3"):
        limiter.acquire(web)
    held.release()
    limiter.acquire(bot).release()  # the key's slot came back
    for lease in (held, second, third):
        lease.release()
    assert limiter.running(web) == 0


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory, llama_server: LlamaCppServer):  # type: ignore[no-untyped-def]
    settings = make_settings(
        tmp_path_factory.mktemp("key-limits"),
        database={"url": pg_url},
        llm={
            "backends": [llama_server.backend_settings(name="local", read_timeout_s=180)],
            "local": {"enabled": False},
            "answers": {"per_key": 1, "per_user": 2, "per_tenant": 4, "retry_after_s": 3},
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


def second_key(server: ThreadServer, world: World, who: str) -> str:
    with transaction(server.container.sessions) as s:
        user = identity.get_user(s, world.tenant_a.id, world.ids[who])
        pepper = server.container.settings.secret_key
        return key_queries.issue_api_key(s, user, pepper, "第二把钥匙 second").plaintext


@pytest.mark.slow
def test_a_key_at_its_cap_gets_429_while_another_key_of_the_user_answers(
    server: ThreadServer,
) -> None:
    world: World = server.world  # type: ignore[attr-defined]
    other = httpx.Client(
        base_url=world.url,
        headers={"Authorization": f"Bearer {second_key(server, world, 'bob')}"},
        # Its first event comes once the (one-at-a-time) model has finished the first answer.
        timeout=300,
    )
    question = {
        "model": "zhiku",
        "stream": True,
        "messages": [
            {"role": "user", "content": "How many employees does the Lisbon office have?"}
        ],
    }
    bob = world.client("bob")
    bob.timeout = httpx.Timeout(300)  # a first answer on a busy CPU: its first event is slow
    with (
        bob,
        other,
        bob.stream("POST", "/v1/chat/completions", json=question) as first,
    ):
        assert first.status_code == 200  # its key's only slot is held while it streams
        again = bob.post("/v1/chat", json={"message": "里斯本办公室有多少员工？"})
        assert again.status_code == 429, again.text
        assert again.headers["Retry-After"] == "3"
        # Worded in the question's language: the caller sent no Accept-Language.
        assert again.json()["detail"].startswith("此 API 密钥已有 1 个回答正在生成")
        # The same user through another key: the user cap (2) still has room.
        short = {**question, "max_tokens": 16}
        with other.stream("POST", "/v1/chat/completions", json=short) as beside:
            assert beside.status_code == 200, beside.read()
