"""An acknowledged write is never lost, even when its writer is SIGKILLed mid-ingest.

A child process runs a fixed, seeded plan of writes (adds of 5 records, upserts
that overwrite 2 live records and add 3, deletes of live ids) against one store.
Around each call it appends ``begin N`` / ``ack N`` to a log and fsyncs it, so
"acknowledged" means the call returned. The parent SIGKILLs it at a seeded random
moment, reopens the store and checks that its contents equal the plan applied up
to the last acknowledged op, or up to the one in-flight op (whole, never in part);
then searches and ``PRAGMA integrity_check`` must work. The collection uses an HNSW
index that the child queries every 20 ops, so kills also land while index files are
built, replayed, saved or compacted. The next round continues
the same store from where the data says the plan got to.

Kill moments are wall-clock delays, so which op is in flight differs between
machines; the plan, the delays and every check are deterministic.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heron.store import open_store
from heron.store.catalog import DB_NAME

SEED = 20261126
ROUNDS = 18
PLAN_OPS = 6000  # more than the rounds reach (about 2,500 here); past its end the child idles
KILL_AFTER_S = (0.05, 0.3)  # after the child reports it has opened the collection
READY_TIMEOUT_S = 30.0
COLLECTION = "durable"

WRITER = textwrap.dedent(
    """
    import json, os, sys, time
    from heron.store import open_store

    store_path, plan_path, log_path, start = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    with open(plan_path) as plan_file:
        ops = json.load(plan_file)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def note(line):
        os.write(log, (line + "\\n").encode())
        os.fsync(log)

    store = open_store(store_path)
    col = store.get_or_create_collection(
        "durable", embedder="hash:32", index={"kind": "hnsw", "m": 8}
    )
    note("ready")
    for number in range(int(start), len(ops)):
        op = ops[number]
        note(f"begin {number}")
        if op["kind"] == "delete":
            col.delete(ids=op["ids"])
        else:
            write = col.add if op["kind"] == "add" else col.upsert
            write(op["ids"], documents=op["documents"], metadatas=op["metadatas"])
        note(f"ack {number}")
        if number % 20 == 0:  # build, replay, save and compact index files as kills land
            col.query(texts=["probe"], k=3)
    note("done")
    time.sleep(600)  # out of plan: idle until killed, so every round ends the same way
    """
)


@dataclass(frozen=True)
class Op:
    """One write call of the plan; ``batch`` tags every record it writes."""

    kind: str  # add | upsert | delete
    batch: int
    ids: list[str]
    documents: list[str] | None = None
    metadatas: list[dict[str, Any]] | None = None


#: id -> (batch, document): what a store holds after a prefix of the plan
State = dict[str, tuple[int, str]]


def _records(batch: int, ids: list[str]) -> Op:
    topic = "even" if batch % 2 == 0 else "odd"
    documents = [f"batch {batch} record {i} about {topic} things" for i in range(len(ids))]
    metadatas: list[dict[str, Any]] = [
        {"batch": batch, "topic": topic, "pos": i} for i in range(len(ids))
    ]
    return Op("add", batch, ids, documents, metadatas)


def make_plan(rng: random.Random, size: int) -> list[Op]:
    """Adds, upserts (2 live ids + 3 new) and deletes (2 live ids + 1 never written)."""
    plan: list[Op] = []
    live: list[str] = []
    for batch in range(size):
        new = [f"b{batch}-{i}" for i in range(5)]
        roll = rng.random()
        if roll < 0.15 and len(live) >= 2:
            doomed = rng.sample(live, 2)
            plan.append(Op("delete", batch, [*doomed, f"ghost-{batch}"]))
            live = [i for i in live if i not in doomed]
        elif roll < 0.30 and len(live) >= 2:
            again = rng.sample(live, 2)
            op = _records(batch, [*again, *new[:3]])
            plan.append(Op("upsert", batch, op.ids, op.documents, op.metadatas))
            live.extend(new[:3])
        else:
            plan.append(_records(batch, new))
            live.extend(new)
    return plan


def apply(state: State, op: Op) -> None:
    """Apply one op of the plan to a model of the store, in place."""
    if op.kind == "delete":
        for doomed in op.ids:
            state.pop(doomed, None)
        return
    assert op.documents is not None
    for ext, doc in zip(op.ids, op.documents, strict=True):
        state[ext] = (op.batch, doc)


def by_batch(state: State) -> dict[int, set[str]]:
    groups: dict[int, set[str]] = {}
    for ext, (batch, _) in state.items():
        groups.setdefault(batch, set()).add(ext)
    return groups


def read_log(path: Path) -> tuple[bool, int | None, int | None]:
    """(ready seen, last begun op, last acknowledged op); a torn last line is ignored."""
    text = path.read_text() if path.exists() else ""
    ready, begun, acked = False, None, None
    for line in text.split("\n")[:-1]:
        word, _, number = line.partition(" ")
        if word == "ready":
            ready = True
        elif word == "begin":
            begun = int(number)
        elif word == "ack":
            acked = int(number)
    return ready, begun, acked


def run_and_kill(command: list[str], log: Path, delay_s: float) -> str:
    """Start the writer, wait until it is writing, SIGKILL it; return its stderr on failure."""
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not read_log(log)[0] and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(delay_s)
        child.send_signal(signal.SIGKILL)
        _, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL, (
        f"writer was not killed mid-ingest (exit {child.returncode}):\n{err.decode()}"
    )
    return err.decode()


def observed_state(store_path: Path) -> tuple[State, int]:
    with open_store(store_path) as store:
        col = store.get_collection(COLLECTION)
        got = col.get()
        assert got.metadatas is not None and got.documents is not None
        state: State = {}
        for ext, meta, doc in zip(got.ids, got.metadatas, got.documents, strict=True):
            assert doc is not None
            state[ext] = (int(meta["batch"]), doc)
        return state, col.count()


def check_acknowledged(
    store_path: Path, plan: list[Op], applied: int, acked: State, begun: int | None
) -> tuple[int, State]:
    """The store holds every acknowledged write, plus the in-flight op whole or not at all.

    Returns how many ops of the plan the store holds, and its state.
    """
    in_flight = plan[begun] if begun is not None and begun == applied else None
    with_flight = dict(acked)
    if in_flight is not None:
        apply(with_flight, in_flight)
    state, count = observed_state(store_path)

    may_go = set(in_flight.ids) if in_flight is not None and in_flight.kind == "delete" else set()
    with open_store(store_path) as store:
        col = store.get_collection(COLLECTION)
        wanted = sorted(set(acked) - may_go)
        found = set(col.get(ids=wanted, include=()).ids)
    lost = sorted(set(wanted) - found)
    assert not lost, f"acknowledged ids lost after SIGKILL ({len(lost)}): {lost[:10]}"
    assert count == len(state), f"count() says {count}, get() returns {len(state)}"
    assert count in {len(acked), len(with_flight)}, (
        f"count {count}: acknowledged {len(acked)}, with the in-flight op {len(with_flight)}"
    )

    seen, before, after = by_batch(state), by_batch(acked), by_batch(with_flight)
    for batch in before.keys() | after.keys() | seen.keys():
        present = seen.get(batch, set())
        assert present in (before.get(batch, set()), after.get(batch, set())), (
            f"batch {batch} partly present: {sorted(present)}"
        )
    if state == acked:
        return applied, state
    assert in_flight is not None and state == with_flight, (
        "the store matches neither the acknowledged writes nor them plus the in-flight op; "
        f"unexpected ids: {sorted(set(state) ^ set(acked))[:10]}"
    )
    return applied + 1, state


def check_searches(store_path: Path, state: State) -> None:
    with open_store(store_path) as store:
        col = store.get_collection(COLLECTION)
        k = min(5, len(state))
        hits = col.query(texts=["batch record about even things"], k=5)[0]
        assert len(hits) == k and {h.id for h in hits} <= set(state)
        evens = {ext for ext, (batch, _) in state.items() if batch % 2 == 0}
        filtered = col.query(texts=["record about things"], k=5, where={"topic": "even"})[0]
        assert len(filtered) == min(5, len(evens)) and {h.id for h in filtered} <= evens
        if state:
            some = min(state)
            exact = col.query(texts=[state[some][1]], k=1)[0]
            assert state[exact[0].id][1] == state[some][1]  # same text, same vector
    with sqlite3.connect(store_path / DB_NAME) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()


def test_acknowledged_writes_survive_repeated_sigkill(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    plan = make_plan(rng, PLAN_OPS)
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps([op.__dict__ for op in plan]))
    store_path = tmp_path / "store"
    applied, state = 0, State()
    for round_no in range(ROUNDS):
        log = tmp_path / f"round-{round_no}.log"
        command = [
            sys.executable,
            "-c",
            WRITER,
            str(store_path),
            str(plan_path),
            str(log),
            str(applied),
        ]
        run_and_kill(command, log, rng.uniform(*KILL_AFTER_S))
        ready, begun, last_ack = read_log(log)
        assert ready, f"round {round_no}: the writer never opened the store"
        acked_count = applied if last_ack is None else last_ack + 1
        acked = dict(state)
        for op in plan[applied:acked_count]:
            apply(acked, op)
        applied, state = check_acknowledged(store_path, plan, acked_count, acked, begun)
        check_searches(store_path, state)
    assert applied > ROUNDS, f"only {applied} ops in {ROUNDS} rounds: the kills came too early"
    assert list((store_path / "indexes").glob("*.faiss")), "the writer never saved an index"
