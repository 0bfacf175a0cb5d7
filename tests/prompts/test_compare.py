"""compare_prompts on a scripted model: scores, best, options, reports, bad input."""

from __future__ import annotations

import json
import re

import pytest

from heron.errors import InputError
from heron.models.base import GenerateOptions
from heron.prompts import (
    Defenses,
    PromptTemplate,
    compare_prompts,
    contains,
    exact,
    exact_label,
    few_shot,
    first_label,
)
from heron.testing.fakes import ScriptedLLM

SAMPLES = [("sun and joy", "positive"), ("grey rain", "negative"), ("a <b>tag</b>", "positive")]


def oracle(prompt: str) -> str:
    """Right only when the prompt shows examples; otherwise always 'Positive.'."""
    if "Output: positive" in prompt:
        last = prompt.rsplit("Input:", 1)[1]
        return "negative\n###\nInput: more" if "rain" in last else "positive"
    return "Positive."


def templates() -> dict[str, PromptTemplate]:
    return {
        "zero-shot": PromptTemplate("Classify the sentiment."),
        "few-shot": few_shot(
            "Classify the sentiment.",
            [{"input": "bright", "output": "positive"}, {"input": "dark", "output": "negative"}],
        ),
    }


def test_scores_means_best_and_outputs() -> None:
    llm = ScriptedLLM(oracle)
    result = compare_prompts(templates(), llm, SAMPLES)
    zero, few = result["zero-shot"], result["few-shot"]
    assert zero.outputs == ("Positive.", "Positive.", "Positive.")
    assert zero.mean == pytest.approx(2 / 3) and zero.n == 3
    assert few.outputs == ("positive", "negative", "positive")  # stopped at the separator
    assert few.mean == 1.0
    assert result.best.name == "few-shot"
    assert result.metric == "exact_label" and result.model == "scripted:"
    assert len(llm.prompts) == 6
    assert few.example_prompt.startswith("Classify the sentiment.")
    assert [s.score for s in zero.samples] == [1.0, 0.0, 1.0]


def test_best_tie_goes_to_the_first_template() -> None:
    result = compare_prompts(templates(), ScriptedLLM(["positive"]), SAMPLES)
    assert result["zero-shot"].mean == result["few-shot"].mean
    assert result.best.name == "zero-shot"


def test_options_reach_the_model_with_the_templates_stops() -> None:
    seen: list[GenerateOptions] = []

    class Recording(ScriptedLLM):
        def generate(self, prompt, options=None):  # type: ignore[no-untyped-def]
            assert options is not None
            seen.append(options)
            return super().generate(prompt, options)

    compare_prompts(
        templates(),
        Recording(["x"]),
        SAMPLES[:1],
        options=GenerateOptions(max_tokens=3, stop=["\n"]),
    )
    assert [o.stop for o in seen] == [["\n", "###"], ["\n", "###", "\nInput:"]]
    assert all(o.max_tokens == 3 for o in seen)
    compare_prompts(templates(), Recording(["x"]), SAMPLES[:1])
    assert seen[-1].max_tokens == 48  # the default for label-style replies


def test_random_tags_are_seeded_per_sample() -> None:
    strict = {"strict": PromptTemplate("Classify.", defenses=Defenses.strict())}
    first, second = ScriptedLLM(["x"]), ScriptedLLM(["x"])
    compare_prompts(strict, first, SAMPLES, seed=10)
    compare_prompts(strict, second, SAMPLES, seed=10)
    assert first.prompts == second.prompts
    tags = {re.search(r"<(user_[0-9a-f]+)>", p).group(1) for p in first.prompts}  # type: ignore[union-attr]
    assert len(tags) == len(SAMPLES)


def test_named_and_custom_metrics() -> None:
    assert exact_label(" **Positive.**\nbecause", "positive") == 1.0
    assert exact_label("Sentiment: negative", "negative") == 1.0
    assert exact_label("not positive", "positive") == 0.0
    assert exact("positive ", "positive") == 1.0 and exact("Positive", "positive") == 0.0
    assert contains("It is POSITIVE overall", "positive") == 1.0
    assert contains("unpositive", "positive") == 0.0
    assert contains("anything", "") == 0.0
    labels = first_label(["positive", "negative", "neutral"])
    assert labels("The mood is negative, not positive.", "negative") == 1.0
    assert labels("The mood is negative, not positive.", "positive") == 0.0
    assert labels("no idea", "positive") == 0.0
    assert labels.__name__ == "first_label(positive, negative, neutral)"

    result = compare_prompts(templates(), ScriptedLLM(["positive!"]), SAMPLES, metric=contains)
    assert result.metric == "contains"
    lengths = compare_prompts(
        templates(), ScriptedLLM(["abc"]), SAMPLES[:1], metric=lambda p, r: len(p) / 10
    )
    assert lengths.best.mean == pytest.approx(0.3)


def test_json_and_html_reports() -> None:
    result = compare_prompts(templates(), ScriptedLLM(oracle), SAMPLES)
    data = json.loads(result.to_json())
    assert data["best"] == "few-shot" and data["metric"] == "exact_label"
    assert [t["name"] for t in data["templates"]] == ["zero-shot", "few-shot"]
    assert data["templates"][1]["samples"][1] == {
        "input": "grey rain",
        "expected": "negative",
        "output": "negative",
        "score": 1.0,
    }
    page = result.to_html()
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert '<tr class="best"><td>few-shot</td><td class=num>1.000</td>' in page
    assert "a &lt;b&gt;tag&lt;/b&gt;" in page and "<b>tag</b>" not in page  # escaped


def test_progress_bar_runs(capsys: pytest.CaptureFixture[str]) -> None:
    result = compare_prompts(templates(), ScriptedLLM(["positive"]), SAMPLES, progress=True)
    assert result.best.n == 3
    assert capsys.readouterr().out == ""  # the bar goes to stderr


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"templates": {}}, "mapping of names to templates"),
        ({"templates": {"": PromptTemplate("Go.")}}, "non-empty name"),
        ({"templates": {"a": "Go."}}, "not a PromptTemplate"),
        ({"samples": []}, "non-empty list"),
        ({"samples": "text"}, "non-empty list"),
        ({"samples": [("a", "b"), ("a",)]}, "sample 1 is not"),
        ({"samples": [("a", 1)]}, "sample 0 is not"),
        ({"samples": [("", "b")]}, "input text is empty"),
        ({"metric": "accuracy"}, "unknown metric 'accuracy'"),
        ({"metric": 3}, "must be a name or a function"),
        ({"metric": lambda p, r: float("nan")}, "NaN for sample 0"),
    ],
)
def test_bad_input(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"templates": templates(), "samples": SAMPLES, **kwargs}
    with pytest.raises(InputError, match=message):
        compare_prompts(llm=ScriptedLLM(["x"]), **args)  # type: ignore[arg-type]
