"""``Store``: one folder holding any number of named collections, and ``open_store``.

The store owns the SQLite catalog (one connection, shared by its collections),
the per-store index cache and the model registry used to resolve each
collection's embedder spec. Opening a store loads no model and no vectors.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from heron.errors import InputError, StoreError
from heron.models.registry import ModelRegistry, ModelSpec
from heron.store import catalog, records
from heron.store.catalog import Catalog
from heron.store.collection import Collection, collection_info
from heron.store.index_spec import IndexSpec
from heron.store.indexing import Indexer, Progress, load_spec
from heron.store.results import CollectionInfo, Metric
from heron.store.validation import (
    check_collection_metadata,
    check_collection_name,
    check_dimension_arg,
    check_metric,
)

DEFAULT_EMBEDDER = "bundled:minilm"


def _check_path(path: object) -> Path:
    if not isinstance(path, str | Path) or not str(path):
        raise InputError(f"store path must be a non-empty str or Path, got {path!r}")
    return Path(path).expanduser().resolve()


def _check_timeout(timeout_s: object) -> float:
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not timeout_s > 0:
        raise InputError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
    return float(timeout_s)


def _check_embedder(spec: object) -> str | None:
    """Normalise the spec string (no model is loaded here)."""
    if spec is None:
        return None
    if not isinstance(spec, str):
        raise InputError(f"embedder must be a model spec string or None, got {spec!r}")
    return str(ModelSpec.parse(spec))


class Store:
    """A folder of collections backed by one SQLite file (``heron.db``)."""

    def __init__(
        self,
        path: str | Path,
        *,
        registry: ModelRegistry | None = None,
        timeout_s: float = 10.0,
        progress: Progress | None = None,
        default_index: IndexSpec | Mapping[str, Any] | str | None = None,
    ) -> None:
        """``progress(label, done, total)`` hears about index builds (the CLI draws bars);
        ``default_index`` is the index of collections created without one (``auto``)."""
        self.path: Path = _check_path(path)
        self.registry: ModelRegistry = registry if registry is not None else ModelRegistry()
        #: internal plumbing shared with this store's ``Collection`` handles
        self.catalog = Catalog(self.path, _check_timeout(timeout_s))
        self.indexer = Indexer(self.path, progress)
        self.default_index = IndexSpec.parse(default_index)

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connection; the store cannot be used afterwards."""
        self.catalog.close()

    def create_collection(
        self,
        name: str,
        *,
        embedder: str | None = DEFAULT_EMBEDDER,
        metric: Literal["cosine", "l2", "ip"] = "cosine",
        dimension: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        exist_ok: bool = False,
        index: IndexSpec | Mapping[str, Any] | str | None = None,
    ) -> Collection:
        """Create a collection; with ``exist_ok`` an existing one is returned as stored.

        The dimension comes from ``dimension``, else from the embedder (which loads
        it), else from the first write. ``index`` picks the index family (``"auto"``,
        ``"flat"``, ``"hnsw"``, ``"ivf_flat"``, ``"ivf_pq"`` or a dict with knobs,
        see ``IndexSpec``); ``Collection.set_index`` changes it later.
        """
        name = check_collection_name(name)
        checked_metric = check_metric(metric)
        spec = _check_embedder(embedder)
        size = check_dimension_arg(dimension)
        meta = check_collection_metadata(metadata)
        index_spec = self.default_index if index is None else IndexSpec.parse(index)
        existing = self._find(name)
        if existing is not None:
            return self._existing(existing, exist_ok)
        if size is None and spec is not None:
            size = self.registry.embedder(spec).dimension
        with self.catalog.write() as conn:
            row = catalog.find_collection(conn, name)  # another process may have won
            if row is None:
                row = catalog.insert_collection(
                    conn, name, metric=checked_metric, dimension=size, embedder=spec, metadata=meta
                )
                if index_spec != IndexSpec():
                    catalog.set_index_spec_json(conn, row.id, index_spec.model_dump_json())
            elif not exist_ok:
                raise _exists(name)
        return Collection(self, row)

    def get_or_create_collection(
        self,
        name: str,
        *,
        embedder: str | None = DEFAULT_EMBEDDER,
        metric: Literal["cosine", "l2", "ip"] = "cosine",
        dimension: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        index: IndexSpec | Mapping[str, Any] | str | None = None,
    ) -> Collection:
        """The named collection; created with these settings if it does not exist."""
        return self.create_collection(
            name,
            embedder=embedder,
            metric=metric,
            dimension=dimension,
            metadata=metadata,
            exist_ok=True,
            index=index,
        )

    def get_collection(self, name: str) -> Collection:
        with self.catalog.read() as conn:
            row = catalog.find_collection(conn, name) if isinstance(name, str) else None
            if row is None:
                raise catalog.not_found(conn, str(name))
        return Collection(self, row)

    def list_collections(self) -> list[CollectionInfo]:
        """Every collection with its size and settings, sorted by name."""
        with self.catalog.read() as conn:
            rows = catalog.list_collection_rows(conn)
            counts = records.counts_by_collection(conn)
            specs = {row.id: load_spec(conn, row.id) for row in rows}
        return [collection_info(row, counts.get(row.id, 0), specs[row.id]) for row in rows]

    def delete_collection(self, name: str) -> None:
        """Delete a collection and all its records, metadata, sources and change log."""
        with self.catalog.write() as conn:
            row = catalog.find_collection(conn, name) if isinstance(name, str) else None
            if row is None:
                raise catalog.not_found(conn, str(name))
            catalog.drop_collection(conn, row)
        self.indexer.forget(row.id, files=True)

    def _find(self, name: str) -> catalog.CollectionRow | None:
        with self.catalog.read() as conn:
            return catalog.find_collection(conn, name)

    def _existing(self, row: catalog.CollectionRow, exist_ok: bool) -> Collection:
        if not exist_ok:
            raise _exists(row.name)
        return Collection(self, row)


def _exists(name: str) -> StoreError:
    return StoreError(
        f"collection '{name}' already exists",
        hint="use get_collection or get_or_create_collection, or pass exist_ok=True",
    )


def open_store(
    path: str | Path,
    *,
    registry: ModelRegistry | None = None,
    timeout_s: float = 10.0,
    progress: Progress | None = None,
    default_index: IndexSpec | Mapping[str, Any] | str | None = None,
) -> Store:
    """Open (creating if needed) the store in folder ``path``."""
    return Store(
        path,
        registry=registry,
        timeout_s=timeout_s,
        progress=progress,
        default_index=default_index,
    )


__all__ = ["DEFAULT_EMBEDDER", "Metric", "Store", "open_store"]
