"""The daemon (`chokepoint-monitor run`): live feeds in, alerts to MQTT and the [[sinks]], HTTP API, systemd.

Every long-lived loop runs in one TaskGroup, each task named (STYLE 6): if one crashes the rest are
cancelled and the process exits non-zero for systemd to restart it. The synchronous pipeline runs on the
event loop between awaits, in batches flushed on size or after a few milliseconds.

Durability: each batch's alerts and the engine state that produced them are committed in ONE SQLite
transaction before anything is sent; the publisher removes an alert only on its PUBACK. A broker outage,
a SIGKILL or a power cut therefore loses no alert, and a restart does not repeat a zone entry.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import signal
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sdnotify
import structlog
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor import __version__
from monitor.alerts import Alert, iso_time
from monitor.config import LEVELS, Settings, load_settings
from monitor.detectors import KINDS
from monitor.detectors.interference import Interference
from monitor.detectors.traffic import CLASSES, DIRECTIONS, Traffic, traffic_stats
from monitor.errors import EXIT_FAILURE, EXIT_OK, StartupError
from monitor.http import HttpApi
from monitor.livefeeds import FeedStats, feed_row, run_feed
from monitor.operator import NotWritable, Snooze, Snoozes, parse_ack, parse_snooze
from monitor.pipeline import Pipeline
from monitor.publisher import Publisher
from monitor.roster import exit_fields, roster_rows
from monitor.runtimezones import FILE_NAME as RUNTIME_ZONES_FILE
from monitor.runtimezones import NotRuntime, RuntimeZones
from monitor.savedstate import OLD_FORMAT, StateError
from monitor.sinks.manager import SinkCollector, Sinks
from monitor.store import Store, StoreCorrupt, StoreError, StoreWriteError
from monitor.views import interference_areas, posture_dict, vessel_dict, vessel_dicts, zones_geojson
from monitor.zones import ZoneFile, load_configured_zones

log = structlog.get_logger("monitor.service")

MAX_REASON = 500
_MOVED_PER_TICK = 1000  # vessels whose track only moved, saved per second (a few ms of work)
# The retained {prefix}/traffic/STRAIT messages are sent at most this often: a busy strait changes its
# counts with every transit, and a subscriber wants the picture, not each step of it.
_TRAFFIC_EVERY_S = 10.0
# Long-lived objects (vessels, zones) are moved out of the cyclic GC's view every minute: a full
# collection over 50,000 vessels stalls the loop for 40-70 ms, which is the whole latency budget. They
# are freed by reference counting as usual; only cyclic garbage alive at that instant is kept.
_GC_FREEZE_EVERY_S = 60.0


_LISTENING = frozenset({"tcp_server", "udp", "http"})  # feed types that bind a port of their own


def state_directory(settings: Settings) -> Path:
    """[state] directory, else systemd's $STATE_DIRECTORY (first entry), else ./state."""
    if settings.state.directory is not None:
        return settings.state.directory
    env = os.environ.get("STATE_DIRECTORY")
    if env:
        return Path(env.split(":")[0])
    return Path("state")


def alert_topic(prefix: str, alert: Alert) -> str:
    return f"{prefix}/alerts/{alert.severity}/{alert.kind}"


# How far from the daemon's clock an operator command's own `time` may lie (clocks of the sender and of
# the daemons a redundant pair runs on agree far better than this; a day-old command is a mistake).
COMMAND_TIME_SLACK_S = 300.0


