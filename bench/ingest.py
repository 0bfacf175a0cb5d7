"""Ingest benchmark: Heron's pipeline vs the course's stack on the stdlib corpus.

Goal: Heron ingests the stdlib corpus at least 1.5x faster than the stack a course
teaches (LangChain's RecursiveCharacterTextSplitter + sentence-transformers + Chroma),
on the same chunks. Both stacks read the same documents (``load_corpus("stdlib")``,
loaded before any timing), embed with all-MiniLM-L6-v2 from the same folder (the one
``bundled:minilm`` ships) on the CPU with the same thread count (torch intra-op
threads for sentence-transformers, Heron's ``threads`` registry option for its
embedder), and write to a fresh persistent store each run. Heron embeds with what
``--embedder`` resolves to: ``bundled:minilm`` is ONNX Runtime fp32 when onnxruntime
is installed, else sentence-transformers; ``--embedder bundled:minilm#st`` runs Heron
on the course's engine, which isolates the pipeline. The engine is in the table's
title and the JSON.

Variants, each timed end to end from an empty store folder to the last write:

* ``own-splitter``: each stack as its user runs it. Heron is ``heron ingest --corpus
  stdlib``: ``open_store`` -> ``create_collection(embedder=<--embedder>)`` ->
  ``ingest_groups(col, group_documents(docs), make_chunker("structure"))`` (hash,
  chunk, embed, one durable SQLite transaction per source). The course splits with
  ``RecursiveCharacterTextSplitter`` (``--peer-chunk-size``/``--peer-overlap``
  characters; the defaults 800/160 give about as many chunks of about the same length
  as Heron's 200-token structure chunks), embeds with ``SentenceTransformer.encode``
  at its defaults, and ``add``s ids, documents, embeddings and metadata to a
  ``chromadb.PersistentClient`` collection in batches of ``get_max_batch_size()``.
* ``same-chunks``: both stacks get Heron's chunks, computed before timing, and embed
  exactly Heron's ``Chunk.embed_text`` and store ``Chunk.text`` with Heron's ids and
  metadata, so the comparison isolates embedding + writing.
* ``re-ingest`` (Heron only): reopen the store and ingest the unchanged corpus again;
  every source is skipped by its content hash. The course stack has no change
  detection: re-running it repeats the whole ingest.

Per run: wall seconds, chunks, chunks/s, stage split (chunk / embed / write) and the
store's size on disk. Runs alternate the stack order per repeat; the table shows
medians and the speed-up (course seconds / Heron seconds, >1 means Heron is faster).
Chroma is given ``embedding_function=None`` and explicit embeddings, so it never
loads (or downloads) its default ONNX model; telemetry is off; HF_HUB_OFFLINE=1.

Run (full corpus, several minutes on 2 cores)::

    .venv/bin/python bench/ingest.py --threads 2
    .venv/bin/python bench/ingest.py --threads 2 1 --repeats 3
    .venv/bin/python bench/ingest.py --embedder 'bundled:minilm#st'   # same engine
    .venv/bin/python bench/ingest.py --limit 300        # quick check

Output: a markdown table on stdout and ``bench/results/ingest.json``.
"""

from __future__ import annotations

import argparse
import importlib
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np

from _stacks import (
    RESULTS_DIR,
    Clock,
    TimedEmbedder,
    chroma_client,
    dir_bytes,
    go_offline,
    machine_info,
    markdown_table,
    median,
    minilm_folder,
    pin_torch_threads,
    progress_bar,
    release_chroma,
    write_json,
)
from heron.ingest import Chunker, load_corpus, make_chunker
from heron.ingest.pipeline import SourceGroup, group_documents, ingest_groups
from heron.models.base import Embedder
from heron.models.registry import ModelRegistry
from heron.store import Collection, open_store
from heron.types import Chunk, Document

DEFAULT_EMBEDDER = "bundled:minilm"
COLLECTION = "stdlib"
HERON, COURSE = "heron", "course"
OWN, SAME, REINGEST = "own-splitter", "same-chunks", "re-ingest"

#: (wall seconds, chunks written, seconds per stage)
Timing = tuple[float, int, dict[str, float]]


@dataclass(frozen=True)
class Run:
    """One timed ingest."""

    variant: str
    stack: str
    threads: int
    repeat: int
    seconds: float
    chunks: int
    disk_bytes: int
    stages: dict[str, float] = field(default_factory=dict)
    notes: str = ""


