"""Calibrate the abstention threshold: best dense score of answerable vs unanswerable questions.

Run against a store holding the stdlib corpus (``heron ingest --corpus stdlib -c pydocs``):

    .venv/bin/python bench/calibrate_abstain.py --home .heron --collection pydocs

Answerable questions are the stdlib dev and test sets in src/heron/evals/data; the
unanswerable ones (unanswerable.jsonl) ask about things the standard library docs do
not cover. The script prints both score distributions and, for each threshold, the
share of answerable questions still answered and of unanswerable ones abstained on.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from heron.rag.retrieve import Retriever
from heron.store import open_store

DATA = Path(__file__).resolve().parents[1] / "src" / "heron" / "evals" / "data"


def best_scores(retriever: Retriever, path: Path) -> list[float]:
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [retriever.retrieve(item["query"]).best_dense_score for item in lines]


def describe(name: str, scores: list[float]) -> None:
    ordered = sorted(scores)
    n = len(ordered)
    print(
        f"{name:13} n={n:3d} min={ordered[0]:.3f} p10={ordered[n // 10]:.3f} "
        f"median={ordered[n // 2]:.3f} p90={ordered[n * 9 // 10]:.3f} max={ordered[-1]:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=".heron")
    parser.add_argument("--collection", default="pydocs")
    args = parser.parse_args()
    with open_store(args.home) as store:
        retriever = Retriever(store.get_collection(args.collection), k=4)
        answerable = best_scores(retriever, DATA / "stdlib_dev.jsonl") + best_scores(
            retriever, DATA / "stdlib_test.jsonl"
        )
        unanswerable = best_scores(retriever, DATA / "unanswerable.jsonl")
    describe("answerable", answerable)
    describe("unanswerable", unanswerable)
    print("\n| threshold | answerable answered | unanswerable abstained |\n|---|---|---|")
    for step in range(25, 50, 3):
        t = step / 100
        answered = sum(s >= t for s in answerable) / len(answerable)
        abstained = sum(s < t for s in unanswerable) / len(unanswerable)
        print(f"| {t:.2f} | {answered:.3f} | {abstained:.3f} |")


if __name__ == "__main__":
    main()
