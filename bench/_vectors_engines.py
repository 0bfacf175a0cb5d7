"""Engine adapters for ``bench/vectors.py``: one small class per engine variant.

Every adapter takes the same vectors (float32, ids 0..n-1), the same metadata and
the same parameters (cosine; HNSW M=32, efConstruction=200) and exposes the same
operations, so the driver can time them identically:

=============  ===============================================================
heron-hnsw     ``create_collection(index={"kind": "hnsw", m=32, ef_construction=200})``,
               ``add`` in batches, ``build_index()``; ``query(ef_search=...)``;
               filtered queries go through Heron's planner with no knobs
heron-flat     ``index={"kind": "flat"}`` (today's only index: exact numpy)
faiss-hnsw     ``IndexIDMap(IndexHNSWFlat(d, 32, METRIC_INNER_PRODUCT))`` on
               L2-normalised vectors, ``efConstruction=200``, ``efSearch`` swept;
               filters and deletes through an ``IDSelectorBitmap`` in
               ``SearchParametersHNSW`` (FAISS has no metadata, no delete for HNSW)
faiss-flat     ``IndexFlatIP`` on normalised vectors: the exact baseline
hnswlib        ``Index("cosine", d)``, ``init_index(M=32, ef_construction=200)``,
               ``set_ef`` swept, ``mark_deleted``; no metadata filter (its filter
               is a Python callback per visited node, not a database feature)
chroma         ``PersistentClient``, ``configuration={"hnsw": {"space": "cosine",
               "max_neighbors": 32, "ef_construction": 200, "ef_search": ef,
               "num_threads": T}}``, ``add`` in batches <= ``get_max_batch_size()``,
               ``where`` filters. Chroma 1.5.9 applies a changed ``ef_search`` only to
               a freshly opened client (measured: ``modify`` alone leaves recall
               unchanged), so each ef is set with ``modify`` and the client reopened.
lance          ``lancedb.connect``, one table (id, vector, cat, num, grp, bucket),
               ``HnswFlat(distance_type="cosine", num_partitions=1, m=32,
               ef_construction=200)`` (a single HNSW graph, no quantisation);
               ``.ef()`` swept; ``.where(sql, prefilter=True)``
=============  ===============================================================

What each adapter's ``search`` returns is a list of external ids (ints) per query.
Insert-throughput tests create a separate small collection in a temporary folder.

Left out: IVF families of Heron and FAISS (their knobs differ; the HNSW curves are
the comparison the issue asks for), hnswlib filtering, Chroma's SPANN.
"""

from __future__ import annotations

import inspect
import shutil
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from _vectors_data import FilterCase, FloatArray, IntArray, K, Meta

