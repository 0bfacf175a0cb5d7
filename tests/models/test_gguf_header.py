from __future__ import annotations

import struct
from pathlib import Path

from heron.models._gguf import has_gguf_magic, trained_context_length


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def _gguf(pairs: list[tuple[str, int, bytes]], version: int = 3) -> bytes:
    """A GGUF header with the given (key, type, encoded value) pairs and no tensors."""
    out = b"GGUF" + struct.pack("<IQQ", version, 0, len(pairs))
    for key, value_type, value in pairs:
        out += _string(key) + struct.pack("<I", value_type) + value
    return out


def test_reads_context_after_arrays_and_strings(tmp_path: Path) -> None:
    tokens = struct.pack("<IQ", 8, 3) + _string("a") + _string("bb") + _string("ccc")
    scores = struct.pack("<IQ", 6, 3) + struct.pack("<3f", 0.1, 0.2, 0.3)
    path = tmp_path / "m.gguf"
    path.write_bytes(
        _gguf(
            [
                ("general.architecture", 8, _string("llama")),
                ("tokenizer.ggml.tokens", 9, tokens),
                ("tokenizer.ggml.scores", 9, scores),
                ("general.flag", 7, b"\x01"),
                ("other.context_length", 4, struct.pack("<I", 99)),
                ("llama.context_length", 4, struct.pack("<I", 8192)),
            ]
        )
    )
    assert has_gguf_magic(path)
    assert trained_context_length(path) == 8192


def test_unknown_when_absent_truncated_or_not_gguf(tmp_path: Path) -> None:
    absent = tmp_path / "absent.gguf"
    absent.write_bytes(_gguf([("general.architecture", 8, _string("llama"))]))
    assert trained_context_length(absent) is None

    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(_gguf([("llama.context_length", 4, struct.pack("<I", 8))])[:-2])
    assert trained_context_length(truncated) is None

    old = tmp_path / "v1.gguf"
    old.write_bytes(_gguf([("llama.context_length", 4, struct.pack("<I", 8))], version=1))
    assert trained_context_length(old) is None

    text = tmp_path / "notes.gguf"
    text.write_text("not a model")
    assert not has_gguf_magic(text)
    assert trained_context_length(text) is None


def test_bundled_smollm2_header(smollm2_path: Path) -> None:
    assert trained_context_length(smollm2_path) == 8192
