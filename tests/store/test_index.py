"""ExactIndex against brute-force numpy."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from heron.errors import StoreError
from heron.store import index as index_module
from heron.store.index import ExactIndex, distance_from_score, top_k
from heron.store.results import Metric

METRICS: list[Metric] = ["cosine", "ip", "l2"]


def brute_force(metric: Metric, vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Scores (higher is better), computed the slow obvious way in float64."""
    v, q = vectors.astype(np.float64), queries.astype(np.float64)
    if metric == "cosine":
        v = v / np.linalg.norm(v, axis=1, keepdims=True)
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
    scores: np.ndarray = (
        -np.linalg.norm(q[:, None, :] - v[None, :, :], axis=2) if metric == "l2" else q @ v.T
    )
    return scores


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    ids = rng.permutation(np.arange(1000, 1000 + 3 * 400, 3)).astype(np.int64)  # unsorted, gappy
    vectors = rng.standard_normal((400, 24)).astype(np.float32) * 3
    queries = rng.standard_normal((9, 24)).astype(np.float32)
    return ids, vectors, queries


def _expected(
    metric: Metric, ids: np.ndarray, vectors: np.ndarray, queries: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    scores = brute_force(metric, vectors, queries)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return ids[order], np.take_along_axis(scores, order, axis=1)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("k", [1, 10, 400, 1000])
def test_exact_index_matches_brute_force(metric: Metric, k: int, data: Any) -> None:
    ids, vectors, queries = data
    found = ExactIndex(metric, ids, vectors).search(queries, k)
    want_ids, want_scores = _expected(metric, ids, vectors, queries, k)
    assert found.ids.shape == (9, min(k, 400))
    np.testing.assert_array_equal(found.ids, want_ids)
    np.testing.assert_allclose(found.scores, want_scores, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("step", [7, 2])  # a small subset is gathered, a large one masked
def test_subset_search_is_exact_over_the_subset(metric: Metric, step: int, data: Any) -> None:
    ids, vectors, queries = data
    assert (1 / step > index_module.GATHER_MAX_FRACTION) == (step == 2)
    keep = np.sort(ids[::step])
    unknown = np.array([1, 1001, 10**9], dtype=np.int64)  # ids the index does not hold
    subset = np.sort(np.concatenate([keep, unknown]))
    found = ExactIndex(metric, ids, vectors).search(queries, 5, subset)
    mask = np.isin(ids, keep)
    want_ids, want_scores = _expected(metric, ids[mask], vectors[mask], queries, 5)
    np.testing.assert_array_equal(found.ids, want_ids)
    np.testing.assert_allclose(found.scores, want_scores, rtol=1e-4, atol=1e-4)


def test_subset_smaller_than_k_and_empty(data: Any) -> None:
    ids, vectors, queries = data
    index = ExactIndex("cosine", ids, vectors)
    assert index.search(queries, 10, np.sort(ids[:3])).ids.shape == (9, 3)
    assert index.search(queries, 10, np.array([], dtype=np.int64)).ids.shape == (9, 0)
    empty = ExactIndex("l2", np.array([], dtype=np.int64), np.zeros((0, 24), np.float32))
    assert len(empty) == 0 and empty.search(queries, 3).ids.shape == (9, 0)


def test_queries_are_processed_in_blocks(monkeypatch: pytest.MonkeyPatch, data: Any) -> None:
    ids, vectors, queries = data
    whole = ExactIndex("ip", ids, vectors).search(queries, 4)
    monkeypatch.setattr(index_module, "_MAX_SCORES", 800)  # two queries per block
    blocked = ExactIndex("ip", ids, vectors).search(queries, 4)
    np.testing.assert_array_equal(whole.ids, blocked.ids)
    np.testing.assert_allclose(whole.scores, blocked.scores, rtol=1e-6)  # BLAS kernels differ


def test_top_k_orders_best_first() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [3.0, 2.0, 1.0, 0.0]], dtype=np.float32)
    np.testing.assert_array_equal(top_k(scores, 3), [[1, 3, 2], [0, 1, 2]])
    np.testing.assert_array_equal(top_k(scores, 9), [[1, 3, 2, 0], [0, 1, 2, 3]])


def test_distance_from_score() -> None:
    assert distance_from_score("cosine", 0.25) == 0.75
    assert distance_from_score("ip", 2.0) == -2.0
    assert distance_from_score("l2", -3.0) == 3.0


def test_ids_and_vectors_must_agree() -> None:
    with pytest.raises(StoreError):
        ExactIndex("ip", np.arange(3, dtype=np.int64), np.zeros((2, 4), np.float32))
