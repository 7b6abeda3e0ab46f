"""The posture's escalation rules as an aggregate detector: alerts of a rule's kinds from enough distinct
vessels close together in time and space (GNSS interference puts many ships on land at once) raise the
posture; a rule quiet for its period lets it fall back.

This module owns the clusters: each rule's recent events in a grid of cells (`EscalationRules`), fed
every alert the engine raises and, by the traffic and interference aggregates, their alerts about no
vessel (`count`). The posture (monitor.posture) owns the levels: what each rule holds, until when, and
the level in force; this detector tells it (`Posture.hold`) and wakes it on the feed clock.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from monitor import savedstate as S
from monitor.detectors.base import AggregateDetector
from monitor.geo import haversine_m

if TYPE_CHECKING:
    from monitor.alerts import Alert
    from monitor.config import EscalationRule
    from monitor.engine import Engine
    from monitor.posture import Posture, PostureChange

_Event = tuple[float, int, float, float]  # (time, mmsi, lon, lat) of an alert a rule counts


@dataclass(slots=True)
class _Cluster:
    """One rule's recent events, oldest first, and the same events in a grid of cells one radius wide
    (degrees), so a cluster is looked for among the events of the neighbouring cells, not all of them: a
    GNSS storm with thousands of ships on land at once made that quadratic (minutes of a stalled loop for
    20,000 ships)."""

    rule: EscalationRule
    index: int  # the rule's place in the posture's settings (Posture.hold)
    events: deque[_Event] = field(default_factory=deque)
    cells: dict[tuple[int, int], deque[_Event]] = field(default_factory=dict)

    def add(self, e: _Event) -> None:
        self.events.append(e)
        self.cells.setdefault(self._cell(e[2], e[3]), deque()).append(e)

    def expire(self, before: float) -> None:
        ev = self.events
        while ev and ev[0][0] < before:
            e = ev.popleft()
            key = self._cell(e[2], e[3])
            cell = self.cells[key]
            cell.remove(e)  # (the oldest of its cell but for events a little out of time order)
            if not cell:
                del self.cells[key]

    def _cell(self, lon: float, lat: float) -> tuple[int, int]:
        size = self.rule.radius_km / 111.32
        return math.floor(lon / size), math.floor(lat / size)

    def vessels_near(self, lon: float, lat: float, enough: int | None) -> set[int]:
        """The vessels with an event within the rule's radius of (lon, lat); with `enough`, the search may
        stop once that many are found."""
        radius = self.rule.radius_km * 1000.0
        size = self.rule.radius_km / 111.32  # degrees of latitude in one radius
        widest = min(89.9, abs(lat) + size)
        dlon = min(180.0, size / math.cos(math.radians(widest)))
        y0, y1 = math.floor((lat - size) / size), math.floor((lat + size) / size)
        # The columns of cells within dlon, across the antimeridian too (an event at 179.9 W lies 0.2
        # degrees from one at 179.9 E): the range taken again 360 degrees east and west.
        columns: set[int] = set()
        for shift in (-360.0, 0.0, 360.0):
            lo, hi = lon + shift - dlon, lon + shift + dlon
            if hi >= -180.0 and lo <= 180.0:
                columns.update(range(math.floor(lo / size), math.floor(hi / size) + 1))
        if len(columns) * (y1 - y0 + 1) > len(self.cells):
            groups: list[deque[_Event]] = list(self.cells.values())  # (near a pole: fewer cells than that)
        else:
            near = ((x, y) for x in columns for y in range(y0, y1 + 1))
            groups = [c for key in near if (c := self.cells.get(key))]
        found: set[int] = set()
        for cell in groups:
            for _, m, x, y in cell:
                if m not in found and haversine_m(lon, lat, x, y) <= radius:
                    found.add(m)
                    if enough is not None and len(found) >= enough:
                        return found
        return found


class EscalationRules:
    """Every rule's clusters, telling the posture when one forms (on its own: tests/test_posture.py)."""

    def __init__(self, posture: Posture) -> None:
        self.posture = posture
        self.clusters = [_Cluster(rule, i) for i, rule in enumerate(posture.settings.rules)]
        self._kinds: dict[str, list[_Cluster]] = {}
        for c in self.clusters:
            for kind in c.rule.kinds:
                self._kinds.setdefault(kind, []).append(c)

    def count(self, kind: str, t: float, mmsi: int | None, lon: float, lat: float,
              reason: str | None = None) -> PostureChange | None:
        """An alert of `kind` at `t`: the rules that count it look for a cluster; the change of the level in
        force, if any. `reason`: what raised the posture, for an alert about no vessel (a traffic drop),
        instead of the count of vessels."""
        clusters = self._kinds.get(kind)
        if not clusters or mmsi is None:
            return None
        posture = self.posture
        held = False
        for c in clusters:
            rule = c.rule
            c.add((t, mmsi, lon, lat))
            c.expire(t - rule.window_s)
            # While the rule is raised a cluster only extends it: enough vessels found, the search stops.
            raised = posture.is_raised(c.index)
            vessels = c.vessels_near(lon, lat, rule.min_vessels if raised else None)
            if len(vessels) >= rule.min_vessels:
                posture.hold(c.index, t, reason or (
                    f"{len(vessels)} vessels with {'/'.join(rule.kinds)} within {rule.window_s / 60:g} min "
                    f"and {rule.radius_km:g} km"))
                held = True
        return posture.update(t) if held else None

    def state(self) -> dict[str, list[list[float]]]:
        return {c.rule.name: [list(e) for e in c.events] for c in self.clusters}

    def restore(self, saved: dict[str, list[_Event]]) -> None:
        """Rules are matched by name (a rule renamed or removed starts, or ends, empty)."""
        for c in self.clusters:
            c.events, c.cells = deque(), {}
            for e in saved.get(c.rule.name, ()):
                c.add(e)


