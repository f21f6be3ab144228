"""Generation switches, backend by backend: what the shared contract cannot stage (a restart
in the middle of a build, a second process on the same server, a write in the switch's
instant)."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import QdrantClient

from core.errors import UpstreamUnavailable
from index import server_generations
from index.embedded_generations import building_path
from index.generations import (
    Generation,
    GenerationSwitched,
    ModelIdentity,
    Progress,
    VectorSource,
    next_generation,
    rebuild,
)
from index.qdrant_embedded import EmbeddedQdrantStore
from index.qdrant_server import QdrantServerStore
from index.store import DimensionMismatch, Scope, SearchRequest
from index.types import SINGLE, TEXT
from tests.index.contract.common import DIM, EVERYONE, point
from tests.index.contract.generations import (
    NEW,
    NEW_DIM,
    OLD,
    SAME_SIZE,
    TinyEncoder,
    tiny_vector,
)

pytestmark = pytest.mark.filterwarnings("ignore:Local mode performs exact")


def is_the_switch(pointer: dict[str, Any]) -> bool:
    """Whether a pointer write is the switch (not a build's record, nor a carry-over's mark)."""
    switched = "building" not in pointer and pointer["live"]["collection"] != "chunks"
    return switched and "carry_epoch" not in pointer


def _load(store: Any, count: int = 12) -> None:
    store.ensure_collection(DIM)
    store.generations().adopt(Generation(1, OLD, {"model": "old"}))
    store.upsert([point("t1", "d", i, text=f"第{i}段 paragraph {i}") for i in range(count)])


def _rebuild(store: Any, encoder: TinyEncoder) -> Generation:
    ops = store.generations()
    return rebuild(ops, next_generation(ops, NEW, {"model": "tiny"}), encoder, batch=4)


def test_embedded_build_resumes_after_a_restart(tmp_path: Path) -> None:
    folder = tmp_path / "chunks"
    with EmbeddedQdrantStore(folder, optimize_after=None) as store:
        _load(store)
        with pytest.raises(RuntimeError):
            _rebuild(store, TinyEncoder(fail_after=4))
    assert building_path(folder).is_dir()  # the half-built generation stays, unserved
    with EmbeddedQdrantStore(folder, optimize_after=None) as store:
        ops = store.generations()
        assert ops.live_generation() == Generation(1, OLD)
        assert store.count(Scope.admin("t1")) == 12
        store.search(SearchRequest(dense=[1.0] * DIM), Scope("t1", EVERYONE))  # old vectors
        encoder = TinyEncoder()
        _rebuild(store, encoder)
        assert len(encoder.texts) == 8
    assert not building_path(folder).exists()
    with EmbeddedQdrantStore(folder, optimize_after=None) as store:  # the switch outlives it
        assert store.generations().live_generation() == Generation(2, NEW)
        query = SearchRequest(dense=tiny_vector("第3段 paragraph 3"), limit=12)
        found = store.search(query, Scope.admin("t1"))
        # The new model's vectors: the chunk's own text scores 1 (digits may share a bucket).
        best = {r.payload[TEXT] for r in found if r.score == pytest.approx(1.0, abs=1e-5)}
        assert "第3段 paragraph 3" in best and len(best) < 12


def test_embedded_old_folder_left_by_a_crash_is_discarded(tmp_path: Path) -> None:
    folder = tmp_path / "chunks"
    with EmbeddedQdrantStore(folder, optimize_after=None) as store:
        _load(store)
        ops = store.generations()
        ops.drop_previous = lambda: None  # type: ignore[method-assign]  # "crashed" before
        rebuild(ops, next_generation(ops, NEW, {}), TinyEncoder(), batch=4)
    assert building_path(folder).is_dir()  # the old generation, an older number
    with EmbeddedQdrantStore(folder, optimize_after=None) as store:
        assert store.generations().building_generation() is None
        encoder = TinyEncoder()
        ops = store.generations()
        target = Generation(3, ModelIdentity("tiny-model", "v2", NEW_DIM, "bm25-test"))
        rebuild(ops, target, encoder, batch=4)
        assert len(encoder.texts) == 12
        assert store.generations().live_generation() == target


def test_a_second_server_process_follows_the_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_generations, "POINTER_TTL_S", 0.05)
    client = QdrantClient(":memory:")
    mine, other = QdrantServerStore(client, "chunks"), QdrantServerStore(client, "chunks")
    _load(mine)
    other.ensure_collection(DIM)
    told: list[str] = []
    other.on_generation_change = lambda: told.append("switched")
    scope = Scope("t1", EVERYONE)
    assert len(other.search(SearchRequest(dense=[1.0] * DIM, limit=50), scope)) == 12
    late = point("t1", "late", 0, text="最后一刻 written in the switch's instant")
    real_write = server_generations.write_pointer

    def write_in_the_instant(client: QdrantClient, base: str, pointer: dict[str, Any]) -> None:
        if is_the_switch(pointer):
            other.upsert([late])  # another process, still on the old collection
            other.delete_document("t1", "d")
        real_write(client, base, pointer)

    monkeypatch.setattr(server_generations, "write_pointer", write_in_the_instant)
    _rebuild(mine, TinyEncoder())
    assert not client.collection_exists("chunks")  # the old generation dropped
    with pytest.raises(DimensionMismatch):
        other.search(SearchRequest(dense=[1.0] * DIM), scope)
    assert told == ["switched"]  # its owner re-reads which model to embed with
    found = other.search(SearchRequest(dense=tiny_vector("最后一刻"), limit=50), scope)
    assert [r.payload[TEXT] for r in found] == [late.payload[TEXT]]  # carried over; d deleted


def test_a_carried_over_write_never_undoes_a_later_one_in_the_new_generation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In the switch's instant another process narrows "d" to a group and changes "e" on the
    old collection; right after the switch (before the carry-over) "d" is narrowed to its
    owner and "e" deleted on the new one. The carry-over must not bring the group's list, or
    "e", back: those later writes were acknowledged, and nothing would repair them."""
    monkeypatch.setattr(server_generations, "POINTER_TTL_S", 0.05)
    client = QdrantClient(":memory:")
    mine, other = QdrantServerStore(client, "chunks"), QdrantServerStore(client, "chunks")
    _load(mine, count=4)
    mine.upsert([point("t1", "e", i) for i in range(3)])
    mine.upsert([point("t1", "f", i) for i in range(2)])
    other.ensure_collection(DIM)
    real_write = server_generations.write_pointer
    real_late = server_generations.ServerGenerations.late_fingerprints

    def write_in_the_instant(client: QdrantClient, base: str, pointer: dict[str, Any]) -> None:
        if is_the_switch(pointer):
            other.set_document_access("t1", "d", ["group:eng"])  # still the old collection
            other.set_document_access("t1", "e", ["group:eng"])
            other.set_document_access("t1", "f", ["group:ops"])  # nothing later: carried
        real_write(client, base, pointer)

    def later_writes_first(self: Any) -> dict[str, str]:
        mine.set_document_access("t1", "d", ["user:owner"])  # the new collection, live now
        mine.delete_document("t1", "e")
        return real_late(self)

    monkeypatch.setattr(server_generations, "write_pointer", write_in_the_instant)
    monkeypatch.setattr(
        server_generations.ServerGenerations, "late_fingerprints", later_writes_first
    )
    _rebuild(mine, TinyEncoder())
    assert not client.collection_exists("chunks")  # the old generation dropped
    lists = {
        doc: {tuple(c.payload["access"]) for c in mine.document_chunks(Scope.admin("t1"), doc)}
        for doc in ("d", "e", "f")
    }
    assert lists == {"d": {("user:owner",)}, "e": set(), "f": {("group:ops",)}}


