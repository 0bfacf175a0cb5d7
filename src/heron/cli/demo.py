"""``heron demo``: the main job on embedded defaults.

Builds the ``pydocs`` collection from the Python standard library documentation
(skipped when it is current) and asks three questions, one of which the
documentation cannot answer, printing answers, citations and timings.
"""

from __future__ import annotations

import time

import typer

from heron.cli.ask import print_stream
from heron.cli.common import state
from heron.cli.ingest import embedding_progress, open_collection
from heron.ingest.chunking import make_chunker
from heron.ingest.pipeline import ingest_groups
from heron.ingest.sources import corpus_groups
from heron.rag.app import AppConfig, build_asker
from heron.rag.traces import TraceSink

DEMO_QUESTIONS = (
    "How do I run a function at a later time?",
    "How can I split a shell command line into arguments, respecting quotes?",
    "Who won the football World Cup in 2018?",
)


def demo_command(
    ctx: typer.Context,
    llm: str | None = typer.Option(None, "--llm", help="LLM spec (default: the bundled model)"),
    collection: str = typer.Option("pydocs", "--collection", "-c"),
    max_tokens: int = typer.Option(96, "--max-tokens", min=1, max=1024),
) -> None:
    """Build the stdlib knowledge base (once) and ask it three questions."""
    st = state(ctx)
    start = time.perf_counter()
    col = open_collection(st, collection, None)
    report = ingest_groups(
        col,
        corpus_groups("stdlib", st.settings.cache),
        make_chunker("structure"),
        progress=embedding_progress(st),
    )
    st.console.print(
        f"[bold]{collection}[/bold]: {col.count()} chunks "
        f"({report.added + report.replaced} sources embedded, {report.unchanged} current) "
        f"in {time.perf_counter() - start:.1f}s\n"
    )
    config = AppConfig(collection=collection, llm=llm or st.settings.llm, max_tokens=max_tokens)
    asker = build_asker(config, st.store(), st.registry, TraceSink(st.settings.home))
    for question in DEMO_QUESTIONS:
        st.console.print(f"[bold cyan]Q: {question}[/bold cyan]")
        print_stream(st, asker.stream(question))
        st.console.print()
    st.console.print(f"[dim]demo finished in {time.perf_counter() - start:.1f}s[/dim]")
