"""The neutral filter tree, its Python oracle, and the compiler to both Qdrant dialects.

The compiled filters are checked against real engines in test_store_contract.py; here we pin
the oracle's semantics and the shapes the compiler emits.
"""

from __future__ import annotations

import math

import pytest
import qdrant_edge as edge
from hypothesis import given
from hypothesis import strategies as st
from qdrant_client import models

from core.errors import InvalidInput
from index import qdrant_common as common
from index.filters import And, Condition, FilterError, Not, Or, all_of, from_dict, matches
from index.qdrant_embedded import compile_filter as compile_embedded
from index.qdrant_server import compile_filter as compile_server
from index.store import Scope, SearchRequest
from tests.index.contract.common import point

# --- validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "value"),
    [
        ("~", "a"),
        ("==", True),  # the embedded engine reads True as 1: refused on every backend
        ("==", 1.5),
        ("==", None),
        ("==", ["a"]),
        ("in", "a"),
        ("in", [True]),
        ("in", [{"a": 1}]),
        (">", "3"),
        (">", True),
        ("<", math.nan),
    ],
)
def test_refuses_what_no_backend_can_express(op: str, value: object) -> None:
    with pytest.raises(FilterError):
        Condition("f", op, value)  # type: ignore[arg-type]


def test_refuses_an_empty_field_name() -> None:
    with pytest.raises(FilterError):
        Condition("", "==", "a")


def test_filter_errors_are_invalid_input() -> None:
    assert issubclass(FilterError, InvalidInput)


def test_from_dict_reads_nested_json() -> None:
    data = {
        "and": [
            {"field": "tags", "operator": "in", "value": ["a", "b"]},
            {"not": {"or": [{"field": "n", "operator": ">", "value": 3}]}},
        ]
    }
    assert from_dict(data) == And(
        (Condition("tags", "in", ["a", "b"]), Not(Or((Condition("n", ">", 3),))))
    )


@pytest.mark.parametrize(
    "data",
    [[], {"and": []}, {"or": "x"}, {"field": "a", "operator": "=="}, {"field": "a", "value": 1}],
)
def test_from_dict_refuses_malformed_json(data: object) -> None:
    with pytest.raises(FilterError):
        from_dict(data)  # type: ignore[arg-type]


def test_all_of_drops_missing_parts() -> None:
    a, b = Condition("a", "==", 1), Condition("b", "==", 2)
    assert all_of(None, None) is None
    assert all_of(a, None) == a
    assert all_of(a, b) == And((a, b))


# --- the oracle ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "payload", "expected"),
    [
        (Condition("tags", "==", "a"), {"tags": ["b", "a"]}, True),
        (Condition("tags", "==", "a"), {}, False),
        (Condition("tags", "!=", "a"), {}, True),
        (Condition("tags", "!=", "a"), {"tags": ["a", "b"]}, False),
        (Condition("tags", "in", ["x", "a"]), {"tags": ["b", "a"]}, True),
        (Condition("tags", "in", []), {"tags": ["a"]}, False),
        (Condition("tags", "not in", ["a"]), {"tags": ["a", "b"]}, False),
        (Condition("tags", "not in", ["a"]), {}, True),
        (Condition("n", "==", 1), {"n": True}, False),
        (Condition("n", "==", 1), {"n": 1.0}, False),
        (Condition("n", "==", "1"), {"n": 1}, False),
        (Condition("n", ">=", 1), {"n": 1.0}, True),
        (Condition("n", ">", 0), {"n": True}, False),
        (Condition("n", ">", 0), {"n": "5"}, False),
        (Condition("n", "<", 0), {"n": [5, -1]}, True),
        (Condition("n", "<", 0), {"n": None}, False),
    ],
)
def test_oracle_follows_qdrant_semantics(
    condition: Condition, payload: dict[str, object], expected: bool
) -> None:
    assert matches(condition, payload) is expected


def test_oracle_combines() -> None:
    a, b = Condition("a", "==", 1), Condition("b", "==", 2)
    assert matches(And((a, b)), {"a": 1, "b": 2})
    assert not matches(And((a, b)), {"a": 1})
    assert matches(Or((a, b)), {"b": 2})
    assert matches(Not(a), {})
    assert matches(None, {})


# --- the compiler ---------------------------------------------------------------------------


def test_not_in_is_a_negated_match_any_not_match_except() -> None:
    compiled = compile_server(Condition("tags", "not in", ["a", "b"]))
    (inner,) = compiled.must
    (negated,) = inner.must_not
    assert negated == models.FieldCondition(key="tags", match=models.MatchAny(any=["a", "b"]))


def test_mixed_lists_become_one_equality_each() -> None:
    compiled = compile_server(Condition("kind", "in", ["a", 5]))
    (inner,) = compiled.must
    assert [c.match.value for c in inner.should] == ["a", 5]


def test_empty_in_matches_nothing_and_empty_not_in_everything() -> None:
    (nothing,) = compile_server(Condition("tags", "in", [])).must
    assert nothing.must_not == [models.Filter()]
    (everything,) = compile_server(Condition("tags", "not in", [])).must
    assert everything.must_not == [models.Filter(must_not=[models.Filter()])]


def test_nested_ands_are_flattened() -> None:
    a, b, c = (Condition(f, "==", 1) for f in "abc")
    compiled = compile_server(And((a, And((b, c)))))
    assert [cond.key for cond in compiled.must] == ["a", "b", "c"]


