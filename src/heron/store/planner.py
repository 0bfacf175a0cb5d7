"""How a vector query runs: which strategy answers it, and why (``QueryPlan``).

``plan`` counts the filter's matches in SQL (the metadata indexes make that a
range scan) and picks:

* ``exact`` - an ``ExactIndex`` collection: score the whole index, or just the
  matching rows (always the true top-k);
* ``ann`` - no filter on an ANN index: one FAISS search;
* ``exact_candidates`` - a selective filter (at most ``EXACT_MAX_MATCHES`` matches or
  ``EXACT_MAX_SELECTIVITY`` of the index): score the matching vectors exactly. A
  graph walk meets few allowed nodes here and would need a huge ``ef``, while a
  few thousand dot products are exact and cheap;
* ``post_filter`` - a permissive filter (``POST_MIN_SELECTIVITY`` and up): search
  ``k / selectivity`` times oversampled without a filter, keep the hits that pass
  (checked in SQL for just those ids), and double the depth until ``k`` pass;
* ``in_index`` - in between: FAISS searches with an ``IDSelector`` over the
  matching ids, ``ef_search`` / ``nprobe`` widened by ``1 / selectivity``.

Whatever the strategy, a query that comes back with fewer than ``min(k, matches)``
hits is answered again exactly over the candidates, so ``k`` matches always give
``k`` results. The constants were tuned with tests/store/test_planner.py's data
and ``bench/vectors.py`` (figures in docs/store.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

import numpy as np

from heron.store.index import ExactIndex, IdArray, Matrix, Neighbours
from heron.store.live import LiveIndex, merge

Strategy = Literal["exact", "ann", "exact_candidates", "in_index", "post_filter", "empty"]

EXACT_MAX_MATCHES = 20_000
EXACT_MAX_SELECTIVITY = 0.01
POST_MIN_SELECTIVITY = 0.5
#: oversampling of post-filtering beyond ``k / selectivity``
POST_OVERSAMPLE = 1.5
POST_ROUNDS = 3
#: in-index search width per expected allowed result: ef >= IN_INDEX_EF * k / selectivity
IN_INDEX_EF = 2.5
MAX_EF = 4_096
#: candidates scored exactly to check an in-index result (see ``_sample_check``)
CHECK_SAMPLE = 512


class Candidates(Protocol):
    """The records a filter admits, fetched lazily so the planner can count first."""

    def count(self) -> int: ...

    def ids(self) -> IdArray:
        """Matching record ids, ascending."""
        ...

    def among(self, record_ids: IdArray) -> IdArray:
        """Those of ``record_ids`` that match."""
        ...


#: (ascending record ids) -> (those that exist, their vectors)
VectorFetch = Callable[[IdArray], tuple[IdArray, Matrix]]


@dataclass(frozen=True)
class QueryPlan:
    """The chosen strategy and the estimates behind it (``heron search --explain``)."""

    strategy: Strategy
    index: str
    vectors: int
    matches: int | None = None
    selectivity: float | None = None
    ef_search: int | None = None
    nprobe: int | None = None
    fetch: int | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan(
    index: ExactIndex | LiveIndex,
    candidates: Candidates | None,
    k: int,
    *,
    ef_search: int | None = None,
    nprobe: int | None = None,
) -> QueryPlan:
    """Choose how to answer a top-``k`` query over ``index`` restricted to ``candidates``."""
    total = len(index)
    kind = "flat" if isinstance(index, ExactIndex) else index.kind
    matches = None if candidates is None else candidates.count()
    selectivity = None if matches is None else matches / max(1, total)
    base = _Knobs.of(index, ef_search, nprobe)
    if matches == 0 or total == 0:
        return QueryPlan("empty", kind, total, matches, selectivity, reason="nothing matches")
    if isinstance(index, ExactIndex):
        reason = "exact index" if matches is None else "exact index over the matching rows"
        return QueryPlan("exact", kind, total, matches, selectivity, reason=reason)
    if matches is None or selectivity is None:
        return QueryPlan("ann", kind, total, None, None, base.ef, base.nprobe, reason="no filter")
    if selectivity >= POST_MIN_SELECTIVITY:
        fetch = min(total, math.ceil(POST_OVERSAMPLE * k / selectivity) + k)
        return QueryPlan(
            "post_filter",
            kind,
            total,
            matches,
            selectivity,
            max(base.ef, fetch),
            base.nprobe,
            fetch,
            reason=f"permissive filter: search {fetch} then keep matches",
        )
    if matches <= EXACT_MAX_MATCHES or selectivity <= EXACT_MAX_SELECTIVITY:
        return QueryPlan(
            "exact_candidates",
            kind,
            total,
            matches,
            selectivity,
            reason=f"{matches} matches: scoring them exactly is cheap and exact",
        )
    ef = min(MAX_EF, max(base.ef, math.ceil(IN_INDEX_EF * k / selectivity)))
    probe = min(base.nlist, math.ceil(base.nprobe / selectivity))
    return QueryPlan(
        "in_index",
        kind,
        total,
        matches,
        selectivity,
        ef,
        probe,
        reason="FAISS IDSelector over the matching ids, search widened by 1/selectivity",
    )


@dataclass(frozen=True)
class _Knobs:
    ef: int
    nprobe: int
    nlist: int

    @classmethod
    def of(cls, index: ExactIndex | LiveIndex, ef: int | None, nprobe: int | None) -> _Knobs:
        if isinstance(index, ExactIndex):
            return cls(0, 0, 0)
        config = index.main.config
        nlist = index.main.nlist
        return cls(ef or config.ef_search, nprobe or config.nprobe, nlist)


def execute(
    chosen: QueryPlan,
    index: ExactIndex | LiveIndex,
    queries: Matrix,
    k: int,
    candidates: Candidates | None,
    fetch: VectorFetch,
) -> Neighbours:
    """Run a plan; every query gets ``min(k, matches)`` results."""
    n = queries.shape[0]
    if chosen.strategy == "empty":
        return Neighbours.empty(n)
    if isinstance(index, ExactIndex):
        subset = None if candidates is None else candidates.ids()
        return index.search(queries, k, subset)
    if chosen.strategy == "ann":
        found = index.search(queries, k, ef_search=chosen.ef_search, nprobe=chosen.nprobe)
        # a graph walk can miss nodes when k nears the collection's size
        return _complete(
            found,
            min(k, len(index)),
            lambda rows: _exact(index, queries[rows], k, index.live_ids(), fetch),
        )
    assert candidates is not None and chosen.matches is not None
    want = min(k, chosen.matches)
    if chosen.strategy == "exact_candidates":
        return _exact(index, queries, k, candidates.ids(), fetch)
    if chosen.strategy == "post_filter":
        found = _post_filter(index, queries, k, candidates, chosen)
    else:
        allowed = candidates.ids()
        found = index.search(
            queries, k, allowed=allowed, ef_search=chosen.ef_search, nprobe=chosen.nprobe
        )
        found = _sample_check(index, queries, found, allowed, want, fetch)
    return _complete(
        found, want, lambda rows: _exact(index, queries[rows], k, candidates.ids(), fetch)
    )


def _exact(
    index: LiveIndex, queries: Matrix, k: int, wanted: IdArray, fetch: VectorFetch
) -> Neighbours:
    """True top-k over the candidate ids: scored in the index's memory when it holds
    the vectors, else over vectors read from the catalog."""
    found = index.exact_search(queries, k, wanted)
    if found is not None:
        return found
    ids, vectors = fetch(wanted)
    return ExactIndex(index.metric, ids, vectors, owned=True).search(queries, k)


def _post_filter(
    index: LiveIndex, queries: Matrix, k: int, candidates: Candidates, chosen: QueryPlan
) -> Neighbours:
    """Oversampled unfiltered search, keeping matches; deeper rounds while short of k."""
    assert chosen.fetch is not None and chosen.matches is not None
    want = min(k, chosen.matches)
    depth = chosen.fetch
    found = Neighbours.empty(queries.shape[0])
    for _ in range(POST_ROUNDS):
        raw = index.search(
            queries, depth, ef_search=max(depth, chosen.ef_search or 0), nprobe=chosen.nprobe
        )
        found = _keep(raw, candidates.among(np.unique(raw.ids[raw.ids >= 0])), k)
        if _short_rows(found, want).shape[0] == 0 or depth >= len(index):
            break
        depth = min(len(index), depth * 2)
    return found


def _sample_check(
    index: LiveIndex,
    queries: Matrix,
    found: Neighbours,
    allowed: IdArray,
    want: int,
    fetch: VectorFetch,
) -> Neighbours:
    """Drop in-index results that a random sample of the candidates beats.

    A graph walk starts near the query; when the matching records lie elsewhere
    (a filter anti-correlated with the vectors) it returns matches, just not the
    nearest ones. If any of ``CHECK_SAMPLE`` random candidates, scored exactly,
    beats a query's ``want``-th result, that query is re-answered exactly.
    """
    rng = np.random.default_rng(0)
    size = min(CHECK_SAMPLE, allowed.shape[0])
    sample = np.sort(rng.choice(allowed, size=size, replace=False))
    probe = _exact(index, queries, 1, sample, fetch)
    kth = np.where((found.ids >= 0).sum(axis=1) >= want, found.scores[:, max(0, want - 1)], np.inf)
    beaten = probe.scores[:, 0] > kth + 1e-6
    if not beaten.any():
        return found
    ids = found.ids.copy()
    ids[beaten] = -1
    return Neighbours(ids, np.where(ids < 0, -np.inf, found.scores).astype(np.float32))


def _keep(raw: Neighbours, passing: IdArray, k: int) -> Neighbours:
    """Per query, the best ``k`` hits whose ids are in ``passing`` (-1 pads the rest)."""
    ok = np.isin(raw.ids, passing)
    scores = np.where(ok, raw.scores, -np.inf).astype(np.float32)
    ids = np.where(ok, raw.ids, -1)
    return merge([Neighbours(ids, scores), Neighbours.empty(raw.ids.shape[0])], k)


def _short_rows(found: Neighbours, want: int) -> np.ndarray:
    return np.flatnonzero((found.ids >= 0).sum(axis=1) < want)


def _complete(
    found: Neighbours, want: int, exact: Callable[[np.ndarray], Neighbours]
) -> Neighbours:
    """Re-answer exactly the queries that came back with fewer than ``want`` hits."""
    if found.ids.shape[1] >= want and bool((found.ids >= 0).all()):
        return found  # the common case, checked in one pass
    short = _short_rows(found, want)
    if short.shape[0] == 0:
        return found
    redo = exact(short)
    width = max(found.ids.shape[1], redo.ids.shape[1])
    ids = np.full((found.ids.shape[0], width), -1, np.int64)
    scores = np.full((found.ids.shape[0], width), -np.inf, np.float32)
    ids[:, : found.ids.shape[1]], scores[:, : found.ids.shape[1]] = found.ids, found.scores
    ids[short] = -1
    scores[short] = -np.inf
    ids[short, : redo.ids.shape[1]] = redo.ids
    scores[short, : redo.ids.shape[1]] = redo.scores
    return Neighbours(ids, scores)
