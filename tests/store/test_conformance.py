"""The embedded SQLite store passes the conformance suite every backend must pass."""

from __future__ import annotations

import functools

import pytest

from heron.store import open_store
from heron.testing.conformance import CollectionConformance, MakeStore


class TestEmbeddedStore(CollectionConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def make_store(cls) -> MakeStore:
        return open_store


class TestEmbeddedStoreHnsw(CollectionConformance):
    """The same behaviour when every collection is searched through FAISS HNSW."""

    @pytest.fixture(scope="class")
    @classmethod
    def make_store(cls) -> MakeStore:
        return functools.partial(open_store, default_index={"kind": "hnsw", "m": 16})


class TestEmbeddedStoreIvf(CollectionConformance):
    """... and through IVF-Flat (exact until there are enough vectors to train it)."""

    @pytest.fixture(scope="class")
    @classmethod
    def make_store(cls) -> MakeStore:
        return functools.partial(open_store, default_index={"kind": "ivf_flat", "nlist": 4})
