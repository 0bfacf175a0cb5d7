"""Where a single unfiltered query's time goes: Heron's steps vs the FAISS call itself.

    .venv/bin/python bench/query_overhead.py [--store DIR] [--ef 24] [--queries 200]

Uses the HNSW store and queries that ``bench/vectors.py`` built and cached (run it
once, e.g. with ``--unfiltered-only``); ``--store`` points at another
``.../heron-hnsw`` folder. One OpenMP thread. Prints each step's cost on one warm
query (best of 5 x 2,000 calls) and, over all queries, the whole query with ids only
and with the default ``include`` against raw FAISS on Heron's own graph (best of 9
rounds). Writes ``bench/results/query_overhead.json``. Figures in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from heron.store import Store, collection, open_store, planner
from heron.store.live import LiveIndex
from heron.store.validation import check_count, check_include

RESULTS = Path(__file__).parent / "results"


def _find_store() -> Path:
    found = sorted(RESULTS.glob("vectors_stores/synthetic-*/heron-hnsw"))
    if not found:
        raise SystemExit("no store found: run bench/vectors.py --unfiltered-only first")
    return found[-1]


def _queries(store_dir: Path, n: int) -> np.ndarray:
    cache = RESULTS / "vectors_cache" / store_dir.parent.name / "queries.npy"
    return np.load(cache).astype(np.float32)[:n]


def _best_us(fn: Callable[[], Any], number: int = 2000) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def steps(store: Store, query: np.ndarray, ef: int) -> dict[str, float]:
    """Each step of ``Collection.query(embeddings=q, k=10, include=[])`` alone, warm."""
    col = store.get_collection(store.list_collections()[0].name)
    col.query(embeddings=query, k=10, include=[], ef_search=ef)
    catalog = store.catalog
    view = store.indexer.current(col._id, catalog.state(catalog.conn))
    assert view is not None, "the query above caches the collection's view"
    row, index = view
    assert isinstance(index, LiveIndex)
    chosen = planner.plan(index, None, 10, ef_search=ef, nprobe=None)
    found = planner.execute(chosen, index, query, 10, None, collection._no_fetch)
    prepared = query / np.linalg.norm(query)
    params = faiss.SearchParametersHNSW()
    params.efSearch = ef
    raw = index.main._index  # noqa: SLF001 - the FAISS index Heron searches
    return {
        "arguments": _best_us(
            lambda: (check_include([], collection.QUERY_FIELDS), check_count(10, "k", minimum=1))
        ),  # fmt: skip
        "query vector": _best_us(lambda: col._query_vectors(None, query)),
        "data_version + cached view": _best_us(
            lambda: store.indexer.current(col._id, catalog.state(catalog.conn))
        ),
        "vector checks": _best_us(lambda: col._check_vectors(row, query, False)),
        "plan": _best_us(lambda: planner.plan(index, None, 10, ef_search=ef, nprobe=None)),
        "execute (FAISS included)": _best_us(
            lambda: planner.execute(chosen, index, query, 10, None, collection._no_fetch), 300
        ),
        "hits": _best_us(lambda: collection._id_hits(row, found, index.names, False)),
        "whole query": _best_us(
            lambda: col.query(embeddings=query, k=10, include=[], ef_search=ef), 300
        ),
        "raw FAISS search": _best_us(lambda: raw.search(prepared, 10, params=params), 300),
    }


def loops(store: Store, queries: np.ndarray, ef: int) -> dict[str, float]:
    """Per-query µs over all queries (cold-ish caches, as in a real loop), best of 9."""
    col = store.get_collection(store.list_collections()[0].name)
    col.query(embeddings=queries[:1], k=10, include=[], ef_search=ef)
    live = store.indexer.cached(col._id)
    assert isinstance(live, LiveIndex)
    raw = live.main._index  # noqa: SLF001
    params = faiss.SearchParametersHNSW()
    params.efSearch = ef
    normed = queries / np.linalg.norm(queries, axis=1, keepdims=True)

    def run(fn: Callable[[int], Any]) -> float:
        best = float("inf")
        for _ in range(9):
            started = time.perf_counter()
            for i in range(len(queries)):
                fn(i)
            best = min(best, (time.perf_counter() - started) / len(queries) * 1e6)
        return best

    return {
        "raw FAISS": run(lambda i: raw.search(normed[i : i + 1], 10, params=params)),
        "heron, ids only": run(
            lambda i: col.query(embeddings=queries[i : i + 1], k=10, include=[], ef_search=ef)
        ),
        "heron, default include": run(
            lambda i: col.query(embeddings=queries[i : i + 1], k=10, ef_search=ef)
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--ef", type=int, default=24)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    store_dir = args.store or _find_store()
    faiss.omp_set_num_threads(1)
    queries = _queries(store_dir, args.queries)
    with open_store(store_dir) as store:
        per_step = steps(store, queries[:1], args.ef)
        per_loop = loops(store, queries, args.ef)
    print(f"store {store_dir}, ef {args.ef}, 1 thread\n")
    print("| step (one warm query) | µs |\n|---|---:|")
    for name, us in per_step.items():
        print(f"| {name} | {us:.1f} |")
    faiss_us = per_loop["raw FAISS"]
    print(f"\n| loop over {len(queries)} queries | µs/query | over FAISS | FAISS ÷ this |")
    print("|---|---:|---:|---:|")
    for name, us in per_loop.items():
        print(f"| {name} | {us:.1f} | {us - faiss_us:+.1f} | {faiss_us / us:.2f}x |")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "query_overhead.json"
    out.write_text(json.dumps({"steps_us": per_step, "loop_us": per_loop}, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
