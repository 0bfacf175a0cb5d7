"""Vector indexes over a collection's vectors, and the per-store cache that holds them.

Indexes are derived data: SQLite holds the vectors, an index is built from them
and kept in memory, keyed by the collection's change sequence. A query reads that
sequence whenever anything was committed since the previous query (``PRAGMA
data_version``, see ``Catalog.state``) and rebuilds only when it moved, so writes
committed by another process are seen without reopening the store.

This module holds ``ExactIndex``: a numpy BLAS matmul over all vectors.
Measured on the 2-core dev box (384-d, k=10, numpy matmul + argpartition vs faiss
1.15 IndexFlatIP): 0.12 vs 2.4 ms at 10k vectors, 0.58 vs 2.6 ms at 30k, 2.7 vs
9.5 ms at 100k for one query; 1.2 vs 3.0, 3.6 vs 15.4 and 14.7 vs 42.9 ms for 16
queries. faiss Flat brings nothing for exact search here, and numpy needs no copy
of the vectors beyond the one we hold.

Scores are higher-is-better for every metric: cosine similarity, inner product,
and negated euclidean distance for l2.

ANN families live in ``ann.py`` (FAISS) and ``live.py`` (kept current by
replaying the change log); ``indexing.py`` decides which one a collection uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from heron.errors import StoreError
from heron.store.results import Metric

IdArray = NDArray[np.int64]
Matrix = NDArray[np.float32]

#: cap on the scores matrix a search holds at once (queries x vectors), ~64 MB of float32
_MAX_SCORES = 16_000_000
#: above this share of the index, a filtered search scores every row and keeps the
#: candidates' scores, instead of copying their vectors (the copy costs more than the
#: extra products)
GATHER_MAX_FRACTION = 0.15


@dataclass(frozen=True)
class Neighbours:
    """Per query, the best record ids and their scores, best first (``nq x k'``)."""

    ids: IdArray
    scores: NDArray[np.float32]

    @classmethod
    def empty(cls, n_queries: int) -> Neighbours:
        return cls(np.empty((n_queries, 0), np.int64), np.empty((n_queries, 0), np.float32))


def distance_from_score(metric: Metric, score: float) -> float:
    """The metric's natural distance: 1 - cos, -dot, or euclidean."""
    return 1.0 - score if metric == "cosine" else -score


def distances_from_scores(metric: Metric, scores: NDArray[np.float32]) -> NDArray[np.float64]:
    """``distance_from_score`` of a whole array, in float64 so each value is the same."""
    wide = scores.astype(np.float64)
    out: NDArray[np.float64] = 1.0 - wide if metric == "cosine" else -wide
    return out


def _normalise(matrix: Matrix, *, in_place: bool = False) -> Matrix:
    """Rows scaled to unit length (zero rows stay zero)."""
    out = matrix if in_place else matrix.astype(np.float32, copy=True)
    norms = np.sqrt(np.einsum("ij,ij->i", out, out))
    out /= np.where(norms == 0, 1, norms)[:, None]
    return out


def top_k(scores: NDArray[np.float32], k: int) -> NDArray[np.intp]:
    """Column positions of the ``k`` highest scores per row, best first."""
    n = scores.shape[1]
    k = min(k, n)
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n), scores.shape)
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


@dataclass(frozen=True)
class _Rows:
    """What one search scores; with ``columns``, only those rows' scores are kept."""

    ids: IdArray
    vectors: Matrix
    sq_norms: NDArray[np.float32] | None
    columns: NDArray[np.intp] | None = None


class ExactIndex:
    """Brute-force search: one matrix product per query block; always the true top-k."""

    def __init__(
        self, metric: Metric, ids: IdArray, vectors: Matrix, *, owned: bool = False
    ) -> None:
        """``owned=True`` lets the index keep (and normalise in place) the caller's array."""
        if ids.shape[0] != vectors.shape[0]:
            raise StoreError(f"index got {ids.shape[0]} ids for {vectors.shape[0]} vectors")
        if ids.shape[0] > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            order = np.argsort(ids, kind="stable")
            ids, vectors, owned = ids[order], vectors[order], True
        self.metric: Metric = metric
        self._ids = np.ascontiguousarray(ids, dtype=np.int64)
        in_place = owned and vectors.flags.writeable and vectors.dtype == np.float32
        if metric == "cosine":
            vectors = _normalise(vectors, in_place=in_place)
        self._vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._sq_norms = np.einsum("ij,ij->i", vectors, vectors) if metric == "l2" else None

    def __len__(self) -> int:
        return int(self._ids.shape[0])

    def search(self, queries: Matrix, k: int, subset: IdArray | None = None) -> Neighbours:
        rows = self._select(subset)
        if rows.ids.shape[0] == 0 or k < 1:
            return Neighbours.empty(queries.shape[0])
        block = max(1, _MAX_SCORES // rows.vectors.shape[0])
        parts = [
            self._search_block(queries[start : start + block], k, rows)
            for start in range(0, queries.shape[0], block)
        ]
        return Neighbours(
            np.concatenate([p.ids for p in parts]), np.concatenate([p.scores for p in parts])
        )

    def _select(self, subset: IdArray | None) -> _Rows:
        """All rows; a gathered copy of a small subset; or all rows, keeping a large subset."""
        if subset is None:
            return _Rows(self._ids, self._vectors, self._sq_norms)
        pos = self._positions(subset)
        if pos.shape[0] > GATHER_MAX_FRACTION * len(self):
            return _Rows(self._ids[pos], self._vectors, self._sq_norms, columns=pos)
        sq_norms = None if self._sq_norms is None else self._sq_norms[pos]
        return _Rows(self._ids[pos], self._vectors[pos], sq_norms)

    def _positions(self, subset: IdArray) -> NDArray[np.intp]:
        """Rows of ``subset`` ids that this index holds (unknown ids are skipped)."""
        pos = np.searchsorted(self._ids, subset)
        inside = pos < self._ids.shape[0]
        pos, wanted = pos[inside], subset[inside]
        held: NDArray[np.intp] = pos[self._ids[pos] == wanted]
        return held

    def _search_block(self, queries: Matrix, k: int, rows: _Rows) -> Neighbours:
        scores = self._scores(queries, rows.vectors, rows.sq_norms)
        if rows.columns is not None:
            scores = scores[:, rows.columns]
        best = top_k(scores, k)
        return Neighbours(rows.ids[best], np.take_along_axis(scores, best, axis=1))

    def _scores(
        self, queries: Matrix, vectors: Matrix, sq_norms: NDArray[np.float32] | None
    ) -> NDArray[np.float32]:
        dots: NDArray[np.float32] = (
            _normalise(queries) if self.metric == "cosine" else queries
        ) @ vectors.T
        if sq_norms is None:
            return dots
        q_sq = np.einsum("ij,ij->i", queries, queries)[:, None]
        squared = np.maximum(q_sq - 2.0 * dots + sq_norms[None, :], 0.0)
        distances: NDArray[np.float32] = np.sqrt(squared).astype(np.float32)
        return -distances
