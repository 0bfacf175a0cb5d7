"""``heron models list``: the spec schemes and the bundled models."""

from __future__ import annotations

import dataclasses

import typer
from rich.table import Table

from heron.cli.common import print_json, state

app = typer.Typer(help="Model specs and bundled models.", no_args_is_help=True)


@app.command("list")
def list_command(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="print JSON")
) -> None:
    """List spec schemes (how to name a model) and the models shipped in packages."""
    from heron.models.bundled import bundled_models  # noqa: PLC0415 - keeps `heron --help` light

    st = state(ctx)
    schemes = [dataclasses.asdict(b) for b in st.registry.backends()]
    bundled = [dataclasses.asdict(m) for m in bundled_models()]
    if as_json:
        print_json({"schemes": schemes, "bundled": bundled})
        return
    table = Table("spec", "kind", "what it resolves", title="Model specs")
    for b in schemes:
        table.add_row(f"{b['scheme']}:…", b["kind"], b["description"])
    st.console.print(table)
    table = Table(*(bundled[0].keys() if bundled else ["name"]), title="Bundled models")
    for m in bundled:
        table.add_row(*(str(v) for v in m.values()))
    st.console.print(table)