@dataclass(frozen=True)
class Prepared:
    """Inputs computed before any timing: documents and Heron's chunks of them."""

    documents: list[Document]
    groups: list[SourceGroup]
    chunks: dict[int, list[Chunk]]  # id(document) -> its chunks

    def all_chunks(self) -> list[Chunk]:
        return [c for doc in self.documents for c in self.chunks[id(doc)]]


# --------------------------------------------------------------------- Heron


class TimedCollection:
    """A ``WritableCollection`` that clocks writes; everything else passes through."""

    def __init__(self, collection: Collection, clock: Clock) -> None:
        self.collection = collection
        self.clock = clock
        self._embedder = TimedEmbedder(collection.embedder, clock)

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    def sources(self) -> dict[str, str]:
        return self.collection.sources()

    def replace_source(
        self,
        source: str,
        content_hash: str,
        ids: Sequence[str],
        documents: Sequence[str],
        embeddings: Any,
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        with self.clock.stage("write"):
            self.collection.replace_source(
                source, content_hash, ids, documents, embeddings, metadatas
            )

    def remove_source(self, source: str) -> int:
        with self.clock.stage("write"):
            return self.collection.remove_source(source)


class FixedChunker(Chunker):
    """Returns chunks computed ahead of time, so a run times only embed + write."""

    name = "fixed"

    def __init__(self, chunks: Mapping[int, list[Chunk]]) -> None:
        self.chunks = chunks

    def chunk(self, doc: Document) -> list[Chunk]:
        return self.chunks[id(doc)]


def heron_ingest(
    registry: ModelRegistry,
    embedder: str,
    folder: Path,
    groups: Callable[[], list[SourceGroup]],
    chunker: Chunker,
) -> Timing:
    """Heron's ingest into a new store at ``folder``: (seconds, chunks, stages)."""
    clock = Clock()
    start = perf_counter()
    store = open_store(folder, registry=registry)
    try:
        collection = store.get_or_create_collection(COLLECTION, embedder=embedder)
        report = ingest_groups(TimedCollection(collection, clock), groups(), chunker)
    finally:
        store.close()
    seconds = perf_counter() - start
    return seconds, report.chunks, _with_rest(clock.totals, seconds)


def _with_rest(stages: dict[str, float], seconds: float) -> dict[str, float]:
    """Stages plus "chunk": the rest (hashing, chunking, planning, opening the store)."""
    named = sum(stages.values())
    return {**stages, "chunk": max(0.0, seconds - named)}


def heron_reingest(registry: ModelRegistry, folder: Path, docs: list[Document]) -> Run:
    """Ingest the unchanged corpus again into the store just built (all skipped)."""
    start = perf_counter()
    store = open_store(folder, registry=registry)
    try:
        collection = store.get_collection(COLLECTION)
        report = ingest_groups(collection, group_documents(docs), make_chunker("structure"))
    finally:
        store.close()
    seconds = perf_counter() - start
    note = f"{report.unchanged} unchanged sources skipped by content hash"
    return Run(REINGEST, HERON, 0, 0, seconds, report.chunks, dir_bytes(folder), notes=note)


# ---------------------------------------------------------------- the course


@dataclass(frozen=True)
class Records:
    """What the course stack writes: ids, stored texts, texts to embed, metadata."""

    ids: list[str]
    documents: list[str]
    embed_texts: list[str]
    metadatas: list[dict[str, Any]]


def course_split(docs: Sequence[Document], size: int, overlap: int) -> Records:
    """LangChain's recursive character splitter over the documents, as a course does."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=overlap)
    pieces = splitter.create_documents(
        [d.text for d in docs], metadatas=[{**d.metadata, "source": d.source} for d in docs]
    )
    texts = [p.page_content for p in pieces]
    ids = [f"chunk-{i}" for i in range(len(pieces))]
    return Records(ids, texts, texts, [dict(p.metadata) for p in pieces])


def heron_records(chunks: Sequence[Chunk]) -> Records:
    """Heron's chunks as the course stack's inputs (what Heron embeds and stores)."""
    metadatas = []
    for chunk in chunks:
        meta: dict[str, Any] = {**chunk.metadata, "source": chunk.source}
        if chunk.title:
            meta.setdefault("title", chunk.title)
        metadatas.append(meta)
    return Records(
        [c.id for c in chunks], [c.text for c in chunks], [c.embed_text for c in chunks], metadatas
    )


def chroma_write(folder: Path, records: Records, vectors: np.ndarray) -> None:
    """A new persistent Chroma collection, filled in its maximum batch size."""
    client = chroma_client(folder)
    collection = client.create_collection(
        COLLECTION, embedding_function=None, metadata={"hnsw:space": "cosine"}
    )
    step = int(client.get_max_batch_size())
    for start in range(0, len(records.ids), step):
        stop = start + step
        collection.add(
            ids=records.ids[start:stop],
            documents=records.documents[start:stop],
            embeddings=vectors[start:stop],
            metadatas=records.metadatas[start:stop],
        )


def course_ingest(model: Any, folder: Path, records: Callable[[], Records]) -> Timing:
    """Split (or take given records), encode, write: (seconds, chunks, stages)."""
    clock = Clock()
    start = perf_counter()
    with clock.stage("chunk"):
        made = records()
    with clock.stage("embed"):
        vectors = model.encode(made.embed_texts)
    with clock.stage("write"):
        chroma_write(folder, made, vectors)
    return perf_counter() - start, len(made.ids), clock.totals


# ------------------------------------------------------------------ the runs


@dataclass
class Bench:
    """Everything a run needs: inputs, loaded models, settings."""

    prepared: Prepared
    course_model: Any
    embedder: str
    registries: dict[int, ModelRegistry]
    peer_size: int
    peer_overlap: int
    workdir: Path | None

    def run(self, variant: str, stack: str, threads: int, repeat: int) -> list[Run]:
        pin_torch_threads(threads)
        with tempfile.TemporaryDirectory(prefix=f"bench-{stack}-", dir=self.workdir) as tmp:
            folder = Path(tmp, "store")
            if stack == HERON:
                seconds, chunks, stages = self._heron(variant, threads, folder)
            else:
                seconds, chunks, stages = self._course(variant, folder)
            size = dir_bytes(folder)
            runs = [Run(variant, stack, threads, repeat, seconds, chunks, size, stages)]
            if stack == HERON and variant == OWN:
                again = heron_reingest(self.registries[threads], folder, self.prepared.documents)
                runs.append(Run(**{**asdict(again), "threads": threads, "repeat": repeat}))
            if stack == COURSE:
                release_chroma()
        return runs

    def _heron(self, variant: str, threads: int, folder: Path) -> Timing:
        registry = self.registries[threads]
        docs = self.prepared.documents
        if variant == OWN:
            return heron_ingest(
                registry,
                self.embedder,
                folder,
                lambda: group_documents(docs),
                make_chunker("structure"),
            )
        groups = self.prepared.groups
        chunker = FixedChunker(self.prepared.chunks)
        return heron_ingest(registry, self.embedder, folder, lambda: groups, chunker)

    def _course(self, variant: str, folder: Path) -> Timing:
        if variant == OWN:
            docs = self.prepared.documents
            return course_ingest(
                self.course_model,
                folder,
                lambda: course_split(docs, self.peer_size, self.peer_overlap),
            )
        made = heron_records(self.prepared.all_chunks())
        return course_ingest(self.course_model, folder, lambda: made)


def schedule(threads: Sequence[int], repeats: int) -> Iterator[tuple[str, str, int, int]]:
    """(variant, stack, threads, repeat); the stack order flips every repeat."""
    for n in threads:
        for repeat in range(repeats):
            order = (HERON, COURSE) if repeat % 2 == 0 else (COURSE, HERON)
            for variant in (OWN, SAME):
                for stack in order:
                    yield variant, stack, n, repeat


def prepare(limit: int | None, cache: Path | None) -> Prepared:
    docs = load_corpus("stdlib", cache_dir=cache)
    docs = docs[:limit] if limit else docs
    chunker = make_chunker("structure")
    return Prepared(docs, group_documents(docs), {id(d): chunker.chunk(d) for d in docs})


def load_models(embedder: str, threads: Sequence[int]) -> tuple[Any, dict[int, ModelRegistry], str]:
    """Both stacks' models, loaded and warmed up before any timing; and Heron's engine."""
    from sentence_transformers import SentenceTransformer

    warm = ["warm-up text for the embedder"] * 64
    hf_logging: Any = importlib.import_module("transformers.utils.logging")
    hf_logging.disable_progress_bar()  # transformers' "Loading weights" bar
    course = SentenceTransformer(str(minilm_folder()), device="cpu")
    course.encode(warm)
    registries = {}
    for n in threads:
        registry = ModelRegistry(options={"threads": n})
        registry.embedder(embedder).embed_many(warm)  # an ONNX graph is exported here once
        registries[n] = registry
    engine = type(registry.embedder(embedder)).__name__
    return course, registries, engine


# -------------------------------------------------------------------- report


def summarise(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """Median per (variant, stack, threads) with the speed-up against the course."""
    order = {OWN: 0, SAME: 1, REINGEST: 2, HERON: 0, COURSE: 1}
    keys = sorted(
        {(r.variant, r.threads, r.stack) for r in runs},
        key=lambda k: (k[1], order[k[0]], order[k[2]]),
    )
    rows = []
    for variant, threads, stack in keys:
        group = [r for r in runs if (r.variant, r.threads, r.stack) == (variant, threads, stack)]
        seconds = median([r.seconds for r in group])
        stages = {s: median([r.stages.get(s, 0.0) for r in group]) for s in group[0].stages}
        rows.append(
            {
                "variant": variant,
                "stack": stack,
                "threads": threads,
                "runs": len(group),
                "seconds": seconds,
                "best_seconds": min(r.seconds for r in group),
                "chunks": group[0].chunks,
                "chunks_per_s": group[0].chunks / seconds if seconds > 0 else float("nan"),
                "stages": stages,
                "disk_mb": group[0].disk_bytes / 1e6,
                "notes": group[0].notes,
            }
        )
    _add_speedups(rows)
    return rows


def _add_speedups(rows: list[dict[str, Any]]) -> None:
    by_key = {(r["variant"], r["threads"], r["stack"]): r for r in rows}
    for row in rows:
        course = by_key.get((row["variant"], row["threads"], COURSE))
        if row["stack"] == HERON and course is not None:
            row["speedup_vs_course"] = course["seconds"] / row["seconds"]


def render(rows: Sequence[dict[str, Any]]) -> str:
    headers = [
        "variant", "stack", "threads", "runs", "chunks", "wall s", "chunks/s",
        "chunk/other s", "embed s", "write s", "disk MB", "speed-up (course s / Heron s)",
    ]  # fmt: skip
    table = []
    for r in rows:
        st = r["stages"]
        speedup = r.get("speedup_vs_course")
        table.append(
            [
                r["variant"], r["stack"], r["threads"], r["runs"], r["chunks"],
                f"{r['seconds']:.3f}", f"{r['chunks_per_s']:.1f}" if r["chunks"] else "-",
                _cell(st, "chunk"), _cell(st, "embed"), _cell(st, "write"),
                f"{r['disk_mb']:.1f}",
                f"{speedup:.2f}x" if speedup is not None else (r["notes"] or "-"),
            ]
        )  # fmt: skip
    note = (
        "\nre-ingest: the course stack has no change detection; re-running it repeats the "
        "whole ingest (about its own-splitter time)."
    )
    return markdown_table(headers, table) + note


def _cell(stages: Mapping[str, float], name: str) -> str:
    return f"{stages[name]:.3f}" if name in stages else "-"


# ---------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="first N corpus documents")
    parser.add_argument("--embedder", default=DEFAULT_EMBEDDER, help="Heron's embedder spec")
    parser.add_argument("--threads", type=int, nargs="+", default=[2], help="torch threads")
    parser.add_argument("--repeats", type=int, default=1, help="runs per stack and variant")
    parser.add_argument("--peer-chunk-size", type=int, default=800, help="splitter characters")
    parser.add_argument("--peer-overlap", type=int, default=160, help="splitter overlap chars")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "heron")
    parser.add_argument("--workdir", type=Path, default=None, help="where temp stores go")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "ingest.json")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    go_offline()
    prepared = prepare(args.limit, args.cache)
    course_model, registries, engine = load_models(args.embedder, args.threads)
    bench = Bench(
        prepared,
        course_model,
        args.embedder,
        registries,
        args.peer_chunk_size,
        args.peer_overlap,
        args.workdir,
    )
    plan = list(schedule(args.threads, args.repeats))
    runs: list[Run] = []
    with progress_bar() as bar:
        task = bar.add_task("ingest runs", total=len(plan))
        for variant, stack, threads, repeat in plan:
            bar.update(task, description=f"{variant} {stack} threads={threads} #{repeat}")
            runs.extend(bench.run(variant, stack, threads, repeat))
            bar.advance(task)
    rows = summarise(runs)
    print(
        f"Heron: {args.embedder} ({engine}); course: SentenceTransformer.encode + Chroma "
        f"{machine_info()['versions']['chromadb']}; {len(prepared.documents)} documents\n"
    )
    print(render(rows))
    config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    config["documents"] = len(prepared.documents)
    config["heron_engine"] = engine
    payload = {
        "benchmark": "ingest",
        "config": config,
        "machine": machine_info(),
        "summary": rows,
        "runs": [asdict(r) for r in runs],
    }
    write_json(args.out, payload)
    print(f"\nsaved {args.out}")


if __name__ == "__main__":
    main()
