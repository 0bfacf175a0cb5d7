"""Tune chunking and hybrid search on the stdlib corpus with `heron eval retrieval` metrics.

For each chunker configuration it builds a collection (bundled MiniLM) from the
stdlib corpus and scores dense-only and hybrid (dense + BM25, reciprocal rank
fusion) retrieval on the dev questions (used for choosing) and the test questions
(reported, never tuned on). Run:

    .venv/bin/python bench/tune_retrieval.py --home /tmp/heron-tune

Results go to bench/results/tune_retrieval.json and a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from heron.evals.retrieval import evaluate_retrieval, load_queries
from heron.ingest.chunking import make_chunker
from heron.ingest.pipeline import ingest_groups
from heron.ingest.sources import corpus_groups
from heron.rag.retrieve import Retriever
from heron.store import Collection, open_store

DATA = Path(__file__).resolve().parents[1] / "src" / "heron" / "evals" / "data"
RESULTS = Path(__file__).resolve().parent / "results"
TEST_COLUMNS = "| test R@1 | test R@5 | test MRR |"
CONFIGS = (("structure", 200, 40), ("structure", 120, 24), ("structure", 320, 64),
           ("sentences", 200, 40), ("tokens", 200, 40))  # fmt: skip


def build(home: Path, name: str, chunker: str, size: int, overlap: int) -> Collection:
    store = open_store(home)
    col = store.get_or_create_collection(name, embedder="bundled:minilm")
    ingest_groups(col, corpus_groups("stdlib"), make_chunker(chunker, size=size, overlap=overlap))  # type: ignore[arg-type]
    return col


def score(col: Collection, split: str, hybrid: bool) -> dict[str, float]:
    queries = load_queries(DATA / f"stdlib_{split}.jsonl")
    out: dict[str, float] = {}
    for k in (1, 5):
        retriever = Retriever(col, k=k, hybrid=hybrid)
        report = evaluate_retrieval(lambda q, r=retriever: r.retrieve(q).hits, queries, k)
        out[f"recall@{k}"] = report.recall
        if k == 5:
            out["mrr"] = report.mrr
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="tune chunking and hybrid retrieval")
    parser.add_argument("--home", type=Path, default=Path("/tmp/heron-tune"))
    args = parser.parse_args()
    rows = []
    for chunker, size, overlap in CONFIGS:
        name = f"{chunker}-{size}"
        col = build(args.home, name, chunker, size, overlap)
        for hybrid in (False, True):
            row = {"config": name, "chunks": col.count(), "hybrid": hybrid}
            for split in ("dev", "test"):
                row.update({f"{split} {k}": v for k, v in score(col, split, hybrid).items()})
            rows.append(row)
            print(json.dumps(row), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "tune_retrieval.json").write_text(json.dumps(rows, indent=2))
    print("\n| chunking | chunks | retrieval | dev R@1 | dev R@5 | dev MRR " + TEST_COLUMNS)
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        mode = "hybrid" if r["hybrid"] else "dense"
        metrics = [
            r[f"{split} {m}"] for split in ("dev", "test") for m in ("recall@1", "recall@5", "mrr")
        ]
        cells = " | ".join(f"{v:.3f}" for v in metrics)
        print(f"| {r['config']} | {r['chunks']} | {mode} | {cells} |")


if __name__ == "__main__":
    main()
