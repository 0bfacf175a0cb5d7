"""The metadata filter language: parsing into a small tree, and compiling it to SQL.

Language (Chroma-shaped)::

    {"topic": "science", "year": {"$gte": 2020}}          # keys are ANDed
    {"$or": [{"topic": "science"}, {"tags": {"$contains": "ml"}}]}

Operators: ``$eq $ne $gt $gte $lt $lte $in $nin $contains`` on a key, ``$and $or``
over lists of filters. Semantics, which the tests check against a pure-Python
reference evaluator:

* Comparisons (``$eq $ne $gt $gte $lt $lte $in $nin``) look at scalar values only.
  ``1`` equals ``1.0``; ``True`` is not ``1`` (booleans are their own type); ``None``
  matches a stored ``None``. Ranges compare numbers with numbers and strings with
  strings (code-point order); a value of the other type never matches.
* ``$contains`` is list membership for list values and substring (case-sensitive)
  for string values.
* ``$ne`` and ``$nin`` are the exact complements of ``$eq`` and ``$in``: like Chroma
  (since 0.5.12), and unlike SQL's NULL logic, they MATCH records that lack the key
  or whose value is a list.

Compilation produces a parametrised fragment over the ``record_meta`` table (one
row per scalar, one per list element); values only ever travel as parameters.
The parsed tree is backend-neutral, so another backend (or the later selectivity
planner) can walk it instead of re-parsing the dict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from heron.errors import FilterError
from heron.store.validation import plain, unrepresentable_number

Scalar = str | int | float | bool | None
SqlValue = str | int | float | None
Operand = Scalar | tuple[Scalar, ...]

FIELD_OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$contains")
LOGICAL_OPERATORS = ("$and", "$or")
_VALID = f"field operators: {', '.join(FIELD_OPERATORS)}; logical: {', '.join(LOGICAL_OPERATORS)}"
_EXAMPLE = 'example: {"topic": "science", "year": {"$gte": 2020}}'


@dataclass(frozen=True)
class Condition:
    """One operator applied to one metadata key."""

    key: str
    op: str
    operand: Operand


@dataclass(frozen=True)
class BoolOp:
    op: Literal["$and", "$or"]
    children: tuple[Node, ...]


Node = Condition | BoolOp


@dataclass(frozen=True)
class SqlFragment:
    """A boolean SQL expression and its parameters, in order."""

    sql: str
    params: tuple[SqlValue, ...] = ()


def _error(path: str, message: str) -> FilterError:
    return FilterError(f"bad filter at {path}: {message}", hint=f"{_VALID}; {_EXAMPLE}")


# ---------------------------------------------------------------- parsing


def parse_filter(where: object) -> Node | None:
    """Validate a filter dict; ``None`` and ``{}`` mean "no filter"."""
    if where is None:
        return None
    if not isinstance(where, Mapping):
        raise FilterError(
            f"a filter must be a dict, got {type(where).__name__}", hint=f"{_VALID}; {_EXAMPLE}"
        )
    if not where:
        return None
    return _parse_dict(where, "filter")


def _join(op: Literal["$and", "$or"], nodes: list[Node]) -> Node:
    return nodes[0] if len(nodes) == 1 else BoolOp(op, tuple(nodes))


def _parse_dict(where: object, path: str) -> Node:
    if not isinstance(where, Mapping) or not where:
        raise _error(path, f"expected a non-empty dict, got {where!r}")
    return _join("$and", [_parse_entry(key, value, path) for key, value in where.items()])


def _parse_entry(key: object, value: object, path: str) -> Node:
    if not isinstance(key, str) or not key:
        raise _error(path, f"keys must be non-empty strings, got {key!r}")
    if key in LOGICAL_OPERATORS:
        return _parse_logical(key, value, f"{path}.{key}")
    if key.startswith("$"):
        raise _error(path, f"unknown operator '{key}' (field operators go inside a key's dict)")
    if isinstance(value, Mapping):
        if not value:
            raise _error(f"{path}.{key}", "empty operator dict")
        conditions: list[Node] = [
            _condition(key, op, operand, f"{path}.{key}") for op, operand in value.items()
        ]
        return _join("$and", conditions)
    return _condition(key, "$eq", value, f"{path}.{key}")


#: how deep $and/$or may nest (deeper filters are refused, not parsed recursively)
MAX_DEPTH = 32


def _parse_logical(op: str, value: object, path: str) -> Node:
    if path.count("[") >= MAX_DEPTH:
        raise _error(path[:80] + "...", f"filter nested more than {MAX_DEPTH} levels deep")
    if not isinstance(value, list | tuple) or not value:
        raise _error(path, f"{op} needs a non-empty list of filters, got {value!r}")
    children = [_parse_dict(child, f"{path}[{i}]") for i, child in enumerate(value)]
    return _join("$and" if op == "$and" else "$or", children)


def _scalar(op: str, value: object, path: str) -> Scalar:
    value = plain(value)
    if unrepresentable_number(value):
        raise _error(path, f"{op} needs a finite 64-bit number, got {value}")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise _error(
        path,
        f"{op} needs a str, int, float, bool or None, got {type(value).__name__} "
        "(use $in for any-of, $contains for list membership)",
    )


def _orderable(op: str, value: object, path: str) -> Scalar:
    value = plain(value)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _error(path, f"{op} needs a number or a string, got {value!r}")
    return _scalar(op, value, path)


def _scalar_list(op: str, value: object, path: str) -> tuple[Scalar, ...]:
    if not isinstance(value, list | tuple):
        raise _error(path, f"{op} needs a list of values, got {type(value).__name__}")
    return tuple(_scalar(op, item, f"{path}[{i}]") for i, item in enumerate(value))


def _containable(op: str, value: object, path: str) -> Scalar:
    value = plain(value)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _error(path, f"{op} needs a string or a number, got {value!r}")
    return _scalar(op, value, path)


_OPERAND_CHECKS: dict[str, Callable[[str, object, str], Operand]] = {
    "$eq": _scalar,
    "$ne": _scalar,
    "$gt": _orderable,
    "$gte": _orderable,
    "$lt": _orderable,
    "$lte": _orderable,
    "$in": _scalar_list,
    "$nin": _scalar_list,
    "$contains": _containable,
}


def _condition(key: str, op: object, operand: object, path: str) -> Condition:
    check = _OPERAND_CHECKS.get(op) if isinstance(op, str) else None
    if check is None:
        raise _error(path, f"unknown operator {op!r}")
    assert isinstance(op, str)
    return Condition(key, op, check(op, operand, path))


# ---------------------------------------------------------------- compiling

_RANGE_SQL = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def _eq_rows(value: Scalar) -> SqlFragment:
    """Rows of ``record_meta`` holding the scalar ``value`` (not inside a list)."""
    if value is None:
        return SqlFragment("in_list = 0 AND kind = 'z'")
    if isinstance(value, bool):
        return SqlFragment("in_list = 0 AND kind = 'b' AND num_value = ?", (float(value),))
    if isinstance(value, int | float):
        return SqlFragment("in_list = 0 AND kind = 'n' AND num_value = ?", (float(value),))
    return SqlFragment("in_list = 0 AND str_value = ?", (value,))


def _in_rows(values: tuple[Scalar, ...]) -> SqlFragment:
    if not values:
        return SqlFragment("0")
    parts = [_eq_rows(value) for value in values]
    return SqlFragment(
        "(" + " OR ".join(f"({p.sql})" for p in parts) + ")",
        tuple(param for p in parts for param in p.params),
    )


def _range_rows(op: str, value: Scalar) -> SqlFragment:
    sign = _RANGE_SQL[op]
    if isinstance(value, str):
        return SqlFragment(f"in_list = 0 AND str_value {sign} ?", (value,))
    assert isinstance(value, int | float)
    return SqlFragment(f"in_list = 0 AND kind = 'n' AND num_value {sign} ?", (float(value),))


def _contains_rows(value: Scalar) -> SqlFragment:
    if isinstance(value, str):
        return SqlFragment(
            "((in_list = 1 AND str_value = ?) OR (in_list = 0 AND instr(str_value, ?) > 0))",
            (value, value),
        )
    assert isinstance(value, int | float)
    return SqlFragment("in_list = 1 AND kind = 'n' AND num_value = ?", (float(value),))


def _rows_for(cond: Condition) -> tuple[SqlFragment, bool]:
    """The matching ``record_meta`` rows, and whether the condition negates them."""
    op, operand = cond.op, cond.operand
    if op in ("$in", "$nin"):
        assert isinstance(operand, tuple)
        return _in_rows(operand), op == "$nin"
    assert not isinstance(operand, tuple)
    if op in _RANGE_SQL:
        return _range_rows(op, operand), False
    if op == "$contains":
        return _contains_rows(operand), False
    return _eq_rows(operand), op == "$ne"


def _compile_condition(cond: Condition, collection_id: int, column: str) -> SqlFragment:
    rows, negate = _rows_for(cond)
    sql = (
        f"{column} {'NOT IN' if negate else 'IN'} (SELECT record_id FROM record_meta "
        f"WHERE collection_id = ? AND key = ? AND {rows.sql})"
    )
    return SqlFragment(sql, (collection_id, cond.key, *rows.params))


def _merged_ranges(children: tuple[Node, ...]) -> tuple[list[Node], list[list[Condition]]]:
    """Split ``$and`` children into range conditions grouped by (key, value type) and
    the rest, so ``300 <= num < 400`` becomes one index range scan, not two large
    subqueries intersected (a record has at most one scalar value per key, so both
    bounds hold for the same ``record_meta`` row)."""
    groups: dict[tuple[str, bool], list[Condition]] = {}
    others: list[Node] = []
    for child in children:
        if isinstance(child, Condition) and child.op in _RANGE_SQL:
            groups.setdefault((child.key, isinstance(child.operand, str)), []).append(child)
        else:
            others.append(child)
    merged = [group for group in groups.values() if len(group) > 1]
    others += [group[0] for group in groups.values() if len(group) == 1]
    return others, merged


def _compile_range_group(group: list[Condition], collection_id: int, column: str) -> SqlFragment:
    parts = [_range_rows(cond.op, cond.operand) for cond in group]  # type: ignore[arg-type]
    rows = " AND ".join(part.sql for part in parts)
    return SqlFragment(
        f"{column} IN (SELECT record_id FROM record_meta "
        f"WHERE collection_id = ? AND key = ? AND {rows})",
        (collection_id, group[0].key, *(param for part in parts for param in part.params)),
    )


def compile_filter(node: Node, collection_id: int, column: str = "r.id") -> SqlFragment:
    """SQL that is true for the records (``column`` = their id) matching ``node``."""
    if isinstance(node, Condition):
        return _compile_condition(node, collection_id, column)
    if node.op == "$and":
        others, ranges = _merged_ranges(node.children)
        parts = [compile_filter(child, collection_id, column) for child in others]
        parts += [_compile_range_group(group, collection_id, column) for group in ranges]
        return SqlFragment(
            "(" + " AND ".join(p.sql for p in parts) + ")",
            tuple(param for p in parts for param in p.params),
        )
    parts = [compile_filter(child, collection_id, column) for child in node.children]
    return SqlFragment(
        "(" + " OR ".join(p.sql for p in parts) + ")",
        tuple(param for p in parts for param in p.params),
    )
