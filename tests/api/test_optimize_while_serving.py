"""On the embedded default the vector store optimizes in a child process: while it runs (held
"running" with SIGSTOP, so nothing here depends on timing) the API answers health checks,
searches in Chinese and English, and takes an upload, which the optimized shard keeps."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from index.qdrant_embedded import EmbeddedQdrantStore
from tests.api.world import World, upload, wait_terminal
from tests.live import ThreadServer
from tests.support import make_settings

pytestmark = pytest.mark.slow

WAIT_S = 300  # guards against hanging, not speed checks
DOCS = [
    ("pump-en.txt", b"Pump P-7\n\nThe P-7 pump needs a seal check every six months."),
    ("pump-zh.txt", "水泵 P-8\n\nP-8 型水泵每三个月检查一次密封。".encode()),
]
LATE = [
    ("valve-en.txt", b"Valve V-2\n\nThe V-2 valve is greased every spring."),
    ("valve-zh.txt", "阀门 V-3\n\nV-3 阀门每年秋天更换垫圈。".encode()),
]


def found(client: httpx.Client, query: str) -> set[str]:
    r = client.post("/v1/search", json={"query": query})
    assert r.status_code == 200, r.text
    return {hit["filename"] for hit in r.json()["results"]}


def uploaded(client: httpx.Client, files: list[tuple[str, bytes]]) -> None:
    r = upload(client, files, access={"everyone": True})
    assert r.status_code == 202, r.text
    for doc in r.json()["data"]:
        assert wait_terminal(client, doc["id"], timeout_s=WAIT_S)["status"] == "ready"


def test_the_api_answers_and_ingests_while_the_store_optimizes(tmp_path: Path) -> None:
    with ThreadServer(make_settings(tmp_path)) as server:
        store = server.container.store
        assert isinstance(store, EmbeddedQdrantStore)
        world = World(server)
        with world.client("ann") as ann, httpx.Client(base_url=server.url, timeout=60) as live:
            uploaded(ann, DOCS)
            assert "pump-en.txt" in found(ann, "pump seal check")
            assert "pump-zh.txt" in found(ann, "水泵 密封 检查")
            errors: list[BaseException] = []

            def optimize() -> None:
                try:
                    store.optimize()
                except BaseException as exc:  # reported below
                    errors.append(exc)

            optimizing = threading.Thread(target=optimize, daemon=True)
            optimizing.start()
            deadline = time.monotonic() + WAIT_S
            while store.child is None:
                assert optimizing.is_alive() and time.monotonic() < deadline
                time.sleep(0.01)
            child = store.child.pid
            os.kill(child, signal.SIGSTOP)  # the optimize is running until SIGCONT
            try:
                assert live.get("/health/live").status_code == 200
                assert "pump-en.txt" in found(ann, "pump seal check")
                assert "pump-zh.txt" in found(ann, "水泵 密封 检查")
                uploaded(ann, LATE)  # written to the live shard and replayed after
                assert "valve-en.txt" in found(ann, "valve greased spring")
                assert "valve-zh.txt" in found(ann, "阀门 垫圈 更换")
                assert store.child is not None and store.child.pid == child
            finally:
                os.kill(child, signal.SIGCONT)
            optimizing.join(WAIT_S)
            assert not optimizing.is_alive() and not errors, errors
            assert store.child is None
            assert live.get("/health/live").status_code == 200
            for query, filename in [
                ("pump seal check", "pump-en.txt"),
                ("水泵 密封 检查", "pump-zh.txt"),
                ("valve greased spring", "valve-en.txt"),
                ("阀门 垫圈 更换", "valve-zh.txt"),
            ]:
                assert filename in found(ann, query)
