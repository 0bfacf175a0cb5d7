"""Vector database benchmark: Heron's store vs raw FAISS, hnswlib, Chroma and LanceDB.

Goals (issue 3): unfiltered at recall@10 >= 0.95, QPS >= 0.9x raw FAISS HNSW with the
same parameters and >= 2x Chroma; filtered, recall@10 >= 0.95 at every selectivity
with QPS >= 3x Chroma's filtered query; insert throughput >= 5x Chroma; exact search
within 1.5x of the memory-bandwidth bound measured on the machine.

Data (``_vectors_data``): ``--data synthetic`` is a seeded clustered 384-d set
(1,000 Gaussian centres), ``--data stdlib`` the MiniLM vectors of Heron's stdlib
corpus; metadata gives Zipf-category filters at 50/10/1/0.1% selectivity, an integer
range filter and a filter correlated (and one anti-correlated) with the query's
cluster. Exact float64 cosine ground truth is computed once and cached in
``bench/results/vectors_cache/``.

Engines (``_vectors_engines``; cosine, HNSW M=32, efConstruction=200 everywhere):
heron-hnsw, heron-flat, faiss-hnsw, faiss-flat, hnswlib, chroma, lance.

How it runs: every engine runs in fresh processes with every native pool pinned to
the thread count (OMP/MKL/OpenBLAS/Rayon env, ``faiss.omp_set_num_threads``,
hnswlib ``set_num_threads``, Chroma's ``num_threads``, ``LANCE_CPU_THREADS``):

1. a *build* process at ``--build-threads`` (default: the largest of ``--threads``)
   creates the persisted store under ``bench/results/vectors_stores/`` and inserts
   every vector in batches of ``--batch`` (Chroma's maximum batch size if smaller),
   builds the index (``build_index()``, ``create_index``; part of build time),
   records RSS growth and disk size, then times inserts of ``--insert-n`` vectors (500
   at batch 1) into fresh small collections at batch 1 / 100 / 1000 (acknowledged
   writes, and the same plus the first query, which is when lazy engines index);
2. one *query* process per thread count reopens the store (open + first query =
   reopen time; RSS growth), sweeps ef (``EF_SWEEP``; exact engines have one point)
   timing a single-query loop over ``--queries`` queries and one batch call (best of
   ``--repeats``), stops a sweep once recall@10 >= 0.995, then runs every filter as a
   single-query loop over ``--filter-queries`` queries at the first ef whose
   unfiltered recall reached 0.95 and at max(128, 4x that ef) (Heron: no knob, its
   planner chooses); the last thread count's process then deletes 10% of the ids
   and measures recall against ground truth recomputed without them (and, for
   Heron, again after ``compact()``).

Engines run in ``PRIORITY`` order and each finished engine is saved to
``bench/results/vectors_<data>.partial.json``; ``--resume`` continues a cut-short
run from it (same data, threads and build threads).

QPS is only compared at matched recall: the summary gives each engine's first ef
reaching recall@10 >= 0.95 and the QPS interpolated on its curve at 0.95.

Run::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/vectors.py --n 20000           # quick
    HF_HUB_OFFLINE=1 .venv/bin/python bench/vectors.py --n 100000 --dim 384 --threads 1,2 \\
        --queries 200 --engines heron,faiss,hnswlib,chromadb,lancedb --data synthetic
    HF_HUB_OFFLINE=1 .venv/bin/python bench/vectors.py --data stdlib --threads 1,2

``--unfiltered-only`` runs just the unfiltered sweeps (no insert rates, filters,
deletes or plots) for quick iterations on query overhead: it keeps each engine's
built store (with a ``build.json`` beside it) and reuses it on the next such run, so
only the first one pays the builds; results go to
``bench/results/vectors_<data>_unfiltered.json``. A full run rebuilds everything.
With ``--paired`` it then also runs Heron HNSW, raw FAISS HNSW and Chroma in *one*
process per thread count, rotating them every round (``--paired-rounds``) at each ef
of ``PAIRED_EFS``: all see the same load, so their per-round QPS ratios stay
meaningful on a shared machine where engines measured minutes apart do not; the
report gives the ratio at recall 0.95 (on the median-QPS curves) and, per ef, the
median ratio with its spread over rounds.

Output: markdown tables on stdout, ``bench/results/vectors_<data>.json`` and
``docs/img/vectors_<data>_{single,batch,filtered}.png``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np

from _stacks import RESULTS_DIR, dir_bytes, go_offline, machine_info, markdown_table, write_json
from _vectors_data import (
    FILTER_NAMES,
    Dataset,
    DataSpec,
    K,
    load_dataset,
    read_dataset,
    recall_at_k,
)
from _vectors_engines import (
    EF_SWEEP,
    ENGINES,
    Engine,
    FaissHnswEngine,
    HeronEngine,
    remove,
    variants,
)
from common import run_worker

TARGET = 0.95
FILTER_ORDER = {name: i for i, name in enumerate(FILTER_NAMES)}
STOP_AT = 0.995
INSERT_BATCHES = (1, 100, 1000)
IMG_DIR = Path(__file__).resolve().parent.parent / "docs" / "img"
STORES = RESULTS_DIR / "vectors_stores"
#: engines run in this order, so a cut-short run still has the headline comparison
#: ef values of the paired comparison (around where the engines reach recall 0.95)
PAIRED_EFS = (16, 24, 32, 48)
#: engines of the paired comparison (those whose store a quick run kept)
PAIRED = ("heron-hnsw", "faiss-hnsw", "chroma")
PRIORITY = ("heron-hnsw", "faiss-hnsw", "chroma", "heron-flat", "faiss-flat", "hnswlib", "lance")


# ---------------------------------------------------------------------- small helpers


def rss_mb() -> float:
    """This process's resident set size (VmRSS) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = perf_counter()
    out = fn()
    return perf_counter() - start, out