def test_ranges_compile_to_float_bounds() -> None:
    (cond,) = compile_server(Condition("created_at", "<=", 5)).must
    assert cond.range == models.Range(lte=5.0)
    (cond,) = compile_embedded(Condition("created_at", ">", 2)).must
    assert cond.range.gt == 2.0


def test_embedded_dialect_builds_edge_filters() -> None:
    compiled = compile_embedded(Or((Condition("a", "==", "x"), Not(Condition("b", "in", [1, 2])))))
    assert isinstance(compiled, edge.Filter)
    first, second = compiled.should
    assert isinstance(first, edge.FieldCondition)
    assert isinstance(second.must_not[0].match, edge.MatchAny)


def test_every_read_filter_starts_with_the_scope() -> None:
    scope = Scope("t1", frozenset({"user:ann", "everyone"}))
    escape = Or((Condition("tenant_id", "==", "t2"),))
    flt = common.read_filter(scope, escape)
    assert flt == And(
        (
            And(
                (
                    Condition("tenant_id", "==", "t1"),
                    Condition("access", "in", ["everyone", "user:ann"]),
                )
            ),
            escape,
        )
    )
    assert common.read_filter(Scope.admin("t1"), None) == Condition("tenant_id", "==", "t1")


def test_stale_filter_selects_other_versions_and_trailing_positions() -> None:
    stale = common.stale_filter("t1", "d1", version=2, count=3)
    payload = {"tenant_id": "t1", "doc_id": "d1"}
    assert matches(stale, payload | {"version": 1, "position": 0})
    assert matches(stale, payload | {"version": 2, "position": 3})
    assert not matches(stale, payload | {"version": 2, "position": 2})
    assert not matches(stale, payload | {"doc_id": "d2", "version": 1, "position": 0})
    # A newer version's chunks are never stale to an older run, whatever their position.
    assert not matches(stale, payload | {"version": 3, "position": 0})
    assert not matches(stale, payload | {"version": 3, "position": 5})


@given(
    chunks=st.lists(st.tuples(st.integers(1, 6), st.integers(0, 8)), max_size=30),
    version=st.integers(1, 6),
    count=st.integers(0, 8),
    other_doc=st.booleans(),
)
def test_a_stale_delete_takes_only_older_versions_and_its_own_tail(
    chunks: list[tuple[int, int]], version: int, count: int, other_doc: bool
) -> None:
    """Whatever the store holds, a run finishing ``version`` with ``count`` chunks drops
    exactly the older versions and its own positions past ``count``: never a newer version
    (made ready while this run was finishing), never another document's or tenant's."""
    stale = common.stale_filter("t1", "d1", version=version, count=count)
    for chunk_version, position in chunks:
        payload = {"tenant_id": "t1", "doc_id": "d1", "version": chunk_version}
        payload["position"] = position
        expected = chunk_version < version or (chunk_version == version and position >= count)
        assert matches(stale, payload) is expected
        if other_doc:
            assert not matches(stale, payload | {"doc_id": "d2"})
            assert not matches(stale, payload | {"tenant_id": "t2"})


def test_version_filter_selects_one_version_of_one_document() -> None:
    flt = common.version_filter("t1", "d1", 2)
    payload = {"tenant_id": "t1", "doc_id": "d1", "position": 0}
    assert matches(flt, payload | {"version": 2})
    assert not matches(flt, payload | {"version": 1})
    assert not matches(flt, payload | {"version": 2, "tenant_id": "t2"})


# --- the exact-search rule and input checks ------------------------------------------------


@pytest.mark.parametrize(
    ("forced", "estimate", "matching", "total", "exact"),
    [
        (None, 8, 8, 100, True),
        (None, 15, 8, 100, True),  # an estimate near the threshold is checked by counting
        (None, 15, 10, 100, False),
        (None, 50, None, 100, False),  # clearly above: no exact count
        (True, 90, None, 100, True),
        (False, 1, None, 100, False),
        (None, 0, None, 0, True),
    ],
)
def test_exact_search_below_the_selectivity_threshold(
    forced: bool | None, estimate: int, matching: int | None, total: int, exact: bool
) -> None:
    def count() -> int:
        assert matching is not None, "counted exactly where the estimate sufficed"
        return matching

    request = SearchRequest(dense=[1.0], exact=forced)
    assert common.use_exact(request, lambda: estimate, count, lambda: total, 0.1) is exact


def test_search_requests_need_a_vector_and_a_positive_limit() -> None:
    with pytest.raises(InvalidInput):
        common.check_search(SearchRequest(), 4)
    with pytest.raises(InvalidInput):
        common.check_search(SearchRequest(dense=[1.0] * 4, limit=0), 4)


def test_point_ids_are_canonical_uuids() -> None:
    raw = "6F1B2C1E-3D5A-4C43-9A57-6B0F1E7D9C21"
    assert common.point_id(raw) == raw.lower()
    with pytest.raises(InvalidInput):
        common.point_id("doc-1#0")


def test_check_point_refuses_repeated_sparse_indices() -> None:
    bad = point("t1", "d1", 0)
    bad.sparse.indices[:] = [3, 3]
    bad.sparse.values[:] = [1.0, 1.0]
    with pytest.raises(InvalidInput):
        common.check_point(bad, len(bad.dense))
