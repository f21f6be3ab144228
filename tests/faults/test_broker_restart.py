"""Redis, the job queue, restarted mid-ingestion under a real Celery worker process.

The private Redis keeps nothing across a restart (no snapshot, no append-only file): every
queued message is lost, the worst a broker restart can do. The worker rides the outage out,
an upload during it is saved with a notice, and the sweeper brings every silent document back
from the database's view: all end ready exactly once, each chunk in the store exactly once.
"""

from __future__ import annotations

import time

import pytest

from tests.api.world import World, upload
from tests.faults.checks import assert_ready_exactly_once, wait_mid_ingestion, wait_until_settled
from tests.faults.services import PrivateRedis
from tests.files import long_text
from tests.live import ThreadServer, process, zhiku_env
from tests.support import make_settings
from zhiku.container import build_store

pytestmark = pytest.mark.slow  # a real worker process and a private Redis

SECRET = "faults-broker-secret"
WORKER = {"stale_after_s": 6, "sweep_interval_s": 1, "retry_cap_s": 2.0}


def _notes(count: int, prefix: str) -> list[tuple[str, bytes]]:
    notes = []
    for i in range(count):
        if i % 2:
            body = f"第{i}号泵站每年春季检修一次，阀门在秋季更换。维修记录保存在档案室。"
        else:
            body = f"Pump station {i} is serviced each spring; its valves are replaced in autumn."
        notes.append((f"{prefix}-{i}.txt", body.encode()))
    return notes


def test_redis_restart_mid_ingestion(pg_url, private_redis: PrivateRedis, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data_dir = tmp_path / "data"
    settings = make_settings(
        data_dir,
        database={"url": pg_url},
        redis_url=private_redis.url,
        secret_key=SECRET,
        worker=WORKER,
    )
    env = zhiku_env(
        {
            "ZHIKU_DATA_DIR": str(data_dir),
            "ZHIKU_DATABASE__URL": pg_url,
            "ZHIKU_REDIS_URL": private_redis.url,
            "ZHIKU_SECRET_KEY": SECRET,
            "ZHIKU_LLM__LOCAL__ENABLED": "false",
            "ZHIKU_EMBEDDING__BATCH_SIZE": "4",
            **{f"ZHIKU_WORKER__{k.upper()}": str(v) for k, v in WORKER.items()},
        }
    )
    worker_log = tmp_path / "worker.log"
    with ThreadServer(settings) as srv, World(srv).client("bob") as bob:
        sessions = srv.container.sessions
        files = [("handbook.txt", long_text(120, seed=3).encode()), *_notes(10, "before")]
        r = upload(bob, files)
        assert r.status_code == 202, r.text
        ids = [d["id"] for d in r.json()["data"]]
        with process(["worker", "--queues", "parse,embed"], env, worker_log) as worker:

            def alive() -> None:
                assert worker.poll() is None, worker_log.read_text()[-3000:]

            # Mid-ingestion: some documents ready, the handbook still being embedded.
            states = wait_mid_ingestion(bob, ids, alive)
            assert states[ids[0]] != "ready", "all done before the fault"
            private_redis.stop()
            # An upload while the queue is down: saved, and the caller told so.
            r = upload(bob, _notes(2, "during"))
            assert r.status_code == 202 and "job queue" in r.json()["notice"], r.text
            ids += [d["id"] for d in r.json()["data"]]
            time.sleep(1.0)
            private_redis.start()  # empty: every message queued before is gone
            r = upload(bob, _notes(2, "after"))
            assert r.status_code == 202 and not r.json().get("notice"), r.text
            ids += [d["id"] for d in r.json()["data"]]
            wait_until_settled(sessions, ids, 180, alive)
    # The worker owned the embedded store; it has stopped, so the test may open it.
    store = build_store(settings)
    try:
        assert_ready_exactly_once(sessions, store, ids)
    finally:
        store.close()
