"""The cached view a query reuses while nothing was committed (``Catalog.state``).

A query reads the collection's row and index spec only when some connection
committed since the last query; otherwise it answers from the cached row and
index, and an unfiltered query for ids and scores runs no SQL but one
``PRAGMA data_version``. These tests pin both halves: the cache is used, and every
kind of change made elsewhere (another ``Store`` handle on the same folder, which
is another SQLite connection exactly as another process is) is still seen.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from heron.errors import CollectionNotFound
from heron.store import Store, open_store

DIM = 16
INCLUDES = [pytest.param((), id="ids-only"), pytest.param(None, id="default-include")]


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A store with one 400-vector HNSW collection, index built."""
    with open_store(tmp_path) as store:
        col = store.create_collection("v", embedder=None, dimension=DIM, index="hnsw")
        col.add([str(i) for i in range(400)], embeddings=_vectors(400))
        col.build_index()
    return tmp_path


def _ids(store: Store, query: np.ndarray, include: Sequence[str] | None, k: int = 3) -> list[str]:
    col = store.get_collection("v")
    hits = (
        col.query(embeddings=query, k=k)
        if include is None
        else col.query(embeddings=query, k=k, include=include)
    )
    return [hit.id for hit in hits[0]]


@contextmanager
def _statements(store: Store) -> Iterator[list[str]]:
    """Every SQL statement the store's connection runs inside the block."""
    seen: list[str] = []
    store.catalog.conn.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        store.catalog.conn.set_trace_callback(None)


def test_an_unchanged_store_answers_ids_from_the_cache_with_one_pragma(home: Path) -> None:
    with open_store(home) as store:
        col = store.get_collection("v")
        query = _vectors(400)[7]
        col.query(embeddings=query, k=3, include=[])  # loads the index, caches the view
        with _statements(store) as seen:
            hits = col.query(embeddings=query, k=3, include=["distances"])
        assert hits[0][0].id == "7" and hits[0][0].distance == pytest.approx(0.0, abs=1e-5)
        assert seen == ["PRAGMA data_version"]


def test_an_unchanged_store_reads_no_collection_row_for_documents(home: Path) -> None:
    with open_store(home) as store:
        col = store.get_collection("v")
        col.query(embeddings=_vectors(400)[7], k=3)
        with _statements(store) as seen:
            assert col.query(embeddings=_vectors(400)[8], k=3)[0][0].id == "8"
        assert seen[:2] == ["BEGIN", "PRAGMA data_version"]
        assert not [s for s in seen if "FROM collections" in s or "collection_index" in s]


def test_a_filtered_query_still_reads_its_matches(home: Path) -> None:
    with open_store(home) as store:
        col = store.get_collection("v")
        col.update(["5", "6"], metadatas=[{"tag": "x"}, {"tag": "x"}])
        got = col.query(embeddings=_vectors(400)[6], k=3, where={"tag": "x"}, include=[])
        assert [h.id for h in got[0]] == ["6", "5"]


@pytest.mark.parametrize("include", INCLUDES)
def test_writes_through_another_handle_are_seen(home: Path, include: Sequence[str] | None) -> None:
    with open_store(home) as reader, open_store(home) as writer:
        query = _vectors(1, seed=5)[0]
        assert "late" not in _ids(reader, query, include)  # cached from here on
        theirs = writer.get_collection("v")
        theirs.add(["late"], embeddings=query[None, :])
        assert _ids(reader, query, include)[0] == "late"
        theirs.update(["3"], embeddings=(query + 1e-3)[None, :])
        assert _ids(reader, query, include)[:2] == ["late", "3"]
        theirs.delete(["late"])
        assert _ids(reader, query, include)[0] == "3"
        theirs.delete(["3"])
        assert not {"late", "3"} & set(_ids(reader, query, include, k=10))


@pytest.mark.parametrize("include", INCLUDES)
def test_writes_through_the_same_store_are_seen(home: Path, include: Sequence[str] | None) -> None:
    with open_store(home) as store:
        one, two = store.get_collection("v"), store.get_collection("v")
        query = _vectors(1, seed=9)[0]
        _ids(store, query, include)
        two.add(["mine"], embeddings=query[None, :])
        assert one.query(embeddings=query, k=1, include=[])[0][0].id == "mine"
        assert _ids(store, query, include)[0] == "mine"


@pytest.mark.parametrize("include", INCLUDES)
def test_a_collection_deleted_by_another_handle_is_not_found(
    home: Path, include: Sequence[str] | None
) -> None:
    with open_store(home) as reader, open_store(home) as writer:
        col = reader.get_collection("v")
        _ids(reader, _vectors(1)[0], include)
        writer.delete_collection("v")
        with pytest.raises(CollectionNotFound):
            col.query(embeddings=_vectors(1)[0], k=3, include=[])
        with pytest.raises(CollectionNotFound):
            col.query(embeddings=_vectors(1)[0], k=3)


def test_a_collection_deleted_through_the_same_store_is_not_found(home: Path) -> None:
    with open_store(home) as store:
        col = store.get_collection("v")
        col.query(embeddings=_vectors(1)[0], k=3, include=[])
        store.delete_collection("v")
        with pytest.raises(CollectionNotFound):
            col.query(embeddings=_vectors(1)[0], k=3, include=[])


def test_a_recreated_collection_is_not_answered_from_the_old_cache(home: Path) -> None:
    with open_store(home) as reader, open_store(home) as writer:
        old = reader.get_collection("v")
        old.query(embeddings=_vectors(1)[0], k=3, include=[])
        writer.delete_collection("v")
        new = writer.create_collection("v", embedder=None, dimension=DIM, index="hnsw")
        new.add(["only"], embeddings=_vectors(1, seed=3))
        with pytest.raises(CollectionNotFound):  # the old handle names the old collection
            old.query(embeddings=_vectors(1)[0], k=3, include=[])
        assert _ids(reader, _vectors(1)[0], ())[0] == "only"


def test_an_index_change_by_another_handle_is_seen(home: Path) -> None:
    with open_store(home) as reader, open_store(home) as writer:
        col = reader.get_collection("v")
        col.query(embeddings=_vectors(1)[0], k=3, include=[])
        writer.get_collection("v").set_index("flat")
        assert col.explain(embeddings=_vectors(1)[0], k=3).index == "flat"
        exact = col.query(embeddings=_vectors(400)[11], k=3, include=[])
        assert exact[0][0].id == "11"


def test_a_handle_learns_the_dimension_another_handle_fixed(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        store.create_collection("v", embedder=None, index="hnsw")
        first, second = store.get_collection("v"), store.get_collection("v")
        assert second.dimension is None
        first.add(["a", "b"], embeddings=_vectors(2))
        first.query(embeddings=_vectors(1)[0], k=1, include=[])
        second.query(embeddings=_vectors(1)[0], k=1, include=[])
        assert second.dimension == DIM
