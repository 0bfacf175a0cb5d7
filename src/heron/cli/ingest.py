"""``heron ingest``: files, folders or a built-in corpus into a collection."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from heron.cli.common import CliState, print_json, state
from heron.errors import InputError
from heron.ingest.chunking import make_chunker
from heron.ingest.pipeline import IngestReport, ProgressFn, ingest_groups, prune_missing
from heron.ingest.sources import LoadedGroups, corpus_groups, path_groups
from heron.store import Collection


def ingest_command(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(None, help="files or folders to ingest"),
    collection: str | None = typer.Option(
        None, "--collection", "-c", help="collection (created if missing)"
    ),
    corpus: str | None = typer.Option(
        None, "--corpus", help="a built-in corpus instead of paths: stdlib"
    ),
    chunker: str = typer.Option("structure", "--chunker", help="tokens | sentences | structure"),
    chunk_size: int = typer.Option(200, "--chunk-size", min=16, max=4096, help="tokens per chunk"),
    overlap: int = typer.Option(
        40, "--overlap", min=0, help="tokens shared by neighbouring chunks"
    ),
    include: list[str] = typer.Option([], "--include", help="glob of files to take (repeatable)"),
    exclude: list[str] = typer.Option([], "--exclude", help="glob of files to skip (repeatable)"),
    text_field: str = typer.Option("text", "--text-field", help="JSONL/CSV field holding the text"),
    max_file_mb: float = typer.Option(
        20.0, "--max-file-mb", min=0.001, help="files larger than this are refused"
    ),
    embedder: str | None = typer.Option(
        None, "--embedder", help="embedder spec for a new collection"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Load, chunk, embed and store documents; unchanged files are skipped."""
    st = state(ctx)
    if bool(paths) == bool(corpus):
        raise InputError(
            "give either PATH... or --corpus NAME", hint="e.g. `heron ingest docs/ -c docs`"
        )
    if overlap >= chunk_size:
        raise InputError(f"--overlap ({overlap}) must be smaller than --chunk-size ({chunk_size})")
    split = make_chunker(chunker, size=chunk_size, overlap=overlap)  # type: ignore[arg-type]
    # Load everything first: a path that cannot be read must not leave a new,
    # empty collection behind.
    if corpus:
        loads = [LoadedGroups(corpus_groups(corpus, st.settings.cache), [], "")]
    else:
        max_bytes = int(max_file_mb * 1_000_000)
        loads = [
            path_groups(p, include=include, exclude=exclude, text_field=text_field,
                        max_file_bytes=max_bytes)
            for p in paths
        ]  # fmt: skip
    col = open_collection(st, collection or st.settings.collection, embedder)
    report = IngestReport()
    for loaded in loads:
        part = ingest_groups(col, loaded.groups, split, progress=embedding_progress(st))
        if loaded.prefix:
            prune_missing(col, loaded.prefix, {g.source for g in loaded.groups}, part)
        _merge(report, part, loaded.skipped)
    _print_report(st, col.name, report, as_json)


def open_collection(st: CliState, name: str, embedder: str | None) -> Collection:
    """Get or create the collection; refuse an embedder that differs from its own."""
    store = st.store()
    existing = {info.name for info in store.list_collections()}
    if name not in existing:
        return store.create_collection(name, embedder=embedder or st.settings.embedder)
    col = store.get_collection(name)
    if embedder and col.embedder_spec != embedder:
        raise InputError(
            f"collection '{name}' was built with embedder {col.embedder_spec}, not {embedder}",
            hint="drop --embedder, or ingest into a new collection",
        )
    return col


def embedding_progress(st: CliState) -> Callable[[int], ProgressFn]:
    def start(total: int) -> ProgressFn:
        progress = st.progress()
        progress.start()
        task = progress.add_task("embedding chunks", total=total)

        def advance(done: int) -> None:
            progress.advance(task, done)
            if progress.tasks[0].completed >= total:
                progress.stop()

        if total == 0:
            progress.stop()
        return advance

    return start


def _merge(report: IngestReport, part: IngestReport, skipped: list[tuple[str, str]]) -> None:
    report.added += part.added
    report.replaced += part.replaced
    report.unchanged += part.unchanged
    report.removed += part.removed
    report.chunks += part.chunks
    report.seconds += part.seconds
    report.skipped.extend(part.skipped + skipped)


def _print_report(st: CliState, name: str, report: IngestReport, as_json: bool) -> None:
    if as_json:
        print_json({"collection": name, **report.to_dict()})
        return
    st.console.print(
        f"collection '{name}': {report.added} added, {report.replaced} replaced, "
        f"{report.unchanged} unchanged, {report.removed} removed sources; "
        f"{report.chunks} chunks in {report.seconds:.1f}s"
    )
    for source, reason in report.skipped:
        st.err.print(f"[yellow]skipped[/yellow] {source}: {reason}", markup=True)
