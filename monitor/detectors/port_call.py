"""`port_call`: a vessel stops in a port or anchorage and leaves it; and the port statistics per period.

A call is kept per vessel, in one zone of kind `port` or `anchorage`: of those its fix lies in, a port
before an anchorage (zone files draw anchorages round the ports they serve: Fujairah's berths lie in its
anchorage), else the first in the zone file. Moving from the anchorage into such a port ends the
anchorage call and begins one in the port.

- **arrival**: its first fix inside the zone (the polygon itself, not the tolerance band);
- **stopped**: at some fix of the stay slower than `detectors.port_call_stopped_kn` (1 kn). Speed, not
  navigational status: crews leave "at anchor" or "moored" set for days after sailing, and the per-fix
  step is not given the status; a ship at anchor or alongside reports 0-0.5 kn;
- **departure**: its last fix inside the zone or its tolerance band (`geofence.hysteresis_m`) before it
  left. A vessel is in the zone while its fix lies in it or the geofence keeps it (the band, from
  `Vessel.member`). Leaving is certain once a fix lies outside at `port_call_depart_kn` (3 kn) or more
  (under way: a ship swinging at anchor never makes that), or lies outside
  `port_call_grace_s` (30 min) after the last one inside, or lies in another harbour. Until then a
  vessel that comes back continues the same call: a ship drifting across an anchorage's edge at anchor,
  out and in every few minutes, makes one call, not ten (the band alone holds only drifts of up to
  150 m; an anchored ship swings over 300 m and more round its anchor).

A call of at least `traffic.min_call_s` (2 h, arrival to departure) in which the vessel stopped is a port
call: a `port_call` alert when leaving is certain (its `time` and position that fix's; `details.departed`
the departure), counted in the period of its departure. Shorter stays and passages are nothing.

**Anchorage queues.** A vessel is waiting at an anchorage from the first fix of its call at which it is
stopped until its call ends (leaving certain, as above). Per anchorage and period: `waiting_max`, the most
vessels waiting at once, and `waiting_mean`, the time-weighted mean over the period (vessel-seconds waiting
divided by the period's length; for the period under way, by its part elapsed on the feed clock): exact,
with no sampling, as the count changes only at those events.

The figures are kept by an aggregate detector of this module, `PortStats` (in `AGGREGATES`, so the
`stats` command and `GET /api/traffic` merge its `stats()`: the CONTRACT `stats` JSON sections `ports` and
`anchorages`; its state saved in the engine's row). It counts the `port_call` alerts it is fed, and
`PortCall` tells it when a vessel starts and stops waiting (the moment a vessel stops raises no alert).
The newest `KEEP_ROWS` periods are kept per zone (the saved state is written with every batch).

The fast path: a vessel with no call takes the per-fix step only for fixes in a port or anchorage; a
vessel with a call open is `quiet`: only a fix outside the call's zone, or its first stopped one, takes
the step; the others only move `pc_last` on (`carry`). So ships at anchor for days cost nothing per fix.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field as Setting

from monitor import savedstate as S
from monitor.alerts import iso_time
from monitor.detectors.base import NEVER, AggregateDetector, Field, FixDetector, lowest, position
from monitor.settings_base import Seconds, Section

if TYPE_CHECKING:
    from monitor.alerts import Alert
    from monitor.config import TrafficSettings
    from monitor.engine import Engine, Vessel, _FastBatch

PERIOD_S = {"day": 86_400.0, "hour": 3_600.0}
# Rows kept per zone: a month of hours, two years of days (the saved state stays small).
KEEP_ROWS = 744


class PortCallSettings(Section):
    """[detectors] keys of `port_call`."""

    port_call_stopped_kn: Seconds = Setting(default=1.0, gt=0)  # slower than this is stopped
    port_call_depart_kn: Seconds = Setting(default=3.0, gt=0)  # outside at this speed: it has left
    port_call_grace_s: Seconds = Setting(default=1800.0, ge=0)  # outside and back within this: one call


class _Row:
    """One zone's figures in one period."""

    __slots__ = ("calls", "max", "wait_s")

    def __init__(self, calls: int = 0, most: int = 0, wait_s: float = 0.0) -> None:
        self.calls = calls
        self.max = most
        self.wait_s = wait_s  # vessel-seconds waiting (anchorages)


