"""Backend-neutral metadata filters, and the pure-Python evaluator used as the test oracle.

A filter is a tree: ``Condition(field, op, value)`` leaves under ``And`` / ``Or`` / ``Not``.
Each backend compiles the tree to its own form; the contract tests check every backend
against :func:`matches` over the same data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from core.errors import InvalidInput

Operator = Literal["==", "!=", "in", "not in", ">", ">=", "<", "<="]
OPERATORS: frozenset[str] = frozenset({"==", "!=", "in", "not in", ">", ">=", "<", "<="})


class FilterError(InvalidInput):
    pass


@dataclass(frozen=True)
class Condition:
    field: str
    op: Operator
    value: Any

    def __post_init__(self) -> None:
        if not isinstance(self.field, str) or not self.field:
            raise FilterError(f"a condition needs a field name, got {self.field!r}")
        if self.op not in OPERATORS:
            raise FilterError(f"unknown operator {self.op!r}")
        if self.op in ("in", "not in"):
            if not isinstance(self.value, list | tuple | set | frozenset) or not all(
                _is_match_value(v) for v in self.value
            ):
                raise FilterError(f"operator {self.op!r} needs a list of strings or integers")
        elif self.op in (">", ">=", "<", "<="):
            if isinstance(self.value, bool) or not isinstance(self.value, int | float):
                raise FilterError(f"operator {self.op!r} needs a number, got {self.value!r}")
            if self.value != self.value:
                raise FilterError(f"operator {self.op!r} needs a number, got NaN")
        elif not _is_match_value(self.value):
            raise FilterError(f"operator {self.op!r} needs a string or an integer")


def _is_match_value(value: Any) -> bool:
    # Booleans are refused: the embedded engine reads True as the integer 1, so a boolean
    # match cannot mean the same thing on both backends.
    return isinstance(value, str | int) and not isinstance(value, bool)


@dataclass(frozen=True)
class And:
    conditions: tuple[Filter, ...]


@dataclass(frozen=True)
class Or:
    conditions: tuple[Filter, ...]


@dataclass(frozen=True)
class Not:
    condition: Filter


Filter = Condition | And | Or | Not


def all_of(*filters: Filter | None) -> Filter | None:
    present = tuple(f for f in filters if f is not None)
    if not present:
        return None
    return present[0] if len(present) == 1 else And(present)


def from_dict(data: Mapping[str, Any]) -> Filter:
    """Read the JSON form: ``{"field", "operator", "value"}`` leaves, ``and``/``or``/``not``."""
    if not isinstance(data, Mapping):
        raise FilterError("a filter must be an object")
    if "and" in data or "or" in data:
        key = "and" if "and" in data else "or"
        items = data[key]
        if not isinstance(items, list) or not items:
            raise FilterError(f"'{key}' needs a non-empty list")
        parts = tuple(from_dict(item) for item in items)
        return And(parts) if key == "and" else Or(parts)
    if "not" in data:
        return Not(from_dict(data["not"]))
    try:
        return Condition(str(data["field"]), data["operator"], data["value"])
    except KeyError as exc:
        missing = f"missing {exc}"
        raise FilterError(f"a condition needs 'field', 'operator' and 'value' ({missing})") from exc


def _values(payload: Mapping[str, Any], field: str) -> list[Any]:
    value = payload.get(field)
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def matches(flt: Filter | None, payload: Mapping[str, Any]) -> bool:
    """Qdrant's semantics: a list field matches when any of its values matches."""
    if flt is None:
        return True
    if isinstance(flt, And):
        return all(matches(c, payload) for c in flt.conditions)
    if isinstance(flt, Or):
        return any(matches(c, payload) for c in flt.conditions)
    if isinstance(flt, Not):
        return not matches(flt.condition, payload)
    values = _values(payload, flt.field)
    op, target = flt.op, flt.value
    if op == "==":
        return any(_same(v, target) for v in values)
    if op == "!=":
        return not any(_same(v, target) for v in values)
    if op == "in":
        return any(_same(v, t) for v in values for t in target)
    if op == "not in":
        return not any(_same(v, t) for v in values for t in target)
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    compare = {
        ">": lambda v: v > target,
        ">=": lambda v: v >= target,
        "<": lambda v: v < target,
        "<=": lambda v: v <= target,
    }[op]
    return any(compare(v) for v in numbers)


def _same(stored: Any, target: Any) -> bool:
    """Qdrant's keyword/integer match: same JSON type, so ``True`` != ``1`` and ``1.0`` != ``1``."""
    return type(stored) is type(target) and stored == target
