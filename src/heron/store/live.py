"""``LiveIndex``: a FAISS index kept current with the catalog by replaying its change log.

The main index (``AnnIndex``) was built, or loaded from its file, at some change
sequence. Newer changes are replayed from the ``changes`` table instead of
rebuilding:

* a new record is appended to the main index (every family supports ``add``);
* a deleted record becomes a *tombstone*: its label stays in the main index and
  is excluded at search time (FAISS HNSW cannot remove nodes);
* a record whose vector changed is a tombstone in the main index and lives in a
  small exact *delta* index (numpy) with its new vector.

Searches merge the main index (tombstones excluded through a FAISS selector) and
the delta. ``garbage`` (tombstones + delta) is what compaction, a rebuild from
the catalog, purges; ``is_clean`` says the index equals its FAISS part alone, so
it can be saved to a file recording the sequence it covers.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from heron.errors import StoreError
from heron.store.ann import AnnIndex, load_state
from heron.store.index import ExactIndex, IdArray, Matrix, Neighbours, top_k
from heron.store.results import Metric

#: (record ids) -> (those that still exist, their vectors), ordered by record id
VectorFetch = Callable[[IdArray], tuple[IdArray, Matrix]]


def _sorted_unique(values: Sequence[int] | IdArray) -> IdArray:
    return np.unique(np.asarray(values, dtype=np.int64))


class LiveIndex:
    """An ANN index at the collection's latest change: main + tombstones + delta."""

    def __init__(self, metric: Metric, main: AnnIndex, seq: int, labels: IdArray) -> None:
        self.metric: Metric = metric
        self.main = main
        #: the change sequence this index reflects
        self.seq = seq
        #: records replayed since the index was built, loaded or saved
        self.unsaved = 0
        self._labels: IdArray = _sorted_unique(labels)  # labels in ``main``, ascending
        self._dead: IdArray = np.empty(0, np.int64)  # tombstoned labels of ``main``, ascending
        self._delta_ids: IdArray = np.empty(0, np.int64)
        self._delta_vectors: Matrix = np.empty((0, main.dim), np.float32)
        self._delta: ExactIndex | None = None
        self.lock = threading.Lock()
        #: record id -> external id of every live record, so a query needs no SQL for ids
        self.names: dict[int, str] = {}

    # ------------------------------------------------------------ state

    def __len__(self) -> int:
        """Live vectors: main minus tombstones plus the delta."""
        return int(self._labels.shape[0] - self._dead.shape[0] + self._delta_ids.shape[0])

    @property
    def kind(self) -> str:
        return self.main.config.kind

    @property
    def garbage(self) -> int:
        """Tombstones in the main index (each delta record has one)."""
        return int(self._dead.shape[0])

    @property
    def garbage_ratio(self) -> float:
        return self.garbage / max(1, int(self._labels.shape[0]))

    @property
    def keeps_vectors(self) -> bool:
        """Whether ``exact_search`` always answers from memory (never ``None``)."""
        return self.main.keeps_vectors

    @property
    def is_clean(self) -> bool:
        return self.garbage == 0 and self._delta_ids.shape[0] == 0

    # ------------------------------------------------------------ replay

    def replay(self, changes: Sequence[tuple[int, str]], fetch: VectorFetch, seq: int) -> IdArray:
        """Apply changes (record id, op) up to ``seq``; returns the records that moved."""
        touched = _sorted_unique([rid for rid, op in changes if op != "update_meta"])
        if touched.shape[0]:
            ids, vectors = fetch(touched)
            self._apply(touched, ids, vectors)
        self.seq = seq
        self.unsaved += int(touched.shape[0])
        return touched

    def rename(self, touched: IdArray, names: dict[int, str]) -> None:
        """Keep ``names`` (record id -> external id) current after a replay."""
        for rid in touched.tolist():
            if rid in names:
                self.names[rid] = names[rid]
            else:
                self.names.pop(rid, None)

    def _apply(self, touched: IdArray, ids: IdArray, vectors: Matrix) -> None:
        in_main = np.isin(touched, self._labels, assume_unique=True)
        alive = np.isin(touched, ids, assume_unique=True)
        # every touched record already in main is superseded: deleted or re-vectored
        self._dead = np.union1d(self._dead, touched[in_main])
        # drop any older delta copy of the touched records, then re-add the living ones
        keep = ~np.isin(self._delta_ids, touched, assume_unique=True)
        delta_ids, delta_vectors = self._delta_ids[keep], self._delta_vectors[keep]
        position = {int(rid): i for i, rid in enumerate(ids)}
        new = touched[~in_main & alive]
        changed = touched[in_main & alive]
        if new.shape[0]:
            rows = [position[int(rid)] for rid in new]
            self.main.add(vectors[rows], new)
            self._labels = np.union1d(self._labels, new)
        if changed.shape[0]:
            rows = [position[int(rid)] for rid in changed]
            delta_ids = np.concatenate([delta_ids, changed])
            delta_vectors = np.concatenate([delta_vectors, vectors[rows]])
        self._set_delta(delta_ids, delta_vectors)

    def _set_delta(self, ids: IdArray, vectors: Matrix) -> None:
        order = np.argsort(ids, kind="stable")
        self._delta_ids, self._delta_vectors = ids[order], vectors[order]
        self._delta = (
            ExactIndex(self.metric, self._delta_ids, self._delta_vectors) if ids.shape[0] else None
        )

    # ------------------------------------------------------------ files

    def save(self, path: Path) -> None:
        """Write the index with its tombstones and delta; the file covers ``self.seq``."""
        state: dict[str, np.ndarray] = {
            "labels": self._labels,
            "dead": self._dead,
            "delta_ids": self._delta_ids,
            "delta_vectors": self._delta_vectors,
        }
        self.main.save(path, covers_seq=self.seq, state=state)
        self.unsaved = 0

    @classmethod
    def load(cls, path: Path, metric: Metric) -> LiveIndex:
        """A saved index; ``StoreError`` if any of its files is missing or damaged."""
        main, seq = AnnIndex.load(path)
        state = load_state(path)
        if "labels" not in state or main.config.metric != metric:
            raise StoreError(
                f"index file {path} was not written for this collection",
                hint="delete it; the store rebuilds indexes from its catalog",
            )
        live = cls(metric, main, seq, state["labels"])
        live._dead = state["dead"]
        live._set_delta(state["delta_ids"], state["delta_vectors"])
        return live

    # ------------------------------------------------------------ search

    def search(
        self,
        queries: Matrix,
        k: int,
        *,
        allowed: IdArray | None = None,
        ef_search: int | None = None,
        nprobe: int | None = None,
    ) -> Neighbours:
        """Top ``k`` live records per query; ``allowed`` (ascending ids) restricts them."""
        parts = [self._search_main(queries, k, allowed, ef_search, nprobe)]
        if self._delta is not None:
            parts.append(self._delta.search(queries, k, allowed))
        return merge(parts, k)

    def _search_main(
        self,
        queries: Matrix,
        k: int,
        allowed: IdArray | None,
        ef_search: int | None,
        nprobe: int | None,
    ) -> Neighbours:
        excluded = None
        if allowed is not None and self._dead.shape[0]:
            allowed = np.setdiff1d(allowed, self._dead, assume_unique=True)
        elif allowed is None and self._dead.shape[0]:
            excluded = self._dead
            ef_search = widen(ef_search or self.main.config.ef_search, 1 - self.garbage_ratio)
            nprobe = widen(nprobe or self.main.config.nprobe, 1 - self.garbage_ratio)
        size = len(self.main)
        if allowed is not None and allowed.shape[0] == 0 or size == 0:
            return Neighbours.empty(queries.shape[0])
        scores, labels = self.main.search(
            queries,
            min(k, size),
            ef_search=ef_search,
            nprobe=nprobe,
            allowed=allowed,
            excluded=excluded,
        )
        return Neighbours(labels, scores)

    def live_ids(self) -> IdArray:
        """Every live record id, ascending."""
        main = np.setdiff1d(self._labels, self._dead, assume_unique=True)
        return np.union1d(main, self._delta_ids)

    def exact_search(self, queries: Matrix, k: int, ids: IdArray) -> Neighbours | None:
        """True top ``k`` among the live records of ``ids`` (ascending), scored in the
        index's own storage and the delta without copying vectors out; ``None`` when
        the family keeps no float vectors (IVF without rerank)."""
        found = self.main.score_exactly(
            queries, k, np.setdiff1d(ids, self._dead, assume_unique=True)
        )
        if found is None:
            return None
        parts = [Neighbours(found[1], found[0])]
        if self._delta is not None:
            parts.append(self._delta.search(queries, k, ids))
        return merge(parts, k)


def widen(knob: int, live_fraction: float) -> int:
    """Scale a search-width knob by the share of the index a search may return."""
    return math.ceil(knob / max(live_fraction, 1e-3))


def merge(parts: Sequence[Neighbours], k: int) -> Neighbours:
    """Best ``k`` per query across partial results; missing slots are id -1, score -inf."""
    if len(parts) == 1:
        return parts[0]
    ids = np.concatenate([p.ids for p in parts], axis=1)
    scores = np.concatenate([p.scores for p in parts], axis=1)
    if ids.shape[1] == 0:
        return Neighbours(ids, scores)
    scores = np.where(ids < 0, -np.inf, scores).astype(np.float32)
    best = top_k(scores, k)
    return Neighbours(
        np.take_along_axis(ids, best, axis=1), np.take_along_axis(scores, best, axis=1)
    )
