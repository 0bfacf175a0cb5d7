"""Collection-level vector search: exactness under filters, and the seq-keyed index cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from heron.store import Store, open_store, records
from heron.store.results import Metric

from .test_index import brute_force


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path) as store:
        yield store


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_filtered_query_equals_brute_force_over_matching_rows(store: Store, metric: Metric) -> None:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((300, 16)).astype(np.float32)
    buckets = rng.integers(0, 10, 300)
    col = store.create_collection("v", embedder=None, metric=metric)
    ids = [f"v{i}" for i in range(300)]
    col.add(ids, embeddings=vectors, metadatas=[{"bucket": int(b)} for b in buckets])
    queries = rng.standard_normal((4, 16)).astype(np.float32)
    where = {"bucket": {"$in": [1, 2]}}
    mask = np.isin(buckets, [1, 2])
    scores = brute_force(metric, vectors[mask], queries)
    matching = np.array(ids)[mask]
    for hits, row in zip(col.query(embeddings=queries, k=8, where=where), scores, strict=True):
        order = np.argsort(-row)[:8]
        assert [h.id for h in hits] == matching[order].tolist()
        np.testing.assert_allclose([h.score for h in hits], row[order], rtol=1e-4, atol=1e-4)


def test_index_is_cached_until_the_collection_changes(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[int] = []
    real_load = records.load_vectors

    def counting_load(*args: Any) -> Any:
        loads.append(1)
        return real_load(*args)

    monkeypatch.setattr(records, "load_vectors", counting_load)
    col = store.create_collection("c", embedder="hash:16")
    other = store.create_collection("other", embedder="hash:16")
    col.add(["a", "b"], documents=["alpha", "beta"])
    col.query(texts=["alpha"])
    col.query(texts=["beta"], where={"x": {"$ne": 1}})
    store.get_collection("c").query(texts=["alpha"])  # a second handle shares the cache
    assert len(loads) == 1
    other.add(["z"], documents=["zeta"])  # another collection's write does not invalidate
    col.query(texts=["alpha"])
    assert len(loads) == 1
    col.update(["a"], metadatas=[{"x": 1}])
    col.query(texts=["alpha"])
    assert len(loads) == 2
    assert col.keyword_search("alpha")[0].id == "a" and len(loads) == 2


def test_many_queries_at_once(store: Store) -> None:
    col = store.create_collection("c", embedder="hash:32")
    texts = [f"sentence number {i} about {i % 5}" for i in range(50)]
    col.add([f"s{i}" for i in range(50)], documents=texts)
    results = col.query(texts=texts, k=1)
    assert [hits[0].id for hits in results] == [f"s{i}" for i in range(50)]
