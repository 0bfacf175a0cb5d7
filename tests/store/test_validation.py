"""Argument checks, FTS sanitising, and embedder-related failures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from heron.errors import DimensionMismatch, InputError
from heron.models.registry import ModelRegistry
from heron.store import Store, open_store
from heron.store.keyword import MAX_TERMS, fts_match
from heron.store.validation import (
    as_matrix,
    check_count,
    check_ids,
    check_include,
    check_metadata,
)
from heron.testing.fakes import HashEmbedder


class NaNEmbedder(HashEmbedder):
    def embed_batch(self, texts: Any) -> np.ndarray:
        out = super().embed_batch(texts)
        out[-1, 0] = np.nan
        return out


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    registry = ModelRegistry()
    registry.register("embedder", "nan", lambda spec, **_: NaNEmbedder(8))
    with open_store(tmp_path, registry=registry) as store:
        yield store


def test_check_ids() -> None:
    assert check_ids("a") == ["a"]
    assert check_ids(("a", "b")) == ["a", "b"]
    assert check_ids([], allow_empty=True) == []
    with pytest.raises(InputError, match="duplicate ids: a, b"):
        check_ids(["a", "b", "a", "b", "c"])
    with pytest.raises(InputError, match=r"ids\[1\]"):
        check_ids(["a", None])
    with pytest.raises(InputError):
        check_ids(42)


def test_check_metadata() -> None:
    assert check_metadata(None, "m") == {}
    assert check_metadata({"t": ("a", "b")}, "m") == {"t": ["a", "b"]}
    numpy_values = check_metadata({"i": np.int64(3), "f": np.float32(0.5), "l": [np.int32(1)]}, "m")
    assert numpy_values == {"i": 3, "f": 0.5, "l": [1]}
    assert type(numpy_values["i"]) is int
    for bad in ({1: "x"}, {"k": object()}, {"k": [None]}, {"k": [float("inf")]}, {"k": -(2**64)}):
        with pytest.raises(InputError, match="m: metadata"):
            check_metadata(bad, "m")


def test_as_matrix() -> None:
    assert as_matrix([1, 2, 3]).shape == (1, 3)
    assert as_matrix(np.ones((2, 4), dtype=np.float64)).dtype == np.float32
    for bad in (["a", "b"], [[1.0], [1.0, 2.0]], [], [[[1.0]]], [[1e39]]):
        with pytest.raises(InputError):
            as_matrix(bad)


def test_small_checks() -> None:
    assert check_include(("documents",), ("documents", "metadatas")) == {"documents"}
    with pytest.raises(InputError, match="choose from documents, metadatas"):
        check_include(["distances"], ("documents", "metadatas"))
    with pytest.raises(InputError):
        check_count(True, "k", minimum=1)
    with pytest.raises(InputError):
        check_count(2.0, "k", minimum=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello world", '"hello" OR "world"'),
        ('say "NEAR(a b)" AND x*', '"say" OR "near" OR "b" OR "x"'),
        ("how do I run it at a later time", '"run" OR "later" OR "time"'),
        ("how do i", '"how" OR "do" OR "i"'),
        ("Dup dup DUP", '"dup"'),
        ("?!* ^:()", None),
        ("", None),
        ("naïve café", '"naïve" OR "café"'),
    ],
)
def test_fts_match_quotes_only_words(text: str, expected: str | None) -> None:
    assert fts_match(text) == expected


def test_fts_match_caps_the_number_of_terms() -> None:
    match = fts_match(" ".join(f"w{i}" for i in range(500)))
    assert match is not None and match.count(" OR ") == MAX_TERMS - 1


def test_an_embedder_giving_nan_writes_nothing(store: Store) -> None:
    col = store.create_collection("n", embedder="nan:8")
    with pytest.raises(InputError, match=r"embedder output\[1\] contains NaN"):
        col.add(["a", "b"], documents=["fine", "broken"])
    assert col.count() == 0 and col.info().last_seq == 0


def test_embeddings_of_the_wrong_dimension_name_both_sides(store: Store) -> None:
    col = store.create_collection("d", embedder="hash:16")
    col.add(["a"], documents=["x"])
    with pytest.raises(DimensionMismatch) as err:
        col.upsert(["a"], embeddings=[[1.0] * 4])
    assert "stores 16-d vectors but the embeddings given are 4-d" in str(err.value)


def test_embedders_load_lazily(tmp_path: Path) -> None:
    built: list[str] = []

    def factory(spec: Any, **_: Any) -> HashEmbedder:
        built.append(str(spec))
        return HashEmbedder(8)

    registry = ModelRegistry()
    registry.register("embedder", "counted", factory)
    with open_store(tmp_path, registry=registry) as store:
        col = store.create_collection("lazy", embedder="counted:x", dimension=8)
        assert built == []
        store.get_collection("lazy").add(["a"], embeddings=[[1.0] * 8])
        assert built == []
        col.add(["b"], documents=["now it embeds"])
        assert built == ["counted:x"]


def test_keyword_search_needs_a_string(store: Store) -> None:
    col = store.create_collection("k", embedder="hash:8")
    with pytest.raises(InputError):
        col.keyword_search(["not", "a", "string"])  # type: ignore[arg-type]
