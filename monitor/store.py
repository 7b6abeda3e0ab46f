"""The durable outbox and the engine's key/value state: one SQLite database, `monitor.db`.

Why one database: a batch's alerts and the engine state that produced them are written in ONE
transaction. After a crash the daemon restarts from a state that matches exactly the alerts already
queued, so an alert is neither lost (state advanced, alert not queued) nor raised twice from the same
input (alert queued, state not advanced).

Durability: WAL journal with `synchronous=FULL`, so every commit is fsynced to the WAL before
`commit()` returns: a power cut after `commit()` loses nothing. (WAL's default, NORMAL, may lose the
last transactions on power loss; the daemon's promise is "a committed alert is sent", so we pay one
fsync per batch, not per alert.)

At-least-once: an alert leaves the outbox only through `ack()`, which the publisher calls after the
broker's PUBACK. A crash between PUBACK and `ack()` sends the alert again; subscribers de-duplicate on
the alert id (CONTRACT.md).

Used from one thread (the event loop): every call is synchronous and short (executemany, one commit per
call), so it needs no executor and no locking.

Faults, and who decides what (README "State and disk faults"):
- at start, a directory or database that cannot be opened or written (permissions, disk full, I/O error)
  is StoreError, exit 1: systemd retries, and the fault may well clear (space freed, disk remounted);
- a file that is not a usable database (corrupt, not SQLite, a newer program's schema) is StoreCorrupt;
  `Store.open` then moves it aside (`monitor.db.corrupt-<UTC time>`, with its -wal and -shm) and starts
  a fresh one, as `discard` does for state rows the engine refuses: never a restart loop;
- while running, a write that fails for the disk (full, read-only, I/O error) is StoreWriteError and
  changes nothing; the daemon keeps the alerts and retries. An `ack` that cannot be written is kept in
  memory (those rows are no longer pending) and written with the next successful write. An operator's
  action (acknowledging an alert, adding or ending a snooze) that cannot be written is refused
  (StoreWriteError) and changes nothing: the operator is told and tries again.

Besides the outbox (alerts still to publish) the database keeps what the operator's HTTP API shows and
does (monitor.operator): `alerts`, the last `max_history` alerts raised, written in the same transaction
as the outbox, each with whether a snooze kept it from being published and the operator's
acknowledgement; `snoozes`; and `sink_outbox`, each [[sinks]] entry's own queue (monitor.sinks.base),
filled in the same transaction as the outbox and emptied by its sink alone. These tables were added
without a new schema version: an older program ignores tables it does not know, and this one creates
them in an older file (`_prepare`).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal, Self

import structlog

from monitor.errors import EXIT_FAILURE, MonitorError, StartupError

__all__ = ["DB_NAME", "Store", "StoreCorrupt", "StoreError", "StoreWriteError"]

DB_NAME: Final = "monitor.db"
# 2: state values are versioned JSON (monitor.savedstate), no longer pickle/marshal. The tables are those
# of 1, so a version-1 file opens (its state rows are then refused and the file moved aside, its queued
# alerts carried over); a program of version 1 refuses a version-2 file with one line.
_SCHEMA_VERSION: Final = 2
# SQLite primary result codes (extended codes carry them in the low byte).
_SQLITE_CORRUPT: Final = 11
_SQLITE_NOTADB: Final = 26
_EMPTY_STATE: Final[Mapping[str, bytes | None]] = MappingProxyType({})

_log = structlog.get_logger(__name__)

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS outbox (
    -- AUTOINCREMENT: a rowid is never reused, even after the outbox was emptied, so a reader's
    -- `pending(after=last_seen)` cursor cannot skip rows queued later.
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS state (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alerts (
    -- The alerts /api/alerts lists, newest max_history kept: the CONTRACT JSON (as published), whether a
    -- snooze held it back from the sinks, and the operator's acknowledgement (JSON {by, note, time}).
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id TEXT NOT NULL UNIQUE,
    payload BLOB NOT NULL,
    snoozed INTEGER NOT NULL DEFAULT 0,
    ack TEXT
);
CREATE TABLE IF NOT EXISTS sink_outbox (
    -- Each [[sinks]] entry's own queue (monitor.sinks), filled in the same transaction as the MQTT
    -- outbox and emptied by that sink alone: one sink's outage holds up no other. `sink` is its name.
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sink TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    UNIQUE (sink, alert_id)
);
CREATE INDEX IF NOT EXISTS sink_outbox_order ON sink_outbox (sink, seq);
CREATE TABLE IF NOT EXISTS snoozes (
    -- AUTOINCREMENT: an id once ended is never given to another snooze, so a DELETE sent twice cannot
    -- end a newer one.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mmsi INTEGER NOT NULL,
    kind TEXT NOT NULL,
    until REAL NOT NULL,
    reason TEXT NOT NULL,
    created TEXT NOT NULL
);
"""
# Every table the schema makes: a file lacking one of them (written before it was added) gets it.
_TABLES: Final = frozenset(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", _SCHEMA))


class StoreError(StartupError):
    """The state directory or its database cannot be opened or written at start.

    Exit code 1: a directory that cannot be created yet, a full or read-only disk, an I/O error may well
    clear (space freed, a disk remounted), so systemd's Restart=on-failure retries. Only a bad
    configuration exits 3.
    """

    exit_code = EXIT_FAILURE

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class StoreCorrupt(StoreError):
    """The file is not a database this program can use: corrupt, not SQLite, or a newer schema.
    `Store.open` moves it aside and starts fresh."""


class StoreWriteError(MonitorError):
    """A write failed for the disk (full, read-only, I/O error) while running; nothing was written."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def _disk_fault(exc: BaseException) -> bool:
    """An error of the disk or the file, not of the program: worth a retry once space returns.
    (ProgrammingError, IntegrityError and the like are bugs and propagate.)"""
    if isinstance(exc, OSError):
        return True
    return type(exc) in (sqlite3.OperationalError, sqlite3.DatabaseError)


def _corrupt(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


def _error(path: Path, exc: sqlite3.Error, doing: str) -> StoreError:
    cls = StoreCorrupt if _corrupt(exc) else StoreError
    return cls(path, f"{doing}: {exc}")


def _blob(value: object, what: str) -> bytes:
    # sqlite3 would silently store a str as TEXT (and return a str later), so check here. Called
    # lazily inside executemany: a wrong value met mid-batch rolls the whole transaction back.
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be bytes, not {type(value).__name__}")


def _text(value: object, what: str) -> str:
    if isinstance(value, str):
        return value
    raise TypeError(f"{what} must be str, not {type(value).__name__}")


class Store:
    """Outbox of alerts to publish plus the engine's key/value state, in `directory/monitor.db`.

    Outbox bound: at most `max_outbox` alerts are queued. When a commit would exceed it, the OLDEST
    queued alerts are dropped (counted in `dropped`, one `outbox_full` warning per commit). Oldest,
    because during a long broker outage the newest alerts describe the current situation, and an
    operator reconnecting wants those; the oldest are the most likely to be stale.
    """

    def __init__(self, directory: Path, *, max_outbox: int = 1_000_000, max_history: int = 10_000) -> None:
        if max_outbox < 1:
            raise ValueError(f"max_outbox must be at least 1, not {max_outbox}")
        if max_history < 1:
            raise ValueError(f"max_history must be at least 1, not {max_history}")
        self.directory = Path(directory)
        self.path = self.directory / DB_NAME
        self.max_outbox = max_outbox
        self.max_history = max_history  # alerts kept in the `alerts` table (http.recent_alerts)
        self.dropped = 0  # dropped since start because the outbox was full
        self._unacked: set[int] = set()  # acknowledged rows whose DELETE could not be written yet
        # The same for the sinks' queues (monitor.sinks): their rows by seq, their depths and drops by sink.
        self._sink_unacked: set[int] = set()
        self._sink_depth: dict[str, int] = {}
        self.sink_dropped: dict[str, int] = {}
        self._read_failing = False
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                self.directory, f"cannot create the state directory: {exc.strerror or exc}"
            ) from exc
        try:
            # isolation_level=None: no implicit transactions; commit() opens and ends its own.
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=5.0)
        except sqlite3.Error as exc:
            raise _error(self.path, exc, "cannot open the database") from exc
        try:
            self._depth = self._prepare()
        except sqlite3.Error as exc:
            with suppress(sqlite3.Error):
                self._db.close()
            if isinstance(exc, _NewerSchema):
                raise StoreCorrupt(self.path, f"cannot use the database: {exc}") from exc
            raise _error(self.path, exc, "cannot use the database") from exc

    @classmethod
    def open(cls, directory: Path, *, max_outbox: int = 1_000_000, max_history: int = 10_000) -> Store:
        """Open the store; a file that is not a usable database is moved aside (one `state_corrupt` error
        event naming it and the problem) and a fresh one started. StoreError for anything else."""
        try:
            return cls(directory, max_outbox=max_outbox, max_history=max_history)
        except StoreCorrupt as exc:
            moved = _move_aside(exc.path)
            fresh = cls(directory, max_outbox=max_outbox, max_history=max_history)
            kept = fresh._copy_outbox(moved)  # (most often nothing can be read from a corrupt file)
            _log.error("state_corrupt", file=str(exc.path), problem=exc.problem, moved_to=str(moved),
                       alerts_kept=kept, note="started with a fresh state database")
            return fresh

    def discard(self, problem: str, event: str = "state_corrupt") -> Store:
        """The state in this database cannot be used (the engine refused a row): move the file aside,
        log one error `event` naming it and the problem, and return a fresh store in its place, holding
        the queued alerts that could still be read (a committed alert is still sent). This store is closed."""
        with suppress(sqlite3.Error):
            self._db.close()
        moved = _move_aside(self.path)
        fresh = Store(self.directory, max_outbox=self.max_outbox, max_history=self.max_history)
        kept = fresh._copy_outbox(moved)
        _log.error(event, file=str(self.path), problem=problem, moved_to=str(moved), alerts_kept=kept,
                   note="started with a fresh state database")
        return fresh

    def _copy_outbox(self, other: Path) -> int:
        """Queue the alerts of another store file (a moved-aside one), oldest first; 0 if it cannot be
        read. Its snoozes come along too: the operator's decisions are not the engine's state that was
        refused, and losing them would publish what the operator silenced."""
        db = self._db
        try:
            db.execute("ATTACH DATABASE ? AS old", (str(other),))
        except sqlite3.Error:
            return 0
        try:
            db.execute("BEGIN IMMEDIATE")
            cursor = db.execute(
                "INSERT OR IGNORE INTO outbox (alert_id, topic, payload) SELECT alert_id, topic, payload"
                " FROM old.outbox WHERE typeof(alert_id) = 'text' AND typeof(topic) = 'text'"
                " AND typeof(payload) = 'blob' ORDER BY seq"
            )
            added = max(cursor.rowcount, 0)
            db.execute("COMMIT")
        except sqlite3.Error:
            _roll_back(db)
            added = 0
        try:
            # The sinks' queues too (a file from before sinks existed has none).
            db.execute(
                "INSERT OR IGNORE INTO sink_outbox (sink, alert_id, payload) SELECT sink, alert_id, payload"
                " FROM old.sink_outbox WHERE typeof(sink) = 'text' AND typeof(alert_id) = 'text'"
                " AND typeof(payload) = 'blob' ORDER BY seq"
            )
            self._count_sinks()
        except sqlite3.Error:
            pass
        try:
            # (A file from before snoozes existed has no such table: nothing to carry over.)
            db.execute(
                "INSERT INTO snoozes (mmsi, kind, until, reason, created) SELECT mmsi, kind, until,"
                " reason, created FROM old.snoozes WHERE typeof(mmsi) = 'integer' AND typeof(kind) = 'text'"
                " AND typeof(until) = 'real' AND typeof(reason) = 'text' AND typeof(created) = 'text'"
                " ORDER BY id"
            )
        except sqlite3.Error:
            pass
        finally:
            with suppress(sqlite3.Error):
                db.execute("DETACH DATABASE old")
        self._depth += added
        return added

    def _prepare(self) -> int:
        db = self._db
        # Both pragmas are checked, not assumed: a file system without shared memory support can
        # refuse WAL, and then the promise above would be silently weaker.
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"WAL journal mode refused (got {mode!r})")
        db.execute("PRAGMA synchronous=FULL")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > _SCHEMA_VERSION:
            raise _NewerSchema(f"schema version {version} is newer than this program's ({_SCHEMA_VERSION})")
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if version != _SCHEMA_VERSION or not _TABLES.issubset(tables):
            # Written only when needed: a daemon restarted on a full disk opens its database read-only
            # in effect, and its first write (not the start) meets the fault.
            db.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}PRAGMA user_version={_SCHEMA_VERSION};COMMIT;")
        depth: int = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        self._count_sinks()
        return depth

    def _count_sinks(self) -> None:
        rows = self._db.execute("SELECT sink, COUNT(*) FROM sink_outbox GROUP BY sink")
        self._sink_depth = {str(sink): int(n) for sink, n in rows}

    @property
    def depth(self) -> int:
        """Alerts queued (cached: kept up to date by commit and ack, no COUNT(*) per call)."""
        return self._depth

    def commit(
        self,
        outgoing: Sequence[tuple[str, str, bytes]],
        state: Mapping[str, bytes | None] = _EMPTY_STATE,
        history: Sequence[tuple[str, bytes, bool]] = (),
        sinks: Sequence[tuple[str, str, bytes]] = (),
    ) -> None:
        """In ONE transaction: queue `outgoing` alerts (alert_id, topic, payload), upsert (bytes) or
        delete (None) the `state` keys, keep the `history` alerts (alert_id, payload, snoozed) for
        /api/alerts, and queue the `sinks` rows (sink name, alert_id, payload) in each sink's queue. All
        or nothing: on any error nothing is written.

        An alert id already queued (or kept) is not queued (kept) again. When the outbox would hold more
        than `max_outbox` alerts, the oldest are dropped (see the class docstring); the history keeps the
        newest `max_history`.
        """
        if not outgoing and not state and not self._unacked and not history and not sinks \
                and not self._sink_unacked:
            return
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            if _disk_fault(exc):
                raise StoreWriteError(self.path, str(exc)) from exc
            raise
        try:
            if self._unacked:  # acks that could not be written before
                db.executemany("DELETE FROM outbox WHERE seq = ?", ((r,) for r in self._unacked))
            if self._sink_unacked:
                db.executemany("DELETE FROM sink_outbox WHERE seq = ?", ((r,) for r in self._sink_unacked))
            sink_added, sink_dropped = self._queue_for_sinks(sinks)
            added = 0
            if outgoing:
                cursor = db.executemany(
                    "INSERT OR IGNORE INTO outbox (alert_id, topic, payload) VALUES (?, ?, ?)",
                    self._alert_rows(outgoing),
                )
                added = max(cursor.rowcount, 0)
            if state:
                upserts = [(k, v) for k, v in state.items() if v is not None]
                deletes = [(k,) for k, v in state.items() if v is None]
                db.executemany(
                    "INSERT INTO state (key, value) VALUES (?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    ((_text(k, "state key"), _blob(v, f"state value {k!r}")) for k, v in upserts),
                )
                db.executemany(
                    "DELETE FROM state WHERE key = ?", ((_text(k, "state key"),) for (k,) in deletes)
                )
            if history:
                db.executemany(
                    "INSERT OR IGNORE INTO alerts (alert_id, payload, snoozed) VALUES (?, ?, ?)",
                    ((_text(i, "alert id"), _blob(p, f"payload of alert {i!r}"), int(bool(z)))
                     for i, p, z in history),
                )
                # The newest max_history by seq. (Counted, not a seq range: an alert id already kept
                # still uses up a seq, so seqs have gaps. The OFFSET walks the primary key's index.)
                db.execute(
                    "DELETE FROM alerts WHERE seq <= "
                    "(SELECT seq FROM alerts ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                    (self.max_history,),
                )
            excess = self._depth + added - self.max_outbox
            dropped = 0
            if excess > 0:
                cursor = db.execute(
                    "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?)", (excess,)
                )
                dropped = max(cursor.rowcount, 0)
            db.execute("COMMIT")
        except BaseException as exc:
            # BaseException: a KeyboardInterrupt mid-batch must not leave a transaction open either.
            _roll_back(db)
            if _disk_fault(exc):
                raise StoreWriteError(self.path, str(exc)) from exc
            raise
        self._unacked.clear()
        self._sink_unacked.clear()
        for sink, n in sink_added.items():
            self._sink_depth[sink] = self._sink_depth.get(sink, 0) + n - sink_dropped.get(sink, 0)
        for sink, n in sink_dropped.items():
            self.sink_dropped[sink] = self.sink_dropped.get(sink, 0) + n
            _log.warning("sink_queue_full", sink=sink, dropped=n, dropped_total=self.sink_dropped[sink],
                         max_alerts=self.max_outbox)
        self._depth += added - dropped
        if dropped:
            self.dropped += dropped
            _log.warning(
                "outbox_full", dropped=dropped, dropped_total=self.dropped, max_alerts=self.max_outbox
            )

    def _queue_for_sinks(
        self, rows: Sequence[tuple[str, str, bytes]]
    ) -> tuple[dict[str, int], dict[str, int]]:
        """Inside commit's transaction: queue the sinks' rows, then drop each sink's oldest beyond
        `max_outbox` (as the outbox does, for the same reason). Rows added and dropped, by sink."""
        by_sink: dict[str, list[tuple[str, str, bytes]]] = {}
        for sink, alert_id, payload in rows:
            by_sink.setdefault(_text(sink, "sink name"), []).append(
                (sink, _text(alert_id, "alert id"), _blob(payload, f"payload of alert {alert_id!r}"))
            )
        added: dict[str, int] = {}
        dropped: dict[str, int] = {}
        for sink, items in by_sink.items():
            cursor = self._db.executemany(
                "INSERT OR IGNORE INTO sink_outbox (sink, alert_id, payload) VALUES (?, ?, ?)", items
            )
            added[sink] = max(cursor.rowcount, 0)
            excess = self._sink_depth.get(sink, 0) + added[sink] - self.max_outbox
            if excess > 0:
                cursor = self._db.execute(
                    "DELETE FROM sink_outbox WHERE seq IN"
                    " (SELECT seq FROM sink_outbox WHERE sink = ? ORDER BY seq LIMIT ?)", (sink, excess)
                )
                dropped[sink] = max(cursor.rowcount, 0)
        return added, dropped

    # -- the sinks' queues (read and emptied by monitor.sinks.base) -------------------------------

    def sink_depth(self, sink: str) -> int:
        """Alerts queued for this sink (cached, like `depth`)."""
        return self._sink_depth.get(sink, 0)

    def sink_names(self) -> list[str]:
        """The sinks that have alerts queued, by name."""
        return sorted(k for k, n in self._sink_depth.items() if n > 0)

    def sink_pending(self, sink: str, limit: int = 64, after: int = 0) -> list[tuple[int, bytes]]:
        """Up to `limit` alerts queued for `sink` as (rowid, payload), oldest first, rowid > `after`. A disk
        fault reads as nothing to send (logged once, as `pending` does)."""
        rows = self._read_queue(
            "SELECT seq, payload FROM sink_outbox WHERE sink = ? AND seq > ? ORDER BY seq LIMIT ?",
            (sink, after, limit + len(self._sink_unacked)),
        )
        unacked = self._sink_unacked
        return [(int(seq), bytes(payload)) for seq, payload in rows if seq not in unacked][:limit]

    def sink_ack(self, sink: str, rowids: Iterable[int]) -> None:
        """Remove alerts the sink delivered. A disk fault keeps them in memory as delivered (not pending),
        deleted with the next write that succeeds, as `ack` does."""
        gone = self._delete_sent("sink_outbox", rowids, self._sink_unacked)
        self._sink_depth[sink] = max(0, self._sink_depth.get(sink, 0) - gone)

    @staticmethod
    def _alert_rows(outgoing: Iterable[tuple[str, str, bytes]]) -> Iterator[tuple[str, str, bytes]]:
        for alert_id, topic, payload in outgoing:
            yield (
                _text(alert_id, "alert id"),
                _text(topic, f"topic of alert {alert_id!r}"),
                _blob(payload, f"payload of alert {alert_id!r}"),
            )

    def pending(self, limit: int = 256, after: int = 0) -> list[tuple[int, str, bytes]]:
        """Up to `limit` queued alerts as (rowid, topic, payload), oldest first, with rowid > `after`."""
        rows = self._read_queue(
            "SELECT seq, topic, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, limit + len(self._unacked)),
        )
        unacked = self._unacked
        return [
            (int(seq), str(topic), bytes(payload)) for seq, topic, payload in rows if seq not in unacked
        ][:limit]

    def _read_queue(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        """The rows of a queue's read (the MQTT outbox's, a sink's). A sender must not die of a disk fault:
        it reads as nothing to send until the fault clears (the daemon's retry of its writes wakes the
        senders), logged once until a read succeeds again."""
        try:
            rows = self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            if not _disk_fault(exc):
                raise
            if not self._read_failing:
                self._read_failing = True
                _log.error("state_read_failed", file=str(self.path), error=str(exc))
            return []
        self._read_failing = False
        return rows

    def ack(self, rowids: Iterable[int]) -> None:
        """Remove sent alerts (the broker acknowledged them). Unknown rowids are ignored: an alert
        dropped for space while it was in flight is simply gone already."""
        self._depth = max(0, self._depth - self._delete_sent("outbox", rowids, self._unacked))

    def _delete_sent(self, table: Literal["outbox", "sink_outbox"], rowids: Iterable[int],
                     unacked: set[int]) -> int:
        """Delete delivered rows of `table` (the MQTT outbox or the sinks' queue), with those a disk fault
        kept in `unacked` before; returns how many left the queue.

        On a disk fault the receiver has them all the same: they are sent, whatever the disk says. They
        join `unacked` (not pending any more) and are deleted with the next write that succeeds; a crash
        first sends them again, which at-least-once allows."""
        keys = [(int(r),) for r in rowids]
        if not keys:
            return 0
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            if unacked:
                db.executemany(f"DELETE FROM {table} WHERE seq = ?", ((r,) for r in unacked))
            cursor = db.executemany(f"DELETE FROM {table} WHERE seq = ?", keys)
            db.execute("COMMIT")
        except BaseException as exc:
            _roll_back(db)
            if not _disk_fault(exc):
                raise
            new = {k for (k,) in keys} - unacked
            unacked |= new
            return len(new)
        unacked.clear()
        return max(cursor.rowcount, 0)

    def _write(self, sql: str, params: tuple[object, ...]) -> sqlite3.Cursor:
        """One statement in its own transaction (an operator's action). A disk fault is StoreWriteError
        and nothing is written."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            cursor = db.execute(sql, params)
            db.execute("COMMIT")
        except BaseException as exc:
            _roll_back(db)
            if _disk_fault(exc):
                raise StoreWriteError(self.path, str(exc)) from exc
            raise
        return cursor

    def set_ack(self, alert_id: str, ack: Mapping[str, str]) -> bool:
        """Record the operator's acknowledgement of a kept alert not acknowledged yet; False when no such
        alert is kept unacknowledged. StoreWriteError on a disk fault."""
        text = json.dumps(dict(ack), ensure_ascii=False, separators=(",", ":"))
        cursor = self._write("UPDATE alerts SET ack = ? WHERE alert_id = ? AND ack IS NULL", (text, alert_id))
        return cursor.rowcount > 0

    def add_snooze(self, mmsi: int, kind: str, until: float, reason: str, created: str) -> int:
        """Keep a new snooze; its id. StoreWriteError on a disk fault."""
        cursor = self._write(
            "INSERT INTO snoozes (mmsi, kind, until, reason, created) VALUES (?, ?, ?, ?, ?)",
            (int(mmsi), kind, float(until), reason, created),
        )
        rowid = cursor.lastrowid
        assert rowid is not None  # (an INSERT that returned sets it)
        return rowid

    def end_snoozes(self, ids: Iterable[int]) -> None:
        """Remove snoozes (ended early, or expired). StoreWriteError on a disk fault."""
        keys = sorted({int(i) for i in ids})
        if keys:
            marks = ",".join("?" * len(keys))
            self._write(f"DELETE FROM snoozes WHERE id IN ({marks})", tuple(keys))  # (placeholders only)

    def load_snoozes(self) -> list[tuple[int, int, str, float, str, str]]:
        """Every kept snooze as (id, mmsi, kind, until, reason, created), by id; StoreCorrupt for a row
        this program did not write (the daemon then starts with a fresh file, as for bad state)."""
        try:
            rows = self._db.execute(
                "SELECT id, mmsi, kind, until, reason, created FROM snoozes ORDER BY id"
            ).fetchall()
        except sqlite3.Error as exc:
            raise _error(self.path, exc, "cannot read the snoozes") from exc
        for row in rows:
            ident, mmsi, kind, until, reason, created = row
            ok = (isinstance(ident, int) and isinstance(mmsi, int) and isinstance(kind, str)
                  and isinstance(until, float) and isinstance(reason, str) and isinstance(created, str))
            if not ok or not 1 <= mmsi <= 999_999_999 or not 0.0 <= until < 4_102_444_800.0:
                raise StoreCorrupt(self.path, f"cannot read the snoozes: row {ident!r:.20} fails its checks")
        return rows

    def load_alerts(self) -> list[dict[str, object]]:
        """The kept alerts, oldest first, each the CONTRACT object plus `snoozed` (bool) and `ack` (the
        acknowledgement {by, note, time} or None); StoreCorrupt for a row that fails its checks."""
        try:
            rows = self._db.execute(
                "SELECT alert_id, payload, snoozed, ack FROM alerts ORDER BY seq"
            ).fetchall()
        except sqlite3.Error as exc:
            raise _error(self.path, exc, "cannot read the alerts") from exc
        out: list[dict[str, object]] = []
        for alert_id, payload, snoozed, ack in rows:
            alert = _json_object(payload) if isinstance(payload, bytes) else None
            acked = _json_object(ack) if isinstance(ack, str) else None
            if (alert is None or alert.get("id") != alert_id or snoozed not in (0, 1)
                    or (ack is not None and (acked is None or not _is_ack(acked)))):
                what = f"row {alert_id!r:.40} fails its checks"
                raise StoreCorrupt(self.path, f"cannot read the alerts: {what}")
            out.append({**alert, "snoozed": bool(snoozed), "ack": acked})
        return out

    def load_state(self) -> dict[str, bytes]:
        """Every state key and its value."""
        try:
            rows = self._db.execute("SELECT key, value FROM state").fetchall()
        except sqlite3.Error as exc:
            raise _error(self.path, exc, "cannot read the state") from exc
        for key, value in rows:
            # Saved state is BLOBs under TEXT keys; anything else (bytes() of an INTEGER would read that
            # many zero bytes, or allocate them) is not state this program wrote.
            if not isinstance(value, bytes) or not isinstance(key, str):
                what = f"row {key!r:.40} holds {type(value).__name__}, not bytes"
                raise StoreCorrupt(self.path, f"cannot read the state: {what}")
        return dict(rows)

    def close(self) -> None:
        """Close the database (idempotent). The last connection's close checkpoints the WAL; on a full
        disk it may not be able to, which loses nothing (the WAL is read back at the next open)."""
        with suppress(sqlite3.Error):
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _roll_back(db: sqlite3.Connection) -> None:
    """End the transaction a failed write left open, if any. (On a full disk SQLite may have rolled back
    already, and a ROLLBACK may fail as well: nothing more can be done then.)"""
    with suppress(sqlite3.Error):
        if db.in_transaction:
            db.execute("ROLLBACK")


def _json_object(raw: bytes | str) -> dict[str, object] | None:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # (UnicodeDecodeError is a ValueError)
        return None
    return value if isinstance(value, dict) else None


def _is_ack(value: Mapping[str, object]) -> bool:
    return set(value) == {"by", "note", "time"} and all(isinstance(v, str) for v in value.values())


class _NewerSchema(sqlite3.DatabaseError):
    """The file was written by a newer program (PRAGMA user_version above ours)."""


def _move_aside(path: Path) -> Path:
    """Rename the database and its -wal and -shm files to `<name>.corrupt-<UTC time>` (same suffixes), so
    they stay together for inspection; the name is made unique if that one is taken."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    for suffix in ("", "-wal", "-shm", "-journal"):
        src = Path(f"{path}{suffix}")
        if src.exists():
            try:
                os.replace(src, f"{target}{suffix}")
            except OSError as exc:
                problem = f"cannot move the unusable database aside: {exc.strerror or exc}"
                raise StoreError(src, problem) from exc
    return target
