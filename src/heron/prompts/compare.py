"""Prompt comparison: run several templates over one labelled sample, score them.

Every template sees the same samples in the same order with the same decoding
options (its own stop sequences added), and the random tag of sample ``i`` is
seeded with ``seed + i``, so a comparison on a deterministic model is
reproducible. The result reports, per template, the mean score, ``n``, time and
every output, and serialises to JSON and to a self-contained HTML page.
Left out: significance tests and confidence intervals, concurrency, caching.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from time import perf_counter
from typing import Any

from heron.errors import InputError
from heron.models.base import LLM, GenerateOptions
from heron.prompts.metrics import Metric, resolve_metric
from heron.prompts.report import comparison_html
from heron.prompts.template import PromptTemplate

#: label-style tasks need few tokens; a long reply only costs time
DEFAULT_OPTIONS = GenerateOptions(max_tokens=48)


@dataclass(frozen=True)
class SampleResult:
    input: str
    expected: str
    output: str
    score: float


@dataclass(frozen=True)
class TemplateResult:
    """How one template did: mean score over ``n`` samples, and every output."""

    name: str
    mean: float
    n: int
    seconds: float
    samples: tuple[SampleResult, ...]
    #: the prompt the first sample was given (what the template looks like rendered)
    example_prompt: str = ""

    @property
    def outputs(self) -> tuple[str, ...]:
        return tuple(s.output for s in self.samples)


@dataclass(frozen=True)
class PromptComparison:
    """Results per template, in the order the templates were given."""

    results: tuple[TemplateResult, ...]
    metric: str
    model: str = ""

    @property
    def best(self) -> TemplateResult:
        """The highest mean score (the first given wins a tie)."""
        return max(self.results, key=lambda r: r.mean)

    def __getitem__(self, name: str) -> TemplateResult:
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "model": self.model,
            "best": self.best.name,
            "templates": [asdict(r) for r in self.results],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def to_html(self, title: str = "Prompt comparison") -> str:
        return comparison_html(self.to_dict(), title)


def _check_samples(samples: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    if isinstance(samples, str) or not isinstance(samples, Sequence) or not samples:
        raise InputError(
            "compare_prompts needs a non-empty list of (input, expected) pairs",
            hint='e.g. [("a lovely day", "positive"), ("a dull film", "negative")]',
        )
    checked = []
    for number, sample in enumerate(samples):
        if (
            not isinstance(sample, Sequence)
            or isinstance(sample, str)
            or len(sample) != 2
            or not all(isinstance(part, str) for part in sample)
        ):
            raise InputError(f"sample {number} is not an (input, expected) pair of strings")
        checked.append((sample[0], sample[1]))
    return checked


def _check_templates(templates: Mapping[str, PromptTemplate]) -> None:
    if not isinstance(templates, Mapping) or not templates:
        raise InputError(
            "compare_prompts needs a mapping of names to templates",
            hint='e.g. {"zero-shot": PromptTemplate(...), "few-shot": few_shot(...)}',
        )
    for name, template in templates.items():
        if not isinstance(name, str) or not name.strip():
            raise InputError("every template needs a non-empty name")
        if not isinstance(template, PromptTemplate):
            raise InputError(
                f"template '{name}' is a {type(template).__name__}, not a PromptTemplate"
            )


@contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Callable[[str], None]]:
    """A callback that advances a rich bar on stderr (a no-op when disabled)."""
    if not enabled:
        yield lambda _name: None
        return
    from rich.console import Console  # only a progress bar needs rich
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )
    with bar:
        task = bar.add_task("comparing prompts", total=total)
        yield lambda name: bar.update(task, advance=1, description=name)


def _run_one(
    name: str,
    template: PromptTemplate,
    llm: LLM,
    samples: list[tuple[str, str]],
    score: Metric,
    options: GenerateOptions,
    seed: int | None,
    advance: Callable[[str], None],
) -> TemplateResult:
    results: list[SampleResult] = []
    first_prompt = ""
    start = perf_counter()
    for number, (text, expected) in enumerate(samples):
        rendered = template.render(text, seed=None if seed is None else seed + number)
        first_prompt = first_prompt or rendered.text
        output = llm.generate(rendered.messages, rendered.options(options)).text.strip()
        value = float(score(output, expected))
        if math.isnan(value):
            raise InputError(f"the metric returned NaN for sample {number}")
        results.append(SampleResult(text, expected, output, value))
        advance(name)
    seconds = perf_counter() - start
    mean = sum(r.score for r in results) / len(results)
    return TemplateResult(name, mean, len(results), seconds, tuple(results), first_prompt)


def compare_prompts(
    templates: Mapping[str, PromptTemplate],
    llm: LLM,
    samples: Sequence[tuple[str, str]],
    metric: Metric | str = "exact_label",
    options: GenerateOptions | None = None,
    progress: bool = False,
    *,
    seed: int | None = 0,
) -> PromptComparison:
    """Score every template on ``samples`` (pairs of input and expected output)."""
    _check_templates(templates)
    checked = _check_samples(samples)
    metric_name, score = resolve_metric(metric)
    options = options or DEFAULT_OPTIONS
    results = []
    with _progress(progress, len(templates) * len(checked)) as advance:
        for name, template in templates.items():
            results.append(_run_one(name, template, llm, checked, score, options, seed, advance))
    return PromptComparison(tuple(results), metric_name, llm.spec)
