"""The semantics of ``add``, ``upsert`` and ``update``, separated from the SQL.

A checked ``RecordBatch`` (plus its vectors, if any) is split into the records to
insert and the records to update, according to the mode and to which ids exist.
All refusals happen here, inside the write transaction but before any statement
that changes data, so a refused call writes nothing.

* ``add``: every id must be new; each record needs a vector (documents or embeddings).
* ``update``: every id must exist; only the given fields change. Documents without
  embeddings are re-embedded; metadata alone keeps the vector; metadata given
  replaces the record's metadata as a whole (it is not merged).
* ``upsert``: ``update`` for ids that exist, ``add`` for the others.
* ``replace_source``: every record carries ``metadata["source"]``, so the next
  replacement finds them; ids held by records of other sources are refused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from heron.errors import InputError
from heron.store import records
from heron.store.catalog import CollectionRow
from heron.store.validation import Matrix, RecordBatch

WriteMode = Literal["add", "upsert", "update"]
T = TypeVar("T")


@dataclass(frozen=True)
class WriteSplit:
    """Positions in the batch of records to insert and of records to update."""

    new: list[int]
    existing: list[int]
    record_ids: list[int]  # record id of each position in ``existing``

    @classmethod
    def all_new(cls, n: int) -> WriteSplit:
        return cls(list(range(n)), [], [])


def _listing(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:5])
    return shown + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")


def check_content(batch: RecordBatch, mode: WriteMode) -> None:
    """Refuse calls that carry nothing to write, before anything is embedded."""
    has_vector_source = batch.documents is not None or batch.embeddings is not None
    if mode == "add" and not has_vector_source:
        raise InputError(
            "add needs documents or embeddings", hint="each record needs a vector to be stored"
        )
    if not has_vector_source and batch.metadatas is None:
        raise InputError(
            f"{mode} got nothing to write", hint="pass documents, embeddings or metadatas"
        )


def split_batch(
    batch: RecordBatch,
    vectors: Matrix | None,
    existing: dict[str, int],
    mode: WriteMode,
    collection: str,
) -> WriteSplit:
    new = [i for i, ext in enumerate(batch.ids) if ext not in existing]
    old = [i for i, ext in enumerate(batch.ids) if ext in existing]
    if mode == "add" and old:
        raise InputError(
            f"ids already in collection '{collection}': {_listing([batch.ids[i] for i in old])}",
            hint="use upsert to overwrite them or update to change them",
        )
    if mode == "update" and new:
        raise InputError(
            f"ids not found in collection '{collection}': {_listing([batch.ids[i] for i in new])}",
            hint="use add or upsert to create them",
        )
    if new and vectors is None:
        raise InputError(
            f"new ids need documents or embeddings: {_listing([batch.ids[i] for i in new])}",
            hint="a record cannot be created from metadata alone",
        )
    return WriteSplit(new, old, [existing[batch.ids[i]] for i in old])


def _take(items: Sequence[T] | None, positions: list[int]) -> list[T] | None:
    return None if items is None else [items[i] for i in positions]


def apply_split(
    conn: sqlite3.Connection,
    row: CollectionRow,
    batch: RecordBatch,
    vectors: Matrix | None,
    split: WriteSplit,
) -> None:
    if split.existing:
        records.update_records(
            conn,
            row,
            record_ids=split.record_ids,
            documents=_take(batch.documents, split.existing),
            metadatas=_take(batch.metadatas, split.existing),
            vectors=None if vectors is None else vectors[split.existing],
        )
    if split.new:
        assert vectors is not None
        n = len(split.new)
        metadatas: list[dict[str, Any]] = _take(batch.metadatas, split.new) or [
            {} for _ in range(n)
        ]
        documents: list[str | None] = _take(batch.documents, split.new) or [None] * n
        records.insert_records(
            conn,
            row,
            ids=[batch.ids[i] for i in split.new],
            documents=documents,
            metadatas=metadatas,
            vectors=vectors[split.new],
        )


# ---------------------------------------------------------------- sources


def check_source(source: object, content_hash: object) -> None:
    if not isinstance(source, str) or not source:
        raise InputError(f"source must be a non-empty string, got {source!r}")
    if not isinstance(content_hash, str) or not content_hash:
        raise InputError(f"content_hash must be a non-empty string, got {content_hash!r}")


def with_source(batch: RecordBatch, source: str) -> RecordBatch:
    """Stamp ``source`` into every record's metadata; a different value is refused."""
    metadatas = batch.metadatas or [{} for _ in batch.ids]
    for position, meta in enumerate(metadatas):
        if meta.setdefault("source", source) != source:
            raise InputError(
                f"metadatas[{position}] has source {meta['source']!r}, not {source!r}",
                hint="replace_source stores records under the source it is given",
            )
    return RecordBatch(batch.ids, batch.documents, batch.embeddings, metadatas)


def refuse_foreign_ids(
    conn: sqlite3.Connection,
    row: CollectionRow,
    ids: list[str],
    old: list[int],
    source: str,
) -> None:
    """Replacing a source may reuse its own ids, never another record's."""
    owned = set(old)
    existing = records.existing_ids(conn, row.id, ids)
    taken = sorted(ext for ext, rid in existing.items() if rid not in owned)
    if taken:
        raise InputError(
            f"ids already used by records outside source '{source}': {_listing(taken)}",
            hint="make chunk ids unique per source, e.g. prefix them with the source",
        )
