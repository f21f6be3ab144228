"""The serving store optimizes a copy of its shard in a child process: this process keeps
its GIL (searches, writes and other threads go on meanwhile), writes made during the optimize
are replayed onto the optimized copy, and a child that dies leaves every point in place.

The child is paused with SIGSTOP where a test needs it "known to be running": no timing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.settings import QdrantSettings
from index import shard_optimize as isolated
from index.idle_optimizer import IdleOptimizer
from index.qdrant_embedded import EmbeddedQdrantStore
from index.store import Scope, SearchRequest
from index.types import ACCESS, SparseVector
from tests.index.contract.common import DIM, EVERYONE, point

WAIT_S = 120  # a guard against hanging, not a speed check
REQUESTS = [
    SearchRequest(dense=[1.0] * DIM, exact=True, limit=20),
    SearchRequest(dense=[(-1.0) ** i for i in range(DIM)], exact=True, limit=20),
    # Many tie (one term each): the limit takes every match, so no tie is cut.
    SearchRequest(sparse=SparseVector([1, 2], [1.0, 1.0]), exact=True, limit=200),
]


def hnsw_segments(path: Path) -> int:
    return sum((s / "vector_index-dense").exists() for s in (path / "segments").iterdir())


def filled(path: Path) -> EmbeddedQdrantStore:
    store = EmbeddedQdrantStore(
        path, optimize_after=None, indexing_threshold_kb=8, optimize_in_child=True
    )
    store.ensure_collection(DIM)
    store.upsert([point(tenant, f"{tenant}-d{i % 20}", i) for tenant in ("t1", "t2")
                  for i in range(400)])  # fmt: skip
    return store


def results(store: EmbeddedQdrantStore, tenant: str) -> list[list[tuple[float, str]]]:
    """Each request's hits by score, ties by id (the engine orders ties by segment)."""
    return [
        sorted((-round(h.score, 5), h.id) for h in store.search(r, Scope(tenant, EVERYONE)))
        for r in REQUESTS
    ]


class Optimizing(threading.Thread):
    """``store.optimize()`` on a thread, keeping what it raised."""

    def __init__(self, store: EmbeddedQdrantStore) -> None:
        super().__init__(daemon=True)
        self.store = store
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.store.optimize()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def child_pid(self) -> int:
        deadline = time.monotonic() + WAIT_S
        while self.store.child is None:
            assert self.is_alive() and time.monotonic() < deadline, "no optimize child started"
            time.sleep(0.005)
        return self.store.child.pid


