"""Hybrid retrieval: dense vectors and BM25 keywords fused by reciprocal rank.

Dense search finds paraphrases, BM25 finds exact identifiers (``shlex``,
``commonprefix``) that a small embedder blurs. Reciprocal rank fusion (Cormack et
al. 2009) merges the two ranked lists without calibrating their scores against
each other. The best *dense* similarity is kept separately: it is what the
abstention threshold is calibrated on, because BM25 scores are not comparable
across queries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from heron.errors import InputError
from heron.models.base import Embedder
from heron.types import Hit

RRF_K = 60


class SearchableCollection(Protocol):
    """The part of a store collection retrieval needs (any backend provides it)."""

    name: str

    @property
    def metric(self) -> str: ...

    @property
    def embedder(self) -> Embedder: ...

    def get(
        self,
        ids: Any = None,
        where: Mapping[str, Any] | None = None,
        limit: int | None = None,
        offset: int = 0,
        include: Any = ("documents", "metadatas"),
    ) -> Any: ...

    def query(
        self,
        texts: list[str] | None = None,
        embeddings: Any = None,
        k: int = 10,
        where: Mapping[str, Any] | None = None,
        include: tuple[str, ...] = ("documents", "metadatas", "distances"),
    ) -> list[list[Hit]]: ...

    def keyword_search(
        self, text: str, k: int = 10, where: Mapping[str, Any] | None = None
    ) -> list[Hit]: ...


@dataclass(frozen=True)
class Retrieval:
    """Ranked passages plus the evidence the abstention decision rests on."""

    hits: list[Hit]
    best_dense_score: float
    dense_scores: Mapping[str, float]


def reciprocal_rank_fusion(rankings: list[list[Hit]], k: int = RRF_K) -> list[Hit]:
    """Merge ranked lists; a hit's fused score is the sum of 1/(k + rank)."""
    fused: dict[str, float] = {}
    first_seen: dict[str, Hit] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            fused[hit.id] = fused.get(hit.id, 0.0) + 1.0 / (k + rank)
            first_seen.setdefault(hit.id, hit)
    order = sorted(fused, key=lambda hit_id: fused[hit_id], reverse=True)
    return [replace(first_seen[hit_id], score=fused[hit_id]) for hit_id in order]


@dataclass(frozen=True)
class Retriever:
    """Retrieves ``k`` passages for a question from one collection."""

    collection: SearchableCollection
    k: int = 5
    hybrid: bool = True
    fetch_k: int = 20
    #: embeds the question instead of the collection's own embedder (same dimension)
    embedder: Embedder | None = None

    def retrieve(self, question: str, where: Mapping[str, Any] | None = None) -> Retrieval:
        if not question.strip():
            raise InputError(
                "the question is empty", hint="ask something, e.g. 'how do I parse JSON?'"
            )
        depth = max(self.k, self.fetch_k)
        vector = (self.embedder or self.collection.embedder).embed(question)
        dense = self.collection.query(embeddings=[vector], k=depth, where=where)[0]
        dense_scores = {hit.id: hit.score for hit in dense}
        best = dense[0].score if dense else float("-inf")
        if not self.hybrid:
            return Retrieval(dense[: self.k], best, dense_scores)
        keyword = self.collection.keyword_search(question, k=depth, where=where)
        hits = reciprocal_rank_fusion([dense, keyword])[: self.k]
        missing = [hit.id for hit in hits if hit.id not in dense_scores]
        dense_scores.update(self._similarities(vector, missing))
        return Retrieval(hits, best, dense_scores)

    def _similarities(self, vector: np.ndarray, ids: list[str]) -> dict[str, float]:
        """Dense scores for hits only BM25 found, so every citation has a comparable score."""
        if not ids:
            return {}
        stored = self.collection.get(ids=ids, include=("embeddings",))
        matrix = np.asarray(stored.embeddings, dtype=np.float32)
        query = np.asarray(vector, dtype=np.float32)
        if self.collection.metric == "l2":
            scores = -np.linalg.norm(matrix - query, axis=1)
        elif self.collection.metric == "cosine":
            norms = np.linalg.norm(matrix, axis=1) * max(float(np.linalg.norm(query)), 1e-12)
            scores = (matrix @ query) / np.maximum(norms, 1e-12)
        else:
            scores = matrix @ query
        return {hit_id: float(s) for hit_id, s in zip(stored.ids, scores, strict=True)}
