"""A knowledge-base search tool over one collection (or a ``Retriever``)."""

from __future__ import annotations

from typing import Any

from heron.chains.agents.tools import Tool, ToolExample
from heron.errors import InputError
from heron.rag.prompt import passage_label

#: characters of each passage shown to the model
SNIPPET = 300


class SearchTool(Tool):
    """Returns the best passages for a query, numbered, each cut to ``SNIPPET`` characters."""

    name = "search"
    parameters = {  # noqa: RUF012
        "type": "object",
        "properties": {"query": {"type": "string", "minLength": 1, "maxLength": 120}},
        "required": ["query"],
    }

    example = ToolExample(
        "Which module reads ZIP archives?",
        {"query": "read ZIP archive"},
        "[1] zipfile: The zipfile module provides tools to create, read, write ZIP files.\n"
        "[2] tarfile: The tarfile module reads and writes tar archives.",
        "zipfile",
    )

    def __init__(self, source: Any, k: int = 3, name: str = "search") -> None:
        if not (hasattr(source, "retrieve") or hasattr(source, "query")):
            raise InputError(
                f"the search tool got {type(source).__name__}",
                hint="pass a heron.rag.retrieve.Retriever or a store collection",
            )
        self.source = source
        self.k = k
        self.name = name
        label = getattr(source, "name", None) or getattr(
            getattr(source, "collection", None), "name", "the knowledge base"
        )
        self.description = f"search {label} for passages about a topic"

    def run(self, **args: Any) -> str:
        query = str(args.get("query", "")).strip()
        if not query:
            raise InputError("the query is empty", hint="search for a few keywords")
        if " " not in query:  # small models write queries as identifiers: split_shell_line
            query = query.replace("_", " ")
        if hasattr(self.source, "retrieve"):
            hits = list(self.source.retrieve(query).hits)[: self.k]
        else:
            hits = list(self.source.query(texts=[query], k=self.k)[0])
        if not hits:
            return "no passages found"
        lines = []
        for n, hit in enumerate(hits, 1):
            text = " ".join((hit.document or "").split())
            cut = text[:SNIPPET] + ("…" if len(text) > SNIPPET else "")
            lines.append(f"[{n}] {passage_label(hit)}: {cut}")
        return "\n".join(lines)
