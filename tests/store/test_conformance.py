"""The embedded SQLite store passes the conformance suite every backend must pass."""

from __future__ import annotations

import pytest

from heron.store import open_store
from heron.testing.conformance import CollectionConformance, MakeStore


class TestEmbeddedStore(CollectionConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def make_store(cls) -> MakeStore:
        return open_store
