"""The durable outbox and state store: round trip, durability, idempotence, bound, atomicity."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from monitor.errors import EXIT_FAILURE, StartupError
from monitor.store import DB_NAME, Store, StoreCorrupt, StoreError

REPO = Path(__file__).resolve().parents[1]


def alerts(*ids: str, topic: str = "chokepoint/alerts/info/transit") -> list[tuple[str, str, bytes]]:
    return [(i, topic, f'{{"id":"{i}"}}'.encode()) for i in ids]


def test_commit_pending_ack_round_trip(tmp_path: Path) -> None:
    """Committed alerts come back oldest first with their topic and payload; ack removes exactly those."""
    with Store(tmp_path) as store:
        store.commit(alerts("a", "b"))
        store.commit([("c", "chokepoint/alerts/critical/dark", b"\x00binary\xff")])
        rows = store.pending()
        assert [(topic, payload) for _, topic, payload in rows] == [
            ("chokepoint/alerts/info/transit", b'{"id":"a"}'),
            ("chokepoint/alerts/info/transit", b'{"id":"b"}'),
            ("chokepoint/alerts/critical/dark", b"\x00binary\xff"),
        ]
        rowids = [r for r, _, _ in rows]
        assert rowids == sorted(rowids)
        assert store.depth == 3
        assert store.pending(limit=1) == rows[:1]
        assert store.pending(after=rowids[0]) == rows[1:]
        store.ack([rowids[1]])
        assert store.pending() == [rows[0], rows[2]]
        assert store.depth == 2
        store.ack([rowids[0], rowids[2], 999_999])  # an unknown rowid is ignored, not counted
        assert store.pending() == []
        assert store.depth == 0


def test_rowids_are_never_reused_after_the_outbox_empties(tmp_path: Path) -> None:
    """A reader's `after` cursor stays valid: rows queued after the outbox emptied get larger rowids."""
    with Store(tmp_path) as store:
        store.commit(alerts("a", "b"))
        last = store.pending()[-1][0]
        store.ack(r for r, _, _ in store.pending())
        store.commit(alerts("c"))
        assert [r for r, _, _ in store.pending(after=last)] != []


def test_durable_across_close_and_reopen(tmp_path: Path) -> None:
    """Alerts and state committed before close() are there after reopening, and depth is recounted."""
    with Store(tmp_path) as store:
        store.commit(alerts("a", "b"), {"engine": b"\x01\x02"})
        store.ack([store.pending()[0][0]])
    with Store(tmp_path) as store:
        assert [p for _, _, p in store.pending()] == [b'{"id":"b"}']
        assert store.depth == 1
        assert store.load_state() == {"engine": b"\x01\x02"}


def test_durable_across_sigkill_of_the_committing_process(tmp_path: Path) -> None:
    """A process SIGKILLed right after commit() returned (no close, no atexit) lost nothing."""
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from monitor.store import Store
        store = Store(Path({str(tmp_path)!r}))
        store.commit([("k1", "t/1", b"one"), ("k2", "t/2", b"two")], {{"engine": b"state-1"}})
        os.kill(os.getpid(), 9)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, timeout=60, check=False
    )
    assert result.returncode == -9, result.stderr.decode()
    # The WAL was not checkpointed by a close: the rows live only in monitor.db-wal.
    assert (tmp_path / f"{DB_NAME}-wal").stat().st_size > 0
    with Store(tmp_path) as store:
        assert [(t, p) for _, t, p in store.pending()] == [("t/1", b"one"), ("t/2", b"two")]
        assert store.load_state() == {"engine": b"state-1"}


def test_an_alert_id_already_queued_is_not_queued_twice(tmp_path: Path) -> None:
    """Committing the same alert id again (same batch or later) keeps one copy, the first."""
    with Store(tmp_path) as store:
        store.commit([("a", "t", b"first"), ("b", "t", b"b"), ("a", "t", b"again")])
        store.commit([("a", "t", b"later")])
        assert [p for _, _, p in store.pending()] == [b"first", b"b"]
        assert store.depth == 2


def test_full_outbox_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    """Beyond max_outbox the oldest alerts go, `dropped` counts them, one outbox_full warning per commit."""
    with Store(tmp_path, max_outbox=3) as store:
        store.commit(alerts("a", "b"))
        with capture_logs() as logs:
            store.commit(alerts("c", "d", "e"))
        assert [p for _, _, p in store.pending()] == [b'{"id":"c"}', b'{"id":"d"}', b'{"id":"e"}']
        assert store.depth == 3
        assert store.dropped == 2
        full = [e for e in logs if e["event"] == "outbox_full"]
        assert len(full) == 1
        assert full[0]["log_level"] == "warning"
        assert full[0]["dropped"] == 2
        with capture_logs() as logs:
            store.commit(alerts("f", "g", "h", "i", "j"))  # a batch larger than the bound keeps its newest
        assert [p for _, _, p in store.pending()] == [b'{"id":"h"}', b'{"id":"i"}', b'{"id":"j"}']
        assert store.dropped == 7
        assert [e["dropped"] for e in logs if e["event"] == "outbox_full"] == [5]


def test_state_upsert_and_delete_commit_with_the_alerts(tmp_path: Path) -> None:
    """State keys are inserted, replaced and deleted (None) in the same commit as the alerts."""
    with Store(tmp_path) as store:
        store.commit(alerts("a"), {"x": b"1", "y": b"2"})
        store.commit([], {"x": b"3", "y": None, "z": b""})
        assert store.load_state() == {"x": b"3", "z": b""}
        store.commit([], {"never-set": None})
        assert store.load_state() == {"x": b"3", "z": b""}


