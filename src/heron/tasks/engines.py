"""Text engines: what prompt-based tasks run on.

An ``Engine`` completes a batch of prompts. ``LLMEngine`` wraps any ``LLM`` from
the models registry (llama.cpp, OpenAI-compatible, fake…) and runs prompts one
at a time; ``heron.tasks.hf.HFEngine`` runs a transformers model directly so it
can batch and beam-search. Engines that can constrain decoding (llama.cpp
grammars) say so with ``can_constrain``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from heron.errors import ConfigError, InputError
from heron.models.base import LLM
from heron.tasks.options import TaskOptions, llm_options
from heron.tasks.prompting import TaskPrompt
from heron.types import Completion, Message

#: tokens a chat template adds around a turn, kept free when fitting a prompt
TEMPLATE_OVERHEAD = 24


class Engine(ABC):
    """Completes prompts; the one abstract method is ``complete``."""

    name: str = ""
    can_constrain: bool = False
    #: whether the reply shares the window with the prompt (decoder-only models)
    shares_window: bool = True

    @property
    @abstractmethod
    def window(self) -> int:
        """Total tokens (prompt + reply) the model accepts."""

    @abstractmethod
    def count_tokens(self, text: str) -> int: ...

    @abstractmethod
    def complete(
        self, prompts: Sequence[Sequence[Message]], options: TaskOptions, default_max: int
    ) -> list[Completion]:
        """One completion per prompt, in order."""

    def complete_grammar(
        self, prompt: Sequence[Message], grammar: str, options: TaskOptions, default_max: int
    ) -> Completion:
        raise self._cannot_constrain()

    def complete_json(
        self,
        prompt: Sequence[Message],
        schema: Mapping[str, Any],
        options: TaskOptions,
        default_max: int,
    ) -> Completion:
        raise self._cannot_constrain()

    def _cannot_constrain(self) -> ConfigError:
        return ConfigError(
            f"{self.name} cannot constrain decoding",
            hint="use a llama.cpp model (bundled:smollm2, gguf:PATH) for constrained output",
        )


class LLMEngine(Engine):
    """Any registry LLM; llama.cpp ones also constrain decoding with grammars."""

    def __init__(self, llm: LLM) -> None:
        self.llm = llm
        self.name = llm.spec or type(llm).__name__
        self.can_constrain = callable(getattr(llm, "generate_json", None))

    @property
    def window(self) -> int:
        return int(self.llm.context_window)

    def count_tokens(self, text: str) -> int:
        return self.llm.count_tokens(text)

    def complete(
        self, prompts: Sequence[Sequence[Message]], options: TaskOptions, default_max: int
    ) -> list[Completion]:
        generate_options = llm_options(options, default_max, self.name)
        return [self.llm.generate(list(p), generate_options) for p in prompts]

    def complete_grammar(
        self, prompt: Sequence[Message], grammar: str, options: TaskOptions, default_max: int
    ) -> Completion:
        generate: Callable[..., Completion] = self.llm.generate
        return generate(list(prompt), llm_options(options, default_max, self.name), grammar=grammar)

    def complete_json(
        self,
        prompt: Sequence[Message],
        schema: Mapping[str, Any],
        options: TaskOptions,
        default_max: int,
    ) -> Completion:
        generate_json: Callable[..., Completion] = self.llm.generate_json  # type: ignore[attr-defined]
        return generate_json(list(prompt), schema, llm_options(options, default_max, self.name))


def fit_prompt(
    engine: Engine, build: Callable[[str], TaskPrompt], text: str, reserve: int
) -> tuple[TaskPrompt, bool]:
    """The prompt for ``text``, cutting the text's end if prompt + reply exceed the window.

    Returns the prompt and whether the text was truncated.
    """
    reserve = reserve if engine.shares_window else 0
    room = engine.window - reserve - TEMPLATE_OVERHEAD
    prompt = build(text)
    used = engine.count_tokens(prompt.text)
    if used <= room:
        return prompt, False
    text_tokens = max(engine.count_tokens(text), 1)
    kept = text
    for _ in range(6):
        excess = used - room
        keep_tokens = text_tokens - excess
        if keep_tokens < 1:
            raise InputError(
                f"the instructions alone need {used - text_tokens} tokens; "
                f"{engine.name} has a window of {engine.window} with {reserve} kept for the reply",
                hint="lower max_new_tokens, shorten the question or examples, or use a model "
                "with a larger context window",
            )
        chars = max(1, int(len(kept) * keep_tokens / text_tokens * 0.97))
        kept = kept[:chars]
        prompt = build(kept)
        used = engine.count_tokens(prompt.text)
        if used <= room:
            return prompt, True
        text_tokens = max(engine.count_tokens(kept), 1)
    raise InputError(f"could not fit the text into {engine.name}'s window of {engine.window}")
