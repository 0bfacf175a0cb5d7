"""Every spec scheme in DEFAULT_BACKENDS resolves to its real backend."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from heron.errors import ConfigError
from heron.models.llamacpp import LlamaCppLLM
from heron.models.openai_compat import OpenAICompatLLM
from heron.models.registry import DEFAULT_BACKENDS, ModelRegistry
from heron.models.sentence_transformers import SentenceTransformerEmbedder
from heron.models.transformers_llm import TransformersLLM
from heron.testing import HashEmbedder, ScriptedLLM


def test_every_scheme_resolves(tiny_models: dict[str, Path], smollm2_path: Path) -> None:
    registry = ModelRegistry(options={"threads": 1, "some_future_option": True})
    from heron.models.onnx import OnnxEmbedder

    embedders = {
        "bundled:minilm": OnnxEmbedder,
        "bundled:minilm#st": SentenceTransformerEmbedder,
        f"onnx:{tiny_models['st']}": OnnxEmbedder,
        f"st:{tiny_models['st']}": SentenceTransformerEmbedder,
        "hash:16": HashEmbedder,
    }
    llms = {
        "bundled:smollm2": LlamaCppLLM,
        f"gguf:{smollm2_path}": LlamaCppLLM,
        f"hf:{tiny_models['t5']}": TransformersLLM,
        "openai:http://127.0.0.1:9/v1#smollm2": OpenAICompatLLM,
        "fake:hello": ScriptedLLM,
    }
    for spec, cls in embedders.items():
        model = registry.embedder(spec)
        assert isinstance(model, cls) and model.spec == spec
    for spec, cls in llms.items():
        llm = registry.llm(spec)
        assert isinstance(llm, cls) and llm.spec == spec
    covered = {s.split(":")[0] for s in [*embedders, *llms]}
    assert covered == {b.scheme for b in DEFAULT_BACKENDS}


def test_resolving_loads_nothing_heavy(tiny_models: dict[str, Path]) -> None:
    registry = ModelRegistry()
    embedder = registry.embedder(f"st:{tiny_models['st']}")
    llm = registry.llm(f"hf:{tiny_models['llama']}")
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert isinstance(llm, TransformersLLM)
    assert not embedder._model.loaded and not llm._parts.loaded


def test_backend_modules_import_without_heavy_dependencies() -> None:
    import subprocess

    code = (
        "import sys, heron.models.bundled, heron.models.llamacpp, heron.models.openai_compat, "
        "heron.models.sentence_transformers, heron.models.transformers_llm\n"
        "heavy = {'torch', 'transformers', 'sentence_transformers', 'llama_cpp'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_scheme_and_bundled_name_errors_are_clear() -> None:
    registry = ModelRegistry()
    with pytest.raises(ConfigError, match="unknown llm scheme 'onnx'") as info:
        registry.llm("onnx:/x")
    assert "gguf" in (info.value.hint or "") and "openai" in (info.value.hint or "")
    with pytest.raises(ConfigError, match="unknown bundled llm 'llama3'") as info:
        registry.llm("bundled:llama3")
    assert "smollm2, gemma3-270m" in (info.value.hint or "")
    with pytest.raises(ConfigError, match="unknown bundled embedder 'bge'"):
        registry.embedder("bundled:bge")
    with pytest.raises(ConfigError, match="no such folder"):
        registry.embedder("st:./not/here")
