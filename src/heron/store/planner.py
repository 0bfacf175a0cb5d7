"""How a vector query is executed: which index, and how a metadata filter is applied.

``plan`` looks at the index and the filter's candidate set and returns a ``Plan``;
``Plan.run`` executes it. Collections only ever call these two, so new strategies
arrive here without touching ``Collection``.

Today: no filter -> search the whole index; a filter -> pre-filter, i.e. fetch the
matching record ids from SQL and search exactly over just those rows, which always
returns ``min(k, matches)`` hits whatever the selectivity.

Left for later: estimate selectivity from ``Candidates.count()`` (or SQLite's
statistics) and, for ANN indexes, choose between pre-filtering, in-index filtering
(FAISS ``IDSelector``) and post-filtering with adaptive oversampling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from heron.store.index import IdArray, Matrix, Neighbours, VectorIndex

Strategy = Literal["full", "prefilter"]


class Candidates(Protocol):
    """The records a filter admits, fetched lazily so a planner can estimate first."""

    def count(self) -> int: ...

    def ids(self) -> IdArray:
        """Matching record ids, ascending."""
        ...


@dataclass(frozen=True)
class Plan:
    strategy: Strategy
    index: VectorIndex
    subset: IdArray | None = None

    def run(self, queries: Matrix, k: int) -> Neighbours:
        if self.subset is not None and self.subset.shape[0] == 0:
            return Neighbours.empty(queries.shape[0])
        return self.index.search(queries, k, self.subset)


def plan(index: VectorIndex, candidates: Candidates | None) -> Plan:
    """Choose how to answer a top-k query over ``index`` restricted to ``candidates``."""
    if candidates is None:
        return Plan("full", index)
    return Plan("prefilter", index, candidates.ids())
