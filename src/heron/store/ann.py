"""FAISS approximate index families as plain, typed building blocks.

Scope: ``AnnConfig`` (a frozen pydantic model naming one family and its knobs),
``build_index`` and ``AnnIndex`` (search with per-query ``ef_search``/``nprobe``,
in-index filtering through a FAISS ``IDSelectorBatch``, exact scoring of chosen
labels where their vectors are stored (``score_exactly``), add, remove, and
``save``/``load`` with an atomic write and a JSON sidecar recording the change
sequence the file covers). Labels are the store's row ids (int64). Scores are
higher-is-better as everywhere in ``heron.store``: cosine similarity (vectors and
queries are normalised, then inner product), dot product, or negated euclidean
distance. Missing results (fewer than ``k`` reachable or allowed) come back as
label ``-1`` with score ``-inf``.

Families: ``flat`` (IndexIDMap2 over IndexFlat, exact), ``hnsw`` (IndexIDMap2 over
IndexHNSWFlat), ``ivf_flat`` and ``ivf_pq`` (IndexIVF keeps the ids itself). With
``rerank > 0`` the float vectors are kept beside the index (and saved as a
``.vectors.npz`` file) and the top ``max(k, rerank)`` candidates are re-scored
exactly. Automatic choices: ``nlist = round(4 * sqrt(n))`` (clamped to ``[1, n]``);
PQ ``m`` = the largest divisor of the dimension that is ``<= dim / 4``, i.e.
sub-vectors of at least 4 floats (384-d -> 96 bytes a vector, 16x smaller than
float32), the usual accuracy/size balance for 8-bit codes.

Removal: flat and IVF families remove ids in place. FAISS HNSW cannot remove
nodes, so ``remove`` raises a ``StoreError`` for ``hnsw``: the collection keeps
deletes as tombstones, passes the live ids (or excludes the dead ones) through the
selector at search time, and purges them by rebuilding on compaction.

Measured with tests/store/test_ann.py's data (8,000 seeded 384-d vectors around
500 unit-variance centres with noise 1.2, shuffled sparse row ids, 100 queries drawn
the same way), cosine, recall@10 against exact float64 numpy, on the 2-core dev
box; times are wall-clock of one warm ``search`` over all 100 queries, two runs:

* recall at defaults: flat 1.000; hnsw (M 32, efC 200, ef 64) 1.000, ef 10 -> 0.983,
  16 -> 0.997; ivf_flat (nlist 358, nprobe 16) 0.989, nprobe 1 -> 0.969, 64 -> 0.999;
  ivf_pq (m 96, 8 bits, nprobe 16) 0.894 from codes alone, 0.989 with rerank 50.
* build: flat 0.01 s, hnsw 0.9 s, ivf_flat 0.13 s, ivf_pq 7.4 s (PQ k-means for 96
  sub-quantizers dominates; m 48 halves it, with recall 0.836 bare and the same
  0.989 reranked on this data). 100 queries: flat 15-32 ms, hnsw 4-5 ms, ivf_flat
  1.2-1.6 ms, ivf_pq + rerank 2.5-3.2 ms.
* filtered hnsw (``allowed`` through ``IDSelectorBatch``), recall vs exact filtered
  truth at ef 64 / 256 / 1024: 50% 0.978 / 0.999 / 1.0; 10% 0.825 / 0.986 / 1.0;
  1% (80 ids) 0.612 / 0.959 / 1.0, taking 10 / 25-43 / 72-78 ms. At low selectivity
  the graph walk meets few allowed nodes, so recall needs ef far above the default,
  while exact scoring of 80 candidate vectors is both exact and far cheaper: the
  planner must use exact search over the candidate ids for very selective filters
  and raise ef (or post-filter) in between.

Collections use these through ``live.py`` (kept current by the change log),
``indexing.py`` (files, rebuilds, compaction) and ``planner.py`` (filters).
"""

from __future__ import annotations

import json
import math
import os
import zlib
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from heron.errors import ConfigError, InputError, StoreError
from heron.store.index import ExactIndex, top_k

