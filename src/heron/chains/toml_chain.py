"""Chains declared in TOML, for ``heron chain run FILE.toml``.

```toml
name = "summarize-then-judge"
inputs = ["text"]
llm = "bundled:smollm2"          # default model of every step (a step may set its own)

[[steps]]
name = "summary"
type = "prompt"                  # prompt | label | json | retrieve | summarize | long_qa | task
template = "Summarize in one sentence:\\n{text}"    # | transform | parallel | router
output = "summary"
max_tokens = 60

[[steps]]
name = "sentiment"
type = "label"
template = "Is this text positive or negative?\\n{summary}"
labels = ["positive", "negative"]
output = "sentiment"
```

Nested steps: a ``parallel`` step has ``[[steps.steps]]``, a ``router`` step has
``on = "NAME"`` and ``[steps.branches.LABEL]`` tables. A ``transform`` names a
Python function as ``function = "package.module:function"`` (imported, so only
run files you trust). Unknown keys are errors, and so are names that no step
produces: the chain is checked completely before anything runs.
"""

from __future__ import annotations

import importlib
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from heron.chains.compose import Chain, Parallel, Router
from heron.chains.longdoc import LongQAStep, SummarizeStep
from heron.chains.parse import JsonStep, LabelStep
from heron.chains.steps import PromptStep, RetrieveStep, Step, TransformStep
from heron.chains.task_step import TaskStep
from heron.errors import ConfigError
from heron.models.base import LLM, GenerateOptions
from heron.models.registry import ModelRegistry

LlmFor = Callable[[str], LLM]
SourceFor = Callable[[str, int], Any]

_COMMON = {"name", "type"}
_DECODING = {"max_tokens", "temperature", "max_time_s", "llm", "system"}
ALLOWED: dict[str, set[str]] = {
    "prompt": _COMMON | _DECODING | {"template", "output"},
    "label": _COMMON | _DECODING | {"template", "output", "labels", "default"},
    "json": _COMMON | _DECODING | {"template", "output", "schema"},
    "retrieve": _COMMON | {"collection", "k", "input", "output", "hits_output"},
    "summarize": _COMMON | {"llm", "method", "input", "output", "max_tokens"},
    "long_qa": _COMMON | {"llm", "method", "question", "text", "output", "max_tokens"},
    "transform": _COMMON | {"function", "inputs", "output"},
    "task": _COMMON | {"task", "input", "output", "params", "input_params", "field"},
    "parallel": _COMMON | {"steps"},
    "router": _COMMON | {"on", "branches", "default"},
}


