"""The server re-index's carry-over mark as a writer in another process judges it
(``index.server_generations.CarryWatch``): by whether it is renewed, on the writer's own
monotonic clock, not by comparing the re-index's wall clock with the writer's. A mark left by a
crashed re-index holds a writer back a bounded time, however far ahead the re-index's clock
was; a live one is never missed, however far behind it is; one that lapsed long ago is
ignored at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from qdrant_client import QdrantClient

from index import server_generations
from index.generations import Generation
from index.qdrant_server import QdrantServerStore
from index.store import Scope
from tests.index.contract.common import DIM, point
from tests.index.contract.generations import OLD

ACCESS = ["user:所有者", "group:engineering"]


@pytest.fixture
def writer(monkeypatch: pytest.MonkeyPatch) -> QdrantServerStore:
    monkeypatch.setattr(server_generations, "POINTER_TTL_S", 0.05)
    store = QdrantServerStore(QdrantClient(":memory:"), "chunks")
    store.ensure_collection(DIM)
    store.generations().adopt(Generation(1, OLD, {"model": "old"}))
    store.upsert([point("t1", "d", i, text=f"第{i}段 paragraph {i}") for i in range(3)])
    return store


def mark(store: QdrantServerStore, until: float, new_epoch: bool = True) -> None:
    """What a re-index in another process writes: its mark, lapsing at ``until`` (its clock)."""
    pointer = server_generations.read_pointer(store._client, "chunks")
    pointer["carry_epoch"] = int(pointer.get("carry_epoch", 0)) + int(new_epoch)
    pointer["carrying_until"] = until
    server_generations.write_pointer(store._client, "chunks", pointer)


def unmark(store: QdrantServerStore) -> None:
    pointer = server_generations.read_pointer(store._client, "chunks")
    pointer.pop("carrying_until", None)
    server_generations.write_pointer(store._client, "chunks", pointer)


def access_lists(store: QdrantServerStore) -> set[tuple[str, ...]]:
    return {tuple(c.payload["access"]) for c in store.document_chunks(Scope.admin("t1"), "d")}


def in_thread(write: Callable[[], None]) -> tuple[threading.Thread, list[float]]:
    done: list[float] = []

    def run() -> None:
        write()
        done.append(time.monotonic())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, done


def test_a_live_mark_written_on_a_clock_far_behind_is_still_seen(
    writer: QdrantServerStore,
) -> None:
    """The re-index's clock is 10 minutes behind the writer's: by the writer's clock its mark
    lapsed before it was written. The writer still waits for the carry-over, then writes again
    over the older copy the carry-over wrote."""
    mark(writer, time.time() - 600 + server_generations.CARRY_MARK_S)
    thread, done = in_thread(lambda: writer.set_document_access("t1", "d", ACCESS))
    thread.join(1.0)
    assert thread.is_alive(), "the writer missed the live mark"
    # The carry-over's older copy lands over the writer's change, then the mark is removed.
    for chunk in writer.document_chunks(Scope.admin("t1"), "d"):
        writer._client.set_payload("chunks", payload={"access": ["everyone"]}, points=[chunk.id])
    unmark(writer)
    thread.join(10)
    assert not thread.is_alive() and done
    assert access_lists(writer) == {tuple(ACCESS)}


def test_a_crashed_reindex_on_a_clock_far_ahead_holds_writers_back_a_bounded_time(
    writer: QdrantServerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-index whose clock was an hour ahead crashed mid carry-over: its mark says it lapses
    in an hour. A writer waits for it only until it has gone unrenewed for CARRY_MARK_S (here
    0.5 s) by its own clock, then writes; the mark, never renewed, is not awaited again."""
    monkeypatch.setattr(server_generations, "CARRY_MARK_S", 0.5)
    mark(writer, time.time() + 3600)
    started = time.monotonic()
    thread, done = in_thread(lambda: writer.set_document_access("t1", "d", ACCESS))
    thread.join(20)
    assert not thread.is_alive(), "the writer waited out the crashed re-index's clock"
    assert done[0] - started >= 0.5  # the mark was honoured while it could have been live
    assert access_lists(writer) == {tuple(ACCESS)}
    started = time.monotonic()
    writer.set_document_access("t1", "d", ["everyone"])  # the same dead mark: no wait now
    assert time.monotonic() - started < 0.5
    assert access_lists(writer) == {("everyone",)}


def test_a_renewed_mark_holds_writers_back_until_it_is_removed(
    writer: QdrantServerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long carry-over renews its mark (a new lapse time, the same epoch) more often than
    CARRY_MARK_S: the writer keeps waiting past CARRY_MARK_S, until the mark is removed."""
    monkeypatch.setattr(server_generations, "CARRY_MARK_S", 0.4)
    mark(writer, time.time() + 0.4)
    thread, done = in_thread(lambda: writer.set_document_access("t1", "d", ACCESS))
    renewed_until = time.monotonic() + 1.6
    while time.monotonic() < renewed_until:
        time.sleep(0.1)
        mark(writer, time.time() + 0.4, new_epoch=False)
        assert thread.is_alive(), "the writer took a renewed mark for a lapsed one"
    removed = time.monotonic()
    unmark(writer)
    thread.join(10)
    assert done and done[0] >= removed
    assert access_lists(writer) == {tuple(ACCESS)}


def test_a_mark_that_lapsed_long_ago_is_not_awaited(
    writer: QdrantServerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-index that crashed an hour ago left its mark: no writer process waits for it
    (CARRY_MARK_S is 30 s here; the write is done long before)."""
    monkeypatch.setattr(server_generations, "CARRY_MARK_S", 30.0)
    mark(writer, time.time() - 3600)
    thread, done = in_thread(lambda: writer.set_document_access("t1", "d", ACCESS))
    thread.join(10)
    assert not thread.is_alive() and done
    assert access_lists(writer) == {tuple(ACCESS)}
