"""The behaviour every store backend must show, as a reusable pytest class.

A backend's test module subclasses ``CollectionConformance`` and provides a
``make_store`` fixture (class scope, so read-only tests can share one store)
returning a callable ``path -> Store``::

    class TestEmbeddedStore(CollectionConformance):
        @pytest.fixture(scope="class")
        @classmethod
        def make_store(cls) -> MakeStore:
            return open_store

The suite covers collections, CRUD, upsert/update semantics, every filter
operator, ``k`` results under filters, persistence across reopen, "a refused call
writes nothing", keyword search and sources. It uses the deterministic
``hash:64`` embedder only, so it runs offline in well under a second per test.
It needs pytest, which is a development dependency; nothing imports this module
at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from heron.errors import (
    CollectionNotFound,
    ConfigError,
    DimensionMismatch,
    FilterError,
    HeronError,
    InputError,
    StoreError,
)
from heron.store import Collection, Store
from heron.testing.fakes import HashEmbedder

MakeStore = Callable[[Path], Store]
EMBEDDER = "hash:64"

#: records for the filter tests; the comments say what each one exercises
FILTER_RECORDS: dict[str, dict[str, Any]] = {
    "r1": {"topic": "science", "year": 2019, "score": 0.5, "draft": False, "tags": ["ml", "ai"],
           "title": "Deep learning basics"},
    "r2": {"topic": "science", "year": 2021, "score": 0.9, "draft": True, "tags": ["physics"],
           "title": "Quantum fields"},
    "r3": {"topic": "history", "year": 2020, "score": 0.1, "tags": ["war", "ml"], "title": "Rome"},
    "r4": {"topic": "history", "year": 2023, "draft": False, "editor": None,
           "title": "Modern Europe"},
    "r5": {"topic": "art", "year": 2020.0, "score": 1, "tags": [], "title": "Impressionism"},
    "r6": {"year": "2020", "draft": 1, "tags": [1, 2]},  # string year, int (not bool) draft
    "r7": {},  # no metadata at all
}  # fmt: skip
ALL = sorted(FILTER_RECORDS)

#: (filter, ids it must return), covering every operator and the missing-key rules
FILTER_CASES: list[tuple[dict[str, Any], list[str]]] = [
    ({"topic": "science"}, ["r1", "r2"]),
    ({"topic": {"$eq": "history"}}, ["r3", "r4"]),
    ({"topic": {"$ne": "science"}}, ["r3", "r4", "r5", "r6", "r7"]),
    ({"year": 2020}, ["r3", "r5"]),
    ({"year": "2020"}, ["r6"]),
    ({"year": {"$gt": 2020}}, ["r2", "r4"]),
    ({"year": {"$gte": 2020}}, ["r2", "r3", "r4", "r5"]),
    ({"year": {"$lt": 2020}}, ["r1"]),
    ({"year": {"$lte": 2020}}, ["r1", "r3", "r5"]),
    ({"year": {"$gte": 2020, "$lt": 2023}}, ["r2", "r3", "r5"]),
    ({"score": {"$lte": 0.5}}, ["r1", "r3"]),
    ({"title": {"$gte": "Q"}}, ["r2", "r3"]),
    ({"topic": {"$in": ["art", "history"]}}, ["r3", "r4", "r5"]),
    ({"topic": {"$nin": ["art", "history"]}}, ["r1", "r2", "r6", "r7"]),
    ({"topic": {"$in": []}}, []),
    ({"topic": {"$nin": []}}, ALL),
    ({"draft": True}, ["r2"]),
    ({"draft": False}, ["r1", "r4"]),
    ({"draft": 1}, ["r6"]),
    ({"editor": None}, ["r4"]),
    ({"editor": {"$ne": None}}, ["r1", "r2", "r3", "r5", "r6", "r7"]),
    ({"tags": {"$contains": "ml"}}, ["r1", "r3"]),
    ({"tags": {"$contains": 2}}, ["r6"]),
    ({"title": {"$contains": "ant"}}, ["r2"]),
    ({"tags": {"$in": ["ml"]}}, []),  # comparisons never look inside lists
    ({"tags": {"$ne": "ml"}}, ALL),
    ({"$and": [{"topic": "science"}, {"year": {"$gt": 2020}}]}, ["r2"]),
    ({"$or": [{"topic": "art"}, {"draft": True}]}, ["r2", "r5"]),
    ({"topic": "history", "year": {"$lt": 2021}}, ["r3"]),
    ({"$or": [{"$and": [{"topic": "science"}, {"draft": False}]}, {"tags": {"$contains": "war"}}]},
     ["r1", "r3"]),
]  # fmt: skip

BAD_FILTERS: list[Any] = [
    "topic",
    ["topic"],
    {"topic": {"$regex": "sci"}},
    {"$not": {"topic": "science"}},
    {"year": {"$gt": True}},
    {"year": {"$gt": [2020]}},
    {"topic": {"$in": "science"}},
    {"$and": []},
    {"$or": {"topic": "art"}},
    {"$and": [1]},
    {"tags": ["ml"]},
    {"topic": {}},
    {"topic": {"$eq": {"a": 1}}},
    {"score": float("nan")},
    {"": 1},
    {"tags": {"$contains": None}},
]

#: write calls that must be refused, each with the error it raises
BadCall = Callable[[Any], object]  # Any: the calls pass wrongly typed arguments on purpose


def _add_meta(metadata: dict[Any, Any]) -> BadCall:
    return lambda c: c.add(["n1"], ["a"], metadatas=[metadata])


BAD_WRITES: list[tuple[str, BadCall, type[HeronError]]] = [
    ("duplicate ids", lambda c: c.add(["n1", "n1"], documents=["a", "b"]), InputError),
    ("empty ids", lambda c: c.add([], documents=[]), InputError),
    ("non-string id", lambda c: c.add([1], documents=["a"]), InputError),
    ("empty-string id", lambda c: c.add([""], documents=["a"]), InputError),
    ("length mismatch", lambda c: c.add(["n1", "n2"], documents=["a"]), InputError),
    ("dict metadata value", _add_meta({"x": {"y": 1}}), InputError),
    ("set metadata value", _add_meta({"x": {1}}), InputError),
    ("NaN metadata value", _add_meta({"x": float("nan")}), InputError),
    ("huge int metadata", _add_meta({"x": 2**70}), InputError),
    ("list of dicts", _add_meta({"x": [{"y": 1}]}), InputError),
    ("bool in a list", _add_meta({"x": [True]}), InputError),
    ("$-key", _add_meta({"$x": 1}), InputError),
    ("empty key", _add_meta({"": 1}), InputError),
    ("metadata not a dict", lambda c: c.add(["n1"], ["a"], metadatas=["x"]), InputError),
    ("NaN vector", lambda c: c.add(["n1"], embeddings=[[float("nan")] * 64]), InputError),
    ("inf vector", lambda c: c.add(["n1"], embeddings=[[float("inf")] + [0.0] * 63]), InputError),
    ("zero vector", lambda c: c.add(["n1"], embeddings=[[0.0] * 64]), InputError),
    ("wrong dimension", lambda c: c.add(["n1"], embeddings=[[1.0] * 8]), DimensionMismatch),
    ("ragged vectors", lambda c: c.add(["n1", "n2"], embeddings=[[1.0] * 64, [1.0]]), InputError),
    ("no vector source", lambda c: c.add(["n1"], metadatas=[{"a": 1}]), InputError),
    ("None document", lambda c: c.add(["n1", "n2"], documents=["a", None]), InputError),
    ("document not str", lambda c: c.add(["n1"], documents=[3]), InputError),
    ("add existing (mixed)", lambda c: c.add(["n1", "d1"], documents=["a", "b"]), InputError),
    ("update missing (mixed)", lambda c: c.update(["d1", "zz"], documents=["a", "b"]), InputError),
    ("update nothing", lambda c: c.update(["d1"]), InputError),
    ("upsert new w/o vector", lambda c: c.upsert(["zz"], metadatas=[{"a": 1}]), InputError),
    ("delete without ids/where", lambda c: c.delete(), InputError),
    ("delete with empty where", lambda c: c.delete(where={}), InputError),
    ("delete bad filter", lambda c: c.delete(where={"a": {"$bad": 1}}), FilterError),
]  # fmt: skip


def _seed(col: Collection) -> None:
    col.add(
        ["d1", "d2", "d3"],
        documents=["the cat sat on the mat", "dogs chase the cat", "python sqlite search"],
        metadatas=[{"topic": "pets", "n": 1}, {"topic": "pets", "n": 2}, {"topic": "code", "n": 3}],
    )


def _unit(values: list[float]) -> list[float]:
    norm = float(np.linalg.norm(values))
    return [v / norm for v in values]


class CollectionConformance:
    """Behaviour shared by every store backend; subclass and provide ``make_store``."""

    # ------------------------------------------------------------ fixtures

    @pytest.fixture
    def store_path(self, tmp_path: Path) -> Path:
        return tmp_path / "store"

    @pytest.fixture
    def store(self, make_store: MakeStore, store_path: Path) -> Iterator[Store]:
        store = make_store(store_path)
        yield store
        store.close()

    @pytest.fixture
    def col(self, store: Store) -> Collection:
        return store.create_collection("docs", embedder=EMBEDDER)

    @pytest.fixture
    def seeded(self, col: Collection) -> Collection:
        _seed(col)
        return col

    @pytest.fixture(scope="class")
    @classmethod
    def filtered(
        cls, make_store: MakeStore, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[Collection]:
        """Shared by the read-only filter tests of one class: built once, never written."""
        store = make_store(tmp_path_factory.mktemp("filtered"))
        col = store.create_collection("filtered", embedder=EMBEDDER)
        ids = list(FILTER_RECORDS)
        col.add(
            ids, documents=[f"record {i}" for i in ids], metadatas=list(FILTER_RECORDS.values())
        )
        yield col
        store.close()

    # ------------------------------------------------------------ collections

    def test_create_get_list_delete_collections(self, store: Store) -> None:
        store.create_collection("b", embedder=EMBEDDER)
        store.create_collection("a", embedder=None, metric="l2", dimension=3, metadata={"x": 1})
        infos = store.list_collections()
        assert [i.name for i in infos] == ["a", "b"]
        assert (infos[0].metric, infos[0].dimension, infos[0].embedder) == ("l2", 3, None)
        assert infos[0].metadata == {"x": 1} and infos[0].count == 0
        assert store.get_collection("b").embedder_spec == EMBEDDER
        store.delete_collection("a")
        assert [i.name for i in store.list_collections()] == ["b"]

    def test_dimension_comes_from_the_embedder(self, col: Collection) -> None:
        assert col.dimension == 64 and col.metric == "cosine"

    def test_missing_collection_error_lists_existing_names(self, store: Store) -> None:
        store.create_collection("news", embedder=EMBEDDER)
        store.create_collection("faq", embedder=EMBEDDER)
        with pytest.raises(CollectionNotFound) as err:
            store.get_collection("nope")
        assert "faq, news" in str(err.value)
        assert "heron ingest ... --collection nope" in str(err.value)
        with pytest.raises(CollectionNotFound):
            store.delete_collection("nope")

    def test_create_existing_is_refused_unless_exist_ok(
        self, seeded: Collection, store: Store
    ) -> None:
        with pytest.raises(StoreError, match="already exists"):
            store.create_collection("docs", embedder=EMBEDDER)
        again = store.create_collection("docs", embedder=EMBEDDER, exist_ok=True)
        assert again.count() == 3
        assert store.get_or_create_collection("docs", embedder=EMBEDDER).count() == 3
        assert store.get_or_create_collection("fresh", embedder=EMBEDDER).count() == 0

    @pytest.mark.parametrize("name", ["", "-x", "a b", "x" * 64, "a/b", "é", ".hidden", "ok\n"])
    def test_bad_collection_names_are_refused(self, store: Store, name: str) -> None:
        with pytest.raises(InputError):
            store.create_collection(name, embedder=EMBEDDER)
        assert store.list_collections() == []

    def test_bad_collection_settings_are_refused(self, store: Store) -> None:
        with pytest.raises(InputError):
            store.create_collection("x", embedder=EMBEDDER, metric="dot")  # type: ignore[arg-type]
        with pytest.raises(InputError):
            store.create_collection("x", embedder=None, dimension=0)
        with pytest.raises(ConfigError):
            store.create_collection("x", embedder="nosuchscheme:model")
        assert store.list_collections() == []

    def test_deleting_a_collection_removes_its_records(
        self, seeded: Collection, store: Store
    ) -> None:
        store.delete_collection("docs")
        with pytest.raises(CollectionNotFound):
            seeded.count()
        fresh = store.create_collection("docs", embedder=EMBEDDER)
        assert fresh.count() == 0 and fresh.get().ids == [] and fresh.sources() == {}
        assert fresh.keyword_search("cat") == []

    def test_collection_without_embedder(self, store: Store) -> None:
        col = store.create_collection("raw", embedder=None, metric="l2")
        assert col.dimension is None
        assert col.query(embeddings=[[1.0, 0.0]], k=3) == [[]]
        col.add(["a", "b"], embeddings=[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        assert col.dimension == 3 and col.info().dimension == 3
        with pytest.raises(DimensionMismatch):
            col.add(["c"], embeddings=[[1.0, 0.0]])
        with pytest.raises(ConfigError):
            col.add(["c"], documents=["text needs an embedder"])
        with pytest.raises(ConfigError):
            col.query(texts=["text"])

    # ------------------------------------------------------------ CRUD

    def test_add_then_get_in_insertion_order(self, seeded: Collection) -> None:
        got = seeded.get()
        assert got.ids == ["d1", "d2", "d3"]
        assert got.documents == [
            "the cat sat on the mat",
            "dogs chase the cat",
            "python sqlite search",
        ]
        assert got.metadatas is not None and got.metadatas[2] == {"topic": "code", "n": 3}
        assert got.embeddings is None and len(got) == 3
        assert seeded.count() == 3

    def test_get_by_ids_keeps_their_order_and_skips_missing(self, seeded: Collection) -> None:
        assert seeded.get(ids=["d3", "zz", "d1"]).ids == ["d3", "d1"]
        assert seeded.get(ids="d2").ids == ["d2"]
        assert seeded.get(ids=["d3", "d1"], where={"topic": "pets"}).ids == ["d1"]
        assert seeded.get(ids=[]).ids == []

    def test_get_limit_offset_and_include(self, seeded: Collection) -> None:
        assert seeded.get(limit=2).ids == ["d1", "d2"]
        assert seeded.get(limit=2, offset=2).ids == ["d3"]
        assert seeded.get(offset=1).ids == ["d2", "d3"]
        assert seeded.get(ids=["d3", "d2", "d1"], limit=1, offset=1).ids == ["d2"]
        assert seeded.get(limit=0).ids == []
        got = seeded.get(ids=["d1"], include=["embeddings"])
        assert got.documents is None and got.metadatas is None and got.embeddings is not None
        expected = HashEmbedder(64).embed("the cat sat on the mat")
        assert got.embeddings[0].dtype == np.float32
        np.testing.assert_allclose(got.embeddings[0], expected, rtol=1e-6)
        with pytest.raises(InputError):
            seeded.get(include=["vectors"])
        with pytest.raises(InputError):
            seeded.get(limit=-1)

    def test_metadata_values_round_trip(self, col: Collection) -> None:
        meta = {"s": "x", "i": 7, "f": 0.25, "b": True, "z": None, "ls": ["a", "b"], "ln": [1, 2.5]}
        col.add(["m"], documents=["meta"], metadatas=[meta])
        got = col.get(ids=["m"]).metadatas
        assert got == [meta]
        assert isinstance(got[0]["b"], bool) and isinstance(got[0]["i"], int)

    def test_add_with_embeddings_only(self, col: Collection) -> None:
        vector = _unit([1.0] * 64)
        col.add(["v"], embeddings=[vector], metadatas=[{"k": 1}])
        got = col.get(ids=["v"], include=["documents", "embeddings"])
        assert got.documents == [None]
        assert got.embeddings is not None
        np.testing.assert_allclose(got.embeddings[0], vector, rtol=1e-6)

    def test_upsert_updates_existing_and_adds_new(self, seeded: Collection) -> None:
        seeded.upsert(
            ["d1", "d9"], documents=["new text one", "brand new"], metadatas=[{"v": 1}, {"v": 9}]
        )
        got = seeded.get()
        assert got.ids == ["d1", "d2", "d3", "d9"]  # an update keeps the record's position
        assert got.documents is not None and got.documents[0] == "new text one"
        assert got.metadatas is not None and got.metadatas[0] == {"v": 1}
        hit = seeded.query(texts=["new text one"], k=1)[0][0]
        assert hit.id == "d1" and hit.score == pytest.approx(1.0, abs=1e-5)

    def test_update_documents_reembeds(self, seeded: Collection) -> None:
        seeded.update(["d3"], documents=["a completely different sentence"])
        got = seeded.get(ids=["d3"], include=["documents", "metadatas", "embeddings"])
        assert got.documents == ["a completely different sentence"]
        assert got.metadatas == [{"topic": "code", "n": 3}]  # metadata kept
        assert got.embeddings is not None
        expected = HashEmbedder(64).embed("a completely different sentence")
        np.testing.assert_allclose(got.embeddings[0], expected, rtol=1e-6)
        assert seeded.keyword_search("sqlite") == []
        assert [h.id for h in seeded.keyword_search("different")] == ["d3"]

    def test_update_metadata_only_keeps_vector_and_document(self, seeded: Collection) -> None:
        before = seeded.get(ids=["d2"], include=["documents", "embeddings"])
        seeded.update(["d2"], metadatas=[{"topic": "animals"}])
        after = seeded.get(ids=["d2"], include=["documents", "metadatas", "embeddings"])
        assert after.documents == before.documents
        assert after.metadatas == [{"topic": "animals"}]  # replaced, not merged
        assert after.embeddings is not None and before.embeddings is not None
        np.testing.assert_array_equal(after.embeddings[0], before.embeddings[0])
        assert seeded.get(where={"topic": "animals"}).ids == ["d2"]
        assert seeded.get(where={"n": 2}).ids == []

    def test_update_embeddings_only_keeps_document(self, seeded: Collection) -> None:
        vector = _unit([0.5] * 64)
        seeded.update(["d1"], embeddings=[vector])
        got = seeded.get(ids=["d1"], include=["documents", "embeddings"])
        assert got.documents == ["the cat sat on the mat"]
        assert got.embeddings is not None
        np.testing.assert_allclose(got.embeddings[0], vector, rtol=1e-6)

    def test_delete_by_ids_and_by_filter(self, seeded: Collection) -> None:
        assert seeded.delete(ids=["d1", "missing"]) == 1
        assert seeded.delete(where={"topic": "pets"}) == 1
        assert seeded.delete(ids=["d3"], where={"topic": "pets"}) == 0
        assert seeded.get().ids == ["d3"]
        assert seeded.delete(ids=[]) == 0
        assert [h.id for h in seeded.query(texts=["cat"], k=5)[0]] == ["d3"]
        assert seeded.keyword_search("cat") == []

    def test_every_write_moves_the_change_sequence(self, seeded: Collection) -> None:
        seqs = [seeded.info().last_seq]
        seeded.update(["d1"], metadatas=[{"a": 1}])
        seqs.append(seeded.info().last_seq)
        seeded.upsert(["d4"], documents=["four"])
        seqs.append(seeded.info().last_seq)
        seeded.delete(ids=["d2"])
        seqs.append(seeded.info().last_seq)
        assert seqs == sorted(set(seqs)) and seqs[0] > 0

    # ------------------------------------------------------------ refused writes

    @pytest.mark.parametrize(("label", "call", "error"), BAD_WRITES, ids=[b[0] for b in BAD_WRITES])
    def test_refused_write_leaves_nothing_behind(
        self, seeded: Collection, label: str, call: BadCall, error: type[HeronError]
    ) -> None:
        before = (seeded.get(include=["documents", "metadatas"]), seeded.info().last_seq)
        with pytest.raises(error):
            call(seeded)
        after = (seeded.get(include=["documents", "metadatas"]), seeded.info().last_seq)
        assert after == before, label

    def test_dimension_mismatch_message_says_what_to_do(self, store: Store) -> None:
        col = store.create_collection("big", embedder=EMBEDDER, dimension=384)
        with pytest.raises(DimensionMismatch) as err:
            col.add(["a"], documents=["text"])
        assert str(err.value) == (
            "collection 'big' stores 384-d vectors but the embedder gives 64-d; use the embedder "
            "the collection was created with (hash:64) or create a new collection"
        )
        with pytest.raises(DimensionMismatch, match="384-d.*8-d"):
            col.query(embeddings=[[1.0] * 8])
        assert col.count() == 0

    def test_replace_source_refusal_leaves_old_records(self, seeded: Collection) -> None:
        seeded.replace_source("a.md", "h1", ["a1"], ["alpha"], None, None)
        with pytest.raises(InputError):  # d1 belongs to no source: not ours to overwrite
            seeded.replace_source("a.md", "h2", ["a2", "d1"], ["x", "y"], None, None)
        assert seeded.sources() == {"a.md": "h1"}
        assert seeded.get(ids=["a1", "a2"]).ids == ["a1"]

    # ------------------------------------------------------------ filters

    @pytest.mark.parametrize(
        ("where", "expected"), FILTER_CASES, ids=[str(c[0]) for c in FILTER_CASES]
    )
    def test_filter_operator(
        self, filtered: Collection, where: dict[str, Any], expected: list[str]
    ) -> None:
        assert sorted(filtered.get(where=where).ids) == expected
        hits = filtered.query(texts=["record"], k=len(FILTER_RECORDS), where=where)[0]
        assert sorted(h.id for h in hits) == expected
        assert (
            sorted(h.id for h in filtered.keyword_search("record", k=10, where=where)) == expected
        )

    @pytest.mark.parametrize("where", BAD_FILTERS, ids=[repr(w) for w in BAD_FILTERS])
    def test_bad_filter_raises_filter_error(self, filtered: Collection, where: Any) -> None:
        with pytest.raises(FilterError) as err:
            filtered.get(where=where)
        assert "$gte" in str(err.value)  # the message lists the valid operators
        with pytest.raises(FilterError):
            filtered.query(texts=["x"], where=where)

    # ------------------------------------------------------------ vector search

    def test_query_ranks_by_similarity(self, seeded: Collection) -> None:
        hits = seeded.query(texts=["the cat sat on the mat"], k=2)[0]
        assert [h.id for h in hits][0] == "d1"
        assert hits[0].score == pytest.approx(1.0, abs=1e-5)
        assert hits[0].distance == pytest.approx(0.0, abs=1e-5)
        assert hits[0].score >= hits[1].score
        assert hits[0].document == "the cat sat on the mat" and hits[0].metadata is not None

    def test_query_is_exact(self, col: Collection) -> None:
        texts = [f"doc {i} about topic {i % 7} and item {i * 13 % 11}" for i in range(60)]
        col.add([f"t{i}" for i in range(60)], documents=texts)
        queries = ["topic 3 item 5", "doc 12", "about item 2"]
        vectors = HashEmbedder(64).embed_batch(texts)
        for query, hits in zip(queries, col.query(texts=queries, k=10), strict=True):
            sims = vectors @ HashEmbedder(64).embed(query)
            expected = np.sort(sims)[::-1][:10]
            np.testing.assert_allclose([h.score for h in hits], expected, atol=1e-5)

    def test_query_k_and_include(self, seeded: Collection) -> None:
        assert len(seeded.query(texts=["cat"], k=10)[0]) == 3
        hits = seeded.query(texts=["cat", "python"], k=1, include=[])
        assert len(hits) == 2 and [len(h) for h in hits] == [1, 1]
        assert hits[1][0].id == "d3"
        assert hits[0][0].document is None and hits[0][0].metadata is None
        assert hits[0][0].distance is None
        with pytest.raises(InputError):
            seeded.query(texts=["cat"], k=0)
        with pytest.raises(InputError):
            seeded.query(texts=["cat"], include=["embeddings"])
        with pytest.raises(InputError):
            seeded.query()
        with pytest.raises(InputError):
            seeded.query(texts=[])

    @pytest.mark.parametrize(
        ("where", "matches"),
        [({"b": 0}, 20), ({"i": {"$lt": 3}}, 3), ({"i": {"$gte": 0}}, 200), ({"b": 99}, 0)],
    )
    @pytest.mark.parametrize("k", [1, 5, 50])
    def test_filtered_query_returns_min_k_matches(
        self, col: Collection, where: dict[str, Any], matches: int, k: int
    ) -> None:
        n = 200
        col.add(
            [f"x{i}" for i in range(n)],
            documents=[f"item {i} in bucket {i % 10}" for i in range(n)],
            metadatas=[{"b": i % 10, "i": i} for i in range(n)],
        )
        hits = col.query(texts=["item in bucket 7"], k=k, where=where)[0]
        assert len(hits) == min(k, matches)
        allowed = set(col.get(where=where).ids)
        assert {h.id for h in hits} <= allowed
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)

    @pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
    def test_metric_scores_and_distances(self, store: Store, metric: str) -> None:
        col = store.create_collection("m", embedder=None, metric=metric)  # type: ignore[arg-type]
        vectors = np.array([[3.0, 4.0], [1.0, 0.0], [-2.0, 0.5]], dtype=np.float32)
        col.add(["a", "b", "c"], embeddings=vectors)
        query = np.array([2.0, 1.2], dtype=np.float32)  # no ties: any index orders them alike
        hits = col.query(embeddings=query, k=3)[0]
        if metric == "cosine":
            unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
            scores = unit @ (query / np.linalg.norm(query))
            distances = 1.0 - scores
        elif metric == "ip":
            scores = vectors @ query
            distances = -scores
        else:
            distances = np.linalg.norm(vectors - query, axis=1)
            scores = -distances
        order = np.argsort(-scores)
        assert [h.id for h in hits] == [["a", "b", "c"][i] for i in order]
        np.testing.assert_allclose([h.score for h in hits], scores[order], rtol=1e-5, atol=1e-6)
        got_distances = [h.distance if h.distance is not None else np.nan for h in hits]
        np.testing.assert_allclose(got_distances, distances[order], rtol=1e-5, atol=1e-5)

    def test_query_sees_writes_immediately(self, seeded: Collection) -> None:
        assert seeded.query(texts=["zebra crossing"], k=1)[0][0].id != "z"
        seeded.add(["z"], documents=["zebra crossing"])
        assert seeded.query(texts=["zebra crossing"], k=1)[0][0].id == "z"
        seeded.delete(ids=["z"])
        assert "z" not in {h.id for h in seeded.query(texts=["zebra crossing"], k=5)[0]}

    # ------------------------------------------------------------ keyword search

    def test_keyword_search_ranks_with_bm25(self, col: Collection) -> None:
        col.add(
            ["k1", "k2", "k3", "k4"],
            documents=[
                "running shoes for trail running",
                "a cookbook of soups",
                "the runner ran home",
                "shoes and socks",
            ],
            metadatas=[{"t": "a"}, {"t": "b"}, {"t": "a"}, {"t": "b"}],
        )
        hits = col.keyword_search("run", k=10)  # porter stemming: running -> run
        assert [h.id for h in hits] == ["k1"]
        hits = col.keyword_search("shoes running", k=10)
        assert [h.id for h in hits][0] == "k1" and {h.id for h in hits} == {"k1", "k4"}
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert hits[0].document == "running shoes for trail running"
        assert [h.id for h in col.keyword_search("shoes", k=10, where={"t": "b"})] == ["k4"]
        assert len(col.keyword_search("shoes running", k=1)) == 1

    @pytest.mark.parametrize(
        "text",
        ['"', "AND", "OR OR", "NEAR(", "cat*", "a:b", "^cat", "()", "-cat", "", "   ", "'",
         "NOT cat", 'cat" OR "dog', "{col}: x", "\x00", "🙂"],
    )  # fmt: skip
    def test_keyword_search_never_raises_on_user_text(self, seeded: Collection, text: str) -> None:
        hits = seeded.keyword_search(text)
        assert isinstance(hits, list)

    def test_keyword_search_handles_fts_syntax_words(self, seeded: Collection) -> None:
        assert {h.id for h in seeded.keyword_search('cat" AND NOT "dogs')} == {"d1", "d2"}

    # ------------------------------------------------------------ sources

    def test_replace_and_remove_source(self, col: Collection) -> None:
        col.replace_source("a.md", "h1", ["a#0", "a#1"], ["alpha one", "alpha two"], None, None)
        col.replace_source("b.md", "h1", ["b#0"], ["beta"], None, [{"lang": "en"}])
        assert col.sources() == {"a.md": "h1", "b.md": "h1"}
        assert col.get(ids=["b#0"]).metadatas == [{"lang": "en", "source": "b.md"}]
        col.replace_source("a.md", "h2", ["a#0"], ["alpha again"], None, None)
        assert col.sources()["a.md"] == "h2"
        assert col.get(where={"source": "a.md"}).documents == ["alpha again"]
        assert col.remove_source("a.md") == 1
        assert col.sources() == {"b.md": "h1"} and col.count() == 1
        assert col.remove_source("never-seen") == 0

    def test_replace_source_with_no_records_and_with_embeddings(self, col: Collection) -> None:
        vector = _unit([1.0] * 64)
        col.replace_source("v.md", "h1", ["v#0"], ["vec"], [vector], None)
        col.replace_source("v.md", "h2", [], [], None, None)  # the file is empty now
        assert col.count() == 0 and col.sources() == {"v.md": "h2"}
        with pytest.raises(InputError):
            col.replace_source("v.md", "h3", ["v#0"], ["x"], None, [{"source": "other.md"}])

    def test_deleted_and_replaced_vectors_are_never_returned(self, col: Collection) -> None:
        n = 300
        texts = [f"note {i} on shelf {i % 13} row {i * 7 % 17}" for i in range(n)]
        col.add([f"n{i}" for i in range(n)], documents=texts)
        col.query(texts=["note"], k=5)  # an index exists before the changes below
        gone = [f"n{i}" for i in range(0, n, 3)]
        col.delete(ids=gone)
        col.update(["n1"], documents=["a brand new text about zebras"])
        hits = col.query(texts=texts[:30], k=10, include=[])
        returned = {h.id for row in hits for h in row}
        assert not returned & set(gone)
        assert all(len(row) == 10 for row in hits)
        top = col.query(texts=["a brand new text about zebras"], k=1)[0][0]
        assert top.id == "n1" and top.score == pytest.approx(1.0, abs=1e-5)
        assert col.query(texts=[texts[1]], k=1)[0][0].id != "n1"  # its old vector is gone
        assert col.count() == n - len(gone)

    def test_explain_reports_strategy_and_matches(self, col: Collection) -> None:
        col.add(
            [f"e{i}" for i in range(50)],
            documents=[f"entry {i}" for i in range(50)],
            metadatas=[{"even": i % 2 == 0} for i in range(50)],
        )
        unfiltered = col.explain(texts=["entry"], k=5)
        assert unfiltered.strategy and unfiltered.matches is None
        filtered = col.explain(texts=["entry"], k=5, where={"even": True})
        assert filtered.matches == 25 and filtered.selectivity == pytest.approx(0.5)
        assert col.explain(texts=["entry"], where={"even": "no"}).strategy == "empty"

    # ------------------------------------------------------------ persistence

    def test_writes_after_a_search_persist_across_reopen(
        self, make_store: MakeStore, store: Store, store_path: Path
    ) -> None:
        col = store.create_collection("grow", embedder=EMBEDDER)
        col.add([f"g{i}" for i in range(100)], documents=[f"growing text {i}" for i in range(100)])
        col.query(texts=["growing"], k=3)
        col.add(["late"], documents=["a late arrival"])
        col.delete(ids=["g5"])
        store.close()
        reopened = make_store(store_path)
        try:
            again = reopened.get_collection("grow")
            assert again.count() == 100
            assert again.query(texts=["a late arrival"], k=1)[0][0].id == "late"
            assert "g5" not in {h.id for h in again.query(texts=["growing text 5"], k=100)[0]}
        finally:
            reopened.close()

    def test_everything_persists_across_reopen(
        self, make_store: MakeStore, store: Store, store_path: Path
    ) -> None:
        col = store.create_collection("keep", embedder=EMBEDDER, metric="ip", metadata={"v": 2})
        _seed(col)
        col.replace_source("s.md", "hash1", ["s1"], ["from a source"], None, None)
        info = col.info()
        store.close()
        with pytest.raises(StoreError):
            col.count()
        reopened = make_store(store_path)
        try:
            again = reopened.get_collection("keep")
            assert again.info() == info
            assert again.get().ids == ["d1", "d2", "d3", "s1"]
            assert again.sources() == {"s.md": "hash1"}
            assert again.query(texts=["python sqlite search"], k=1)[0][0].id == "d3"
            assert [h.id for h in again.keyword_search("source")] == ["s1"]
        finally:
            reopened.close()
