"""End to end on real services: the API in its own server process, real Celery worker
processes on the real Redis, PostgreSQL for metadata, the embedded Qdrant engine owned by
the worker (the test reads it once the worker has stopped)."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from core.settings import Settings
from index import types as fields
from index.store import Scope
from tests.faults.checks import assert_ready_exactly_once
from tests.files import long_text
from tests.live import free_port, kill_group, process, wait_http, zhiku_env
from tests.support import shared_data_dir
from zhiku import admin_commands

pytestmark = pytest.mark.slow  # real worker processes


@pytest.fixture(scope="module")
def stack(module_pg_url, redis_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    pg_url = module_pg_url
    data_dir = tmp_path_factory.mktemp("celery")
    env = zhiku_env(
        {
            "ZHIKU_DATA_DIR": str(data_dir),
            "ZHIKU_DATABASE__URL": pg_url,
            "ZHIKU_REDIS_URL": redis_url,
            "ZHIKU_SECRET_KEY": "celery-test-secret",
            "ZHIKU_WORKER__STALE_AFTER_S": "6",
            "ZHIKU_WORKER__SWEEP_INTERVAL_S": "1",
            "ZHIKU_EMBEDDING__BATCH_SIZE": "4",
            # Ingestion only: no answer model in these processes.
            "ZHIKU_LLM__LOCAL__ENABLED": "false",
        }
    )
    settings = Settings(
        data_dir=data_dir, database={"url": pg_url}, secret_key="celery-test-secret"
    )
    admin_commands.create_tenant(settings, "acme")
    admin_commands.create_user(settings, "acme", "ops", is_admin=True)
    key = admin_commands.create_key(settings, "acme", "ops").plaintext
    port = free_port()
    log = data_dir / "api.log"
    with process(["serve", "--port", str(port)], env, log) as server:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/health/live", proc=server)
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
        yield {"env": env, "client": client, "settings": settings, "dir": data_dir}
        client.close()


def _tenant_id(settings: Settings) -> str:
    from core.db import identity
    from core.db.session import transaction
    from zhiku.database import build_sessions

    with transaction(build_sessions(settings)) as s:
        return identity.get_tenant_by_name(s, "acme").id


def _worker(stack: dict, name: str):  # type: ignore[no-untyped-def]
    return process(
        ["worker", "--queues", "parse,embed"], stack["env"], stack["dir"] / f"{name}.log"
    )


def _poll(client: httpx.Client, doc_id: str, until, timeout_s: float = 300) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    doc: dict = {}
    while time.monotonic() < deadline:
        doc = client.get(f"/v1/documents/{doc_id}").json()
        if until(doc):
            return doc
        time.sleep(0.2)
    raise TimeoutError(f"{doc_id}: {doc}")


def _stored_chunks(settings: Settings, doc_id: str) -> list:  # type: ignore[type-arg]
    from zhiku.container import build_store

    store = build_store(settings)
    try:
        return store.document_chunks(Scope.admin(_tenant_id(settings)), doc_id)
    finally:
        store.close()


def test_visibility_timeout_in_force(stack: dict) -> None:
    """Redis hands back a dead worker's message only after this; check the value really used."""
    from workers.celery_app import create_celery

    settings = Settings(
        redis_url=stack["env"]["ZHIKU_REDIS_URL"], worker={"visibility_timeout_s": 1234}
    )
    app = create_celery(settings)
    with app.connection_for_write() as conn:
        assert conn.default_channel.visibility_timeout == 1234
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
    assert app.conf.worker_prefetch_multiplier == 1


