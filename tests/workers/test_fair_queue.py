"""The embedded default's stage queue takes turns between tenants."""

from __future__ import annotations

import queue
import threading

import pytest

from workers.fair_queue import FairQueue
from workers.runner import StageJob


def test_tenants_take_turns_and_each_keeps_its_order() -> None:
    q: FairQueue[StageJob] = FairQueue()
    for i in range(4):
        q.put(StageJob(f"big-{i}", 1, tenant_id="big"))
    q.put(StageJob("small-0", 1, tenant_id="small"))
    q.put(StageJob("small-1", 1, tenant_id="small"))
    taken = [q.get() for _ in range(6)]
    assert [j.doc_id for j in taken if j] == [
        "big-0",
        "small-0",
        "big-1",
        "small-1",
        "big-2",
        "big-3",
    ]
    assert q.qsize() == 0 and q.get_nowait() is None


def test_a_stop_marker_wakes_a_waiting_reader_and_is_left_for_it() -> None:
    q: FairQueue[StageJob] = FairQueue()
    got: list[StageJob | None] = []
    reader = threading.Thread(target=lambda: got.append(q.get()))
    reader.start()
    q.put(None)
    reader.join(5)
    assert got == [None]
    q.put(StageJob("a", 1))
    q.put(None)
    assert q.get_nowait() is None and q.stopping  # a group being gathered stops here
    assert q.get() is None and not q.stopping


def test_a_reader_takes_only_what_it_wants_in_turn_and_when_its_condition_holds() -> None:
    q: FairQueue[StageJob] = FairQueue()
    for tenant in ("a", "b"):
        q.put(StageJob(f"{tenant}-large", 1, tenant_id=tenant, size_bytes=10**6))
        q.put(StageJob(f"{tenant}-memo", 1, tenant_id=tenant, size_bytes=100))
    small = lambda job: (job.size_bytes or 0) < 1000  # noqa: E731
    held_up = threading.Event()
    # Not while the condition does not hold, however long it waits.
    with pytest.raises(queue.Empty):
        q.get_where(small, 0.2, held_up.is_set)
    got: list[StageJob | None] = []
    reader = threading.Thread(target=lambda: got.append(q.get_where(small, 10, held_up.is_set)))
    reader.start()
    held_up.set()
    q.wake()  # the condition changed: the waiting reader looks again
    reader.join(5)
    assert [j.doc_id for j in got if j] == ["a-memo"]
    assert q.get_where_nowait(small).doc_id == "b-memo"  # type: ignore[union-attr]
    assert q.get_where_nowait(small) is None and q.qsize() == 2
    q.put(None)
    assert q.get_where(small, 1, held_up.is_set) is None  # a stop marker
    assert [q.get().doc_id, q.get().doc_id] == ["a-large", "b-large"]  # type: ignore[union-attr]
