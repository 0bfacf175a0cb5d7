"""Counting what models cost: a ``UsageMeter`` and the ``MeteredLLM`` that reports into it.

Code that hands an LLM to other code (a chain step calling ``heron.tasks``, say)
and wants to know what the calls cost wraps it: ``metered(llm, meter)``, or a whole
registry with ``ModelRegistry.metered(meter)``, whose LLMs all report into the
meter. Every ``generate`` (and ``generate_json``) adds one ``LLMCall`` with the
prompt, the token counts the backend reported and the finish reason; a stream is
counted with ``count_tokens`` when it ends. The wrapped model is shared, not
copied: loading and caching are unchanged. One meter per run keeps counts apart
when runs overlap; a meter is safe to use from several threads.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from heron.models.base import LLM, GenerateOptions, Prompt, as_messages
from heron.types import Completion


@dataclass(frozen=True)
class LLMCall:
    """One model call as a meter saw it."""

    prompt: Prompt
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    spec: str = ""


class UsageMeter:
    """Collects the calls of the models that report into it (thread-safe)."""

    def __init__(self) -> None:
        self._calls: list[LLMCall] = []
        self._lock = threading.Lock()

    def add(self, call: LLMCall) -> None:
        with self._lock:
            self._calls.append(call)

    @property
    def calls(self) -> list[LLMCall]:
        with self._lock:
            return list(self._calls)

    @property
    def prompt_tokens(self) -> int:
        return sum(c.prompt_tokens for c in self.calls)

    @property
    def completion_tokens(self) -> int:
        return sum(c.completion_tokens for c in self.calls)


def takes_grammar(llm: LLM) -> bool:
    """Whether ``llm.generate`` accepts ``grammar=`` (an ``accepts_grammar`` flag decides)."""
    flag = getattr(llm, "accepts_grammar", None)
    if isinstance(flag, bool):
        return flag
    try:
        return "grammar" in inspect.signature(llm.generate).parameters
    except (TypeError, ValueError):
        return False


class MeteredLLM(LLM):
    """Forwards every call to ``inner`` and reports what each cost to ``meter``."""

    can_stream = True

    def __init__(self, inner: LLM, meter: UsageMeter) -> None:
        self.inner = inner
        self.meter = meter
        self.spec = inner.spec
        #: as ``inner``: code that constrains output checks this (``heron.chains.grammar``)
        self.accepts_grammar = takes_grammar(inner)

    @property
    def context_window(self) -> int:
        return int(self.inner.context_window)

    @context_window.setter
    def context_window(self, value: int) -> None:
        self.inner.context_window = value

    def generate(
        self,
        prompt: Prompt,
        options: GenerateOptions | None = None,
        *,
        grammar: str | None = None,
    ) -> Completion:
        extra: dict[str, Any] = {"grammar": grammar} if grammar is not None else {}
        completion = self.inner.generate(prompt, options, **extra)
        self._record(prompt, completion)
        return completion

    def stream(self, prompt: Prompt, options: GenerateOptions | None = None) -> Iterator[str]:
        pieces: list[str] = []
        try:
            for piece in self.inner.stream(prompt, options):
                pieces.append(piece)
                yield piece
        finally:
            text = "".join(pieces)
            prompt_text = "\n".join(m.content for m in as_messages(prompt))
            self.meter.add(
                LLMCall(
                    prompt,
                    self.inner.count_tokens(prompt_text),
                    self.inner.count_tokens(text) if text else 0,
                    "stream",
                    self.spec,
                )
            )

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def _record(self, prompt: Prompt, completion: Completion) -> None:
        self.meter.add(
            LLMCall(
                prompt,
                completion.prompt_tokens,
                completion.completion_tokens,
                completion.finish_reason,
                self.spec,
            )
        )


class MeteredJsonLLM(MeteredLLM):
    """A ``MeteredLLM`` for backends with ``generate_json`` (llama.cpp), which it keeps."""

    def generate_json(
        self,
        prompt: Prompt,
        schema: Mapping[str, Any],
        options: GenerateOptions | None = None,
    ) -> Completion:
        completion: Completion = self.inner.generate_json(prompt, schema, options)  # type: ignore[attr-defined]
        self._record(prompt, completion)
        return completion


def metered(llm: LLM, meter: UsageMeter) -> MeteredLLM:
    """``llm`` reporting into ``meter``; it keeps ``generate_json`` where ``llm`` has it."""
    if callable(getattr(llm, "generate_json", None)):
        return MeteredJsonLLM(llm, meter)
    return MeteredLLM(llm, meter)
