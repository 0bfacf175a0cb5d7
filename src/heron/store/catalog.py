"""The SQLite file that is the store's source of truth: schema, connection, transactions,
and the collections table.

One file, ``<store>/heron.db``, in WAL mode, so any number of readers (in any
process) see committed writes while one writer appends. Every write first takes
the store's writer lock (``lock.py``, waiting up to ``timeout_s`` and naming the
holder if it gives up), then runs in ``BEGIN IMMEDIATE``: SQLite's write lock is
taken up front, so a batch is all-or-nothing and never deadlocks on a lock upgrade.
Opening a store takes neither lock unless the schema has to be created.
Record-level SQL lives in ``records.py``.

Schema changes so far only add tables, so an older store is upgraded in place by
running the schema again (1 -> 2 added ``collection_index``, 2 -> 3 ``changes_pruned``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from heron.errors import CollectionNotFound, HeronError, StoreError
from heron.store.lock import WriterLock
from heron.store.results import Metric

DB_NAME = "heron.db"
SCHEMA_VERSION = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS heron_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS collections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    metric TEXT NOT NULL,
    dimension INTEGER,
    embedder TEXT,
    metadata TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    collection_id INTEGER NOT NULL,
    external_id TEXT NOT NULL,
    document TEXT,
    metadata TEXT NOT NULL,
    vector BLOB NOT NULL,
    seq INTEGER NOT NULL,
    UNIQUE (collection_id, external_id)
);
CREATE INDEX IF NOT EXISTS records_by_collection ON records (collection_id, id);
CREATE TABLE IF NOT EXISTS record_meta (
    collection_id INTEGER NOT NULL,
    record_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    str_value TEXT,
    num_value REAL,
    in_list INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS record_meta_str
    ON record_meta (collection_id, key, str_value, in_list, record_id);
CREATE INDEX IF NOT EXISTS record_meta_num
    ON record_meta (collection_id, key, num_value, kind, in_list, record_id);
CREATE INDEX IF NOT EXISTS record_meta_record ON record_meta (record_id);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    collection_id INTEGER NOT NULL,
    record_id INTEGER NOT NULL,
    op TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_by_collection ON changes (collection_id, seq);
CREATE TABLE IF NOT EXISTS collection_index (
    collection_id INTEGER PRIMARY KEY,
    spec TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS changes_pruned (
    collection_id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sources (
    collection_id INTEGER NOT NULL,
    source TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    PRIMARY KEY (collection_id, source)
);
"""
# record_meta.kind: 's' str, 'n' int/float, 'b' bool, 'z' None; the two indexes lead with
# (collection, key, value) so filters are index range scans, and carry the other columns
# a filter reads so those scans never touch the table. ``changes.op``: add, update (the
# vector may have changed), update_meta (it did not), delete. ``collection_index`` holds
# the collection's ``IndexSpec`` as JSON (no row = auto); added in schema 2.
# ``changes_pruned.seq``: the collection's changes up to this seq were deleted (schema 3);
# an index covering less cannot be replayed forward and is reloaded or rebuilt instead.
# ``records_by_collection`` lists a collection's ids in order without reading the wide rows.
# AUTOINCREMENT on ids and seqs means neither is ever reused, so a cached index keyed by
# (collection id, seq) can never be mistaken for a newer state, and a later ANN index can
# use record ids as stable labels.


@dataclass(frozen=True)
class CollectionRow:
    """A collection's settings as stored."""

    id: int
    name: str
    metric: Metric
    dimension: int | None
    embedder: str | None
    metadata: dict[str, Any]
    created_at: str
    last_seq: int
    #: changes up to this sequence are pruned from the log (0: none)
    pruned_seq: int = 0

    @property
    def fts_table(self) -> str:
        """Each collection has its own FTS5 table so BM25 statistics stay per collection."""
        return f"fts_{self.id}"


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _prepare_folder(path: Path) -> Path:
    if path.exists() and not path.is_dir():
        raise StoreError(
            f"store path {path} is a file, not a folder",
            hint=f"pass a folder; Heron keeps {DB_NAME} inside it",
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot create store folder {path}: {exc.strerror or exc}",
            hint="choose a writable location (--home or HERON_HOME)",
        ) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise StoreError(
            f"store folder {path} is not writable",
            hint="fix its permissions or choose another location (--home or HERON_HOME)",
        )
    return path


