"""What every sink shares: its durable queue in the state database, and the loop that empties it in order.

The queue is a sink's own rows in the store's `sink_outbox` table (monitor.store), written in the SAME
transaction as the batch's alerts, the MQTT outbox and the engine state (monitor.service), so an alert
committed is queued for every sink that wants it, and survives a crash or a restart like the MQTT outbox.
Each sink reads and removes only its own rows: one that is down keeps its backlog and holds up nothing else.

At-least-once, in order: rows are delivered oldest first, one at a time, and removed (`sink_ack`) only once
delivered; a failure stops the round, and after a jittered, capped backoff (STYLE 7: `uniform(0, min(cap,
1.5 ** attempt))`, reset by a success) the round starts again from the oldest row still queued. A crash or
a failure after the receiver took a row but before its removal was written sends that row again; receivers
de-duplicate on the alert id (CONTRACT). What "delivered" means is the kind's: a 2xx answer (webhook), a
datagram handed to the kernel (CoT over UDP), bytes written and drained to the socket (CoT over TCP).

A row that cannot be turned into the kind's message at all (a bug, or a row this program did not write) is
counted as `unsendable`, logged once with its traceback, and removed: it must not block the queue for ever
(STYLE 4: contain errors at the per-message boundary).
"""

from __future__ import annotations

import asyncio
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

import structlog

from monitor.aio import honour_cancel
from monitor.sinks.settings import AnySink
from monitor.store import Store

__all__ = ["BACKOFF_BASE", "DeliveryError", "Sink", "SinkStats"]

_log = structlog.get_logger("monitor.sinks")

BACKOFF_BASE: Final = 1.5
BACKOFF_CAP_S: Final = 30.0  # an outage of hours is retried every 15 s on average, not every hour
_BATCH: Final = 64  # rows read per round; removed together (one transaction) once all are delivered

S = TypeVar("S", bound=AnySink)
M = TypeVar("M")


class DeliveryError(Exception):
    """The receiver did not take the message (a non-2xx answer, a closed connection): try again later."""


@dataclass
class SinkStats:
    """Counters for /metrics and /readyz; `up` is whether the last delivery attempt succeeded."""

    up: bool = True
    delivered: int = 0  # alerts delivered and removed from the queue
    failures: int = 0  # delivery attempts that failed (each followed by a backoff)
    unsendable: int = 0  # rows removed because they could not be turned into a message
    events: int = 0  # other messages sent (CoT: vessel positions)
    last_error: str | None = None


class Sink(ABC, Generic[S, M]):
    """One configured sink: its queue and its delivery loop. Subclasses say how a queued alert becomes a
    message (`encode`, pure) and how a message is sent (`send`, raising DeliveryError, OSError or
    TimeoutError when it was not delivered)."""

    def __init__(self, settings: S, store: Store, *, backoff_cap_s: float = BACKOFF_CAP_S) -> None:
        self.settings = settings
        self.name = settings.key
        self.kind = settings.kind
        self.stats = SinkStats()
        self._store = store
        self._backoff_cap = backoff_cap_s
        self._wake = asyncio.Event()
        self._failing_since: int | None = None  # failures count when the current outage began
        self.progress = asyncio.Event()  # set at every delivery or failure (Sinks.stop shares one)

    # -- called by the daemon ------------------------------------------------------------------

    @property
    def depth(self) -> int:
        """Alerts queued for this sink."""
        return self._store.sink_depth(self.name)

    def wake(self) -> None:
        """New rows were committed: deliver them."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver the queue until cancelled (then close the connection)."""
        try:
            await self.deliver_queue()
        finally:
            await self.close()

    async def deliver_queue(self) -> None:
        """The queue's loop: deliver rows in order, back off after a failure; until cancelled."""
        attempt = 0
        while True:
            honour_cancel()
            self._wake.clear()  # before reading: a wake() from here on is not lost
            rows = self._store.sink_pending(self.name, limit=_BATCH)
            if not rows:
                await self._wake.wait()
                continue
            error = await self._round(rows)
            if error is None:
                attempt = 0
                continue
            attempt += 1
            delay = random.uniform(0, min(self._backoff_cap, BACKOFF_BASE**attempt))
            self._failed(error, retry_in_s=round(delay, 2))
            await asyncio.sleep(delay)

    async def _round(self, rows: list[tuple[int, bytes]]) -> BaseException | None:
        """Deliver `rows` in order; remove those delivered (also when cancelled). The error that stopped
        the round, or None."""
        done: list[int] = []
        try:
            for rowid, payload in rows:
                try:
                    message = self.encode(payload)
                except Exception:  # noqa: BLE001 - one bad row must not block the queue (module docstring)
                    self.stats.unsendable += 1
                    _log.exception("sink_alert_unsendable", sink=self.name, kind=self.kind, row=rowid)
                    done.append(rowid)
                    continue
                try:
                    await self.send(message)
                except (DeliveryError, OSError, TimeoutError) as exc:
                    return exc
                done.append(rowid)
                self.stats.delivered += 1
                self._succeeded()
            return None
        finally:
            if done:
                self._store.sink_ack(self.name, done)
            self.progress.set()

    def _failed(self, error: BaseException, **facts: object) -> None:
        self.stats.up = False
        self.stats.failures += 1
        self.stats.last_error = describe(error)
        if self._failing_since is None:
            self._failing_since = self.stats.failures - 1
            log = _log.warning
        else:
            log = _log.debug  # one warning per outage; every attempt is in the metrics
        log("sink_delivery_failed", sink=self.name, kind=self.kind, error=self.stats.last_error,
            queued=self.depth, **facts)

    def _succeeded(self) -> None:
        self.stats.up = True
        if self._failing_since is not None:
            _log.info("sink_delivery_resumed", sink=self.name, kind=self.kind,
                      failures=self.stats.failures - self._failing_since, queued=self.depth)
            self._failing_since = None

    # -- the kind's part -------------------------------------------------------------------------

    @abstractmethod
    def encode(self, payload: bytes) -> M:
        """The message for one queued alert (its CONTRACT JSON)."""

    @abstractmethod
    async def send(self, message: M) -> None:
        """Deliver one message; raise DeliveryError, OSError or TimeoutError if it was not delivered."""

    async def close(self) -> None:
        """Release the connection, if any (the end of run())."""


def describe(error: BaseException) -> str:
    """The error for logs and stats: its type and message (never a token: none is in any message)."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
