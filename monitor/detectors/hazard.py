"""`hazard_enter`: a vessel enters a `hazard` zone (an area to keep out of: mines, an attack, an exercise).

It is the geofence's own `zone_enter` of a hazard zone (monitor.detectors.zones), raised again under its
own kind, in addition to it. So it has exactly the zone events' rules: the tolerance band (a vessel
jittering on the boundary enters once, and enters again only after it was more than
`geofence.hysteresis_m` outside), `geofence.min_dwell_s`, `first_seen` for a vessel first heard inside,
the interpolated entry of a hazard crossed between two fixes, and no event from a hazard past its
`expires`. Being fed the alerts as they are raised, it needs no pre-filter of its own: the zones' one
already gives the per-fix step every fix whose zones change, on the fast path as on the reference.

Any vessel: `warning`, and `critical` for a watched one (CONTRACT), above the engine's floor for watched
vessels (`warning`): a watched ship standing into a mined area is the event the desk is there for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from monitor.alerts import severity_max
from monitor.detectors.base import AggregateDetector

if TYPE_CHECKING:
    from monitor.alerts import Alert


class HazardEnter(AggregateDetector):
    name = "hazard"
    severity = {"hazard_enter": ("warning", "warning", "warning", "warning")}

    def observe(self, alert: Alert, alerts: list[Alert]) -> None:
        zone = alert.zone
        if alert.kind != "zone_enter" or zone is None or zone["kind"] != "hazard" or alert.mmsi is None:
            return
        e = self.e
        v = e.vessels[alert.mmsi]
        details: dict[str, Any] = {
            k: alert.details[k] for k in ("first_seen", "interpolated") if k in alert.details}
        at = len(alerts)  # (observers of it may append after it: a posture change)
        e.alert("hazard_enter", v, alert.time, e.geofence.index_of[zone["id"]], alert.position, details,
                alert.time, alerts)
        if v.watch:
            alerts[at].severity = severity_max(alerts[at].severity, "critical")
