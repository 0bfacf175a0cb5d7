"""Filter parsing, SQL compilation, and semantics against a pure-Python reference."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from heron.errors import FilterError
from heron.store import Collection, open_store
from heron.store.filters import BoolOp, Condition, compile_filter, parse_filter

# ---------------------------------------------------------------- reference evaluator
# Written from the documented semantics (heron/store/filters.py docstring), independently
# of the SQL compiler, so the two can disagree when one of them is wrong.

RANGES = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is bool and type(b) is bool and a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    return bool(a == b)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _range(value: Any, op: str, operand: Any) -> bool:
    if isinstance(operand, str):
        return isinstance(value, str) and RANGES[op](value, operand)
    return _is_number(value) and RANGES[op](value, operand)


def _contains(value: Any, operand: Any) -> bool:
    if isinstance(value, list):
        return any(_same(item, operand) for item in value)
    return isinstance(value, str) and isinstance(operand, str) and operand in value


def _op(meta: dict[str, Any], key: str, op: str, operand: Any) -> bool:
    value = meta.get(key)
    scalar = key in meta and not isinstance(value, list)
    if op == "$eq":
        return scalar and _same(value, operand)
    if op == "$ne":
        return not (scalar and _same(value, operand))
    if op == "$in":
        return scalar and any(_same(value, o) for o in operand)
    if op == "$nin":
        return not (scalar and any(_same(value, o) for o in operand))
    if op == "$contains":
        return key in meta and _contains(value, operand)
    return scalar and _range(value, op, operand)


def reference_match(meta: dict[str, Any], where: dict[str, Any]) -> bool:
    for key, value in where.items():
        if key == "$and":
            ok = all(reference_match(meta, child) for child in value)
        elif key == "$or":
            ok = any(reference_match(meta, child) for child in value)
        else:
            ops = value if isinstance(value, dict) else {"$eq": value}
            ok = all(_op(meta, key, op, operand) for op, operand in ops.items())
        if not ok:
            return False
    return True


# ---------------------------------------------------------------- random data

KEYS = ["a", "b", "c", "d"]
STRINGS = ["x", "y", "xy", "yx", "z", "", "X"]
NUMBERS: list[int | float] = [-2, -1, 0, 1, 2, 3, 0.5, 1.5, 2.0]


def _scalar(rng: random.Random) -> Any:
    kind = rng.random()
    if kind < 0.4:
        return rng.choice(NUMBERS)
    if kind < 0.8:
        return rng.choice(STRINGS)
    if kind < 0.93:
        return rng.choice([True, False])
    return None


def _list_value(rng: random.Random) -> list[Any]:
    pool: list[Any] = STRINGS + [0, 1, 2, 1.5]
    return rng.sample(pool, rng.randint(0, 3))


def random_metadata(rng: random.Random) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key in KEYS:
        roll = rng.random()
        if roll < 0.25:
            continue
        meta[key] = _list_value(rng) if roll < 0.4 else _scalar(rng)
    return meta


def _leaf(rng: random.Random) -> dict[str, Any]:
    key = rng.choice(KEYS)
    op = rng.choice(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$contains", "="])
    if op == "=":
        return {key: _scalar(rng)}
    if op in RANGES:
        operand: Any = rng.choice([*NUMBERS, *STRINGS])
    elif op in ("$in", "$nin"):
        operand = [_scalar(rng) for _ in range(rng.randint(0, 3))]
    elif op == "$contains":
        operand = rng.choice(STRINGS + [0, 1, 2, 1.5])
    else:
        operand = _scalar(rng)
    return {key: {op: operand}}


def random_filter(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    roll = rng.random()
    if depth >= 2 or roll < 0.5:
        leaf = _leaf(rng)
        if rng.random() < 0.2:  # implicit AND across keys
            leaf.update(_leaf(rng))
        return leaf
    op = "$and" if roll < 0.75 else "$or"
    return {op: [random_filter(rng, depth + 1) for _ in range(rng.randint(1, 3))]}


@pytest.fixture(scope="module")
def random_collection(tmp_path_factory: pytest.TempPathFactory) -> Any:
    rng = random.Random(1234)
    store = open_store(tmp_path_factory.mktemp("filters"))
    col = store.create_collection("r", embedder="hash:16")
    metas = [random_metadata(rng) for _ in range(300)]
    ids = [f"id{i}" for i in range(len(metas))]
    col.add(ids, documents=[f"doc {i}" for i in range(len(metas))], metadatas=metas)
    yield col, dict(zip(ids, metas, strict=True))
    store.close()


def test_sql_agrees_with_the_reference_on_random_filters(
    random_collection: tuple[Collection, dict[str, dict[str, Any]]],
) -> None:
    col, metas = random_collection
    rng = random.Random(99)
    nonempty = 0
    for _ in range(400):
        where = random_filter(rng)
        expected = sorted(i for i, meta in metas.items() if reference_match(meta, where))
        assert sorted(col.get(where=where).ids) == expected, where
        nonempty += bool(expected) and len(expected) < len(metas)
    assert nonempty > 150  # the generator produces selective filters, not just all/none


def test_reference_and_sql_agree_on_a_hand_picked_edge() -> None:
    meta = {"a": [1, "x"], "b": True, "c": 1.0}
    assert reference_match(meta, {"c": 1}) and not reference_match(meta, {"b": 1})
    assert reference_match(meta, {"a": {"$contains": 1.0}})
    assert reference_match(meta, {"a": {"$ne": 1}}) and not reference_match(meta, {"a": 1})


# ---------------------------------------------------------------- parse + compile


def test_parse_builds_a_tree() -> None:
    assert parse_filter(None) is None
    assert parse_filter({}) is None
    assert parse_filter({"a": 1}) == Condition("a", "$eq", 1)
    numpy_operand = parse_filter({"a": {"$gte": np.int64(2)}})
    assert numpy_operand == Condition("a", "$gte", 2)
    assert isinstance(numpy_operand, Condition) and type(numpy_operand.operand) is int
    tree = parse_filter({"a": {"$gte": 1, "$lt": 5}, "$or": [{"b": "x"}, {"c": {"$in": [1, 2]}}]})
    assert tree == BoolOp(
        "$and",
        (
            BoolOp("$and", (Condition("a", "$gte", 1), Condition("a", "$lt", 5))),
            BoolOp("$or", (Condition("b", "$eq", "x"), Condition("c", "$in", (1, 2)))),
        ),
    )


def test_values_are_parameters_never_sql_text() -> None:
    evil = "x'); DROP TABLE records; --"
    where = {evil: {"$in": [evil, 3]}, "k": {"$contains": evil}, "n": {"$gt": 2.5}}
    node = parse_filter(where)
    assert node is not None
    fragment = compile_filter(node, collection_id=7)
    assert "DROP" not in fragment.sql and "2.5" not in fragment.sql and "7" not in fragment.sql
    assert fragment.sql.count("?") == len(fragment.params)
    assert evil in fragment.params and 2.5 in fragment.params and 7 in fragment.params


@pytest.mark.parametrize(
    ("where", "named"),
    [
        ({"$and": [{"a": 1}, {"b": {"$regex": "x"}}]}, "filter.$and[1].b"),
        ({"year": {"$in": 2020}}, "$in needs a list"),
        ({"$nor": []}, "unknown operator '$nor'"),
        ({"a": {"$gt": None}}, "$gt needs a number or a string"),
        ({"a": [1, 2]}, "use $in for any-of"),
        ({"$or": []}, "$or needs a non-empty list"),
    ],
)
def test_errors_name_the_bad_part_and_list_operators(where: Any, named: str) -> None:
    with pytest.raises(FilterError) as err:
        parse_filter(where)
    message = str(err.value)
    assert named in message
    assert "$eq, $ne, $gt, $gte, $lt, $lte, $in, $nin, $contains" in message


def test_non_dict_filter_is_refused() -> None:
    with pytest.raises(FilterError, match="must be a dict, got list"):
        parse_filter([{"a": 1}])


def test_filters_compile_to_indexed_lookups(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        store.create_collection("c", embedder="hash:16")
        conn = store.catalog.conn
        for where, index in [
            ({"t": "x"}, "record_meta_str"),
            ({"y": {"$gte": 3}}, "record_meta_num"),
        ]:
            node = parse_filter(where)
            assert node is not None
            fragment = compile_filter(node, collection_id=1)
            plan = conn.execute(
                f"EXPLAIN QUERY PLAN SELECT r.id FROM records r WHERE {fragment.sql}",
                fragment.params,
            ).fetchall()
            assert any(index in str(step) for step in plan), plan


def test_deeply_nested_filters_are_refused_not_recursed() -> None:
    where: dict[str, object] = {"a": 1}
    for _ in range(500):
        where = {"$and": [where]}
    with pytest.raises(FilterError, match="nested more than 32 levels"):
        parse_filter(where)
    shallow: dict[str, object] = {"a": 1}
    for _ in range(20):
        shallow = {"$or": [shallow, {"b": 2}]}
    assert parse_filter(shallow) is not None


def test_two_bounds_on_one_key_compile_to_one_range_scan() -> None:
    node = parse_filter({"$and": [{"n": {"$gte": 3}}, {"n": {"$lt": 7}}, {"t": "x"}]})
    assert node is not None
    fragment = compile_filter(node, 1)
    assert fragment.sql.count("SELECT record_id") == 2  # n's bounds share one subquery
    assert "num_value >= ? AND in_list = 0 AND kind = 'n' AND num_value < ?" in fragment.sql


def test_repeated_filters_reuse_their_ids_until_the_next_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from heron.store import records

    calls: list[int] = []
    real = records.matching_ids

    def counting(*args: Any) -> Any:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(records, "matching_ids", counting)
    with open_store(tmp_path) as store:
        col = store.create_collection("c", embedder="hash:8")
        col.add(["a", "b"], documents=["x", "y"], metadatas=[{"t": 1}, {"t": 2}])
        for _ in range(3):
            assert [h.id for h in col.query(texts=["x"], where={"t": 1})[0]] == ["a"]
        assert len(calls) == 1
        col.add(["c"], documents=["x"], metadatas=[{"t": 1}])
        assert {h.id for h in col.query(texts=["x"], where={"t": 1})[0]} == {"a", "c"}
        assert len(calls) == 2


def test_the_filter_cache_stays_within_its_size() -> None:
    from heron.store.records import FilterCache

    cache = FilterCache(max_ids=10)
    cache.put("a", np.arange(6))
    cache.put("b", np.arange(6))
    assert cache.get("a") is None and cache.get("b") is not None
    cache.put("huge", np.arange(11))
    assert cache.get("huge") is None
