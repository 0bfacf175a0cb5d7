"""Where should ``auto`` switch from exact search to HNSW? Exact numpy vs FAISS HNSW by size.

    .venv/bin/python bench/index_threshold.py [--sizes 10000,25000,50000,100000]

Prints, per collection size, the exact (numpy) latency of one query, the HNSW build
time per vector, its query latency and its recall@10 against exact. Data: seeded
384-d vectors around 1,000 Gaussian centres (noise 1.2), 200 queries drawn alike.
The figures behind ``heron.store.index_spec.AUTO_ANN_MIN`` are in docs/store.md.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from heron.store.ann import AnnConfig, build_index
from heron.store.index import ExactIndex

DIM, CENTRES, QUERIES = 384, 1000, 200


def measure(n: int, rng: np.random.Generator, centres: np.ndarray) -> str:
    vectors = (centres[rng.integers(0, CENTRES, n)] + 1.2 * rng.normal(size=(n, DIM))).astype(
        np.float32
    )
    queries = (
        centres[rng.integers(0, CENTRES, QUERIES)] + 1.2 * rng.normal(size=(QUERIES, DIM))
    ).astype(np.float32)
    ids = np.arange(n, dtype=np.int64)
    exact = ExactIndex("cosine", ids, vectors.copy())
    started = time.perf_counter()
    for query in queries:
        exact.search(query[None], 10)
    exact_ms = (time.perf_counter() - started) / QUERIES * 1e3
    started = time.perf_counter()
    hnsw = build_index(AnnConfig(kind="hnsw"), vectors, ids)
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    for query in queries:
        hnsw.search(query[None], 10)
    hnsw_ms = (time.perf_counter() - started) / QUERIES * 1e3
    truth = exact.search(queries, 10).ids
    _, labels = hnsw.search(queries, 10)
    recall = np.mean([len(set(truth[i]) & set(labels[i])) / 10 for i in range(QUERIES)])
    return (
        f"n={n:>7}: exact {exact_ms:.2f} ms/query | hnsw build {build_s:.1f} s "
        f"({build_s / n * 1e6:.0f} us/vector), {hnsw_ms:.3f} ms/query, recall@10 {recall:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,25000,50000,100000")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(CENTRES, DIM)).astype(np.float32)
    for n in (int(size) for size in args.sizes.split(",")):
        print(measure(n, rng, centres), flush=True)


if __name__ == "__main__":
    main()
