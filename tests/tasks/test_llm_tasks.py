"""Every task through a prompt on a scripted LLM: prompts, batching, retries, windows."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from heron.errors import ConfigError, InputError, ModelError
from heron.models import GenerateOptions, ModelRegistry
from heron.models.base import Prompt
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
    run_task,
    sentiment,
    summarize,
    translate,
    zero_shot,
)
from heron.testing.fakes import ScriptedLLM
from heron.types import Completion


def models_with(llm: ScriptedLLM) -> TaskModels:
    registry = ModelRegistry()
    registry.register("llm", "scripted", lambda spec, **_: llm)
    return TaskModels(registry)


def scripted(replies: Sequence[str] | Callable[[str], str], window: int = 2048) -> Any:
    llm = ScriptedLLM(replies, context_window=window)
    return llm, models_with(llm)


def test_one_text_gives_one_result_a_list_gives_a_list() -> None:
    llm, models = scripted(["positive", "negative", "Positive."])
    one = sentiment("I loved it", model="scripted:x", models=models)
    assert one == Label("positive", None, {}, False)
    many = sentiment(["meh", "great"], model="scripted:x", models=models)
    assert [r.label for r in many] == ["negative", "positive"]  # type: ignore[union-attr]
    assert "I loved it" in llm.prompts[0] and "negative, positive" in llm.prompts[0]


def test_label_reply_is_retried_then_fails_clearly() -> None:
    llm, models = scripted(["I think it is nice", "business"])
    result = zero_shot("stocks fell", ["business", "sports"], model="scripted:x", models=models)
    assert isinstance(result, Label) and result.label == "business"
    assert "not valid" in llm.prompts[1]  # the retry reminded the model of the format
    _, models = scripted(["no idea"])
    with pytest.raises(ModelError, match="3 attempts"):
        classify("x", ["a", "b"], model="scripted:x", models=models)
    _, models = scripted(["no idea"])
    with pytest.raises(ModelError, match="1 attempts"):
        classify("x", ["a", "b"], model="scripted:x", models=models, retries=0)


def test_labels_are_required_for_llm_classify() -> None:
    _, models = scripted(["a"])
    with pytest.raises(InputError, match="labels list is empty"):
        classify("x", model="scripted:x", models=models)


class GrammarLLM(ScriptedLLM):
    """A scripted LLM that records grammar / schema constraints like llama.cpp's."""

    def __init__(self, replies: Sequence[str]) -> None:
        super().__init__(replies)
        self.constraints: list[str] = []
        self.schemas: list[Any] = []

    def generate(
        self, prompt: Prompt, options: GenerateOptions | None = None, *, grammar: str | None = None
    ) -> Completion:
        if grammar is not None:
            self.constraints.append(grammar)
        return super().generate(prompt, options)

    def generate_json(
        self, prompt: Prompt, schema: Any, options: GenerateOptions | None = None
    ) -> Completion:
        self.schemas.append(schema)
        return super().generate(prompt, options)


def test_constrained_labels_and_json_use_grammar_and_schema() -> None:
    llm = GrammarLLM(["sports", '{"name": "Ann", "age": "41"}'])
    models = models_with(llm)
    assert zero_shot("goal!", ["business", "sports"], model="scripted:x", models=models).label == (  # type: ignore[union-attr]
        "sports"
    )
    assert llm.constraints == ['root ::= "business" | "sports"']
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    }
    result = extract("Ann is 41", schema=schema, model="scripted:x", models=models)
    assert isinstance(result, Extraction) and result.data == {"name": "Ann", "age": 41}
    assert llm.schemas[0]["required"] == ["name", "age"]


def test_unconstrained_path_skips_the_grammar() -> None:
    llm = GrammarLLM(["sports"])
    zero_shot("goal", ["business", "sports"], model="scripted:x", models=models_with(llm),
              constrain=False)  # fmt: skip
    assert llm.constraints == []


def test_extract_retries_bad_json() -> None:
    llm, models = scripted(["sure! here it is", 'Result: {"city": "Oslo"} done'])
    result = extract("I live in Oslo", fields=["city"], model="scripted:x", models=models)
    assert result == Extraction({"city": "Oslo"}, False, 2)
    _, models = scripted(['{"town": "Oslo"}'])
    with pytest.raises(ModelError, match="JSON object with the keys city"):
        extract("x", fields="city", model="scripted:x", models=models)
    with pytest.raises(InputError, match="either a schema or a list of fields"):
        extract("x", model="scripted:x", models=models)


