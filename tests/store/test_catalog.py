"""The SQLite catalog: file layout, durability settings, change log, cleanup, locking."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from heron.errors import StoreError
from heron.store import Store, open_store
from heron.store.catalog import DB_NAME, SCHEMA_VERSION

TABLES = ("records", "record_meta", "changes", "sources")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path / "home") as store:
        yield store


def _raw(store: Store) -> sqlite3.Connection:
    return sqlite3.connect(store.path / DB_NAME)


def _rows(store: Store, table: str) -> int:
    with _raw(store) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_opening_creates_one_wal_database(tmp_path: Path) -> None:
    with open_store(tmp_path / "new" / "home") as store:
        assert store.path == (tmp_path / "new" / "home").resolve()
        assert (store.path / DB_NAME).is_file()
        conn = store.catalog.conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000
        version = conn.execute("SELECT value FROM heron_meta WHERE key = 'schema_version'")
        assert version.fetchone()[0] == str(SCHEMA_VERSION)


def test_metadata_indexes_exist(store: Store) -> None:
    names = {r[0] for r in store.catalog.conn.execute("SELECT name FROM sqlite_master")}
    assert {"record_meta_str", "record_meta_num", "changes", "sources"} <= names


def test_a_file_is_not_a_store(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("hello")
    with pytest.raises(StoreError, match="is a file, not a folder") as err:
        open_store(target)
    assert err.value.hint and "heron.db" in err.value.hint
    with pytest.raises(StoreError, match="cannot create store folder"):
        open_store(target / "below")


def test_a_corrupt_database_is_reported(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="SQLite error") as err:
        open_store(tmp_path)
    assert err.value.hint and "move it away" in err.value.hint


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    open_store(tmp_path).close()
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        conn.execute("UPDATE heron_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="newer Heron"):
        open_store(tmp_path)


@pytest.mark.parametrize(
    ("version", "missing"), [(1, ["collection_index", "changes_pruned"]), (2, ["changes_pruned"])]
)
def test_an_older_store_is_upgraded_in_place(
    tmp_path: Path, version: int, missing: list[str]
) -> None:
    with open_store(tmp_path) as store:
        store.create_collection("old", embedder="hash:8").add(["a"], documents=["kept"])
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        for table in missing:
            conn.execute(f"DROP TABLE {table}")
        conn.execute(f"UPDATE heron_meta SET value = '{version}' WHERE key = 'schema_version'")
    conn.close()
    with open_store(tmp_path) as store:
        col = store.get_collection("old")
        assert col.get().documents == ["kept"] and col.info().index.startswith("auto")
        col.set_index("hnsw")
        assert col.compact().log_pruned == 1
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        version = conn.execute("SELECT value FROM heron_meta WHERE key = 'schema_version'")
        assert version.fetchone()[0] == str(SCHEMA_VERSION)
    conn.close()


def test_a_full_disk_fails_the_write_cleanly(tmp_path: Path) -> None:
    """SQLITE_FULL (simulated by capping the file's pages) rolls the batch back whole."""
    with open_store(tmp_path) as store:
        col = store.create_collection("c", embedder="hash:8")
        col.add(["a"], documents=["before the disk filled up"])
        conn = store.catalog.conn
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(StoreError, match="disk holding .* is full") as err:
            col.add([f"x{i}" for i in range(500)], documents=["filler text " * 50] * 500)
        assert err.value.hint and "free some space" in err.value.hint
        conn.execute("PRAGMA max_page_count = 1073741823")
        assert col.count() == 1 and col.get().ids == ["a"]
        col.add(["b"], documents=["after space was freed"])
        assert col.count() == 2


def test_bad_open_arguments(tmp_path: Path) -> None:
    from heron.errors import InputError

    with pytest.raises(InputError):
        open_store(tmp_path, timeout_s=0)
    with pytest.raises(InputError):
        open_store(123)  # type: ignore[arg-type]


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.list_collections()


def test_change_log_has_one_row_per_record_change(store: Store) -> None:
    col = store.create_collection("c", embedder="hash:16")
    col.add(["a", "b"], documents=["one", "two"])
    col.update(["a"], metadatas=[{"x": 1}])
    col.delete(ids=["b"])
    with _raw(store) as conn:
        ops = conn.execute("SELECT seq, op FROM changes ORDER BY seq").fetchall()
        record_seq = conn.execute("SELECT seq FROM records WHERE external_id = 'a'").fetchone()[0]
    assert [op for _, op in ops] == ["add", "add", "update_meta", "delete"]
    assert [seq for seq, _ in ops] == [1, 2, 3, 4]
    assert record_seq == 3 and col.info().last_seq == 4


def test_sequences_and_ids_are_never_reused(store: Store) -> None:
    col = store.create_collection("c", embedder="hash:16")
    col.add(["a"], documents=["one"])
    store.delete_collection("c")
    again = store.create_collection("c", embedder="hash:16")
    again.add(["a"], documents=["one"])
    with _raw(store) as conn:
        collection_id, record_id, seq = conn.execute(
            "SELECT collection_id, id, seq FROM records"
        ).fetchone()
    assert (collection_id, record_id, seq) == (2, 2, 2)


def test_deleting_a_collection_removes_every_row(store: Store) -> None:
    keep = store.create_collection("keep", embedder="hash:16")
    keep.add(["k"], documents=["kept"], metadatas=[{"t": "x"}])
    gone = store.create_collection("gone", embedder="hash:16")
    gone.replace_source("s.md", "h", ["g1", "g2"], ["a", "b"], None, [{"t": "y"}, {"t": ["z"]}])
    before = {table: _rows(store, table) for table in TABLES}
    store.delete_collection("gone")
    after = {table: _rows(store, table) for table in TABLES}
    assert after == {"records": 1, "record_meta": 1, "changes": 1, "sources": 0}
    assert before["records"] == 3
    tables = {r[0] for r in store.catalog.conn.execute("SELECT name FROM sqlite_master")}
    assert "fts_2" not in tables and "fts_1" in tables


def test_a_busy_writer_times_out_with_a_clear_error(tmp_path: Path) -> None:
    with open_store(tmp_path, timeout_s=0.2) as store:
        col = store.create_collection("c", embedder="hash:16")
        blocker = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreError, match="locked by another writer") as err:
                col.add(["a"], documents=["blocked"])
            assert err.value.hint and "timeout" in err.value.hint
            assert col.count() == 0  # readers are not blocked by the writer
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        col.add(["a"], documents=["now it works"])
        assert col.count() == 1


def test_collections_share_no_keyword_statistics(store: Store) -> None:
    one = store.create_collection("one", embedder="hash:16")
    two = store.create_collection("two", embedder="hash:16")
    one.add(["a", "b"], documents=["apple pie", "banana bread"])
    two.add(["c"], documents=["apple tart"])
    assert [h.id for h in one.keyword_search("apple")] == ["a"]
    score_before = two.keyword_search("apple")[0].score
    one.add(["d"], documents=["apple apple apple"])
    assert two.keyword_search("apple")[0].score == score_before


def test_one_store_can_be_shared_by_threads(store: Store) -> None:
    import threading

    col = store.create_collection("t", embedder="hash:16")
    errors: list[BaseException] = []

    def writer(start: int) -> None:
        try:
            for i in range(start, start + 20):
                col.add([f"id{i}"], documents=[f"text {i}"])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(20):
                col.query(texts=["text"], k=3)
                col.count()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(s,)) for s in (0, 100)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and col.count() == 40
