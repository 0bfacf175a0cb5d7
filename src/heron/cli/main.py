"""The ``heron`` command: one Typer app, one module per command group.

``run`` is the console-script entry point: it turns every ``HeronError`` into one
line on stderr and a non-zero exit code (see ``heron.errors`` for the codes);
tracebacks are for bugs only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from heron.cli import (
    agent,
    ask,
    chain,
    collections,
    demo,
    evaluate,
    feedback,
    ingest,
    keys,
    models,
    serve,
    task,
    trace,
)
from heron.cli.common import CliState
from heron.config import load_settings
from heron.errors import HeronError

app = typer.Typer(
    name="heron",
    help="Build, evaluate and ship LLM applications on open models, offline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    home: Path | None = typer.Option(
        None, "--home", help="store home (default ./.heron or $HERON_HOME)"
    ),
    threads: int | None = typer.Option(None, "--threads", min=1, help="CPU threads for models"),
) -> None:
    """Heron: knowledge bases, RAG, tasks and evaluation on local models."""
    ctx.obj = CliState(load_settings(home=home, threads=threads))
    ctx.call_on_close(ctx.obj.close)


app.command("ingest")(ingest.ingest_command)
app.command("search")(ask.search_command)
app.command("ask")(ask.ask_command)
app.command("demo")(demo.demo_command)
app.add_typer(collections.app, name="collections")
app.add_typer(models.app, name="models")
app.add_typer(evaluate.app, name="eval")
app.command("task")(task.task_command)
app.add_typer(chain.app, name="chain")
app.command("agent")(agent.agent_command)
app.add_typer(trace.app, name="trace")
app.command("serve")(serve.serve_command)
app.add_typer(keys.app, name="keys")
app.add_typer(feedback.app, name="feedback")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (tests call this directly)."""
    try:
        result = app(args=argv, standalone_mode=False)
    except HeronError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    except typer.Abort:
        sys.stderr.write("aborted\n")
        return 130
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.TyperException as exc:  # usage errors: bad option values, unknown commands
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            sys.stderr.write(f"error: {exc}\n")
        return int(getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    return result if isinstance(result, int) else 0


def run() -> None:
    sys.exit(main())
