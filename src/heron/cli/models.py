"""``heron models list``: the spec schemes and the bundled models."""

from __future__ import annotations

import dataclasses

import typer
from rich.markup import escape
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
        table.add_row(f"{b['scheme']}:…", b["kind"], escape(b["description"]))
    st.console.print(table)
    table = Table("spec", "kind", "installed", "MB", "license", "what", title="Bundled models")
    for m in bundled:
        table.add_row(
            m["spec"],
            m["kind"],
            "yes" if m["installed"] else f"no: {escape(m['install'])}",
            f"{m['size_bytes'] / 1e6:.0f}",
            escape(m["license"]),
            escape(m["description"]),
        )
    st.console.print(table)
