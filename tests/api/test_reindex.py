"""/v1/admin/index/reindex over real HTTP (PostgreSQL, the embedded default): admin only, one
at a time, audited in every tenant, and search answering in Chinese and English throughout."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.world import World, seeded_world
from tests.live import ThreadServer
from tests.support import make_settings

ROUTE = "/v1/admin/index/reindex"
DOCS = {
    "采购合同.txt": "本采购合同约定：乙方应在三十日内交付全部设备，逾期每日支付违约金。",
    "pump-manual.md": "# Pump manual\n\nReplace the pump seal every six months. 注意：先断电。",
}
PRIVATE = ("薪酬.txt", "二〇二六年薪酬调整方案，仅限人事部查阅。")


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory) -> Iterator[ThreadServer]:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("reindex"), database={"url": pg_url})
    with ThreadServer(settings) as srv:
        yield srv


def top_file(client: httpx.Client, query: str) -> str | None:
    r = client.post("/v1/search", json={"query": query})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    return results[0]["filename"] if results else None


def wait_done(client: httpx.Client, timeout_s: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = client.get(ROUTE).json()
        if state["state"] != "running":
            return state
        time.sleep(0.2)
    raise TimeoutError("the re-index is still running")


def test_reindex_route(server: ThreadServer) -> None:
    world: World = seeded_world(server, DOCS, private=PRIVATE)
    service = server.container.reindex
    release = threading.Event()
    build = service._build

    def held_build(settings: Any) -> Any:  # keeps the run observably in progress
        release.wait(120)
        return build(settings)

    service._build = held_build
    try:
        assert httpx.post(server.url + ROUTE).status_code == 401
        with world.client("bob") as bob:
            assert bob.post(ROUTE).status_code == 403  # a member
            assert bob.get(ROUTE).status_code == 403
        with world.client("ann") as ann, world.client("zed") as zed, world.client("bob") as bob:
            r = ann.post(ROUTE)
            assert r.status_code == 202, r.text
            assert r.json()["state"] == "running"
            # One at a time, whichever tenant's admin asks: the index is shared.
            assert ann.post(ROUTE).status_code == 409
            conflict = zed.post(ROUTE)
            assert conflict.status_code == 409 and "already running" in conflict.text
            assert ann.get(ROUTE).json()["state"] == "running"
            # The live generation answers meanwhile, in both languages.
            assert top_file(bob, "合同 交付 违约金") == "采购合同.txt"
            assert top_file(bob, "how often to replace the pump seal") == "pump-manual.md"
            release.set()
            final = wait_done(ann)
            assert final["state"] == "done", final
            assert final["generation"] == 2 and final["embedded"] > 0 and not final["error"]
            # After the switch: the same answers, the same permissions.
            assert top_file(bob, "合同 交付 违约金") == "采购合同.txt"
            assert top_file(bob, "how often to replace the pump seal") == "pump-manual.md"
            assert top_file(bob, "薪酬调整方案") != PRIVATE[0]
            assert top_file(ann, "薪酬调整方案") == PRIVATE[0]
            for client in (ann, zed):  # audited in every tenant
                events = client.get("/v1/audit/events", params={"action": "index.reindex"})
                assert events.status_code == 200, events.text
                assert len(events.json()["data"]) >= 1
            actors = {e["actor_id"] for e in ann.get("/v1/audit/events").json()["data"]}
            assert world.ids["ann"] in actors
    finally:
        release.set()
        service._build = build
    live = server.container.store.generations().live_generation()
    assert live is not None and live.number == 2


def test_the_command_goes_through_the_server_that_holds_the_index(server: ThreadServer) -> None:
    from core.errors import UpstreamUnavailable
    from zhiku import admin_commands

    world = seeded_world(server, {"notes.md": "# 笔记\n\nThe backup runs nightly. 每晚备份。"})
    settings = server.container.settings
    with pytest.raises(UpstreamUnavailable, match="--url"):  # the server holds the folder
        admin_commands.reindex(settings, lambda _: None)
    lines: list[str] = []
    state = admin_commands.reindex(
        settings, lines.append, url=server.url, key=world.keys["ann"], poll_s=0.1
    )
    # Polled: a build this small may pass between two polls, but never the end.
    assert state == "done" and lines[-1].endswith("chunks embedded [done]"), lines
    with pytest.raises(admin_commands.ReindexRefused, match="403"):
        admin_commands.reindex(settings, lines.append, url=server.url, key=world.keys["bob"])
    with world.client("bob") as bob:
        assert top_file(bob, "每晚备份") == "notes.md"
