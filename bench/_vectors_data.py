"""Data for ``bench/vectors.py``: vectors, queries, metadata, filters and exact ground truth.

Two data sets, both cached under ``bench/results/vectors_cache/<key>/`` where the
key hashes every parameter that changes the data (so a changed ``--n`` or seed
never reuses stale ground truth):

* ``synthetic``: ``centres`` Gaussian centres in ``dim`` dimensions (N(0, 1)), each
  vector a random centre plus N(0, ``noise``²) per coordinate; queries are drawn the
  same way (fresh noise), so each query has a home cluster. ``noise=2`` is chosen so
  the set is not trivial for HNSW: at 20k vectors, 89% of a query's true top-10 lie in
  its own cluster and FAISS HNSW (M=32, efC=200) needs efSearch ~64 for recall 0.95
  (noise 1.5: recall 0.96 already at ef=10; noise 3: clusters no longer matter).
* ``stdlib``: MiniLM (``bundled:minilm``) embeddings of Heron's stdlib corpus chunks,
  ingested with Heron into a temporary home (or read from ``--stdlib-home``);
  ``queries`` chunks are held out as queries; "clusters" are k-means cells
  (faiss.Kmeans, 50 cells) so the correlated filter has something to correlate with.

Metadata per vector (identical for every engine):

* ``cat``: a skewed category. Exactly 50% / 10% / 1% / 0.1% of the vectors get
  ``c0`` / ``c1`` / ``c2`` / ``c3``; the remaining 38.9% follow a Zipf tail over
  ``c4``..``c103``. Filtering on c0..c3 gives the four selectivities.
* ``num``: an integer uniform in 0..999 (range filter ``300 <= num < 400``, ~10%).
* ``grp``: the vector's cluster id mod 10. ``grp == query's own group`` is a
  filter correlated with the query (its neighbours mostly pass); ``grp == (own + 5)
  mod 10`` is anti-correlated (its true neighbours are all far away), the hard case
  for post-filtering and in-graph filtering.
* ``bucket``: uniform 0..9; the ids with ``bucket == 0`` (~10%) are the ones the
  delete test removes.

Ground truth is exact: float64 cosine over every vector (or every vector a filter
admits), top 10, computed once per data set and cached.

Left out: the optional 1M set (the float64 score pass is chunked, so it would work,
but it takes long on 2 cores), other metrics than cosine.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from _stacks import RESULTS_DIR

K = 10
CACHE_VERSION = 1
CAT_SHARES = (0.5, 0.1, 0.01, 0.001)
TAIL_CATEGORIES = 100
RANGE = (300, 400)
GROUPS = 10
STDLIB_CELLS = 50

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float32]
Mask = NDArray[np.bool_]


@dataclass(frozen=True)
class DataSpec:
    """Everything that determines a data set (hashed into its cache key)."""

    kind: Literal["synthetic", "stdlib"]
    n: int
    dim: int
    queries: int
    seed: int = 0
    centres: int = 1000
    noise: float = 2.0

    def key(self) -> str:
        fields = dict(self.__dict__, version=CACHE_VERSION)
        if self.kind == "stdlib":  # n and dim come from the corpus
            fields.update(n=0, dim=0, centres=0, noise=0)
        digest = hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:10]
        return f"{self.kind}-{digest}"

    def folder(self) -> Path:
        return RESULTS_DIR / "vectors_cache" / self.key()


@dataclass(frozen=True)
class Meta:
    """Per-vector metadata columns (position i = vector id i)."""

    cat: IntArray
    num: IntArray
    grp: IntArray
    bucket: IntArray

    def record(self, i: int) -> dict[str, Any]:
        return {
            "cat": f"c{int(self.cat[i])}",
            "num": int(self.num[i]),
            "grp": int(self.grp[i]),
            "bucket": int(self.bucket[i]),
        }

    def records(self, start: int, stop: int) -> list[dict[str, Any]]:
        return [self.record(i) for i in range(start, stop)]

    def take(self, ids: IntArray) -> Meta:
        return Meta(self.cat[ids], self.num[ids], self.grp[ids], self.bucket[ids])


@dataclass(frozen=True)
class FilterCase:
    """One metadata filter, possibly different per query (the correlated ones)."""

    name: str
    field: str
    #: equality value per query (``cat``/``grp``), or None for the range filter
    values: IntArray | None

    def where(self, qi: int) -> dict[str, Any]:
        """Heron's and Chroma's filter language (the same dialect)."""
        if self.values is None:
            return {"$and": [{"num": {"$gte": RANGE[0]}}, {"num": {"$lt": RANGE[1]}}]}
        value = int(self.values[qi])
        return {self.field: f"c{value}" if self.field == "cat" else value}

    def sql(self, qi: int) -> str:
        """LanceDB's SQL predicate."""
        if self.values is None:
            return f"num >= {RANGE[0]} AND num < {RANGE[1]}"
        value = int(self.values[qi])
        return f"cat = 'c{value}'" if self.field == "cat" else f"grp = {value}"

    def key(self, qi: int) -> tuple[str, int]:
        """Queries with equal keys share one filter (selector caches use it)."""
        return (self.field, -1 if self.values is None else int(self.values[qi]))

    def mask(self, meta: Meta, qi: int) -> Mask:
        if self.values is None:
            return (meta.num >= RANGE[0]) & (meta.num < RANGE[1])
        column = meta.cat if self.field == "cat" else meta.grp
        return np.asarray(column == int(self.values[qi]))


