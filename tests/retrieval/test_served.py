"""A served version's "yes" is remembered for a moment; a "no" is always asked again."""

from __future__ import annotations

from collections.abc import Sequence

from retrieval.served import RememberedServed


class Lookup:
    """The database's answer, changeable by the test, and the pairs it was asked about."""

    def __init__(self, served: set[tuple[str, int]]) -> None:
        self.served = served
        self.asked: list[list[tuple[str, int]]] = []

    def __call__(self, pairs: Sequence[tuple[str, int]]) -> set[tuple[str, int]]:
        self.asked.append(list(pairs))
        return {pair for pair in pairs if pair in self.served}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_yes_is_kept_until_it_expires() -> None:
    lookup, clock = Lookup({("合同", 1)}), Clock()
    served = RememberedServed(lookup, ttl_s=2.0, clock=clock)
    assert served([("合同", 1)]) == {("合同", 1)}
    lookup.served = set()  # the document is deleted: its chunks went with it
    clock.now += 1.9
    assert served([("合同", 1)]) == {("合同", 1)}
    assert len(lookup.asked) == 1
    clock.now += 0.2
    assert served([("合同", 1)]) == set()
    assert len(lookup.asked) == 2


def test_a_no_is_asked_again_so_a_version_shows_once_ready() -> None:
    lookup, clock = Lookup(set()), Clock()
    served = RememberedServed(lookup, clock=clock)
    assert served([("manual", 2)]) == set()
    lookup.served = {("manual", 2)}  # version 2 became ready
    assert served([("manual", 2)]) == {("manual", 2)}
    assert len(lookup.asked) == 2


def test_only_the_pairs_not_known_are_looked_up() -> None:
    lookup, clock = Lookup({("a", 1), ("b", 1), ("c", 3)}), Clock()
    served = RememberedServed(lookup, clock=clock)
    served([("a", 1), ("b", 1)])
    assert served([("a", 1), ("b", 1), ("c", 2), ("c", 3)]) == {("a", 1), ("b", 1), ("c", 3)}
    assert lookup.asked[-1] == [("c", 2), ("c", 3)]
    assert served([("a", 1), ("c", 3)]) == {("a", 1), ("c", 3)}
    assert len(lookup.asked) == 2


def test_the_memory_is_bounded() -> None:
    lookup, clock = Lookup({(str(n), 1) for n in range(100)}), Clock()
    served = RememberedServed(lookup, max_entries=10, clock=clock)
    for n in range(100):
        assert served([(str(n), 1)]) == {(str(n), 1)}
    assert len(served._until) <= 10
