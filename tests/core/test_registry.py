import pytest

from heron.errors import ConfigError
from heron.models.registry import ModelRegistry, ModelSpec
from heron.testing import HashEmbedder, ScriptedLLM


def test_parse_spec_with_fragment() -> None:
    spec = ModelSpec.parse("openai:http://127.0.0.1:8000/v1#smol")
    assert (spec.scheme, spec.target, spec.fragment) == (
        "openai",
        "http://127.0.0.1:8000/v1",
        "smol",
    )
    assert str(spec) == "openai:http://127.0.0.1:8000/v1#smol"


@pytest.mark.parametrize("bad", ["", "minilm", ":x", "bundled:"])
def test_malformed_spec(bad: str) -> None:
    with pytest.raises(ConfigError, match="scheme:target"):
        ModelSpec.parse(bad)


def test_unknown_scheme_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match="known embedder schemes: bundled, hash, onnx, st"):
        ModelRegistry().embedder("nope:x")


def test_hash_embedder_resolves_and_is_cached() -> None:
    registry = ModelRegistry()
    first = registry.embedder("hash:32")
    assert isinstance(first, HashEmbedder)
    assert first.dimension == 32
    assert registry.embedder("hash:32") is first
    assert first.spec == "hash:32"


def test_custom_backend_registration() -> None:
    registry = ModelRegistry()
    registry.register("llm", "scripted", lambda spec, **_: ScriptedLLM([spec.target]))
    assert registry.llm("scripted:hello").generate("hi").text == "hello"


def test_kind_mismatch_is_refused() -> None:
    registry = ModelRegistry()
    registry.register("llm", "hash", lambda spec, **_: HashEmbedder(8))
    with pytest.raises(ConfigError, match="does not resolve to an LLM"):
        registry.llm("hash:8")
