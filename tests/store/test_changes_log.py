"""The changes log is pruned once no index needs it, without losing a delete.

Two ``Store`` objects on one folder stand in for two processes: each has its own
``Indexer`` and cached indexes, as separate processes would.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from heron.store import Store, catalog, collection, open_store
from heron.store.ann import read_sidecar
from heron.store.catalog import DB_NAME
from heron.store.live import LiveIndex
from heron.store.lock import StoreLocked

DIM = 16


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)


def _log_rows(home: Path) -> int:
    with sqlite3.connect(home / DB_NAME) as conn:
        found = conn.execute("SELECT COUNT(*) FROM changes").fetchone()
    conn.close()
    return int(found[0])


def _ids(store: Store, query: np.ndarray, k: int) -> set[str]:
    return {h.id for h in store.get_collection("v").query(embeddings=query, k=k, include=[])[0]}


def _hnsw(home: Path, n: int = 400) -> None:
    with open_store(home) as store:
        col = store.create_collection("v", embedder=None, dimension=DIM, index="hnsw")
        col.add([str(i) for i in range(n)], embeddings=_vectors(n))
        col.build_index()


def test_compact_prunes_the_log_of_an_exact_collection(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        col = store.create_collection("e", embedder=None, dimension=DIM)
        for start in range(0, 300, 50):
            col.add([str(i) for i in range(start, start + 50)], embeddings=_vectors(50, start))
        col.delete(ids=["0", "1"])
        assert _log_rows(tmp_path) == 302
        report = col.compact()
        assert report.log_pruned == 302 and _log_rows(tmp_path) == 0
        assert col.info().count == 298
        col.add(["late"], embeddings=_vectors(1, seed=99))
        hits = col.query(embeddings=_vectors(1, seed=99), k=1)[0]
        assert hits[0].id == "late" and _log_rows(tmp_path) == 1


def test_a_reader_behind_the_pruned_log_reloads_and_misses_no_delete(tmp_path: Path) -> None:
    _hnsw(tmp_path)
    with open_store(tmp_path) as reader, open_store(tmp_path) as writer:
        query = _vectors(400)[10]
        assert "10" in _ids(reader, query, 5)  # the reader caches the index at this seq
        stale = reader.indexer.cached(1)
        col = writer.get_collection("v")
        col.delete(ids=[str(i) for i in range(0, 40)])
        col.add(["fresh"], embeddings=_vectors(1, seed=7))
        report = col.compact()
        assert report.log_pruned > 0 and _log_rows(tmp_path) == 0
        # The reader cannot replay the pruned deletes, so it reloads the compacted file.
        found = _ids(reader, query, 20)
        assert not found & {str(i) for i in range(40)}
        assert reader.indexer.cached(1) is not stale
        assert _ids(reader, _vectors(1, seed=7)[0], 1) == {"fresh"}
        live = reader.indexer.cached(1)
        assert isinstance(live, LiveIndex) and len(live) == 361 and live.garbage == 0


def test_a_reader_at_the_head_keeps_its_index_after_pruning(tmp_path: Path) -> None:
    _hnsw(tmp_path)
    with open_store(tmp_path) as reader, open_store(tmp_path) as writer:
        writer.get_collection("v").delete(ids=["1"])
        writer.get_collection("v").compact()
        assert "1" not in _ids(reader, _vectors(400)[1], 10)
        kept = reader.indexer.cached(1)
        writer.get_collection("v").add(["n"], embeddings=_vectors(1, seed=3))
        assert _ids(reader, _vectors(1, seed=3)[0], 1) == {"n"}
        assert reader.indexer.cached(1) is kept  # replayed the new change, no reload


def test_an_old_index_file_is_rebuilt_when_the_log_it_needs_is_gone(tmp_path: Path) -> None:
    _hnsw(tmp_path)
    old = (tmp_path / "indexes" / "c1.faiss").read_bytes()
    old_state = {p.name: p.read_bytes() for p in (tmp_path / "indexes").glob("c1.faiss*")}
    with open_store(tmp_path) as store:
        col = store.get_collection("v")
        col.delete(ids=["5", "6"])
        col.compact()
    for name, data in old_state.items():  # a backup restored over the compacted file
        (tmp_path / "indexes" / name).write_bytes(data)
    assert (tmp_path / "indexes" / "c1.faiss").read_bytes() == old
    with open_store(tmp_path) as store:
        assert not _ids(store, _vectors(400)[5], 20) & {"5", "6"}
        live = store.indexer.cached(1)
        assert isinstance(live, LiveIndex) and len(live) == 398


def test_an_older_index_never_replaces_a_newer_file(tmp_path: Path) -> None:
    _hnsw(tmp_path)
    path = tmp_path / "indexes" / "c1.faiss"
    with open_store(tmp_path) as behind, open_store(tmp_path) as ahead:
        _ids(behind, _vectors(1)[0], 1)
        col = ahead.get_collection("v")
        col.add(["x"], embeddings=_vectors(1, seed=4))
        col.compact()
        newest = read_sidecar(path)["covers_seq"]
        live = behind.indexer.cached(1)
        assert isinstance(live, LiveIndex) and live.seq < newest
        with behind.catalog.read() as conn:
            row = catalog.collection_by_id(conn, 1, "v")
        behind.indexer._save(row, live)
        assert read_sidecar(path)["covers_seq"] == newest


def test_writes_prune_the_log_as_they_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collection, "PRUNE_EVERY", 100)
    with open_store(tmp_path) as store:
        col = store.create_collection("e", embedder=None, dimension=DIM)
        for start in range(0, 1000, 25):
            col.add([str(i) for i in range(start, start + 25)], embeddings=_vectors(25, start))
        assert _log_rows(tmp_path) < 125 and col.info().count == 1000


def test_a_busy_writer_lock_only_postpones_pruning(tmp_path: Path) -> None:
    with open_store(tmp_path) as store, open_store(tmp_path) as other:
        col = store.create_collection("e", embedder=None, dimension=DIM)
        col.add(["a", "b"], embeddings=_vectors(2))
        with other.catalog.writer_lock.hold():
            with pytest.raises(StoreLocked), store.catalog.write(timeout_s=0.05):
                pass
            assert col._prune(col.info().last_seq) == 0  # waits briefly, then leaves it for later
        assert _log_rows(tmp_path) == 2
        assert col.compact().log_pruned == 2
