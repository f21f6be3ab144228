"""The embedded default's stage queue takes turns between tenants."""

from __future__ import annotations

import threading

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
