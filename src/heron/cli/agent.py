"""``heron agent "TASK"``: run the ReAct agent with chosen tools."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from heron.chains.agents import CalculatorTool, PythonTool, ReActAgent, SearchTool, TableTool, Tool
from heron.chains.agents.react import AgentResult
from heron.chains.agents.sandbox import Isolation
from heron.chains.tracing import RunTraces
from heron.cli.common import CliState, print_json, state
from heron.errors import ConfigError, InputError
from heron.rag.retrieve import Retriever

TOOLS = ("search", "calculator", "table", "python")
#: exit codes of runs that ended without an answer (6 = timeout, as for HeronTimeout)
EXIT_CODES = {"answered": 0, "time_budget": 6}


def build_tools(
    st: CliState,
    names: list[str],
    collection: str | None,
    table: Path | None,
    allow_python: bool,
    require_isolation: bool = False,
) -> list[Tool]:
    tools: list[Tool] = []
    for name in names:
        if name == "calculator":
            tools.append(CalculatorTool())
        elif name == "search":
            col = st.store().get_collection(collection or st.settings.collection)
            tools.append(SearchTool(Retriever(col, k=3)))
        elif name == "table":
            if table is None:
                raise InputError(
                    "the table tool needs --table PATH", hint="a .csv or .parquet file"
                )
            tools.append(TableTool(table))
        elif name == "python":
            tools.append(PythonTool(enabled=allow_python, require_isolation=require_isolation))
        else:
            raise InputError(f"unknown tool '{name}'", hint=f"tools: {', '.join(TOOLS)}")
    return tools


def agent_command(
    ctx: typer.Context,
    task: str = typer.Argument(..., help="what the agent should do, in plain words"),
    tools: str = typer.Option(
        "calculator", "--tools", help=f"comma-separated tools: {', '.join(TOOLS)}"
    ),
    collection: str | None = typer.Option(
        None, "--collection", "-c", help="collection the search tool searches"
    ),
    table: Path | None = typer.Option(None, "--table", help="CSV/Parquet file for the table tool"),
    llm: str | None = typer.Option(None, "--llm", help="LLM spec (default: setting llm)"),
    max_steps: int = typer.Option(8, "--max-steps", min=1, max=100),
    time_budget: float = typer.Option(120.0, "--time-budget", min=0.1, help="seconds in all"),
    allow_python: bool = typer.Option(
        False, "--allow-python", help="enable the python tool (sandboxed subprocess)"
    ),
    require_isolation: bool = typer.Option(
        False,
        "--require-isolation",
        help="refuse to run python code unless every sandbox layer is up "
        "(network/mount namespaces, unprivileged user, seccomp)",
    ),
    think: bool = typer.Option(False, "--think/--no-think", help="ask for a thought per step"),
    as_json: bool = typer.Option(False, "--json", help="print the run as JSON"),
) -> None:
    """Run a ReAct agent; its tool calls are grammar-constrained on llama.cpp models."""
    st = state(ctx)
    names = [n.strip() for n in tools.split(",") if n.strip()]
    if not names:
        raise ConfigError("no tools given", hint=f"e.g. --tools {','.join(TOOLS[:3])}")
    chosen = build_tools(st, names, collection, table, allow_python, require_isolation)
    sandboxes = [tool for tool in chosen if isinstance(tool, PythonTool)]
    isolation = sandboxes[0].isolation_report() if sandboxes else None
    if isolation is not None and not as_json:
        st.err.print(f"python sandbox: {_describe(isolation)}", markup=False)
    agent = ReActAgent(
        st.registry.llm(llm or st.settings.llm),
        chosen,
        max_steps=max_steps,
        time_budget_s=time_budget,
        think=think,
    )
    try:
        result = agent.run(task, traces=RunTraces(st.settings.home))
    finally:
        for tool in chosen:
            if isinstance(tool, PythonTool):
                tool.close()
    if as_json:
        sandbox = {"layers": isolation.layers, "notes": isolation.notes} if isolation else None
        print_json(_as_dict(result) | {"python_isolation": sandbox})
    else:
        _print(st, result)
    code = EXIT_CODES.get(result.status, 1)
    if code:
        raise typer.Exit(code)


def _describe(report: Isolation) -> str:
    """One line: which sandbox layers are up, and why the others are not."""
    parts = [
        name if up else f"no {name} ({report.notes.get(name, 'off')})"
        for name, up in report.layers.items()
    ]
    return ", ".join(parts)


def _as_dict(result: AgentResult) -> dict[str, object]:
    return {
        "run_id": result.run_id,
        "status": result.status,
        "answer": result.answer,
        "message": result.message,
        "valid_calls": result.valid_calls,
        "invalid_calls": result.invalid_calls,
        "steps": [
            {"tool": s.tool, "args": s.args, "observation": s.observation, "error": s.error}
            for s in result.steps
        ],
    }


def _print(st: CliState, result: AgentResult) -> None:
    for n, step in enumerate(result.steps, 1):
        if not step.tool:
            st.console.print(f"{n}. [red]invalid reply[/red] ", end="")
            st.console.print(step.raw[:120], markup=False)
            continue
        if step.thought:
            st.console.print(f"{n}. [dim]{step.thought}[/dim]")
        args = json.dumps(step.args, ensure_ascii=False)
        st.console.print(f"{n}. [bold]{step.tool}[/bold] ", end="")
        st.console.print(args, markup=False)
        if step.observation:
            colour = "red" if step.error else "green"
            st.console.print(f"   [{colour}]→[/{colour}] ", end="")
            st.console.print(step.observation[:500], markup=False)
    if result.answered:
        st.console.print("\n[bold]Answer[/bold]")
        st.console.print(result.answer or "", markup=False)
    else:
        st.err.print(f"[yellow]no answer: {result.message}[/yellow]")
    st.console.print(f"[dim]status {result.status}  trace {result.run_id}[/dim]")
