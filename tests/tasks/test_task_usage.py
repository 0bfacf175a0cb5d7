"""``hf:`` generation reports its tokens to a chain step's trace, like registry LLMs."""

from __future__ import annotations

from heron.chains import TaskStep
from heron.models.registry import ModelRegistry
from heron.models.usage import UsageMeter
from heron.tasks import TaskModels, summarize
from heron.tasks.hf import HFEngine


def test_a_task_step_on_an_hf_seq2seq_model_records_tokens(
    tiny: dict[str, str], task_models: TaskModels
) -> None:
    step = TaskStep(
        "s", "summarize", params={"model": tiny["t5"], "models": task_models, "max_length": 8}
    )
    result = step.invoke(text="The product broke after one day and support never answered.")
    trace = result.trace
    assert trace.prompt_tokens > 0 and trace.completion_tokens > 0
    assert len(trace.prompts) == 1 and "The product broke" in str(trace.prompts[0])
    assert trace.completion_tokens <= 8 + 1  # max_length, plus the end-of-sequence token
    assert result.outputs["s"]


def test_hf_generation_reports_only_to_a_metered_registry(
    tiny: dict[str, str], task_models: TaskModels
) -> None:
    meter = UsageMeter()
    metered = TaskModels(ModelRegistry().metered(meter), batch_size=4)
    metered._hf = task_models._hf  # share the loaded tiny models
    summarize(["one text", "another text"], model=tiny["t5"], models=metered, max_length=4)
    assert len(meter.calls) == 2 and all(c.prompt_tokens > 0 for c in meter.calls)
    plain = task_models.resolve(tiny["t5"]).engine
    assert isinstance(plain, HFEngine) and plain.meter is None
