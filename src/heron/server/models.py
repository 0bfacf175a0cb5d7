"""Which models requests may name, and how one loaded model is shared by threads.

Requests never name arbitrary spec strings: ``gguf:/etc/passwd`` would read a
file outside the store home. LLMs are limited to the served list; embedders to
the served list, the collections' own, and the file-free file-free
``hash:DIM``. A short name (``smollm2``) matches a served spec's target.

llama.cpp contexts are not thread-safe, so every served LLM is wrapped in
``SerializedLLM``: one generation (or token count) at a time per model.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from heron.errors import ConfigError
from heron.models.base import LLM, Embedder, GenerateOptions, Prompt
from heron.models.registry import ModelRegistry, ModelSpec
from heron.server.errors import NotFound
from heron.types import Completion

#: ``hash:DIM`` needs no file; its dimension is capped so a request cannot ask for gigabytes.
MAX_HASH_DIM = 4096


class SerializedLLM(LLM):
    """An LLM whose calls never overlap."""

    def __init__(self, inner: LLM) -> None:
        self.inner = inner
        self.spec = inner.spec
        self.context_window = inner.context_window
        self._lock = threading.Lock()

    @property
    def can_stream(self) -> bool:  # type: ignore[override]
        return self.inner.can_stream

    def generate(self, prompt: Prompt, options: GenerateOptions | None = None) -> Completion:
        with self._lock:
            return self.inner.generate(prompt, options)

    def stream(self, prompt: Prompt, options: GenerateOptions | None = None) -> Iterator[str]:
        # Closing this generator (a client went away) releases the lock at once.
        with self._lock:
            yield from self.inner.stream(prompt, options)

    def count_tokens(self, text: str) -> int:
        with self._lock:
            return self.inner.count_tokens(text)


class ServedModels:
    """Resolves the model names requests use to loaded, shareable models."""

    def __init__(self, registry: ModelRegistry, llms: tuple[str, ...], embedders: tuple[str, ...]):
        self.registry = registry
        self.llm_specs = tuple(str(ModelSpec.parse(s)) for s in llms)
        self.embedder_specs = tuple(str(ModelSpec.parse(s)) for s in embedders)
        self._llms: dict[str, SerializedLLM] = {}
        self._lock = threading.Lock()

    @property
    def default_llm(self) -> str:
        return self.llm_specs[0]

    def llm_spec(self, name: str | None) -> str:
        """The served spec a request's model name means (NotFound if none)."""
        if not name:
            return self.default_llm
        for spec in self.llm_specs:
            if name in (spec, ModelSpec.parse(spec).target):
                return spec
        raise NotFound(
            f"model '{name}' is not served here",
            hint=f"served models: {', '.join(self.llm_specs)} (GET /v1/models)",
        )

    def llm(self, name: str | None) -> SerializedLLM:
        spec = self.llm_spec(name)
        with self._lock:
            if spec not in self._llms:
                self._llms[spec] = SerializedLLM(self.registry.llm(spec))
            return self._llms[spec]

    def embedder_spec(self, name: str | None, also: tuple[str, ...] = ()) -> str:
        if not name:
            return self.embedder_specs[0]
        try:
            spec = str(ModelSpec.parse(name))
        except ConfigError:  # an unparsable name is simply not served
            spec = name
        if spec in self.embedder_specs or spec in also:
            return spec
        scheme, _, target = spec.partition(":")
        if scheme == "hash" and target.isdigit() and 2 <= int(target) <= MAX_HASH_DIM:
            return spec
        raise NotFound(
            f"embedder '{name}' is not served here",
            hint=f"served embedders: {', '.join(self.embedder_specs)}, or hash:DIM (DIM <= 4096)",
        )

    def embedder(self, name: str | None, also: tuple[str, ...] = ()) -> Embedder:
        return self.registry.embedder(self.embedder_spec(name, also))
