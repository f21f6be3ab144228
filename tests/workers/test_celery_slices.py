"""A large document does not hold a Celery embed worker: with one worker process, small files
uploaded after it, by its tenant and by another, are ready while it is still being embedded a
slice at a time; the worker killed mid-document, the next one resumes it, every chunk stored
once (real API and worker processes, PostgreSQL, Redis)."""

from __future__ import annotations

import httpx
import pytest

from tests.faults.checks import assert_ready_exactly_once
from tests.files import long_text
from tests.live import kill_group, process
from tests.workers.test_celery_e2e import _poll, stack  # noqa: F401 (the module's stack)
from zhiku import admin_commands

pytestmark = pytest.mark.slow  # real worker processes

SLICE = 16


def _sliced_worker(stack: dict, name: str):  # type: ignore[no-untyped-def]  # noqa: F811
    env = {**stack["env"], "ZHIKU_WORKER__EMBED_SLICE_CHUNKS": str(SLICE)}
    return process(["worker", "--queues", "parse,embed"], env, stack["dir"] / f"{name}.log")


def _other_tenant(stack: dict) -> httpx.Client:  # noqa: F811
    settings = stack["settings"]
    admin_commands.create_tenant(settings, "globex")
    admin_commands.create_user(settings, "globex", "ops", is_admin=True)
    key = admin_commands.create_key(settings, "globex", "ops").plaintext
    client: httpx.Client = stack["client"]
    return httpx.Client(
        base_url=str(client.base_url), headers={"Authorization": f"Bearer {key}"}, timeout=60
    )


def test_small_files_pass_a_large_one_and_a_killed_worker_resumes_it(stack: dict) -> None:  # noqa: F811
    acme: httpx.Client = stack["client"]
    globex = _other_tenant(stack)
    big = ("big-manual.txt", long_text(1500, seed=41).encode())
    r = acme.post("/v1/documents", files=[("files", big)])
    assert r.status_code == 202, r.text
    big_id = r.json()["data"][0]["id"]
    with _sliced_worker(stack, "sliced-a") as victim:
        # Its first slices are in: a run has come and gone, the document is not ready.
        _poll(acme, big_id, lambda d: d["progress"]["chunks_done"] >= SLICE)
        ids: dict[httpx.Client, list[str]] = {}
        for client, name in ((acme, "acme"), (globex, "globex")):
            memos = [
                (f"{name}-memo-{i}.txt", f"Memo {i} of {name}: valve {i} leaks.".encode())
                for i in range(3)
            ]
            r = client.post("/v1/documents", files=[("files", m) for m in memos])
            assert r.status_code == 202, r.text
            ids[client] = [d["id"] for d in r.json()["data"]]
        for client, doc_ids in ids.items():
            for doc_id in doc_ids:
                final = _poll(client, doc_id, lambda d: d["status"] in ("ready", "failed"))
                assert final["status"] == "ready", final["error"]
        mid = acme.get(f"/v1/documents/{big_id}").json()
        # One worker process, the large document's message first: without slices the memos
        # waited for all of its chunks.
        assert mid["status"] == "processing", mid["progress"]
        mid = _poll(
            acme, big_id, lambda d: d["progress"]["chunks_done"] > mid["progress"]["chunks_done"]
        )
        kill_group(victim)  # mid-document, maybe mid-slice: as a lost machine
    total = mid["progress"]["chunks_total"]
    assert mid["progress"]["chunks_done"] < total, "document finished before the kill"
    assert acme.get(f"/v1/documents/{big_id}").json()["status"] == "processing"
    with _sliced_worker(stack, "sliced-b"):
        final = _poll(acme, big_id, lambda d: d["status"] in ("ready", "failed"), timeout_s=600)
    assert final["status"] == "ready", final["error"]
    from zhiku.container import build_store
    from zhiku.database import build_sessions

    store = build_store(stack["settings"])
    try:
        counts = assert_ready_exactly_once(
            build_sessions(stack["settings"]), store, [big_id, *ids[acme], *ids[globex]]
        )
    finally:
        store.close()
    assert counts[big_id] == total > 4 * SLICE
    globex.close()