M = 32
EF_CONSTRUCTION = 200
EF_SWEEP = (10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


def normalised(x: np.ndarray) -> FloatArray:
    x = np.ascontiguousarray(x, dtype=np.float32).copy()
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


class Engine(ABC):
    """One engine variant, persisted under ``path``."""

    name: ClassVar[str]
    #: the knob swept for the recall/QPS curve; () for exact engines
    knobs: ClassVar[tuple[int, ...]] = EF_SWEEP
    supports_filters: ClassVar[bool] = True
    #: why a feature is missing (shown in the report)
    notes: ClassVar[str] = ""

    def __init__(self, path: Path, dim: int, threads: int) -> None:
        self.path = path
        self.dim = dim
        self.threads = threads
        self.knob: int | None = None
        #: the index family actually built (Heron reports it; others are what they are)
        self.built_kind = self.name

    # lifecycle
    @abstractmethod
    def create(self) -> None: ...
    @abstractmethod
    def insert(self, ids: IntArray, vectors: FloatArray, meta: Meta) -> None: ...
    def finish_build(self) -> None:  # noqa: B027 - optional hook, most engines index on insert
        """Build whatever the inserts left for later (index training, lazy builds)."""

    @abstractmethod
    def close(self) -> None: ...
    @abstractmethod
    def open(self) -> None: ...

    # search
    def set_knob(self, knob: int | None) -> None:
        self.knob = knob

    @abstractmethod
    def search(
        self, query: FloatArray, k: int = K, case: FilterCase | None = None, qi: int = 0
    ) -> list[int]: ...
    def search_batch(self, queries: FloatArray, k: int = K) -> list[list[int]]:
        return [self.search(q[None, :], k) for q in queries]

    @abstractmethod
    def delete(self, ids: IntArray) -> None: ...

    @classmethod
    def available(cls) -> str | None:
        """None if the engine can run here, else why not."""
        return None


# --------------------------------------------------------------------------- Heron


def heron_has_ann() -> bool:
    from heron.store.collection import Collection

    return "ef_search" in inspect.signature(Collection.query).parameters


class HeronEngine(Engine):
    name = "heron-hnsw"
    kind = "hnsw"

    def index_config(self) -> dict[str, Any]:
        return {"kind": "hnsw", "m": M, "ef_construction": EF_CONSTRUCTION, "ef_search": 64}

    @classmethod
    def available(cls) -> str | None:
        return None if heron_has_ann() else "Heron's ANN indexes are not wired yet (no ef_search)"

    def _faiss_threads(self) -> None:
        try:
            import faiss
        except ImportError:
            return
        faiss.omp_set_num_threads(self.threads)

    def create(self) -> None:
        from heron.store import open_store

        self._faiss_threads()
        self.store = open_store(self.path)
        kwargs: dict[str, Any] = {}
        if heron_has_ann():
            kwargs["index"] = self.index_config()
        self.col = self.store.create_collection(
            "v", embedder=None, dimension=self.dim, metric="cosine", **kwargs
        )

    def insert(self, ids: IntArray, vectors: FloatArray, meta: Meta) -> None:
        self.col.add(
            ids=[str(int(i)) for i in ids],
            embeddings=vectors,
            metadatas=[meta.record(j) for j in range(len(ids))],
        )

    def finish_build(self) -> None:
        if hasattr(self.col, "build_index"):
            self.built_kind = str(self.col.build_index())
        else:  # today: the first query builds the exact index
            self.col.query(embeddings=np.zeros((1, self.dim), np.float32) + 1, k=1, include=[])

    def close(self) -> None:
        self.store.close()

    def open(self) -> None:
        from heron.store import open_store

        self._faiss_threads()
        self.store = open_store(self.path)
        self.col = self.store.get_collection("v")

    def _knobs(self, case: FilterCase | None) -> dict[str, Any]:
        if case is not None or self.knob is None or not heron_has_ann():
            return {}  # filtered: the planner chooses
        return {"ef_search": self.knob}

    def search(
        self, query: FloatArray, k: int = K, case: FilterCase | None = None, qi: int = 0
    ) -> list[int]:
        where = None if case is None else case.where(qi)
        hits = self.col.query(embeddings=query, k=k, where=where, include=[], **self._knobs(case))
        return [int(h.id) for h in hits[0]]

    def search_batch(self, queries: FloatArray, k: int = K) -> list[list[int]]:
        hits = self.col.query(embeddings=queries, k=k, include=[], **self._knobs(None))
        return [[int(h.id) for h in row] for row in hits]

    def delete(self, ids: IntArray) -> None:
        self.col.delete(ids=[str(int(i)) for i in ids])

    def compact(self) -> bool:
        if not hasattr(self.col, "compact"):
            return False
        self.col.compact()
        return True

    def explain(self, query: FloatArray, case: FilterCase | None, qi: int) -> dict[str, Any]:
        """Heron's plan for this query (strategy and estimates), if the API has ``explain``."""
        if not hasattr(self.col, "explain"):
            return {}
        where = None if case is None else case.where(qi)
        plan = self.col.explain(embeddings=query, k=K, where=where, **self._knobs(case))
        if hasattr(plan, "as_dict"):
            return dict(plan.as_dict())
        return {"strategy": str(getattr(plan, "strategy", plan))}


class HeronFlatEngine(HeronEngine):
    name = "heron-flat"
    kind = "flat"
    knobs = ()

    @classmethod
    def available(cls) -> str | None:
        return None

    def index_config(self) -> dict[str, Any]:
        return {"kind": "flat"}


# --------------------------------------------------------------------------- FAISS


def bitmap(mask: np.ndarray) -> Any:
    import faiss

    bits = np.packbits(mask.astype(np.uint8), bitorder="little")
    selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits))
    selector.bits_ref = bits  # keep the buffer alive as long as the selector
    return selector