def heron_code_state() -> dict[str, Any]:
    """Which Heron was measured: the commit and whether the store had uncommitted edits."""
    root = Path(__file__).resolve().parent.parent

    def git(*cmd: str) -> str:
        done = subprocess.run(["git", *cmd], check=False, cwd=root, capture_output=True, text=True)
        return done.stdout.strip()

    dirty = git("status", "--porcelain", "src/heron/store").splitlines()
    return {"commit": git("log", "-1", "--format=%h %s")[:100], "store_files_modified": dirty}


def spec_of(args: argparse.Namespace) -> DataSpec:
    return DataSpec(
        kind=args.data,
        n=args.n,
        dim=args.dim,
        queries=args.queries,
        seed=args.seed,
        noise=args.noise,
    )


def store_path(spec: DataSpec, variant: str) -> Path:
    return STORES / spec.key() / variant


# ---------------------------------------------------------------------- build worker


def build_phase(args: argparse.Namespace) -> dict[str, Any]:
    spec = spec_of(args)
    ds = read_dataset(spec)
    vectors = np.array(ds.vectors, dtype=np.float32)  # in RAM before the baseline
    cls = ENGINES[args.engine]
    path = store_path(spec, args.engine)
    remove(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    gc.collect()
    rss0 = rss_mb()
    engine = cls(path, ds.dim, args.threads_now)
    batch = args.batch
    start = perf_counter()
    engine.create()
    for lo in range(0, ds.n, batch):
        ids = np.arange(lo, min(ds.n, lo + batch), dtype=np.int64)
        engine.insert(ids, vectors[lo : lo + len(ids)], ds.meta.take(ids))
    insert_s = perf_counter() - start
    index_s, _ = timed(engine.finish_build)
    build_s = perf_counter() - start
    rss_build = rss_mb() - rss0
    close_s, _ = timed(engine.close)
    out = {
        "engine": args.engine,
        "threads": args.threads_now,
        "n": ds.n,
        "batch": batch,
        "build_s": build_s,
        "insert_s": insert_s,
        "index_s": index_s,
        "close_s": close_s,
        "rss_build_mb": rss_build,
        "index_kind": engine.built_kind,
        "disk_mb": dir_bytes(path) / 1e6,
        "inserts": {} if args.unfiltered_only else insert_rates(cls, vectors, ds, args),
    }
    return out


def insert_rates(
    cls: type[Engine], vectors: np.ndarray, ds: Dataset, args: argparse.Namespace
) -> dict[str, Any]:
    """Vectors/s into a fresh small collection at each batch size."""
    rates: dict[str, Any] = {}
    for batch in INSERT_BATCHES:
        # one-at-a-time inserts: 500 are plenty (Chroma does ~20/s on this machine)
        count = min(args.insert_n, ds.n, 500 if batch == 1 else args.insert_n)
        with tempfile.TemporaryDirectory(dir=STORES) as tmp:
            engine = cls(Path(tmp) / "s", ds.dim, args.threads_now)
            engine.create()
            start = perf_counter()
            for lo in range(0, count, batch):
                ids = np.arange(lo, min(count, lo + batch), dtype=np.int64)
                engine.insert(ids, vectors[lo : lo + len(ids)], ds.meta.take(ids))
            acked = perf_counter() - start
            if cls.name == "lance":
                engine.finish_build()  # an index needs the rows first; count it
            engine.search(vectors[:1].copy())
            queried = perf_counter() - start
            engine.close()
        rates[str(batch)] = {
            "n": count,
            "insert_s": acked,
            "per_s": count / acked,
            "with_first_query_s": queried,
            "with_first_query_per_s": count / queried,
        }
    return rates


# ---------------------------------------------------------------------- query worker


def sweep_point(engine: Engine, ds: Dataset, repeats: int) -> dict[str, float]:
    queries = ds.queries
    for q in queries[:10]:  # warm-up
        engine.search(q[None, :])
    single_s = float("inf")
    found: list[list[int]] = []
    for _ in range(repeats):
        start = perf_counter()
        found = [engine.search(q[None, :]) for q in queries]
        single_s = min(single_s, perf_counter() - start)
    batch_s = float("inf")
    batch_found: list[list[int]] = []
    for _ in range(repeats):
        start = perf_counter()
        batch_found = engine.search_batch(queries)
        batch_s = min(batch_s, perf_counter() - start)
    truth = ds.truth["all"]
    return {
        "recall": recall_at_k(found, truth),
        "qps": len(queries) / single_s,
        "batch_recall": recall_at_k(batch_found, truth),
        "batch_qps": len(queries) / batch_s,
    }


def query_phase(args: argparse.Namespace) -> dict[str, Any]:
    spec = spec_of(args)
    ds = read_dataset(spec, with_vectors=False)
    cls = ENGINES[args.engine]
    engine = cls(store_path(spec, args.engine), ds.dim, args.threads_now)
    gc.collect()
    rss0 = rss_mb()
    reopen_s, _ = timed(lambda: (engine.open(), engine.search(ds.queries[:1])))
    out: dict[str, Any] = {
        "engine": args.engine,
        "threads": args.threads_now,
        "reopen_s": reopen_s,
        "rss_open_mb": rss_mb() - rss0,
    }
    if isinstance(engine, FaissHnswEngine):
        engine.attach_meta(ds.meta)
    if isinstance(engine, HeronEngine):
        out["plan_unfiltered"] = engine.explain(ds.queries[:1], None, 0)
    curve = []
    for knob in cls.knobs or (None,):
        engine.set_knob(knob)
        point = {"knob": knob, **sweep_point(engine, ds, args.repeats)}
        curve.append(point)
        log(
            f"  {args.engine} t={args.threads_now} ef={knob}: recall {point['recall']:.3f} "
            f"qps {point['qps']:.0f} batch {point['batch_qps']:.0f}"
        )
        if point["recall"] >= STOP_AT and point["batch_recall"] >= STOP_AT:
            break
    out["curve"] = curve
    knob95 = next((p["knob"] for p in curve if p["recall"] >= TARGET), curve[-1]["knob"])
    out["knob95"] = knob95
    engine.set_knob(knob95)
    if cls.supports_filters and not args.unfiltered_only:
        out["filtered"] = []
        for knob in filter_knobs(cls, knob95):
            engine.set_knob(knob)
            out["filtered"] += filtered(engine, ds, args.filter_queries)
        engine.set_knob(knob95)
    out["rss_after_mb"] = rss_mb() - rss0
    if args.delete:
        out["delete"] = delete_test(engine, ds, knob95)
    engine.close()
    return out


def filter_knobs(cls: type[Engine], knob95: int | None) -> list[int | None]:
    """Filtered queries run at the unfiltered 0.95 ef and at a larger one (HNSW engines
    lose recall under filters, more so at low ef); Heron gets no knob (its planner
    chooses) and exact engines have none."""
    if knob95 is None or issubclass(cls, HeronEngine):
        return [None]
    return sorted({knob95, min(EF_SWEEP[-1], max(128, 4 * knob95))})


def filtered(engine: Engine, ds: Dataset, count: int) -> list[dict[str, Any]]:
    """Every filter as one single-query loop over the first ``count`` queries (one round:
    the slowest engines answer a few queries per second here)."""
    rows = []
    picked = range(min(count, len(ds.queries)))
    for case in ds.filters():
        for qi in range(3):  # warm-up (selector and plan caches)
            engine.search(ds.queries[qi : qi + 1], case=case, qi=qi)
        start = perf_counter()
        found = [engine.search(ds.queries[qi : qi + 1], case=case, qi=qi) for qi in picked]
        seconds = perf_counter() - start
        row = {
            "filter": case.name,
            "knob": engine.knob,
            "selectivity": ds.selectivity(case),
            "recall": recall_at_k(found, ds.truth[case.name][: len(found)]),
            "qps": len(found) / seconds,
            "queries": len(found),
            "short": int(sum(1 for f in found if len(f) < K)),
        }
        if isinstance(engine, HeronEngine):
            row["plan"] = engine.explain(ds.queries[:1], case, 0)
            row["plans"] = sorted(
                {
                    engine.explain(ds.queries[qi : qi + 1], case, qi).get("strategy", "?")
                    for qi in picked
                }
            )
        log(
            f"  {engine.name} ef={engine.knob} {case.name}: recall {row['recall']:.3f} "
            f"qps {row['qps']:.0f}"
        )
        rows.append(row)
    return rows


def delete_test(engine: Engine, ds: Dataset, knob: int | None) -> dict[str, Any]:
    doomed = ds.deleted_ids()
    delete_s, _ = timed(lambda: engine.delete(doomed))
    engine.set_knob(knob)
    out: dict[str, Any] = {"deleted": len(doomed), "delete_s": delete_s, "knob": knob}
    out.update(after_delete(engine, ds))
    if isinstance(engine, HeronEngine):
        compact_s, did = timed(engine.compact)
        if did:
            out["compact_s"] = compact_s
            out["after_compact"] = after_delete(engine, ds)
    return out


def after_delete(engine: Engine, ds: Dataset) -> dict[str, Any]:
    start = perf_counter()
    found = [engine.search(q[None, :]) for q in ds.queries]
    seconds = perf_counter() - start
    doomed = set(ds.deleted_ids().tolist())
    leaked = sum(1 for row in found for i in row if i in doomed)
    return {
        "recall": recall_at_k(found, ds.truth["deleted"]),
        "qps": len(found) / seconds,
        "deleted_ids_returned": leaked,
    }


# ---------------------------------------------------------------------- paired


def paired_phase(args: argparse.Namespace) -> dict[str, Any]:
    """Heron HNSW against raw FAISS HNSW and Chroma in this one process, alternating
    the engines every round so that all of them see the same load."""
    spec = spec_of(args)
    ds = read_dataset(spec, with_vectors=False)
    engines = [
        ENGINES[name](store_path(spec, name), ds.dim, args.threads_now)
        for name in PAIRED
        if store_path(spec, name).exists()
    ]
    for engine in engines:
        engine.open()
        engine.search(ds.queries[:1])
    points = []
    for knob in PAIRED_EFS:
        seconds: dict[tuple[str, str], list[float]] = {}
        recall: dict[tuple[str, str], float] = {}
        for engine in engines:
            engine.set_knob(knob)
            for q in ds.queries[:10]:  # warm-up
                engine.search(q[None, :])
        for r in range(args.paired_rounds):
            for engine in engines[r % len(engines) :] + engines[: r % len(engines)]:
                start = perf_counter()
                found = [engine.search(q[None, :]) for q in ds.queries]
                seconds.setdefault((engine.name, "single"), []).append(perf_counter() - start)
                start = perf_counter()
                batch = engine.search_batch(ds.queries)
                seconds.setdefault((engine.name, "batch"), []).append(perf_counter() - start)
                recall[engine.name, "single"] = recall_at_k(found, ds.truth["all"])
                recall[engine.name, "batch"] = recall_at_k(batch, ds.truth["all"])
        point: dict[str, Any] = {"knob": knob}
        for engine in engines:
            for mode in ("single", "batch"):
                mine = seconds["heron-hnsw", mode]
                theirs = seconds[engine.name, mode]
                ratios = sorted(f / h for h, f in zip(mine, theirs, strict=True))
                point[f"{engine.name} {mode}"] = {
                    "recall": recall[engine.name, mode],
                    "qps": len(ds.queries) / float(np.median(theirs)),
                    "heron_ratio": float(np.median(ratios)),
                    "heron_ratio_min": ratios[0],
                    "heron_ratio_max": ratios[-1],
                }
        log(
            f"  paired t={args.threads_now} ef={knob}: "
            + ", ".join(
                f"{key} {p['qps']:.0f} qps ({p['heron_ratio']:.2f}x)"
                for key, p in point.items()
                if key != "knob"
            )
        )
        points.append(point)
    for engine in engines:
        engine.close()
    names = [engine.name for engine in engines]
    return {
        "threads": args.threads_now,
        "rounds": args.paired_rounds,
        "engines": names,
        "points": points,
    }


def paired_curve(points: list[dict[str, Any]], name: str, mode: str) -> list[dict[str, Any]]:
    return [
        {"recall": p[f"{name} {mode}"]["recall"], "qps": p[f"{name} {mode}"]["qps"]} for p in points
    ]


def paired_table(paired: dict[str, Any]) -> str:
    """Per thread count, mode and peer: QPS interpolated at recall 0.95 on the paired
    curves, and heron's ratio per ef (median over rounds, with min-max)."""
    rows = []
    for t, result in paired.items():
        points = result["points"]
        for mode in ("single", "batch"):
            heron_at = qps_at(paired_curve(points, "heron-hnsw", mode), "qps")
            for name in result["engines"]:
                if name == "heron-hnsw":
                    continue
                at = qps_at(paired_curve(points, name, mode), "qps")
                per_ef = "; ".join(
                    f"ef {p['knob']}: {p[f'{name} {mode}']['heron_ratio']:.2f}x "
                    f"({p[f'{name} {mode}']['heron_ratio_min']:.2f}-"
                    f"{p[f'{name} {mode}']['heron_ratio_max']:.2f}), "
                    f"recall {p[f'heron-hnsw {mode}']['recall']:.3f} / "
                    f"{p[f'{name} {mode}']['recall']:.3f}"
                    for p in points
                )
                rows.append(
                    [t, mode, name, f"{fmt(heron_at)} / {fmt(at)}", ratio(heron_at, at), per_ef]
                )
    return markdown_table(
        [
            "threads",
            "mode",
            "peer",
            "QPS @0.95 heron / peer",
            "heron / peer @0.95",
            "per ef: heron / peer QPS, median (min-max over rounds); recall heron / peer",
        ],
        rows,
    )


# ---------------------------------------------------------------------- bandwidth


def copy_bandwidth(threads: int, megabytes: int = 512, repeats: int = 5) -> float:
    """STREAM-style copy bandwidth in GB/s ((read + write bytes) / s), best of ``repeats``."""
    src = np.ones(megabytes * 2**20 // 4, np.float32)
    dst = np.empty_like(src)
    parts = np.array_split(np.arange(src.shape[0]), threads)
    bounds = [(int(p[0]), int(p[-1]) + 1) for p in parts]

    def copy(lo: int, hi: int) -> None:
        np.copyto(dst[lo:hi], src[lo:hi])

    best = float("inf")
    for _ in range(repeats):
        workers = [threading.Thread(target=copy, args=b) for b in bounds]
        start = perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        best = min(best, perf_counter() - start)
    return 2 * src.nbytes / best / 1e9


# ---------------------------------------------------------------------- report


def qps_at(curve: list[dict[str, Any]], key: str, target: float = TARGET) -> float | None:
    """QPS interpolated on the recall/QPS curve at ``target`` recall (log-linear)."""
    rkey = "recall" if key == "qps" else "batch_recall"
    points = [(p[rkey], p[key]) for p in curve]
    if not points:
        return None
    if points[0][0] >= target:
        return float(points[0][1])
    for (r0, q0), (r1, q1) in zip(points, points[1:], strict=False):
        if r0 < target <= r1:
            w = (target - r0) / (r1 - r0)
            return float(np.exp(np.log(q0) + w * (np.log(q1) - np.log(q0))))
    return None


def first_reaching(curve: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    rkey = "recall" if key == "qps" else "batch_recall"
    return next((p for p in curve if p[rkey] >= TARGET), None)


def fmt(x: float | None, digits: int = 0) -> str:
    return "n/a" if x is None else f"{x:,.{digits}f}"


def ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def knob_label(point: dict[str, Any] | None) -> str:
    if point is None:
        return "never"
    return "exact" if point["knob"] is None else str(point["knob"])


def unfiltered_table(runs: dict[str, Any], threads: Sequence[int]) -> str:
    rows = []
    for mode, key in (("single", "qps"), ("batch", "batch_qps")):
        for t in threads:
            heron = runs.get("heron-hnsw", {}).get("query", {}).get(str(t))
            heron_q = qps_at(heron["curve"], key) if heron else None
            for name, run in runs.items():
                q = run.get("query", {}).get(str(t))
                if not q:
                    continue
                first = first_reaching(q["curve"], key)
                at = qps_at(q["curve"], key)
                rkey = "recall" if key == "qps" else "batch_recall"
                rows.append(
                    [
                        mode,
                        t,
                        name,
                        knob_label(first),
                        fmt(first[rkey], 3)
                        if first
                        else f"max {max(p[rkey] for p in q['curve']):.3f}",
                        fmt(first[key]) if first else "n/a",
                        fmt(at),
                        ratio(heron_q, at) if name != "heron-hnsw" else "",
                    ]
                )
    return markdown_table(
        [
            "mode",
            "threads",
            "engine",
            "first ef >= 0.95",
            "recall@10",
            "QPS there",
            "QPS @0.95 (interp.)",
            "heron-hnsw / this",
        ],
        rows,
    )


def chroma_reference(runs: dict[str, Any], t: int) -> dict[str, dict[str, Any]]:
    """Per filter, Chroma's row to compare with: its fastest at recall >= 0.95, else its
    most accurate."""
    best: dict[str, dict[str, Any]] = {}
    for r in runs.get("chroma", {}).get("query", {}).get(str(t), {}).get("filtered", []):
        old = best.get(r["filter"])
        key = (r["recall"] >= TARGET, r["qps"] if r["recall"] >= TARGET else r["recall"])
        if old is None or key > (
            old["recall"] >= TARGET,
            old["qps"] if old["recall"] >= TARGET else old["recall"],
        ):
            best[r["filter"]] = r
    return best


def filtered_table(runs: dict[str, Any], t: int) -> str:
    rows = []
    chroma = chroma_reference(runs, t)
    order = {name: i for i, name in enumerate(runs)}
    for name, run in runs.items():
        for r in run.get("query", {}).get(str(t), {}).get("filtered", []):
            c = chroma.get(r["filter"])
            rows.append(
                [
                    r["filter"],
                    f"{100 * r['selectivity']:.2g}%",
                    name,
                    "planner" if name.startswith("heron") else knob_label(r),
                    f"{r['recall']:.3f}",
                    fmt(r["qps"]),
                    r.get("short", ""),
                    "/".join(r.get("plans", [])),
                    f"{ratio(r['qps'], c['qps'])} (chroma ef {c.get('knob')}: {c['recall']:.3f})"
                    if c and name != "chroma"
                    else "",
                ]
            )
    rows.sort(key=lambda row: (FILTER_ORDER.get(str(row[0]), 99), order[str(row[2])]))
    return markdown_table(
        [
            "filter",
            "selectivity",
            "engine",
            "ef",
            "recall@10",
            "QPS",
            "queries < k hits",
            "Heron plan",
            "QPS vs chroma",
        ],
        rows,
    )


def insert_cell(ins: dict[str, Any], chroma: dict[str, Any], batch: int, key: str = "per_s") -> str:
    mine = ins[str(batch)][key]
    return f"{fmt(mine)} ({ratio(mine, chroma.get(str(batch), {}).get(key))})"


def ops_table(runs: dict[str, Any], threads: Sequence[int]) -> str:
    chroma = runs.get("chroma", {}).get("build", {})
    rows = []
    last = str(threads[-1])
    for name, run in runs.items():
        b = run.get("build")
        if not b:
            continue
        ins = b["inserts"]
        cins = chroma.get("inserts", {})
        d = run.get("query", {}).get(last, {}).get("delete", {})
        reopen = " / ".join(
            fmt(run["query"][str(t)]["reopen_s"], 2)
            for t in threads
            if str(t) in run.get("query", {})
        )
        rss_open = run.get("query", {}).get(last, {}).get("rss_open_mb")
        rows.append(
            [
                name,
                fmt(b["build_s"], 1),
                fmt(b["index_s"], 1),
                *(insert_cell(ins, cins, s) for s in INSERT_BATCHES),
                insert_cell(ins, cins, 1000, "with_first_query_per_s"),
                f"{d['recall']:.3f}" if d else "n/a",
                str(d.get("deleted_ids_returned", "")) if d else "",
                f"{d['after_compact']['recall']:.3f}" if d and "after_compact" in d else "",
                reopen,
                fmt(b["rss_build_mb"]),
                fmt(rss_open),
                fmt(b["disk_mb"], 1),
            ]
        )
    return markdown_table(
        [
            "engine",
            "build s",
            "of which index s",
            "insert/s b=1 (vs chroma)",
            "b=100 (vs chroma)",
            "b=1000 (vs chroma)",
            "b=1000 incl. first query (vs chroma)",
            "recall after -10%",
            "deleted ids returned",
            "after compact",
            "reopen s (per thread count)",
            "RSS build MB",
            "RSS open MB",
            "disk MB",
        ],
        rows,
    )


def bound_table(
    runs: dict[str, Any], bandwidth: dict[str, float], n: int, dim: int, threads: Sequence[int]
) -> str:
    rows = []
    scanned = n * dim * 4
    for name in ("heron-flat", "faiss-flat"):
        for t in threads:
            q = runs.get(name, {}).get("query", {}).get(str(t))
            if not q:
                continue
            p = q["curve"][0]
            bw = bandwidth[str(t)]
            bound_ms = scanned / (bw * 1e9) * 1e3
            rows.append(
                [
                    name,
                    t,
                    f"{bw:.1f}",
                    f"{scanned / 1e6:.0f}",
                    f"{bound_ms:.2f}",
                    f"{1e3 / p['qps']:.2f}",
                    f"{1e3 / p['qps'] / bound_ms:.2f}x",
                    f"{1e3 / p['batch_qps']:.3f}",
                ]
            )
    return markdown_table(
        [
            "engine",
            "threads",
            "copy GB/s",
            "MB scanned/query",
            "bound ms",
            "single-query ms",
            "latency / bound",
            "batch ms/query",
        ],
        rows,
    )


def plots(result: dict[str, Any], threads: Sequence[int], data: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = result["runs"]
    written = []
    IMG_DIR.mkdir(parents=True, exist_ok=True)
    for mode, key, rkey in (("single", "qps", "recall"), ("batch", "batch_qps", "batch_recall")):
        fig, axes = plt.subplots(1, len(threads), figsize=(6 * len(threads), 4.5), squeeze=False)
        for ax, t in zip(axes[0], threads, strict=True):
            for name, run in runs.items():
                q = run.get("query", {}).get(str(t))
                if not q:
                    continue
                xs = [p[rkey] for p in q["curve"]]
                ys = [p[key] for p in q["curve"]]
                ax.plot(
                    xs,
                    ys,
                    marker="o" if len(xs) > 1 else "*",
                    markersize=4 if len(xs) > 1 else 10,
                    label=name,
                )
            ax.axvline(TARGET, color="grey", linestyle=":", linewidth=1)
            ax.set_yscale("log")
            ax.set_xlabel("recall@10")
            ax.set_ylabel("queries / s" + (" (one batch call)" if mode == "batch" else ""))
            ax.set_title(f"{data}, n={result['n']:,}, {t} thread{'s' if t > 1 else ''}, {mode}")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
        fig.tight_layout()
        out = IMG_DIR / f"vectors_{data}_{mode}.png"
        fig.savefig(out, dpi=110)
        plt.close(fig)
        written.append(out)
    filtered_out = filtered_plot(result, threads[-1], data)
    return written + ([filtered_out] if filtered_out else [])


def filtered_plot(result: dict[str, Any], t: int, data: str) -> Path | None:
    """Grouped bars: filtered QPS per filter and engine (and ef), recall on each bar."""
    import matplotlib.pyplot as plt

    runs = result["runs"]
    series: dict[str, dict[str, dict[str, Any]]] = {}
    for name, run in runs.items():
        for r in run.get("query", {}).get(str(t), {}).get("filtered", []):
            label = name if r.get("knob") is None else f"{name} ef={r['knob']}"
            series.setdefault(label, {})[r["filter"]] = r
    if not series:
        return None
    cases = [c for c in FILTER_NAMES if any(c in rows for rows in series.values())]
    fig, ax = plt.subplots(figsize=(13, 5))
    width = 0.8 / len(series)
    for j, (label, rows) in enumerate(series.items()):
        xs = np.arange(len(cases)) + j * width
        ys = [rows[c]["qps"] if c in rows else 0 for c in cases]
        bars = ax.bar(xs, ys, width, label=label)
        for bar, c in zip(bars, cases, strict=True):
            if c not in rows:
                continue
            ax.annotate(
                f"{rows[c]['recall']:.2f}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=6,
                rotation=90,
            )
    ax.set_xticks(np.arange(len(cases)) + 0.4 - width / 2, cases, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("queries / s (single-query loop)")
    ax.set_title(
        f"filtered queries, {data}, n={result['n']:,}, {t} threads (number above a bar: recall@10)"
    )
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    out = IMG_DIR / f"vectors_{data}_filtered.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


# ---------------------------------------------------------------------- driver


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def worker_args(
    args: argparse.Namespace, engine: str, phase: str, threads: int, delete: bool = False
) -> list[str]:
    out = [
        "--phase",
        phase,
        "--engine",
        engine,
        "--threads-now",
        str(threads),
        "--data",
        args.data,
        "--n",
        str(args.n),
        "--dim",
        str(args.dim),
        "--queries",
        str(args.queries),
        "--seed",
        str(args.seed),
        "--noise",
        str(args.noise),
        "--filter-queries",
        str(args.filter_queries),
        "--repeats",
        str(args.repeats),
        "--batch",
        str(args.batch),
        "--insert-n",
        str(args.insert_n),
    ]
    out += ["--unfiltered-only"] if args.unfiltered_only else []
    out += ["--paired-rounds", str(args.paired_rounds)]
    return out + (["--delete"] if delete else [])


def run_engine(
    script: Path, args: argparse.Namespace, name: str, threads: list[int], build_threads: int
) -> dict[str, Any]:
    """One engine: a build process (or, with ``--unfiltered-only``, the store kept by an
    earlier such run), then one query process per thread count."""
    out: dict[str, Any] = {"notes": ENGINES[name].notes}
    kept = store_path(spec_of(args), name).with_name(f"{name}.build.json")
    if args.unfiltered_only and kept.exists():
        log(f"{name}: reusing the store built earlier ({kept.name})")
        out["build"] = json.loads(kept.read_text(encoding="utf-8"))
    else:
        log(f"{name}: build ({build_threads} threads) ...")
        out["build"] = run_worker(
            script, worker_args(args, name, "build", build_threads), build_threads
        )["result"]
        if args.unfiltered_only:
            write_json(kept, out["build"])
    out["query"] = {}
    for t in threads:
        log(f"{name}: queries ({t} threads) ...")
        delete = t == threads[-1] and not args.unfiltered_only
        payload = run_worker(script, worker_args(args, name, "query", t, delete=delete), t)
        out["query"][str(t)] = payload["result"]
    return out


def resumable(partial: Path, result: dict[str, Any]) -> dict[str, Any] | None:
    """A partial result of the same data, threads and code to continue from, if any."""
    if not partial.exists():
        return None
    previous: dict[str, Any] = json.loads(partial.read_text(encoding="utf-8"))
    same = all(previous.get(key) == result[key] for key in ("spec", "threads", "build_threads"))
    return previous if same else None


def run(args: argparse.Namespace) -> dict[str, Any]:
    spec = spec_of(args)
    ds = load_dataset(spec, args.stdlib_home, log=log)
    threads = [int(t) for t in args.threads.split(",")]
    build_threads = args.build_threads or max(threads)
    chosen = variants(args.engines.split(","))
    result: dict[str, Any] = {
        "data": args.data,
        "n": ds.n,
        "dim": ds.dim,
        "queries": len(ds.queries),
        "k": K,
        "spec": spec.__dict__,
        "threads": threads,
        "build_threads": build_threads,
        "selectivity": {c.name: ds.selectivity(c) for c in ds.filters()},
        "machine": machine_info(),
        "heron_code": heron_code_state(),
        "runs": {},
        "skipped": {},
    }
    partial = RESULTS_DIR / f"vectors_{result_name(args)}.partial.json"
    previous = resumable(partial, result) if args.resume else None
    if previous is not None:
        result["bandwidth_gbs"] = previous["bandwidth_gbs"]
        result["runs"] = previous["runs"]
        log(f"resuming: {', '.join(result['runs'])} done")
    else:
        log("copy bandwidth ...")
        result["bandwidth_gbs"] = {str(t): copy_bandwidth(t) for t in threads}
    script = Path(__file__).resolve()
    for name in sorted(chosen, key=PRIORITY.index):
        why = ENGINES[name].available()
        if why:
            log(f"skip {name}: {why}")
            result["skipped"][name] = why
            continue
        if name in result["runs"]:
            continue
        try:
            result["runs"][name] = run_engine(script, args, name, threads, build_threads)
        except subprocess.CalledProcessError as error:
            log(f"{name} failed: {error}")
            result["skipped"][name] = f"failed: {error}"
        result["load_average_after"] = list(os.getloadavg())
        write_json(partial, result)
    result["runs"] = {name: result["runs"][name] for name in ENGINES if name in result["runs"]}
    result["unfiltered_only"] = bool(args.unfiltered_only)
    if args.paired and "heron-hnsw" in result["runs"]:
        result["paired"] = {}
        for t in threads:
            log(f"paired heron-hnsw / faiss-hnsw ({t} threads) ...")
            payload = run_worker(script, worker_args(args, "heron-hnsw", "paired", t), t)
            result["paired"][str(t)] = payload["result"]
    if not args.unfiltered_only:
        remove(STORES / spec.key())
    return result


def result_name(args: argparse.Namespace) -> str:
    return f"{args.data}_unfiltered" if args.unfiltered_only else args.data


def headline_unfiltered(runs: dict[str, Any], threads: Sequence[int]) -> str:
    """Per engine: QPS interpolated at recall@10 = 0.95, and Heron HNSW's ratio to it."""
    cols = [
        (t, mode, key) for mode, key in (("single", "qps"), ("batch", "batch_qps")) for t in threads
    ]
    heron = runs.get("heron-hnsw", {}).get("query", {})
    rows = []
    for name, run in runs.items():
        cells: list[str] = [name]
        for t, _mode, key in cols:
            q = run.get("query", {}).get(str(t))
            at = qps_at(q["curve"], key) if q else None
            h = heron.get(str(t))
            mine = qps_at(h["curve"], key) if h else None
            extra = "" if name == "heron-hnsw" or at is None else f" ({ratio(mine, at)})"
            cells.append(f"{fmt(at)}{extra}")
        rows.append(cells)
    return markdown_table(["engine"] + [f"{m} {t}t" for t, m, _ in cols], rows)


def ef_cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return "n/a"
    return f"{row['recall']:.3f} / {fmt(row['qps'])} (ef {row.get('knob')})"


def headline_filtered(runs: dict[str, Any], t: int) -> str:
    """Per filter: Heron (planner) vs Chroma's reference row and LanceDB's best."""
    chroma = chroma_reference(runs, t)

    def rows_of(name: str) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for r in runs.get(name, {}).get("query", {}).get(str(t), {}).get("filtered", []):
            out.setdefault(r["filter"], []).append(r)
        return out

    heron, lance = rows_of("heron-hnsw"), rows_of("lance")
    table = []
    for case in FILTER_NAMES:
        h = (heron.get(case) or [None])[0]
        c = chroma.get(case)
        best_lance = max(lance.get(case, []), key=lambda r: (r["recall"], r["qps"]), default=None)
        table.append(
            [
                case,
                f"{100 * h['selectivity']:.2g}%" if h else "",
                f"{h['recall']:.3f} / {fmt(h['qps'])} ({'/'.join(h.get('plans', []))})"
                if h
                else "n/a",
                ef_cell(c),
                ratio(h["qps"], c["qps"]) if h and c else "n/a",
                ef_cell(best_lance),
            ]
        )
    return markdown_table(
        [
            "filter",
            "selectivity",
            "heron-hnsw recall / QPS (plan)",
            "chroma recall / QPS",
            "heron / chroma QPS",
            "lance recall / QPS",
        ],
        table,
    )


def report(result: dict[str, Any]) -> None:
    threads = result["threads"]
    runs = result["runs"]
    print(
        f"\n## {result['data']}: n={result['n']:,}, dim={result['dim']}, "
        f"{result['queries']} queries, k={K}, build threads {result['build_threads']}\n"
    )
    print("### Headline: QPS at recall@10 = 0.95 (interpolated; heron-hnsw / engine)\n")
    print(headline_unfiltered(runs, threads))
    if result.get("unfiltered_only"):
        print("\n### Unfiltered: QPS at matched recall\n")
        print(unfiltered_table(runs, threads))
        if result.get("paired"):
            print("\n### Paired in one process: heron-hnsw vs its peers, rotating rounds\n")
            print(paired_table(result["paired"]))
        return
    for t in threads:
        print(f"\n### Headline: filtered, {t} thread(s), recall@10 / QPS\n")
        print(headline_filtered(runs, t))
    print("\n### Unfiltered: QPS at matched recall\n")
    print(unfiltered_table(runs, threads))
    for t in threads:
        print(f"\n### Filtered ({t} threads, single-query loop)\n")
        print(filtered_table(runs, t))
    print("\n### Build, inserts, delete, reopen, memory, disk\n")
    print(ops_table(runs, threads))
    print("\n### Exact search vs the memory-bandwidth bound\n")
    print(bound_table(runs, result["bandwidth_gbs"], result["n"], result["dim"], threads))
    for name, why in result["skipped"].items():
        print(f"\nskipped {name}: {why}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=("synthetic", "stdlib"), default="synthetic")
    parser.add_argument("--n", type=int, default=100_000, help="vectors (synthetic)")
    parser.add_argument("--dim", type=int, default=384, help="dimension (synthetic)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=float, default=2.0, help="cluster noise (synthetic)")
    parser.add_argument(
        "--filter-queries", type=int, default=100, help="queries per filtered measurement"
    )
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument(
        "--build-threads",
        type=int,
        default=0,
        help="threads for the build (default: the largest of --threads)",
    )
    parser.add_argument("--engines", default="heron,faiss,hnswlib,chromadb,lancedb")
    parser.add_argument("--repeats", type=int, default=2, help="timed rounds per sweep point")
    parser.add_argument("--batch", type=int, default=5000, help="insert batch for the build")
    parser.add_argument(
        "--insert-n", type=int, default=2000, help="vectors per insert-throughput test"
    )
    parser.add_argument(
        "--stdlib-home",
        type=Path,
        default=None,
        help="read stdlib vectors from this Heron store instead of ingesting",
    )
    parser.add_argument(
        "--replot", action="store_true", help="only redraw plots and tables from the saved JSON"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run (engines in vectors_<data>.partial.json are kept)",
    )
    parser.add_argument(
        "--unfiltered-only",
        action="store_true",
        help="only the unfiltered sweeps (no inserts, filters, deletes, plots); keeps and "
        "reuses each engine's built store; writes vectors_<data>_unfiltered.json",
    )
    parser.add_argument(
        "--paired",
        action="store_true",
        help="with --unfiltered-only: also time heron-hnsw, faiss-hnsw and chroma in turn "
        "in one process per thread count (robust ratios on a busy machine)",
    )
    parser.add_argument("--paired-rounds", type=int, default=7, help="rounds of --paired")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    parser.add_argument("--phase", choices=("build", "query", "paired"), help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--threads-now", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--delete", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    go_offline()
    if args.worker:
        os.environ["LANCE_CPU_THREADS"] = str(args.threads_now)
        phase = {"build": build_phase, "query": query_phase, "paired": paired_phase}[args.phase]
        write_json(Path(args.json), {"result": phase(args)})
        return
    out = RESULTS_DIR / f"vectors_{result_name(args)}.json"
    if args.replot:
        result = json.loads(out.read_text(encoding="utf-8"))
    else:
        result = run(args)
        write_json(out, result)
    report(result)
    if not result.get("unfiltered_only"):
        for path in plots(result, result["threads"], args.data):
            log(f"wrote {path}")
    log(f"wrote {out}")


if __name__ == "__main__":
    main()