def parse_posture_command(payload: bytes, now: float | None = None) -> tuple[str, str, float | None]:
    """Validate an operator command {"level", "reason", optional "time"}; ValueError names what is wrong.

    `time` (ISO 8601 UTC, or unix seconds) is when the operator gave the command: the `posture_change`
    is stamped with it, so two daemons of a redundant pair that take the same command raise the same
    alert id. It must lie within COMMAND_TIME_SLACK_S of `now` (the daemon's clock); without it each
    daemon stamps the change with its own clock on arrival."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:  # (nested too deeply)
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    unknown = sorted(set(data) - {"level", "reason", "time"})
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}")
    level = data.get("level")
    if not isinstance(level, str) or level.upper() not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}")
    reason = data.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise ValueError(f"reason must be a string of at most {MAX_REASON} characters")
    given = data.get("time")
    when: float | None = None
    if given is not None:
        when = _command_time(given)
        now = time.time() if now is None else now
        if abs(when - now) > COMMAND_TIME_SLACK_S:
            raise ValueError(f"time must lie within {COMMAND_TIME_SLACK_S:g} s of the daemon's clock "
                             f"({iso_time(now)})")
    return level.upper(), reason, when


def _command_time(given: object) -> float:
    if isinstance(given, bool) or not isinstance(given, (int, float, str)):
        raise ValueError("time must be an ISO 8601 UTC time or unix seconds")
    if isinstance(given, str):
        try:
            parsed = datetime.fromisoformat(given)
        except ValueError:
            raise ValueError(f"time {given[:40]!r} is not an ISO 8601 time") from None
        if parsed.tzinfo is None:
            raise ValueError("time must carry its UTC offset (Z)")
        return parsed.timestamp()
    if not math.isfinite(given):
        raise ValueError("time must be finite")
    return float(given)


@dataclass
class _Input:
    """Lines waiting between the feeds and the pipeline: a bounded queue (STYLE 9)."""

    max_lines: int
    items: deque[tuple[str, list[bytes], float]] = field(default_factory=deque)
    lines: int = 0
    dropped: int = 0
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, feed: str, lines: list[bytes]) -> None:
        if self.lines + len(lines) > self.max_lines:
            # Full: the pipeline cannot keep up. Dropping the newest keeps what is queued in order; the
            # count is exported and logged, never silent.
            self.dropped += len(lines)
            return
        self.items.append((feed, lines, time.monotonic()))
        self.lines += len(lines)
        self.event.set()

    def take(self, max_lines: int) -> list[tuple[str, list[bytes], float]]:
        out: list[tuple[str, list[bytes], float]] = []
        n = 0
        while self.items and n < max_lines:
            item = self.items.popleft()
            out.append(item)
            n += len(item[1])
        self.lines -= n
        if not self.items:
            self.event.clear()
        return out


@dataclass
class _Held:
    """What the store could not write while its disk is full, read-only or failing: the alerts (at most
    outbox.max_held_alerts, oldest dropped first and counted) and the state changes (one value per key,
    the newest; bounded by the vessels tracked). Written in one transaction when a retry succeeds;
    the alerts are published (MQTT, sinks) once written, as every alert is."""

    error: str
    since: float
    rows: deque[tuple[str, str, bytes]] = field(default_factory=deque)
    state: dict[str, bytes | None] = field(default_factory=dict)
    dropped: int = 0
    # The alerts for /api/alerts' kept history (alert_id, payload, snoozed): every alert, where `rows`
    # holds only those a sink will send. Bounded like `rows`.
    history: deque[tuple[str, bytes, bool]] = field(default_factory=deque)
    # The [[sinks]] queues' rows (sink, alert_id, payload), bounded like `rows` for each sink.
    sinks: deque[tuple[str, str, bytes]] = field(default_factory=deque)


class Service:
    """The running daemon; also the HTTP API's view of it."""

    def __init__(
        self,
        settings: Settings,
        zonefile: ZoneFile,
        *,
        config_path: str | None,
        mqtt_url: str | None = None,
    ) -> None:
        self.settings = settings
        self.zonefile = zonefile
        self.config_path = config_path
        self.mqtt_url = mqtt_url
        self.started_at = time.time()
        self.started = iso_time(round(self.started_at))
        # The operator's hazard and corridor zones (POST /api/zones), added to the zone file's: the
        # pipeline watches both (`zones_in_force`); `zonefile` stays the file's own.
        self.runtime_zones = RuntimeZones(state_directory(settings) / RUNTIME_ZONES_FILE)
        self.pipeline = Pipeline(settings, self.runtime_zones.load(zonefile), clock=time.time,
                                 keep_tracks=True)
        self.pipeline.engine.dirty = set()
        self.input = _Input(settings.service.queue_max_lines)
        self.feed_stats: dict[str, FeedStats] = {}
        self._feed_tasks: dict[str, asyncio.Task[None]] = {}
        self._stalled: set[str] = set()
        # /api/alerts: the newest alerts, each the CONTRACT object plus `snoozed` and `ack`; loaded from
        # the store's `alerts` table at start (it keeps the same number), so they survive a restart.
        self.recent: deque[dict[str, Any]] = deque(maxlen=max(1, settings.http.recent_alerts))
        self.snoozes = Snoozes()  # loaded from the store at start
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._stop = asyncio.Event()
        self._signals = 0
        self.ready = False
        self.restored = 0
        self.lag_s = 0.0
        self.notifier = sdnotify.SystemdNotifier()
        self.store: Store | None = None
        self._held: _Held | None = None  # set while the store cannot be written
        self.held_dropped = 0  # held alerts dropped (beyond outbox.max_held_alerts) since start
        self._last_retry = 0.0
        self.publisher: Publisher | None = None
        self.http: HttpApi | None = None
        self.http_port: int | None = None
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_ServiceCollector(self))
        # [[sinks]]: webhook and CoT, each with its own queue in the store (monitor.sinks).
        self.sinks = Sinks(settings.sinks, pipeline=lambda: self.pipeline)
        self.registry.register(SinkCollector(self.sinks, lambda: self.store))
        self._zones_geojson: dict[str, Any] | None = None

    # ---- lifecycle -------------------------------------------------------------------------------------
    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_stop_signal, sig)
        loop.add_signal_handler(signal.SIGHUP, self._on_reload_signal)
        store = self.store = self._open_store()
        try:
            self.pipeline.engine.dirty = set()
            log.info("state_restored", vessels=self.restored, directory=str(state_directory(self.settings)))
            # The roster's ways to the strait's exit take about half a second to build: built now, off the
            # event loop, not by the first GET /api/roster (monitor.roster).
            loop.run_in_executor(None, exit_fields, self.pipeline.geofence.zonefile)
            publisher: Publisher | None = None
            if self.settings.mqtt.enabled:
                publisher = self.publisher = Publisher(
                    self.settings.mqtt, store, url=self.mqtt_url, version=__version__, started=self.started,
                    on_command=self._posture_command,
                )
                publisher.set_posture(self.posture())
            else:
                # No broker: alerts are kept and listed (/api/alerts, the live streams) but queued for no
                # one; alerts a run with MQTT left in the outbox stay there for the next run with it.
                log.info("mqtt_disabled", outbox_kept=store.depth)
            if self.settings.http.enabled:
                self.http = HttpApi(self.settings.http, self)
                self.http_port = await self.http.start()
                log.info("http_listening", host=self.settings.http.listen, port=self.http_port)
            async with asyncio.TaskGroup() as tg:
                publisher_task = None if publisher is None else tg.create_task(publisher.run(),
                                                                               name="mqtt-publisher")
                self.sinks.open(store)
                self.sinks.start(tg)
                self._start_feeds(tg)
                pipeline_task = tg.create_task(self._process(), name="pipeline")
                ticker_task = tg.create_task(self._ticker(), name="ticker")
                self.ready = True
                self.notifier.notify(f"READY=1\nSTATUS={self._status()}")
                log.info("started", version=__version__, feeds=[f.name for f in self.settings.feeds],
                         zones=len(self.zonefile.zones), restored_vessels=self.restored)
                await self._stop.wait()
                await self._shutdown(publisher, pipeline_task, ticker_task, publisher_task)
        finally:
            if self.http is not None:
                await self.http.stop()
            store.close()
        log.info("stopped")
        return EXIT_OK

    def _open_store(self) -> Store:
        """The state database, and the engine state restored from it. A database or state that cannot be
        used (corrupt, not SQLite, an old pickle format) is moved aside with one error event and the daemon
        starts fresh: never a restart loop. An I/O error raises StoreError: exit 1, systemd retries."""
        store = Store.open(state_directory(self.settings), max_outbox=self.settings.outbox.max_alerts,
                           max_history=self.recent.maxlen or 1)
        try:
            # The operator's tables first: they change nothing in memory until every check passed.
            kept, snoozes = store.load_alerts(), store.load_snoozes()
            self.restored = self.pipeline.engine.import_state(store.load_state())
        except (StateError, StoreCorrupt) as exc:
            old = isinstance(exc, StateError) and exc.problem == OLD_FORMAT
            store = store.discard(str(exc), event="state_old_format" if old else "state_corrupt")
            self.restored = 0  # (import_state changed nothing: it checks every row first)
            kept, snoozes = [], store.load_snoozes()  # (the fresh file holds the snoozes carried over)
        except StoreError:
            store.close()
            raise
        self.recent.extend(kept)
        self.snoozes = Snoozes(Snooze(*row) for row in snoozes)
        refused = self.pipeline.engine.refuse_clock_beyond(time.time() + self.settings.clock.max_ahead_s)
        if refused is not None:
            log.error("state_clock_refused", saved_clock=iso_time(refused[0]),  # (saved times are <= 2100)
                      vessels_dropped=refused[1], note="the saved clock was ahead of this machine's clock")
            self.restored -= refused[1]
        return store

    def _on_stop_signal(self, sig: int) -> None:
        self._signals += 1
        if self._signals > 1:
            # A second signal: the operator does not want to wait for the drain.
            log.warning("forced_exit", signal=signal.Signals(sig).name)
            os._exit(EXIT_FAILURE)
        log.info("stop_requested", signal=signal.Signals(sig).name)
        self._stop.set()

    def stop(self) -> None:
        """Ask the daemon to stop (as SIGTERM does)."""
        self._stop.set()

    async def _shutdown(
        self, publisher: Publisher | None, pipeline_task: asyncio.Task[None], ticker_task: asyncio.Task[None],
        publisher_task: asyncio.Task[None] | None,
    ) -> None:
        """uvicorn's order: stop accepting, drain, flush before a deadline, publish offline, disconnect."""
        deadline = time.monotonic() + self.settings.service.shutdown_timeout_s
        self.ready = False
        self.notifier.notify("STOPPING=1")
        for task in self._feed_tasks.values():
            task.cancel()
        await asyncio.gather(*self._feed_tasks.values(), return_exceptions=True)
        ticker_task.cancel()
        pipeline_task.cancel()
        await asyncio.gather(ticker_task, pipeline_task, return_exceptions=True)
        while self.input.items:  # what the feeds delivered before they stopped is processed, not lost
            self._process_items(self.input.take(self.settings.service.batch_max_lines))
        self._commit([], moved=len(self.pipeline.engine.moved))  # every change not saved yet
        if self._held is not None and not self._retry_writes():
            log.error("held_alerts_lost", alerts=len(self._held.rows), error=self._held.error,
                      note="the state database could not be written before exit")
        # The sinks that are delivering empty their queues while MQTT flushes (a failing one is not waited
        # for: its queue is kept for the next start).
        sinks_stopped = asyncio.create_task(self.sinks.stop(deadline), name="sinks-stop")
        if publisher is None or publisher_task is None:
            await sinks_stopped
            return  # ([mqtt] enabled = false: nothing to flush)
        flushed = await publisher.flush(max(0.0, deadline - time.monotonic()))
        if not flushed:
            assert self.store is not None
            log.warning("outbox_not_empty", queued=self.store.depth, note="kept for the next start")
        await publisher.close()
        publisher_task.cancel()
        await sinks_stopped

    # ---- feeds and processing -----------------------------------------------------------------------
    def _start_feeds(self, tg: asyncio.TaskGroup) -> None:
        boxes = self._region_boxes()
        for feed in self.settings.feeds:
            stats = self.feed_stats[feed.name] = FeedStats(feed.name, feed.type)
            self._feed_tasks[feed.name] = tg.create_task(
                run_feed(feed, self.input.put, stats, mqtt=self.settings.mqtt, bounding_boxes=boxes),
                name=f"feed:{feed.name}",
            )

    def _region_boxes(self) -> list[tuple[float, float, float, float]]:
        boxes = []
        for z in self.zonefile.of_kind("region"):
            x1, y1, x2, y2 = z.geometry.bounds
            boxes.append((x1, y1, x2, y2))
        return boxes

    async def _process(self) -> None:
        svc = self.settings.service
        delay = svc.batch_max_delay_ms / 1000.0
        while True:
            await self.input.event.wait()
            # Batch: flush on size, or once the oldest line has waited `delay` (counted from its arrival,
            # so lines that came in while the last batch was being processed go at once).
            remaining = delay - (time.monotonic() - self.input.items[0][2]) if self.input.items else 0.0
            if remaining > 0 and self.input.lines < svc.batch_max_lines:
                await asyncio.sleep(remaining)
            self._process_items(self.input.take(svc.batch_max_lines))
            await asyncio.sleep(0)

    def _process_items(self, items: list[tuple[str, list[bytes], float]]) -> None:
        if not items:
            return
        alerts: list[Alert] = []
        by_feed: dict[str, list[bytes]] = {}
        for feed, lines, _ in items:
            by_feed.setdefault(feed, []).extend(lines)
        for feed, lines in by_feed.items():
            stats = self.feed_stats.get(feed)
            before = self._feed_counts() if stats is not None else None
            alerts += self.pipeline.process_lines(lines, source=feed.encode())
            if stats is not None and before is not None:
                # What the pipeline made of this feed's lines: the counters' growth over its batch.
                rejects, duplicates, other = self._feed_counts()
                stats.rejects.update(rejects - before[0])
                stats.duplicates += duplicates - before[1]
                stats.other_sentences += other - before[2]
        self.lag_s = time.monotonic() - items[0][2]
        self._commit(alerts)

    def _feed_counts(self) -> tuple[Counter[str], int, int]:
        """The pipeline's rejects by reason, duplicates and `$` sentences so far (for the per-feed counts)."""
        a = self.pipeline.assembler
        return self.pipeline.rejects(), a.duplicates, a.other_sentences

    def _commit(self, alerts: Sequence[Alert], everything: bool = False, moved: int = 0) -> None:
        """One transaction: the alerts and the state that produced them; then send and share them."""
        assert self.store is not None
        prefix = self.settings.mqtt.prefix
        # Every sink's queue is filled from `publishable`, the one snooze rule; the history keeps all.
        publishable = self.snoozes.publishable(alerts)
        snoozed = {a.id for a in alerts} - {a.id for a in publishable}
        payloads = {a.id: a.to_json().encode() for a in alerts}
        rows = [(a.id, alert_topic(prefix, a), payloads[a.id]) for a in publishable
                if self.settings.mqtt.enabled]
        history = [(a.id, payloads[a.id], a.id in snoozed) for a in alerts]
        sink_rows = self.sinks.rows(publishable, payloads)
        state = self.pipeline.engine.export_state(everything=everything, moved=moved)
        if self._held is not None:
            self._hold(rows, state, history, sink_rows)  # the ticker retries
        elif rows or history or len(state) > 1 or everything or moved:
            # (A batch that raised nothing and changed no vessel beyond its track needs no transaction:
            # the clock alone is not worth an fsync.)
            try:
                self.store.commit(rows, state, history, sink_rows)
            except StoreWriteError as exc:
                self._held = _Held(error=exc.problem, since=time.time())
                self._last_retry = time.monotonic()
                log.error("state_write_failed", file=str(exc.path), error=exc.problem,
                          retry_s=self.settings.outbox.retry_s,
                          max_held_alerts=self.settings.outbox.max_held_alerts)
                self._hold(rows, state, history, sink_rows)
                self.notifier.notify(f"STATUS={self._status()}")
        if not alerts:
            return
        if self.publisher is not None and self._held is None:
            self.publisher.wake()
        if self._held is None:
            self.sinks.wake()
        posture_changed = False
        for a in alerts:
            d = {**a.to_dict(), "snoozed": a.id in snoozed, "ack": None}
            self.recent.append(d)
            for q in list(self._subscribers):
                if q.full():
                    continue  # a slow client misses alerts rather than holding the daemon back
                q.put_nowait(d)
            posture_changed |= a.kind == "posture_change"
            log.debug("alert_raised", kind=a.kind, mmsi=a.mmsi, id=a.id)
        if posture_changed and self.publisher is not None:
            self.publisher.set_posture(self.posture())

    def _hold(self, rows: Sequence[tuple[str, str, bytes]], state: dict[str, bytes | None],
              history: Sequence[tuple[str, bytes, bool]] = (),
              sink_rows: Sequence[tuple[str, str, bytes]] = ()) -> None:
        held = self._held
        assert held is not None
        held.rows.extend(rows)
        held.sinks.extend(sink_rows)
        for _ in range(len(held.sinks) - self.settings.outbox.max_held_alerts * len(self.sinks.settings)):
            held.sinks.popleft()  # (the oldest, as for `rows`; counted there when MQTT is on)
        held.state.update(state)
        held.history.extend(history)
        # The history is display, not a promise: its oldest go quietly (the held rows are counted).
        for _ in range(len(held.history) - self.settings.outbox.max_held_alerts):
            held.history.popleft()
        over = len(held.rows) - self.settings.outbox.max_held_alerts
        if over > 0:
            for _ in range(over):
                held.rows.popleft()
            if not held.dropped:
                log.warning("held_alerts_dropped", max_held_alerts=self.settings.outbox.max_held_alerts,
                            note="the oldest held alerts are dropped while the state cannot be written")
            held.dropped += over
            self.held_dropped += over

    def _retry_writes(self) -> bool:
        """Write what is held; True once written: ready again, `state_write_resumed`, publisher woken."""
        held = self._held
        if held is None:
            return True
        assert self.store is not None
        try:
            self.store.commit(list(held.rows), held.state, list(held.history), list(held.sinks))
        except StoreWriteError as exc:
            held.error = exc.problem
            return False
        self._held = None
        log.info("state_write_resumed", alerts_written=len(held.rows), alerts_dropped=held.dropped,
                 down_s=round(time.time() - held.since, 1))
        self.notifier.notify(f"STATUS={self._status()}")
        if self.publisher is not None:
            self.publisher.wake()
        self.sinks.wake()
        return True

    async def _ticker(self) -> None:
        """Once a second: timers on the wall clock, the watchdog, STATUS, stalled feeds, drop counts."""
        watchdog_usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
        interval = min(1.0, watchdog_usec / 2e6) if watchdog_usec else 1.0
        last_status = 0.0
        last_traffic = 0.0
        traffic_sent: tuple[int, int] | None = None  # (which detector, its `changes`) last published
        areas_sent: tuple[int, int] | None = None  # the same for the interference areas
        last_freeze = 0.0
        last_rejects = 0
        while True:
            await asyncio.sleep(interval)
            now = time.time()
            alerts = self.pipeline.tick(now)
            if alerts:
                self._commit(alerts)
            if self._held is not None and time.monotonic() - self._last_retry >= self.settings.outbox.retry_s:
                self._last_retry = time.monotonic()
                self._retry_writes()
            if watchdog_usec:
                self.notifier.notify("WATCHDOG=1")
            for name, stats in self.feed_stats.items():
                feed = next(f for f in self.settings.feeds if f.name == name)
                stalled = stats.stalled(now, feed.stall_s)
                if stalled and name not in self._stalled:
                    self._stalled.add(name)
                    log.warning("feed_stalled", feed=name, stall_s=feed.stall_s)
                elif not stalled and name in self._stalled:
                    self._stalled.discard(name)
                    log.info("feed_resumed", feed=name)
            if self.pipeline.engine.moved:
                # Tracks that only moved on are saved a slice a second, not with every batch.
                self._commit([], moved=_MOVED_PER_TICK)
            self._expire_snoozes(now)
            if self.publisher is not None and now - last_traffic >= _TRAFFIC_EVERY_S:
                traffic = self._traffic()
                seen = (id(traffic), traffic.changes)  # (a reload builds a new detector)
                if seen != traffic_sent:
                    last_traffic, traffic_sent = now, seen
                    prefix = self.settings.mqtt.prefix.rstrip("/")
                    for sid in traffic.straits:
                        self.publisher.set_retained(f"{prefix}/traffic/{sid}", traffic.latest(sid))
                interference = self._interference()
                seen = (id(interference), interference.changes)
                if seen != areas_sent:
                    # (Published from the first tick on, even empty: a subscriber learns "no area" too.)
                    areas_sent = seen
                    prefix = self.settings.mqtt.prefix.rstrip("/")
                    self.publisher.set_retained(f"{prefix}/interference", interference.areas())
            if now - last_freeze >= _GC_FREEZE_EVERY_S:
                last_freeze = now
                gc.freeze()
            if now - last_status >= 10:
                last_status = now
                self.notifier.notify(f"STATUS={self._status()}")
                rejects = self.pipeline.rejects()
                total = sum(rejects.values())
                if total != last_rejects:
                    # Drop counts by reason, periodically: never one log line per bad sentence.
                    log.info("lines_rejected", total=total, by_reason=dict(rejects))
                    last_rejects = total

    def _status(self) -> str:
        s = self.pipeline.summary
        depth = self.store.depth if self.store is not None else 0
        connected = self.publisher is not None and self.publisher.stats.connected
        return (
            f"{s.messages} messages, {len(self.pipeline.engine.vessels)} vessels, "
            f"{sum(s.alerts.values())} alerts, outbox {depth}, posture {self.pipeline.posture.level}, "
            f"mqtt {'up' if connected else 'down' if self.settings.mqtt.enabled else 'off'}"
            + ("" if self._held is None else f", STATE NOT WRITABLE ({len(self._held.rows)} alerts held)")
        )

    # ---- reload (SIGHUP) -----------------------------------------------------------------------------
    def _on_reload_signal(self) -> None:
        self.reload()

    def reload(self) -> bool:
        """Re-read the config and zone file; a broken one is refused and the old one kept."""
        self.notifier.notify("RELOADING=1")
        try:
            settings = load_settings(self.config_path) if self.config_path else self.settings
            zonefile = load_configured_zones(settings.zones.paths())
            in_force = self.runtime_zones.merged(zonefile)
        except StartupError as exc:
            log.error("reload_refused", problem=str(exc))
            self.notifier.notify("READY=1")
            return False
        self.pipeline.reload(settings, in_force)
        changed_feeds = settings.feeds != self.settings.feeds
        needs_restart = [
            name for name in ("mqtt", "http", "state", "outbox", "sinks")
            if getattr(settings, name) != getattr(self.settings, name)
        ]
        self.settings, self.zonefile, self._zones_geojson = settings, zonefile, None
        if changed_feeds:
            log.warning("reload_feeds_need_restart", note="feed changes take effect at the next start")
        if needs_restart:
            log.warning("reload_needs_restart", sections=needs_restart)
        log.info("reloaded", zones=len(zonefile.zones),
                 zone_files=[part.path for part in zonefile.parts] or [zonefile.path])
        if self.publisher is not None:
            self.publisher.set_posture(self.posture())
        self.notifier.notify("READY=1")
        return True

    # ---- posture commands ------------------------------------------------------------------------------
    def _posture_command(self, payload: bytes) -> bool:
        try:
            level, reason, when = parse_posture_command(payload)
        except ValueError as exc:
            log.warning("posture_command_refused", problem=str(exc), source="mqtt")
            return False
        self._apply_posture(level, reason, "mqtt", when)
        return True

    def _apply_posture(self, level: str, reason: str, set_by: str, when: float | None = None) -> None:
        alerts = self.pipeline.set_posture(level, reason, set_by, time.time() if when is None else when)
        log.info("posture_set", posture=level, reason=reason, set_by=set_by)
        self._commit(alerts)
        if self.publisher is not None:
            self.publisher.set_posture(self.posture())

    # ---- the HTTP API's view (monitor.http.ServiceView) ----------------------------------------------------
    def health(self) -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "uptime_s": round(time.time() - self.started_at, 1)}

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        facts: dict[str, Any] = {
            "started": self.ready,
            "zones": len(self.zonefile.zones),
            "state_restored_vessels": self.restored,
            "mqtt_connected": self.publisher is not None and self.publisher.stats.connected,
            "outbox_depth": self.store.depth if self.store is not None else None,
            # Not ready while the state database cannot be written (disk full, read-only, I/O error).
            "state_writable": self._held is None,
            "state_error": None if self._held is None else self._held.error,
            "held_alerts": 0 if self._held is None else len(self._held.rows),
            # Each [[sinks]] entry: up, queued, delivered, failures, last_error (not deciding readiness).
            "sinks": self.sinks.facts(),
            "feeds": {
                name: {"connected": st.connected, "stalled": name in self._stalled}
                for name, st in self.feed_stats.items()
            },
        }
        # Ready means accepting input: a feed that listens (tcp_server, udp) has bound its port. (Its task
        # starts with the others, after which `ready` is set: /readyz could otherwise answer 200 before a
        # sender can connect.)
        listening = all(
            self.feed_stats[f.name].connected
            for f in self.settings.feeds if f.type in _LISTENING and f.name in self.feed_stats
        )
        # Not ready while every feed is failing (a refused key, a receiver that cannot be reached), nor
        # while no feed has delivered a line for service.ready_silence_s (counted from the start).
        feeds = list(self.feed_stats.values())
        failing = bool(feeds) and all(st.failing for st in feeds)
        silence = self.settings.service.ready_silence_s
        last = max((st.last_line for st in feeds if st.last_line is not None), default=self.started_at)
        silent = bool(feeds) and silence > 0 and time.time() - max(last, self.started_at) > silence
        facts["feeds_failing"] = failing
        facts["feeds_silent_s"] = round(time.time() - max(last, self.started_at), 1) if feeds else None
        return self.ready and self._held is None and listening and not failing and not silent, facts

    def feeds(self) -> dict[str, Any]:
        """GET /api/feeds: each configured feed's state, counts and last error."""
        return {"feeds": [feed_row(st, stalled=name in self._stalled)
                          for name, st in self.feed_stats.items()]}

    def metrics_registry(self) -> CollectorRegistry:
        return self.registry

    def vessels(self, after: int = 0) -> Iterator[dict[str, Any]]:
        """Vessels above MMSI `after`, in MMSI order, each built only when taken (the API takes a page)."""
        return vessel_dicts(self.pipeline, after)

    def vessel_count(self) -> int:
        return len(self.pipeline.engine.vessels)

    def vessel(self, mmsi: int) -> dict[str, Any] | None:
        return vessel_dict(self.pipeline, mmsi, detail=True)

    def vessel_track(self, mmsi: int) -> list[dict[str, Any]] | None:
        if self.pipeline.engine.get(mmsi) is None:
            return None
        return [{"time": iso_time(t), "lat": round(lat, 6), "lon": round(lon, 6)}
                for t, lon, lat in self.pipeline.engine.track_of(mmsi)]

    def recent_alerts(self) -> Sequence[dict[str, Any]]:
        return list(self.recent)

    def zones_geojson(self) -> dict[str, Any]:
        """The zones in force (not the file on disk, which may have been edited since): the zone file's,
        then the runtime zones, marked `"runtime": true`."""
        if self._zones_geojson is None:
            self._zones_geojson = zones_geojson(self.pipeline.geofence.zonefile, self.runtime_zones.ids())
        return self._zones_geojson

    # ---- runtime zones (POST and DELETE /api/zones, monitor.runtimezones) --------------------------------
    def add_zone(self, feature: Any) -> dict[str, Any]:
        """Add a hazard or corridor zone, checked as the zone file's are, saved, and watched from the next
        fix on; the feature as GET /api/zones lists it. ValueError names the problem and OSError says it
        could not be saved: nothing changed either way."""
        in_force, stored = self.runtime_zones.add(self.pipeline.geofence.zonefile, feature,
                                                  self.pipeline.engine.now)
        self._apply_zones(in_force)
        props = stored["properties"]
        log.info("runtime_zone_added", zone=props["id"], kind=props["kind"], expires=props.get("expires"))
        return {**stored, "properties": {**props, "runtime": True}}

    def delete_zone(self, zone_id: str) -> None:
        """Delete a runtime zone. KeyError: no zone has that id; NotRuntime: it is the zone file's (edit
        the file and reload); OSError: it could not be saved (nothing changed)."""
        in_force = self.pipeline.geofence.zonefile
        if zone_id not in self.runtime_zones.ids():
            if any(z.id == zone_id for z in in_force.zones):
                raise NotRuntime(f"zone {zone_id!r} is the zone file's: edit the file and reload")
            raise KeyError(zone_id)
        self._apply_zones(self.runtime_zones.remove(in_force, zone_id))
        log.info("runtime_zone_deleted", zone=zone_id)

    def _apply_zones(self, in_force: ZoneFile) -> None:
        # As a reload does: the geofence and the engine rebuilt between two batches, every vessel's state
        # kept (by zone id), so the change holds from the next fix on.
        self.pipeline.reload(self.settings, in_force)
        self._zones_geojson = None

    def posture(self) -> dict[str, Any]:
        return posture_dict(self.pipeline, self.started_at)

    def traffic(self) -> dict[str, Any]:
        return traffic_stats(self.pipeline.engine)

    def _traffic(self) -> Traffic:
        return self.pipeline.engine.aggregate(Traffic)

    def interference(self) -> dict[str, Any]:
        return interference_areas(self.pipeline)

    def _interference(self) -> Interference:
        return self.pipeline.engine.aggregate(Interference)

    def roster(self) -> list[dict[str, Any]]:
        """The roster on the engine's clock (the timers' clock, as a replay's snapshot has it), its open
        alerts the listed ones not acknowledged (monitor.roster)."""
        return roster_rows(self.pipeline.engine, None, self.recent)

    def set_posture(self, level: str, reason: str, set_by: str) -> dict[str, Any]:
        if level.upper() not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}")
        self._apply_posture(level.upper(), reason, set_by)
        return self.posture()

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        self._subscribers.add(q)
        return q

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(queue)

    # ---- the operator's actions: acknowledge, snooze (monitor.operator) ----------------------------------
    def _feed_now(self, wall: float | None = None) -> float:
        """The feed clock now (what alerts and snoozes are timed on); the wall clock before any line."""
        wall = time.time() if wall is None else wall
        now = self.pipeline.clock_time(wall)
        return wall if now is None else now

    def ack_alert(self, alert_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Acknowledge a listed alert; the alert as /api/alerts shows it. Idempotent: an alert already
        acknowledged keeps its first acknowledgement (who saw it first is what the next shift needs).
        LookupError: no such alert listed; Refused: a bad body; NotWritable: the store cannot be written."""
        by, note = parse_ack(body)
        listed = [d for d in self.recent if d["id"] == alert_id]
        if not listed:
            raise LookupError(f"no alert {alert_id[:80]!r} among the {self.recent.maxlen} kept")
        if listed[0]["ack"] is not None:
            return listed[0]
        ack = {"by": by, "note": note, "time": iso_time(round(time.time(), 3))}
        assert self.store is not None
        try:
            written = self._held is None and self.store.set_ack(alert_id, ack)
        except StoreWriteError as exc:
            raise NotWritable(f"the state database cannot be written: {exc.problem}") from exc
        if not written:
            # Listed but not in the store: raised while the disk was failing and still held in memory.
            raise NotWritable("the alert is not written to the state database yet; try again shortly")
        for d in listed:
            d["ack"] = ack
        log.info("alert_acknowledged", id=alert_id, by=by)
        return listed[0]

    def snooze_list(self) -> dict[str, Any]:
        """The snoozes in force (not expired on the feed clock), by id, and the feed clock now: what
        `until` is compared with (months behind the wall clock for `make live`'s recording)."""
        now = self._feed_now()
        snoozes = [s.to_dict() for s in self.snoozes.active(now)]
        return {"snoozes": snoozes, "count": len(snoozes), "feed_clock": iso_time(round(now, 3))}

    def add_snooze(self, body: dict[str, Any]) -> dict[str, Any]:
        """Snooze a vessel's alerts of a kind until a time (feed clock); the new snooze. Refused: a bad
        body (nothing changed); NotWritable: the store cannot be written (nothing changed)."""
        mmsi, kind, until, reason = parse_snooze(body, self._feed_now())
        created = iso_time(round(time.time(), 3))
        assert self.store is not None
        try:
            ident = self.store.add_snooze(mmsi, kind, until, reason, created)
        except StoreWriteError as exc:
            raise NotWritable(f"the state database cannot be written: {exc.problem}") from exc
        snooze = Snooze(ident, mmsi, kind, until, reason, created)
        self.snoozes.add(snooze)
        log.info("snooze_added", **snooze.to_dict())
        return snooze.to_dict()

    def end_snooze(self, ident: int) -> dict[str, Any]:
        """End a snooze in force early; the snooze ended. LookupError: none with that id in force."""
        snooze = self.snoozes.get(ident)
        if snooze is None or snooze.until <= self._feed_now():
            raise LookupError(f"no snooze {ident} in force")
        assert self.store is not None
        try:
            self.store.end_snoozes([ident])
        except StoreWriteError as exc:
            raise NotWritable(f"the state database cannot be written: {exc.problem}") from exc
        self.snoozes.remove(ident)
        log.info("snooze_ended", id=ident)
        return snooze.to_dict()

    def _expire_snoozes(self, wall: float) -> None:
        """Forget the snoozes that ended on the feed clock. They already match no alert (an alert is
        snoozed only when timed before `until`), so a failed write is only retried at the next tick."""
        expired = self.snoozes.expired(self._feed_now(wall))
        if not expired or self.store is None:
            return
        try:
            self.store.end_snoozes(expired)
        except StoreWriteError:
            return
        for ident in expired:
            self.snoozes.remove(ident)
        log.info("snoozes_expired", ids=expired)


class _ServiceCollector(Collector):
    """Prometheus metrics read from the live objects at scrape time: nothing is counted twice."""

    def __init__(self, service: Service) -> None:
        self.s = service

    def collect(self) -> Iterable[Metric]:
        s = self.s
        p = s.pipeline
        summary = p.summary
        c = CounterMetricFamily("chokepoint_lines", "Feed lines read by the pipeline")
        c.add_metric([], p.assembler.lines)
        yield c
        c = CounterMetricFamily("chokepoint_messages", "AIS messages decoded")
        c.add_metric([], summary.messages)
        yield c
        c = CounterMetricFamily("chokepoint_rejected", "Lines rejected, by reason", labels=["reason"])
        for reason, n in sorted(p.rejects().items()):
            c.add_metric([reason], n)
        yield c
        c = CounterMetricFamily("chokepoint_duplicates", "Sentences dropped as heard by several receivers")
        c.add_metric([], p.assembler.duplicates)
        yield c
        c = CounterMetricFamily("chokepoint_alerts", "Alerts raised, by kind", labels=["kind"])
        for kind in KINDS:
            c.add_metric([kind], summary.alerts.get(kind, 0))
        yield c
        c = CounterMetricFamily("chokepoint_transits", "Strait transits counted (traffic statistics), by "
                                "strait, direction and ship class", labels=["strait", "direction", "class"])
        for sid, totals in s._traffic().totals.items():
            for i, direction in enumerate(DIRECTIONS):
                for j, cls in enumerate(CLASSES):
                    c.add_metric([sid, direction, cls], totals[i * len(CLASSES) + j])
        yield c
        areas = s._interference().episodes.values()
        g = GaugeMetricFamily("chokepoint_interference_areas", "GNSS interference areas active, by type",
                              labels=["type"])
        g2 = GaugeMetricFamily("chokepoint_interference_vessels_affected",
                               "Vessels affected in the active GNSS interference areas (running counts), "
                               "by type", labels=["type"])
        for kind in ("jamming", "spoofing"):
            g.add_metric([kind], sum(1 for ep in areas if ep.kind == kind))
            g2.add_metric([kind], sum(ep.now[0] for ep in areas if ep.kind == kind))
        yield g
        yield g2
        g = GaugeMetricFamily("chokepoint_vessels", "Vessels tracked")
        g.add_metric([], len(p.engine.vessels))
        yield g
        c = CounterMetricFamily("chokepoint_vessels_forgotten",
                                "Vessels forgotten after state.forget_after_s of silence")
        c.add_metric([], p.engine.forgotten)
        yield c
        c = CounterMetricFamily("chokepoint_vessels_evicted",
                                "Vessels dropped to keep under state.max_vessels")
        c.add_metric([], p.engine.evicted)
        yield c
        offset = GaugeMetricFamily(
            "chokepoint_feed_clock_offset_seconds",
            "Feed clock minus wall clock at the feed's newest line (a lagging receiver < 0)",
            labels=["feed"],
        )
        jumps = CounterMetricFamily("chokepoint_feed_clock_jumps", "Confirmed jumps of a feed's clock",
                                    labels=["feed"])
        for source, clock in p.assembler.clocks.items():
            name = source.decode(errors="replace")
            if clock.now is not None and clock.wall_at is not None:
                offset.add_metric([name], clock.now - clock.wall_at)
            jumps.add_metric([name], clock.jumps)
        yield offset
        yield jumps
        g = GaugeMetricFamily("chokepoint_posture_level", "Posture in force: 0 NORMAL .. 3 CRITICAL")
        g.add_metric([], LEVELS.index(p.posture.level))
        yield g
        g = GaugeMetricFamily("chokepoint_processing_lag_seconds", "Queue wait of the last processed batch")
        g.add_metric([], s.lag_s)
        yield g
        g = GaugeMetricFamily("chokepoint_input_queue_lines", "Lines waiting for the pipeline")
        g.add_metric([], s.input.lines)
        yield g
        c = CounterMetricFamily("chokepoint_input_dropped", "Lines dropped because the input queue was full")
        c.add_metric([], s.input.dropped)
        yield c
        if s.store is not None:
            g = GaugeMetricFamily("chokepoint_outbox_depth", "Alerts waiting for the broker's PUBACK")
            g.add_metric([], s.store.depth)
            yield g
            c = CounterMetricFamily("chokepoint_outbox_dropped", "Alerts dropped because the outbox was full")
            c.add_metric([], s.store.dropped)
            yield c
        g = GaugeMetricFamily("chokepoint_state_writable", "0 while the state database cannot be written")
        g.add_metric([], 1 if s._held is None else 0)
        yield g
        g = GaugeMetricFamily("chokepoint_alerts_held",
                              "Alerts held in memory while the state cannot be written")
        g.add_metric([], 0 if s._held is None else len(s._held.rows))
        yield g
        c = CounterMetricFamily(
            "chokepoint_alerts_held_dropped",
            "Held alerts dropped (beyond outbox.max_held_alerts) while the state could not be written",
        )
        c.add_metric([], s.held_dropped)
        yield c
        if s.publisher is not None:
            st = s.publisher.stats
            g = GaugeMetricFamily("chokepoint_mqtt_connected", "1 while connected to the broker")
            g.add_metric([], 1 if st.connected else 0)
            yield g
            c = CounterMetricFamily("chokepoint_mqtt_published", "Alerts acknowledged by the broker")
            c.add_metric([], st.published)
            yield c
            c = CounterMetricFamily("chokepoint_mqtt_reconnects", "Reconnections to the broker")
            c.add_metric([], st.reconnects)
            yield c
            c = CounterMetricFamily("chokepoint_posture_commands", "posture/set commands", labels=["result"])
            c.add_metric(["applied"], st.commands_ok)
            c.add_metric(["refused"], st.commands_bad)
            yield c
        labels = ["feed", "type"]
        up = GaugeMetricFamily("chokepoint_feed_connected", "1 while the feed is connected", labels=labels)
        stalled = GaugeMetricFamily("chokepoint_feed_stalled", "1 while the feed is stalled", labels=labels)
        lines = CounterMetricFamily("chokepoint_feed_lines", "Lines received per feed", labels=labels)
        rec = CounterMetricFamily("chokepoint_feed_reconnects", "Reconnections per feed", labels=labels)
        last = GaugeMetricFamily("chokepoint_feed_last_line_timestamp_seconds", "Unix time of the last line",
                                 labels=labels)
        skipped = CounterMetricFamily(
            "chokepoint_feed_skipped", "Input a feed discarded before the pipeline, by reason "
            "(line_too_long: a line over 1,024 bytes)", labels=[*labels, "reason"])
        rejected = CounterMetricFamily("chokepoint_feed_rejected", "Lines rejected, per feed and reason",
                                       labels=[*labels, "reason"])
        dups = CounterMetricFamily("chokepoint_feed_duplicates",
                                   "Sentences dropped as another receiver's copy, per feed", labels=labels)
        other = CounterMetricFamily("chokepoint_feed_other_sentences",
                                    "$ sentences other than AIS ($GPRMC...), per feed: not rejects",
                                    labels=labels)
        failing = GaugeMetricFamily("chokepoint_feed_failing",
                                    "1 while the feed is down with an error (see GET /api/feeds)",
                                    labels=labels)
        for name, fs in s.feed_stats.items():
            lv = [name, fs.type]
            for reason, n in sorted(fs.rejects.items()):
                rejected.add_metric([*lv, reason], n)
            dups.add_metric(lv, fs.duplicates)
            other.add_metric(lv, fs.other_sentences)
            failing.add_metric(lv, 1 if fs.failing else 0)
            up.add_metric(lv, 1 if fs.connected else 0)
            stalled.add_metric(lv, 1 if name in s._stalled else 0)
            lines.add_metric(lv, fs.lines)
            rec.add_metric(lv, fs.reconnects)
            last.add_metric(lv, fs.last_line or 0)
            for reason, n in sorted({"line_too_long": 0, **fs.skipped}.items()):
                skipped.add_metric([*lv, reason], n)
        yield from (up, stalled, lines, rec, last, skipped, rejected, dups, other, failing)
        c = CounterMetricFamily("chokepoint_other_sentences", "$ sentences other than AIS: not rejects")
        c.add_metric([], p.assembler.other_sentences)
        yield c
        if s.http is not None:
            c = CounterMetricFamily(
                "chokepoint_http_connections_refused",
                "HTTP connections answered 503 and closed: http.max_connections were open",
            )
            c.add_metric([], s.http.connections_refused)
            yield c


def run_service(config_path: str, mqtt_url: str | None) -> int:
    """`chokepoint-monitor run`: load and check everything (exit 3 on a bad file), then serve."""
    from monitor.log import configure_logging

    settings = load_settings(config_path)
    configure_logging(settings.logging.level, settings.logging.format)
    zonefile = load_configured_zones(settings.zones.paths())
    service = Service(settings, zonefile, config_path=config_path, mqtt_url=mqtt_url)
    return asyncio.run(service.run())


