"""Checks on everything a caller hands to a collection, run before anything is written.

Each function either returns the value in a normalised form (lists, float32
matrices, plain dicts) or raises an ``InputError`` / ``DimensionMismatch`` whose
message names the bad item, so a failed call never leaves half a batch behind.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from heron.errors import DimensionMismatch, InputError
from heron.store.results import METRICS, Metric

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
SCALAR_TYPES = (str, int, float, bool, type(None))
LIST_ITEM_TYPES = (str, int, float)

Matrix = NDArray[np.float32]


@dataclass(frozen=True)
class RecordBatch:
    """One write call's records, shape-checked and normalised (vectors not yet checked)."""

    ids: list[str]
    documents: list[str | None] | None
    embeddings: Matrix | None
    metadatas: list[dict[str, Any]] | None

    def __len__(self) -> int:
        return len(self.ids)


def check_collection_name(name: object) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InputError(
            f"invalid collection name {name!r}",
            hint="use 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit",
        )
    return name


def check_metric(metric: object) -> Metric:
    for known in METRICS:
        if metric == known:
            return known
    raise InputError(f"unknown metric {metric!r}", hint=f"use one of: {', '.join(METRICS)}")


def check_dimension_arg(dimension: object) -> int | None:
    if dimension is None:
        return None
    if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 1:
        raise InputError(f"dimension must be a positive integer, got {dimension!r}")
    return dimension


def check_ids(ids: object, *, allow_empty: bool = False) -> list[str]:
    """Ids are non-empty, unique strings; a single string means one id."""
    if isinstance(ids, str):
        ids = [ids]
    if not isinstance(ids, Sequence):
        raise InputError(f"ids must be a list of strings, got {type(ids).__name__}")
    items = list(ids)
    if not items and not allow_empty:
        raise InputError("ids is empty", hint="pass at least one id")
    for position, item in enumerate(items):
        if not isinstance(item, str) or not item:
            raise InputError(f"ids[{position}] is {item!r}; ids must be non-empty strings")
    if len(set(items)) != len(items):
        dupes = sorted(item for item, seen in Counter(items).items() if seen > 1)
        raise InputError(f"duplicate ids: {', '.join(dupes[:5])}", hint="ids must be unique")
    return items


def unrepresentable_number(value: object) -> bool:
    """NaN/inf, or an int outside SQLite's 64-bit range: neither can be stored or compared."""
    if isinstance(value, float):
        return not math.isfinite(value)
    return isinstance(value, int) and not -(2**63) <= value < 2**63


def plain(value: object) -> object:
    """numpy scalars (``np.int64(3)``) as the Python values they hold."""
    return value.item() if isinstance(value, np.generic) else value


def _list_item(key: str, item: object, where: str) -> object:
    item = plain(item)
    if (
        isinstance(item, bool)
        or not isinstance(item, LIST_ITEM_TYPES)
        or unrepresentable_number(item)
    ):
        raise InputError(
            f"{where}: metadata '{key}' holds {item!r} in a list",
            hint="list items must be str, int or finite float",
        )
    return item


def _meta_value(key: str, value: object, where: str) -> object:
    value = plain(value)
    if unrepresentable_number(value):
        raise InputError(
            f"{where}: metadata '{key}' is {value}; numbers must be finite 64-bit values"
        )
    if isinstance(value, SCALAR_TYPES):
        return value
    if isinstance(value, list | tuple):
        return [_list_item(key, item, where) for item in value]
    raise InputError(
        f"{where}: metadata '{key}' has unsupported type {type(value).__name__}",
        hint="values must be str, int, float, bool, None or a list of str/int/float",
    )


def check_metadata(metadata: object, where: str) -> dict[str, Any]:
    """A record's metadata: a flat mapping of str keys to supported values."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InputError(f"{where}: metadata must be a dict, got {type(metadata).__name__}")
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not key or key.startswith("$"):
            raise InputError(
                f"{where}: metadata key {key!r} is not allowed",
                hint="keys are non-empty strings that do not start with '$'",
            )
        out[key] = _meta_value(key, value, where)
    return out


def check_collection_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """Collection-level metadata only has to survive a JSON round trip."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InputError("collection metadata must be a dict")
    try:
        return dict(json.loads(json.dumps(dict(metadata), allow_nan=False)))
    except (TypeError, ValueError) as exc:
        raise InputError(f"collection metadata is not JSON-serialisable: {exc}") from exc


def _as_list(value: object, n: int, what: str) -> list[Any]:
    if isinstance(value, str | Mapping):
        value = [value]
    if not isinstance(value, Sequence):
        raise InputError(f"{what} must be a list, got {type(value).__name__}")
    items = list(value)
    if len(items) != n:
        raise InputError(
            f"got {len(items)} {what} for {n} ids", hint=f"pass one {what[:-1]} per id"
        )
    return items


