"""Plumbing shared by the task functions: models, options, prompt batches, results."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from heron.models.registry import ModelRegistry
from heron.tasks.engines import Engine, fit_prompt
from heron.tasks.options import TaskOptions, parse_options
from heron.tasks.prompting import TaskPrompt
from heron.tasks.targets import TaskModels
from heron.types import Completion

R = TypeVar("R")

OptionsArg = TaskOptions | dict[str, Any] | None


def task_models(models: TaskModels | None, registry: ModelRegistry | None) -> TaskModels:
    return models if models is not None else TaskModels(registry)


def options_of(options: OptionsArg) -> TaskOptions:
    return parse_options(options)


def one_or_many(results: list[R], single: bool) -> R | list[R]:
    return results[0] if single else results


def run_prompts(
    engine: Engine,
    texts: Sequence[str],
    build: Callable[[str], TaskPrompt],
    options: TaskOptions,
    default_max: int,
) -> list[tuple[Completion, bool]]:
    """Fit each text's prompt to the window, complete all of them; (completion, truncated)."""
    reserve = options.budget(default_max)
    fitted = [fit_prompt(engine, build, text, reserve) for text in texts]
    stops = tuple(s for prompt, _ in fitted for s in prompt.stop)
    completions = engine.complete(
        [prompt.messages for prompt, _ in fitted], options.with_stop(stops), default_max
    )
    return [
        (Completion(c.text.strip(), c.finish_reason, c.prompt_tokens, c.completion_tokens), cut)
        for c, (_, cut) in zip(completions, fitted, strict=True)
    ]
