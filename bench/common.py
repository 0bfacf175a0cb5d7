"""Timing and thread pinning for the benchmarks in bench/, plus the shared output helpers.

* ``measure_interleaved`` warms every case up, then times ``repeats`` rounds that
  each run every case once, rotating the order per round. This machine is shared
  (2 cores, other jobs come and go): interleaving makes a noisy spell slow every
  case alike instead of one, and the best round is the least disturbed one.
* ``pin_threads`` gives every native thread pool in the process one size: torch's
  intra-op pool and the OpenMP/MKL/OpenBLAS/Rayon (tokenizers) pools through their
  environment variables. Those are read when a library starts, so call it before
  importing torch or tokenizers, or run each thread count in its own process
  (``run_worker``).
* Results go to ``bench/results/`` as JSON; tables print as GitHub markdown. The
  table, JSON and machine-info helpers are ``_stacks``' (shared with ingest/rag).

Left out: CPU frequency and core-affinity control, significance tests, memory use.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

from _stacks import RESULTS_DIR, go_offline, machine_info, markdown_table, write_json

__all__ = [
    "RESULTS_DIR",
    "Measurement",
    "go_offline",
    "machine_info",
    "markdown_table",
    "measure_interleaved",
    "pin_threads",
    "print_table",
    "results_path",
    "run_worker",
    "thread_env",
    "write_json",
]

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "RAYON_NUM_THREADS",  # the tokenizers library's pool
)


@dataclass
class Measurement:
    """Wall times of one case over the timed rounds."""

    name: str
    items: int
    seconds: list[float] = field(default_factory=list)

    @property
    def best_s(self) -> float:
        return min(self.seconds)

    @property
    def median_s(self) -> float:
        return float(statistics.median(self.seconds))

    @property
    def rate(self) -> float:
        """Items per second in the best round."""
        return self.items / self.best_s

    @property
    def median_rate(self) -> float:
        return self.items / self.median_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "seconds": [round(s, 4) for s in self.seconds],
            "best_s": round(self.best_s, 4),
            "median_s": round(self.median_s, 4),
            "rate": round(self.rate, 2),
            "median_rate": round(self.median_rate, 2),
        }


def measure_interleaved(
    cases: Mapping[str, Callable[[], Any]],
    items: int,
    repeats: int = 3,
    warmups: Mapping[str, Callable[[], Any]] | None = None,
) -> tuple[dict[str, Measurement], dict[str, Any]]:
    """Time every case ``repeats`` times, round-robin; return timings and each last result."""
    for warm in (warmups or cases).values():
        warm()
    names = list(cases)
    timings = {name: Measurement(name, items) for name in names}
    results: dict[str, Any] = {}
    for round_no in range(repeats):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            start = perf_counter()
            results[name] = cases[name]()
            timings[name].seconds.append(perf_counter() - start)
    return timings, results


def thread_env(threads: int) -> dict[str, str]:
    """Environment variables that size every native thread pool to ``threads``."""
    return dict.fromkeys(THREAD_VARIABLES, str(threads))


def pin_threads(threads: int) -> None:
    """Pin this process's thread pools (call before importing torch or tokenizers)."""
    os.environ.update(thread_env(threads))
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(threads)


def run_worker(script: Path, args: Sequence[str], threads: int) -> dict[str, Any]:
    """Run ``script --worker ARGS --json FILE`` in a fresh process pinned to ``threads``."""
    out = results_path(f".{script.stem}-worker-{threads}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **thread_env(threads)}
    command = [sys.executable, str(script), "--worker", *args, "--json", str(out)]
    subprocess.run(command, check=True, env=env)
    try:
        payload: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    finally:
        out.unlink(missing_ok=True)
    return payload


def results_path(name: str) -> Path:
    """A file under ``bench/results/`` (the folder is git-ignored)."""
    return RESULTS_DIR / name


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    print(markdown_table(headers, rows))
