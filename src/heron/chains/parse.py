"""Parse steps: an LLM reply as JSON matching a schema, or as one label of a set.

On llama.cpp backends the reply is constrained by a grammar built from the schema
(or the labels), so it always parses. Elsewhere the reply is generated freely
and parsed afterwards: the first JSON value in it is checked against the schema,
or the label it names is picked; when that fails, the model is asked once more
with the problem stated, and then the step fails with an ``InputError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from heron.chains.grammar import (
    label_grammar,
    match_label,
    parse_json_reply,
    schema_errors,
    schema_to_gbnf,
    supports_grammar,
)
from heron.chains.steps import PromptStep, call_llm
from heron.chains.tracing import Span
from heron.errors import InputError
from heron.models.base import LLM, GenerateOptions
from heron.types import Message

#: how often an unconstrained reply is retried after it failed to parse
RETRIES = 1


class JsonStep(PromptStep):
    """A prompt whose reply is a JSON value matching ``schema``."""

    kind = "json"

    def __init__(
        self,
        name: str,
        llm: LLM,
        template: str,
        schema: Mapping[str, Any],
        output: str = "data",
        system: str | None = None,
        options: GenerateOptions | None = None,
    ) -> None:
        super().__init__(name, llm, template, output, system, options)
        self.schema = dict(schema)
        self.grammar = schema_to_gbnf(self.schema)  # also checks the schema early

    def run(self, values: Mapping[str, Any], span: Span) -> dict[str, Any]:
        messages = self.messages(values)
        if supports_grammar(self.llm):
            reply = call_llm(self.llm, messages, self.options, span, grammar=self.grammar).text
            return {self.outputs[0]: self._check(reply)}
        problem = ""
        for _ in range(RETRIES + 1):
            reply = call_llm(self.llm, messages, self.options, span).text
            try:
                return {self.outputs[0]: self._check(reply)}
            except InputError as exc:
                problem = exc.message
                messages = [
                    *messages,
                    Message("assistant", reply),
                    Message("user", f"That reply is not valid: {problem}. Reply with JSON only."),
                ]
        raise InputError(
            f"step '{self.name}': the model gave no valid JSON ({problem})",
            hint="use a llama.cpp model (gguf:, bundled:) for grammar-constrained output",
        )

    def _check(self, reply: str) -> Any:
        value = parse_json_reply(reply)
        errors = schema_errors(value, self.schema)
        if errors:
            raise InputError("; ".join(errors[:3]), hint="the JSON must match the schema")
        return value


class LabelStep(PromptStep):
    """A prompt whose reply is exactly one of ``labels`` (e.g. positive / negative)."""

    kind = "label"

    def __init__(
        self,
        name: str,
        llm: LLM,
        template: str,
        labels: Sequence[str],
        output: str = "label",
        system: str | None = None,
        options: GenerateOptions | None = None,
        default: str | None = None,
    ) -> None:
        if default is not None and default not in labels:
            raise InputError(
                f"label step '{name}': default '{default}' is not one of its labels",
                hint=f"labels: {', '.join(labels)}",
            )
        super().__init__(name, llm, template, output, system, options)
        self.labels = list(labels)
        self.grammar = label_grammar(self.labels)
        self.default = default

    def run(self, values: Mapping[str, Any], span: Span) -> dict[str, Any]:
        messages = self.messages(values)
        if supports_grammar(self.llm):
            reply = call_llm(self.llm, messages, self.options, span, grammar=self.grammar).text
        else:
            reply = call_llm(self.llm, messages, self.options, span).text
        label = match_label(reply, self.labels) or self.default
        if label is None:
            shown = " ".join(reply.split())[:80]
            raise InputError(
                f"step '{self.name}': the reply '{shown}' names none of {', '.join(self.labels)}",
                hint="give the step a default label, or use a llama.cpp model (constrained)",
            )
        return {self.outputs[0]: label}
