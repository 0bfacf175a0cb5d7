"""``exact_candidates`` scores the matching vectors where the index stores them.

For one query FAISS reads the chosen rows in place (``fvec_*_by_idx``); for a batch
they are gathered once. Either way, with tombstones and re-vectored records (the
delta) in play, the answer must equal an exact (flat) collection's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from heron.store import open_store

DIM = 12


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
@pytest.mark.parametrize("n_queries", [1, 12])
def test_filtered_exact_scoring_matches_a_flat_collection(
    tmp_path: Path, metric: str, n_queries: int
) -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(600, DIM)).astype(np.float32)
    ids = [str(i) for i in range(600)]
    metas = [{"tag": "a" if i % 10 == 0 else "b"} for i in range(600)]
    moved = rng.normal(size=(2, DIM)).astype(np.float32)
    with open_store(tmp_path) as store:
        cols = [
            store.create_collection(name, embedder=None, metric=metric, index=index)
            for name, index in (("ann", "hnsw"), ("flat", "flat"))
        ]
        for col in cols:
            col.add(ids, embeddings=vectors, metadatas=metas)
            col.build_index()
            col.delete(["0", "10", "20"])  # tombstones
            col.update(["30", "40"], embeddings=moved)  # re-vectored: the delta
        queries = np.random.default_rng(4).normal(size=(n_queries, DIM)).astype(np.float32)
        ann, flat = (
            col.query(embeddings=queries, k=7, where={"tag": "a"}, include=["distances"])
            for col in cols
        )
        assert cols[0].explain(embeddings=queries, k=7, where={"tag": "a"}).strategy == (
            "exact_candidates"
        )
        for mine, truth in zip(ann, flat, strict=True):
            assert [h.id for h in mine] == [h.id for h in truth]
            assert [h.score for h in mine] == pytest.approx([h.score for h in truth], abs=1e-5)
            assert not {"0", "10", "20"} & {h.id for h in mine}