AnnKind = Literal["flat", "hnsw", "ivf_flat", "ivf_pq"]
AnnMetric = Literal["cosine", "l2", "ip"]
IdArray = NDArray[np.int64]
Matrix = NDArray[np.float32]

#: version of the sidecar layout; ``load`` refuses newer ones
SIDECAR_FORMAT = 1
#: distinct search widths whose FAISS parameters an index keeps for reuse
MAX_SHARED_PARAMS = 64
#: up to this many queries, exact scoring reads the chosen rows in place per query
#: (``score_exactly``); a larger batch gathers them once and multiplies
BY_INDEX_MAX_QUERIES = 8


class AnnConfig(BaseModel):
    """One index family and its parameters; ``None`` means "choose from the data"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: AnnKind
    metric: AnnMetric = "cosine"
    m: int = Field(default=32, ge=2, le=512, description="HNSW links per node")
    ef_construction: int = Field(default=200, ge=1)
    ef_search: int = Field(default=64, ge=1)
    nlist: int | None = Field(default=None, ge=1, description="IVF cells; None = round(4*sqrt(n))")
    nprobe: int = Field(default=16, ge=1)
    pq_m: int | None = Field(default=None, ge=1, description="PQ sub-quantizers; must divide dim")
    pq_nbits: int = Field(default=8, ge=1, le=16)
    #: re-score this many candidates exactly with stored float vectors; 0 = off
    rerank: int = Field(default=0, ge=0)

    @classmethod
    def parse(cls, **values: Any) -> AnnConfig:
        """Validate ``values``, turning pydantic's error into a ``ConfigError``."""
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ConfigError(
                f"invalid index config: {problems}",
                hint="kinds are flat, hnsw, ivf_flat, ivf_pq; metrics cosine, l2, ip",
            ) from None


def auto_nlist(n: int) -> int:
    """IVF cells for ``n`` vectors: about 4*sqrt(n), at least 1 and at most n."""
    return max(1, min(n, round(4 * math.sqrt(n))))