class PortCall(FixDetector):
    name = "port_call"
    section = "traffic"  # (min_call_s)
    settings = PortCallSettings
    severity = {"port_call": ("info", "info", "info", "info")}
    rule_kinds = False  # a port call is routine: no escalation rule counts it
    fields = (
        Field("pc_zone", None, S.opt_text),  # id of the zone of the call under way (None: none)
        Field("pc_since", None, S.opt_time),  # its arrival
        Field("pc_last", NEVER, S.time_or_never, urgent=False),  # its last fix in the zone (or the band)
        Field("pc_stop", None, S.opt_time),  # its first stopped fix (None: not stopped yet)
        Field("pc_draught", None, S.opt_draught),  # the draught reported at arrival
        Field("pc_port", None, S.opt_text),  # id of the zone of its last port call (draught_change)
        Field("pc_left", NEVER, S.time_or_never),  # the departure of that call
    )
    quiet = True

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        zones = engine.geofence.zones
        self._index = engine.geofence.index_of
        self._ids = [z.id for z in zones]
        self._harbour, self._port = engine.masks.harbour, engine.masks.port
        self._anchorage = {i for i, z in enumerate(zones) if z.kind == "anchorage"}
        self._set_port = np.zeros(0, dtype=bool)  # per zone-set id (geofence.sets): in a port
        self.min_call_s = 7200.0
        self._counts: PortStats | None = None  # (the aggregate is made after the per-fix detectors)
        # Of the batch (prefilter, for carry): per vessel (`fb.uniq`), has it a call open.
        self._call = np.zeros(0, dtype=bool)

    def configure(self, traffic: TrafficSettings) -> None:
        """Take the [traffic] key it reads (the section is shared with the traffic counts)."""
        self.min_call_s = traffic.min_call_s

    @property
    def counts(self) -> PortStats:
        """The engine's port statistics (the aggregate `PortStats`)."""
        if self._counts is None:
            self._counts = self.e.aggregate(PortStats)
        return self._counts

    def open(self, v: Vessel) -> bool:
        return v.pc_zone is not None

    # ---- the fast path -------------------------------------------------------------------------------
    def prefilter(self, fb: _FastBatch) -> NDArray[np.bool_]:
        # A vessel with no call: a fix in a harbour may begin one.
        result: NDArray[np.bool_] = self.e.set_harbour[fb.ids].copy()
        self._call = np.zeros(len(fb.uniq), dtype=bool)
        calls = [(u, v) for u, v in zip(fb.quiet_idx.tolist(), fb.quiet_vessels) if v.pc_zone is not None]
        if not calls:
            return result
        # A vessel with a call: only a fix outside the call's zone (it may be leaving: the step judges
        # the band, the grace and the speed) or its first stopped one (it begins waiting) can change more
        # than `pc_last`. Inside means the zone polygon itself, as the step's "in" includes it.
        at_u = np.array([u for u, _ in calls], dtype=np.int64)
        self._call[at_u] = True
        zone = np.zeros(len(fb.uniq), dtype=np.int64)
        stopped = np.zeros(len(fb.uniq), dtype=bool)
        anchored = np.zeros(len(fb.uniq), dtype=bool)
        zone[at_u] = [self._index[v.pc_zone] for _, v in calls]  # type: ignore[index]
        stopped[at_u] = [v.pc_stop is not None for _, v in calls]
        anchored[at_u] = [int(z) in self._anchorage for z in zone[at_u].tolist()]
        rows = np.flatnonzero(self._call[fb.inverse])
        u = fb.inverse[rows]
        z = zone[u]
        words = self.e.geofence.sets.words[fb.ids[rows], z // 64]
        inside = ((words >> (z % 64).astype(np.uint64)) & np.uint64(1)).astype(bool)
        inside &= ~(anchored[u] & self._ports()[fb.ids[rows]])  # (from an anchorage into a port: a new call)
        first_stop = ~stopped[u] & (fb.sog_a[rows] < self.det.port_call_stopped_kn)
        result[rows] = ~inside | first_stop
        return result

    def _ports(self) -> NDArray[np.bool_]:
        sets = self.e.geofence.sets
        have = len(self._set_port)
        if have < len(sets):
            new = [bool(mask & self._port) for mask in sets.masks[have:]]
            self._set_port = np.r_[self._set_port, np.array(new, dtype=bool)]
        return self._set_port

    def carry(self, fb: _FastBatch, rows: NDArray[np.int64]) -> Iterable[Vessel]:
        # The skipped fixes of a call lie in its zone and change nothing but when it was last there.
        rows = rows[self._call[fb.inverse[rows]]]
        if not len(rows):
            return ()
        mmsis, at = np.unique(fb.mmsi_a[rows], return_inverse=True)
        last = np.full(len(mmsis), -np.inf)
        np.maximum.at(last, at, fb.t_a[rows])
        vessels = self.e.vessels
        for mmsi, t in zip(mmsis.tolist(), last.tolist()):
            v = vessels[mmsi]
            v.pc_last = max(v.pc_last, t)  # (rows older than the track never get here: they take the step)
        return ()

    # ---- the exact rule ------------------------------------------------------------------------------
    def on_fix(self, v: Vessel, t: float, lon: float, lat: float, sog: float, cog: float, s: int,
               alerts: list[Alert]) -> None:
        det = self.det
        if v.pc_zone is not None:
            z = self._index[v.pc_zone]
            # (A port inside an anchorage is where ships go from it: from the anchorage into the port is a
            # call there.)
            if (s | v.member) >> z & 1 and not (s & self._port and z in self._anchorage):
                v.pc_last = t
                if v.pc_stop is None and sog < det.port_call_stopped_kn:
                    self._stopped(v, z, t)
                return
            # Outside: slow and not for long, it may come back (drifting at anchor); it has left once
            # under way, out for longer than the grace, or in another harbour.
            if not (s & self._harbour) and not sog >= det.port_call_depart_kn and (
                    t - v.pc_last <= det.port_call_grace_s):
                return
            self._leave(v, z, t, position(lat, lon, sog, cog), alerts)
        here = s & self._port or s & self._harbour  # (a port before the anchorage round it)
        if here:
            z = lowest(here)
            v.pc_zone, v.pc_since, v.pc_last, v.pc_stop, v.pc_draught = self._ids[z], t, t, None, v.draught
            if sog < det.port_call_stopped_kn:
                self._stopped(v, z, t)

    def _stopped(self, v: Vessel, z: int, t: float) -> None:
        v.pc_stop = t
        if z in self._anchorage:
            self.counts.wait(z, t, 1)

    def _leave(self, v: Vessel, z: int, t: float, pos: dict[str, float | None] | None,
               alerts: list[Alert]) -> None:
        """The call in zone z is over (certain at `t`): a port call if long enough and stopped."""
        arrived, departed = v.pc_since, v.pc_last
        assert arrived is not None
        if v.pc_stop is not None:
            if z in self._anchorage:
                self.counts.wait(z, t, -1)
            if departed - arrived >= self.min_call_s:
                v.pc_port, v.pc_left = v.pc_zone, departed
                details = {
                    "arrived": iso_time(arrived), "departed": iso_time(departed),
                    "duration_s": round(departed - arrived, 1),
                    "draught_in": v.pc_draught, "draught_out": v.draught,
                }
                self.e.alert("port_call", v, t, z, pos, details, arrived, alerts)
        v.pc_zone = v.pc_since = v.pc_stop = v.pc_draught = None

    def restored(self, vessels: list[Vessel]) -> None:
        # Calls in zones the zone file no longer has are dropped; who waits at each anchorage is counted
        # again from the vessels.
        waiting: dict[int, list[float]] = {}
        for v in vessels:
            if v.pc_zone is None:
                continue
            z = self._index.get(v.pc_zone)
            if z is None or not self._harbour >> z & 1:
                v.pc_zone = v.pc_since = v.pc_stop = v.pc_draught = None
                continue
            if v.pc_stop is not None and z in self._anchorage:
                waiting.setdefault(z, []).append(v.pc_stop)
        self.counts.restore_waiting(waiting)

    def forget(self, gone: set[int], vessels: list[Vessel]) -> None:
        # A vessel forgotten in a call no longer waits (its call is dropped, not counted).
        for v in vessels:
            if v.pc_zone is not None and v.pc_stop is not None:
                z = self._index.get(v.pc_zone, -1)
                if z in self._anchorage:
                    self.counts.wait(z, self.e.now, -1)


class PortStats(AggregateDetector):
    """Port calls per port and anchorage and period, and the anchorage queues (see the module's
    docstring): counted from the `port_call` alerts (in the period of `details.departed`), the queues
    told by `PortCall` as vessels stop and leave. Its state is saved in the engine's row."""

    name = "port_stats"
    section = "traffic"  # (period)

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        zones = engine.geofence.zones
        self._index = engine.geofence.index_of
        self._ids = [z.id for z in zones]
        self._anchorage = {i for i, z in enumerate(zones) if z.kind == "anchorage"}
        self.period = "day"
        self.period_s = PERIOD_S["day"]
        # zone index -> period start -> figures; anchorage -> [vessels waiting, since when].
        self.rows: dict[int, dict[float, _Row]] = {}
        self.waiting: dict[int, list[float]] = {}
        # Saved state being restored: anchorage -> when its count of vessels waiting last changed.
        self._since: dict[int, float] = {}

    def configure(self, traffic: TrafficSettings) -> None:
        """Take the [traffic] key it reads (the section is shared with the traffic counts)."""
        self.period = traffic.period
        self.period_s = PERIOD_S[traffic.period]

    def observe(self, alert: Alert, alerts: list[Alert]) -> None:
        if alert.kind == "port_call" and alert.zone is not None:
            departed = datetime.fromisoformat(alert.details["departed"]).timestamp()
            self._row(self._index[alert.zone["id"]], departed).calls += 1

    # ---- the statistics ------------------------------------------------------------------------------
    def _start(self, t: float) -> float:
        return math.floor(t / self.period_s) * self.period_s

    def _row(self, z: int, t: float) -> _Row:
        rows = self.rows.setdefault(z, {})
        start = self._start(t)
        row = rows.get(start)
        if row is None:
            row = rows[start] = _Row()
            if len(rows) > KEEP_ROWS:
                del rows[min(rows)]
        return row

    def wait(self, z: int, t: float, change: int) -> None:
        """The vessels waiting at anchorage z change by `change` at `t`: the time since the last change
        is added to the periods it spans."""
        count, since = self.waiting.setdefault(z, [0, t])
        t = max(t, since)  # (fixes of different vessels may come a little out of order)
        if count:
            for start, seconds in self._spans(since, t):
                row = self._row(z, start)
                row.wait_s += count * seconds
                row.max = max(row.max, int(count))
        count += change
        if count:
            row = self._row(z, t)
            row.max = max(row.max, int(count))
        self.waiting[z] = [count, t]

    def _spans(self, t0: float, t1: float) -> Iterable[tuple[float, float]]:
        """(period start, seconds of [t0, t1) in it) for each period [t0, t1) touches."""
        start = self._start(t0)
        while start < t1:
            end = start + self.period_s
            yield start, min(end, t1) - max(start, t0)
            start = end

    def stats(self) -> dict[str, Any]:
        """The CONTRACT `stats` JSON sections `ports` and `anchorages`, up to the engine's clock: per zone,
        a row per period with a port call or a vessel waiting, oldest first."""
        now = self.e.now
        out: dict[str, dict[str, list[dict[str, Any]]]] = {"ports": {}, "anchorages": {}}
        for z in sorted(set(self.rows) | set(self.waiting)):
            anchorage = z in self._anchorage
            figures = {start: [r.calls, r.max, r.wait_s] for start, r in self.rows.get(z, {}).items()}
            count, since = self.waiting.get(z, (0, now))
            if count and now > since:  # the waiting still under way, not yet added to the rows
                for start, seconds in self._spans(since, now):
                    f = figures.setdefault(start, [0, 0, 0.0])
                    f[1] = max(f[1], int(count))
                    f[2] += count * seconds
            rows = []
            for start in sorted(figures):
                calls, most, wait_s = figures[start]
                row: dict[str, Any] = {"start": iso_time(start), "port_calls": calls}
                if anchorage:
                    length = min(self.period_s, max(now - start, 0.0)) or self.period_s
                    row["waiting_max"] = most
                    row["waiting_mean"] = round(wait_s / length, 3)
                rows.append(row)
            out["anchorages" if anchorage else "ports"][self._ids[z]] = rows
        return out

    # ---- saved state ---------------------------------------------------------------------------------
    def global_state(self) -> dict[str, Any]:
        ids = self._ids
        return {"port_calls": {
            "period": self.period,
            "rows": {ids[z]: [[start, r.calls, r.max, r.wait_s] for start, r in sorted(rows.items())]
                     for z, rows in self.rows.items()},
            "waiting": {ids[z]: [count, since] for z, (count, since) in self.waiting.items()},
        }}

    @staticmethod
    def read_global(g: dict[str, Any]) -> Any:
        saved = S.mapping(g.get("port_calls", {}), "port_calls")
        period = saved.get("period", "day")
        if period not in PERIOD_S:
            raise S.BadValue(f"port_calls.period: {period!r:.20}")
        rows: dict[str, list[tuple[float, int, int, float]]] = {}
        for zid, zone_rows in S.mapping(saved.get("rows", {}), "port_calls.rows").items():
            what = "port_calls.rows"
            rows[S.text(zid, what)] = [
                (S.time(start, what), int(S.integer(0, 2**31)(calls, what) or 0),
                 int(S.integer(0, 2**31)(most, what) or 0), S.metres(wait_s, what))
                for start, calls, most, wait_s in (S.items(r, what, 4) for r in S.items(zone_rows, what))
            ]
        waiting: dict[str, float] = {}
        for zid, count_since in S.mapping(saved.get("waiting", {}), "port_calls.waiting").items():
            what = "port_calls.waiting"
            count, since = S.items(count_since, what, 2)
            S.integer(0, 2**31)(count, what)
            waiting[S.text(zid, what)] = S.time(since, what)
        return period, rows, waiting

    def restore_global(self, checked: Any) -> None:
        period, rows, waiting = checked
        index = self._index
        self.rows = {}
        if period == self.period:  # (figures of another period length do not mix with these)
            for zid, zone_rows in rows.items():
                if zid in index:
                    self.rows[index[zid]] = {start: _Row(c, m, w) for start, c, m, w in zone_rows}
        # Who is waiting comes from the vessels (`restored`); since when the count last changed from here.
        self._since = {index[zid]: since for zid, since in waiting.items() if zid in index}

    def restore_waiting(self, waiting: dict[int, list[float]]) -> None:
        """The vessels waiting at each anchorage (when each stopped), from the restored vessels."""
        self.waiting = {z: [0, t] for z, t in self._since.items()}
        for z, stops in waiting.items():
            entry = self.waiting.setdefault(z, [0, min(stops)])
            entry[0] = len(stops)