def check_documents(documents: object, n: int) -> list[str | None] | None:
    if documents is None:
        return None
    items = _as_list(documents, n, "documents")
    for position, doc in enumerate(items):
        if doc is not None and not isinstance(doc, str):
            raise InputError(f"documents[{position}] is a {type(doc).__name__}, not a string")
    return items


def check_metadatas(metadatas: object, n: int) -> list[dict[str, Any]] | None:
    if metadatas is None:
        return None
    items = _as_list(metadatas, n, "metadatas")
    return [check_metadata(meta, f"metadatas[{i}]") for i, meta in enumerate(items)]


def as_matrix(vectors: object, what: str = "embeddings") -> Matrix:
    """Any array-like of vectors (or one vector) as a finite float32 ``n x d`` matrix."""
    if type(vectors) is np.ndarray and vectors.dtype == np.float32:
        matrix = vectors  # nothing to convert, so nothing can overflow
    else:
        try:
            with np.errstate(over="ignore"):  # overflow becomes inf, refused just below
                matrix = np.asarray(vectors, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{what} are not a numeric matrix: {exc}") from exc
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    if matrix.ndim != 2 or matrix.shape[1] == 0:
        raise InputError(f"{what} must be a 2-d array of vectors, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        bad = ~np.isfinite(matrix).all(axis=1)
        raise InputError(
            f"{what}[{int(np.argmax(bad))}] contains NaN or infinity",
            hint="vectors must be finite and within float32 range",
        )
    return np.ascontiguousarray(matrix)


def check_embeddings(embeddings: object, n: int) -> Matrix | None:
    if embeddings is None:
        return None
    if n == 0 and np.size(embeddings) == 0:  # type: ignore[arg-type]
        return None
    matrix = as_matrix(embeddings)
    if matrix.shape[0] != n:
        raise InputError(f"got {matrix.shape[0]} embeddings for {n} ids", hint="pass one per id")
    return matrix


def build_batch(
    ids: object,
    documents: object,
    embeddings: object,
    metadatas: object,
    *,
    allow_empty: bool = False,
) -> RecordBatch:
    """Shape- and type-check one write call's arguments."""
    checked = check_ids(ids, allow_empty=allow_empty)
    n = len(checked)
    return RecordBatch(
        ids=checked,
        documents=check_documents(documents, n),
        embeddings=check_embeddings(embeddings, n),
        metadatas=check_metadatas(metadatas, n),
    )


def check_vectors(
    matrix: Matrix,
    *,
    collection: str,
    dimension: int | None,
    metric: Metric,
    embedder: str | None,
    from_embedder: bool,
) -> None:
    """Vectors must have the collection's dimension and, for cosine, a non-zero norm."""
    if dimension is not None and matrix.shape[1] != dimension:
        raise dimension_error(collection, dimension, matrix.shape[1], embedder, from_embedder)
    if metric == "cosine" and not matrix.any(axis=1).all():
        zero = ~matrix.any(axis=1)
        if zero.any():
            raise InputError(
                f"vector {int(np.argmax(zero))} is all zeros; cosine similarity is undefined",
                hint="use non-zero vectors, or a collection with metric 'l2' or 'ip'",
            )


def dimension_error(
    collection: str, expected: int, got: int, embedder: str | None, from_embedder: bool
) -> DimensionMismatch:
    """The message says which side is which and what to do about it."""
    if from_embedder:
        return DimensionMismatch(
            f"collection '{collection}' stores {expected}-d vectors "
            f"but the embedder gives {got}-d; "
            f"use the embedder the collection was created with ({embedder}) "
            "or create a new collection"
        )
    return DimensionMismatch(
        f"collection '{collection}' stores {expected}-d vectors "
        f"but the embeddings given are {got}-d; "
        f"pass {expected}-d vectors or create a new collection for {got}-d ones"
    )


def check_include(include: object, allowed: tuple[str, ...]) -> frozenset[str]:
    if isinstance(include, str):
        include = (include,)
    if not isinstance(include, Sequence | set | frozenset):
        raise InputError(f"include must be a list of field names, got {type(include).__name__}")
    fields = frozenset(include)
    unknown = sorted(str(f) for f in fields if f not in allowed)
    if unknown:
        raise InputError(
            f"unknown include field(s): {', '.join(unknown)}",
            hint=f"choose from {', '.join(allowed)}",
        )
    return fields


def check_count(value: object, what: str, *, minimum: int) -> int:
    """A non-negative (or positive) integer such as ``k``, ``limit`` or ``offset``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return value
