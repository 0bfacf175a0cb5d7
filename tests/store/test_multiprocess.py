"""A store open in one process sees what another process committed, without reopening."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from heron.store import open_store

WRITER = textwrap.dedent(
    """
    import sys
    from heron.store import open_store

    with open_store(sys.argv[1]) as store:
        col = store.get_collection("shared")
        col.add(
            ["w1", "w2"],
            documents=["written by another process", "a second foreign record"],
            metadatas=[{"by": "child"}, {"by": "child"}],
        )
        col.delete(ids=["p1"])
        store.create_collection("made-by-child", embedder=None)
    """
)


def _run_writer(path: Path) -> None:
    subprocess.run([sys.executable, "-c", WRITER, str(path)], check=True, timeout=60)


def test_reader_sees_another_processes_writes(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        col = store.create_collection("shared", embedder="hash:32")
        col.add(["p1", "p2"], documents=["parent record one", "parent record two"])
        assert {h.id for h in col.query(texts=["parent record"], k=5)[0]} == {"p1", "p2"}
        seq_before = col.info().last_seq
        assert store.indexer.cached_seq(1) == seq_before  # the first collection has id 1

        _run_writer(tmp_path)

        assert col.count() == 3
        hits = col.query(texts=["written by another process"], k=5)[0]
        assert hits[0].id == "w1" and "p1" not in {h.id for h in hits}
        assert store.indexer.cached_seq(1) == col.info().last_seq > seq_before  # rebuilt
        assert sorted(col.get(where={"by": "child"}).ids) == ["w1", "w2"]
        assert [h.id for h in col.keyword_search("foreign")] == ["w2"]
        assert "made-by-child" in [info.name for info in store.list_collections()]


KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from heron.store import open_store

    store = open_store(sys.argv[1])
    col = store.create_collection("durable", embedder="hash:16")
    col.add(["a", "b"], documents=["acknowledged one", "acknowledged two"])
    col.replace_source("f.md", "h1", ["f#0"], ["from a file"], None, None)
    os.kill(os.getpid(), signal.SIGKILL)  # no close, no checkpoint, no atexit
    """
)


def test_acknowledged_writes_survive_a_killed_process(tmp_path: Path) -> None:
    command = [sys.executable, "-c", KILLED_WRITER, str(tmp_path)]
    done = subprocess.run(command, check=False, timeout=60)
    assert done.returncode == -9
    with open_store(tmp_path) as store:
        col = store.get_collection("durable")
        assert col.get().ids == ["a", "b", "f#0"]
        assert col.sources() == {"f.md": "h1"}
        assert col.query(texts=["acknowledged two"], k=1)[0][0].id == "b"
