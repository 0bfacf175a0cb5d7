"""``heron collections list|info|delete|index|compact``."""

from __future__ import annotations

import dataclasses

import typer
from rich.table import Table

from heron.cli.common import print_json, state
from heron.store.index_spec import KINDS, IndexSpec

app = typer.Typer(
    help="List, inspect, index, compact and delete collections.", no_args_is_help=True
)


@app.command("list")
def list_command(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="print JSON")
) -> None:
    """List the collections in the store home."""
    st = state(ctx)
    infos = st.store().list_collections()
    if as_json:
        print_json([dataclasses.asdict(info) for info in infos])
        return
    if not infos:
        st.console.print(
            "no collections yet; create one with `heron ingest PATH --collection NAME`"
        )
        return
    table = Table("name", "count", "dimension", "metric", "embedder", "index")
    for info in infos:
        table.add_row(
            info.name,
            str(info.count),
            str(info.dimension),
            info.metric,
            str(info.embedder),
            info.index,
        )
    st.console.print(table)


@app.command("info")
def info_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="collection name"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Show a collection's size, dimension, metric and embedder."""
    st = state(ctx)
    info = dataclasses.asdict(st.store().get_collection(name).info())
    if as_json:
        print_json(info)
        return
    for key, value in info.items():
        st.console.print(f"[bold]{key}[/bold]: {value}")


@app.command("delete")
def delete_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="collection name"),
    yes: bool = typer.Option(False, "--yes", "-y", help="do not ask for confirmation"),
) -> None:
    """Delete a collection and everything in it."""
    st = state(ctx)
    store = st.store()
    store.get_collection(name)
    if not yes and not typer.confirm(f"delete collection '{name}' and all its documents?"):
        raise typer.Abort()
    store.delete_collection(name)
    st.console.print(f"deleted collection '{name}'")


@app.command("index")
def index_command(  # noqa: PLR0913 - one option per index knob
    ctx: typer.Context,
    name: str = typer.Argument(..., help="collection name"),
    kind: str = typer.Option(..., "--type", help=f"index family: {', '.join(KINDS)}"),
    m: int | None = typer.Option(None, "--m", help="HNSW links per node (default 32)"),
    ef_construction: int | None = typer.Option(None, "--ef-construction", help="HNSW build width"),
    ef_search: int | None = typer.Option(None, "--ef-search", help="HNSW search width"),
    nlist: int | None = typer.Option(None, "--nlist", help="IVF cells (default 4*sqrt(n))"),
    nprobe: int | None = typer.Option(None, "--nprobe", help="IVF cells searched per query"),
    pq_m: int | None = typer.Option(None, "--pq-m", help="PQ sub-quantizers (divides dim)"),
    pq_nbits: int | None = typer.Option(None, "--pq-nbits", help="bits per PQ code"),
    rerank: int | None = typer.Option(None, "--rerank", help="re-score top N exactly (0 off)"),
    build: bool = typer.Option(True, "--build/--no-build", help="build the index now"),
) -> None:
    """Choose a collection's index family and knobs, and (by default) build it now."""
    st = state(ctx)
    col = st.store().get_collection(name)
    knobs = {
        "m": m,
        "ef_construction": ef_construction,
        "ef_search": ef_search,
        "nlist": nlist,
        "nprobe": nprobe,
        "pq_m": pq_m,
        "pq_nbits": pq_nbits,
        "rerank": rerank,
    }
    spec = col.set_index(
        IndexSpec.parse({"kind": kind, **{k: v for k, v in knobs.items() if v is not None}})
    )
    st.console.print(f"index of '{name}': {spec.describe()}")
    if build:
        used = col.build_index()
        note = "" if used == spec.kind else " (exact until the collection is large enough)"
        st.console.print(f"built: {used}{note}")


@app.command("compact")
def compact_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="collection name"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Rebuild a collection's index without its deleted and replaced vectors."""
    st = state(ctx)
    report = st.store().get_collection(name).compact()
    if as_json:
        print_json(dataclasses.asdict(report))
        return
    st.console.print(
        f"compacted '{name}': {report.kind} index of {report.vectors} vectors, "
        f"{report.purged} tombstones purged, {report.log_pruned} change-log rows pruned "
        f"in {report.seconds:.2f} s"
    )
