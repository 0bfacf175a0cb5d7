"""hf: on tiny random Llama, GPT-2 and T5 models built by the conftest."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from heron.errors import ConfigError, InputError, ModelError
from heron.models.base import GenerateOptions
from heron.models.registry import ModelSpec
from heron.models.transformers_llm import (
    TransformersLLM,
    cut_at_stop,
    generation_kwargs,
    stop_filtered,
)
from heron.types import Message

GREEDY = GenerateOptions(max_tokens=12, temperature=0.0)
PROMPT = "the cat sat on"
MODELS = ["llama", "llama-chat", "gpt2", "t5"]


@pytest.fixture(scope="module")
def llms(tiny_models: dict[str, Path]) -> dict[str, TransformersLLM]:
    return {
        name: TransformersLLM(ModelSpec("hf", str(tiny_models[name])), threads=1) for name in MODELS
    }


def test_init_is_light_and_config_picks_the_class(llms: dict[str, TransformersLLM]) -> None:
    assert not llms["t5"]._parts.loaded
    assert llms["t5"].is_seq2seq
    assert not llms["llama"].is_seq2seq
    assert not llms["t5"]._parts.loaded  # reading the config does not load weights
    llms["t5"].count_tokens("x")
    assert type(llms["t5"]._parts.get().model).__name__ == "T5ForConditionalGeneration"
    llms["gpt2"].count_tokens("x")
    assert type(llms["gpt2"]._parts.get().model).__name__ == "GPT2LMHeadModel"


def test_context_window_from_config(llms: dict[str, TransformersLLM]) -> None:
    assert llms["llama"].context_window == 256  # max_position_embeddings
    assert llms["gpt2"].context_window == 64  # n_positions
    assert llms["t5"].context_window == 1024  # relative positions: the default


@pytest.mark.parametrize("name", MODELS)
def test_greedy_generate_is_deterministic(llms: dict[str, TransformersLLM], name: str) -> None:
    first = llms[name].generate(PROMPT, GREEDY)
    assert first.text
    assert first == llms[name].generate(PROMPT, GREEDY)
    assert first.finish_reason == "length"  # special tokens are suppressed: never EOS
    assert first.completion_tokens == 12
    assert first.prompt_tokens > 0


@pytest.mark.parametrize("name", MODELS)
def test_stream_joins_to_the_generated_text(llms: dict[str, TransformersLLM], name: str) -> None:
    pieces = list(llms[name].stream(PROMPT, GREEDY))
    assert len(pieces) >= 2
    assert "".join(pieces) == llms[name].generate(PROMPT, GREEDY).text


@pytest.mark.parametrize("name", ["llama", "t5"])
def test_stop_strings_cut_generate_and_stream(llms: dict[str, TransformersLLM], name: str) -> None:
    llm = llms[name]
    full = llm.generate(PROMPT, GREEDY).text
    stop = full[2:4]
    options = GREEDY.model_copy(update={"stop": [stop]})
    stopped = llm.generate(PROMPT, options)
    assert stopped.text == full[: full.index(stop)]
    assert stopped.finish_reason == "stop"
    assert stopped.completion_tokens < 12  # generation itself stopped early
    assert "".join(llm.stream(PROMPT, options)) == stopped.text


def test_seeded_sampling_is_reproducible_and_leaves_global_state_alone(
    llms: dict[str, TransformersLLM],
) -> None:
    import torch

    llm = llms["llama"]
    options = GenerateOptions(max_tokens=10, temperature=1.5, top_k=0, top_p=1.0, seed=3)
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    threads_before = torch.get_num_threads()
    first = llm.generate(PROMPT, options)
    assert torch.rand(1) == expected_next  # the caller's RNG stream is untouched
    assert torch.get_num_threads() == threads_before  # threads=1 was scoped to the call
    assert first == llm.generate(PROMPT, options)
    others = {llm.generate(PROMPT, options.model_copy(update={"seed": s})).text for s in range(4)}
    assert len(others) > 1


def test_chat_template_is_applied_when_present(llms: dict[str, TransformersLLM]) -> None:
    messages = [Message("system", "be brief"), Message("user", "hello world")]
    with_template = llms["llama-chat"].generate(messages, GREEDY)
    plain = llms["llama"].generate(messages, GREEDY)
    # Same weights (same seed), different prompt rendering: the template adds tokens.
    assert with_template.prompt_tokens > plain.prompt_tokens


def test_count_tokens_uses_the_tokenizer(llms: dict[str, TransformersLLM]) -> None:
    tokenizer = llms["llama"]._parts.get().tokenizer
    text = "paris is the capital of france"
    assert llms["llama"].count_tokens(text) == len(tokenizer(text)["input_ids"])
    assert llms["llama"].count_tokens("") == 0


def test_prompt_longer_than_the_window_is_an_input_error(
    llms: dict[str, TransformersLLM],
) -> None:
    with pytest.raises(InputError, match="accepts 64"):
        llms["gpt2"].generate("the cat sat on the mat " * 40, GREEDY)


def test_max_tokens_is_capped_by_the_room_left(llms: dict[str, TransformersLLM]) -> None:
    prompt = "the cat " * 15  # ~45 of gpt2's 64 positions
    completion = llms["gpt2"].generate(prompt, GREEDY.model_copy(update={"max_tokens": 500}))
    assert completion.prompt_tokens + completion.completion_tokens <= 64


def test_options_are_validated() -> None:
    with pytest.raises(ValidationError):
        GenerateOptions(max_tokens=5, beams=3)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        GenerateOptions(temperature=-1)


def test_generation_kwargs_mapping(llms: dict[str, TransformersLLM]) -> None:
    tokenizer = llms["llama"]._parts.get().tokenizer
    greedy = generation_kwargs(GenerateOptions(max_tokens=7, temperature=0), tokenizer)
    assert greedy["do_sample"] is False and greedy["max_new_tokens"] == 7
    sampled = generation_kwargs(
        GenerateOptions(temperature=0.7, top_p=0.8, top_k=5, repeat_penalty=1.2, stop=["."]),
        tokenizer,
    )
    assert sampled["do_sample"] is True
    assert (sampled["temperature"], sampled["top_p"], sampled["top_k"]) == (0.7, 0.8, 5)
    assert sampled["repetition_penalty"] == 1.2
    assert sampled["stop_strings"] == ["."] and sampled["tokenizer"] is tokenizer


def test_stop_helpers() -> None:
    assert cut_at_stop("abc END def", ["END", "c"]) == ("ab", True)
    assert cut_at_stop("abc", ["x"]) == ("abc", False)
    assert list(stop_filtered(["ab", "cE", "ND", "zz"], ["END"])) == ["ab", "c"]
    assert "".join(stop_filtered(["ab", "c"], [])) == "abc"
    assert "".join(stop_filtered(["ab", "cE"], ["END"])) == "abcE"


def test_missing_folder_and_offline_hub_id(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such folder"):
        TransformersLLM(str(tmp_path / "missing"))
    remote = TransformersLLM("heron-tests/no-such-model")
    with pytest.raises(ModelError, match="cannot load Hugging Face model") as info:
        remote.generate("hi")
    assert "HF_HUB_OFFLINE" in (info.value.hint or "")
