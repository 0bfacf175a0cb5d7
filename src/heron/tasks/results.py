"""What the tasks return: one frozen dataclass per kind of result.

Every result says whether its input was cut to fit the model (``truncated``) and,
where a long input was split instead, into how many pieces (``chunks``).
``to_dict`` gives the JSON the CLI's ``--jsonl`` and the server write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class _Result:
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Label(_Result):
    """A label from a fixed set. ``score`` is the model's probability or similarity;
    ``None`` when the backend gives none (an LLM naming the label)."""

    label: str
    score: float | None = None
    scores: Mapping[str, float] = field(default_factory=dict)
    truncated: bool = False


@dataclass(frozen=True)
class Summary(_Result):
    text: str
    truncated: bool = False
    chunks: int = 1


@dataclass(frozen=True)
class Translation(_Result):
    text: str
    source: str
    target: str
    truncated: bool = False


@dataclass(frozen=True)
class Generation(_Result):
    text: str
    finish_reason: str = "stop"
    truncated: bool = False


@dataclass(frozen=True)
class TaskAnswer(_Result):
    """An answer to a question over a passage. ``start``/``end`` are character offsets
    into the passage for extractive models (``None`` for generated answers);
    ``chunks`` is how many windows or pieces the passage was read in."""

    text: str
    score: float | None = None
    start: int | None = None
    end: int | None = None
    truncated: bool = False
    chunks: int = 1


@dataclass(frozen=True)
class Extraction(_Result):
    data: Mapping[str, Any]
    truncated: bool = False
    attempts: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"data": dict(self.data), "truncated": self.truncated, "attempts": self.attempts}


Result = Label | Summary | Translation | Generation | TaskAnswer | Extraction
