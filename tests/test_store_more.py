"""The store (monitor.store) when another writer holds the database, when a value has the wrong type, and
when a file is moved aside twice; every check of what is on disk goes through a separate sqlite3
connection, not through the store itself."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from monitor.store import DB_NAME, Store, StoreCorrupt, StoreWriteError


def alerts(*ids: str) -> list[tuple[str, str, bytes]]:
    return [(i, "chokepoint/alerts/info/transit", f'{{"id":"{i}"}}'.encode()) for i in ids]


def on_disk(directory: Path) -> tuple[list[str], dict[str, bytes]]:
    """The queued alert ids (oldest first) and the state rows, read with a connection of our own."""
    return _read(sqlite3.connect(directory / DB_NAME))


def _read(db: sqlite3.Connection) -> tuple[list[str], dict[str, bytes]]:
    try:
        ids = [r[0] for r in db.execute("SELECT alert_id FROM outbox ORDER BY seq")]
        state = {k: bytes(v) for k, v in db.execute("SELECT key, value FROM state")}
    finally:
        db.close()
    return ids, state


@contextmanager
def write_locked(directory: Path) -> Iterator[None]:
    """Another process's write transaction on the database (what a disk that refuses writes looks like to
    the store: SQLITE_BUSY, an OperationalError)."""
    other = sqlite3.connect(directory / DB_NAME, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def impatient(store: Store) -> Store:
    """The store's connection gives up on a lock after 50 ms instead of 5 s, so a test does not wait."""
    store._db.execute("PRAGMA busy_timeout = 50")
    return store


def test_max_outbox_must_be_positive(tmp_path: Path) -> None:
    """An outbox bound below one is a programming error, refused before any file is made."""
    with pytest.raises(ValueError, match="max_outbox must be at least 1, not 0"):
        Store(tmp_path / "s", max_outbox=0)
    assert not (tmp_path / "s").exists()


def test_a_state_key_that_is_not_a_string_writes_nothing(tmp_path: Path) -> None:
    """Alerts and state go in one transaction: a bad state key met mid-commit leaves neither on disk."""
    with Store(tmp_path) as store:
        store.commit(alerts("a"), {"engine": b"{}"})
        with pytest.raises(TypeError, match="state key must be str, not int"):
            store.commit(alerts("b"), {"v:1": b"[2]", 366123456: b"[2]"})  # type: ignore[dict-item]
        assert store.depth == 1
    assert on_disk(tmp_path) == (["a"], {"engine": b"{}"})


def test_an_empty_commit_is_a_no_op(tmp_path: Path) -> None:
    """Nothing to queue and nothing to save: no transaction, nothing changes, even with the database
    locked by another writer (a quiet feed does not touch the disk)."""
    with Store(tmp_path) as store:
        store.commit(alerts("a"))
        with write_locked(tmp_path):
            store.commit([], {})
        assert store.depth == 1


def test_a_commit_that_cannot_start_is_a_store_write_error_and_writes_nothing(tmp_path: Path) -> None:
    """When the database cannot be written (here locked by another writer) commit raises StoreWriteError
    naming the file, and nothing of that commit is on disk afterwards; the next commit works."""
    with impatient(Store(tmp_path)) as store:
        with write_locked(tmp_path), pytest.raises(StoreWriteError, match=f"{DB_NAME}: database is locked"):
            store.commit(alerts("a"), {"engine": b"{}"})
        assert store.depth == 0
        assert on_disk(tmp_path) == ([], {})
        store.commit(alerts("a"), {"engine": b"{}"})
        assert store.depth == 1
    assert on_disk(tmp_path) == (["a"], {"engine": b"{}"})