class Ticker(threading.Thread):
    """Another thread of this process: counts its turns."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.ticks, self.stopped = 0, threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.ticks += 1
            time.sleep(0.001)

    def advances(self, by: int) -> bool:
        target, deadline = self.ticks + by, time.monotonic() + WAIT_S
        while self.ticks < target and time.monotonic() < deadline:
            time.sleep(0.001)
        return self.ticks >= target


def test_searches_writes_and_threads_go_on_while_the_child_optimizes(tmp_path: Path) -> None:
    path = tmp_path / "q"
    store = filled(path)
    before = results(store, "t1")
    ticker = Ticker()
    ticker.start()
    optimizing = Optimizing(store)
    optimizing.start()
    child = optimizing.child_pid()
    os.kill(child, signal.SIGSTOP)  # known to be running from here until SIGCONT
    try:
        assert ticker.advances(50)
        assert results(store, "t1") == before
        # Writes during the optimize: visible at once, and kept across the swap.
        store.upsert([point("t3", "new", i) for i in range(300)])
        store.delete_document("t2", "t2-d0")
        store.set_document_access("t2", "t2-d1", ["group:pumps"])
        assert store.count(Scope.admin("t3")) == 300
        assert store.count(Scope.admin("t2")) == 380
    finally:
        os.kill(child, signal.SIGCONT)
    optimizing.join(WAIT_S)
    assert not optimizing.is_alive() and optimizing.error is None
    ticker.stopped.set()
    assert hnsw_segments(path) >= 1
    assert results(store, "t1") == before
    assert store.count(Scope.admin("t1")) == 400
    assert store.count(Scope.admin("t2")) == 380
    assert store.count(Scope.admin("t3")) == 300
    moved = store.document_chunks(Scope.admin("t2"), "t2-d1")
    assert moved and all(c.payload[ACCESS] == ["group:pumps"] for c in moved)
    assert not isolated.staging_path(path).exists()
    # Writes after the swap land in the new shard; all of it survives a reopen.
    store.upsert([point("t3", "later", i) for i in range(10)])
    store.close()
    reopened = EmbeddedQdrantStore(path)
    reopened.ensure_collection(DIM)
    assert reopened.count(Scope.admin("t3")) == 310
    assert results(reopened, "t1") == before
    reopened.close()


def test_a_child_killed_mid_optimize_leaves_every_point_in_place(tmp_path: Path) -> None:
    path = tmp_path / "q"
    store = filled(path)
    before = results(store, "t1")
    optimizing = Optimizing(store)
    optimizing.start()
    child = optimizing.child_pid()
    store.upsert([point("t3", "new", i) for i in range(20)])  # written during it
    os.kill(child, signal.SIGKILL)
    optimizing.join(WAIT_S)
    assert isinstance(optimizing.error, isolated.OptimizeFailed)
    assert not isolated.staging_path(path).exists()
    assert store.count(Scope.admin("t1")) + store.count(Scope.admin("t2")) == 800
    assert store.count(Scope.admin("t3")) == 20
    assert results(store, "t1") == before
    store.optimize()  # the next try works
    assert hnsw_segments(path) >= 1
    assert store.count(Scope.admin("t3")) == 20
    store.close()


def test_closing_during_an_optimize_stops_the_child_and_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "q"
    store = filled(path)
    optimizing = Optimizing(store)
    optimizing.start()
    child = optimizing.child_pid()
    os.kill(child, signal.SIGSTOP)  # close must not wait for it
    store.close()
    optimizing.join(WAIT_S)
    assert isinstance(optimizing.error, RuntimeError)
    reopened = EmbeddedQdrantStore(path)
    reopened.ensure_collection(DIM)
    assert reopened.count(Scope.admin("t1")) == 400
    reopened.close()


@pytest.mark.parametrize("left", ["half-copied", "old-shard-moved-aside", "both-swapped"])
def test_what_a_crash_during_an_optimize_left_is_put_right_on_open(
    tmp_path: Path, left: str
) -> None:
    path = tmp_path / "q"
    store = filled(path)
    before = results(store, "t1")
    store.close()
    staging, previous = isolated.staging_path(path), isolated.previous_path(path)
    if left == "half-copied":
        shutil.copytree(path / "segments", staging / "segments")
    elif left == "old-shard-moved-aside":  # the first of the two renames done, not the second
        path.rename(previous)
    else:  # both renames done: an (un-optimized) copy replaced the old shard
        shutil.copytree(path, staging)
        path.rename(previous)
        staging.rename(path)
    reopened = EmbeddedQdrantStore(path)
    reopened.ensure_collection(DIM)
    assert reopened.count(Scope.admin("t1")) == 400
    assert results(reopened, "t1") == before
    assert not staging.exists() and not previous.exists()
    reopened.close()


def test_a_failed_optimize_is_tried_again_later() -> None:
    calls: list[int] = []

    def optimize() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise isolated.OptimizeFailed("the child was killed")
        optimizer.pending = 0

    optimizer = IdleOptimizer(optimize, after=10, idle_s=0.0)
    optimizer.added(10)
    deadline = time.monotonic() + WAIT_S
    while optimizer.runs == 0:
        assert time.monotonic() < deadline, "never tried again"
        time.sleep(0.05)
    assert len(calls) == 2 and optimizer.failures == 0
    optimizer.stop()


def test_the_serving_store_optimizes_in_a_child_as_its_settings_say(tmp_path: Path) -> None:
    store = EmbeddedQdrantStore.from_settings(QdrantSettings(), tmp_path / "a")
    try:
        assert store._in_child
        assert (store._optimizer._after, store._optimizer._idle_s) == (20_000, 30.0)
    finally:
        store.close()
    tuned = QdrantSettings(optimize_after=0, optimize_idle_s=5, optimize_in_child=False)
    store = EmbeddedQdrantStore.from_settings(tuned, tmp_path / "b")
    try:
        assert not store._in_child
        assert (store._optimizer._after, store._optimizer._idle_s) == (None, 5.0)
    finally:
        store.close()


SERVER = """
import os, signal, sys, threading, time
from pathlib import Path
from tests.index.test_optimize_in_child import filled
store = filled(Path(sys.argv[1]))
threading.Thread(target=store.optimize, daemon=True).start()
while store.child is None:
    time.sleep(0.001)
pid = store.child.pid
def opened():  # the shard copy, which the child opens after asking to die with its parent
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
        return any(".optimizing" in os.readlink(f"/proc/{pid}/fd/{fd}") for fd in fds)
    except OSError:
        return False
while not opened():
    time.sleep(0.001)
os.kill(pid, signal.SIGSTOP)  # never ends by itself
print(pid, flush=True)
os._exit(0)  # dies as SIGKILL would: no close, no cleanup
"""


def test_the_child_dies_with_its_server_and_the_shard_opens_whole(tmp_path: Path) -> None:
    path = tmp_path / "q"
    server = subprocess.run(
        [sys.executable, "-c", SERVER, str(path)],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    child = int(server.stdout.split()[-1])
    deadline = time.monotonic() + WAIT_S
    while Path(f"/proc/{child}").exists() and "Z" not in _state(child):
        assert time.monotonic() < deadline, "the optimize child outlived its server"
        time.sleep(0.01)
    reopened = EmbeddedQdrantStore(path)
    reopened.ensure_collection(DIM)
    assert reopened.count(Scope.admin("t1")) + reopened.count(Scope.admin("t2")) == 800
    assert not isolated.staging_path(path).exists()
    reopened.close()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
