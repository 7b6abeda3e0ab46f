"""The daemon's sinks together: which alerts each one queues, their tasks, their metrics and facts.

monitor.service calls, in this order: `rows()` inside each commit (the rows for the store's transaction),
`open(store)` and `start(tasks)` at start, `wake()` after a commit, `stop(deadline)` at shutdown.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.sinks.base import Sink
from monitor.sinks.cot import CotSink
from monitor.sinks.settings import AnySink, CotSinkSettings
from monitor.sinks.webhook import WebhookSink
from monitor.store import Store

if TYPE_CHECKING:
    from monitor.alerts import Alert
    from monitor.pipeline import Pipeline

__all__ = ["SinkCollector", "Sinks"]

_log = structlog.get_logger("monitor.sinks")


class Sinks:
    """The configured [[sinks]]. Each alert a sink wants (at or above its min_severity, not snoozed) is
    queued for it in the commit that keeps the alert; each sink then empties its own queue."""

    def __init__(self, settings: Sequence[AnySink], pipeline: Callable[[], Pipeline] | None = None) -> None:
        self.settings = tuple(settings)
        self._pipeline = pipeline
        self.sinks: list[Sink[Any, Any]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._progress = asyncio.Event()  # a sink delivered or failed (stop() waits on it)

    def rows(self, alerts: Iterable[Alert], payloads: Mapping[str, bytes]) -> list[tuple[str, str, bytes]]:
        """(sink, alert id, payload) for every alert each sink wants: what the commit queues."""
        return [(s.key, a.id, payloads[a.id]) for a in alerts for s in self.settings if s.wants(a.severity)]

    def open(self, store: Store, **kwargs: float) -> None:
        """Build the sinks on the store that holds their queues (kwargs: the backoff cap, for tests)."""
        for s in self.settings:
            if isinstance(s, CotSinkSettings):
                self.sinks.append(CotSink(s, store, pipeline=self._pipeline, **kwargs))
            else:
                self.sinks.append(WebhookSink(s, store, **kwargs))
            self.sinks[-1].progress = self._progress
            _log.info("sink_configured", sink=s.key, kind=s.kind, queued=store.sink_depth(s.key),
                      min_severity=s.min_severity)
        configured = {s.key for s in self.settings}
        for name in store.sink_names():
            if name not in configured:
                # A sink removed or renamed: its queue is kept (configured again, it is sent), not sent.
                _log.warning("sink_queue_orphaned", sink=name, queued=store.sink_depth(name),
                             note="alerts queued for a sink no longer configured are kept, not sent")

    def start(self, tasks: asyncio.TaskGroup) -> None:
        for sink in self.sinks:
            self._tasks.append(tasks.create_task(sink.run(), name=f"sink:{sink.name}"))

    def wake(self) -> None:
        for sink in self.sinks:
            sink.wake()

    async def stop(self, deadline: float) -> None:
        """Let the sinks that are delivering empty their queues until `deadline` (time.monotonic()), then
        end their tasks. A sink whose receiver is failing is not waited for: its queue is kept for the next
        start, and the time is left to MQTT's flush."""
        self.wake()
        while True:
            self._progress.clear()  # (before the check: progress made from here on wakes the wait)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not any(s.depth and s.stats.up for s in self.sinks):
                break
            with suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), remaining)
        left = {s.name: s.depth for s in self.sinks if s.depth}
        if left:
            _log.warning("sink_queues_not_empty", queued=left, note="kept for the next start")
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task

    def facts(self) -> dict[str, dict[str, Any]]:
        """Each sink's state, for /readyz (the sinks do not decide readiness: their queues keep what a
        receiver misses)."""
        return {s.name: {"kind": s.kind, "up": s.stats.up, "queued": s.depth, "delivered": s.stats.delivered,
                         "failures": s.stats.failures, "last_error": s.stats.last_error}
                for s in self.sinks}


class SinkCollector(Collector):
    """Prometheus metrics of the sinks, read at scrape time."""

    def __init__(self, sinks: Sinks, store: Callable[[], Store | None]) -> None:
        self._sinks = sinks
        self._store = store

    def collect(self) -> Iterable[Metric]:
        labels = ["sink", "kind"]
        depth = GaugeMetricFamily("chokepoint_sink_queue_depth", "Alerts queued for the sink", labels=labels)
        up = GaugeMetricFamily("chokepoint_sink_up", "1 while the sink's last delivery succeeded",
                               labels=labels)
        delivered = CounterMetricFamily("chokepoint_sink_delivered", "Alerts the sink delivered",
                                        labels=labels)
        failures = CounterMetricFamily("chokepoint_sink_failures", "Delivery attempts that failed",
                                       labels=labels)
        dropped = CounterMetricFamily(
            "chokepoint_sink_dropped", "Alerts dropped from the sink's queue: full (outbox.max_alerts, "
            "oldest first) or unsendable", labels=[*labels, "reason"])
        events = CounterMetricFamily("chokepoint_sink_events", "Vessel position events sent (cot)",
                                     labels=labels)
        store = self._store()
        for s in self._sinks.sinks:
            lv = [s.name, s.kind]
            depth.add_metric(lv, s.depth)
            up.add_metric(lv, 1 if s.stats.up else 0)
            delivered.add_metric(lv, s.stats.delivered)
            failures.add_metric(lv, s.stats.failures)
            dropped.add_metric([*lv, "full"], 0 if store is None else store.sink_dropped.get(s.name, 0))
            dropped.add_metric([*lv, "unsendable"], s.stats.unsendable)
            if s.kind == "cot":
                events.add_metric(lv, s.stats.events)
        yield from (depth, up, delivered, failures, dropped, events)
