"""ANN indexes as derived data: saved with the sequence they cover, replayed on open,
rebuilt when damaged, compacted when tombstones pile up, never needed for correctness."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from heron.errors import ConfigError
from heron.store import Store, index_spec, indexing, open_store
from heron.store.ann import read_sidecar
from heron.store.live import LiveIndex

DIM = 16


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)


class Calls:
    """A progress hook that records every report."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, int, int]] = []

    def __call__(self, label: str, done: int, total: int) -> None:
        self.reports.append((label, done, total))


def _open(path: Path, calls: Calls | None = None) -> Store:
    return open_store(path, progress=calls)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A store with one 600-vector HNSW collection whose index is built and saved."""
    with _open(tmp_path) as store:
        col = store.create_collection("v", embedder=None, dimension=DIM, index="hnsw")
        col.add([str(i) for i in range(600)], embeddings=_vectors(600))
        col.build_index()
    yield tmp_path


def _index_file(home: Path) -> Path:
    return home / "indexes" / "c1.faiss"


def _top(store: Store, query: np.ndarray, k: int = 5) -> list[str]:
    return [h.id for h in store.get_collection("v").query(embeddings=query, k=k)[0]]


def test_build_saves_a_file_covering_the_latest_change(home: Path) -> None:
    meta = read_sidecar(_index_file(home))
    with _open(home) as store:
        assert meta["covers_seq"] == store.get_collection("v").info().last_seq
    assert meta["ntotal"] == 600 and meta["config"]["kind"] == "hnsw"


def test_reopen_loads_the_file_instead_of_rebuilding(home: Path) -> None:
    calls = Calls()
    with _open(home, calls) as store:
        assert _top(store, _vectors(600)[7])[0] == "7"
    assert calls.reports == []


def test_reopen_replays_changes_made_after_the_file(home: Path) -> None:
    with _open(home) as writer:
        col = writer.get_collection("v")
        col.add(["new"], embeddings=_vectors(1, seed=9))
        col.delete(ids=["3"])
        col.update(["4"], embeddings=_vectors(1, seed=10))
    calls = Calls()
    with _open(home, calls) as store:
        assert _top(store, _vectors(1, seed=9)[0], 1) == ["new"]
        ids_only = store.get_collection("v").query(embeddings=_vectors(1, seed=9), include=[])
        assert ids_only[0][0].id == "new" and "3" not in {h.id for h in ids_only[0]}
        assert "3" not in _top(store, _vectors(600)[3], 50)
        assert _top(store, _vectors(1, seed=10)[0], 1) == ["4"]
        live = store.indexer.cached(1)
        assert isinstance(live, LiveIndex) and live.garbage == 2 and len(live) == 600
    assert calls.reports == []  # replayed, not rebuilt


def test_a_reader_sees_another_handles_writes_without_reopening(home: Path) -> None:
    with _open(home) as reader, _open(home) as writer:
        assert _top(reader, _vectors(600)[1])[0] == "1"
        writer.get_collection("v").add(["late"], embeddings=_vectors(1, seed=5))
        assert _top(reader, _vectors(1, seed=5)[0], 1) == ["late"]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "sidecar", "newer", "delete_state"])
def test_a_damaged_index_is_rebuilt_with_progress(
    home: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = _index_file(home)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "garbage":
        path.write_bytes(b"not an index at all")
    elif damage == "sidecar":
        path.with_name(path.name + ".json").write_text("{broken")
    elif damage == "newer":
        sidecar = path.with_name(path.name + ".json")
        meta = json.loads(sidecar.read_text())
        sidecar.write_text(json.dumps(meta | {"format": 99}))
    else:
        path.with_name(path.name + ".state.npz").unlink()
    calls = Calls()
    with caplog.at_level(logging.WARNING), _open(home, calls) as store:
        assert _top(store, _vectors(600)[11])[0] == "11"
    assert calls.reports and calls.reports[-1][1:] == (600, 600)
    assert "rebuilding" in caplog.text
    assert read_sidecar(path)["ntotal"] == 600  # and saved again


def test_a_missing_index_is_rebuilt(home: Path) -> None:
    _index_file(home).unlink()
    calls = Calls()
    with _open(home, calls) as store:
        assert _top(store, _vectors(600)[2])[0] == "2"
    assert calls.reports


def test_failing_to_save_the_index_does_not_fail_queries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def full_disk(self: LiveIndex, path: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(LiveIndex, "save", full_disk)
    with caplog.at_level(logging.WARNING), _open(tmp_path) as store:
        col = store.create_collection("v", embedder=None, dimension=DIM, index="hnsw")
        col.add([str(i) for i in range(100)], embeddings=_vectors(100))
        assert _top(store, _vectors(100)[5])[0] == "5"
    assert "No space left" in caplog.text
    assert not _index_file(tmp_path).exists()


def test_deletes_past_the_ratio_compact_automatically(home: Path) -> None:
    with _open(home) as store:
        col = store.get_collection("v")
        col.query(embeddings=_vectors(1)[0], k=1)
        col.delete(ids=[str(i) for i in range(100)])  # 17%: below the ratio
        live = store.indexer.cached(1)
        assert isinstance(live, LiveIndex)
        col.query(embeddings=_vectors(1)[0], k=1)
        assert live.garbage == 100
        col.delete(ids=[str(i) for i in range(100, 150)])  # 25%: compacts
        fresh = store.indexer.cached(1)
        assert isinstance(fresh, LiveIndex) and fresh.garbage == 0 and len(fresh) == 450
        assert read_sidecar(_index_file(home))["ntotal"] == 450


def test_compact_purges_tombstones_and_reports(home: Path) -> None:
    with _open(home) as store:
        col = store.get_collection("v")
        col.delete(ids=["1", "2", "3"])
        col.update(["4"], embeddings=_vectors(1, seed=3))
        col.update(["5"], metadatas=[{"tag": "x"}])  # metadata only: no tombstone
        report = col.compact()
        assert report.kind == "hnsw" and report.purged == 4 and report.vectors == 597
        assert _top(store, _vectors(1, seed=3)[0], 1) == ["4"]


def test_set_index_switches_family_and_checks_settings(home: Path) -> None:
    with _open(home) as store:
        col = store.get_collection("v")
        col.set_index({"kind": "ivf_flat", "nlist": 8, "nprobe": 8})
        assert not _index_file(home).exists()  # the old family's file is gone
        assert col.build_index() == "ivf_flat"
        assert col.info().index.startswith("ivf_flat")
        assert _top(store, _vectors(600)[9])[0] == "9"
        with pytest.raises(ConfigError, match="divide"):
            col.set_index({"kind": "ivf_pq", "pq_m": 5})
        with pytest.raises(ConfigError, match="kinds"):
            col.set_index({"kind": "annoy"})
        col.set_index("flat")
        assert col.build_index() == "flat"


def test_ivf_pq_searches_exactly_until_it_can_train(tmp_path: Path) -> None:
    with _open(tmp_path) as store:
        col = store.create_collection("p", embedder=None, dimension=DIM, index="ivf_pq")
        col.add([str(i) for i in range(100)], embeddings=_vectors(100))
        assert col.explain(embeddings=_vectors(1)[0]).index == "flat"
        col.add([f"x{i}" for i in range(300)], embeddings=_vectors(300, seed=2))
        assert col.explain(embeddings=_vectors(1)[0]).index == "ivf_pq"


def test_auto_switches_to_hnsw_at_the_threshold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_spec, "AUTO_ANN_MIN", 200)
    with _open(tmp_path) as store:
        col = store.create_collection("a", embedder=None, dimension=DIM)
        col.add([str(i) for i in range(150)], embeddings=_vectors(150))
        assert col.explain(embeddings=_vectors(1)[0]).index == "flat"
        col.add([f"y{i}" for i in range(100)], embeddings=_vectors(100, seed=4))
        assert col.explain(embeddings=_vectors(1)[0]).index == "hnsw"


def test_replayed_indexes_are_saved_again(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(indexing, "SAVE_AFTER", 10)
    monkeypatch.setattr(indexing, "SAVE_AFTER_RATIO", 0.0)
    with _open(home) as store:
        col = store.get_collection("v")
        col.add([f"z{i}" for i in range(20)], embeddings=_vectors(20, seed=6))
        col.query(embeddings=_vectors(1)[0], k=1)
        assert read_sidecar(_index_file(home))["covers_seq"] == col.info().last_seq


def test_deleting_the_collection_removes_its_index_files(home: Path) -> None:
    with _open(home) as store:
        store.delete_collection("v")
    assert not list((home / "indexes").iterdir())


def test_asking_for_every_record_returns_every_record(home: Path) -> None:
    """A graph walk can miss nodes when k nears n; the planner completes it exactly."""
    with _open(home) as store:
        col = store.get_collection("v")
        col.delete(ids=[str(i) for i in range(0, 600, 7)])
        hits = col.query(embeddings=_vectors(3, seed=8), k=1000, include=[])
        assert all(len(row) == col.count() for row in hits)
