"""compare_prompts end to end on the bundled SmolLM2-135M (slow: loads the model)."""

from __future__ import annotations

import pytest

from heron.models.registry import ModelRegistry
from heron.prompts import Defenses, PromptTemplate, compare_prompts, few_shot, first_label

LABELS = ["positive", "negative", "neutral"]
INSTRUCTION = "Classify the sentiment of the input as positive, negative or neutral."
SAMPLES = [
    ("I love this bright and sunny day", "positive"),
    ("death and sorrow fill the empty house", "negative"),
    ("the table is made of wood", "neutral"),
]


@pytest.mark.slow
def test_compare_prompts_on_bundled_smollm2() -> None:
    llm = ModelRegistry().llm("bundled:smollm2")
    templates = {
        "zero-shot": PromptTemplate(INSTRUCTION, output_format="Reply with one word."),
        "few-shot strict": few_shot(
            INSTRUCTION,
            [
                {"input": "what a wonderful, happy morning", "output": "positive"},
                {"input": "the bitter cold of a lonely grave", "output": "negative"},
                {"input": "the train leaves at noon", "output": "neutral"},
            ],
            defenses=Defenses.strict(),
        ),
    }
    result = compare_prompts(templates, llm, SAMPLES, metric=first_label(LABELS))
    assert [r.name for r in result.results] == ["zero-shot", "few-shot strict"]
    for template in result.results:
        assert template.n == len(SAMPLES)
        assert 0.0 <= template.mean <= 1.0
        assert all(output.strip() for output in template.outputs)
    few = result["few-shot strict"]
    # the separator and the next "Input:" are stop sequences: one short answer each
    assert all("###" not in o and "Input:" not in o and len(o) < 80 for o in few.outputs)
    assert result.best.name in {"zero-shot", "few-shot strict"}
    assert result.model == "bundled:smollm2"
