"""The embedded engine's permission filter, compiled once per distinct scope
(``index.qdrant_embedded_models.read_filter``): the same caller gets the same compiled
filter back; any other tenant or token set gets its own, equal to a fresh compile."""

from __future__ import annotations

from index import qdrant_common as common
from index.filters import And, Condition
from index.qdrant_embedded_models import compile_filter, read_filter
from index.store import Scope
from index.types import TENANT

ANN = Scope("tenant-甲", frozenset({"user:ann", "group:工程", "everyone"}))


def fresh(scope: Scope, flt: object = None) -> str:
    return repr(compile_filter(common.read_filter(scope, flt)))  # type: ignore[arg-type]


def test_the_same_scope_reuses_its_compiled_filter() -> None:
    assert read_filter(ANN) is read_filter(Scope(ANN.tenant_id, frozenset(ANN.tokens or ())))
    assert repr(read_filter(ANN)) == fresh(ANN)


def test_another_tenant_or_token_set_never_gets_this_filter() -> None:
    others = [
        Scope("tenant-乙", ANN.tokens),
        Scope(ANN.tenant_id, frozenset({"user:ann", "everyone"})),  # left group 工程
        Scope(ANN.tenant_id, frozenset({"user:ann", "group:工程", "group:運維", "everyone"})),
        Scope.admin(ANN.tenant_id),
    ]
    mine = repr(read_filter(ANN))
    for scope in others:
        theirs = read_filter(scope)
        assert repr(theirs) == fresh(scope) != mine


def test_a_callers_own_filter_is_combined_hashable_or_not() -> None:
    hashable = Condition("lang", "==", "zh")
    assert repr(read_filter(ANN, hashable)) == fresh(ANN, hashable)
    as_list = And((Condition("tags", "in", ["合同", "contract"]), Condition(TENANT, "!=", "x")))
    assert repr(read_filter(ANN, as_list)) == fresh(ANN, as_list)
    assert "tenant-甲" in repr(read_filter(ANN, as_list))
