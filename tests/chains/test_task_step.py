"""``TaskStep``: heron.tasks inside a chain (fake models; the tasks' own tests cover models)."""

from __future__ import annotations

import pytest

from heron.chains import Chain, TaskStep
from heron.chains.toml_chain import ChainBuilder
from heron.errors import InputError
from heron.models.registry import ModelRegistry


def test_summarize_then_sentiment_as_task_steps() -> None:
    chain = Chain(
        "c",
        [
            TaskStep("summary", "summarize", "text", params={"model": "fake:a_summary"}),
            TaskStep("mood", "sentiment", "summary", params={"model": "fake:negative"}),
        ],
        ["text"],
    )
    result = chain.invoke(text="The product broke after one day. Support never answered.")
    assert result.outputs == {"summary": "a summary", "mood": "negative"}
    assert [c.kind for c in result.trace.children] == ["task", "task"]


def test_input_params_feed_chain_values_to_the_task() -> None:
    step = TaskStep(
        "qa", "answer", "passage", params={"model": "fake:France"}, input_params={"question": "q"}
    )
    assert step.inputs == ("passage", "q")
    assert step.invoke(passage="Paris is in France.", q="Where?").outputs == {"qa": "France"}


def test_unknown_task_and_field_are_input_errors() -> None:
    with pytest.raises(InputError, match="unknown task"):
        TaskStep("x", "juggle", params={"model": "fake:x"}).invoke(text="t")
    step = TaskStep("x", "sentiment", params={"model": "fake:positive"}, field="colour")
    with pytest.raises(InputError, match="no field 'colour'"):
        step.invoke(text="t")


def test_task_steps_in_toml() -> None:
    registry = ModelRegistry()
    builder = ChainBuilder(registry.llm, lambda name, k: None, "fake:positive", registry)
    chain = builder.chain(
        {
            "inputs": ["text"],
            "steps": [{"name": "mood", "type": "task", "task": "sentiment", "input": "text"}],
        }
    )
    assert chain.invoke(text="great").outputs == {"mood": "positive"}
    step = chain.steps[0]
    assert isinstance(step, TaskStep) and step.params["registry"] is registry
