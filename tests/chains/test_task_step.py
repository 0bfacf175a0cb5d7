"""``TaskStep``: heron.tasks inside a chain (fake models; the tasks' own tests cover models)."""

from __future__ import annotations

from pathlib import Path

import pytest

from heron.chains import Chain, RunTraces, TaskStep
from heron.chains.toml_chain import ChainBuilder
from heron.errors import InputError
from heron.models.registry import ModelRegistry
from heron.testing.fakes import ScriptedLLM


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


def test_task_steps_record_their_prompts_and_token_counts() -> None:
    chain = Chain(
        "c",
        [
            TaskStep("summary", "summarize", "text", params={"model": "fake:a_summary"}),
            TaskStep("mood", "sentiment", "summary", params={"model": "fake:negative"}),
        ],
        ["text"],
    )
    result = chain.invoke(text="The product broke after one day. Support never answered.")
    summary, mood = result.trace.children
    for span in (summary, mood):
        assert span.prompt_tokens > 0 and span.completion_tokens > 0
        assert len(span.prompts) == 1
    assert "The product broke" in str(summary.prompts[0])
    assert summary.completion_tokens == ScriptedLLM().count_tokens("a summary")
    assert result.trace.total_tokens() == (
        summary.prompt_tokens + mood.prompt_tokens,
        summary.completion_tokens + mood.completion_tokens,
    )


def test_task_step_counts_through_the_registry_it_is_given_and_loads_once() -> None:
    registry = ModelRegistry()
    step = TaskStep("mood", "sentiment", params={"model": "fake:positive", "registry": registry})
    first = step.invoke(text="great")
    second = step.invoke(text="lovely")
    assert first.trace.prompt_tokens > 0 and second.trace.prompt_tokens > 0
    fake = registry.llm("fake:positive")  # the one model both runs used, unwrapped
    assert isinstance(fake, ScriptedLLM) and len(fake.prompts) == 2
    assert "lovely" not in str(first.trace.prompts) and "lovely" in str(second.trace.prompts)


def test_task_step_counts_through_task_models() -> None:
    from heron.tasks.targets import TaskModels

    models = TaskModels(ModelRegistry())
    step = TaskStep("s", "summarize", params={"model": "fake:short", "models": models})
    result = step.invoke(text="a long text about many things")
    assert result.trace.completion_tokens == ScriptedLLM().count_tokens("short")
    assert step.params["models"] is models  # the caller's object is not changed


def test_task_step_without_a_registry_keeps_its_models_between_runs() -> None:
    step = TaskStep("s", "summarize", params={"model": "fake:short"})
    step.invoke(text="one")
    step.invoke(text="two")
    fake = step._own_registry.llm("fake:short")
    assert isinstance(fake, ScriptedLLM) and len(fake.prompts) == 2


def test_a_failing_task_step_still_records_the_calls_it_made(tmp_path: Path) -> None:
    step = TaskStep("x", "sentiment", params={"model": "fake:positive"}, field="nope")
    traces = RunTraces(tmp_path)
    with pytest.raises(InputError):
        Chain("c", [step], ["text"]).invoke(text="fine", traces=traces)
    (run,) = list(traces.runs())
    (span,) = run["root"]["children"]
    assert "no field 'nope'" in span["error"]
    assert span["prompt_tokens"] > 0 and span["completion_tokens"] > 0
    assert run["prompt_tokens"] == span["prompt_tokens"]