class FaissHnswEngine(Engine):
    name = "faiss-hnsw"
    notes = "no metadata: filters and deletes are IDSelectorBitmap masks the caller builds"

    def __init__(self, path: Path, dim: int, threads: int) -> None:
        super().__init__(path, dim, threads)
        self.meta: Meta | None = None
        self.selectors: dict[tuple[str, int], Any] = {}
        self.alive: np.ndarray | None = None

    def _index(self) -> Any:
        import faiss

        hnsw = faiss.IndexHNSWFlat(self.dim, M, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = EF_CONSTRUCTION
        return hnsw

    def create(self) -> None:
        import faiss

        faiss.omp_set_num_threads(self.threads)
        self.index = self._index()
        self.path.mkdir(parents=True, exist_ok=True)

    def insert(self, ids: IntArray, vectors: FloatArray, meta: Meta) -> None:
        # ids are 0..n-1 in order, so FAISS's sequential ids are ours
        self.index.add(normalised(vectors))

    def close(self) -> None:
        import faiss

        faiss.write_index(self.index, str(self.path / "index.faiss"))
        del self.index

    def open(self) -> None:
        import faiss

        faiss.omp_set_num_threads(self.threads)
        self.index = faiss.read_index(str(self.path / "index.faiss"))

    def attach_meta(self, meta: Meta) -> None:
        """FAISS keeps no metadata: the caller holds it and builds the masks."""
        self.meta = meta

    def _params(self, selector: Any) -> Any:
        import faiss

        params = faiss.SearchParametersHNSW()
        if self.knob is not None:
            params.efSearch = self.knob
        if selector is not None:
            params.sel = selector
        return params

    def _selector(self, case: FilterCase | None, qi: int) -> Any:
        if case is None:
            return None if self.alive is None else self.selectors["alive"]
        assert self.meta is not None, "attach_meta first"
        key = case.key(qi)
        if key not in self.selectors:
            mask = case.mask(self.meta, qi)
            if self.alive is not None:
                mask = mask & self.alive
            self.selectors[key] = bitmap(mask)
        return self.selectors[key]

    def search(
        self, query: FloatArray, k: int = K, case: FilterCase | None = None, qi: int = 0
    ) -> list[int]:
        _, ids = self.index.search(
            normalised(query), k, params=self._params(self._selector(case, qi))
        )
        return [int(i) for i in ids[0] if i >= 0]

    def search_batch(self, queries: FloatArray, k: int = K) -> list[list[int]]:
        _, ids = self.index.search(
            normalised(queries), k, params=self._params(self._selector(None, 0))
        )
        return [[int(i) for i in row if i >= 0] for row in ids]

    def delete(self, ids: IntArray) -> None:
        alive = np.ones(self.index.ntotal, bool)
        alive[ids] = False
        self.alive = alive
        self.selectors = {"alive": bitmap(alive)}


class FaissFlatEngine(FaissHnswEngine):
    name = "faiss-flat"
    knobs = ()

    def _index(self) -> Any:
        import faiss

        return faiss.IndexFlatIP(self.dim)

    def _params(self, selector: Any) -> Any:
        import faiss

        params = faiss.SearchParameters()
        if selector is not None:
            params.sel = selector
        return params


# --------------------------------------------------------------------------- hnswlib


class HnswlibEngine(Engine):
    name = "hnswlib"
    supports_filters = False
    notes = "no metadata filter (a Python callback per node is not a database feature)"

    @classmethod
    def available(cls) -> str | None:
        try:
            import hnswlib  # noqa: F401
        except ImportError:
            return "hnswlib is not installed"
        return None

    def create(self) -> None:
        import hnswlib

        self.path.mkdir(parents=True, exist_ok=True)
        self.index = hnswlib.Index(space="cosine", dim=self.dim)
        self.index.init_index(max_elements=1024, M=M, ef_construction=EF_CONSTRUCTION)
        self.index.set_num_threads(self.threads)

    def insert(self, ids: IntArray, vectors: FloatArray, meta: Meta) -> None:
        need = self.index.get_current_count() + len(ids)
        if need > self.index.get_max_elements():
            self.index.resize_index(max(need, 2 * self.index.get_max_elements()))
        self.index.add_items(np.ascontiguousarray(vectors, np.float32), ids)

    def close(self) -> None:
        self.index.save_index(str(self.path / "index.bin"))
        del self.index

    def open(self) -> None:
        import hnswlib

        self.index = hnswlib.Index(space="cosine", dim=self.dim)
        self.index.load_index(str(self.path / "index.bin"))
        self.index.set_num_threads(self.threads)

    def set_knob(self, knob: int | None) -> None:
        super().set_knob(knob)
        if knob is not None:
            self.index.set_ef(max(knob, K))

    def search(
        self, query: FloatArray, k: int = K, case: FilterCase | None = None, qi: int = 0
    ) -> list[int]:
        labels, _ = self.index.knn_query(query, k=k)
        return [int(i) for i in labels[0]]

    def search_batch(self, queries: FloatArray, k: int = K) -> list[list[int]]:
        labels, _ = self.index.knn_query(queries, k=k)
        return [[int(i) for i in row] for row in labels]

    def delete(self, ids: IntArray) -> None:
        for i in ids:
            self.index.mark_deleted(int(i))


# --------------------------------------------------------------------------- Chroma


class ChromaEngine(Engine):
    name = "chroma"

    def create(self) -> None:
        from _stacks import chroma_client

        self.client = chroma_client(self.path)
        self.batch_max = int(self.client.get_max_batch_size())
        self.col = self.client.create_collection(
            "vectors",
            embedding_function=None,
            configuration={
                "hnsw": {
                    "space": "cosine",
                    "max_neighbors": M,
                    "ef_construction": EF_CONSTRUCTION,
                    "ef_search": 64,
                    "num_threads": self.threads,
                }
            },
        )

    def insert(self, ids: IntArray, vectors: FloatArray, meta: Meta) -> None:
        for start in range(0, len(ids), self.batch_max):
            stop = start + self.batch_max
            self.col.add(
                ids=[str(int(i)) for i in ids[start:stop]],
                embeddings=np.ascontiguousarray(vectors[start:stop]),
                metadatas=[meta.record(j) for j in range(start, min(stop, len(ids)))],
            )

    def close(self) -> None:
        from _stacks import release_chroma

        del self.col
        del self.client
        release_chroma()

    def open(self) -> None:
        from _stacks import chroma_client

        self.client = chroma_client(self.path)
        self.batch_max = int(self.client.get_max_batch_size())
        self.col = self.client.get_collection("vectors", embedding_function=None)
        current = self.col.configuration.get("hnsw") or {}
        if current.get("num_threads") not in (None, self.threads):
            self.col.modify(configuration={"hnsw": {"num_threads": self.threads}})
            self.close()
            self.open()

    def set_knob(self, knob: int | None) -> None:
        super().set_knob(knob)
        if knob is None:
            return
        self.col.modify(configuration={"hnsw": {"ef_search": knob}})
        self.close()  # 1.5.9 applies a new ef_search only to a freshly opened client
        self.open()

    def search(
        self, query: FloatArray, k: int = K, case: FilterCase | None = None, qi: int = 0
    ) -> list[int]:
        where = None if case is None else case.where(qi)
        got = self.col.query(query_embeddings=query, n_results=k, where=where, include=[])
        return [int(i) for i in got["ids"][0]]

    def search_batch(self, queries: FloatArray, k: int = K) -> list[list[int]]:
        got = self.col.query(query_embeddings=queries, n_results=k, include=[])
        return [[int(i) for i in row] for row in got["ids"]]

    def delete(self, ids: IntArray) -> None:
        for start in range(0, len(ids), self.batch_max):
            self.col.delete(ids=[str(int(i)) for i in ids[start : start + self.batch_max]])


# --------------------------------------------------------------------------- LanceDB


class LanceEngine(Engine):
    name = "lance"
    notes = "index built after the inserts (rows added later are searched flat until optimize)"

    @classmethod
    def available(cls) -> str | None:
        try:
            import lancedb  # noqa: F401
        except ImportError:
            return "lancedb is not installed"
        return None

    def _table(self, ids: IntArray, vectors: FloatArray, meta: Meta) -> Any:
        import pyarrow as pa

        flat = pa.array(np.ascontiguousarray(vectors, np.float32).ravel())
        return pa.table(
            {
                "id": pa.array(np.asarray(ids, np.int64)),
                "vector": pa.FixedSizeListArray.from_arrays(flat, self.dim),
                "cat": pa.array([f"c{int(c)}" for c in meta.cat]),
                "num": pa.array(meta.num),
                "grp": pa.array(meta.grp),
                "bucket": pa.array(meta.bucket),
            }
        )

    def create(self) -> None:
        import lancedb

        self.db = lancedb.connect(str(self.path))
        self.table: Any = None

    def insert(self, ids: IntArray, vectors: FloatArray, meta: Meta) -> None:
        data = self._table(ids, vectors, meta)
        if self.table is None:
            self.table = self.db.create_table("vectors", data)
        else:
            self.table.add(data)

    def finish_build(self) -> None:
        from lancedb.index import HnswFlat

        self.table.create_index(
            "vector",
            config=HnswFlat(
                distance_type="cosine", num_partitions=1, m=M, ef_construction=EF_CONSTRUCTION
            ),
        )

    def close(self) -> None:
        self.table = None
        self.db = None

    def open(self) -> None:
        import lancedb

        self.db = lancedb.connect(str(self.path))
        self.table = self.db.open_table("vectors")

    def _query(self, vector: Any, k: int) -> Any:
        q = self.table.search(vector).distance_type("cosine").limit(k).select(["id", "_distance"])
        return q.ef(self.knob) if self.knob is not None else q

    def search(
        self, query: FloatArray, k: int = K, case: FilterCase | None = None, qi: int = 0
    ) -> list[int]:
        q = self._query(query[0], k)
        if case is not None:
            q = q.where(case.sql(qi), prefilter=True)
        return [int(i) for i in q.to_arrow().column("id").to_pylist()]

    def search_batch(self, queries: FloatArray, k: int = K) -> list[list[int]]:
        got = self._query([q for q in queries], k).with_row_id(False).to_arrow()
        if "query_index" not in got.column_names:
            return super().search_batch(queries, k)
        out: list[list[int]] = [[] for _ in range(len(queries))]
        for qi, rid in zip(
            got.column("query_index").to_pylist(), got.column("id").to_pylist(), strict=True
        ):
            out[qi].append(int(rid))
        return out

    def delete(self, ids: IntArray) -> None:
        self.table.delete(f"id IN ({', '.join(str(int(i)) for i in ids)})")


ENGINES: dict[str, type[Engine]] = {
    cls.name: cls
    for cls in (
        HeronEngine,
        HeronFlatEngine,
        FaissHnswEngine,
        FaissFlatEngine,
        HnswlibEngine,
        ChromaEngine,
        LanceEngine,
    )
}
#: ``--engines`` names -> variants
FAMILIES: dict[str, tuple[str, ...]] = {
    "heron": ("heron-hnsw", "heron-flat"),
    "faiss": ("faiss-hnsw", "faiss-flat"),
    "hnswlib": ("hnswlib",),
    "chromadb": ("chroma",),
    "chroma": ("chroma",),
    "lancedb": ("lance",),
    "lance": ("lance",),
}


def variants(names: Sequence[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        for variant in FAMILIES.get(name, (name,)):
            if variant not in ENGINES:
                raise SystemExit(f"unknown engine {name!r}; known: {', '.join(FAMILIES)}")
            if variant not in out:
                out.append(variant)
    return out


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
