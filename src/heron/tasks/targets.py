"""From a model spec to what runs a task: an embedder, a prompt engine or an ``hf:`` task model.

``TaskModels`` wraps a ``ModelRegistry`` (which caches LLMs and embedders) and
also keeps the ``hf:`` task models it loaded, so keep one around to reuse loaded
models across calls (the CLI and the server do). Nothing is cached globally.
Which backend a spec means: ``hf:`` specs are inspected (their config's
architecture); ``bundled:`` names are looked up in the bundled catalogue; the
other schemes are embedders or LLMs as the registry declares them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from heron.errors import ConfigError
from heron.models.base import Embedder
from heron.models.registry import ModelRegistry, ModelSpec
from heron.models.usage import UsageMeter
from heron.tasks.engines import Engine, LLMEngine
from heron.tasks.hf import KIND_NAMES, HFEngine, HFTaskModel

DEFAULT_LLM = "bundled:smollm2"
#: target kinds that write text: any registry LLM, and HF seq2seq / causal models
TEXT_KINDS = ("llm", "seq2seq", "causal")
DEFAULT_EMBEDDER = "bundled:minilm"

#: what a backend can be: an embedder, a registry LLM, or an hf: model of some kind
BackendKind = Literal["embedder", "llm", "seqcls", "nli", "qa", "seq2seq", "causal", "other"]

_WHAT = {
    "embedder": "an embedder",
    "llm": "an LLM",
    **KIND_NAMES,
}


@dataclass(frozen=True)
class Target:
    """A resolved backend; exactly the fields its kind needs are set."""

    kind: BackendKind
    spec: str
    embedder: Embedder | None = None
    engine: Engine | None = None
    hf: HFTaskModel | None = None
    #: where ``hf:`` generations report their tokens (a metered registry's meter)
    meter: UsageMeter | None = None
    #: texts per model call where the backend batches (hf: models, embedders)
    batch_size: int = 8

    def require(self, task: str, allowed: Collection[str], advice: str) -> None:
        """Raise the ConfigError for a spec whose model cannot run ``task``."""
        if self.kind not in allowed:
            raise ConfigError(
                f"model spec '{self.spec}' is {_WHAT.get(self.kind, self.kind)}, "
                f"which cannot run the {task} task",
                hint=advice,
            )


class TaskModels:
    """Resolves specs for tasks and caches ``hf:`` task models per instance."""

    def __init__(
        self,
        registry: ModelRegistry | None = None,
        *,
        threads: int | None = None,
        batch_size: int = 8,
    ) -> None:
        self.registry = registry or ModelRegistry(options={"threads": threads} if threads else {})
        self.threads = threads
        self.batch_size = batch_size
        self._hf: dict[str, HFTaskModel] = {}

    def hf_model(self, target: str) -> HFTaskModel:
        if target not in self._hf:
            self._hf[target] = HFTaskModel(target, threads=self.threads)
        return self._hf[target]

    def resolve(self, spec: str) -> Target:
        parsed = ModelSpec.parse(spec)
        if parsed.scheme == "hf":
            model = self.hf_model(parsed.target)
            engine = (
                HFEngine(model, self.batch_size, meter=self.registry.meter)
                if model.kind in ("seq2seq", "causal")
                else None
            )
            return Target(
                model.kind,  # type: ignore[arg-type]
                str(parsed),
                engine=engine,
                hf=model,
                batch_size=self.batch_size,
                meter=self.registry.meter,
            )
        if self._is_embedder(parsed):
            embedder = self.registry.embedder(spec)
            return Target("embedder", str(parsed), embedder=embedder, batch_size=self.batch_size)
        llm = self.registry.llm(spec)
        return Target("llm", str(parsed), engine=LLMEngine(llm), batch_size=self.batch_size)

    def _is_embedder(self, parsed: ModelSpec) -> bool:
        if parsed.scheme == "bundled":
            from heron.models.bundled import CATALOG

            kinds = {m.kind for m in CATALOG if m.name == parsed.target.strip().lower()}
            return kinds == {"embedder"}
        kinds = {b.kind for b in self.registry.backends() if b.scheme == parsed.scheme}
        if kinds:
            return kinds == {"embedder"}
        try:  # a scheme registered at run time: try it as an LLM first
            self.registry.llm(str(parsed))
        except ConfigError:
            return True
        return False