def auto_pq_m(dim: int) -> int:
    """The largest divisor of ``dim`` leaving sub-vectors of at least 4 floats."""
    return max(m for m in range(1, max(1, dim // 4) + 1) if dim % m == 0)


def _check_matrix(
    vectors: np.ndarray, labels: np.ndarray, dim: int | None
) -> tuple[Matrix, IdArray]:
    """Contiguous float32 vectors and int64 labels, or an ``InputError`` saying what is wrong."""
    if vectors.ndim != 2 or vectors.shape[0] != labels.shape[0] or labels.ndim != 1:
        raise InputError(
            f"got vectors of shape {vectors.shape} and labels of shape {labels.shape}",
            hint="pass an n x d float32 matrix and n int64 labels",
        )
    if dim is not None and vectors.shape[1] != dim:
        raise InputError(f"vectors have dimension {vectors.shape[1]}, the index has {dim}")
    if not np.all(np.isfinite(vectors)):
        raise InputError("vectors contain NaN or infinity", hint="clean or drop those rows")
    ids = np.ascontiguousarray(labels, dtype=np.int64)
    if np.unique(ids).shape[0] != ids.shape[0]:
        raise InputError("labels contain duplicates", hint="give every vector its own row id")
    return np.ascontiguousarray(vectors, dtype=np.float32), ids


def _prepare(metric: AnnMetric, vectors: Matrix) -> Matrix:
    """A copy of ``vectors``, normalised for cosine (zero rows stay zero).

    ``faiss.normalize_L2`` works in place in C: for one query it costs a third of the
    numpy norm-and-divide, which matters when the search itself takes 0.1 ms."""
    out = np.array(vectors, dtype=np.float32, order="C", copy=True)
    if metric == "cosine":
        faiss.normalize_L2(out)
    return out


def _faiss_metric(metric: AnnMetric) -> int:
    return int(faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT)


def _check_training(config: AnnConfig, n: int, dim: int) -> tuple[int, int]:
    """(nlist, pq m) for an IVF family, or a ``ConfigError`` naming the shortfall."""
    nlist = config.nlist if config.nlist is not None else auto_nlist(n)
    pq_m = config.pq_m if config.pq_m is not None else auto_pq_m(dim)
    need = nlist
    if config.kind == "ivf_pq":
        if dim % pq_m:
            raise ConfigError(
                f"pq_m={pq_m} does not divide the dimension {dim}",
                hint=f"pick a divisor of {dim}, e.g. {auto_pq_m(dim)} (or leave pq_m unset)",
            )
        need = max(nlist, 2**config.pq_nbits)
    if n < need:
        raise ConfigError(
            f"{config.kind} needs at least {need} training vectors, got {n}",
            hint="add more vectors first, lower nlist/pq_nbits, or use 'flat' or 'hnsw'",
        )
    return nlist, pq_m


def check_trainable(config: AnnConfig, n: int, dim: int) -> None:
    """``ConfigError`` if ``n`` vectors of ``dim`` cannot train ``config`` (IVF families)."""
    if config.kind in ("ivf_flat", "ivf_pq"):
        _check_training(config, n, dim)


def _new_faiss_index(config: AnnConfig, n: int, dim: int) -> Any:
    """An empty (untrained) FAISS index for ``config`` over ``n`` training vectors."""
    metric = _faiss_metric(config.metric)
    if config.kind == "flat":
        return faiss.IndexIDMap2(faiss.IndexFlat(dim, metric))
    if config.kind == "hnsw":
        inner = faiss.IndexHNSWFlat(dim, config.m, metric)
        inner.hnsw.efConstruction = config.ef_construction
        inner.hnsw.efSearch = config.ef_search
        return faiss.IndexIDMap2(inner)
    nlist, pq_m = _check_training(config, n, dim)
    quantizer = faiss.IndexFlat(dim, metric)
    index: Any
    if config.kind == "ivf_flat":
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, metric)
    else:
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, pq_m, config.pq_nbits, metric)
    index.nprobe = config.nprobe
    return index


class _RerankStore:
    """Float vectors by label, for exact re-scoring of ANN candidates."""

    def __init__(self, ids: IdArray, vectors: Matrix) -> None:
        order = np.argsort(ids, kind="stable")
        self.ids, self.vectors = ids[order], vectors[order]

    def add(self, ids: IdArray, vectors: Matrix) -> None:
        merged = _RerankStore(
            np.concatenate([self.ids, ids]), np.concatenate([self.vectors, vectors])
        )
        self.ids, self.vectors = merged.ids, merged.vectors

    def remove(self, ids: IdArray) -> None:
        keep = ~np.isin(self.ids, ids)
        self.ids, self.vectors = self.ids[keep], self.vectors[keep]

    def rescore(self, metric: AnnMetric, queries: Matrix, labels: IdArray) -> NDArray[np.float32]:
        """Exact scores of each query against its candidate labels (-inf for -1)."""
        pos = np.clip(np.searchsorted(self.ids, labels), 0, max(0, self.ids.shape[0] - 1))
        cand = self.vectors[pos]  # nq x c x d
        if metric == "l2":
            scores = -np.linalg.norm(cand - queries[:, None, :], axis=2)
        else:
            scores = np.einsum("qcd,qd->qc", cand, queries)
        return np.where(labels < 0, -np.inf, scores).astype(np.float32)


class AnnIndex:
    """A built FAISS index whose labels are the store's row ids."""

    def __init__(self, config: AnnConfig, dim: int, index: Any, store: _RerankStore | None) -> None:
        self.config = config
        self.dim = dim
        self._index = index
        self._store = store
        self._order: tuple[IdArray, NDArray[np.intp]] | None = None
        #: IVF cells (1 for flat and hnsw); fixed once built, and read on every query
        self.nlist = int(getattr(index, "nlist", 1))
        #: search parameters without a selector, by (k, ef_search, nprobe)
        self._shared_params: dict[tuple[int, int | None, int | None], Any] = {}

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def keeps_vectors(self) -> bool:
        """Whether ``score_exactly`` can answer (IVF families keep vectors only to rerank)."""
        return self._store is not None or self.config.kind in ("flat", "hnsw")

    def add(self, vectors: np.ndarray, labels: np.ndarray) -> None:
        """Insert vectors under ``labels`` (IVF families use the cells trained at build).

        Labels must not already be in the index: an update is ``remove`` then ``add``
        (for hnsw, a rebuild), which is how replay of the change log applies it.
        """
        matrix, ids = _check_matrix(vectors, labels, self.dim)
        prepared = _prepare(self.config.metric, matrix)
        self._index.add_with_ids(prepared, ids)
        if self._store is not None:
            self._store.add(ids, prepared)

    def remove(self, labels: np.ndarray) -> int:
        """Drop ``labels``; returns how many were present. Not possible for ``hnsw``."""
        if self.config.kind == "hnsw":
            raise StoreError(
                "FAISS HNSW indexes cannot remove vectors",
                hint="exclude deleted ids through `allowed` at search and rebuild on compaction",
            )
        ids = np.ascontiguousarray(labels, dtype=np.int64)
        selector = faiss.IDSelectorBatch(ids.shape[0], faiss.swig_ptr(ids))
        removed = int(self._index.remove_ids(selector))
        if self._store is not None:
            self._store.remove(ids)
        return removed

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        ef_search: int | None = None,
        nprobe: int | None = None,
        allowed: np.ndarray | None = None,
        excluded: np.ndarray | None = None,
        rerank: int | None = None,
    ) -> tuple[NDArray[np.float32], IdArray]:
        """Top ``k`` (scores, labels) per query, best first; ``allowed`` restricts the
        labels, ``excluded`` rejects some (tombstones); at most one of the two.

        ``ef_search`` (hnsw), ``nprobe`` (ivf) and ``rerank`` (0 turns it off) override
        the config for this call only; other families ignore the knobs they lack.
        """
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise InputError(
                f"queries have shape {queries.shape}, the index has dimension {self.dim}"
            )
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}")
        depth = self._rerank_depth(rerank)
        prepared = _prepare(self.config.metric, np.ascontiguousarray(queries, dtype=np.float32))
        fetch = max(k, depth)
        params, _keep_alive = self._params(fetch, ef_search, nprobe, allowed, excluded)
        raw, labels = _search_with_threads(self._index, prepared, fetch, params)
        if self._store is not None and depth > 0:
            scores = self._store.rescore(self.config.metric, prepared, labels)
            return _best(scores, labels, k)
        scores = self._to_scores(raw, labels)
        if fetch == k:
            return scores, labels
        return scores[:, :k], labels[:, :k]  # FAISS sorts them already

    def _rerank_depth(self, rerank: int | None) -> int:
        """Candidates to re-score: the config's unless overridden; needs stored vectors."""
        depth = self.config.rerank if rerank is None else rerank
        if depth > 0 and self._store is None:
            raise InputError(
                "this index keeps no float vectors to re-rank with",
                hint="build it with rerank > 0 in its AnnConfig",
            )
        return max(0, depth)

    def _params(
        self,
        k: int,
        ef_search: int | None,
        nprobe: int | None,
        allowed: np.ndarray | None,
        excluded: np.ndarray | None = None,
    ) -> tuple[Any, Any]:
        """FAISS search parameters, and the selector's id array (kept alive by the caller).

        Without a selector the parameters depend on the width alone and FAISS only reads
        them, so they are built once per width and shared (this saves ~5 us a query)."""
        chosen = allowed if allowed is not None else excluded
        if chosen is None:
            key = (k, ef_search, nprobe)
            shared = self._shared_params.get(key)
            if shared is None:
                shared = self._new_params(k, ef_search, nprobe)
                if len(self._shared_params) >= MAX_SHARED_PARAMS:
                    self._shared_params.clear()
                self._shared_params[key] = shared
            return shared, None
        params = self._new_params(k, ef_search, nprobe)
        ids = np.ascontiguousarray(chosen, dtype=np.int64)
        batch = faiss.IDSelectorBatch(ids.shape[0], faiss.swig_ptr(ids))
        selector = batch if allowed is not None else faiss.IDSelectorNot(batch)
        params.sel = selector
        return params, (selector, batch, ids)

    def _new_params(self, k: int, ef_search: int | None, nprobe: int | None) -> Any:
        params: Any
        if self.config.kind == "hnsw":
            # missing from faiss's bundled type stubs, present at run time
            params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
            params.efSearch = max(k, ef_search or self.config.ef_search)
        elif self.config.kind == "flat":
            params = faiss.SearchParameters()
        else:
            params = faiss.SearchParametersIVF()
            params.nprobe = nprobe or self.config.nprobe
        return params

    def score_exactly(
        self, queries: np.ndarray, k: int, labels: IdArray
    ) -> tuple[NDArray[np.float32], IdArray] | None:
        """Exact top ``k`` (scores, labels) among ``labels``, scored where the vectors
        are stored (``None`` for IVF families without rerank, which keep none).

        FAISS's ``fvec_*_by_idx`` reads just those rows in place: at 10,000 of 100,000
        384-d vectors that is one pass over 15 MB, where copying them out, normalising
        the copy and multiplying read and wrote it five times (~10x slower for one query).
        """
        located = self._locate(labels)
        if located is None:
            return None
        wanted, rows, matrix = located
        nq = queries.shape[0]
        if wanted.shape[0] == 0:
            return np.full((nq, 0), -np.inf, np.float32), np.full((nq, 0), -1, np.int64)
        if nq > BY_INDEX_MAX_QUERIES:  # a batch: one gathered copy and BLAS beat re-reading
            exact = ExactIndex(self.config.metric, wanted, matrix[rows], owned=True)
            top = exact.search(np.ascontiguousarray(queries, dtype=np.float32), k)
            return top.scores, top.ids
        prepared = _prepare(self.config.metric, queries)
        table = np.ascontiguousarray(np.broadcast_to(rows.astype(np.int64), (nq, rows.shape[0])))
        scores = np.empty(table.shape, np.float32)
        # both are missing from faiss's bundled type stubs, present at run time
        by_index = (
            faiss.fvec_L2sqr_by_idx  # type: ignore[attr-defined]
            if self.config.metric == "l2"
            else faiss.fvec_inner_products_by_idx  # type: ignore[attr-defined]
        )
        with _OneThread() if nq == 1 else nullcontext():
            by_index(
                faiss.swig_ptr(scores),
                faiss.swig_ptr(prepared),
                faiss.swig_ptr(matrix),
                faiss.swig_ptr(table),
                self.dim,
                nq,
                rows.shape[0],
            )
        if self.config.metric == "l2":
            scores = -np.sqrt(np.maximum(scores, 0))
        best = top_k(scores, k)
        return np.take_along_axis(scores, best, axis=1), wanted[best]

    def _locate(self, labels: IdArray) -> tuple[IdArray, NDArray[np.intp], Matrix] | None:
        """(labels held, ascending; their rows in ``matrix``; the float storage)."""
        if self._store is not None:
            held, matrix = self._store.ids, self._store.vectors
            pos = None
        else:
            view = self._flat_view()
            if view is None:
                return None
            (held, order), matrix = self._label_order(), view
            pos = order
        at = np.searchsorted(held, labels)
        inside = at < held.shape[0]
        at, wanted = at[inside], labels[inside]
        hit = held[at] == wanted
        rows = at[hit] if pos is None else pos[at[hit]]
        return wanted[hit], rows, matrix

    def _flat_view(self) -> Matrix | None:
        """Zero-copy view of a flat or HNSW index's float storage, in insertion order."""
        if self.config.kind not in ("flat", "hnsw"):
            return None
        inner: Any = faiss.downcast_index(self._index.index)
        flat: Any = faiss.downcast_index(inner.storage) if self.config.kind == "hnsw" else inner
        n = int(flat.ntotal)
        data = faiss.rev_swig_ptr(flat.get_xb(), n * self.dim)
        return np.asarray(data, dtype=np.float32).reshape(n, self.dim)

    def _label_order(self) -> tuple[IdArray, NDArray[np.intp]]:
        """Labels sorted, and their positions in storage (cached until the next add)."""
        if self._order is None or self._order[0].shape[0] != len(self):
            labels = faiss.vector_to_array(self._index.id_map).astype(np.int64)
            order = np.argsort(labels, kind="stable")
            self._order = (labels[order], order)
        return self._order

    def _to_scores(self, raw: NDArray[np.float32], labels: IdArray) -> NDArray[np.float32]:
        """Higher-is-better scores, ``-inf`` where FAISS found nothing (``raw`` is ours)."""
        scores = -np.sqrt(np.maximum(raw, 0)) if self.config.metric == "l2" else raw
        missing = labels < 0
        if missing.any():
            scores[missing] = -np.inf
        out: NDArray[np.float32] = scores.astype(np.float32, copy=False)
        return out

    def save(
        self,
        path: str | os.PathLike[str],
        *,
        covers_seq: int,
        state: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Write the index, its vectors (with rerank), the caller's ``state`` arrays
        (``load_state`` reads them back) and then the sidecar, each atomically."""
        target = Path(path)
        _atomic(target, lambda tmp: faiss.write_index(self._index, str(tmp)))
        if self._store is not None:
            store = self._store
            _atomic(_vectors_path(target), lambda tmp: _save_vectors(tmp, store))
        state_crc = None
        if state is not None:
            arrays = dict(state)
            _atomic(_state_path(target), lambda tmp: _save_arrays(tmp, arrays))
            state_crc = _crc32(_state_path(target))
        sidecar = {
            "state_crc32": state_crc,
            "format": SIDECAR_FORMAT,
            "dimension": self.dim,
            "covers_seq": int(covers_seq),
            "ntotal": len(self),
            "config": self.config.model_dump(),
            "crc32": _crc32(target),
        }
        _atomic(_sidecar_path(target), lambda tmp: tmp.write_text(json.dumps(sidecar, indent=2)))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> tuple[AnnIndex, int]:
        """The saved index and the change sequence it covers; ``StoreError`` if unreadable."""
        target = Path(path)
        meta = _read_sidecar(target)
        config = AnnConfig.parse(**meta["config"])
        if not target.is_file() or _crc32(target) != meta.get("crc32"):
            raise StoreError(
                f"index file {target} is missing or does not match its sidecar",
                hint="delete it; the store rebuilds indexes from its catalog",
            )
        try:
            index = faiss.read_index(str(target))
            store = _load_vectors(_vectors_path(target)) if config.rerank else None
        except (RuntimeError, OSError, ValueError) as exc:
            raise StoreError(
                f"index file {target} is unreadable ({exc})",
                hint="delete it; the store rebuilds indexes from its catalog",
            ) from None
        return cls(config, int(meta["dimension"]), index, store), int(meta["covers_seq"])


def load_state(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The ``state`` arrays saved with an index ({} if none); ``StoreError`` if they do
    not match the sidecar (a crash between two renames)."""
    target = Path(path)
    meta = _read_sidecar(target)
    expected = meta.get("state_crc32")
    if expected is None:
        return {}
    state = _state_path(target)
    if not state.is_file() or _crc32(state) != expected:
        raise StoreError(
            f"index state file {state} is missing or does not match its sidecar",
            hint="delete the index file; the store rebuilds it from its catalog",
        )
    with np.load(state) as data:
        return {key: data[key] for key in data.files}


def remove_files(path: str | os.PathLike[str]) -> None:
    """Delete an index file and everything saved beside it (missing files are fine)."""
    target = Path(path)
    for file in (target, _sidecar_path(target), _vectors_path(target), _state_path(target)):
        file.unlink(missing_ok=True)
    target.with_name(target.stem + ".lock").unlink(missing_ok=True)


def _search_with_threads(
    index: Any, queries: Matrix, k: int, params: Any
) -> tuple[NDArray[np.float32], IdArray]:
    """FAISS ``search``, on one OpenMP thread for a single query (``_OneThread``)."""
    if queries.shape[0] > 1:
        raw, labels = index.search(queries, k, params=params)
        return raw, labels
    with _OneThread():
        raw, labels = index.search(queries, k, params=params)
    return raw, labels


class _OneThread:
    """Run a block on one OpenMP thread: FAISS parallelises over queries, so for a single
    query more threads only spin, and on a busy machine that spinning cost 20x
    (bench/vectors.py). A plain class, not a generator: it runs on every query."""

    def __enter__(self) -> None:
        self.before = faiss.omp_get_max_threads()
        if self.before > 1:
            faiss.omp_set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        if self.before > 1:
            faiss.omp_set_num_threads(self.before)


def _best(
    scores: NDArray[np.float32], labels: IdArray, k: int
) -> tuple[NDArray[np.float32], IdArray]:
    """The ``k`` highest scores per row, best first (a no-op order for plain FAISS output)."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(labels, order, axis=1)


def _crc32(path: Path) -> int:
    """Checksum tying a sidecar to the exact index file it describes (a crash between
    the two renames leaves a mismatch, which ``load`` reports instead of trusting
    ``covers_seq``)."""
    crc = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc


def _sidecar_path(target: Path) -> Path:
    return target.with_name(target.name + ".json")


def _vectors_path(target: Path) -> Path:
    return target.with_name(target.name + ".vectors.npz")


def _atomic(target: Path, write: Callable[[Path], object]) -> None:
    """Run ``write(tmp)`` then rename over ``target``, so readers never see half a file."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _state_path(target: Path) -> Path:
    return target.with_name(target.name + ".state.npz")


def _save_arrays(tmp: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(tmp, "wb") as handle:
        np.savez(handle, **arrays)  # type: ignore[arg-type]


def _save_vectors(tmp: Path, store: _RerankStore) -> None:
    with open(tmp, "wb") as handle:
        np.savez(handle, ids=store.ids, vectors=store.vectors)


def _load_vectors(path: Path) -> _RerankStore:
    with np.load(path) as data:
        return _RerankStore(data["ids"], data["vectors"])


def read_sidecar(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON sidecar of a saved index; ``StoreError`` if missing, unreadable or newer."""
    return _read_sidecar(Path(path))


def _read_sidecar(target: Path) -> dict[str, Any]:
    try:
        meta: dict[str, Any] = json.loads(_sidecar_path(target).read_text())
    except (OSError, ValueError) as exc:
        raise StoreError(
            f"index sidecar for {target} is missing or unreadable ({exc})",
            hint="delete the index file; the store rebuilds it from its catalog",
        ) from None
    if meta.get("format", 0) > SIDECAR_FORMAT:
        raise StoreError(
            f"index {target} has sidecar format {meta.get('format')}, newer than {SIDECAR_FORMAT}",
            hint="upgrade heron, or delete the index to rebuild it",
        )
    return meta


#: vectors added per FAISS call while building, so progress can be reported
BUILD_CHUNK = 10_000


def build_index(
    config: AnnConfig,
    vectors: np.ndarray,
    labels: np.ndarray,
    progress: Callable[[int, int], None] | None = None,
) -> AnnIndex:
    """Train (IVF families) and fill an index over ``vectors`` labelled by row ids;
    ``progress(done, total)`` is called after each chunk of vectors is added."""
    matrix, ids = _check_matrix(vectors, labels, None)
    n, dim = matrix.shape
    prepared = _prepare(config.metric, matrix)
    index = _new_faiss_index(config, n, dim)
    if not index.is_trained:
        index.train(prepared)
    for start in range(0, n, BUILD_CHUNK):
        stop = min(n, start + BUILD_CHUNK)
        index.add_with_ids(prepared[start:stop], ids[start:stop])
        if progress is not None:
            progress(stop, n)
    store = _RerankStore(ids, prepared) if config.rerank else None
    return AnnIndex(config, dim, index, store)
