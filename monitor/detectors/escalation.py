"""The posture's escalation rules as an aggregate detector: alerts of a rule's kinds from enough distinct
vessels close together in time and space (GNSS interference puts many ships on land at once) raise the
posture; a rule quiet for its period lets it fall back (monitor.posture keeps the rules' state and the
levels; this detector feeds it the engine's alerts and wakes it on the feed clock)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from monitor.detectors.base import AggregateDetector

if TYPE_CHECKING:
    from monitor.alerts import Alert


class Escalation(AggregateDetector):
    name = "escalation"

    def observe(self, alert: Alert, alerts: list[Alert]) -> None:
        p = alert.position
        if alert.mmsi is None or p is None or p["lon"] is None or p["lat"] is None:
            return
        change = self.e.posture.observe(alert.kind, alert.time, alert.mmsi, p["lon"], p["lat"])
        if change is not None:
            self.e.posture_changed(change, alerts)

    def next_due(self) -> float:
        due = self.e.posture.next_deadline
        return math.inf if due is None else due

    def wake(self, t: float, alerts: list[Alert]) -> None:
        for change in self.e.posture.tick(t):
            self.e.posture_changed(change, alerts)
