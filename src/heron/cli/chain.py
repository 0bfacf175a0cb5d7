"""``heron chain run FILE.toml``: run a chain declared in TOML (see heron.chains.toml_chain)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from heron.chains.toml_chain import ChainBuilder, read_chain_file
from heron.chains.tracing import RunTraces
from heron.cli.common import CliState, print_json, state
from heron.errors import InputError
from heron.rag.retrieve import Retriever

app = typer.Typer(help="Run multi-step chains declared in TOML.", no_args_is_help=True)


def parse_inputs(pairs: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs; ``NAME=@PATH`` reads the value from a file."""
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InputError(
                f"--input '{pair}' is not NAME=VALUE",
                hint="e.g. --input text='a post' or text=@post.txt",
            )
        if value.startswith("@"):
            path = Path(value[1:]).expanduser()
            try:
                value = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError(f"cannot read {path} for input '{name}': {exc}") from exc
        values[name.strip()] = value
    return values


def _builder(st: CliState, llm: str | None) -> ChainBuilder:
    def source_for(collection: str, k: int) -> Retriever:
        return Retriever(st.store().get_collection(collection), k=k)

    return ChainBuilder(st.registry.llm, source_for, llm or st.settings.llm, st.registry)


@app.command("run")
def run_command(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="the chain, a TOML file"),
    inputs: list[str] = typer.Option(
        [], "--input", "-i", help="NAME=VALUE, or NAME=@FILE to read the value from a file"
    ),
    llm: str | None = typer.Option(
        None, "--llm", help="default LLM spec for steps that name none (overrides the file's)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print outputs and run id as JSON"),
) -> None:
    """Run a chain: every step's outputs are printed, and the run is traced."""
    st = state(ctx)
    data = read_chain_file(file)
    if llm:
        data["llm"] = llm
    chain = _builder(st, llm).chain(data, str(file))
    result = chain.invoke(parse_inputs(inputs), traces=RunTraces(st.settings.home))
    if as_json:
        print_json({"run_id": result.run_id, "outputs": result.outputs})
        return
    for name, value in result.outputs.items():
        st.console.print(f"[bold]{name}[/bold]")
        text = (
            value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        )
        st.console.print(text, markup=False)
        st.console.print()
    latency = result.trace.latency_s
    st.console.print(f"[dim]{len(chain.steps)} steps  {latency:.2f}s  trace {result.run_id}[/dim]")
