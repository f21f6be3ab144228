"""A blocking queue that takes turns between tenants.

The embedded default's stage loops take their next group from here. A plain FIFO would make a
tenant's single file wait behind another tenant's thousands; this queue keeps one FIFO per
tenant and serves the tenants in rotation, so each waiting tenant gets its share of every
group. A consumer may also take only the items it wants (``get_where``: the small-file parse
lane of ``workers.local``), in the same rotation.
"""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar


class HasTenant(Protocol):
    @property
    def tenant_id(self) -> str: ...


Item = TypeVar("Item", bound=HasTenant)


class FairQueue(Generic[Item]):
    """``put``/``get`` like ``queue.Queue``; ``None`` is a stop marker served before the rest."""

    def __init__(self) -> None:
        self._by_tenant: OrderedDict[str, deque[Item]] = OrderedDict()
        self._stops = 0
        self._size = 0
        self._ready = threading.Condition()

    def put(self, item: Item | None) -> None:
        with self._ready:
            if item is None:
                self._stops += 1
            else:
                self._by_tenant.setdefault(item.tenant_id, deque()).append(item)
                self._size += 1
            # All: a consumer waiting for items it wants (``get_where``) must not take the
            # only wake-up of a put that another consumer would have served.
            self._ready.notify_all()

    def wake(self) -> None:
        """Make the consumers waiting in ``get_where`` ask their condition again (it depends
        on more than the items: the caller changed what it depends on)."""
        with self._ready:
            self._ready.notify_all()

    def get(self) -> Item | None:
        """The next item, waiting for one; the tenant served goes to the back of the line."""
        with self._ready:
            while not self._stops and not self._size:
                self._ready.wait()
            return self._take()

    def get_nowait(self) -> Item | None:
        """The next item, or ``None`` when there is none or a stop marker waits (which stays
        for ``get``; see ``stopping``)."""
        with self._ready:
            return self._take() if (self._size and not self._stops) else None

    def get_where(
        self, wanted: Callable[[Item], bool], timeout: float, when: Callable[[], bool]
    ) -> Item | None:
        """The next item ``wanted`` accepts, taking turns between tenants as ``get`` does,
        waiting up to ``timeout`` seconds for one, and for ``when`` to hold (it is asked
        before the items are looked at, and again after each ``put`` and ``wake``); ``None``
        for a stop marker. Raises ``queue.Empty`` when none came in time."""
        with self._ready:
            while not self._stops:
                found = self._find(wanted) if when() else None
                if found is not None:
                    return self._take_at(*found)
                if not self._ready.wait(timeout):
                    raise queue.Empty
            return self._take()

    def get_where_nowait(self, wanted: Callable[[Item], bool]) -> Item | None:
        """``get_where`` without waiting: ``None`` when there is none, or a stop marker waits."""
        with self._ready:
            found = None if self._stops else self._find(wanted)
            return None if found is None else self._take_at(*found)

    @property
    def stopping(self) -> bool:
        with self._ready:
            return self._stops > 0

    def qsize(self) -> int:
        with self._ready:
            return self._size

    def _take(self) -> Item | None:
        if self._stops:
            self._stops -= 1
            return None
        return self._take_at(next(iter(self._by_tenant)), 0)

    def _find(self, wanted: Callable[[Item], bool]) -> tuple[str, int] | None:
        """The first tenant in turn with an item ``wanted`` accepts, and its place."""
        for tenant, items in self._by_tenant.items():
            for index, item in enumerate(items):
                if wanted(item):
                    return tenant, index
        return None

    def _take_at(self, tenant: str, index: int) -> Item:
        items = self._by_tenant.pop(tenant)
        item = items[index]
        del items[index]
        self._size -= 1
        if items:
            self._by_tenant[tenant] = items  # to the back: the other tenants go first
        return item
