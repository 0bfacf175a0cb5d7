"""Steps: the units a chain is made of, and the built-in ones.

A ``Step`` declares the names it reads (``inputs``) and the names it writes
(``outputs``); ``run(values, span)`` gets exactly its inputs and returns a dict
with its outputs. That is the whole contract: chains check names when they are
built and pass values by name when they run. ``span`` is where a step records
the prompts it sent and the tokens they cost (see ``heron.chains.tracing``).

Built in here: ``PromptStep`` (a template filled from inputs, sent to an LLM),
``TransformStep`` (any Python function), ``RetrieveStep`` (passages from a
``Retriever`` or a collection). Constrained JSON and label steps are in
``heron.chains.parse``; composition (sequence, parallel, router) in
``heron.chains.compose``.
"""

from __future__ import annotations

import inspect
import string
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from heron.chains.tracing import RunTraces, Span, error_text, new_run_id
from heron.errors import HeronError, InputError
from heron.models.base import LLM, GenerateOptions
from heron.rag.prompt import passage_label
from heron.types import Completion, Hit, Message


@dataclass(frozen=True)
class RunResult:
    """What running a chain (or any step) as a whole returns."""

    outputs: dict[str, Any]
    run_id: str
    trace: Span
    status: str = "ok"


class Step(ABC):
    """One unit of work with named inputs and outputs."""

    kind: ClassVar[str] = "step"
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @abstractmethod
    def run(self, values: Mapping[str, Any], span: Span) -> dict[str, Any]:
        """Compute this step's outputs from its inputs (``values`` holds exactly those)."""

    def invoke(
        self,
        inputs: Mapping[str, Any] | None = None,
        traces: RunTraces | None = None,
        **named: Any,
    ) -> RunResult:
        """Run this step as a whole run: check inputs, trace it, record the trace."""
        values = {**(inputs or {}), **named}
        missing = [name for name in self.inputs if name not in values]
        if missing:
            raise InputError(
                f"'{self.name}' needs input {', '.join(repr(m) for m in missing)}",
                hint=f"pass every input it takes: {', '.join(self.inputs) or '(none)'}",
            )
        run_id = new_run_id()
        root = Span(self.name, self.kind, inputs={k: values[k] for k in self.inputs})
        try:
            outputs = self.run({k: values[k] for k in self.inputs}, root)
        except BaseException as exc:
            root.finish(error=exc)
            if traces is not None:
                traces.record("chain", run_id, root, status="error")
            raise
        root.finish(outputs)
        if traces is not None:
            traces.record("chain", run_id, root)
        return RunResult(outputs, run_id, root)


def run_child(step: Step, values: Mapping[str, Any], parent: Span) -> dict[str, Any]:
    """Run ``step`` on the values it needs, as a child span of ``parent``."""
    mine = {name: values[name] for name in step.inputs}
    span = Span(step.name, step.kind, inputs=mine)
    parent.children.append(span)
    try:
        outputs = step.run(mine, span)
        missing = [name for name in step.outputs if name not in outputs]
        if missing:
            raise InputError(
                f"step '{step.name}' did not return {', '.join(repr(m) for m in missing)}",
                hint=f"its run() must return a dict with keys {', '.join(step.outputs)}",
            )
    except HeronError as exc:
        span.finish(error=exc)
        raise
    except Exception as exc:
        span.finish(error=exc)
        raise HeronError(
            f"step '{step.name}' failed: {error_text(exc)}",
            hint="the trace (`heron trace show ID`) has the step's inputs",
        ) from exc
    span.finish(outputs)
    return outputs


def template_fields(template: str) -> tuple[str, ...]:
    """The names a ``str.format`` template reads, in order of first use."""
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise InputError(
            f"bad prompt template: {exc}", hint="write literal braces as {{ and }}"
        ) from exc
    for _, field, _, _ in parsed:
        if field is None:
            continue
        name = field.split(".", 1)[0].split("[", 1)[0]
        if not name.isidentifier():
            raise InputError(
                f"prompt template field '{{{field}}}' is not a name",
                hint="use named fields such as {text}; write literal braces as {{ and }}",
            )
        if name not in names:
            names.append(name)
    return tuple(names)


def render(template: str, values: Mapping[str, Any]) -> str:
    return template.format_map({k: _as_text(v) for k, v in values.items()})


def _as_text(value: Any) -> Any:
    if isinstance(value, list) and value and all(isinstance(v, Hit) for v in value):
        return format_passages(value)
    return value