def test_upload_over_http_to_chunks_in_the_store(stack: dict) -> None:
    client: httpx.Client = stack["client"]
    ready = client.get("/health/ready").json()
    # The store is the worker's; answers are switched off in this stack.
    assert ready["checks"] == {"database": "ok", "broker": "ok", "answer_model": "not configured"}
    docx = shared_data_dir() / "docs/docling-test-data/docx/sources/word_sample.docx"
    r = client.post(
        "/v1/documents",
        files=[
            ("files", ("notes.md", b"# Release notes\n\nThe warp drive now idles quietly.\n")),
            ("files", (docx.name, docx.read_bytes())),
        ],
        data={"access": json.dumps({"everyone": True})},
    )
    assert r.status_code == 202, r.text
    ids = [d["id"] for d in r.json()["data"]]
    with _worker(stack, "worker-a"):
        finals = [_poll(client, i, lambda d: d["status"] in ("ready", "failed")) for i in ids]
    for final in finals:
        assert final["status"] == "ready", final["error"]
    tenant_id = _tenant_id(stack["settings"])
    for final in finals:
        chunks = _stored_chunks(stack["settings"], final["id"])
        assert len(chunks) == final["progress"]["chunks_total"] > 0
        for c in chunks:
            assert c.payload[fields.TENANT] == tenant_id
            # The document's list, and its owner, who never loses their own document.
            assert c.payload[fields.ACCESS] == ["everyone", f"user:{final['owner_id']}"]
            assert c.payload[fields.DOC_ID] == final["id"]
    notes = _stored_chunks(stack["settings"], finals[0]["id"])
    assert "warp drive" in " ".join(c.payload[fields.TEXT] for c in notes)


def test_killed_worker_mid_group_each_chunk_exactly_once(stack: dict) -> None:
    """Embedding batches across documents on Celery too: a message wakes the worker, which
    takes every document waiting as one group. A worker killed with a group in flight loses
    nothing and duplicates nothing."""
    client: httpx.Client = stack["client"]
    big = ("big-handbook.txt", long_text(600, seed=9).encode())
    small = [
        (f"memo-{i}.txt", f"Memo {i}: the boiler in block {i} is due.".encode()) for i in range(8)
    ]
    r = client.post("/v1/documents", files=[("files", f) for f in [big, *small]])
    assert r.status_code == 202, r.text
    big_id, *small_ids = [d["id"] for d in r.json()["data"]]
    with _worker(stack, "worker-b") as victim:
        mid = _poll(
            client,
            big_id,
            lambda d: d["stage"] == "embedding" and d["progress"]["chunks_done"] > 0,
        )
        smalls = [client.get(f"/v1/documents/{i}").json() for i in small_ids]
        kill_group(victim)  # the whole worker, pool children included, as a lost machine
    total = mid["progress"]["chunks_total"]
    assert mid["progress"]["chunks_done"] < total, "document finished before the kill"
    # One worker process, and the big document's message came first: the small documents
    # were embedded before it only because they shared its group (shortest first), and each
    # was ready as soon as its chunk was written.
    assert {d["status"] for d in smalls} == {"ready"}, smalls
    time.sleep(1)
    assert client.get(f"/v1/documents/{big_id}").json()["status"] == "processing"
    with _worker(stack, "worker-c"):
        final = _poll(client, big_id, lambda d: d["status"] in ("ready", "failed"))
    assert final["status"] == "ready", final["error"]
    assert final["progress"]["chunks_total"] == total
    for doc_id, count in [(big_id, total), *((i, 1) for i in small_ids)]:
        chunks = _stored_chunks(stack["settings"], doc_id)
        positions = [c.payload[fields.POSITION] for c in chunks]
        assert sorted(positions) == list(range(count))  # every chunk, each exactly once
        assert len({c.id for c in chunks}) == count
    # The database agrees: one finished job per stage, none left running by the dead worker,
    # and the store holds exactly the chunk ids each document's count names.
    from zhiku.container import build_store
    from zhiku.database import build_sessions

    store = build_store(stack["settings"])
    try:
        counts = assert_ready_exactly_once(
            build_sessions(stack["settings"]), store, [big_id, *small_ids]
        )
    finally:
        store.close()
    assert counts == {big_id: total, **dict.fromkeys(small_ids, 1)}