def test_summarize_translate_answer_generate_prompts() -> None:
    llm, models = scripted(lambda prompt: "  reply  ")
    s = summarize("Long text here.", model="scripted:x", max_length=40, models=models)
    assert s == Summary("reply", False, 1)
    assert "at most 30 words" in llm.prompts[-1]
    t = translate("hello", source="en", target="de", model="scripted:x", models=models)
    assert t == Translation("reply", "en", "de", False)
    assert "from English to German" in llm.prompts[-1]
    a = answer("Paris is in France.", "Where is Paris?", model="scripted:x", models=models)
    assert a == TaskAnswer("reply", None, None, None, False)
    assert "Context: Paris is in France.\n\nQuestion: Where is Paris?" in llm.prompts[-1]
    g = generate("Once upon", model="scripted:x", models=models)
    assert g == Generation("reply", "stop", False)
    assert llm.prompts[-1] == "user: Once upon"


def test_answer_questions_must_match_passages() -> None:
    _, models = scripted(["x"])
    with pytest.raises(InputError, match="2 questions for 1 passages"):
        answer(["p"], ["q1", "q2"], model="scripted:x", models=models)
    with pytest.raises(InputError, match="question 0 is empty"):
        answer("p", " ", model="scripted:x", models=models)


def test_few_shot_uses_separator_as_stop() -> None:
    llm, models = scripted(["positive\n###\nInput: more"])
    examples = [{"input": "great film", "output": "positive"}]
    out = few_shot("nice", examples, separator="###", model="scripted:x", models=models)
    assert isinstance(out, Generation) and out.text == "positive"
    assert "Input: great film\nOutput: positive" in llm.prompts[0]
    with pytest.raises(InputError, match="missing output"):
        few_shot("nice", [{"input": "a"}], model="scripted:x", models=models)


def test_long_text_is_truncated_and_flagged() -> None:
    llm, models = scripted(["short"], window=200)
    long_text = "word " * 400
    result = summarize(long_text, model="scripted:x", models=models)
    assert isinstance(result, Summary) and result.truncated
    assert llm.count_tokens(llm.prompts[0]) <= 200 - 80
    short = summarize("a short text", model="scripted:x", models=models)
    assert isinstance(short, Summary) and not short.truncated


def test_long_text_can_be_chunked() -> None:
    llm, models = scripted(["part"], window=160)
    text = " ".join(f"Sentence number {i} says something." for i in range(60))
    result = summarize(text, model="scripted:x", models=models, long_text="chunk")
    assert isinstance(result, Summary) and result.chunks > 1 and not result.truncated
    assert len(llm.prompts) == result.chunks + 1  # one per piece, then the reduce step


def test_instructions_that_cannot_fit_are_an_input_error() -> None:
    _, models = scripted(["x"], window=40)
    with pytest.raises(InputError, match="instructions alone"):
        summarize("text", model="scripted:x", models=models, options={"max_new_tokens": 30})


def test_model_spec_that_does_not_fit_the_task() -> None:
    with pytest.raises(ConfigError, match="is an embedder, which cannot run the summarize"):
        summarize("x", model="hash:32")
    with pytest.raises(ConfigError, match="cannot run the extract"):
        extract("x", fields="a", model="hash:32")


def test_beam_search_on_an_llm_backend_is_refused() -> None:
    _, models = scripted(["x"])
    with pytest.raises(ConfigError, match="no beam search"):
        generate("x", model="scripted:x", models=models, options={"num_beams": 3})


def test_run_task_json_in_json_out() -> None:
    _, models = scripted(["sports"])
    out = run_task("zero_shot", ["goal"], labels=["business", "sports"], model="scripted:x",
                   models=models, options={"seed": 1})  # fmt: skip
    assert out == [{"label": "sports", "score": None, "scores": {}, "truncated": False}]
    one = run_task("extract", "Oslo", fields=["city"], model='fake:{"city":"Oslo"}')
    assert one == {"data": {"city": "Oslo"}, "truncated": False, "attempts": 1}
    with pytest.raises(InputError, match="unknown task"):
        run_task("poetry", "x")
    with pytest.raises(InputError, match="bad parameters"):
        run_task("summarize", "x", nonsense=1)


def test_fake_spec_end_to_end() -> None:
    out = sentiment(["good", "bad"], model="fake:negative")
    assert [r.label for r in out] == ["negative", "negative"]  # type: ignore[union-attr]
    data = json.loads(json.dumps(run_task("sentiment", "good", model="fake:positive")))
    assert data["label"] == "positive"
