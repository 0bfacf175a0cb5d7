"""``heron trace list`` and ``heron trace show ID``: recorded chain and agent runs."""

from __future__ import annotations

import json
import time
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from heron.chains.tracing import RUN_KINDS, RunTraces
from heron.cli.common import print_json, state
from heron.errors import InputError

app = typer.Typer(help="Show recorded chain and agent runs.", no_args_is_help=True)

#: characters of a value shown per line in a tree
SHOWN = 160


def _kinds(kind: str | None) -> tuple[str, ...]:
    if kind is None:
        return RUN_KINDS
    if kind not in RUN_KINDS:
        raise InputError(f"unknown trace kind '{kind}'", hint=f"kinds: {', '.join(RUN_KINDS)}")
    return (kind,)


@app.command("list")
def list_command(
    ctx: typer.Context,
    kind: str | None = typer.Option(None, "--kind", help="chain or agent (default: both)"),
    limit: int = typer.Option(20, "--limit", min=1, help="newest runs shown"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON list"),
) -> None:
    """The newest runs, newest first."""
    st = state(ctx)
    runs = sorted(
        RunTraces(st.settings.home).runs(_kinds(kind)), key=lambda r: r.get("time", 0), reverse=True
    )[:limit]
    rows = [
        {
            "id": r["request_id"],
            "kind": r["kind"],
            "name": r.get("name", ""),
            "status": r.get("status", ""),
            "time": r.get("time", 0),
            "latency_s": r.get("latency_s", 0.0),
            "tokens": int(r.get("prompt_tokens", 0)) + int(r.get("completion_tokens", 0)),
        }
        for r in runs
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        st.console.print("no runs recorded yet")
        return
    table = Table("id", "kind", "name", "status", "when", "latency", "tokens")
    for row in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(row["time"])))
        table.add_row(
            str(row["id"])[:12],
            str(row["kind"]),
            escape(str(row["name"])),
            str(row["status"]),
            when,
            f"{float(row['latency_s']):.2f}s",
            str(row["tokens"]),
        )
    st.console.print(table)


@app.command("show")
def show_command(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="a run id, or its first characters"),
    prompts: bool = typer.Option(False, "--prompts", help="also show the prompts sent"),
    as_json: bool = typer.Option(False, "--json", help="print the stored record"),
) -> None:
    """One run as a tree of steps: inputs, outputs, tokens, latency, errors."""
    st = state(ctx)
    run = RunTraces(st.settings.home).find(run_id)
    if as_json:
        print_json(run)
        return
    title = f"[bold]{escape(str(run.get('name')))}[/bold] ({run['kind']}, {run.get('status')})"
    tree = Tree(f"{title}  [dim]{run['request_id']}[/dim]")
    add_span(tree, run["root"], prompts, top=True, totals=run)
    st.console.print(tree)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return escape(text[:SHOWN] + ("…" if len(text) > SHOWN else ""))


def add_span(
    tree: Tree,
    span: dict[str, Any],
    prompts: bool,
    top: bool = False,
    totals: dict[str, Any] | None = None,
) -> None:
    """Add ``span`` (and its children) to ``tree``; ``totals`` gives the run's token sums."""
    counts = totals if totals is not None else span
    tokens = ""
    if counts.get("prompt_tokens") or counts.get("completion_tokens"):
        tokens = f"  tokens {counts.get('prompt_tokens', 0)}+{counts.get('completion_tokens', 0)}"
    timing = f"{span['latency_s']:.3f}s{tokens}"
    if top:
        node = tree
        node.add(f"[dim]total {timing}[/dim]")
    else:
        node = tree.add(f"{escape(span['name'])} [dim]({span['kind']})  {timing}[/dim]")
    for line in _span_lines(span, prompts, show_inputs=top or not span.get("children")):
        node.add(line)
    for child in span.get("children", []):
        add_span(node, child, prompts)


def _span_lines(span: dict[str, Any], prompts: bool, show_inputs: bool) -> list[str]:
    """A span's inputs (leaves only: a composite's are its first child's), outputs, error."""
    lines = []
    if show_inputs:
        lines += [f"[cyan]in[/cyan]  {escape(k)} = {_short(v)}" for k, v in span["inputs"].items()]
    outputs = span.get("outputs", {}).items()
    lines += [
        f"[green]out[/green] {escape(k)} = {_short(v)}" for k, v in outputs if v not in ("", None)
    ]
    if span.get("error"):
        lines.append(f"[red]error[/red] {_short(span['error'])}")
    if prompts:
        lines += [f"[magenta]prompt[/magenta] {_short(p)}" for p in span.get("prompts", [])]
    return lines
