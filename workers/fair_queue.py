"""A blocking queue that takes turns between tenants.

The embedded default's stage loops take their next group from here. A plain FIFO would make a
tenant's single file wait behind another tenant's thousands; this queue keeps one FIFO per
tenant and serves the tenants in rotation, so each waiting tenant gets its share of every
group.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
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
            self._ready.notify()

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
        tenant, items = next(iter(self._by_tenant.items()))
        item = items.popleft()
        self._size -= 1
        del self._by_tenant[tenant]
        if items:
            self._by_tenant[tenant] = items  # to the back: the other tenants go first
        return item
