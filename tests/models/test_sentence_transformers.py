"""st: on a tiny random BERT saved as a sentence-transformers folder."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from heron.errors import ConfigError, ModelError
from heron.models.registry import ModelSpec
from heron.models.sentence_transformers import SentenceTransformerEmbedder

TEXTS = [
    "the cat sat on the mat",
    "a quick brown fox jumps over the lazy dog and the cat sat on the log",
    "hello",
    "stock markets fell today",
    "paris is the capital of france",
]


@pytest.fixture(scope="module")
def embedder(tiny_models: dict[str, Path]) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(ModelSpec("st", str(tiny_models["st"])), threads=1)


def test_init_is_light(tiny_models: dict[str, Path]) -> None:
    fresh = SentenceTransformerEmbedder(str(tiny_models["st"]))
    assert not fresh._model.loaded
    assert fresh.spec == f"st:{tiny_models['st']}"
    assert fresh.normalized


def test_dimension_and_max_seq_length_come_from_the_model(
    embedder: SentenceTransformerEmbedder,
) -> None:
    assert embedder.dimension == 32
    assert embedder.max_seq_length == 32


def test_vectors_are_unit_float32_rows_in_input_order(
    embedder: SentenceTransformerEmbedder,
) -> None:
    vectors = embedder.embed_many(TEXTS, batch_size=2)
    assert vectors.shape == (len(TEXTS), 32)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    # Batching is length-sorted internally; each row must still be its own text's.
    one_by_one = np.stack([embedder.embed(text) for text in TEXTS])
    np.testing.assert_allclose(vectors, one_by_one, atol=1e-5)
    # and must equal what sentence-transformers itself computes
    direct = embedder.model.encode(TEXTS, normalize_embeddings=True)
    np.testing.assert_allclose(vectors, direct, atol=1e-5)


def test_embed_batch_and_empty_input(embedder: SentenceTransformerEmbedder) -> None:
    assert embedder.embed_batch(TEXTS[:3]).shape == (3, 32)
    empty = embedder.embed_many([])
    assert empty.shape == (0, 32) and empty.dtype == np.float32


def test_progress_reports_every_batch(embedder: SentenceTransformerEmbedder) -> None:
    seen: list[int] = []
    embedder.embed_many(TEXTS, batch_size=2, progress=seen.append)
    assert seen == [2, 2, 1]


def test_concurrent_use_gives_identical_vectors(embedder: SentenceTransformerEmbedder) -> None:
    expected = embedder.embed_many(TEXTS)
    results: list[np.ndarray] = []

    def work() -> None:
        results.append(embedder.embed_many(TEXTS))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4
    for result in results:
        np.testing.assert_allclose(result, expected, atol=1e-6)


def test_missing_path_that_is_not_a_hub_id(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such folder") as info:
        SentenceTransformerEmbedder(str(tmp_path / "missing"))
    assert "hub id" in (info.value.hint or "")


def test_a_file_is_not_a_model_folder(tmp_path: Path) -> None:
    file = tmp_path / "model.bin"
    file.write_bytes(b"\0")
    with pytest.raises(ConfigError, match="is a file"):
        SentenceTransformerEmbedder(str(file))


def test_hub_id_while_offline_is_one_clear_error() -> None:
    embedder = SentenceTransformerEmbedder("heron-tests/no-such-model")
    with pytest.raises(ModelError, match="cannot load sentence-transformers model") as info:
        embedder.embed("hi")
    assert "HF_HUB_OFFLINE" in (info.value.hint or "")
    assert "\n" not in str(info.value)


def test_folder_that_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("nothing here")
    embedder = SentenceTransformerEmbedder(str(tmp_path))
    with pytest.raises(ModelError, match="cannot load") as info:
        embedder.embed("hi")
    assert "save_pretrained" in (info.value.hint or "")
