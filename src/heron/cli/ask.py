"""``heron search`` and ``heron ask``."""

from __future__ import annotations

from collections.abc import Iterable

import typer

from heron.chains.rag_chains import ChainAsker
from heron.chains.tracing import RunTraces
from heron.cli.common import CliState, parse_where, print_json, state
from heron.errors import InputError
from heron.rag.answer import Asker, AskEvent
from heron.rag.app import AppConfig, build_asker
from heron.rag.retrieve import Retriever
from heron.rag.traces import TraceSink
from heron.types import Answer, Hit


def _require_text(text: str, what: str) -> str:
    if not text.strip():
        raise InputError(f"the {what} is empty", hint=f"pass a non-empty {what} in quotes")
    return text


def search_command(
    ctx: typer.Context,
    query: str = typer.Argument(..., help="what to look for"),
    collection: str | None = typer.Option(None, "--collection", "-c", help="collection name"),
    k: int | None = typer.Option(None, "--k", min=1, max=1000, help="hits (default: setting k)"),
    where: str | None = typer.Option(
        None, "--where", help='metadata filter JSON, e.g. \'{"module": "os"}\''
    ),
    hybrid: bool = typer.Option(True, "--hybrid/--dense", help="fuse BM25 keywords with vectors"),
    embedder: str | None = typer.Option(None, "--embedder", help="query embedder spec"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON list of hits"),
    explain: bool = typer.Option(
        False, "--explain", help="show how the vector search runs (strategy, estimates)"
    ),
    ef_search: int | None = typer.Option(None, "--ef-search", min=1, help="with --explain"),
    nprobe: int | None = typer.Option(None, "--nprobe", min=1, help="with --explain"),
) -> None:
    """Search a collection; prints the best passages with scores."""
    st = state(ctx)
    _require_text(query, "query")
    col = st.store().get_collection(collection or st.settings.collection)
    query_embedder = st.registry.embedder(embedder) if embedder else None
    if explain:
        vector = (query_embedder or col.embedder).embed(query)
        found = col.explain(
            embeddings=[vector],
            k=k or st.settings.k,
            where=parse_where(where),
            ef_search=ef_search,
            nprobe=nprobe,
        )
        if as_json:
            print_json(found.as_dict())
            return
        for key, value in found.as_dict().items():
            if value is not None:
                st.console.print(f"[bold]{key}[/bold]: {value}")
        return
    retriever = Retriever(col, k=k or st.settings.k, hybrid=hybrid, embedder=query_embedder)
    hits = retriever.retrieve(query, parse_where(where)).hits
    if as_json:
        print_json([hit.to_dict() for hit in hits])
        return
    if not hits:
        st.console.print("no matches")
    for rank, hit in enumerate(hits, 1):
        _print_hit(st, rank, hit)


def _print_hit(st: CliState, rank: int, hit: Hit) -> None:
    meta = hit.metadata or {}
    label = meta.get("title") or meta.get("module") or meta.get("source") or hit.id
    text = " ".join((hit.document or "").split())
    st.console.print(f"[bold]{rank}. {label}[/bold]  [dim]{hit.id}  score={hit.score:.4f}[/dim]")
    st.console.print(f"   {text[:240]}{'…' if len(text) > 240 else ''}", markup=False)


def ask_command(
    ctx: typer.Context,
    question: str = typer.Argument(..., help="a question in plain words"),
    collection: str | None = typer.Option(None, "--collection", "-c", help="collection name"),
    llm: str | None = typer.Option(None, "--llm", help="LLM spec, e.g. bundled:smollm2, gguf:PATH"),
    embedder: str | None = typer.Option(
        None, "--embedder", help="question embedder (default: the collection's own)"
    ),
    k: int | None = typer.Option(
        None, "--k", min=1, max=100, help="passages given to the model (default: setting k)"
    ),
    where: str | None = typer.Option(None, "--where", help="metadata filter JSON"),
    max_tokens: int = typer.Option(160, "--max-tokens", min=1, max=4096),
    threshold: float | None = typer.Option(
        None, "--threshold", help="abstain below this retrieval score"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the answer as one JSON object"),
    chain_type: str = typer.Option(
        "stuff",
        "--chain-type",
        help="stuff (all passages in one prompt), map_reduce, refine or map_rerank",
    ),
) -> None:
    """Answer a question from a collection, citing the passages used."""
    st = state(ctx)
    _require_text(question, "question")
    config = AppConfig(
        collection=collection or st.settings.collection,
        llm=llm or st.settings.llm,
        embedder=embedder,
        k=k or st.settings.k,
        max_tokens=max_tokens,
        abstain_threshold=threshold,
        retrieval_timeout_s=st.settings.retrieval_timeout_s,
        generation_timeout_s=st.settings.generation_timeout_s,
    )
    asker = build_asker(config, st.store(), st.registry, TraceSink(st.settings.home))
    if chain_type != "stuff":
        _ask_with_chain(st, asker, question, where, chain_type, as_json)
        return
    events = asker.stream(question, parse_where(where))
    if as_json:
        answer = next(e.answer for e in events if e.answer is not None)
        print_json(answer.to_dict())
        return
    print_stream(st, events)


def _ask_with_chain(
    st: CliState, asker: Asker, question: str, where: str | None, chain_type: str, as_json: bool
) -> None:
    """The map_reduce / refine / map_rerank chain types (heron.chains.rag_chains)."""
    chained = ChainAsker(asker, chain_type, RunTraces(st.settings.home))
    answer = chained.ask(question, parse_where(where))
    if as_json:
        print_json(answer.to_dict())
        return
    if not answer.abstained:
        st.console.print(answer.text, markup=False)
    _print_footer(st, answer)


def print_stream(st: CliState, events: Iterable[AskEvent]) -> None:
    out = st.console.file
    for event in events:
        if event.kind == "lead":
            out.write(event.text + "\n\n")
        elif event.kind == "token":
            out.write(event.text)
            out.flush()
        elif event.kind == "done" and event.answer is not None:
            _print_footer(st, event.answer)


def _print_footer(st: CliState, answer: Answer) -> None:
    out = st.console.file
    if answer.abstained:
        out.write(answer.text + "\n")
    else:
        out.write("\n")
        if answer.note:
            st.console.print(
                f"[yellow]warning: the words above are the model's own and are not part of "
                f"the answer. {answer.note}[/yellow]"
            )
        st.console.print("\n[bold]Sources[/bold]")
        for n, cite in enumerate(answer.citations, 1):
            st.console.print(
                f" [{n}] {cite.title}  [dim]{cite.source}  score={cite.score:.3f}[/dim]"
            )
    timing = "  ".join(f"{k.removesuffix('_s')} {v:.2f}s" for k, v in answer.timings.items())
    st.console.print(f"[dim]{timing}  request {answer.request_id}[/dim]")