class Catalog:
    """Owns the SQLite connection; hands it out inside read or write transactions.

    One connection per store, shared by threads under a lock: SQLite serialises
    writers anyway, and a single connection keeps the WAL snapshot logic simple.
    """

    def __init__(self, folder: Path, timeout_s: float) -> None:
        self.folder = _prepare_folder(folder)
        self.path = self.folder / DB_NAME
        self.timeout_s = timeout_s
        self.writer_lock = WriterLock(self.folder, timeout_s)
        self._lock = threading.RLock()
        self._depth = 0
        #: write transactions run on this connection (``PRAGMA data_version`` ignores them)
        self._writes = 0
        self._conn: sqlite3.Connection | None = self._connect()

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, timeout=self.timeout_s, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        try:
            self._configure(conn)
            self._create_schema(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _configure(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            # FULL, not NORMAL: in WAL mode NORMAL already survives a killed process, but
            # FULL also fsyncs the WAL at each commit, so an acknowledged write survives an
            # OS crash or power loss too. It costs one fsync per write call (a whole batch
            # is one transaction): measured 4.5 ms vs 0.6 ms per replace_source of 5 chunks
            # on the dev box, small next to embedding those chunks with a real model.
            conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        if str(mode).lower() != "wal":
            raise StoreError(
                f"{self.path}: SQLite refused WAL mode (got '{mode}')",
                hint="put the store on a local file system",
            )

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        """Check the schema version; only a new or older store takes the writer lock.

        Every schema change so far only adds tables (``IF NOT EXISTS``), so upgrading
        an older store is running the schema again and recording the new version.
        """
        with self._transaction(conn, "BEGIN"):
            version = self._schema_version(conn)
        if version is not None:
            self._check_version(version)
            if version == SCHEMA_VERSION:
                return
        with self.writer_lock.hold(), self._transaction(conn, "BEGIN IMMEDIATE"):
            version = self._schema_version(conn)  # another process may have won
            if version is not None:
                self._check_version(version)
            # not executescript: in Python 3.11 it commits the open transaction first
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)
            conn.execute(
                "INSERT OR REPLACE INTO heron_meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    @staticmethod
    def _schema_version(conn: sqlite3.Connection) -> int | None:
        has_meta = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'heron_meta'"
        ).fetchone()
        if has_meta is None:
            return None
        row = conn.execute("SELECT value FROM heron_meta WHERE key = 'schema_version'").fetchone()
        return None if row is None else int(row[0])

    def _check_version(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer Heron (schema {version})",
                hint="upgrade heron to open it",
            )

    # ------------------------------------------------------------ transactions

    @property
    def lock(self) -> threading.RLock:
        """Held by every transaction; hold it to use ``conn`` outside one (one statement
        in autocommit mode is its own snapshot)."""
        return self._lock

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"the store at {self.folder} is closed", hint="open it again")
        return self._conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot: every SELECT inside sees the same committed state."""
        with self._lock:
            yield from self._scoped("BEGIN")

    @contextmanager
    def write(self, timeout_s: float | None = None) -> Iterator[sqlite3.Connection]:
        """One all-or-nothing write under the writer lock; any exception rolls it back.

        ``timeout_s`` overrides the store's lock timeout (housekeeping waits briefly)."""
        with self._lock:
            try:
                if self._depth:  # nested: the outer call holds the lock already
                    yield from self._scoped("BEGIN IMMEDIATE")
                    return
                self.conn  # noqa: B018 - a closed store fails before touching the lock
                with self.writer_lock.hold(timeout_s):
                    yield from self._scoped("BEGIN IMMEDIATE")
            finally:
                self._writes += 1  # committed or not: a cached view may be stale now

    def state(self, conn: sqlite3.Connection) -> tuple[int, int]:
        """Which committed state ``conn`` reads: the value changes whenever any
        connection (of this process or another) commits, so a view cached with it stays
        valid while it is unchanged.

        SQLite's ``data_version`` moves when *another* connection commits; this store's
        own writes are counted here. Called first in a read transaction, it names that
        transaction's snapshot.
        """
        with self._lock:
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            return int(version), self._writes

    def _scoped(self, begin: str) -> Iterator[sqlite3.Connection]:
        conn = self.conn
        if self._depth:  # nested use joins the outer transaction
            yield conn
            return
        self._depth += 1
        try:
            with self._transaction(conn, begin):
                yield conn
        finally:
            self._depth -= 1

    @contextmanager
    def _transaction(self, conn: sqlite3.Connection, begin: str) -> Iterator[None]:
        try:
            conn.execute(begin)
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        try:
            yield
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._translate(exc) from exc
            raise

    def _translate(self, exc: sqlite3.Error) -> HeronError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return StoreError(  # a writer that bypasses write.lock, e.g. an older Heron
                f"the store at {self.folder} is locked by another writer "
                f"(waited {self.timeout_s:g} s)",
                hint="retry when the other write finishes, or raise the lock timeout "
                "(timeout_s / HERON_LOCK_TIMEOUT_S)",
            )
        if "full" in text:
            return StoreError(
                f"the disk holding {self.path} is full; the write was rolled back "
                "(nothing of it was stored, earlier writes are intact)",
                hint="free some space (or move the store with --home), then retry",
            )
        return StoreError(
            f"SQLite error in {self.path}: {text}",
            hint="if the file is not a Heron store, move it away or choose another folder",
        )

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


