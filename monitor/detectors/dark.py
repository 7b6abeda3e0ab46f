"""`dark` and `reappeared`: a vessel last seen in a strait, lane, separation zone or region sends nothing
for longer than the posture's limit (`dark_strait_s` or `dark_region_s` at the level in force); a watched
vessel at sea between chokepoints, on its route from a recent transit, for longer than `dark_route_s`.

Raised at that moment on the feed clock, not when the vessel reappears: each watched vessel has a deadline
in a heap, and the engine's clock fires the ones due as it moves (`next_due`, `fire_next`). A limit that
drops with the posture makes a vessel dark at the change, not before it. Silence during an outage of the
feed does not count (`listening_since`: README, Clocks). A dark vessel heard again is `reappeared`.
"""

from __future__ import annotations

import heapq
import math
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from monitor import savedstate as S
from monitor.alerts import iso_time
from monitor.detectors.base import NEVER, Field, FixDetector, position
from monitor.detectors.voyage import Voyage
from monitor.geo import haversine_m
from monitor.levels import LEVELS

if TYPE_CHECKING:
    from monitor.alerts import Alert
    from monitor.engine import Engine, Vessel, _FastBatch


class Dark(FixDetector):
    name = "dark"
    severity = {
        "dark": ("warning", "warning", "critical", "critical"),
        "reappeared": ("info", "info", "warning", "warning"),
    }
    fields = (
        Field("dark", False, S.boolean),  # reported dark, not heard since
        Field("dark_strait", False, S.boolean),  # the strait's limit applies to it (else the region's)
        # When it last reappeared (draught_change asks whether a dark gap spans a change of draught).
        Field("dark_back", NEVER, S.time_or_never),
        # Watched at sea between chokepoints, on its route from its last transit (dark_route_s applies).
        Field("dark_route", False, S.boolean),
    )
    # (Its `dark_zone`, the zone of the last trusted fix it watches, is saved by zone id with the other
    # zone references, and `timer`, its entry in the heap, is not saved: the heap is rebuilt.)

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        m = engine.masks
        self._port, self._strait = m.port, m.strait
        self.timers: list[tuple[float, int]] = []  # (deadline, mmsi), a heap
        self.limits_since = -math.inf  # when the posture (and so the limits) last changed
        self.listening_since = -math.inf  # when the feed last came back from an outage

    def open(self, v: Vessel) -> bool:
        return v.dark

    def prefilter(self, fb: _FastBatch) -> NDArray[np.bool_]:
        # A silence longer than the shortest limit of any level: the fix may follow a `dark`.
        levels = self.e.posture.settings.levels
        shortest = min(min(lv.dark_strait_s, lv.dark_region_s) for lv in map(levels.of, LEVELS))
        result: NDArray[np.bool_] = (fb.t_a - fb.prev_heard) > shortest
        return result

    def on_fix(self, v: Vessel, t: float, lon: float, lat: float, sog: float, cog: float, s: int,
               alerts: list[Alert]) -> None:
        self.watch(v, s)

    def watch(self, v: Vessel, s: int) -> None:
        """Where `dark` watches the vessel after a trusted fix in zones `s`: the most specific strait-class
        zone, else its region; nowhere in a port. A watched vessel at sea outside every region, on its
        route from a recent transit (monitor.detectors.voyage), is watched against that route: the zone is
        the strait it last passed."""
        v.dark_route = False
        if s & self._port:
            v.dark_zone = None
            return
        v.dark_zone = self.e.area_of(s)
        if v.dark_zone is not None:
            v.dark_strait = bool(s & self._strait)
        elif v.voyage:
            route = self.e.aggregate(Voyage).route(v, self.e.now)
            if route is not None:
                v.dark_zone = self.e.geofence.index_of.get(route[0])
                v.dark_route = v.dark_zone is not None

    # ---- anything heard ------------------------------------------------------------------------------
    def hear(self, v: Vessel, t: float, lon: float, lat: float, sog: float, cog: float,
             alerts: list[Alert]) -> None:
        """Anything from the vessel (a report with or without a position): a dark one has reappeared."""
        if v.dark:
            v.dark = False
            v.dark_back = t
            has_pos = lon == lon and v.has_fix
            details: dict[str, Any] = {
                "gap_s": round(t - v.heard, 1),
                "distance_km": round(haversine_m(v.lon, v.lat, lon, lat) / 1000.0, 3) if has_pos else None,
                "last_seen": iso_time(v.heard),
            }
            pos = position(lat, lon, sog, cog) if lon == lon else None
            self.e.alert("reappeared", v, t, v.dark_zone, pos, details, v.heard, alerts)
        if t > v.heard:
            v.heard = t

    # ---- the timers ------------------------------------------------------------------------------------
    def deadline(self, v: Vessel) -> float | None:
        if v.dark or v.dark_zone is None:
            return None
        limits = self.e.posture.limits
        since = max(self.listening_since, v.heard)
        if v.dark_route:
            return since + limits.dark_route_s
        return since + (limits.dark_strait_s if v.dark_strait else limits.dark_region_s)

    def schedule(self, v: Vessel) -> None:
        """Give the vessel its entry in the heap, if it is watched and has none."""
        if v.timer is None:
            deadline = self.deadline(v)
            if deadline is not None:
                v.timer = deadline
                heapq.heappush(self.timers, (deadline, v.mmsi))

    def next_due(self) -> float:
        return self.timers[0][0] if self.timers else math.inf

    def fire_next(self, t: float, alerts: list[Alert]) -> None:
        """The earliest entry is due before `t`: the vessel goes dark, or, heard since, waits again."""
        _, mmsi = heapq.heappop(self.timers)
        v = self.e.get(mmsi)
        assert v is not None
        v.timer = None
        self.e.catch_up(v)  # reports the fast path skipped so far count as heard
        deadline = self.deadline(v)
        if deadline is None:
            return
        if deadline >= t:  # heard since the entry was made: wait again
            v.timer = deadline
            heapq.heappush(self.timers, (deadline, mmsi))
            return
        # A limit that dropped with the posture makes the vessel dark at the change, not before it.
        when = max(deadline, self.limits_since)
        self.e.changed(v)
        v.dark = True
        self.e.write_track(v)
        details: dict[str, Any] = {"last_seen": iso_time(v.heard), "silent_s": round(when - v.heard, 1)}
        if v.dark_route and v.voyage:
            strait, direction, _, left, _ = v.voyage[-1]
            details["route"] = {"from": strait, "direction": direction, "left": iso_time(left)}
        pos = position(v.lat, v.lon, v.sog, v.cog) if v.has_fix else None
        self.e.alert("dark", v, when, v.dark_zone, pos, details, v.heard, alerts)

    def limits_changed(self, t: float, vessels: list[Vessel]) -> None:
        """The posture changed at `t`: every pending deadline is recomputed."""
        self.limits_since = t
        self.restored(vessels)

    def forget(self, gone: set[int], vessels: list[Vessel]) -> None:
        if any(m in gone for _, m in self.timers):
            self.timers = [e for e in self.timers if e[1] not in gone]
            heapq.heapify(self.timers)

    def restored(self, vessels: list[Vessel]) -> None:
        self.timers = []
        for v in vessels:
            v.timer = None
            self.schedule(v)
