"""``Indexer``: keeps each collection's in-memory index current, on disk, and compact.

One per ``Store``. For a query it returns the collection's index at the latest
change sequence:

* exact collections (``flat``, or ``auto`` below ``AUTO_ANN_MIN`` records) use an
  ``ExactIndex`` rebuilt from the catalog when the sequence moved (cheap at that size);
* ANN collections use a ``LiveIndex``: the cached one replays newer changes; with
  nothing cached, the index file ``<store>/indexes/c<id>.faiss`` is loaded and
  replays the changes after the sequence it covers; a missing, damaged or
  out-of-date file (other family or knobs) is rebuilt from the catalog, with
  progress reported, and saved.

Index files are derived data: saving one can fail (full disk, read-only folder)
without failing the query, and a damaged one is rebuilt. After enough replayed
changes the index is saved again so the next process starts close to the head.
A file is never replaced by one that covers an older sequence.
``compact`` rebuilds from the catalog, dropping tombstones; writers check
``needs_compaction`` after each write, which is true once tombstones exceed
``COMPACT_RATIO`` of the saved index.

The ``changes`` log only exists for replay, so it is pruned (``prunable``) up to the
sequence the saved index file covers (every change, for exact collections), after
compaction and every ``PRUNE_EVERY`` sequence numbers. An index older than the pruned
point cannot replay forward; it is reloaded from its file, or rebuilt.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from heron.errors import StoreError
from heron.store import catalog, records
from heron.store.ann import AnnConfig, build_index, read_sidecar, remove_files
from heron.store.catalog import CollectionRow
from heron.store.index import ExactIndex
from heron.store.index_spec import IndexSpec
from heron.store.live import LiveIndex

log = logging.getLogger(__name__)

#: ``progress(label, done, total)``: how index builds report progress (the CLI draws a bar)
Progress = Callable[[str, int, int], None]
Index = ExactIndex | LiveIndex

#: tombstones / indexed vectors at which a write triggers compaction
COMPACT_RATIO = 0.2
#: replayed records after which an index is saved again (or this share of its size)
SAVE_AFTER = 1_000
SAVE_AFTER_RATIO = 0.05
#: sequence numbers a collection moves between prunes of its changes log
PRUNE_EVERY = 20_000


@dataclass(frozen=True)
class CompactReport:
    """What ``Collection.compact`` did."""

    kind: str
    vectors: int
    purged: int
    seconds: float
    #: rows deleted from the changes log (replay history no index needs any more)
    log_pruned: int = 0


#: ``Catalog.state``: names one committed state of the database, as one connection sees it
State = tuple[int, int]


@dataclass
class _Entry:
    spec: IndexSpec
    index: Index
    seq: int
    #: the collection's row, and the catalog state both were current at (None: not known)
    row: CollectionRow | None = None
    state: State | None = None

    def seen(self, row: CollectionRow, state: State | None) -> Index:
        self.seq, self.row, self.state = row.last_seq, row, state
        return self.index


class Indexer:
    """Per-store cache of collection indexes, their files and their compaction."""

    def __init__(self, folder: Path, progress: Progress | None = None) -> None:
        self.folder = folder / "indexes"
        self.progress = progress
        self._entries: dict[int, _Entry] = {}
        self._lock = threading.Lock()
        #: matching ids of recent filters (the planner's candidate sets)
        self.filters = records.FilterCache()

    def path(self, collection_id: int) -> Path:
        return self.folder / f"c{collection_id}.faiss"

    # ------------------------------------------------------------ queries

    def current(self, collection_id: int, state: State) -> tuple[CollectionRow, Index] | None:
        """The cached row and index of a collection if nothing was committed since they
        were read (``state`` is unchanged): a query then needs no SQL to find them."""
        with self._lock:
            entry = self._entries.get(collection_id)
        if entry is None or entry.row is None or entry.state != state:
            return None
        return entry.row, entry.index

    def index(
        self, conn: sqlite3.Connection, row: CollectionRow, state: State | None = None
    ) -> Index:
        """The collection's index at ``row.last_seq`` (``conn`` is in a read snapshot,
        which ``state`` names, if given, so that ``current`` can skip the SQL next time)."""
        spec = load_spec(conn, row.id)
        with self._lock:
            entry = self._entries.get(row.id)
        if entry is not None and entry.spec == spec:
            if entry.seq == row.last_seq:
                return entry.seen(row, state)
            if isinstance(entry.index, LiveIndex) and self._catch_up(conn, row, entry.index):
                return entry.seen(row, state)
        config = spec.resolve(row.metric, records.count_records(conn, row.id))
        index: Index = (
            self._exact(conn, row) if config is None else self._open_live(conn, row, config)
        )
        with self._lock:
            self._entries[row.id] = _Entry(spec, index, row.last_seq, row, state)
        return index

    def _exact(self, conn: sqlite3.Connection, row: CollectionRow) -> ExactIndex:
        assert row.dimension is not None
        ids, vectors = records.load_vectors(conn, row.id, row.dimension)
        return ExactIndex(row.metric, ids, vectors, owned=True)

    def _open_live(
        self, conn: sqlite3.Connection, row: CollectionRow, config: AnnConfig
    ) -> LiveIndex:
        path = self.path(row.id)
        if path.exists():
            try:
                with self._files(row.id, exclusive=False):
                    live = LiveIndex.load(path, row.metric)
            except StoreError as exc:
                log.warning("%s; rebuilding it", exc)
            else:
                usable = live.main.config == config and row.pruned_seq <= live.seq
                if usable and live.seq <= row.last_seq:
                    live.names = records.all_external_ids(conn, row.id)
                    self._catch_up(conn, row, live)
                    return live
        return self.build(conn, row, config)

    def _catch_up(self, conn: sqlite3.Connection, row: CollectionRow, live: LiveIndex) -> bool:
        """Replay changes after the index's sequence; save when enough have moved.

        False when it cannot: the changes it would need were pruned from the log."""
        assert row.dimension is not None
        dimension = row.dimension
        with live.lock:
            if live.seq >= row.last_seq:
                return True
            if live.seq < row.pruned_seq:
                return False
            changes = records.changes_since(conn, row.id, live.seq)
            touched = live.replay(
                changes,
                lambda ids: records.vectors_by_id(conn, row.id, ids, dimension),
                row.last_seq,
            )
            live.rename(touched, records.external_ids(conn, row.id, touched.tolist()))
            if live.unsaved >= max(SAVE_AFTER, SAVE_AFTER_RATIO * len(live)):
                self._save(row, live)
        return True

    # ------------------------------------------------------------ building

    def build(self, conn: sqlite3.Connection, row: CollectionRow, config: AnnConfig) -> LiveIndex:
        """A fresh index from the catalog snapshot in ``conn``, saved to its file."""
        assert row.dimension is not None
        ids, vectors = records.load_vectors(conn, row.id, row.dimension)
        if ids.shape[0] == 0:
            raise StoreError(
                f"collection '{row.name}' is empty, so a {config.kind} index has nothing "
                "to train on",
                hint="add records first; queries on an empty collection return nothing",
            )
        label = f"building {config.kind} index for '{row.name}'"
        report = None if self.progress is None else self._report(label)
        main = build_index(config, vectors, ids, progress=report)
        live = LiveIndex(row.metric, main, row.last_seq, ids)
        live.names = records.all_external_ids(conn, row.id)
        self._save(row, live)
        return live

    def _report(self, label: str) -> Callable[[int, int], None]:
        progress = self.progress
        assert progress is not None
        return lambda done, total: progress(label, done, total)

    def _save(self, row: CollectionRow, live: LiveIndex) -> None:
        """Save the index unless the file already covers a later sequence (another
        process saved or compacted meanwhile); a failure (e.g. a full disk) only
        costs a later rebuild."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with self._files(row.id, exclusive=True):
                saved = saved_state(self.path(row.id))
                if saved is None or saved[0] <= live.seq:
                    live.save(self.path(row.id))
        except OSError as exc:
            log.warning(
                "could not save the index of '%s' (%s); it stays in memory and will be "
                "rebuilt by the next process",
                row.name,
                exc.strerror or exc,
            )

    # ------------------------------------------------------------ maintenance

    def compact(self, conn: sqlite3.Connection, row: CollectionRow) -> CompactReport:
        """Rebuild the collection's index from the catalog, purging every tombstone."""
        started = time.perf_counter()
        spec = load_spec(conn, row.id)
        count = records.count_records(conn, row.id)
        config = spec.resolve(row.metric, count)
        with self._lock:
            entry = self._entries.get(row.id)
        purged = self._garbage(conn, row, entry)
        if config is None or count == 0:
            self.forget(row.id, files=True)
            return CompactReport("flat", count, purged, time.perf_counter() - started)
        live = self.build(conn, row, config)
        with self._lock:
            self._entries[row.id] = _Entry(spec, live, row.last_seq)
        return CompactReport(config.kind, len(live), purged, time.perf_counter() - started)

    def _garbage(self, conn: sqlite3.Connection, row: CollectionRow, entry: _Entry | None) -> int:
        live = entry.index if entry is not None else None
        if isinstance(live, LiveIndex) and self._catch_up(conn, row, live):
            return live.garbage
        covered = saved_state(self.path(row.id))
        return 0 if covered is None else records.dead_since(conn, row.id, covered[0])

    def prunable(self, conn: sqlite3.Connection, row: CollectionRow) -> int:
        """The sequence up to which the changes log is no longer needed (0: nothing new).

        That is the sequence the index file covers (a process behind it reloads the
        file), or the head for an exact collection, which never replays."""
        config = load_spec(conn, row.id).resolve(row.metric, records.count_records(conn, row.id))
        if config is None:
            through = row.last_seq
        else:
            saved = saved_state(self.path(row.id))
            through = 0 if saved is None else min(saved[0], row.last_seq)
        return through if through > row.pruned_seq else 0

    def needs_compaction(self, conn: sqlite3.Connection, row: CollectionRow) -> bool:
        """Whether tombstones exceed ``COMPACT_RATIO`` of the saved index (cheap check)."""
        with self._lock:
            entry = self._entries.get(row.id)
        if entry is not None and isinstance(entry.index, LiveIndex):
            live = entry.index
            if live.seq == row.last_seq:
                return live.garbage_ratio >= COMPACT_RATIO
        covered = saved_state(self.path(row.id))
        if covered is None:
            return False
        seq, ntotal = covered
        return records.dead_since(conn, row.id, seq) >= COMPACT_RATIO * max(1, ntotal)

    def forget(self, collection_id: int, *, files: bool = False) -> None:
        """Drop the cached index (and with ``files``, its index files)."""
        with self._lock:
            self._entries.pop(collection_id, None)
        if files and self.folder.is_dir():
            with self._files(collection_id, exclusive=True):
                remove_files(self.path(collection_id))

    @contextmanager
    def _files(self, collection_id: int, *, exclusive: bool) -> Iterator[None]:
        """Hold ``c<id>.lock``: one process writes a collection's index files while
        none reads them, so a reader never pairs a new index with an old sidecar."""
        path = self.folder / f"c{collection_id}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def cached_seq(self, collection_id: int) -> int | None:
        """The sequence the cached index reflects (None if nothing cached); for tests."""
        with self._lock:
            entry = self._entries.get(collection_id)
            return None if entry is None else entry.seq

    def cached(self, collection_id: int) -> Index | None:
        with self._lock:
            entry = self._entries.get(collection_id)
            return None if entry is None else entry.index


def load_spec(conn: sqlite3.Connection, collection_id: int) -> IndexSpec:
    stored = catalog.index_spec_json(conn, collection_id)
    return IndexSpec() if stored is None else IndexSpec.model_validate_json(stored)


def saved_state(path: Path) -> tuple[int, int] | None:
    """(covers_seq, ntotal) of a saved index, or ``None`` if there is no readable one."""
    try:
        meta = read_sidecar(path)
    except StoreError:
        return None
    return int(meta["covers_seq"]), int(meta.get("ntotal", 0))
