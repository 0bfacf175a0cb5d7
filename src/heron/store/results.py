"""Plain result types the store returns: collection summaries and ``get`` results.

They are dataclasses of JSON-ready values (plus numpy vectors when asked for), so
the CLI can ``dataclasses.asdict`` them and other backends can build them too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

Metric = Literal["cosine", "l2", "ip"]
METRICS: tuple[Metric, ...] = ("cosine", "l2", "ip")


@dataclass(frozen=True)
class CollectionInfo:
    """What ``heron collections info`` shows about one collection."""

    name: str
    count: int
    dimension: int | None
    metric: Metric
    embedder: str | None
    #: ISO-8601 UTC timestamp, e.g. ``2026-05-09T07:35:25Z``
    created_at: str
    #: the change sequence of the collection's latest write (0 before any)
    last_seq: int
    metadata: Mapping[str, Any] = field(default_factory=dict)
    #: the index family and its knobs, e.g. ``auto (m=32, ef_construction=200, ef_search=64)``
    index: str = "auto"


@dataclass
class GetResult:
    """Records returned by ``Collection.get``; a field is ``None`` when not included."""

    ids: list[str]
    documents: list[str | None] | None = None
    metadatas: list[dict[str, Any]] | None = None
    embeddings: list[NDArray[np.float32]] | None = None

    def __len__(self) -> int:
        return len(self.ids)
