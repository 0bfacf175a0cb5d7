"""Every task end to end on the bundled models: MiniLM for zero-shot, SmolLM2 for the rest.

SmolLM2-135M is tiny: these assert that each task runs and returns a well-formed
value (a label from the set, a parsable JSON object), not that it is right, except
for zero-shot on MiniLM where the examples are unambiguous.
"""

from __future__ import annotations

import pytest

from heron.models import ModelRegistry
from heron.tasks import (
    Extraction,
    Generation,
    Label,
    Summary,
    TaskAnswer,
    TaskModels,
    Translation,
    answer,
    classify,
    extract,
    few_shot,
    generate,
    sentiment,
    summarize,
    translate,
    zero_shot,
)

from .conftest import bundled_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not bundled_available(), reason="bundled models not installed"),
]


@pytest.fixture(scope="module")
def bundled() -> TaskModels:
    return TaskModels(ModelRegistry(options={"threads": 2}))


def test_zero_shot_with_minilm(bundled: TaskModels) -> None:
    titles = ["Stocks tumble as the central bank raises interest rates",
              "Striker scores twice as his team wins the cup final"]  # fmt: skip
    out = zero_shot(titles, ["business", "sports", "food"], models=bundled)
    assert isinstance(out, list) and [r.label for r in out] == ["business", "sports"]
    assert all(len(r.scores) == 3 for r in out)


def test_label_tasks_with_smollm2_always_return_a_label(bundled: TaskModels) -> None:
    texts = ["I love this phone, it works great.", "Terrible food and rude staff."]
    out = sentiment(texts, models=bundled)
    assert isinstance(out, list) and all(r.label in ("positive", "negative") for r in out)
    labels = ["technology", "food", "sports"]
    one = classify("Apple released a new laptop", labels, models=bundled)
    assert isinstance(one, Label) and one.label in labels


def test_extract_with_smollm2_is_valid_json(bundled: TaskModels) -> None:
    result = extract("John Smith lives in Boston and works at Acme.",
                     fields=["name", "city", "company"], models=bundled)  # fmt: skip
    assert isinstance(result, Extraction) and set(result.data) == {"name", "city", "company"}
    assert all(isinstance(v, str) for v in result.data.values())


def test_text_tasks_with_smollm2(bundled: TaskModels) -> None:
    short = {"max_new_tokens": 16}
    text = ("The city council voted on Tuesday to build a new bridge across the river. "
            "It will cost 20 million dollars and open in 2027.")  # fmt: skip
    summary = summarize(text, models=bundled, options=short)
    assert isinstance(summary, Summary) and summary.text and not summary.truncated
    translation = translate("The cat is sleeping.", target="fr", models=bundled, options=short)
    assert isinstance(translation, Translation) and translation.text
    reply = answer("Paris is the capital of France.", "What is the capital of France?",
                   models=bundled, options=short)  # fmt: skip
    assert isinstance(reply, TaskAnswer) and "Paris" in reply.text
    continued = generate("Write one word: hello", models=bundled, options={"max_new_tokens": 8})
    assert isinstance(continued, Generation) and continued.text
    examples = [{"input": "great film", "output": "positive"},
                {"input": "boring plot", "output": "negative"}]  # fmt: skip
    shot = few_shot("what a wonderful day", examples, models=bundled, options={"max_new_tokens": 8})
    assert isinstance(shot, Generation) and "###" not in shot.text


def test_long_input_is_truncated_on_smollm2(bundled: TaskModels) -> None:
    small = TaskModels(ModelRegistry(options={"threads": 2, "n_ctx": 256}))
    result = summarize("The river rose. " * 200, models=small, options={"max_new_tokens": 8})
    assert isinstance(result, Summary) and result.truncated
