"""The embedded default (``zhiku serve``, no broker) keeps small files flowing while large ones
are embedded: with both embed loops on a large document, memos of two tenants uploaded after
them are ready while the large ones are still processing; the server killed mid-document and
started again resumes them, every chunk stored once."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from core.settings import Settings
from tests.faults.checks import assert_ready_exactly_once
from tests.files import long_text
from tests.live import free_port, kill_group, process, wait_http, zhiku_env
from zhiku import admin_commands

pytestmark = pytest.mark.slow  # a real server process, started twice

SLICE = 16


def _poll(client: httpx.Client, doc_id: str, until, timeout_s: float = 300) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    doc: dict = {}
    while time.monotonic() < deadline:
        doc = client.get(f"/v1/documents/{doc_id}").json()
        if until(doc):
            return doc
        time.sleep(0.2)
    raise TimeoutError(f"{doc_id}: {doc}")


def _upload(client: httpx.Client, files: list[tuple[str, bytes]]) -> list[str]:
    r = client.post("/v1/documents", files=[("files", f) for f in files])
    assert r.status_code == 202, r.text
    return [d["id"] for d in r.json()["data"]]


def test_memos_pass_large_documents_and_a_killed_server_resumes_them(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = zhiku_env(
        {
            "ZHIKU_DATA_DIR": str(data_dir),
            "ZHIKU_WORKER__EMBED_SLICE_CHUNKS": str(SLICE),
            "ZHIKU_EMBEDDING__BATCH_SIZE": "4",
            "ZHIKU_LLM__LOCAL__ENABLED": "false",
        }
    )
    settings = Settings(data_dir=data_dir)
    keys = {}
    for tenant in ("acme", "globex"):
        admin_commands.create_tenant(settings, tenant)
        admin_commands.create_user(settings, tenant, "ops", is_admin=True)
        keys[tenant] = admin_commands.create_key(settings, tenant, "ops").plaintext
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    clients = {
        t: httpx.Client(base_url=url, headers={"Authorization": f"Bearer {k}"}, timeout=60)
        for t, k in keys.items()
    }
    acme, globex = clients["acme"], clients["globex"]
    with process(["serve", "--port", str(port)], env, tmp_path / "serve-1.log") as server:
        wait_http(url + "/health/live", proc=server)
        # One large document per tenant: enough for both embed loops.
        bigs = [
            *_upload(acme, [("acme-manual.txt", long_text(1200, seed=51).encode())]),
            *_upload(globex, [("globex-manual.txt", long_text(1200, seed=52).encode())]),
        ]
        for big, client in zip(bigs, (acme, globex), strict=True):
            _poll(client, big, lambda d: d["progress"]["chunks_done"] >= SLICE)
        memos = {
            client: _upload(
                client,
                [
                    (f"{t}-memo-{i}.txt", f"Memo {i} of {t}: pump {i} hums.".encode())
                    for i in range(3)
                ],
            )
            for t, client in clients.items()
        }
        for client, ids in memos.items():
            for doc_id in ids:
                final = _poll(client, doc_id, lambda d: d["status"] in ("ready", "failed"))
                assert final["status"] == "ready", final["error"]
        mids = [
            c.get(f"/v1/documents/{b}").json() for b, c in zip(bigs, (acme, globex), strict=True)
        ]
        # Without slices both loops held a large document until its last chunk.
        assert [m["status"] for m in mids] == ["processing", "processing"], mids
        kill_group(server)  # mid-document: as a crash
    total = {m["id"]: m["progress"]["chunks_total"] for m in mids}
    with process(["serve", "--port", str(port)], env, tmp_path / "serve-2.log") as server:
        wait_http(url + "/health/live", proc=server)
        for big, client in zip(bigs, (acme, globex), strict=True):
            final = _poll(client, big, lambda d: d["status"] in ("ready", "failed"), 600)
            assert final["status"] == "ready", final["error"]
    for client in clients.values():
        client.close()
    from zhiku.container import build_store
    from zhiku.database import build_sessions

    store = build_store(settings)
    try:
        counts = assert_ready_exactly_once(
            build_sessions(settings), store, [*bigs, *(i for ids in memos.values() for i in ids)]
        )
    finally:
        store.close()
    assert all(counts[b] == total[b] > 4 * SLICE for b in bigs), counts