# ---------------------------------------------------------------- collections

_COLUMNS = (
    "id, name, metric, dimension, embedder, metadata, created_at, last_seq, "
    "COALESCE((SELECT p.seq FROM changes_pruned p WHERE p.collection_id = collections.id), 0)"
)


def _row(values: tuple[Any, ...]) -> CollectionRow:
    cid, name, metric, dimension, embedder, metadata, created_at, last_seq, pruned = values
    return CollectionRow(
        cid, name, metric, dimension, embedder, json.loads(metadata), created_at, last_seq, pruned
    )


def find_collection(conn: sqlite3.Connection, name: str) -> CollectionRow | None:
    found = conn.execute(f"SELECT {_COLUMNS} FROM collections WHERE name = ?", (name,)).fetchone()
    return _row(found) if found else None


def collection_by_id(conn: sqlite3.Connection, cid: int, name: str) -> CollectionRow:
    """The live row of a collection handle; it fails once the collection is deleted."""
    found = conn.execute(f"SELECT {_COLUMNS} FROM collections WHERE id = ?", (cid,)).fetchone()
    if found is None:
        raise not_found(conn, name)
    return _row(found)


def collection_seq(conn: sqlite3.Connection, cid: int) -> int | None:
    """The cheap check a query makes before trusting its cached index."""
    found = conn.execute("SELECT last_seq FROM collections WHERE id = ?", (cid,)).fetchone()
    return None if found is None else int(found[0])


def list_collection_rows(conn: sqlite3.Connection) -> list[CollectionRow]:
    return [_row(r) for r in conn.execute(f"SELECT {_COLUMNS} FROM collections ORDER BY name")]


def not_found(conn: sqlite3.Connection, name: str) -> CollectionNotFound:
    names = [r[0] for r in conn.execute("SELECT name FROM collections ORDER BY name")]
    existing = ", ".join(names) if names else "none"
    return CollectionNotFound(
        f"collection '{name}' not found; existing: {existing}",
        hint=f"create it with `heron ingest ... --collection {name}`",
    )


def insert_collection(
    conn: sqlite3.Connection,
    name: str,
    *,
    metric: Metric,
    dimension: int | None,
    embedder: str | None,
    metadata: dict[str, Any],
) -> CollectionRow:
    cursor = conn.execute(
        "INSERT INTO collections (name, metric, dimension, embedder, metadata, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (name, metric, dimension, embedder, json.dumps(metadata), _utc_now()),
    )
    assert cursor.lastrowid is not None
    row = collection_by_id(conn, cursor.lastrowid, name)
    conn.execute(
        f"CREATE VIRTUAL TABLE {row.fts_table} USING fts5(document, tokenize = 'porter unicode61')"
    )
    return row


def set_dimension(conn: sqlite3.Connection, cid: int, dimension: int) -> None:
    conn.execute("UPDATE collections SET dimension = ? WHERE id = ?", (dimension, cid))


def drop_collection(conn: sqlite3.Connection, row: CollectionRow) -> None:
    """Remove a collection and every row that belongs to it."""
    tables = ("record_meta", "records", "changes", "sources", "collection_index", "changes_pruned")
    for table in tables:
        conn.execute(f"DELETE FROM {table} WHERE collection_id = ?", (row.id,))
    conn.execute(f"DROP TABLE IF EXISTS {row.fts_table}")
    conn.execute("DELETE FROM collections WHERE id = ?", (row.id,))


# ---------------------------------------------------------------- index settings


def index_spec_json(conn: sqlite3.Connection, cid: int) -> str | None:
    """The collection's stored ``IndexSpec`` JSON, or ``None`` (auto)."""
    found = conn.execute(
        "SELECT spec FROM collection_index WHERE collection_id = ?", (cid,)
    ).fetchone()
    return None if found is None else str(found[0])


def set_index_spec_json(conn: sqlite3.Connection, cid: int, spec: str) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO collection_index (collection_id, spec) VALUES (?, ?)", (cid, spec)
    )
