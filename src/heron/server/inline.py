"""Which vector searches may run on the event loop, and which go to pool threads.

A search on the event loop cannot be interrupted: while it runs, no other
request of the process is served, and the per-request timeout cannot apply.
So a search runs inline only when it is predicted cheap, from facts that cost
microseconds to check and never touch the store:

* its shape: a query vector (no embedding), no metadata filter, ``k`` at most
  ``INLINE_MAX_K`` — the cost of such a search is nearly constant per collection;
* its collection is warm: the store's files have not changed since the last
  search of that collection (a write, here or by another process, makes the next
  query reload or replay the index, which may take seconds on a big collection);
* its collection's recent warm searches averaged at most ``INLINE_MAX_S``.

Everything else runs on a pool thread under the per-request timeout (504, or
503 when no slot came free in time). A search that ran inline and turned out
slow raises its collection's average, so the next ones go to the pool until
pool searches are fast again.

Left out: the "store files changed" check stats ``heron.db`` and its WAL (the
store has no cheap public "is the index current" call yet); a write in the same
file-system clock tick as the previous check and of the same WAL size would go
unseen, and cost one inline index reload.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from heron.server.schemas import SearchRequest

#: a warm collection's searches run inline while they average at most this
INLINE_MAX_S = 0.002
#: larger ``k`` (more records fetched and decoded) always goes to the pool
INLINE_MAX_K = 10
#: the store's SQLite file (``Store`` documents it) and its write-ahead log
STORE_FILES = ("heron.db", "heron.db-wal")
#: at most this many collections tracked (a name that never searched fast is dropped first)
MAX_TRACKED = 256
_DECAY = 0.8

Stamp = tuple[int, ...]


def store_stamp(folder: Path) -> Stamp:
    """Modification time and size of the store's files: changes whenever a write commits."""
    stamp: list[int] = []
    for name in STORE_FILES:
        try:
            info = os.stat(folder / name)
        except OSError:
            stamp += (-1, -1)
        else:
            stamp += (info.st_mtime_ns, info.st_size)
    return tuple(stamp)


@dataclass
class _Record:
    #: the store stamp at which the collection's index was last loaded by a search
    stamp: Stamp | None = None
    #: moving average of warm searches' seconds (None: none measured yet)
    mean_s: float | None = None


class InlineLane:
    """Per-collection measurements that decide where a vector search runs."""

    def __init__(
        self, folder: Path, max_s: float = INLINE_MAX_S, max_k: int = INLINE_MAX_K
    ) -> None:
        self.folder = folder
        self.max_s = max_s
        self.max_k = max_k
        self.inline = 0
        self.pooled = 0
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()  # pool threads report timings too

    def stamp(self) -> Stamp:
        return store_stamp(self.folder)

    def may_inline(self, body: SearchRequest) -> bool:
        """Whether the request has the shape of a cheap search (no store access).

        A search of another shape is counted as pooled here."""
        cheap = body.vector is not None and body.where is None and body.k <= self.max_k
        if not cheap:
            self.pooled += 1
        return cheap

    def allows(self, name: str, stamp: Stamp) -> bool:
        """Whether a cheap-shaped search of ``name`` at ``stamp`` may run inline now."""
        with self._lock:
            record = self._records.get(name)
            ok = (
                record is not None
                and record.stamp == stamp
                and record.mean_s is not None
                and record.mean_s <= self.max_s
            )
        if ok:
            self.inline += 1
        else:
            self.pooled += 1
        return ok

    def observe(self, name: str, stamp: Stamp, seconds: float) -> None:
        """A cheap-shaped search of ``name``, begun at store ``stamp``, took ``seconds``."""
        with self._lock:
            record = self._records.get(name)
            if record is None:
                if len(self._records) >= MAX_TRACKED:
                    self._evict()
                record = self._records[name] = _Record()
            if record.stamp != stamp:  # the first search since a change: it (re)loaded the index
                record.stamp = stamp
                return
            if record.mean_s is None:
                record.mean_s = seconds
            else:
                record.mean_s = _DECAY * record.mean_s + (1 - _DECAY) * seconds

    def mean_s(self, name: str) -> float | None:
        with self._lock:
            record = self._records.get(name)
            return None if record is None else record.mean_s

    def _evict(self) -> None:
        slow = [n for n, r in self._records.items() if r.mean_s is None or r.mean_s > self.max_s]
        for name in slow or list(self._records):
            del self._records[name]

    def metric_lines(self) -> list[str]:
        name = "heron_search_lane_total"
        return [
            f"# HELP {name} Searches by where they ran (event loop or pool thread).",
            f"# TYPE {name} counter",
            f'{name}{{lane="inline"}} {self.inline}',
            f'{name}{{lane="pool"}} {self.pooled}',
        ]
