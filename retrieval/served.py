"""Which (document, version) pairs a search may answer with, remembered briefly when the
answer is yes.

The database's lookup (``core.db.served.served_versions``) cost about 1.3 ms of a 12 ms
search under load (docs/benchmarks.md, "Search under load after the served-version check").
Almost every hit is of a version that is served and stays so, so only a "yes" is kept, for
``ttl_s``. Why a remembered yes is safe: a version that was served never has a slice in
flight (only a version still being written does), so the chunks a stale yes lets through
are ones the store removes as the yes turns false: a deleted document's (removed by the
delete itself) or an older version's (dropped by the run that made the newer one ready). A
"no" (a version being written, a deleted document) is asked again every time: it turns into
a yes the moment the version is ready, and a document must not hide then. The one case a kept
yes shows more than the database would: a run that made a newer version ready and crashed
before dropping the older one's chunks; both show until the yes expires, then the newer alone
until the sweep removes the rest. A search looks up only the pairs it does not know, but any
unknown one costs the round trip: with 2 s the lookup was still 8-9% of the search thread
(py-spy, 200 documents, one client), hence 10 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

Pair = tuple[str, int]
Served = Callable[[Sequence[Pair]], set[Pair]]


class RememberedServed:
    """``lookup`` with its "yes" answers kept for ``ttl_s`` (at most ``max_entries``)."""

    def __init__(
        self,
        lookup: Served,
        ttl_s: float = 10.0,
        max_entries: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._until: dict[Pair, float] = {}
        self._lock = threading.Lock()

    def __call__(self, pairs: Sequence[Pair]) -> set[Pair]:
        now = self._clock()
        with self._lock:
            known = {pair for pair in pairs if self._until.get(pair, 0.0) > now}
        unknown = [pair for pair in pairs if pair not in known]
        if not unknown:
            return known
        served = self._lookup(unknown)
        with self._lock:
            if len(self._until) + len(served) > self._max_entries:
                self._until = {p: t for p, t in self._until.items() if t > now}
                if len(self._until) + len(served) > self._max_entries:
                    self._until.clear()
            for pair in served:
                self._until[pair] = now + self._ttl_s
        return known | served