def test_an_ack_that_cannot_be_written_is_kept_and_written_with_the_next_commit(tmp_path: Path) -> None:
    """The broker has the acknowledged alerts whatever the disk says: an ack that cannot be written does not
    raise, the alerts are no longer pending (not sent twice) and depth drops; the next commit that succeeds
    deletes them on disk too."""
    with impatient(Store(tmp_path)) as store:
        store.commit(alerts("a", "b", "c"))
        rows = store.pending()
        with write_locked(tmp_path):
            store.ack([rows[0][0], rows[1][0]])
        assert store.pending() == rows[2:]
        assert store.pending(limit=1) == rows[2:]
        assert store.depth == 1
        assert on_disk(tmp_path)[0] == ["a", "b", "c"]  # still on disk: the delete could not be written
        with write_locked(tmp_path):
            store.ack([rows[0][0]])  # acknowledged again (a resend): counted once
        assert store.depth == 1
        store.commit([], {})  # no alerts and no state, but acks to write: the commit happens
        assert on_disk(tmp_path)[0] == ["c"]
        assert store.pending() == rows[2:]
        assert store.depth == 1


def test_a_pending_ack_is_written_by_the_next_successful_ack(tmp_path: Path) -> None:
    """Acks kept after a failed write are deleted together with the next ack that can be written."""
    with impatient(Store(tmp_path)) as store:
        store.commit(alerts("a", "b"))
        (ra, _, _), (rb, _, _) = store.pending()
        with write_locked(tmp_path):
            store.ack([ra])
        store.ack([rb])
        assert store.depth == 0
    assert on_disk(tmp_path)[0] == []


@pytest.mark.parametrize(("value", "sql_type"), [("{}", "text"), (2.5, "real")])
def test_a_state_value_of_another_type_is_corrupt_state(tmp_path: Path, value: object, sql_type: str) -> None:
    """A state value that is not a BLOB (written by something else than this program) is StoreCorrupt
    naming the database, so the daemon moves the file aside instead of crashing."""
    Store(tmp_path).close()
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute("INSERT INTO state (key, value) VALUES ('engine', ?)", (value,))
    db.commit()
    assert db.execute("SELECT typeof(value) FROM state").fetchone()[0] == sql_type
    db.close()
    with Store(tmp_path) as store, pytest.raises(StoreCorrupt, match=f"{DB_NAME}: cannot read the state"):
        store.load_state()


@pytest.mark.parametrize("value", [-1, 5, 2**62])
def test_an_integer_state_value_is_corrupt_state(tmp_path: Path, value: int) -> None:
    """An INTEGER state value is not a saved state either: StoreCorrupt, like TEXT and REAL (a negative one
    raised ValueError once, 5 read as five zero bytes, a huge one would allocate that many)."""
    Store(tmp_path).close()
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute("INSERT INTO state (key, value) VALUES ('engine', ?)", (value,))
    db.commit()
    db.close()
    with Store(tmp_path) as store, pytest.raises(StoreCorrupt, match="cannot read the state"):
        store.load_state()


def test_discarding_twice_keeps_both_files_apart(tmp_path: Path) -> None:
    """Two databases discarded within the same second are moved to two different names (neither
    overwrites the other), each still holding what it held, and the queued alerts follow into the fresh
    database each time."""
    store = Store(tmp_path)
    store.commit(alerts("a"), {"engine": b"first"})
    with capture_logs() as logs:
        store = store.discard("first problem")
        store.commit([], {"engine": b"second"})
        store = store.discard("second problem", event="state_refused")
    store.close()
    assert [(e["event"], e["problem"]) for e in logs] == [
        ("state_corrupt", "first problem"), ("state_refused", "second problem")
    ]
    moved = sorted(p for p in tmp_path.iterdir() if p.name.startswith(f"{DB_NAME}.corrupt-")
                   and not p.name.endswith(("-wal", "-shm")))
    assert len(moved) == 2
    assert {e["moved_to"] for e in logs} == {str(p) for p in moved}
    states = sorted(on_disk_file(p)[1]["engine"] for p in moved)
    assert states == [b"first", b"second"]
    assert all(on_disk_file(p)[0] == ["a"] for p in moved)
    assert on_disk(tmp_path) == (["a"], {})


def on_disk_file(path: Path) -> tuple[list[str], dict[str, bytes]]:
    """The same of a database file (a moved-aside one), opened read-only."""
    return _read(sqlite3.connect(f"file:{path}?mode=ro", uri=True))
