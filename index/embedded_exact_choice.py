"""The embedded store's exact-or-HNSW choice per search scope, remembered until the next write.

:func:`index.qdrant_common.use_exact` asks the engine for the shard's size, an estimate and
sometimes an exact count of what the caller's filter admits; under load those calls were a
large share of the time a search holds the GIL (``bench.search_cpu --profile --gil``). Their
answer changes only when the shard does, so it is kept per (scope, caller's filter) and
stamped with the store's write generation: every write, optimize and shard swap bumps the
generation *after* it lands, and an answer is stamped with the generation read *before* its
counts were taken, so a choice computed from data a write has since changed is never reused.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

# Distinct (scope, filter) pairs kept; a serving process sees a bounded set of principals.
CAPACITY = 1024


class ExactChoiceCache:
    """Thread-safe: the lock guards only the dictionary, never an engine call."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._generation = 0
        self._choices: OrderedDict[Hashable, tuple[int, bool]] = OrderedDict()

    @property
    def generation(self) -> int:
        return self._generation

    def written(self) -> None:
        """The shard changed: every remembered choice is stale."""
        with self._lock:
            self._generation += 1
            self._choices.clear()

    def choose(self, key: Hashable | None, decide: Callable[[], bool]) -> bool:
        """The remembered choice for ``key``, or ``decide()``'s (kept unless a write ran
        meanwhile). ``key`` None (an unhashable filter): decided every time."""
        if key is None:
            return decide()
        try:
            hash(key)
        except TypeError:
            return decide()
        with self._lock:
            seen = self._choices.get(key)
            generation = self._generation
            if seen is not None and seen[0] == generation:
                self._choices.move_to_end(key)
                return seen[1]
        choice = decide()
        with self._lock:
            if self._generation == generation:
                self._choices[key] = (generation, choice)
                self._choices.move_to_end(key)
                while len(self._choices) > self._capacity:
                    self._choices.popitem(last=False)
        return choice
