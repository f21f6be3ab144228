"""Redis, the job queue, restarted and then stalled mid-ingestion under a real Celery worker.

The private Redis keeps nothing across a restart (no snapshot, no append-only file): every
queued message is lost, the worst a broker restart can do. Then it is stopped (SIGSTOP) with
its connections open: nothing answers and nothing is refused. The worker rides both out, an
upload during either returns within the producer's bound (``enqueue_bound_s``: it hung forever
on a stalled Redis before) and is saved with a notice, and the sweeper brings every silent
document back from the database's view: all end ready exactly once, each chunk in the store
exactly once.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.api.world import World, upload
from tests.faults.checks import assert_ready_exactly_once, wait_mid_ingestion, wait_until_settled
from tests.faults.services import PrivateRedis
from tests.files import long_text
from tests.live import ThreadServer, process, zhiku_env
from tests.support import make_settings
from workers.celery_app import enqueue_bound_s
from zhiku.container import build_store

pytestmark = pytest.mark.slow  # a real worker process and a private Redis

SECRET = "faults-broker-secret"
WORKER = {"stale_after_s": 6, "sweep_interval_s": 1, "retry_cap_s": 2.0, "broker_timeout_s": 2.0}
# What an upload does besides sending its messages (its originals, its rows), on a loaded
# machine: the bound below allows this on top of the broker's.
REQUEST_WORK_S = 3.0


def _notes(count: int, prefix: str) -> list[tuple[str, bytes]]:
    notes = []
    for i in range(count):
        if i % 2:
            body = f"第{i}号泵站每年春季检修一次，阀门在秋季更换。维修记录保存在档案室。"
        else:
            body = f"Pump station {i} is serviced each spring; its valves are replaced in autumn."
        notes.append((f"{prefix}-{i}.txt", body.encode()))
    return notes


def _upload_within(
    bob: httpx.Client, files: list[tuple[str, bytes]], bound_s: float
) -> tuple[httpx.Response, float]:
    """An upload whose client gives up just past the bound: a hang fails the test, it does
    not stall it."""
    started = time.monotonic()
    r = bob.post(
        "/v1/documents",
        files=[("files", (name, body)) for name, body in files],
        timeout=bound_s + 5,
    )
    return r, time.monotonic() - started


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
            bound_s = enqueue_bound_s(settings) + REQUEST_WORK_S
            private_redis.stop()
            # An upload while the queue is down: saved, and the caller told so, in time.
            r, took = _upload_within(bob, _notes(2, "during"), bound_s)
            assert r.status_code == 202 and "job queue" in r.json()["notice"], r.text
            assert took <= bound_s, f"{took:.1f} s against a bound of {bound_s:.1f} s"
            ids += [d["id"] for d in r.json()["data"]]
            time.sleep(1.0)
            private_redis.start()  # empty: every message queued before is gone
            # Stalled: connections open, no answer. The send times out instead of hanging.
            private_redis.pause()
            try:
                r, took = _upload_within(bob, _notes(2, "stalled"), bound_s)
            finally:
                private_redis.resume()
            assert r.status_code == 202 and "job queue" in r.json()["notice"], r.text
            assert took <= bound_s, f"{took:.1f} s against a bound of {bound_s:.1f} s"
            ids += [d["id"] for d in r.json()["data"]]
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
