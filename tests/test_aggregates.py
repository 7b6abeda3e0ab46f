"""Aggregate detectors (monitor.detectors.base.AggregateDetector): fed every alert about a vessel, woken on
the feed clock when they ask. The posture's escalation rules are the first (tests/test_posture.py and the
sample's golden posture changes); here a detector of the test's own, attached to an engine, checks the
mechanism against the alerts the replay returns."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

from monitor.alerts import Alert
from monitor.config import load_settings
from monitor.detectors.base import AggregateDetector
from monitor.engine import Engine
from monitor.pipeline import Pipeline
from monitor.zones import default_zone_path, load_zone_file

ROOT = Path(__file__).resolve().parents[1]


class Hourly(AggregateDetector):
    """Counts the alerts it is fed, and asks to be woken every hour of feed time from the first one."""

    name = "hourly"

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.fed: list[str] = []
        self.wakes: list[tuple[float, float]] = []  # (the time it asked for, the engine's clock then)
        self.due = math.inf

    def observe(self, alert: Alert, alerts: list[Alert]) -> None:
        assert alerts[-1] is alert or alert in alerts
        self.fed.append(alert.id)
        if self.due == math.inf:
            self.due = alert.time + 3600.0

    def next_due(self) -> float:
        return self.due

    def wake(self, t: float, alerts: list[Alert]) -> None:
        self.wakes.append((t, self.e.now))
        self.due = t + 3600.0


def test_an_aggregate_is_fed_every_vessel_alert_and_woken_on_the_feed_clock() -> None:
    p = Pipeline(load_settings(None, env={}), load_zone_file(default_zone_path()))
    hourly = Hourly(p.engine)
    p.engine.aggregates.append(hourly)
    with gzip.open(ROOT / "examples" / "hormuz-sample.nmea.gz") as f:
        lines = f.read().splitlines()
    alerts = [a for i in range(0, len(lines), 4096) for a in p.process_lines(lines[i : i + 4096])]
    vessel_alerts = sorted(a.id for a in alerts if a.mmsi is not None)
    assert sorted(hourly.fed) == vessel_alerts and len(vessel_alerts) > 200
    first = min(a.time for a in alerts if a.mmsi is not None)
    # Woken once an hour of feed time, at the hour it asked for, while the clock passed it.
    assert [t for t, _ in hourly.wakes] == [first + 3600.0 * k for k in range(1, len(hourly.wakes) + 1)]
    assert len(hourly.wakes) == int((p.engine.now - first) // 3600.0)
    assert all(t <= now for t, now in hourly.wakes)
