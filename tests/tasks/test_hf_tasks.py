"""Every task on tiny random transformers models through the hf: task backends.

The weights are random, so these assert the code paths: result types, batching
and order, truncation flags, language conventions, and clear errors for a model
whose architecture does not fit the task.
"""

from __future__ import annotations

from typing import Any

import pytest

from heron.errors import ConfigError, InputError
from heron.tasks import (
    Generation,
    Label,
    Summary,
    TaskAnswer,
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
from heron.tasks.hf import model_kind

SHORT = {"max_new_tokens": 4}


def test_model_kinds_come_from_the_architecture(tiny: dict[str, str], task_models: Any) -> None:
    kinds = {name: task_models.resolve(spec).kind for name, spec in tiny.items()}
    assert kinds == {
        "sentiment": "seqcls", "nli": "nli", "qa": "qa", "t5": "seq2seq",
        "marian": "seq2seq", "nllb": "seq2seq", "llama": "causal", "qa_rome": "qa",
    }  # fmt: skip


def test_model_kind_without_architectures() -> None:
    class Config:
        architectures = None
        is_encoder_decoder = False

    assert model_kind(Config()) == "other"


def test_sentiment_and_classify_on_a_classifier(tiny: dict[str, str], task_models: Any) -> None:
    texts = ["the cat sat on the mat", "stock markets fell", "hello world"]
    out = sentiment(texts, model=tiny["sentiment"], models=task_models)
    assert isinstance(out, list) and len(out) == 3
    for label in out:
        assert label.label in ("positive", "negative")
        assert set(label.scores) == {"positive", "negative"}
        assert label.score == pytest.approx(max(label.scores.values()))
        assert sum(label.scores.values()) == pytest.approx(1.0, abs=1e-4)
    one = sentiment(texts[0], model=tiny["sentiment"], models=task_models)
    assert one == out[0]  # batching does not change a result
    mapped = classify(texts[0], model=tiny["sentiment"], models=task_models,
                      label_map={"NEGATIVE": "bad", "POSITIVE": "good"})  # fmt: skip
    assert isinstance(mapped, Label) and set(mapped.scores) == {"bad", "good"}
    with pytest.raises(InputError, match="label_map names"):
        classify("x", model=tiny["sentiment"], models=task_models, label_map={"LABEL_9": "z"})
    with pytest.raises(InputError, match="has no label"):
        classify("x", ["sports"], model=tiny["sentiment"], models=task_models)


def test_zero_shot_on_an_nli_model(tiny: dict[str, str], task_models: Any) -> None:
    out = zero_shot(["the cat sat", "stock markets fell"], ["animals", "finance", "travel"],
                    model=tiny["nli"], models=task_models)  # fmt: skip
    assert isinstance(out, list) and len(out) == 2
    assert all(set(r.scores) == {"animals", "finance", "travel"} for r in out)
    assert all(sum(r.scores.values()) == pytest.approx(1.0, abs=1e-4) for r in out)
    mood = sentiment("the cat sat", model=tiny["nli"], models=task_models)
    assert isinstance(mood, Label) and set(mood.scores) == {"negative", "positive"}


def test_extractive_answer_is_a_span_of_the_passage(tiny: dict[str, str], task_models: Any) -> None:
    passage = "paris is the capital of france and rome is the capital of italy"
    result = answer([passage, passage], ["what is the capital of france?", "and italy?"],
                    model=tiny["qa"], models=task_models)  # fmt: skip
    assert isinstance(result, list) and len(result) == 2
    for span in result:
        assert isinstance(span, TaskAnswer) and span.start is not None and span.end is not None
        assert passage[span.start : span.end] == span.text and 0 < (span.score or 0) <= 1


def test_long_passage_is_truncated_and_flagged(tiny: dict[str, str], task_models: Any) -> None:
    long_passage = "the cat sat on the mat. " * 40
    result = answer(long_passage, "where did the cat sit?", model=tiny["qa"], models=task_models,
                    long_text="truncate")  # fmt: skip
    assert isinstance(result, TaskAnswer) and result.truncated
    label = sentiment(long_passage, model=tiny["sentiment"], models=task_models)
    assert isinstance(label, Label) and label.truncated


def test_summarize_on_t5_batches_and_honours_lengths(
    tiny: dict[str, str], task_models: Any
) -> None:
    texts = ["the cat sat on the mat", "hello world", "stock markets fell", "a quick fox", "rome"]
    out = summarize(texts, model=tiny["t5"], models=task_models, min_length=2, max_length=5)
    assert isinstance(out, list) and len(out) == 5  # two batches of 4 and 1
    assert all(isinstance(s, Summary) and s.text for s in out)
    beams = summarize(texts[0], model=tiny["t5"], models=task_models,
                      options={"num_beams": 2, "max_new_tokens": 4})  # fmt: skip
    assert isinstance(beams, Summary)


def test_translate_conventions(tiny: dict[str, str], task_models: Any) -> None:
    for name in ("t5", "marian", "nllb"):
        result = translate("hello world", source="en", target="fr", model=tiny[name],
                           models=task_models, options=SHORT)  # fmt: skip
        assert isinstance(result, Translation) and (result.source, result.target) == ("en", "fr")
    with pytest.raises(InputError, match="does not know the language code spa_Latn"):
        translate("hello", source="en", target="es", model=tiny["nllb"], models=task_models)
    with pytest.raises(InputError, match="unknown language code"):
        translate("hello", source="en", target="klingon", model=tiny["t5"], models=task_models)


def test_translation_inputs_per_family(tiny: dict[str, str], task_models: Any) -> None:
    from heron.tasks.languages import language
    from heron.tasks.text import seq2seq_translation

    en, fr = language("en"), language("fr")
    t5 = task_models.hf_model(tiny["t5"].removeprefix("hf:"))
    assert seq2seq_translation(t5, ["hi"], en, fr) == (["translate English to French: hi"], {})
    marian = task_models.hf_model(tiny["marian"].removeprefix("hf:"))
    assert seq2seq_translation(marian, ["hi"], en, fr)[0] == [">>fr<< hi"]
    nllb = task_models.hf_model(tiny["nllb"].removeprefix("hf:"))
    _, extra = seq2seq_translation(nllb, ["hi"], en, fr)
    assert extra == {"forced_bos_token_id": nllb.token_id("fra_Latn")}


def test_generation_on_a_causal_model(tiny: dict[str, str], task_models: Any) -> None:
    prompts = ["the cat", "hello", "paris is"]
    greedy = generate(prompts, model=tiny["llama"], models=task_models, options=SHORT)
    assert isinstance(greedy, list) and [g.finish_reason for g in greedy] == ["length"] * 3
    again = generate(prompts, model=tiny["llama"], models=task_models, options=SHORT)
    assert again == greedy  # greedy is deterministic
    one = generate("hello", model=tiny["llama"], models=task_models, options=SHORT)
    assert isinstance(one, Generation) and one.text
    sampled = [
        generate("the cat", model=tiny["llama"], models=task_models,
                 options={"do_sample": True, "seed": 7, "max_new_tokens": 6, "top_k": 0})
        for _ in range(2)
    ]  # fmt: skip
    assert sampled[0] == sampled[1]  # the seed makes sampling repeatable
    beams = generate(
        "the cat",
        model=tiny["llama"],
        models=task_models,
        options={"num_beams": 2, "max_new_tokens": 4, "repetition_penalty": 1.3},
    )
    assert isinstance(beams, Generation)


def test_prompt_tasks_on_causal_and_seq2seq(tiny: dict[str, str], task_models: Any) -> None:
    for spec in (tiny["llama"], tiny["t5"]):
        examples = [{"input": "great", "output": "positive"}]
        out = few_shot("bad", examples, model=spec, models=task_models, options=SHORT)
        assert isinstance(out, Generation)
        assert isinstance(answer("paris is in france", "where?", model=spec,
                                 models=task_models, options=SHORT), TaskAnswer)  # fmt: skip
    summary = summarize("the cat sat on the mat", model=tiny["llama"], models=task_models,
                        min_length=2, max_length=4)  # fmt: skip
    assert isinstance(summary, Summary) and summary.text  # min_new_tokens enforced on hf:


def test_label_tasks_on_a_causal_model_validate_and_fail_clearly(
    tiny: dict[str, str], task_models: Any
) -> None:
    from heron.errors import ModelError

    with pytest.raises(ModelError, match="did not reply with exactly one of"):
        zero_shot("the cat", ["animals", "finance"], model=tiny["llama"], models=task_models,
                  retries=1)  # fmt: skip


@pytest.mark.parametrize(
    ("task", "model", "message"),
    [
        (lambda m, s: summarize("x", model=s, models=m), "qa", "extractive question-answering"),
        (lambda m, s: zero_shot("x", ["a", "b"], model=s, models=m), "sentiment", "classify task"),
        (lambda m, s: answer("x", "q", model=s, models=m), "sentiment", "text-classification"),
        (lambda m, s: translate("x", model=s, models=m), "nli", "NLI"),
        (lambda m, s: extract("x", fields="a", model=s, models=m), "qa", "cannot run the extract"),
        (lambda m, s: sentiment("x", model=s, models=m), "qa", "cannot run the sentiment"),
    ],
)
def test_model_whose_task_does_not_match(
    tiny: dict[str, str], task_models: Any, task: Any, model: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        task(task_models, tiny[model])


def test_missing_hf_folder_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no such folder"):
        summarize("x", model="hf:./nowhere")
