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
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Final, Self

import structlog

from monitor.errors import EXIT_CONFIG, StartupError

__all__ = ["DB_NAME", "Store", "StoreError"]

DB_NAME: Final = "monitor.db"
_SCHEMA_VERSION: Final = 1
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
"""


class StoreError(StartupError):
    """The state directory or its database cannot be used.

    Exit code 3, like a bad config file: a path that cannot be created, a read-only directory or a
    database that is not one will not fix itself, and systemd's RestartPreventExitStatus=3 stops a
    restart loop that would only hide it.
    """

    exit_code = EXIT_CONFIG

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


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

    def __init__(self, directory: Path, *, max_outbox: int = 1_000_000) -> None:
        if max_outbox < 1:
            raise ValueError(f"max_outbox must be at least 1, not {max_outbox}")
        self.directory = Path(directory)
        self.path = self.directory / DB_NAME
        self.max_outbox = max_outbox
        self.dropped = 0  # dropped since start because the outbox was full
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
            raise StoreError(self.path, f"cannot open the database: {exc}") from exc
        try:
            self._depth = self._prepare()
        except sqlite3.Error as exc:
            self._db.close()
            raise StoreError(self.path, f"cannot use the database: {exc}") from exc

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
            raise sqlite3.DatabaseError(
                f"schema version {version} is newer than this program's ({_SCHEMA_VERSION})"
            )
        db.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}PRAGMA user_version={_SCHEMA_VERSION};COMMIT;")
        depth: int = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        return depth

    @property
    def depth(self) -> int:
        """Alerts queued (cached: kept up to date by commit and ack, no COUNT(*) per call)."""
        return self._depth

    def commit(
        self,
        outgoing: Sequence[tuple[str, str, bytes]],
        state: Mapping[str, bytes | None] = _EMPTY_STATE,
    ) -> None:
        """In ONE transaction: queue `outgoing` alerts (alert_id, topic, payload) and upsert (bytes) or
        delete (None) the `state` keys. All or nothing: on any error nothing is written.

        An alert id already queued is not queued again. When the outbox would hold more than
        `max_outbox` alerts, the oldest are dropped (see the class docstring).
        """
        if not outgoing and not state:
            return
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
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
            excess = self._depth + added - self.max_outbox
            dropped = 0
            if excess > 0:
                cursor = db.execute(
                    "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?)", (excess,)
                )
                dropped = max(cursor.rowcount, 0)
            db.execute("COMMIT")
        except BaseException:
            # BaseException: a KeyboardInterrupt mid-batch must not leave a transaction open either.
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self._depth += added - dropped
        if dropped:
            self.dropped += dropped
            _log.warning(
                "outbox_full", dropped=dropped, dropped_total=self.dropped, max_alerts=self.max_outbox
            )

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
        rows = self._db.execute(
            "SELECT seq, topic, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
        ).fetchall()
        return [(int(seq), str(topic), bytes(payload)) for seq, topic, payload in rows]

    def ack(self, rowids: Iterable[int]) -> None:
        """Remove sent alerts (the broker acknowledged them). Unknown rowids are ignored: an alert
        dropped for space while it was in flight is simply gone already."""
        keys = [(int(r),) for r in rowids]
        if not keys:
            return
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            cursor = db.executemany("DELETE FROM outbox WHERE seq = ?", keys)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self._depth -= max(cursor.rowcount, 0)

    def load_state(self) -> dict[str, bytes]:
        """Every state key and its value."""
        return {str(k): bytes(v) for k, v in self._db.execute("SELECT key, value FROM state")}

    def close(self) -> None:
        """Close the database (idempotent). The last connection's close checkpoints the WAL."""
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
