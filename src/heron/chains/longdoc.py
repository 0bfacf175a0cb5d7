"""Long documents: summarise or answer over text longer than the model's window.

The text is split into pieces that fit the window (paragraphs, then sentences,
then words, counted with the model's own tokenizer). Two strategies:

- **map-reduce**: each piece is summarised (or asked the question) on its own,
  then the partial results are combined. When they do not fit one prompt they
  are combined in groups first, level by level, until they do.
- **refine**: the first piece is summarised (or answered), then each next piece
  refines the running result. Sequential, one call per piece, the result sees
  every piece in document order.

Every model call is a child span of the span passed in, so a trace shows each
map, collapse and reduce call with its prompt. ``SummarizeStep`` and
``LongQAStep`` put both strategies in a chain.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

from heron.chains.steps import Step, call_llm
from heron.chains.tracing import Span
from heron.errors import InputError
from heron.models.base import LLM, GenerateOptions
from heron.rag.prompt import neutralise
from heron.types import Message

Method = Literal["map_reduce", "refine"]
METHODS: tuple[Method, ...] = ("map_reduce", "refine")
#: tokens kept free for the chat template's own markers
MARGIN = 32
#: how many times partial results may be combined in groups before the final reduce
MAX_LEVELS = 6
NO_ANSWER = "NONE"

MAP_SUMMARY = "Summarize this part of a document in a few sentences.\n\n### Text\n{text}"
REDUCE_SUMMARY = (
    "These are summaries of consecutive parts of one document. Write one summary of the "
    "whole document.\n\n### Summaries\n{text}"
)
REFINE_SUMMARY = (
    "Here is a summary of a document so far:\n{summary}\n\nRefine it with the next part of "
    "the document. Reply with the updated summary only.\n\n### Next part\n{text}"
)
MAP_ANSWER = (
    "Answer the question using only this part of a document. If it does not contain the "
    f"answer, reply {NO_ANSWER}.\n\n### Text\n{{text}}\n\n### Question\n{{question}}"
)
REDUCE_ANSWER = (
    "These are answers to one question, each from a different part of a document. Combine "
    "them into one answer.\n\n### Answers\n{text}\n\n### Question\n{question}"
)
REFINE_ANSWER = (
    "The answer so far is:\n{summary}\n\nImprove it if the next part of the document helps; "
    "otherwise repeat it. Reply with the answer only.\n\n### Next part\n{text}\n\n"
    "### Question\n{question}"
)

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def split_to_fit(text: str, count: Callable[[str], int], max_tokens: int) -> list[str]:
    """Pieces of ``text``, in order, each at most ``max_tokens`` (greedy packing)."""
    if max_tokens < 8:
        raise InputError(
            f"only {max_tokens} tokens are left for the text in each prompt",
            hint="use a model with a larger context window or a smaller max_tokens",
        )
    units = [u for u in _units(text, count, max_tokens) if u.strip()]
    pieces: list[str] = []
    current: list[str] = []
    used = 0
    for unit in units:
        cost = count(unit) + 1
        if current and used + cost > max_tokens:
            pieces.append(" ".join(current))
            current, used = [], 0
        current.append(unit)
        used += cost
    if current:
        pieces.append(" ".join(current))
    return pieces


def _units(text: str, count: Callable[[str], int], max_tokens: int) -> list[str]:
    """Paragraphs, broken into sentences and then word runs where they are too long."""
    out: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        if count(paragraph) <= max_tokens:
            out.append(paragraph.strip())
            continue
        for sentence in _SENTENCE.split(paragraph):
            if count(sentence) <= max_tokens:
                out.append(sentence)
                continue
            words = sentence.split()
            step = max(1, len(words) * max_tokens // (2 * max(count(sentence), 1)))
            out += [" ".join(words[i : i + step]) for i in range(0, len(words), step)]
    return out


class LongText:
    """Runs map-reduce and refine over one LLM with a fixed answer length."""

    def __init__(self, llm: LLM, max_tokens: int = 200, options: GenerateOptions | None = None):
        self.llm = llm
        base = options or GenerateOptions()
        self.options = base.model_copy(update={"max_tokens": max_tokens})

    def budget(self, template: str, **fixed: str) -> int:
        """Tokens left for ``{text}`` in ``template`` once the fixed parts and the reply fit."""
        empty = template.format(text="", **fixed)
        return (
            self.llm.context_window
            - self.options.max_tokens
            - self.llm.count_tokens(empty)
            - MARGIN
        )

    def call(self, span: Span, label: str, template: str, **values: str) -> str:
        child = span.child(label, "llm")
        prompt = template.format(**{k: neutralise(v) for k, v in values.items()})
        try:
            text = call_llm(self.llm, [Message("user", prompt)], self.options, child).text.strip()
        except Exception as exc:
            child.finish(error=exc)
            raise
        child.finish({"text": text})
        return text

    def map_reduce(self, text: str, span: Span, question: str | None = None) -> tuple[str, int]:
        """The combined result and how many pieces the text was split into."""
        fixed = {"question": question} if question is not None else {}
        map_t, reduce_t = (MAP_ANSWER, REDUCE_ANSWER) if question else (MAP_SUMMARY, REDUCE_SUMMARY)
        pieces = split_to_fit(text, self.llm.count_tokens, self.budget(map_t, **fixed))
        partial = [
            self.call(span, f"map {i}", map_t, text=p, **fixed) for i, p in enumerate(pieces, 1)
        ]
        if question is not None:
            partial = [p for p in partial if not p.upper().startswith(NO_ANSWER)] or [NO_ANSWER]
        return self._reduce(partial, span, reduce_t, fixed), len(pieces)

    def _reduce(
        self, partial: list[str], span: Span, template: str, fixed: Mapping[str, str]
    ) -> str:
        budget = self.budget(template, **fixed)
        for level in range(1, MAX_LEVELS + 1):
            joined = "\n\n".join(partial)
            if len(partial) == 1 and level == 1:
                return partial[0]
            if self.llm.count_tokens(joined) <= budget:
                return self.call(span, "reduce", template, text=joined, **fixed)
            groups = split_to_fit(joined, self.llm.count_tokens, budget)
            partial = [
                self.call(span, f"collapse {level}.{i}", template, text=g, **fixed)
                for i, g in enumerate(groups, 1)
            ]
        raise InputError(
            f"the partial results did not fit one prompt after {MAX_LEVELS} levels",
            hint="use a smaller max_tokens or a model with a larger context window",
        )

    def refine(self, text: str, span: Span, question: str | None = None) -> tuple[str, int]:
        fixed = {"question": question} if question is not None else {}
        first_t, next_t = (MAP_ANSWER, REFINE_ANSWER) if question else (MAP_SUMMARY, REFINE_SUMMARY)
        room = self.budget(next_t, summary="", **fixed) - self.options.max_tokens
        pieces = split_to_fit(text, self.llm.count_tokens, room)
        result = self.call(span, "refine 1", first_t, text=pieces[0], **fixed)
        for i, piece in enumerate(pieces[1:], 2):
            result = self.call(span, f"refine {i}", next_t, text=piece, summary=result, **fixed)
        return result, len(pieces)


def _check_method(method: str) -> Method:
    if method not in METHODS:
        raise InputError(
            f"unknown long-document method '{method}'", hint=f"use one of {', '.join(METHODS)}"
        )
    return method  # type: ignore[return-value]


def summarize(
    llm: LLM, text: str, method: str = "map_reduce", span: Span | None = None, max_tokens: int = 200
) -> str:
    """Summarise text of any length with ``map_reduce`` or ``refine``."""
    runner = LongText(llm, max_tokens)
    root = span or Span("summarize", "longdoc")
    if _check_method(method) == "refine":
        return runner.refine(text, root)[0]
    return runner.map_reduce(text, root)[0]


def answer(
    llm: LLM,
    question: str,
    text: str,
    method: str = "map_reduce",
    span: Span | None = None,
    max_tokens: int = 200,
) -> str:
    """Answer a question over text of any length with ``map_reduce`` or ``refine``."""
    runner = LongText(llm, max_tokens)
    root = span or Span("answer", "longdoc")
    if _check_method(method) == "refine":
        return runner.refine(text, root, question)[0]
    return runner.map_reduce(text, root, question)[0]


class SummarizeStep(Step):
    """A chain step: summarise input ``text`` (any length) into ``summary``."""

    kind = "summarize"

    def __init__(
        self,
        name: str,
        llm: LLM,
        method: str = "map_reduce",
        input: str = "text",  # noqa: A002 - the name a TOML file uses
        output: str = "summary",
        max_tokens: int = 200,
    ) -> None:
        self.name = name
        self.runner = LongText(llm, max_tokens)
        self.method = _check_method(method)
        self.inputs = (input,)
        self.outputs = (output,)

    def run(self, values: Mapping[str, Any], span: Span) -> dict[str, Any]:
        text = str(values[self.inputs[0]])
        run = self.runner.refine if self.method == "refine" else self.runner.map_reduce
        result, _ = run(text, span)
        return {self.outputs[0]: result}


class LongQAStep(Step):
    """A chain step: answer input ``question`` over input ``text`` (any length)."""

    kind = "long_qa"

    def __init__(
        self,
        name: str,
        llm: LLM,
        method: str = "map_reduce",
        question: str = "question",
        text: str = "text",
        output: str = "answer",
        max_tokens: int = 200,
    ) -> None:
        self.name = name
        self.runner = LongText(llm, max_tokens)
        self.method = _check_method(method)
        self.inputs = (question, text)
        self.outputs = (output,)

    def run(self, values: Mapping[str, Any], span: Span) -> dict[str, Any]:
        question, text = (str(values[name]) for name in self.inputs)
        run = self.runner.refine if self.method == "refine" else self.runner.map_reduce
        result, _ = run(text, span, question)
        return {self.outputs[0]: result}
