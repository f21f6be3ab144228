"""Filters: every operator and random filter trees agree with the Python oracle."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from index.filters import And, Condition, Filter, Not, Or
from index.store import Scope, VectorStore
from index.types import ACCESS, TENANT, ChunkPoint
from tests.index.contract.common import (
    DIM,
    EVERYONE,
    HYPOTHESIS,
    everything,
    expected_ids,
    point,
)


def _mixed_payloads() -> list[dict[str, Any]]:
    """Mixed types, lists, missing fields: the data Qdrant and the oracle could disagree on."""
    kinds = ["a", "b", None, 5, ["a", "b"], "A"]
    numbers = [1, 2, 3.5, [1, 7], "3", True, None, -2, 0]
    tags = [["x"], ["x", "y"], "y", None, [], ["z", "x"], [1, "x"]]
    created = [100.0, 250.5, 300, None]
    langs = ["en", "zh", None]
    rows = []
    for i in range(36):
        row = {
            "kind": kinds[i % 6],
            "n": numbers[i % 9],
            "tags": tags[i % 7],
            "created_at": created[i % 4],
            "lang": langs[i % 5 % 3],
        }
        rows.append({k: v for k, v in row.items() if v is not None})
    return rows


_FIELDS = ["kind", "n", "tags", "created_at", "position", "lang", "absent"]
_EQUALS = ["a", "A", "x", "y", 1, 5, 0, 7, "3", "en"]
_LISTS: list[list[Any]] = [["a", "x"], [1, 7], ["a", 5], [], ["zz"], [0, 2]]
_BOUNDS = [-5, 0, 1, 2.5, 3.5, 7, 250.5, 300]
CONDITIONS = (
    [Condition(f, op, v) for f in _FIELDS for op in ("==", "!=") for v in _EQUALS]
    + [Condition(f, op, v) for f in _FIELDS for op in ("in", "not in") for v in _LISTS]
    + [Condition(f, op, v) for f in _FIELDS for op in (">", ">=", "<", "<=") for v in _BOUNDS]
)
_trees = st.recursive(
    st.sampled_from(CONDITIONS),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda c: And(tuple(c))),
        st.lists(inner, min_size=1, max_size=3).map(lambda c: Or(tuple(c))),
        inner.map(Not),
    ),
    max_leaves=6,
)


class FilterContract:
    SCOPE = Scope("t1", EVERYONE)

    def _load_mixed(self, store: VectorStore) -> list[ChunkPoint]:
        store.ensure_collection(DIM)
        points = [point("t1", f"d{i % 4}", i, **row) for i, row in enumerate(_mixed_payloads())]
        # Same fields in another tenant, and behind a token the scope lacks: a filter that
        # matches them must still not return them.
        points += [point("t2", "d0", i, **row) for i, row in enumerate(_mixed_payloads()[:9])]
        points += [
            point("t1", "hidden", i, access=["user:zed"], **row)
            for i, row in enumerate(_mixed_payloads()[:9])
        ]
        store.upsert(points)
        return points

    def test_every_operator_matches_the_oracle(self, store: VectorStore) -> None:
        points = self._load_mixed(store)
        wrong = []
        for condition in CONDITIONS:
            want = expected_ids(points, self.SCOPE, condition)
            if store.count(self.SCOPE, condition) != len(want):
                wrong.append(("count", condition))
            elif everything(store, self.SCOPE, condition) != want:
                wrong.append(("search", condition))
        assert not wrong, f"{len(wrong)} of {len(CONDITIONS)} conditions disagree: {wrong[:10]}"

    @HYPOTHESIS
    @given(tree=_trees)
    def test_filter_trees_match_the_oracle(self, store: VectorStore, tree: Filter) -> None:
        points = getattr(self, "_points", None) or self._load_mixed(store)
        self._points = points
        want = expected_ids(points, self.SCOPE, tree)
        assert everything(store, self.SCOPE, tree) == want
        assert store.count(self.SCOPE, tree) == len(want)

    def test_a_filter_cannot_widen_the_scope(self, store: VectorStore) -> None:
        self._load_mixed(store)
        escape = Or(
            (
                Condition(TENANT, "==", "t2"),
                Condition(ACCESS, "in", ["user:zed"]),
                Not(Condition(TENANT, "==", "t1")),
            )
        )
        assert everything(store, self.SCOPE, escape) == set()
        assert store.count(self.SCOPE, escape) == 0