@dataclass
class Dataset:
    spec: DataSpec
    vectors: FloatArray  # n x d (memory-mapped from the cache)
    queries: FloatArray  # nq x d
    meta: Meta
    query_groups: IntArray  # each query's own group (cluster mod 10)
    truth: dict[str, IntArray]  # name -> nq x K ids ("all", "deleted", each filter)

    @property
    def n(self) -> int:
        return int(self.meta.cat.shape[0])

    @property
    def dim(self) -> int:
        return int(self.queries.shape[1])

    def filters(self) -> list[FilterCase]:
        return filter_cases(len(self.queries), self.query_groups)

    def deleted_ids(self) -> IntArray:
        return np.flatnonzero(self.meta.bucket == 0).astype(np.int64)

    def selectivity(self, case: FilterCase) -> float:
        return float(np.mean([case.mask(self.meta, qi).mean() for qi in range(len(self.queries))]))


FILTER_NAMES = (
    "cat 50%",
    "cat 10%",
    "cat 1%",
    "cat 0.1%",
    "range num 10%",
    "grp correlated 10%",
    "grp anti-correlated 10%",
)


def filter_cases(n_queries: int, query_groups: IntArray) -> list[FilterCase]:
    def cat(code: int) -> IntArray:
        return np.full(n_queries, code, np.int64)

    return [
        FilterCase("cat 50%", "cat", cat(0)),
        FilterCase("cat 10%", "cat", cat(1)),
        FilterCase("cat 1%", "cat", cat(2)),
        FilterCase("cat 0.1%", "cat", cat(3)),
        FilterCase("range num 10%", "num", None),
        FilterCase("grp correlated 10%", "grp", query_groups % GROUPS),
        FilterCase("grp anti-correlated 10%", "grp", (query_groups + GROUPS // 2) % GROUPS),
    ]


# ----------------------------------------------------------------------- making data


def synthetic(spec: DataSpec) -> tuple[FloatArray, FloatArray, IntArray, IntArray]:
    """Clustered Gaussian vectors and queries, with each one's cluster id."""
    rng = np.random.default_rng(spec.seed)
    centres = rng.standard_normal((spec.centres, spec.dim)).astype(np.float32)

    def draw(count: int) -> tuple[FloatArray, IntArray]:
        owners = rng.integers(0, spec.centres, count)
        out = np.empty((count, spec.dim), np.float32)
        for start in range(0, count, 10_000):
            stop = min(count, start + 10_000)
            noise = rng.standard_normal((stop - start, spec.dim), dtype=np.float32)
            out[start:stop] = centres[owners[start:stop]] + spec.noise * noise
        return out, owners.astype(np.int64)

    vectors, clusters = draw(spec.n)
    queries, query_clusters = draw(spec.queries)
    return vectors, queries, clusters, query_clusters


def stdlib_vectors(home: Path | None) -> FloatArray:
    """MiniLM vectors of the stdlib corpus: read from ``home`` or ingested into a temp home."""
    from heron.store import open_store

    if home is not None:
        store = open_store(home)
        try:
            best = max(store.list_collections(), key=lambda info: info.count)
            got = store.get_collection(best.name).get(include=["embeddings"])
        finally:
            store.close()
        assert got.embeddings is not None
        return np.asarray(np.stack(got.embeddings), np.float32)
    from heron.ingest import load_corpus, make_chunker
    from heron.ingest.pipeline import group_documents, ingest_groups

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(tmp)
        try:
            col = store.create_collection("stdlib", embedder="bundled:minilm", metric="cosine")
            ingest_groups(col, group_documents(load_corpus("stdlib")), make_chunker("structure"))
            got = col.get(include=["embeddings"])
        finally:
            store.close()
    assert got.embeddings is not None
    return np.asarray(np.stack(got.embeddings), np.float32)


def stdlib(spec: DataSpec, home: Path | None) -> tuple[FloatArray, FloatArray, IntArray, IntArray]:
    import faiss

    everything = stdlib_vectors(home)
    rng = np.random.default_rng(spec.seed)
    order = rng.permutation(everything.shape[0])
    queries = np.ascontiguousarray(everything[order[: spec.queries]])
    vectors = np.ascontiguousarray(everything[order[spec.queries :]])
    kmeans = faiss.Kmeans(vectors.shape[1], STDLIB_CELLS, niter=20, seed=spec.seed, spherical=True)
    kmeans.train(vectors)
    _, cells = kmeans.index.search(vectors, 1)
    _, query_cells = kmeans.index.search(queries, 1)
    return vectors, queries, cells[:, 0].astype(np.int64), query_cells[:, 0].astype(np.int64)


def make_meta(n: int, clusters: IntArray, seed: int) -> Meta:
    rng = np.random.default_rng(seed + 1)
    cat = np.empty(n, np.int64)
    order = rng.permutation(n)
    start = 0
    for code, share in enumerate(CAT_SHARES):
        stop = start + max(1, round(share * n))
        cat[order[start:stop]] = code
        start = stop
    weights = 1.0 / np.arange(1, TAIL_CATEGORIES + 1) ** 1.1
    tail = rng.choice(TAIL_CATEGORIES, size=n - start, p=weights / weights.sum())
    cat[order[start:]] = len(CAT_SHARES) + tail
    return Meta(
        cat=cat,
        num=rng.integers(0, 1000, n).astype(np.int64),
        grp=(clusters % GROUPS).astype(np.int64),
        bucket=rng.integers(0, 10, n).astype(np.int64),
    )


# ----------------------------------------------------------------------- ground truth


def exact_top_k(
    vectors: FloatArray,
    queries: FloatArray,
    mask_for: Callable[[int], Mask] | None = None,
    k: int = K,
    chunk: int = 20_000,
) -> IntArray:
    """Exact cosine top-k in float64, optionally restricted per query by a mask."""
    q = queries.astype(np.float64)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    masks = None if mask_for is None else np.stack([mask_for(i) for i in range(len(q))])
    best_ids = np.empty((len(q), 0), np.int64)
    best_scores = np.empty((len(q), 0), np.float64)
    for start in range(0, vectors.shape[0], chunk):
        block = vectors[start : start + chunk].astype(np.float64)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        scores = q @ block.T
        if masks is not None:
            scores[~masks[:, start : start + chunk]] = -np.inf
        ids = np.broadcast_to(np.arange(start, start + block.shape[0]), scores.shape)
        all_scores = np.concatenate([best_scores, scores], axis=1)
        all_ids = np.concatenate([best_ids, ids], axis=1)
        top = np.argsort(-all_scores, axis=1, kind="stable")[:, :k]
        best_scores = np.take_along_axis(all_scores, top, axis=1)
        best_ids = np.take_along_axis(all_ids, top, axis=1)
    best_ids[~np.isfinite(best_scores)] = -1  # fewer than k admitted
    return best_ids


def ground_truth(
    vectors: FloatArray, queries: FloatArray, meta: Meta, groups: IntArray
) -> dict[str, IntArray]:
    truth = {"all": exact_top_k(vectors, queries)}
    alive = meta.bucket != 0
    truth["deleted"] = exact_top_k(vectors, queries, lambda _qi: alive)
    for case in filter_cases(len(queries), groups):
        truth[case.name] = exact_top_k(vectors, queries, lambda qi, c=case: c.mask(meta, qi))
    return truth


# ----------------------------------------------------------------------- cache


def load_dataset(
    spec: DataSpec, stdlib_home: Path | None = None, log: Callable[[str], None] = print
) -> Dataset:
    """The data set from the cache, making (and caching) it first if needed."""
    folder = spec.folder()
    done = folder / "truth.npz"
    if not done.exists():
        folder.mkdir(parents=True, exist_ok=True)
        log(f"making {spec.kind} data into {folder} (once) ...")
        if spec.kind == "synthetic":
            vectors, queries, clusters, query_clusters = synthetic(spec)
        else:
            vectors, queries, clusters, query_clusters = stdlib(spec, stdlib_home)
        meta = make_meta(vectors.shape[0], clusters, spec.seed)
        groups = query_clusters % GROUPS
        np.save(folder / "vectors.npy", vectors)
        np.save(folder / "queries.npy", queries)
        np.savez(
            folder / "meta.npz",
            cat=meta.cat,
            num=meta.num,
            grp=meta.grp,
            bucket=meta.bucket,
            query_groups=groups,
        )
        log("exact ground truth (float64) ...")
        truth = ground_truth(vectors, queries, meta, groups)
        np.savez(done, **{name.replace(" ", "_"): ids for name, ids in truth.items()})
    return read_dataset(spec)


def read_dataset(spec: DataSpec, *, with_vectors: bool = True) -> Dataset:
    folder = spec.folder()
    vectors = (
        np.load(folder / "vectors.npy", mmap_mode="r")
        if with_vectors
        else np.empty((0, 0), np.float32)
    )
    queries = np.load(folder / "queries.npy")
    m = np.load(folder / "meta.npz")
    meta = Meta(m["cat"], m["num"], m["grp"], m["bucket"])
    raw = np.load(folder / "truth.npz")
    cases = filter_cases(len(queries), m["query_groups"])
    names = ["all", "deleted"] + [c.name for c in cases]
    truth = {name: raw[name.replace(" ", "_")] for name in names}
    return Dataset(spec, vectors, queries, meta, m["query_groups"], truth)


def recall_at_k(found: list[list[int]] | IntArray, truth: IntArray, k: int = K) -> float:
    """Mean over queries of |found ∩ truth| / |truth| (truth padded with -1 is shorter)."""
    total = 0.0
    for got, want in zip(found, truth, strict=True):
        wanted = {int(i) for i in want[:k] if i >= 0}
        if not wanted:
            total += 1.0
            continue
        total += len(wanted & {int(i) for i in list(got)[:k]}) / len(wanted)
    return total / len(truth)
