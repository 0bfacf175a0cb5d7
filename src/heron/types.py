"""Plain value types shared by every layer: documents, chunks, hits, answers.

They are frozen dataclasses with no behaviour beyond conversion to JSON-ready
dicts, so any layer can build or read them without importing another.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Metadata = Mapping[str, Any]
Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Document:
    """A unit of source text as a loader produced it, before chunking."""

    text: str
    source: str
    metadata: Metadata = field(default_factory=dict)
    title: str | None = None


@dataclass(frozen=True)
class Chunk:
    """A piece of a document that gets embedded and stored.

    ``embed_text`` is what the embedder sees (title and heading path prepended),
    ``text`` is what a reader and the LLM see.
    """

    id: str
    text: str
    source: str
    position: int
    heading_path: tuple[str, ...] = ()
    metadata: Metadata = field(default_factory=dict)
    title: str | None = None

    @property
    def embed_text(self) -> str:
        prefix = [p for p in (self.title, *self.heading_path) if p]
        # Drop repeats such as a title that is also the first heading.
        seen: list[str] = []
        for part in prefix:
            if part not in seen:
                seen.append(part)
        return (" > ".join(seen) + "\n" + self.text) if seen else self.text


@dataclass(frozen=True)
class Hit:
    """One search result. ``score`` is higher-is-better for every metric."""

    id: str
    score: float
    document: str | None = None
    metadata: Metadata | None = None
    distance: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "score": self.score,
            "text": self.document,
            "metadata": dict(self.metadata) if self.metadata is not None else None,
            "distance": self.distance,
        }


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class Completion:
    """What an LLM returned for one prompt."""

    text: str
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class Citation:
    source: str
    chunk_id: str
    score: float
    snippet: str = ""
    title: str | None = None


@dataclass(frozen=True)
class Answer:
    """A RAG answer: the text, the passages it rests on, and how it was made."""

    text: str
    citations: tuple[Citation, ...]
    abstained: bool
    request_id: str
    timings: Mapping[str, float] = field(default_factory=dict)
    model_text: str | None = None
    #: why the model's own words were left out of ``text`` ("" when they are in it)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["citations"] = [asdict(c) for c in self.citations]
        data["timings"] = dict(self.timings)
        return data