@pytest.mark.parametrize(
    ("outgoing", "state"),
    [
        # A bad payload after good alerts, with good state: the alerts already inserted are rolled back.
        ([("a", "t", b"ok"), ("b", "t", b"ok"), ("c", "t", "not bytes")], {"engine": b"new"}),
        # Good alerts, then a bad state value: the alerts are rolled back with it.
        ([("a", "t", b"ok")], {"engine": b"new", "bad": 42}),
    ],
    ids=["bad-payload", "bad-state-value"],
)
def test_a_failure_mid_commit_leaves_neither_alerts_nor_state(
    tmp_path: Path, outgoing: list[tuple[str, str, object]], state: dict[str, object]
) -> None:
    """commit() is one transaction: an error part-way writes nothing, and the store stays usable."""
    with Store(tmp_path) as store:
        store.commit(alerts("old"), {"engine": b"old"})
        with pytest.raises(TypeError):
            store.commit(outgoing, state)  # type: ignore[arg-type]
        assert [p for _, _, p in store.pending()] == [b'{"id":"old"}']
        assert store.depth == 1
        assert store.load_state() == {"engine": b"old"}
        store.commit(alerts("next"), {"engine": b"next"})
        assert store.depth == 2
    with Store(tmp_path) as store:  # and nothing half-written reached the file
        assert [p for _, _, p in store.pending()] == [b'{"id":"old"}', b'{"id":"next"}']
        assert store.load_state() == {"engine": b"next"}


def test_database_uses_wal_and_synchronous_full(tmp_path: Path) -> None:
    """The connection runs in WAL mode with synchronous=FULL (2), and the file is in WAL mode."""
    with Store(tmp_path) as store:
        db = store._db  # the pragmas are per connection: ask the store's own
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2
    with sqlite3.connect(tmp_path / DB_NAME) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.close()


def test_creates_a_missing_state_directory(tmp_path: Path) -> None:
    """The state directory (and its parents) is created on first use."""
    directory = tmp_path / "a" / "b"
    with Store(directory) as store:
        store.commit(alerts("a"))
    assert (directory / DB_NAME).is_file()


def test_refuses_a_state_directory_that_cannot_be_created(tmp_path: Path) -> None:
    """A state path under a regular file fails start-up with one line naming the path, exit code 1 (an I/O
    problem that may clear: systemd retries; only a bad configuration exits 3)."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError) as info:
        Store.open(blocker / "state")
    assert isinstance(info.value, StartupError)
    assert info.value.exit_code == EXIT_FAILURE
    message = str(info.value)
    assert "\n" not in message
    assert str(blocker / "state") in message


def test_a_file_that_is_not_a_database_is_moved_aside(tmp_path: Path) -> None:
    """A monitor.db that is not SQLite: Store() says so (StoreCorrupt, naming the file); Store.open moves it
    to monitor.db.corrupt-<UTC time> (with its -wal and -shm when there are any), logs one state_corrupt
    error naming the file and the problem, and starts a fresh, working store; opening again is quiet."""
    junk = b"this is not an SQLite database" * 100
    (tmp_path / DB_NAME).write_bytes(junk)
    with pytest.raises(StoreCorrupt, match=DB_NAME):
        Store(tmp_path)
    with capture_logs() as logs, Store.open(tmp_path) as store:
        store.commit(alerts("a"), {"engine": b"{}"})
        assert store.depth == 1
    errors = [e for e in logs if e["log_level"] == "error"]
    assert [e["event"] for e in errors] == ["state_corrupt"]
    assert errors[0]["file"] == str(tmp_path / DB_NAME) and "not a database" in errors[0]["problem"]
    moved = sorted(p.name for p in tmp_path.glob(f"{DB_NAME}.corrupt-*"))
    assert len(moved) == 1 and moved[0].endswith("Z")
    assert (tmp_path / moved[0]).read_bytes() == junk
    assert errors[0]["moved_to"] == str(tmp_path / moved[0])
    with capture_logs() as logs, Store.open(tmp_path) as store:
        assert store.load_state() == {"engine": b"{}"}
    assert logs == []


def test_discard_moves_the_database_aside_and_keeps_the_queued_alerts(tmp_path: Path) -> None:
    """State the engine refused: discard() moves the file aside with one error event, and the fresh store
    still holds the alerts that were queued (in order), but none of the state."""
    store = Store(tmp_path)
    store.commit(alerts("a", "b", "c"), {"engine": b"garbage", "v:1": b"more"})
    store.ack([store.pending()[0][0]])
    with capture_logs() as logs:
        fresh = store.discard("state row 'engine': not a JSON state value", event="state_corrupt")
    with fresh:
        assert [p for _, _, p in fresh.pending()] == [b'{"id":"b"}', b'{"id":"c"}']
        assert fresh.depth == 2
        assert fresh.load_state() == {}
    assert [(e["event"], e["log_level"], e["alerts_kept"]) for e in logs] == [("state_corrupt", "error", 2)]
    assert len(list(tmp_path.glob(f"{DB_NAME}.corrupt-*"))) >= 1


def test_a_newer_schema_is_moved_aside_not_misread(tmp_path: Path) -> None:
    """A database written by a newer program (user_version above ours) is not used: moved aside."""
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(StoreCorrupt, match="newer"):
        Store(tmp_path)
    with capture_logs() as logs, Store.open(tmp_path):
        pass
    assert [e["event"] for e in logs] == ["state_corrupt"]
