"""Request rates on a real server, counted in this process (the embedded default) and in the
real Redis (production): a key over its rate gets 429 with a Retry-After that is right, in the
caller's language, before its body is read; another key of the tenant and another tenant go
on; a tenant's budget is shared by its keys and by no other tenant; the OpenAI-compatible
route refuses in OpenAI's shape; a Redis that does not answer holds up no other request.
Admitted requests here are cheap on purpose (a search without
a query, an upload without files, a chat without a question): only the verdict is under test."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.api.world import World
from tests.live import ThreadServer
from tests.support import make_settings

# A request's worth comes back every 5 s, three may come at once: slow enough that a loaded
# machine's slow requests do not refill a bucket within a test.
RATES = {
    "search": {"per_key_per_minute": 12, "per_tenant_per_minute": 600, "burst_seconds": 15},
    # Uploads: a generous key and a small tenant, so the tenant's budget is what runs out.
    "upload": {"per_key_per_minute": 600, "per_tenant_per_minute": 12, "burst_seconds": 15},
    "chat": {"per_key_per_minute": 12, "per_tenant_per_minute": 600, "burst_seconds": 5},
}
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


@pytest.fixture(scope="module", params=["in-process", "redis"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    extra: dict[str, object] = {}
    if request.param == "redis":
        # Production's counting; the job queue is the same Redis (nothing here is queued).
        extra["redis_url"] = request.getfixturevalue("redis_url")
    settings = make_settings(
        tmp_path_factory.mktemp(f"rates-{request.param}"), rate_limits=RATES, **extra
    )
    with ThreadServer(settings) as server:
        yield World(server)


def search(client: httpx.Client, **headers: str) -> httpx.Response:
    # No query: counted, then refused by validation (422) without opening the model.
    return client.post("/v1/search", json={}, headers=headers)


def test_a_keys_flood_is_refused_with_retry_after_and_no_one_else_is(world: World) -> None:
    with world.client("ann") as ann, world.client("bob") as bob, world.client("zed") as zed:
        assert [search(ann).status_code != 429 for _ in range(3)] == [True] * 3
        refused = search(ann)
        assert refused.status_code == 429, refused.text
        # The next request's worth is due 5 s after the first, less the time since.
        wait = int(refused.headers["Retry-After"])
        assert 1 <= wait <= 5
        assert refused.json()["detail"] == (
            "too many requests to /v1/search from this API key: at most 12 a minute;"
            f" try again in {wait} s"
        )
        chinese = search(ann, **ZH)
        assert chinese.status_code == 429
        assert re.fullmatch(
            r"此 API 密钥对 /v1/search 的请求过多：每分钟最多 12 次，请在 [1-5] 秒后重试",
            chinese.json()["detail"],
        )
        # A Traditional caller reads Traditional, as with every message (api.reasons).
        # Taiwan's words for zh-TW (金鑰), Hong Kong's for zh-HK (密鑰).
        for tag, key in (("zh-TW,zh;q=0.9", "金鑰"), ("zh-HK", "密鑰")):
            traditional = search(ann, **{"Accept-Language": tag})
            assert traditional.status_code == 429
            assert re.fullmatch(
                rf"此 API {key}對 /v1/search 的請求過多：每分鐘最多 12 次，請在 [1-5] 秒後重試",
                traditional.json()["detail"],
            )
        # Another key of the same tenant, and another tenant, are not held back by ann's.
        assert search(bob).status_code != 429
        assert search(zed).status_code != 429
        # Retry-After is honest: once it has passed, ann's next search is admitted.
        time.sleep(int(chinese.headers["Retry-After"]) + 0.05)
        assert search(ann).status_code != 429


def test_a_tenants_budget_is_its_keys_together_and_no_other_tenants(world: World) -> None:
    def empty_upload(client: httpx.Client, **headers: str) -> httpx.Response:
        return client.post("/v1/documents", data={"tags": "x"}, headers=headers)

    with world.client("bob") as bob, world.client("carol") as carol, world.client("zed") as zed:
        # The tenant may upload 12 a minute, three at once: bob's two and carol's one.
        assert [empty_upload(bob).status_code != 429 for _ in range(2)] == [True, True]
        assert empty_upload(carol).status_code != 429
        refused = empty_upload(carol)
        assert refused.status_code == 429, refused.text
        assert 1 <= int(refused.headers["Retry-After"]) <= 5
        assert "from your organisation: at most 12 a minute" in refused.json()["detail"]
        zh = empty_upload(carol, **ZH)
        assert zh.status_code == 429
        assert zh.json()["detail"].startswith(
            "您的组织对 /v1/documents 的请求过多：每分钟最多 12 次"
        )
        # Tenant B's uploads are counted apart.
        assert empty_upload(zed).status_code != 429


def test_a_refused_upload_is_answered_before_its_body(world: World) -> None:
    """A refused upload costs the server nothing: the 429 comes without reading the body, and
    the connection is closed rather than drained."""
    with world.client("zed") as zed:
        while zed.post("/v1/documents", data={"tags": "x"}).status_code != 429:
            pass
        sent = 0

        def body() -> Iterator[bytes]:
            nonlocal sent
            for _ in range(64):  # 64 MiB if it were all read
                sent += 1
                yield b"x" * (1 << 20)

        headers = {
            "Content-Type": "multipart/form-data; boundary=b",
            "Content-Length": str(64 << 20),
        }
        try:
            r = zed.post("/v1/documents", content=body(), headers=headers)
            assert r.status_code == 429 and r.headers["connection"] == "close"
        except httpx.HTTPError:
            pass  # the server hung up mid-body: it did not read it
        assert sent < 64


def test_chat_counts_both_chat_routes_and_answers_openai_clients_in_their_shape(
    world: World,
) -> None:
    with world.client("carol") as carol:
        # One at once, one each 5 s: /v1/chat takes it, the OpenAI route is refused.
        assert carol.post("/v1/chat", json={}).status_code != 429
        r = carol.post("/v1/chat/completions", json={}, headers=ZH)
        assert r.status_code == 429, r.text
        wait = int(r.headers["Retry-After"])
        assert 1 <= wait <= 5
        error = r.json()["error"]
        assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limit_exceeded")
        assert error["message"] == (
            f"此 API 密钥对 /v1/chat 的请求过多：每分钟最多 12 次，请在 {wait} 秒后重试"
        )
        native = carol.post("/v1/chat", json={})
        assert native.status_code == 429 and "detail" in native.json()


@pytest.fixture
def silent_redis() -> Iterator[str]:
    """A Redis that never answers: a socket that takes connections and never replies."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"


