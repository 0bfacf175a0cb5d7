"""A small SQLite file of the server's own (API keys, feedback) inside the store home.

Each file is separate from the store's ``heron.db`` so serving never touches the
vector store's schema or its writer lock. WAL mode with ``synchronous=FULL``:
an acknowledged write survives a killed process. One connection per file,
shared by threads under a lock.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from heron.errors import StoreError


class SmallDB:
    """One SQLite file with a schema, used from any thread."""

    def __init__(self, path: Path, schema: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                path, timeout=10.0, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(schema)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"cannot open {path.name} in the store home: {exc}",
                hint="check that the store home is writable (--home or HERON_HOME)",
            ) from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()
