"""``heron eval retrieval``: recall@k, MRR and nDCG@k of a collection."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from heron.cli.common import print_json, state
from heron.evals.retrieval import evaluate_retrieval, load_queries
from heron.rag.retrieve import Retriever

app = typer.Typer(help="Evaluate retrieval (generation metrics come later).", no_args_is_help=True)


@app.command("retrieval")
def retrieval_command(
    ctx: typer.Context,
    queries: Path = typer.Option(
        ..., "--queries", help='JSONL: {"query": ..., "relevant": {field: [values]}}'
    ),
    collection: str | None = typer.Option(None, "--collection", "-c"),
    k: int = typer.Option(5, "--k", min=1, max=100),
    hybrid: bool = typer.Option(True, "--hybrid/--dense", help="fuse BM25 keywords with vectors"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Score a collection's retrieval against labelled queries."""
    st = state(ctx)
    parsed = load_queries(queries)
    col = st.store().get_collection(collection or st.settings.collection)
    retriever = Retriever(col, k=k, hybrid=hybrid)
    with st.progress() as bar:
        task = bar.add_task("queries", total=len(parsed))

        def search(text: str) -> list:  # type: ignore[type-arg]
            bar.advance(task)
            return retriever.retrieve(text).hits

        report = evaluate_retrieval(search, parsed, k)
    if as_json:
        print_json(report.to_dict())
        return
    table = Table("metric", "value")
    for key, value in report.to_dict().items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    st.console.print(table)