def test_a_redis_that_does_not_answer_holds_up_no_other_request(
    tmp_path_factory: pytest.TempPathFactory, silent_redis: str
) -> None:
    """A search waits on Redis (3 s here, 0.5 s by default) on a worker thread: meanwhile the
    server answers /health/live at once. Then it is counted in the process, and so is the next
    search, without asking Redis again."""
    settings = make_settings(
        tmp_path_factory.mktemp("rates-silent-redis"),
        redis_url=silent_redis,
        rate_limits={**RATES, "redis_timeout_s": 3.0},
    )
    with ThreadServer(settings) as server, World(server).client("ann") as ann:
        probe_s: list[float] = []
        with ThreadPoolExecutor(1) as pool, httpx.Client(base_url=server.url) as probe:
            started = time.monotonic()
            waiting = pool.submit(search, ann)
            while not waiting.done():
                sent = time.monotonic()
                assert probe.get("/health/live").status_code == 200
                probe_s.append(time.monotonic() - sent)
                time.sleep(0.1)
            first, first_s = waiting.result(), time.monotonic() - started
        # Counted in this process once Redis timed out: admitted (then 422 for no query).
        assert first.status_code == 422, first.text
        assert first_s >= 2.9
        # Probes all through the wait, and not one of them waited with the search.
        assert len(probe_s) >= 10 and max(probe_s) < 1.0, probe_s
        sent = time.monotonic()
        assert search(ann).status_code == 422
        assert time.monotonic() - sent < 1.0  # Redis is not asked again for a while
