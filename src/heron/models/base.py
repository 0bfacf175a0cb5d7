"""The two model extension points: ``Embedder`` and ``LLM``.

Each has exactly one abstract method; everything else (single-text embedding,
batched embedding with progress, streaming, token counting) is derived from it
and may be overridden by a backend that can do better.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from heron.errors import InputError
from heron.types import Completion, Message

Prompt = str | Sequence[Message]
ProgressFn = Callable[[int], None]

#: What the tokenizer-free estimate counts: words and single punctuation marks.
WORD_PIECE = re.compile(r"\w+|[^\w\s]")
#: Sub-word tokens per word piece, on average, for BPE/WordPiece vocabularies.
TOKENS_PER_PIECE = 1.3


def approx_token_count(text: str) -> int:
    """A tokenizer-free estimate (words and punctuation, scaled for sub-words)."""
    return int(len(WORD_PIECE.findall(text)) * TOKENS_PER_PIECE) + 1


class Embedder(ABC):
    """Turns texts into float32 vectors of a fixed dimension."""

    #: the spec string this embedder was resolved from, e.g. ``bundled:minilm``
    spec: str = ""
    #: whether vectors come out L2-normalised (cosine == inner product)
    normalized: ClassVar[bool] = False

    @abstractmethod
    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``; return an ``n x d`` float32 array."""

    @property
    def dimension(self) -> int:
        """Vector dimension; backends that know it without running override this."""
        return int(self.embed_batch(["dimension probe"]).shape[1])

    def embed(self, text: str) -> np.ndarray:
        vectors: np.ndarray = self.embed_many([text])
        return np.asarray(vectors[0], dtype=np.float32)

    def embed_many(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        progress: ProgressFn | None = None,
    ) -> np.ndarray:
        """Embed any number of texts in batches, reporting progress per batch."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        parts = []
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            vectors = np.asarray(self.embed_batch(batch), dtype=np.float32)
            if vectors.ndim != 2 or vectors.shape[0] != len(batch):
                raise InputError(f"embedder returned shape {vectors.shape} for {len(batch)} texts")
            parts.append(vectors)
            if progress is not None:
                progress(len(batch))
        return np.concatenate(parts, axis=0).astype(np.float32, copy=False)


class GenerateOptions(BaseModel):
    """Decoding controls understood by every LLM backend."""

    model_config = ConfigDict(extra="forbid")

    max_tokens: int = Field(default=256, ge=1, le=32768)
    temperature: float = Field(default=0.0, ge=0.0, le=5.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    top_k: int = Field(default=40, ge=0)
    repeat_penalty: float = Field(default=1.1, gt=0.0)
    stop: list[str] = Field(default_factory=list)
    seed: int | None = 0
    #: wall-clock seconds this call may take; past it the backend stops generating and
    #: returns what it has with ``finish_reason="time"`` (``heron.models.deadline``)
    max_time_s: float | None = Field(default=None, gt=0.0)


class LLM(ABC):
    """Generates text from a prompt or a chat conversation."""

    spec: str = ""
    #: whether ``stream`` yields tokens as they are produced
    can_stream: ClassVar[bool] = False
    #: total tokens (prompt + completion) the model accepts
    context_window: int = 2048

    @abstractmethod
    def generate(self, prompt: Prompt, options: GenerateOptions | None = None) -> Completion:
        """Run the model to completion."""

    def stream(self, prompt: Prompt, options: GenerateOptions | None = None) -> Iterator[str]:
        """Yield pieces of the answer; backends that cannot stream yield it whole."""
        yield self.generate(prompt, options).text

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` costs; backends with a tokenizer give the exact count."""
        return approx_token_count(text)


def as_messages(prompt: Prompt) -> list[Message]:
    """Normalise a prompt to a message list (a bare string is one user turn)."""
    if isinstance(prompt, str):
        return [Message("user", prompt)]
    return list(prompt)