def test_a_write_that_resolved_the_old_collection_lands_in_the_live_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another process resolved the old collection just before the switch, and its writes
    reach it only after the re-index carried the late writes over (a slow call, a paused
    process): an access change and a delete, acknowledged to their callers, must not be lost
    with the dropped collection. Its upsert (the old model's vectors) is refused, to be
    embedded again."""
    monkeypatch.setattr(server_generations, "POINTER_TTL_S", 0.05)
    client = QdrantClient(":memory:")
    mine, other = QdrantServerStore(client, "chunks"), QdrantServerStore(client, "chunks")
    _load(mine, count=4)
    mine.upsert([point("t1", "e", i) for i in range(3)])
    other.ensure_collection(DIM)
    real_follow = QdrantServerStore._follow
    real_late = server_generations.ServerGenerations.late_fingerprints
    stale: list[bool] = []  # set: the other process has not re-read the pointer yet

    class Landing:
        """The other process's client: its write clears ``stale`` once it has landed."""

        def __getattr__(self, name: str) -> Any:
            real = getattr(client, name)
            if name not in ("set_payload", "delete", "upsert"):
                return real

            def write(*args: Any, **kwargs: Any) -> Any:
                result = real(*args, **kwargs)
                stale.clear()
                return result

            return write

    other._client = Landing()  # type: ignore[assignment]

    def follow(self: QdrantServerStore) -> None:
        if not (self is other and stale):
            real_follow(self)

    def resolved_before_the_switch(write: Any) -> None:
        other._target, other._dim, stale[:] = "chunks", None, [True]
        write()

    def writes_after_the_carry_over(self: Any) -> dict[str, str]:
        after = real_late(self)
        resolved_before_the_switch(lambda: other.set_document_access("t1", "d", ["user:owner"]))
        resolved_before_the_switch(lambda: other.delete_document("t1", "e"))
        with pytest.raises(UpstreamUnavailable, match="switched generations"):
            resolved_before_the_switch(lambda: other.upsert([point("t1", "late", 0)]))
        return after

    monkeypatch.setattr(QdrantServerStore, "_follow", follow)
    monkeypatch.setattr(
        server_generations.ServerGenerations, "late_fingerprints", writes_after_the_carry_over
    )
    _rebuild(mine, TinyEncoder())
    assert not client.collection_exists("chunks")
    lists = {tuple(c.payload["access"]) for c in mine.document_chunks(Scope.admin("t1"), "d")}
    assert lists == {("user:owner",)}
    assert mine.document_chunks(Scope.admin("t1"), "e") == []


def test_another_process_with_the_replaced_model_is_refused_after_the_switch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker process embedded a slice with the old model; a re-index elsewhere switched
    to another model of the same size before its upsert. It resolves the live collection
    anew for the write (the new one): its old-model vectors are refused there, before the
    write, and accepted once embedded by the new model."""
    monkeypatch.setattr(server_generations, "POINTER_TTL_S", 0.05)
    client = QdrantClient(":memory:")
    mine, other = QdrantServerStore(client, "chunks"), QdrantServerStore(client, "chunks")
    _load(mine, count=4)
    other.ensure_collection(DIM)
    embedded = [point("t1", "w", i, text=f"工人 worker {i}") for i in range(3)]
    ops = mine.generations()
    rebuild(ops, next_generation(ops, SAME_SIZE, {"model": "same"}), TinyEncoder(dim=DIM))
    with pytest.raises(GenerationSwitched):
        other.upsert(embedded, made_by=VectorSource(OLD, SINGLE))
    assert mine.document_chunks(Scope.admin("t1"), "w") == []
    again = [replace(p, dense=tiny_vector(str(p.payload[TEXT]), DIM)) for p in embedded]
    other.upsert(again, made_by=VectorSource(SAME_SIZE, SINGLE))
    assert len(mine.document_chunks(Scope.admin("t1"), "w")) == 3


def test_writes_another_process_makes_during_the_last_pass_are_carried_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The last pass pauses only this process's writes. Another process narrows "d" and
    adds a chunk after that pass read the old collection and before the switch: both reach
    the new generation (they were read at the switch, so comparing the old collection with
    itself found no change, and they were lost with it)."""
    monkeypatch.setattr(server_generations, "POINTER_TTL_S", 0.05)
    client = QdrantClient(":memory:")
    mine, other = QdrantServerStore(client, "chunks"), QdrantServerStore(client, "chunks")
    _load(mine, count=4)
    other.ensure_collection(DIM)
    late = point("t1", "late", 0, text="最后一遍 during the last pass")

    def during_the_last_pass(progress: Progress) -> None:
        # Reported once the last pass has read the old collection, before it writes.
        if (progress.phase, progress.passes, progress.done) == ("catching up", 2, 0):
            other.set_document_access("t1", "d", ["group:late"])
            other.upsert([late])

    ops = mine.generations()
    target = next_generation(ops, NEW, {"model": "tiny"})
    rebuild(ops, target, TinyEncoder(), during_the_last_pass, batch=4)
    lists = {tuple(c.payload["access"]) for c in mine.document_chunks(Scope.admin("t1"), "d")}
    assert lists == {("group:late",)}
    (carried,) = mine.document_chunks(Scope.admin("t1"), "late", with_vectors=True)
    assert carried.dense == pytest.approx(tiny_vector(str(late.payload[TEXT])), abs=1e-5)


# The re-index's clock against the writer's: the same, or 90 s behind (its mark then lapses
# 30 s before it was written by the writer's clock; the writer must still see it live).
@pytest.mark.parametrize("reindex_clock_s", [0.0, -90.0], ids=["same-clock", "clock-90s-behind"])
def test_a_write_made_while_a_slice_is_carried_over_is_made_again_after_it(
    monkeypatch: pytest.MonkeyPatch, reindex_clock_s: float
) -> None:
    """The carry-over checks a slice against the new generation, then writes it. Another
    process's access change landing between the two (one round trip) was overwritten by the
    carried copy of the old list, the database believing the change in force. Its writer saw
    the carry-over marked on the pointer, and makes the change again once it is done, whatever
    the two machines' clocks say."""
    monkeypatch.setattr(server_generations, "POINTER_TTL_S", 0.05)
    real_mark = server_generations.ServerGenerations._mark_carry

    def mark_on_the_reindex_clock(self: Any, new_epoch: bool) -> None:
        real_mark(self, new_epoch)
        pointer = server_generations.read_pointer(self._client, self._base)
        pointer["carrying_until"] += reindex_clock_s
        server_generations.write_pointer(self._client, self._base, pointer)

    monkeypatch.setattr(
        server_generations.ServerGenerations, "_mark_carry", mark_on_the_reindex_clock
    )
    client = QdrantClient(":memory:")
    mine, other = QdrantServerStore(client, "chunks"), QdrantServerStore(client, "chunks")
    _load(mine, count=4)
    other.ensure_collection(DIM)
    real_write_pointer = server_generations.write_pointer
    real_write_building = server_generations.ServerGenerations.write_building
    real_sleep = time.sleep
    parked, carried = threading.Event(), threading.Event()
    writer: list[threading.Thread] = []

    def write_in_the_instant(client: QdrantClient, base: str, pointer: dict[str, Any]) -> None:
        if is_the_switch(pointer):
            other.set_document_access("t1", "d", ["group:eng"])  # the old one: carried over
        real_write_pointer(client, base, pointer)

    def change_between_check_and_write(self: Any, points: Any) -> None:
        carrying = self._switched_to is not None  # not a pass of the build
        if carrying and not writer:  # the first carried slice, checked against the new one
            change = lambda: other.set_document_access("t1", "d", ["user:owner"])  # noqa: E731

            writer.append(threading.Thread(target=change))
            writer[0].start()
            # Its change written, and the writer waiting for the carry-over to end (or,
            # were the mark missed, returned: the carried copy then lands over it).
            while writer[0].is_alive() and not parked.wait(0.05):
                pass
        real_write_building(self, points)

    def sleep(seconds: float) -> None:
        if writer and threading.current_thread() is writer[0]:
            parked.set()
            carried.wait(30)  # sequential: it writes again once the re-index is done
        else:
            real_sleep(seconds)

    monkeypatch.setattr(server_generations, "write_pointer", write_in_the_instant)
    monkeypatch.setattr(
        server_generations.ServerGenerations, "write_building", change_between_check_and_write
    )
    monkeypatch.setattr(time, "sleep", sleep)
    _rebuild(mine, TinyEncoder())
    carried.set()
    writer[0].join(30)
    lists = {tuple(c.payload["access"]) for c in mine.document_chunks(Scope.admin("t1"), "d")}
    assert lists == {("user:owner",)}
