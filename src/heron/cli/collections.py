"""``heron collections list|info|delete``."""

from __future__ import annotations

import dataclasses

import typer
from rich.table import Table

from heron.cli.common import print_json, state

app = typer.Typer(help="List, inspect and delete collections.", no_args_is_help=True)


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
    table = Table("name", "count", "dimension", "metric", "embedder")
    for info in infos:
        table.add_row(
            info.name, str(info.count), str(info.dimension), info.metric, str(info.embedder)
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