def format_passages(hits: Sequence[Hit]) -> str:
    """Passages numbered ``[n] label`` for a prompt."""
    return "\n\n".join(
        f"[{n}] {passage_label(hit)}\n{hit.document or ''}" for n, hit in enumerate(hits, 1)
    )


def call_llm(
    llm: LLM,
    prompt: str | list[Message],
    options: GenerateOptions,
    span: Span,
    **kwargs: Any,
) -> Completion:
    """Generate and record the prompt and its token cost on ``span``."""
    completion = llm.generate(prompt, options, **kwargs)
    span.llm_call(prompt, completion.prompt_tokens, completion.completion_tokens)
    return completion


class PromptStep(Step):
    """Fill a ``str.format`` template from the inputs, send it to an LLM, output the text."""

    kind = "prompt"

    def __init__(
        self,
        name: str,
        llm: LLM,
        template: str,
        output: str = "text",
        system: str | None = None,
        options: GenerateOptions | None = None,
    ) -> None:
        self.name = name
        self.llm = llm
        self.template = template
        self.system = system
        self.options = options or GenerateOptions()
        self.inputs = template_fields(template)
        self.outputs = (output,)

    def messages(self, values: Mapping[str, Any]) -> list[Message]:
        user = Message("user", render(self.template, values))
        return [Message("system", self.system), user] if self.system else [user]

    def run(self, values: Mapping[str, Any], span: Span) -> dict[str, Any]:
        completion = call_llm(self.llm, self.messages(values), self.options, span)
        return {self.outputs[0]: completion.text.strip()}


class TransformStep(Step):
    """A plain Python function as a step; its parameter names are its inputs.

    Given ``inputs``, the function gets those values positionally, in that order.

    With one output the return value is stored under it; with several the
    function returns a dict holding each.
    """

    kind = "transform"

    def __init__(
        self,
        name: str,
        fn: Callable[..., Any],
        output: str | Sequence[str] = "value",
        inputs: Sequence[str] | None = None,
    ) -> None:
        self.name = name
        self.fn = fn
        #: named inputs are passed positionally, in order; otherwise by parameter name
        self.positional = inputs is not None
        self.inputs = tuple(inputs) if inputs is not None else _parameter_names(fn)
        self.outputs = (output,) if isinstance(output, str) else tuple(output)

    def run(self, values: Mapping[str, Any], span: Span) -> dict[str, Any]:
        if self.positional:
            result = self.fn(*(values[name] for name in self.inputs))
        else:
            result = self.fn(**values)
        if len(self.outputs) == 1:
            return {self.outputs[0]: result}
        if not isinstance(result, Mapping):
            raise InputError(
                f"transform '{self.name}' returned {type(result).__name__}, not a dict",
                hint=f"return a dict with keys {', '.join(self.outputs)}",
            )
        return dict(result)


def _parameter_names(fn: Callable[..., Any]) -> tuple[str, ...]:
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return tuple(p.name for p in inspect.signature(fn).parameters.values() if p.kind in kinds)


class QueryableCollection(Protocol):
    """A store collection (anything with ``query(texts=..., k=...)``)."""

    def query(self, texts: list[str] | None = None, k: int = 10, **kwargs: Any) -> Any: ...


class RetrieveStep(Step):
    """Passages for a question: from a ``heron.rag.retrieve.Retriever`` or a collection.

    Outputs the hits (``hits``) and the passages formatted for a prompt (``context``).
    """

    kind = "retrieve"

    def __init__(
        self,
        name: str,
        source: Any,
        input: str = "question",  # noqa: A002 - the name a TOML file uses
        output: str = "context",
        hits_output: str = "hits",
        k: int = 4,
        where: Mapping[str, Any] | None = None,
    ) -> None:
        if not (hasattr(source, "retrieve") or hasattr(source, "query")):
            raise InputError(
                f"retrieve step '{name}' got {type(source).__name__}",
                hint="pass a heron.rag.retrieve.Retriever or a store collection",
            )
        self.name = name
        self.source = source
        self.k = k
        self.where = where
        self.inputs = (input,)
        self.outputs = (output, hits_output)

    def run(self, values: Mapping[str, Any], span: Span) -> dict[str, Any]:
        question = str(values[self.inputs[0]])
        if hasattr(self.source, "retrieve"):
            hits = list(self.source.retrieve(question, self.where).hits)
        else:
            hits = list(self.source.query(texts=[question], k=self.k, where=self.where)[0])
        return {self.outputs[0]: format_passages(hits), self.outputs[1]: hits}