class ChainBuilder:
    """Turns a parsed TOML document into a ``Chain``; models and stores come from outside."""

    def __init__(
        self,
        llm_for: LlmFor,
        source_for: SourceFor,
        default_llm: str,
        registry: ModelRegistry | None = None,
    ) -> None:
        self.llm_for = llm_for
        self.source_for = source_for
        self.default_llm = default_llm
        #: passed to task steps, so they share loaded models with the other steps
        self.registry = registry

    def chain(self, data: Mapping[str, Any], origin: str = "chain file") -> Chain:
        unknown = set(data) - {"name", "inputs", "llm", "steps", "description"}
        if unknown:
            raise ConfigError(
                f"{origin}: unknown top-level key(s) {', '.join(sorted(unknown))}",
                hint="top-level keys: name, description, inputs, llm, steps",
            )
        if "llm" in data:
            self.default_llm = str(data["llm"])
        steps = data.get("steps")
        if not isinstance(steps, list) or not steps:
            raise ConfigError(f"{origin} has no [[steps]]", hint="add at least one [[steps]] table")
        inputs = data.get("inputs", [])
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            raise ConfigError(f"{origin}: inputs must be a list of names", hint='inputs = ["text"]')
        built = [self.step(s, f"{origin} step {n}") for n, s in enumerate(steps, 1)]
        return Chain(str(data.get("name", Path(origin).stem)), built, inputs)

    def step(self, table: Any, where: str) -> Step:
        if not isinstance(table, dict):
            raise ConfigError(f"{where} is not a table")
        kind = str(table.get("type", ""))
        if kind not in ALLOWED:
            raise ConfigError(
                f"{where}: unknown step type '{kind}'", hint=f"types: {', '.join(ALLOWED)}"
            )
        unknown = set(table) - ALLOWED[kind]
        if unknown:
            raise ConfigError(
                f"{where}: unknown key(s) {', '.join(sorted(unknown))} for a {kind} step",
                hint=f"a {kind} step takes {', '.join(sorted(ALLOWED[kind]))}",
            )
        name = str(table.get("name", f"{kind}-{where.rsplit(' ', 1)[-1]}"))
        build = getattr(self, f"_{kind}")
        step: Step = build(name, table, where)
        return step

    def _llm(self, table: Mapping[str, Any]) -> LLM:
        return self.llm_for(str(table.get("llm", self.default_llm)))

    def _options(self, table: Mapping[str, Any]) -> GenerateOptions:
        max_time_s = table.get("max_time_s")
        return GenerateOptions(
            max_tokens=int(table.get("max_tokens", 256)),
            temperature=float(table.get("temperature", 0.0)),
            max_time_s=None if max_time_s is None else float(max_time_s),
        )

    def _required(self, table: Mapping[str, Any], key: str, where: str) -> Any:
        if key not in table:
            raise ConfigError(f"{where} needs '{key}'")
        return table[key]

    def _prompt(self, name: str, table: Mapping[str, Any], where: str) -> Step:
        template = str(self._required(table, "template", where))
        return PromptStep(
            name,
            self._llm(table),
            template,
            str(table.get("output", name)),
            table.get("system"),
            self._options(table),
        )

    def _label(self, name: str, table: Mapping[str, Any], where: str) -> Step:
        labels = self._required(table, "labels", where)
        return LabelStep(
            name,
            self._llm(table),
            str(self._required(table, "template", where)),
            [str(label) for label in labels],
            str(table.get("output", name)),
            table.get("system"),
            self._options(table),
            table.get("default"),
        )

    def _json(self, name: str, table: Mapping[str, Any], where: str) -> Step:
        return JsonStep(
            name,
            self._llm(table),
            str(self._required(table, "template", where)),
            dict(self._required(table, "schema", where)),
            str(table.get("output", name)),
            table.get("system"),
            self._options(table),
        )

    def _retrieve(self, name: str, table: Mapping[str, Any], where: str) -> Step:
        k = int(table.get("k", 4))
        source = self.source_for(str(self._required(table, "collection", where)), k)
        return RetrieveStep(
            name,
            source,
            str(table.get("input", "question")),
            str(table.get("output", "context")),
            str(table.get("hits_output", "hits")),
            k,
        )

    def _summarize(self, name: str, table: Mapping[str, Any], where: str) -> Step:
        return SummarizeStep(
            name,
            self._llm(table),
            str(table.get("method", "map_reduce")),
            str(table.get("input", "text")),
            str(table.get("output", name)),
            int(table.get("max_tokens", 200)),
        )

    def _long_qa(self, name: str, table: Mapping[str, Any], where: str) -> Step:
        return LongQAStep(
            name,
            self._llm(table),
            str(table.get("method", "map_reduce")),
            str(table.get("question", "question")),
            str(table.get("text", "text")),
            str(table.get("output", name)),
            int(table.get("max_tokens", 200)),
        )

    def _transform(self, name: str, table: Mapping[str, Any], where: str) -> Step:
        target = str(self._required(table, "function", where))
        module_name, _, attr = target.partition(":")
        try:
            fn = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ConfigError(
                f"{where}: cannot import function '{target}': {exc}",
                hint="write it as package.module:function, importable from here",
            ) from exc
        inputs = table.get("inputs")
        return TransformStep(name, fn, str(table.get("output", name)), inputs)

    def _task(self, name: str, table: Mapping[str, Any], where: str) -> Step:
        params = dict(table.get("params", {}))
        params.setdefault("model", self.default_llm)
        if self.registry is not None:
            params["registry"] = self.registry
        return TaskStep(
            name,
            str(self._required(table, "task", where)),
            str(table.get("input", "text")),
            str(table.get("output", name)),
            params,
            table.get("input_params"),
            table.get("field"),
        )

    def _parallel(self, name: str, table: Mapping[str, Any], where: str) -> Step:
        steps = self._required(table, "steps", where)
        return Parallel(name, [self.step(s, f"{where}.{n}") for n, s in enumerate(steps, 1)])

    def _router(self, name: str, table: Mapping[str, Any], where: str) -> Step:
        branches = self._required(table, "branches", where)
        if not isinstance(branches, dict):
            raise ConfigError(f"{where}: branches must be tables [steps.branches.LABEL]")
        built = {label: self.step(b, f"{where} branch {label}") for label, b in branches.items()}
        return Router(
            name, built, on=str(self._required(table, "on", where)), default=table.get("default")
        )


def read_chain_file(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"chain file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read chain file {path}: {exc}", hint="fix the TOML") from exc
