"""One writer at a time across processes, any number of readers, and no lock outlives its holder.

The cross-process tests run real interpreters (``subprocess``) against one store
folder; each has a hard time bound and asserts exact outcomes, never timings
beyond generous upper bounds.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from heron.errors import StoreError
from heron.store import StoreLocked, open_store
from heron.store.lock import LockHolder

HOLDER = textwrap.dedent(
    """
    import sys, time
    from heron.store import open_store

    store = open_store(sys.argv[1])
    with store.catalog.write():  # what every write call does, held open on purpose
        print("held", flush=True)
        time.sleep(60)
    """
)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A process (running ``hold_lock.py``) that holds the store's writer lock until killed."""
    with open_store(tmp_path) as store:
        store.create_collection("c", embedder=None, dimension=2)
    script = tmp_path / "hold_lock.py"
    script.write_text(HOLDER)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_lock_timeout_names_the_holder(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    with open_store(tmp_path, timeout_s=0.3) as store:  # opening needs no lock
        col = store.get_collection("c")
        assert col.count() == 0  # reads are not blocked by the writer
        started = time.monotonic()
        with pytest.raises(StoreLocked) as caught:
            col.add(["a"], embeddings=[[1.0, 0.0]])
        assert time.monotonic() - started >= 0.3
        assert col.count() == 0
    message = str(caught.value)
    assert f"store {tmp_path} is being written by pid {holder.pid} " in message
    assert f"on {socket.gethostname()} (hold_lock.py, since " in message
    assert "waited 0.3 s. wait for it to finish or raise lock_timeout_s" in message
    assert isinstance(caught.value, StoreError)
    assert caught.value.holder is not None and caught.value.holder.pid == holder.pid


def test_killed_holder_frees_the_lock(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    with open_store(tmp_path, timeout_s=0.2) as store:
        col = store.get_collection("c")
        with pytest.raises(StoreLocked):
            col.add(["a"], embeddings=[[1.0, 0.0]])
        holder.send_signal(signal.SIGKILL)
        assert holder.wait(timeout=10) == -signal.SIGKILL
        col.add(["a"], embeddings=[[1.0, 0.0]])  # within 0.2 s, or StoreLocked
        assert col.count() == 1


def test_writers_in_one_process_take_turns(tmp_path: Path) -> None:
    """Two ``Store``s on one folder exclude each other like two processes do."""
    with open_store(tmp_path) as first, open_store(tmp_path, timeout_s=0.1) as second:
        first.create_collection("c", embedder=None, dimension=2)
        col = second.get_collection("c")
        with first.catalog.write():
            with pytest.raises(StoreLocked) as caught:
                col.add(["a"], embeddings=[[1.0, 0.0]])
            assert caught.value.holder is not None
            assert caught.value.holder.pid == os.getpid()
            with open_store(tmp_path, timeout_s=0.1) as third:  # opening is still fine
                assert third.get_collection("c").count() == 0
        col.add(["a"], embeddings=[[1.0, 0.0]])  # released when the write ended
        assert first.get_collection("c").count() == 1


def test_the_holder_writes_itself_into_the_lock_file(tmp_path: Path) -> None:
    with open_store(tmp_path / "one") as store:
        store.create_collection("c", embedder=None)
        holder = LockHolder.from_bytes((tmp_path / "one" / "write.lock").read_bytes())
    assert holder is not None and holder.pid == os.getpid()
    assert LockHolder.from_bytes(b"") is None and LockHolder.from_bytes(b'{"pid": 1') is None


WORKER = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    from heron.store import open_store

    path, role, name, start_at, duration = sys.argv[1:6]
    store = open_store(path, timeout_s=10)  # opened once: readers never reopen
    col = store.get_collection("c")
    time.sleep(max(0.0, float(start_at) - time.time()))
    stop = time.monotonic() + float(duration)
    acked, deleted, seen, errors = 0, 0, [], []
    rng = np.random.default_rng(abs(hash(name)) % 1000)
    while time.monotonic() < stop:
        try:
            if role == "writer":
                col.add([f"{name}-{acked}"], embeddings=rng.normal(size=(1, 4)).astype("float32"))
                acked += 1
                if acked % 4 == 0:  # tombstones, so writers also compact the HNSW index
                    deleted += col.delete(ids=[f"{name}-{acked - 2}"])
            else:
                seen.append(col.count())
                if len(seen) % 10 == 0:
                    col.query(embeddings=[[1.0, 0.0, 0.0, 0.0]], k=3)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    print(json.dumps({"acked": acked, "deleted": deleted, "seen": seen, "errors": errors}))
    """
)


def test_two_writers_and_four_readers_run_together(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        store.create_collection("c", embedder=None, dimension=4, index="hnsw")
    start_at = time.time() + 1.0  # every worker has imported heron by then
    roles = [("writer", "w1"), ("writer", "w2")] + [("reader", f"r{i}") for i in range(4)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path), role, name, str(start_at), "3"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for role, name in roles
    ]
    try:
        results = [json.loads(proc.communicate(timeout=60)[0]) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=10)
    assert [proc.returncode for proc in procs] == [0] * 6
    assert [r["errors"] for r in results] == [[]] * 6
    writes = [r["acked"] - r["deleted"] for r in results[:2]]
    assert min(writes) > 0
    with open_store(tmp_path) as store:
        col = store.get_collection("c")
        final = col.count()
        hits = col.query(embeddings=[[1.0, 0.0, 0.0, 0.0]], k=final, include=[])[0]
    assert final == sum(writes)
    assert len(hits) == final  # the index agrees with the catalog, deletes included
    for reader in results[2:]:
        seen = reader["seen"]
        assert seen, "a reader made no reads"
        assert max(seen) <= sum(r["acked"] for r in results[:2])
    assert max(r["seen"][-1] for r in results[2:]) > 0  # readers saw writes land