class Escalation(AggregateDetector):
    name = "escalation"

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.rules = EscalationRules(engine.posture)

    def observe(self, alert: Alert, alerts: list[Alert]) -> None:
        p = alert.position
        if alert.mmsi is None or p is None or p["lon"] is None or p["lat"] is None:
            return
        self.count(alert.kind, alert.time, alert.mmsi, p["lon"], p["lat"], alerts)

    def count(self, kind: str, t: float, key: int, lon: float, lat: float, alerts: list[Alert],
              reason: str | None = None) -> None:
        """An alert counted by the rules of its kind (`key`: the vessel, or what stands for it in an
        alert about no vessel); a change of the level goes into `alerts`."""
        change = self.rules.count(kind, t, key, lon, lat, reason)
        if change is not None:
            self.e.posture_changed(change, alerts)

    def next_due(self) -> float:
        due = self.e.posture.next_deadline
        return math.inf if due is None else due

    def wake(self, t: float, alerts: list[Alert]) -> None:
        for change in self.e.posture.tick(t):
            self.e.posture_changed(change, alerts)

    # ---- saved state: each rule's recent events, by rule name ---------------------------------------------
    def global_state(self) -> dict[str, Any]:
        return {"escalation": self.rules.state()}

    @staticmethod
    def read_global(g: dict[str, Any]) -> dict[str, list[_Event]]:
        saved = g.get("escalation")
        if saved is None:
            # A state saved before the clusters moved here kept them with the posture's rules, as
            # [events, until, reason] (the posture reads the other two).
            old = g.get("posture")
            rules = S.mapping(old.get("rules", {}) if type(old) is dict else {}, "posture.rules")
            saved = {name: S.items(r, "posture.rules")[0] for name, r in rules.items()
                     if type(r) is list and len(r) == 3}
        out: dict[str, list[_Event]] = {}
        what = "escalation event"
        for name, events in S.mapping(saved, "escalation").items():
            out[S.text(name, what)] = [
                (S.time(t, what), S.mmsi(m, what), S.lon(lon, what), S.lat(lat, what))
                for t, m, lon, lat in (S.items(e, what, 4) for e in S.items(events, what))
            ]
        return out

    def restore_global(self, checked: Any) -> None:
        self.rules.restore(checked)
