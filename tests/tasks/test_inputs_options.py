"""Bad input is a clear InputError/ConfigError; options map uniformly onto backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from heron.errors import ConfigError, InputError
from heron.tasks import TaskOptions
from heron.tasks.inputs import (
    as_batch,
    check_examples,
    check_labels,
    check_schema,
    load_examples,
    schema_from_fields,
)
from heron.tasks.languages import language
from heron.tasks.options import hf_generate_kwargs, llm_options, parse_options


def test_as_batch_single_and_list() -> None:
    assert as_batch("a") == (["a"], True)
    assert as_batch(["a", "b"]) == (["a", "b"], False)


@pytest.mark.parametrize("texts", ["", "   ", ["ok", " "], []])
def test_empty_text_is_an_input_error(texts: str | list[str]) -> None:
    with pytest.raises(InputError, match="empty"):
        as_batch(texts)


def test_empty_text_error_names_the_position() -> None:
    with pytest.raises(InputError, match="text 1 of 2 is empty"):
        as_batch(["ok", ""])


def test_non_string_text_is_rejected() -> None:
    with pytest.raises(InputError, match="not a string"):
        as_batch(["ok", 3])  # type: ignore[list-item]


@pytest.mark.parametrize("labels", [[], "", None, "  "])
def test_empty_label_list(labels: list[str] | str | None) -> None:
    with pytest.raises(InputError, match="labels list is empty"):
        check_labels(labels)


def test_duplicate_labels_ignore_case() -> None:
    with pytest.raises(InputError, match="duplicate label"):
        check_labels(["Sports", "politics", "sports"])


def test_labels_from_comma_string() -> None:
    assert check_labels(" a, b ,c") == ["a", "b", "c"]
    with pytest.raises(InputError, match="empty label"):
        check_labels("a,,b")


def test_few_shot_example_missing_a_field() -> None:
    with pytest.raises(InputError, match="example 1 is missing output"):
        check_examples([{"input": "a", "output": "b"}, {"input": "c"}])
    with pytest.raises(InputError, match="at least one example"):
        check_examples([])


def test_examples_file(tmp_path: Path) -> None:
    path = tmp_path / "ex.jsonl"
    path.write_text('{"input": "a", "output": "b"}\n\n{"input": "c", "output": "d"}\n')
    assert load_examples(path) == [{"input": "a", "output": "b"}, {"input": "c", "output": "d"}]
    path.write_text('{"input": "a"\n')
    with pytest.raises(InputError, match="not valid JSON"):
        load_examples(path)


def test_unknown_language_code_suggests() -> None:
    assert language("FR").name == "French"
    assert language("german").code == "de"
    assert language("fra_Latn").code == "fr"
    with pytest.raises(InputError, match="unknown language code 'xx'"):
        language("xx")
    with pytest.raises(InputError, match="did you mean"):
        language("frenchh")


def test_schema_checks() -> None:
    schema = schema_from_fields("name, city")
    assert schema["required"] == ["name", "city"]
    with pytest.raises(InputError, match='"type": "object"'):
        check_schema({"type": "array"})
    with pytest.raises(InputError, match="no properties"):
        check_schema({"type": "object", "properties": {}})
    with pytest.raises(InputError, match="has type 'array'"):
        check_schema({"type": "object", "properties": {"x": {"type": "array"}}})


def test_llm_options_mapping() -> None:
    opts = TaskOptions(do_sample=True, temperature=0.5, top_k=7, top_p=0.9, stop=["###"], seed=3)
    generate = llm_options(opts, default_max=20, backend="gguf:x")
    assert (generate.temperature, generate.top_k, generate.top_p) == (0.5, 7, 0.9)
    assert (generate.max_tokens, generate.stop, generate.seed) == (20, ["###"], 3)
    assert llm_options(TaskOptions(), 5, "x").temperature == 0.0  # greedy


@pytest.mark.parametrize("field", ["num_beams", "min_new_tokens"])
def test_llm_backends_refuse_what_they_cannot_do(field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        llm_options(TaskOptions(**{field: 2}), 10, "gguf:x")


def test_hf_kwargs_mapping() -> None:
    greedy = hf_generate_kwargs(TaskOptions(num_beams=3, min_new_tokens=2), 30)
    assert greedy["num_beams"] == 3 and greedy["do_sample"] is False
    assert greedy["min_new_tokens"] == 2 and greedy["max_new_tokens"] == 30
    sampled = hf_generate_kwargs(TaskOptions(do_sample=True, temperature=0.7, max_new_tokens=9), 30)
    assert sampled["temperature"] == 0.7 and sampled["max_new_tokens"] == 9


def test_parse_options_errors_are_input_errors() -> None:
    assert parse_options({"num_beams": 2}).num_beams == 2
    with pytest.raises(InputError, match="num_beams"):
        parse_options({"num_beams": 0})
    with pytest.raises(InputError, match="beams"):
        parse_options({"beams": 2})
    with pytest.raises(InputError, match="min_new_tokens"):
        parse_options({"min_new_tokens": 9, "max_new_tokens": 3})
