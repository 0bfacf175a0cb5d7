"""The filter planner on ANN collections: recall@10 >= 0.95 and k results at every
selectivity (0.1% to 100%), for filters independent of and correlated with the vectors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from heron.store import Collection, Store, open_store, planner

N, DIM, CENTRES, QUERIES = 12_000, 32, 60, 40
#: category values and the share of records holding each (Zipf-like, exact counts)
SHARES = {"half": 0.5, "tenth": 0.1, "hundredth": 0.01, "thousandth": 0.001}


def _dataset() -> dict[str, Any]:
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(CENTRES, DIM)).astype(np.float32) * 3
    cluster = rng.integers(0, CENTRES, N)
    vectors = (centres[cluster] + rng.normal(size=(N, DIM))).astype(np.float32)
    q_cluster = rng.integers(0, CENTRES, QUERIES)
    queries = (centres[q_cluster] + rng.normal(size=(QUERIES, DIM))).astype(np.float32)
    cats = np.full(N, "rest", dtype=object)
    order = rng.permutation(N)
    start = 0
    for name, share in SHARES.items():
        size = round(share * N)
        cats[order[start : start + size]] = name
        start += size
    nums = rng.integers(0, 1000, N)
    return {
        "vectors": vectors,
        "queries": queries,
        "cluster": cluster,
        "q_cluster": q_cluster,
        "cat": cats,
        "num": nums,
    }


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    return _dataset()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, data: dict[str, Any]) -> Iterator[Store]:
    with open_store(tmp_path_factory.mktemp("planner")) as opened:
        col = opened.create_collection(
            "v",
            embedder=None,
            dimension=DIM,
            index={"kind": "hnsw", "m": 16, "ef_construction": 80, "ef_search": 32},
        )
        metadatas = [
            {"cat": str(c), "num": int(n), "grp": int(k) % 10}
            for c, n, k in zip(data["cat"], data["num"], data["cluster"], strict=True)
        ]
        col.add([str(i) for i in range(N)], embeddings=data["vectors"], metadatas=metadatas)
        yield opened


#: planner thresholds that force one strategy for every filtered query
FORCED = {
    "default": {},
    "in_index": {"EXACT_MAX_MATCHES": 0, "EXACT_MAX_SELECTIVITY": 0.0, "POST_MIN_SELECTIVITY": 2.0},
    "post_filter": {
        "EXACT_MAX_MATCHES": 0,
        "EXACT_MAX_SELECTIVITY": 0.0,
        "POST_MIN_SELECTIVITY": 0.0,
    },
}


@pytest.fixture(params=list(FORCED))
def mode(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each recall test runs with the real thresholds and with each strategy forced."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FORCED[request.param].items():
            patch.setattr(planner, name, value)
        yield str(request.param)


def _truth(data: dict[str, Any], mask: np.ndarray, query: np.ndarray, k: int) -> set[int]:
    vectors = data["vectors"]
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = unit @ (query / np.linalg.norm(query))
    scores = np.where(mask, scores, -np.inf)
    best = np.argsort(-scores)[:k]
    return {int(i) for i in best if mask[i]}


def _recall(col: Collection, data: dict[str, Any], where: Any, masks: list[np.ndarray]) -> float:
    hits = col.query(embeddings=data["queries"], k=10, where=where, include=[])
    total = found = 0
    for i, row in enumerate(hits):
        truth = _truth(data, masks[i], data["queries"][i], 10)
        got = {int(h.id) for h in row}
        assert len(got) == min(10, int(masks[i].sum())), "k results whenever k records match"
        assert all(masks[i][j] for j in got), "every hit passes the filter"
        total += len(truth)
        found += len(truth & got)
    return found / max(1, total)


@pytest.mark.parametrize("value", [*SHARES, "rest"])
def test_recall_at_every_category_selectivity(
    store: Store, data: dict[str, Any], value: str, mode: str
) -> None:
    col = store.get_collection("v")
    mask = data["cat"] == value
    assert _recall(col, data, {"cat": value}, [mask] * QUERIES) >= 0.95


@pytest.mark.parametrize("limit", [1, 10, 100, 500, 1000])
def test_recall_on_integer_ranges(
    store: Store, data: dict[str, Any], limit: int, mode: str
) -> None:
    """num < limit selects 0.1% .. 100% of the records, independently of the vectors."""
    col = store.get_collection("v")
    mask = data["num"] < limit
    assert _recall(col, data, {"num": {"$lt": limit}}, [mask] * QUERIES) >= 0.95


@pytest.mark.parametrize("correlated", [True, False])
def test_recall_on_filters_correlated_with_the_vectors(
    store: Store, data: dict[str, Any], correlated: bool, mode: str
) -> None:
    """grp follows the cluster: the query's own group (its neighbours match) or
    another group (the nearest matches are far away, the hard case for a graph)."""
    col = store.get_collection("v")
    groups = data["cluster"] % 10
    hits_total = found = 0
    for i, q_cluster in enumerate(data["q_cluster"]):
        grp = int(q_cluster % 10) if correlated else int((q_cluster + 5) % 10)
        mask = groups == grp
        got = {
            int(h.id) for h in col.query(embeddings=data["queries"][i], k=10, where={"grp": grp})[0]
        }
        truth = _truth(data, mask, data["queries"][i], 10)
        assert len(got) == 10
        hits_total += len(truth)
        found += len(truth & got)
    assert found / hits_total >= 0.95


def test_unfiltered_recall(store: Store, data: dict[str, Any]) -> None:
    col = store.get_collection("v")
    assert _recall(col, data, None, [np.ones(N, bool)] * QUERIES) >= 0.95


def test_explain_shows_the_strategy_per_selectivity(store: Store, data: dict[str, Any]) -> None:
    col = store.get_collection("v")
    q = data["queries"][0]
    chosen = {v: col.explain(embeddings=q, where={"cat": v}).strategy for v in SHARES}
    assert chosen["thousandth"] == "exact_candidates" and chosen["hundredth"] == "exact_candidates"
    assert chosen["half"] == "post_filter"
    unfiltered = col.explain(embeddings=q)
    assert unfiltered.strategy == "ann" and unfiltered.index == "hnsw"
    assert unfiltered.ef_search == 32 and col.explain(embeddings=q, ef_search=99).ef_search == 99
    plan_ = col.explain(embeddings=q, where={"cat": "thousandth"})
    assert plan_.matches == 12 and plan_.selectivity == pytest.approx(0.001)
    assert col.explain(embeddings=q, where={"cat": "none-such"}).strategy == "empty"
    assert set(plan_.as_dict()) >= {"strategy", "matches", "selectivity", "reason"}


def test_forced_strategies_are_the_ones_used(store: Store, data: dict[str, Any]) -> None:
    col = store.get_collection("v")
    q = data["queries"][0]
    for name in ("in_index", "post_filter"):
        with pytest.MonkeyPatch.context() as patch:
            for key, value in FORCED[name].items():
                patch.setattr(planner, key, value)
            chosen = col.explain(embeddings=q, where={"cat": "tenth"})
        assert chosen.strategy == name
        assert chosen.ef_search is not None and chosen.ef_search >= 32
