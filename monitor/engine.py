"""The per-vessel engine: fuses reports into tracks and runs the detectors on them (monitor.detectors).

One pass over each decoded batch, in input order, on the feed clock (the newest time seen). Point-in-zone
comes in as one zone-set id per fix, computed for the whole batch by the geofence; everything here is
integer and float work per fix, with no per-message objects beyond the alerts it raises.

Per fix, in order:
  1. the clock: `dark` (monitor.detectors.dark) fires the deadlines due on it; raised posture rules fall
     back;
  2. trust (`on_land`, `position_jump`): a fix on land (in no port) or one implying an impossible speed is
     reported once per episode and is never evidence for anything else: it does not move the track;
  3. the geofence's events (`zones`): zone enter/exit with a tolerance band, gate crossings and strait
     transits, zones passed through between fixes;
  4. the other detectors on the trusted track (`loiter`, `wrong_way`, `encounter`), and where `dark`
     watches the vessel.

The engine owns the vessels, the track table, the clock and the saved state; each detector owns its
per-vessel fields, its alert kinds, its pre-filter and its logic. The fast path (`_process_fast`) gives the
per-fix step only the fixes that some detector's pre-filter, or an open episode, says can change something;
the others only move the track, in the table, for the whole batch at once.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from monitor import savedstate
from monitor.alerts import Alert, alert_id, iso_time, severity_max
from monitor.config import LEVELS, DetectorSettings
from monitor.decode import DecodedBatch, StaticReport
from monitor.detectors import AGGREGATES, DETECTORS, vessel_fields
from monitor.detectors.base import DISTRUST, REANCHOR, AggregateDetector, FixDetector, Masks, TrustDetector
from monitor.detectors.base import bits as _bits
from monitor.detectors.base import lowest as _lowest
from monitor.detectors.dark import Dark
from monitor.detectors.zones import Zones
from monitor.geo import haversine_np
from monitor.geofence import Geofence
from monitor.mid import flag_of
from monitor.posture import Posture, PostureChange
from monitor.savedstate import STATE_VERSION
from monitor.watchlists import Watchlists

Move = tuple["Vessel", float, float, float, float, float, float, float, float, int]


_DETECTOR_FIELDS = vessel_fields()
_URGENT = operator.attrgetter(*(f.name for f in _DETECTOR_FIELDS if f.urgent))


_A = TypeVar("_A", bound=AggregateDetector)  # (Engine.aggregate)

class Vessel:
    """Everything known about one MMSI. One object per vessel, none per message. Besides the fields
    here, each detector's per-vessel fields (monitor.detectors, `fields`) are slots of it."""

    __slots__ = (
        "mmsi", "name", "imo", "callsign", "ship_type", "draught", "destination", "flag", "watch",
        "time", "lon", "lat", "sog", "cog", "member", "last_s", "pending", "transit", "_info",
        "heard", "dark_zone", "timer",
        *(f.name for f in _DETECTOR_FIELDS),
    )
    # (Typed here for the detectors that own them: monitor.detectors.dark, .on_land, .position_jump,
    # .loiter, .wrong_way, .encounter.)
    dark: bool
    dark_strait: bool
    land_start: float
    land_last: float
    jump_start: float
    jump_last: float
    jump_cands: tuple[tuple[float, float, float], ...]
    lo_t0: float | None
    lo_x: float
    lo_y: float
    lo_r: float
    lo_fast: float | None
    lo_alerted: bool
    ww_since: float | None
    ww_last: float
    ww_alerted: bool
    slow_t: float
    slow_x: float
    slow_y: float
    cell: tuple[int, int] | None
    cd_since: float | None  # (monitor.detectors.corridor)
    cd_last: float
    dark_back: float  # (monitor.detectors.dark: its last reappearance)
    pc_zone: str | None  # (monitor.detectors.port_call)
    pc_since: float | None
    pc_last: float
    pc_stop: float | None
    pc_draught: float | None
    pc_port: str | None
    pc_left: float
    dc_ref: float | None  # (monitor.detectors.draught_change)
    dc_seen: float
    length: int | None  # (monitor.detectors.traffic: AIS dimensions, bow + stern, metres)
    draught_max: float | None  # the deepest draught heard from it
    gnss_good: float  # (monitor.detectors.interference: its last report with a clean GNSS fix)
    voyage: tuple[tuple[str, str, float, float, int], ...]  # (monitor.detectors.voyage: its transits)
    dark_route: bool  # (monitor.detectors.dark: watched on its route between chokepoints)
    ro_reported: float  # (monitor.detectors.roster_overdue: the last report of a silence reported)
    ic_shadow: tuple[float, ...]  # (monitor.detectors.identity_conflict: the other track's last fix)
    ic_runs: int
    ic_since: float | None
    id_ref: tuple[Any, ...]  # (monitor.detectors.identity: the identity in force)
    id_last: tuple[float | None, ...]
    id_other: str | None

    def __init__(self, mmsi: int, watch: list[str]) -> None:
        self.mmsi = mmsi
        self.name: str | None = None
        self.imo: int | None = None
        self.callsign: str | None = None
        self.ship_type: int | None = None
        self.draught: float | None = None
        self.destination: str | None = None
        self.flag = flag_of(mmsi)
        self.watch = watch
        self._info: dict[str, Any] | None = None
        # The trusted track: the last fix that was neither on land nor a jump.
        self.time = -math.inf
        self.lon = math.nan
        self.lat = math.nan
        self.sog = math.nan
        self.cog = math.nan
        self.member = 0  # bit mask of zones the vessel is in (tracked kinds, with the tolerance band)
        self.last_s = 0  # bit mask of the zones its last trusted fix lay in, strictly
        self.pending: dict[int, float] = {}  # zone -> first time inside, while min_dwell_s runs
        self.transit: dict[int, tuple[int, float]] = {}  # strait -> (gate entered by, time)
        # Silence: the last time anything was heard, and where the dark limit applies.
        self.heard = -math.inf
        self.dark_zone: int | None = None  # zone of the last trusted fix that `dark` watches, if any
        self.timer: float | None = None  # deadline of its entry in the timer heap, if it has one
        # Episodes of untrusted fixes.
        for f in _DETECTOR_FIELDS:
            setattr(self, f.name, f.default)

    @property
    def has_fix(self) -> bool:
        return self.time > -math.inf

    def apply_static(self, s: StaticReport) -> bool:
        """Fuse a static report; True if anything changed."""
        changed = False
        for attr in ("name", "imo", "callsign", "ship_type", "draught", "destination"):
            value = getattr(s, attr)
            if value is not None and getattr(self, attr) != value:
                setattr(self, attr, value)
                changed = True
        # What a tanker's laden/ballast call needs (monitor.detectors.traffic).
        if s.length is not None and s.length != self.length:
            self.length = s.length
            changed = True
        if s.draught is not None and (self.draught_max is None or s.draught > self.draught_max):
            self.draught_max = s.draught
            changed = True
        if changed:
            self._info = None
        return changed

    def signature(self) -> tuple[Any, ...]:
        """Everything but the track itself: if a report leaves this unchanged, losing it to a crash
        repeats no alert, so saving it can wait (Engine.moved)."""
        return (
            self.member, self.dark_zone, _URGENT(self), tuple(self.pending.items()),
            tuple(self.transit.items()), self.time == -math.inf,
        )

    def info(self) -> dict[str, Any]:
        """The alert's `vessel` object, cached until static data changes."""
        if self._info is None:
            self._info = {
                "name": self.name,
                "imo": self.imo,
                "callsign": self.callsign,
                "ship_type": self.ship_type,
                "flag": self.flag,
                "watch": list(self.watch),
            }
        return self._info


class Engine:
    """Per-vessel state, the geofence events and the behaviour detectors, on one clock."""

    def __init__(
        self,
        geofence: Geofence,
        *,
        posture: Posture,
        detectors: DetectorSettings,
        watchlists: Watchlists,
        min_dwell_s: float = 0.0,
        forget_after_s: float = 0.0,
        outage_s: float = math.inf,
        max_vessels: int = 0,
        history_points: int = 0,
        history_interval_s: float = 60.0,
    ) -> None:
        self.geofence = geofence
        self.posture = posture
        self.det = detectors
        self.watchlists = watchlists
        self.min_dwell_s = min_dwell_s
        self.forget_after_s = forget_after_s  # 0: never
        self.forgotten = 0  # vessels forgotten so far
        self.max_vessels = max_vessels  # 0: no cap
        self.evicted = 0  # vessels dropped so far to keep under max_vessels
        self._next_forget = -math.inf  # feed time of the next look for silent vessels
        self.vessels: dict[int, Vessel] = {}
        self.stale = 0
        self.now = -math.inf  # the feed clock: the newest time seen
        # Outages: lines more than outage_s apart with nothing between them mean the receiver (or the
        # link, or this daemon) was down, not that every vessel fell silent at once. A vessel last heard
        # before an outage counts its silence again from the line that ended it (`_listening_since`).
        self.outage_s = outage_s
        self._line_now = -math.inf  # the newest time of a line (ticks move `now`, not this)
        self._resumes: list[float] = []  # the batch's lines that end an outage, in order
        km = geofence.kind_mask
        self.masks = Masks(
            strait=km.get("strait", 0) | km.get("tss_lane", 0) | km.get("separation_zone", 0),
            lane=km.get("tss_lane", 0),
            separation=km.get("separation_zone", 0),
            region=km.get("region", 0),
            land=km.get("land", 0),
            port=km.get("port", 0),
            harbour=km.get("port", 0) | km.get("anchorage", 0),
            tracked=geofence.tracked_mask,
        )
        # MMSIs whose state changed since the last export_state(); None: not tracked (replay). `moved`
        # holds those whose only change is the track moving on (fast-path fixes): saved less often, as
        # losing a few seconds of track to a crash repeats no alert.
        self.dirty: set[int] | None = None
        self.moved: set[int] = set()
        self._ids_cache: dict[int, list[str]] = {}  # zone mask -> zone ids, for saving state
        # The track fields of every vessel in numpy arrays: the fast path reads and writes them for the
        # whole batch at once, and brings a Vessel object up to date only when something looks at it.
        self._tracks = _Tracks(history_points)
        # Each vessel's recent track (for the API and the map page): a trusted fix at most every
        # history_interval_s, the last history_points of them (0: none kept). Taken from the track as each
        # batch leaves it, so a replay in other batch sizes may keep other fixes of the same track.
        self.history_interval_s = history_interval_s
        # What the fast path asks of a fix's zone set, per zone-set id (geofence.sets), grown as new sets
        # appear (the detectors keep tables of their own for their own questions).
        self._sets = geofence.sets
        self.set_land = np.zeros(0, dtype=bool)  # per zone-set id: on land and in no port (untrusted)
        self.set_harbour = np.zeros(0, dtype=bool)  # per zone-set id: in a port or anchorage
        # The batch step: _process_fast, which gives the per-fix step only the fixes that can change
        # something. (The tests put their reference here, every fix through the per-fix step, and
        # compare: tests/oracle.py.)
        self.step: Callable[[DecodedBatch, Callable[[], float]], tuple[list[Alert], int, list[Move]]] = (
            self._process_fast
        )
        self._fast: _FastBatch | None = None  # the batch being processed on the fast path
        # The detectors (monitor.detectors), in order: those that judge a fix before the geofence, and
        # those that run on a trusted fix after it.
        self.detectors = [cls(self) for cls in DETECTORS]
        # Two with hooks of their own: the geofence's events (before the track moves) and `dark` (timers,
        # anything heard).
        self.zones = next(d for d in self.detectors if isinstance(d, Zones))
        self.dark = next(d for d in self.detectors if isinstance(d, Dark))
        self.trust_detectors = [d for d in self.detectors if isinstance(d, TrustDetector)]
        self.fix_detectors = [d for d in self.detectors if not isinstance(d, (TrustDetector, Dark, Zones))]
        # Those that take static reports (`on_static`; the others' is the base's no-op, not worth a call).
        self._static_hooks = [d for d in self.detectors if type(d).on_static is not FixDetector.on_static]
        # Whose open episodes keep a vessel's every fix on the per-fix step, and whose do not (`quiet`).
        self._loud = [d for d in self.detectors if not d.quiet]
        self._quiet = [d for d in self.detectors if d.quiet]
        # The aggregate detectors: fed every alert, woken on the clock (the posture's rules first).
        self.aggregates = [cls(self) for cls in AGGREGATES]

    def vessel(self, mmsi: int) -> Vessel:
        v = self.vessels.get(mmsi)
        if v is None:
            # By MMSI and MID for now; by IMO once a static report brings it (`_static`).
            v = self.vessels[mmsi] = Vessel(mmsi, self.watchlists.match(mmsi))
            tr = self._tracks
            k = tr.add(mmsi)  # (before reading tr.born: adding may grow the table's arrays)
            tr.born[k] = self.now  # heard once, it stays `heard <= born`: evicted first
            if self.dirty is not None:
                self.dirty.add(mmsi)
        else:
            tr = self._tracks
            if tr.stale[tr.slot[mmsi]]:
                self._sync(v)
        return v

    def get(self, mmsi: int) -> Vessel | None:
        """The vessel, up to date, or None (for readers such as the HTTP API)."""
        v = self.vessels.get(mmsi)
        if v is not None:
            tr = self._tracks
            if tr.stale[tr.slot[mmsi]]:
                self._sync(v)
        return v

    def _sync(self, v: Vessel) -> None:
        """Copy the track the fast path moved on in the table into the Vessel object."""
        tr = self._tracks
        k = tr.slot[v.mmsi]
        tr.stale[k] = False
        v.time = float(tr.time[k])
        v.lon = float(tr.lon[k])
        v.lat = float(tr.lat[k])
        v.sog = float(tr.sog[k])
        v.cog = float(tr.cog[k])
        heard = float(tr.heard[k])
        if heard > v.heard:
            v.heard = heard
        land_last = float(tr.land_last[k])
        if land_last > v.land_last:
            v.land_last = land_last
        s = self._sets.masks[tr.last_id[k]]
        v.last_s = s
        v.member = s & self.masks.tracked
        self.dark.watch(v, s)

    def _sync_all(self) -> None:
        tr = self._tracks
        for k in np.flatnonzero(tr.stale[: tr.n]).tolist():
            self._sync(self.vessels[int(tr.mmsi[k])])

    def _table(self, v: Vessel) -> None:
        """Write a Vessel object's track (after the per-fix step changed it) into the table."""
        tr = self._tracks
        k = tr.slot[v.mmsi]
        tr.time[k] = v.time
        tr.lon[k] = v.lon
        tr.lat[k] = v.lat
        tr.sog[k] = v.sog
        tr.cog[k] = v.cog
        tr.heard[k] = v.heard
        tr.last_id[k] = self._sets.intern(v.last_s)
        tr.land_last[k] = v.land_last
        if tr.history and v.time - tr.hist_last[k] >= self.history_interval_s:
            tr.sample(np.array([k]), np.array([v.time]), np.array([v.lon]), np.array([v.lat]))
        # (A vessel without a trusted fix yet is not hot for that: the fast path flags its first one.)
        tr.hot[k] = any(d.open(v) for d in self._loud)
        tr.quiet[k] = any(d.open(v) for d in self._quiet)

    def _set_tables(self) -> None:
        """Bring the per-zone-set lookup tables up to the zone sets seen so far."""
        sets = self._sets
        have = len(self.set_land)
        if have == len(sets):
            return
        land, harbour = [], []
        for mask in sets.masks[have:]:
            land.append(bool(mask & self.masks.land) and not mask & self.masks.port)
            harbour.append(bool(mask & self.masks.harbour))
        self.set_land = np.r_[self.set_land, np.array(land, dtype=bool)]
        self.set_harbour = np.r_[self.set_harbour, np.array(harbour, dtype=bool)]

    # ---- alerts ------------------------------------------------------------------------------------------
    def alert(
        self,
        kind: str,
        v: Vessel,
        t: float,
        zone: int | None,
        position: dict[str, float | None] | None,
        details: dict[str, Any],
        episode: float,
        alerts: list[Alert],
        *,
        key: object = None,
        watched: bool = False,
    ) -> None:
        severity: str = self.posture.limits.severity[kind]
        if v.watch or watched:
            severity = severity_max(severity, "warning")
        zone_dict = None if zone is None else self.geofence.zone_dicts[zone]
        alerts.append(
            Alert(
                id=alert_id(
                    kind, v.mmsi if key is None else key, None if zone_dict is None else zone_dict["id"],
                    iso_time(episode),
                ),
                kind=kind,
                severity=severity,
                posture=self.posture.level,
                time=t,
                mmsi=v.mmsi,
                vessel=v.info(),
                zone=zone_dict,
                position=position,
                details=details,
            )
        )
        alert = alerts[-1]
        for aggregate in self.aggregates:
            aggregate.observe(alert, alerts)

    def aggregate(self, kind: type[_A]) -> _A:
        """The engine's aggregate detector of this class."""
        return next(a for a in self.aggregates if isinstance(a, kind))

    def parts(self) -> list[FixDetector | AggregateDetector]:
        """Every detector, per fix and aggregate, in order (their engine-wide state is saved in the
        engine's row)."""
        return [*self.detectors, *self.aggregates]

    def posture_changed(self, change: PostureChange, alerts: list[Alert]) -> None:
        """The level in force changed: its `posture_change` alert, and every dark deadline recomputed."""
        alerts.append(
            Alert(
                id=alert_id("posture_change", change.to_level, None, iso_time(change.time)),
                kind="posture_change",
                severity=self.posture.settings.levels.of(change.to_level).severity["posture_change"],
                posture=change.to_level,
                time=change.time,
                mmsi=None,
                vessel=None,
                zone=None,
                position=None,
                details={"from": change.from_level, "to": change.to_level, "reason": change.reason,
                         "set_by": change.set_by},
            )
        )
        # Limits changed: every pending dark deadline is recomputed, and a batch under way stops trusting the
        # quiet pre-filters, which judged its fixes with the old limits.
        if self._fast is not None:
            self._fast.limits_changed = True
        self._sync_all()
        self.dark.limits_changed(change.time, list(self.vessels.values()))

    def set_posture(self, level: str, reason: str, set_by: str, t: float | None = None) -> list[Alert]:
        """The operator sets the posture level; returns the `posture_change` alert, if it changed."""
        alerts: list[Alert] = []
        when = self.now if t is None else t
        change = self.posture.set_operator(level, reason, set_by, when)
        if change is not None:
            self.posture_changed(change, alerts)
        return alerts

    # ---- the clock ---------------------------------------------------------------------------------------
    def advance(self, t: float, alerts: list[Alert]) -> None:
        """Move the clock to `t` (never back): fire the dark timers and posture fall-backs due before it,
        in time order (a fall-back changes the dark limits of the timers after it)."""
        dark = self.dark
        while self._resumes and self._resumes[0] <= t:
            dark.listening_since = self._resumes.pop(0)
        if t <= self.now:
            return
        self.now = t
        while True:
            due = dark.next_due()
            # The aggregate detectors due before `t` (a posture rule falling back), in time order with the
            # dark deadlines: a fall-back changes the dark limits of the deadlines after it.
            woken: AggregateDetector | None = None
            when = math.inf
            for aggregate in self.aggregates:
                at = aggregate.next_due()
                if at < when:
                    woken, when = aggregate, at
            if woken is not None and when <= t and when <= due:
                woken.wake(when, alerts)
                continue
            if due >= t:
                break
            dark.fire_next(t, alerts)

    def track_of(self, mmsi: int) -> list[tuple[float, float, float]]:
        """The vessel's recent track, oldest first: (time, lon, lat) of its kept fixes and its last one."""
        tr = self._tracks
        k = tr.slot.get(mmsi)
        if k is None:
            return []
        points = tr.history_of(k)
        last = (float(tr.time[k]), float(tr.lon[k]), float(tr.lat[k]))
        if last[0] > -math.inf and (not points or points[-1][0] < last[0]):
            points.append(last)
        return points

    def adopt_history(self, other: Engine) -> None:
        """Take the recent tracks of `other` (the engine this one replaces on a reload; its vessels were
        imported here): state export keeps no track history. (Dropped if the ring's size changed.)"""
        tr, old = self._tracks, other._tracks
        if not tr.history or tr.history != old.history or not tr.n:
            return
        at = old.lookup(tr.mmsi[: tr.n])
        mine = np.flatnonzero(at >= 0)
        for name, _, _, _ in tr.HISTORY:
            getattr(tr, name)[mine] = getattr(old, name)[at[mine]]

    def mmsis_in_order(self) -> NDArray[np.int64]:
        """Every vessel's MMSI, in order (for the API's pages: kept sorted by the track table)."""
        return self._tracks.sorted_mmsis()

    def refuse_clock_beyond(self, limit: float) -> tuple[float, int] | None:
        """After a restore: a saved clock later than `limit` (the wall clock plus clock.max_ahead_s) is
        impossible, the mark of a wild line saved before the clock rules held it back. The clock goes back
        to the newest plausible time heard, and vessels heard only "in the future" are dropped (heard
        again, they are new). Returns (the refused clock, vessels dropped), or None when all was plausible."""
        if self.now <= limit:
            return None
        refused = self.now
        tr = self._tracks
        heard = np.maximum(tr.heard[: tr.n], [self.vessels[m].heard for m in tr.mmsi[: tr.n].tolist()])
        wild = tr.mmsi[: tr.n][heard > limit].tolist()
        if wild:
            self._drop(wild)
        plausible = heard[heard <= limit]
        self.now = float(plausible.max()) if len(plausible) else -math.inf
        self._line_now = -math.inf
        return refused, len(wild)

    # ---- what detectors ask of the engine ------------------------------------------------------------
    def catch_up(self, v: Vessel) -> None:
        """On the fast path: apply the vessel's reports skipped so far (before a timer looks at it)."""
        if self._fast is not None:
            self._fast.catch_up(v)

    def changed(self, v: Vessel) -> None:
        """The vessel's state changed outside its per-fix step (a timer): save it with this batch."""
        if self.dirty is not None:
            self.dirty.add(v.mmsi)

    def write_track(self, v: Vessel) -> None:
        """The vessel's object changed outside the per-fix step: bring its table row up to date (on the
        fast path, the batch's end does it)."""
        if self._fast is None:
            self._table(v)

    # ---- the per-fix step --------------------------------------------------------------------------------
    def process(self, batch: DecodedBatch, clock: Callable[[], float]) -> tuple[list[Alert], int]:
        """Run one decoded batch; returns its alerts (time-ordered) and how many reports had no time."""
        self._find_outages(batch.positions["time"])
        alerts, untimed, moves = self.step(batch, clock)
        if self._resumes:  # (only after a line without a time, which advance() was not given)
            self.dark.listening_since = self._resumes[-1]
            self._resumes.clear()
        if moves:
            self.zones.passages(moves, alerts)
        for d in self.detectors:
            d.after_batch()
        self.forget_silent()
        if self.max_vessels and len(self.vessels) > self.max_vessels:
            self.evict_excess()
        alerts.sort(key=lambda a: a.time)
        return alerts, untimed

    def _find_outages(self, times: NDArray[np.float64]) -> None:
        """The lines of the batch that end an outage: more than outage_s after every line before them
        (the clock restored from saved state counts as a line, so a daemon that was down counts too)."""
        t = times[~np.isnan(times)]
        if not len(t):
            return
        top = np.maximum.accumulate(t)
        before = np.empty_like(top)
        before[0] = self._line_now if self._line_now > -math.inf else self.now
        before[1:] = top[:-1]
        gaps = np.flatnonzero((t - before > self.outage_s) & (before > -math.inf))
        if len(gaps):
            self._resumes = t[gaps].tolist()
        if top[-1] > self._line_now:
            self._line_now = float(top[-1])

    def forget_silent(self) -> int:
        """Forget the vessels not heard for forget_after_s on the feed clock (looked for once an hour of
        it, between batches); returns how many. Their saved state goes with the next save."""
        ttl = self.forget_after_s
        if ttl <= 0 or self.now < self._next_forget:
            return 0
        self._next_forget = self.now + min(ttl, 3600.0)
        cutoff = self.now - ttl
        tr = self._tracks
        gone: list[int] = []
        for k in np.flatnonzero(tr.heard[: tr.n] < cutoff).tolist():
            mmsi = int(tr.mmsi[k])
            if self.vessels[mmsi].heard < cutoff:  # (a static report refreshes only the object's)
                gone.append(mmsi)
        if not gone:
            return 0
        self._drop(gone)
        self.forgotten += len(gone)
        return len(gone)

    def evict_excess(self) -> int:
        """Keep the vessels under max_vessels, so a flood of junk MMSIs cannot grow the daemon past its
        memory limit: drop a tenth below the cap, vessels heard once and never again first, then those
        silent longest. Returns how many (counted in `evicted`). Heard again, a vessel is new."""
        cap = self.max_vessels
        excess = len(self.vessels) - int(cap * 0.9)
        if cap <= 0 or len(self.vessels) <= cap or excess <= 0:
            return 0
        tr = self._tracks
        heard = tr.heard[: tr.n]
        once = heard <= tr.born[: tr.n]
        order = np.lexsort((heard, ~once))  # (the last key sorts first: heard once, then by silence)
        gone = tr.mmsi[order[:excess]].tolist()
        self._drop(gone)
        self.evicted += len(gone)
        return len(gone)

    def _drop(self, gone: list[int]) -> None:
        """Forget these vessels everywhere: objects, detectors' state, timers, table; their saved state goes
        with the next save."""
        tr = self._tracks
        vessels = [self.vessels.pop(mmsi) for mmsi in gone]
        for mmsi in gone:
            self.moved.discard(mmsi)
            if self.dirty is not None:
                self.dirty.add(mmsi)  # export_state then deletes its saved state
        dropped = set(gone)
        for d in self.detectors:
            d.forget(dropped, vessels)
        tr.remove(gone)

    def _process_fast(self, batch: DecodedBatch, clock: Callable[[], float]
                      ) -> tuple[list[Alert], int, list[Move]]:
        """Every report of the batch, in input order, with the per-fix step only where something can happen
        (the same result as every report through it: the reference of tests/oracle.py).

        Most fixes change nothing: a vessel under way, in the same zones as its last fix, far from a gate,
        not slow, not against a lane, not silent for long, with no open episode. Such a fix only moves the
        track. Flags computed for the whole batch with numpy pick the fixes that need the per-fix step
        (and, from a vessel's first such fix on, all its later ones in the batch); the others are applied
        at the end, or when the step or a timer needs that vessel's state.
        """
        alerts: list[Alert] = []
        fb = self._fast = _FastBatch(self, batch)
        try:
            process = fb.flags()
            for aggregate in self.aggregates:  # (every report, those skipped below included)
                aggregate.on_batch(fb)
            statics = batch.statics
            n_statics = len(statics)
            si = 0
            untimed = 0
            moves: list[Move] = []
            pos = batch.positions
            # Python values only for the rows that take the per-fix step (usually about one in a
            # hundred); the skipped rows stay in the arrays.
            rows = np.flatnonzero(process)
            row_list, seqs, times, mmsis, lats, lons, sogs, cogs, valid, words = fb.values(rows)
            # Where each static report falls among the positions: the rows before it count as heard by
            # then (a timer may look).
            static_at: list[int] = (
                np.searchsorted(
                    pos["seq"], np.fromiter((st.seq for st in statics), np.int64, n_statics)
                ).tolist()
                if n_statics else []
            )
            # A posture change mid-batch (a rule, a fall-back) voids the quiet pre-filters' verdicts, made
            # with the old limits: from the row after the change on, every row of a vessel with a quiet
            # episode open takes the per-fix step too (fb.take_quiet_rows; at most once per batch).
            j = 0
            while j < len(row_list):
                i = row_list[j]
                seq = seqs[j]
                replanned = False
                while si < n_statics and statics[si].seq < seq:
                    fb.upto = static_at[si]
                    untimed += self._static(statics[si], clock, alerts)
                    si += 1
                    if fb.limits_changed:
                        row_list, seqs, times, mmsis, lats, lons, sogs, cogs, valid, words = fb.values(
                            fb.take_quiet_rows(fb.upto))
                        j = 0
                        replanned = True
                        break
                if replanned:
                    continue
                fb.upto = i
                t = times[j]
                if t != t:
                    t = clock()
                    untimed += 1
                if t > self.now:
                    self.advance(t, alerts)
                    if fb.limits_changed:
                        # (From this row on: it is the first of the new lists.)
                        row_list, seqs, times, mmsis, lats, lons, sogs, cogs, valid, words = fb.values(
                            fb.take_quiet_rows(i))
                        j = 0
                v = self.vessel(mmsis[j])
                if v.mmsi not in fb.started:
                    fb.take_over(v, i)
                self._report(v, t, lons[j], lats[j], sogs[j], cogs[j], words[j] if valid[j] else None,
                             moves, alerts)
                j += 1
                if fb.limits_changed:
                    row_list, seqs, times, mmsis, lats, lons, sogs, cogs, valid, words = fb.values(
                        fb.take_quiet_rows(i + 1))
                    j = 0
            while si < n_statics:
                fb.upto = static_at[si]
                untimed += self._static(statics[si], clock, alerts)
                si += 1
            fb.upto = len(pos)
            if fb.t_max > self.now:
                self.advance(fb.t_max, alerts)
            # (A vessel heard only through static reports keeps its table row: the table's older
            # `heard` only makes the next batch look at it more carefully.)
            for mmsi in fb.started:
                self._table(self.vessels[mmsi])
            fb.finish(moves)
        finally:
            self._fast = None
        return alerts, untimed, moves

    def _static(self, st: StaticReport, clock: Callable[[], float], alerts: list[Alert]) -> int:
        t = st.time
        untimed = 0
        if t != t:
            t = clock()
            untimed = 1
        if t > self.now:
            self.advance(t, alerts)
        # No _sync here: a static report changes no track, and `heard` merges with the table's later.
        v = self.vessels.get(st.mmsi) or self.vessel(st.mmsi)
        imo = v.imo
        changed = v.apply_static(st)
        if v.imo != imo:
            # A ship listed by IMO number is watched whatever MMSI it sails under, from the static report
            # that names it; its alerts from here on carry the list (the cached `info()` is rebuilt).
            watch = self.watchlists.match(v.mmsi, v.imo)
            if watch != v.watch:
                v.watch = watch
                v._info = None
        dark = v.dark
        self.dark.hear(v, t, math.nan, math.nan, math.nan, math.nan, alerts)
        n_alerts = len(alerts)
        for d in self._static_hooks:  # (after `dark`: a reappearance comes first, as on a position report)
            d.on_static(v, st, t, alerts)
        changed |= len(alerts) != n_alerts
        self.dark.schedule(v)
        if self.dirty is not None:
            (self.dirty if changed or dark != v.dark else self.moved).add(v.mmsi)
        return untimed

    def _report(self, v: Vessel, t: float, lon: float, lat: float, sog: float, cog: float, s: int | None,
                moves: list[Move], alerts: list[Alert]) -> None:
        """The per-fix step for one position report (`s`: its zone mask, None without a position)."""
        before = v.signature() if self.dirty is not None else None
        n_alerts = len(alerts)
        self.dark.hear(v, t, lon, lat, sog, cog, alerts)
        if s is not None:
            if t < v.time:
                self.stale += 1  # an older fix relayed late: the track has moved on
            else:
                self._fix(v, t, lon, lat, sog, cog, s, moves, alerts)
        self.dark.schedule(v)
        if before is not None:
            self._mark(v, before, n_alerts, alerts)

    def _mark(self, v: Vessel, before: tuple[Any, ...], n_alerts: int, alerts: list[Alert]) -> None:
        """Save with this batch what a crash must not lose (zones, episodes, transits, anything that
        raised an alert); a track that only moved on is saved a little later (`moved`)."""
        assert self.dirty is not None
        if len(alerts) != n_alerts or v.signature() != before:
            self.dirty.add(v.mmsi)
        else:
            self.moved.add(v.mmsi)

    def _fix(self, v: Vessel, t: float, lon: float, lat: float, sog: float, cog: float, s: int,
             moves: list[Move], alerts: list[Alert]) -> None:
        # Trust: a fix on land, or an impossible jump, is reported and goes no further.
        reanchor = False
        for judge in self.trust_detectors:
            verdict = judge.judge(v, t, lon, lat, sog, cog, s, alerts)
            if verdict == DISTRUST:
                return
            if verdict == REANCHOR:  # (trusted, the track was wrong: the judges after it would see a jump)
                reanchor = True
                break
        if not v.has_fix:
            self.zones.first_fix(v, t, lon, lat, sog, cog, s, alerts)
        else:
            self.zones.on_move(v, t, lon, lat, sog, cog, s, moves, alerts, reanchor)
        v.time, v.lon, v.lat, v.sog, v.cog, v.last_s = t, lon, lat, sog, cog, s
        for d in self.fix_detectors:  # the detectors on the trusted track
            d.on_fix(v, t, lon, lat, sog, cog, s, alerts)
        self.dark.watch(v, s)  # where `dark` watches the vessel from now on

    def pick_strait(self, s: int) -> int:
        """The most specific strait-class zone: a lane, else the separation zone, else the strait."""
        m = self.masks
        for mask in (m.lane, m.separation, m.strait):
            if s & mask:
                return _lowest(s & mask)
        raise AssertionError("no strait-class zone in the mask")

    def area_of(self, s: int) -> int | None:
        """The zone a fix in zones `s` is reported in: the most specific strait-class zone, else its
        region, else none."""
        if s & self.masks.strait:
            return self.pick_strait(s)
        region = s & self.masks.region
        return _lowest(region) if region else None

    # ---- state that survives a restart -------------------------------------------------------------------
    def export_state(self, everything: bool = False, moved: int = 0) -> dict[str, bytes | None]:
        """The state changed since the last call (or all of it), as key -> blob for the store (None: delete
        the key); with `moved`, also up to that many of the vessels whose track only moved on (a few at a
        time, so saving 50,000 tracks never stalls the event loop).

        The blobs are versioned JSON (monitor.savedstate), read back by import_state with every value
        checked. Zone references (membership masks, the dark zone, transits) are stored by zone id, so a
        state saved under one zone file is restored correctly under an edited one.
        """
        if everything or self.dirty is None:
            mmsis: Iterable[int] = self.vessels.keys()
            self.moved.clear()
        elif moved:
            some: set[int] = set()
            while self.moved and len(some) < moved:
                some.add(self.moved.pop())
            mmsis = self.dirty | some
        else:
            mmsis = self.dirty
            self.moved -= self.dirty
        zones = self.geofence.zones
        straits = [s.zone.id for s in self.geofence.straits]
        ids = self._ids_cache
        if len(ids) > 65536:
            ids.clear()
        out: dict[str, bytes | None] = {}
        for mmsi in list(mmsis):
            v = self.get(mmsi)
            out[f"v:{mmsi}"] = None if v is None else _vessel_state(v, zones, straits, ids)
        if self.dirty is not None:
            self.dirty.clear()
        out["engine"] = savedstate.dumps(self._global_state())
        return out

    def _global_state(self) -> dict[str, Any]:
        """The engine-wide state as one JSON object. Extensible: a key added here is read back in
        _read_global, where a state saved before the key existed (the key missing) must get a default,
        and keys this version does not know are ignored."""
        g: dict[str, Any] = {
            "version": STATE_VERSION,
            "now": self.now if math.isfinite(self.now) else None,
            "stale": self.stale,
            "posture": _posture_state(self.posture.state()),
        }
        for d in self.parts():
            g.update(d.global_state())
        return g

    def import_state(self, blobs: Mapping[str, bytes]) -> int:
        """Restore what export_state saved; returns how many vessels came back.

        All or nothing: every row is parsed and checked (monitor.savedstate) before anything changes. The
        first bad row raises StateError naming the row and the problem (OLD_FORMAT for a pickle or
        marshal row of state version 1, which is never unpickled), and the engine is left as it was.
        Zone ids the zone file no longer has are dropped; keys other than "engine" and "v:*" are ignored.
        """
        index = self.geofence.index_of
        straits = {s.zone.id: i for i, s in enumerate(self.geofence.straits)}
        # First: an old format is named as such.
        g = _read_global(blobs["engine"], self.parts()) if "engine" in blobs else None
        vessels = [
            _restore_vessel(key, blob, index, straits) for key, blob in blobs.items() if key.startswith("v:")
        ]
        for v in vessels:
            # Watchlists come from the configuration in force, not the saved state (by the saved IMO too).
            v.watch = self.watchlists.match(v.mmsi, v.imo)
            self.vessels[v.mmsi] = v
            self._tracks.add(v.mmsi)
            self._table(v)
        if g is not None:
            self.now = g["now"]
            self.stale = g["stale"]
            for d, checked in zip(self.parts(), g["detectors"], strict=True):
                d.restore_global(checked)
            if g["posture"] is not None:
                self.posture.restore(g["posture"])
        everyone = list(self.vessels.values())
        for d in self.detectors:
            d.restored(everyone)

        return len(self.vessels)


def _ids(mask: int, zones: Sequence[Any]) -> list[str]:
    return [zones[z].id for z in _bits(mask)]


def _mask(ids: Iterable[str], index: dict[str, int]) -> int:
    m = 0
    for zid in ids:
        i = index.get(zid)
        if i is not None:
            m |= 1 << i
    return m


# ---- the saved state's format (monitor.savedstate): what each value is and how it is checked -----------

S = savedstate

# A vessel is one JSON array: [STATE_VERSION, these fields in this order, {detector: [its fields]},
# transit, member, last_s, pending, dark_zone]. Zone-free fields first (each with its check), each
# detector's own (monitor.detectors, `fields`) under its name, then the zone references by id. A change of
# the core fields is a new STATE_VERSION; a detector added, or a field appended to a detector's, is not:
# what a row lacks takes the field's default, and a detector's entry this version does not know is left.
# `watch` is not saved: it comes from the configuration in force.
_FIELDS: tuple[tuple[str, Callable[[Any, str], Any]], ...] = (
    ("mmsi", S.mmsi), ("name", S.opt_text), ("imo", S.integer(0, 2**30, nullable=True)),
    ("callsign", S.opt_text), ("ship_type", S.integer(0, 255, nullable=True)), ("draught", S.opt_draught),
    ("destination", S.opt_text),
    ("time", S.time_or_never), ("lon", S.lon_or_nan), ("lat", S.lat_or_nan), ("sog", S.sog_or_nan),
    ("cog", S.cog_or_nan), ("heard", S.time_or_never),
)
_ROW = 1 + len(_FIELDS) + 6
_get_fields = operator.attrgetter(*(name for name, _ in _FIELDS))
# Floats kept as -inf ("never") or NaN ("not available") in memory: null in the saved state.
_NULLS = (S.time_or_never, S.lon_or_nan, S.lat_or_nan, S.sog_or_nan, S.cog_or_nan)
_NULLABLE = tuple(i for i, (_, check) in enumerate(_FIELDS) if check in _NULLS)
_WITH_FIELDS: tuple[type[FixDetector] | type[AggregateDetector], ...] = (*DETECTORS, *AGGREGATES)
# Each detector with fields: its name, its fields' getter, and which of them are such floats.
_DETECTOR_ROWS = tuple(
    (d.name, d.fields, operator.attrgetter(*(f.name for f in d.fields)) if len(d.fields) > 1
     else (lambda v, n=d.fields[0].name: (getattr(v, n),)),
     tuple(i for i, f in enumerate(d.fields) if f.check in _NULLS))
    for d in _WITH_FIELDS if d.fields
)


def _saved_fields(values: tuple[Any, ...], nullable: tuple[int, ...]) -> list[Any]:
    out = list(values)
    for i in nullable:
        if not math.isfinite(out[i]):
            out[i] = None
    return out


def _vessel_state(
    v: Vessel, zones: Sequence[Any], straits: Sequence[str], ids: dict[int, list[str]]
) -> bytes:
    """One vessel's state as a compact JSON array (plain values only), zones named by id."""
    def zone_ids(mask: int) -> list[str]:
        found = ids.get(mask)
        if found is None:
            found = ids[mask] = [zones[z].id for z in _bits(mask)]
        return found

    values: list[Any] = [STATE_VERSION, *_get_fields(v)]
    for i in _NULLABLE:
        if not math.isfinite(values[i + 1]):
            values[i + 1] = None
    values += (
        {name: _saved_fields(get(v), nullable) for name, _, get, nullable in _DETECTOR_ROWS},
        {straits[i]: gate_time for i, gate_time in v.transit.items()},
        zone_ids(v.member),
        zone_ids(v.last_s),
        {zones[z].id: t for z, t in v.pending.items()},
        None if v.dark_zone is None else zones[v.dark_zone].id,
    )
    return S.dumps(values)


def _version(row: Any, what: str) -> None:
    version = row[0] if type(row) is list and row else row.get("version") if type(row) is dict else None
    if version != STATE_VERSION:
        newer = type(version) is int and version > STATE_VERSION
        raise S.BadValue(
            f"{what}: state version {version!r:.20}, expected {STATE_VERSION}"
            + (" (saved by a newer version)" if newer else "")
        )


def _restore_vessel(key: str, blob: bytes, index: dict[str, int], straits: dict[str, int]) -> Vessel:
    """A vessel from its row, every value checked; StateError names the row and the first bad field."""
    row = S.loads(key, blob)

    def build() -> Vessel:
        _version(row, "vessel")
        S.items(row, "vessel", _ROW)
        values = [check(x, name) for (name, check), x in zip(_FIELDS, row[1:], strict=False)]
        if key != f"v:{values[0]}":
            raise S.BadValue(f"mmsi {values[0]} saved under another key")
        v = Vessel(values[0], [])
        for (name, _), value in zip(_FIELDS, values, strict=True):
            setattr(v, name, value)
        detectors, transit, member, last_s, pending, dark_zone = row[1 + len(_FIELDS):]
        saved = S.mapping(detectors, "detectors")
        for name, fields, _, _ in _DETECTOR_ROWS:
            given = S.items(saved.get(name, []), name)
            if len(given) > len(fields):
                raise S.BadValue(f"{name}: {len(given)} fields, this version knows {len(fields)}")
            for f, x in zip(fields, given, strict=False):  # (fields a row lacks keep their default)
                setattr(v, f.name, f.check(x, f"{name}.{f.name}"))
        v.member = _mask(S.zone_ids(member, "member"), index)
        v.last_s = _mask(S.zone_ids(last_s, "last_s"), index)
        v.pending = {
            index[z]: t for z, t in ((S.text(z, "pending"), S.time(t, "pending"))
                                     for z, t in S.mapping(pending, "pending").items()) if z in index
        }
        v.transit = {}
        for sid, gate_time in S.mapping(transit, "transit").items():
            gate, t = S.items(gate_time, "transit", 2)
            gt = (S.integer(0, 1)(gate, "transit gate"), S.time(t, "transit"))
            if sid in straits:
                v.transit[straits[sid]] = gt  # type: ignore[assignment]
        v.dark_zone = None if dark_zone is None else index.get(S.text(dark_zone, "dark_zone"))
        v._info = None
        return v

    result: Vessel = S.checked(key, build)
    return result


def _posture_state(state: dict[str, Any]) -> dict[str, Any]:
    """Posture.state() as JSON values: a `since` that is no clock reading (set while restoring) is null."""
    since = state["since"]
    return {**state, "since": since if isinstance(since, float) and S.T_MIN <= since <= S.T_MAX else None}


def _read_posture(x: Any) -> dict[str, object] | None:
    """The saved posture in the shape Posture.restore takes, every value checked."""
    if x is None:
        return None
    p = S.mapping(x, "posture")
    level, reason, set_by = S.items(p["operator"], "posture.operator", 3)
    if level not in LEVELS:
        raise S.BadValue(f"posture.operator: unknown level {level!r:.20}")
    # Each rule's hold: [until, reason] (a state saved before the clusters moved to the escalation
    # detector has [events, until, reason]; the detector reads the events).
    rules: dict[str, tuple[float | None, str]] = {}
    for name, saved in S.mapping(p.get("rules", {}), "posture.rules").items():
        held = S.items(saved, "posture.rules")
        if len(held) not in (2, 3):
            raise S.BadValue(f"posture.rules: expected [until, reason], got {len(held)} elements")
        until, why = held[-2:]
        rules[name] = (S.opt_time(until, "posture.rules until"), S.text(why, "posture.rules reason"))
    return {
        "operator": (level, S.text(reason, "posture.operator"), S.text(set_by, "posture.operator")),
        "since": S.opt_time(p.get("since"), "posture.since"),
        "rules": rules,
    }


def _read_global(blob: bytes, detectors: Sequence[FixDetector | AggregateDetector]) -> dict[str, Any]:
    """The "engine" row, checked: required `version`; every other key optional (a default when missing,
    so a key added later still loads an older row), unknown keys ignored. Each detector checks its own
    keys (`detectors`: what each `read_global` returned, in detector order)."""
    g = S.loads("engine", blob)

    def build() -> dict[str, Any]:
        _version(g, "engine")
        S.mapping(g, "engine")
        return {
            "now": S.time_or_never(g.get("now"), "now"),
            "stale": S.integer(0, 2**62)(g.get("stale", 0), "stale"),
            "detectors": [d.read_global(g) for d in detectors],
            "posture": _read_posture(g.get("posture")),
        }

    result: dict[str, Any] = S.checked("engine", build)
    return result


class _FastBatch:
    """One batch on the fast path: which fixes need the per-fix step, and the others applied lazily."""

    def __init__(self, engine: Engine, batch: DecodedBatch) -> None:
        self.e = engine
        pos = batch.positions
        n = self.n = len(pos)
        self.positions = pos  # (every field of the decoder, for the hooks that read more than these)
        self.t_a = pos["time"]
        self.seq_a = pos["seq"]
        self.mmsi_a = pos["mmsi"]
        self.lat_a = pos["lat"]
        self.lon_a = pos["lon"]
        self.sog_a = pos["sog"]
        self.cog_a = pos["cog"]
        self.valid = ~(np.isnan(self.lat_a) | np.isnan(self.lon_a))
        self.ids = np.zeros(n, dtype=np.int32)  # zone-set ids (geofence.sets); 0 without a position
        if self.valid.any():
            valid = self.valid
            self.ids[valid] = engine.geofence.membership_ids(self.lon_a[valid], self.lat_a[valid])
        engine._set_tables()
        self.masks = engine._sets.masks
        # Fixes on land (and in no port) never move the track (`on_land`); the others may.
        self.land = engine.set_land[self.ids] & self.valid
        self.track = self.valid & ~self.land
        finite = self.t_a[~np.isnan(self.t_a)]
        self.t_max = float(finite.max()) if len(finite) else -math.inf
        self.upto = 0  # rows below this index have been reached by the loop
        self.started: set[int] = set()  # vessels whose rows the per-fix step has taken over
        self.prev_track = np.full(n, -1, dtype=np.int64)  # each row's previous track row of its vessel
        self.prev_land = np.full(n, -1, dtype=np.int64)  # ... and previous row on land
        self.prev_any = np.full(n, -1, dtype=np.int64)
        self.process = np.zeros(n, dtype=bool)
        self.inverse = np.zeros(n, dtype=np.int64)  # each row's index into `uniq` (flags())
        # Vessels with a `quiet` detector's episode open at the batch's start: indices into `uniq`, their
        # Vessel objects (for the quiet detectors' pre-filters), and each row's "of such a vessel".
        self.quiet_idx = np.zeros(0, dtype=np.int64)
        self.quiet_vessels: list[Vessel] = []
        self.quiet_rows = np.zeros(n, dtype=bool)
        # Set when the posture level changes mid-batch: the quiet pre-filters judged with the old limits.
        self.limits_changed = False

    def flags(self) -> NDArray[np.bool_]:
        e = self.e
        n = self.n
        t = self.t_a
        # Rows grouped by vessel, in input order within each vessel (one stable sort gives the groups,
        # the MMSIs in order and each row's group).
        order = np.argsort(self.mmsi_a, kind="stable")
        mmsi_sorted = self.mmsi_a[order]
        first = np.ones(n, dtype=bool)
        first[1:] = mmsi_sorted[1:] != mmsi_sorted[:-1]
        uniq = mmsi_sorted[first]
        inverse = np.empty(n, dtype=np.int64)
        inverse[order] = np.cumsum(first) - 1
        tr = e._tracks
        slots = tr.lookup(uniq)
        self.uniq, self.slots = uniq, slots
        # Each vessel's rows, in input order: order[group_lo[u]:group_hi[u]] for vessel uniq[u].
        self.order = order
        self.group_lo = np.flatnonzero(first)
        self.group_hi = np.r_[self.group_lo[1:], n]
        known = slots >= 0
        k = np.maximum(slots, 0)
        st_time = np.where(known, tr.time[k], -np.inf)
        st_lon = np.where(known, tr.lon[k], np.nan)
        st_lat = np.where(known, tr.lat[k], np.nan)
        st_heard = np.where(known, tr.heard[k], -np.inf)
        st_last = np.where(known, tr.last_id[k], 0)
        # A new vessel, one without a fix yet, or one with an episode open takes the per-fix step, unless
        # the episode is a `quiet` detector's: its pre-filter then picks the fixes that can change it.
        st_hot = ~known | tr.hot[k]
        self.inverse = inverse
        quiet = known & tr.quiet[k]
        self.quiet_idx = np.flatnonzero(quiet)  # indices into `uniq`
        self.quiet_vessels = [e.vessels[m] for m in uniq[self.quiet_idx].tolist()]
        # Each vessel's last row, and its last row with a position (-1: none), in the order of `uniq`.
        self.last_any = order[np.r_[first[1:], True]] if n else np.empty(0, dtype=np.int64)
        prev_any_sorted = np.where(first, -1, np.r_[-1, order[:-1]])
        self.prev_any[order] = prev_any_sorted
        prev_heard = np.where(self.prev_any >= 0, t[np.maximum(self.prev_any, 0)], st_heard[inverse])
        self.prev_heard = prev_heard  # (for the pre-filter of `dark`: a long silence before the fix)
        # Each row's previous track row (one that may move the track) and previous row on land, within its
        # vessel's rows; each vessel's last of each.
        group_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
        last_sorted = np.r_[first[1:], True] if n else np.zeros(0, dtype=bool)
        self.last_track = self._chain(self.track, order, group_start, last_sorted, self.prev_track)
        if self.land.any():
            self.last_land = self._chain(self.land, order, group_start, last_sorted, self.prev_land)
        else:  # (most batches: no fix on land; prev_land stays -1 everywhere)
            self.last_land = np.full(len(uniq), -1, dtype=np.int64)
        pv = self.prev_track
        has_prev = pv >= 0
        pvi = np.maximum(pv, 0)
        prev_t = np.where(has_prev, t[pvi], st_time[inverse])
        prev_lon = np.where(has_prev, self.lon_a[pvi], st_lon[inverse])
        prev_lat = np.where(has_prev, self.lat_a[pvi], st_lat[inverse])
        prev_id = np.where(has_prev, self.ids[pvi], st_last[inverse])
        self.prev_t, self.prev_lon, self.prev_lat, self.prev_id = prev_t, prev_lon, prev_lat, prev_id
        # A fix on land within the episode gap of the vessel's last one continues its on_land episode: it
        # only moves `land_last` (and `heard`), which the batch's end or a catch-up applies.
        pl = self.prev_land
        st_land = np.where(known, tr.land_last[k], -np.inf)
        prev_land_t = np.where(pl >= 0, t[np.maximum(pl, 0)], st_land[inverse])
        self.continuing = self.land & ((t - prev_land_t) <= e.det.episode_gap_s)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.dist = haversine_np(prev_lon, prev_lat, self.lon_a, self.lat_a)
            # What may change a detector's state (monitor.detectors: each one's pre-filter; the zones' one
            # also sees a change of the regions, which set where `dark` watches the vessel). On a fix that
            # continues an on_land episode, none but `dark`'s (a fix after a long silence) matters: the
            # per-fix step stops at on_land.
            detectors = np.zeros(n, dtype=bool)
            for detector in e.detectors:
                if detector is not e.dark:
                    detectors |= detector.prefilter(self)
            detectors &= ~self.continuing
            detectors |= e.dark.prefilter(self)
        untimed = np.isnan(t)
        valid = self.valid
        # A fix older than the track (relayed late), or a vessel's first trusted fix: the per-fix step
        # decides.
        first_fix = self.track & (prev_t == -np.inf)
        interesting = (
            (valid & ((t < prev_t) | detectors | np.isnan(prev_t) | first_fix))
            | untimed | st_hot[inverse]
        )
        self.quiet_rows = quiet[inverse]
        # From a vessel's first interesting row on, all its rows take the per-fix step.
        flags_sorted = interesting[order].astype(np.int64)
        cs = np.cumsum(flags_sorted)
        base = cs[group_start] - flags_sorted[group_start]
        process = np.empty(n, dtype=bool)
        process[order] = (cs - base) > 0
        self.process = process
        return process

    def _chain(self, rows: NDArray[np.bool_], order: NDArray[np.int64], group_start: NDArray[np.int64],
               last_sorted: NDArray[np.bool_], prev: NDArray[np.int64]) -> NDArray[np.int64]:
        """For the rows selected by `rows`: fill `prev` (for every row, the previous selected row of its
        vessel, -1 for none) and return each vessel's last selected row (-1: none), in `uniq` order."""
        n = self.n
        marks = np.where(rows[order], np.arange(n), -1)
        upto = np.maximum.accumulate(marks) if n else marks  # the last selected position so far
        before = np.r_[-1, upto[:-1]] if n else upto
        before[before < group_start] = -1
        prev[order] = np.where(before >= 0, order[np.maximum(before, 0)], -1)
        last = upto[last_sorted]
        result: NDArray[np.int64] = np.where(last >= group_start[last_sorted], order[np.maximum(last, 0)], -1)
        return result

    def _apply(self, v: Vessel, j: int, ja: int, jl: int = -1) -> None:
        """Bring the vessel's state up to its skipped row j (last fix), ja (last report) and jl (last fix
        on land, continuing an on_land episode)."""
        if jl >= 0:
            t_land = float(self.t_a[jl])
            if t_land > v.land_last:
                v.land_last = t_land
                self.e.changed(v)  # (saved with the batch, as the per-fix step would)
        if j >= 0:
            s = self.masks[self.ids[j]]
            v.time, v.lon, v.lat = float(self.t_a[j]), float(self.lon_a[j]), float(self.lat_a[j])
            v.sog, v.cog = float(self.sog_a[j]), float(self.cog_a[j])
            v.last_s = s
            v.member = s & self.e.masks.tracked
            self.e.dark.watch(v, s)
        if ja >= 0:
            t = float(self.t_a[ja])
            if t > v.heard:
                v.heard = t

    def values(self, rows: NDArray[np.int64]) -> tuple[list[Any], ...]:
        """The Python values of these rows for the per-fix step: index, seq, time, MMSI, lat, lon, sog,
        cog, has a position, zone mask."""
        return (
            rows.tolist(), self.seq_a[rows].tolist(), self.t_a[rows].tolist(), self.mmsi_a[rows].tolist(),
            self.lat_a[rows].tolist(), self.lon_a[rows].tolist(), self.sog_a[rows].tolist(),
            self.cog_a[rows].tolist(), self.valid[rows].tolist(),
            list(map(self.masks.__getitem__, self.ids[rows].tolist())),
        )

    def take_over(self, v: Vessel, i: int) -> None:
        """The per-fix step takes vessel `v` over at its row i: its rows skipped so far are applied (the
        track; the quiet detectors carry theirs)."""
        self.catch_up(v)
        if self.prev_track[i] >= 0:
            u = int(self.inverse[i])
            rows = self.order[self.group_lo[u] : self.group_hi[u]]
            skipped = rows[(rows < i) & self.track[rows]]
            for detector in self.e._quiet:
                detector.carry(self, skipped)
        self.started.add(v.mmsi)

    def take_quiet_rows(self, start: int) -> NDArray[np.int64]:
        """Send the rows from `start` on of vessels with a quiet episode open through the per-fix step
        too; the rows from `start` on to process, in order. Those vessels' skipped rows before `start`
        are carried when the step takes them over (catch_up)."""
        self.limits_changed = False
        extra = np.flatnonzero(self.quiet_rows[start:] & ~self.process[start:]) + start
        self.process[extra] = True
        rest: NDArray[np.int64] = np.flatnonzero(self.process[start:]) + start
        return rest

    def catch_up(self, v: Vessel) -> None:
        """Before the per-fix step or a timer looks at a vessel, apply its rows skipped so far."""
        if v.mmsi in self.started:
            return
        upto = self.upto
        if upto < self.n and self.process[upto] and int(self.mmsi_a[upto]) == v.mmsi:
            self._apply(v, int(self.prev_track[upto]), int(self.prev_any[upto]), int(self.prev_land[upto]))
            return
        rows = np.flatnonzero(self.mmsi_a[:upto] == v.mmsi)
        if len(rows) == 0:
            return
        track = rows[self.track[rows]]
        land = rows[self.land[rows]]
        last_track = int(track[-1]) if len(track) else -1
        self._apply(v, last_track, int(rows[-1]), int(land[-1]) if len(land) else -1)

    def finish(self, moves: list[Move]) -> None:
        """Apply the rows of vessels the per-fix step never took over; queue their long moves."""
        e = self.e
        skipped = ~self.process
        if not skipped.any():
            return
        # Long moves of skipped fixes may pass through a zone between fixes.
        band = e.geofence.hysteresis_m
        long_move = np.flatnonzero(skipped & self.track & (self.dist > band) & ~np.isnan(self.prev_t))
        if len(long_move):
            long_move = long_move[e.geofence.may_pass(self.prev_lon[long_move], self.prev_lat[long_move],
                                                      self.lon_a[long_move], self.lat_a[long_move])]
        if len(long_move):
            masks = self.masks
            for mmsi, t0, t1, x0, y0, x1, y1, sog, cog, w, pw in zip(
                self.mmsi_a[long_move].tolist(), self.prev_t[long_move].tolist(),
                self.t_a[long_move].tolist(), self.prev_lon[long_move].tolist(),
                self.prev_lat[long_move].tolist(), self.lon_a[long_move].tolist(),
                self.lat_a[long_move].tolist(), self.sog_a[long_move].tolist(),
                self.cog_a[long_move].tolist(),
                self.ids[long_move].tolist(), self.prev_id[long_move].tolist(),
            ):
                moves.append((e.vessels[mmsi], t0, t1, x0, y0, x1, y1, sog, cog, masks[w] | masks[pw]))
        # A vessel the per-fix step never took over had every row skipped (from a vessel's first
        # processed row on, all its rows are processed); it is known (a new vessel takes the step). Its
        # last row, and last fix, go into the track table for the whole batch at once; the Vessel
        # objects catch up when looked at.
        keep = np.ones(len(self.uniq), dtype=bool)
        if self.started:
            keep[np.searchsorted(self.uniq, np.fromiter(self.started, np.int64, len(self.started)))] = False
        if not keep.any():
            return
        tr = e._tracks
        # The quiet detectors carry their skipped fixes (an episode's spread, its last place, the encounter
        # grid of vessels alone); where that opens or closes an episode, the table's `quiet` follows.
        carried = np.flatnonzero(self.track & keep[self.inverse])
        if len(carried):
            for detector in e._quiet:
                for v in detector.carry(self, carried):
                    tr.quiet[tr.slot[v.mmsi]] = any(d.open(v) for d in e._quiet)
        fix = keep & (self.last_track >= 0)
        rows = self.last_track[fix]
        k = self.slots[fix]
        tr.time[k] = self.t_a[rows]
        tr.lon[k] = self.lon_a[rows]
        tr.lat[k] = self.lat_a[rows]
        if tr.history:
            due = self.t_a[rows] - tr.hist_last[k] >= e.history_interval_s
            tr.sample(k[due], self.t_a[rows][due], self.lon_a[rows][due], self.lat_a[rows][due])
        tr.sog[k] = self.sog_a[rows]
        tr.cog[k] = self.cog_a[rows]
        tr.last_id[k] = self.ids[rows]
        rows = self.last_any[keep]
        k = self.slots[keep]
        tr.heard[k] = np.fmax(tr.heard[k], self.t_a[rows])
        tr.stale[k] = True
        if e.dirty is not None:
            e.moved.update(self.uniq[keep].tolist())
        # Fixes that continued an on_land episode: its last one (saved with the batch, as the per-fix step
        # would save it).
        land = keep & (self.last_land >= 0)
        if land.any():
            k = self.slots[land]
            tr.land_last[k] = np.fmax(tr.land_last[k], self.t_a[self.last_land[land]])
            if e.dirty is not None:
                e.dirty.update(self.uniq[land].tolist())


class _Tracks:
    """Track fields of every vessel in numpy arrays, indexed by a slot per MMSI.

    Where `stale[slot]` is set, the table is newer than the Vessel object (the fast path moved the track
    on); Engine._sync brings the object up to date before anything reads it.
    """

    # The columns (made by _alloc from _FIELDS).
    time: NDArray[np.float64]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    sog: NDArray[np.float64]
    cog: NDArray[np.float64]
    heard: NDArray[np.float64]
    last_id: NDArray[np.int32]
    hot: NDArray[np.bool_]
    quiet: NDArray[np.bool_]
    stale: NDArray[np.bool_]
    mmsi: NDArray[np.int64]
    born: NDArray[np.float64]
    land_last: NDArray[np.float64]

    def __init__(self, history: int = 0) -> None:
        self.n = 0
        self.history = history  # recent fixes kept per vessel (Engine.track_of)
        self.slot: dict[int, int] = {}
        self._keys = np.empty(0, dtype=np.int64)  # sorted MMSIs and their slots, for lookup()
        self._key_slots = np.empty(0, dtype=np.int64)
        self._new: list[int] = []  # MMSIs added since lookup() last merged them into _keys
        self._alloc(1024)

    # Each field: its name, the value of an unused row, its type. `last_id` is the zone-set id
    # (geofence.sets) of the last trusted fix.
    _FIELDS: tuple[tuple[str, Any, Any], ...] = (
        ("time", -np.inf, np.float64), ("lon", np.nan, np.float64), ("lat", np.nan, np.float64),
        ("sog", np.nan, np.float64), ("cog", np.nan, np.float64), ("heard", -np.inf, np.float64),
        ("last_id", 0, np.int32), ("hot", True, np.bool_), ("stale", False, np.bool_), ("mmsi", 0, np.int64),
        ("quiet", False, np.bool_),  # an episode of a `quiet` detector open (monitor.detectors.base)
        ("born", np.inf, np.float64),  # the engine clock when the vessel was first heard
        ("land_last", -np.inf, np.float64),  # its last fix on land (monitor.detectors.on_land)
    )

    # The recent track: a ring of `history` fixes per row, where the next goes, when the last was taken
    # (made by _alloc, with the columns). Whole seconds (0: unused) and float32 degrees (a metre): 12
    # bytes a fix, 36 MB for 50,000 vessels at the default 60.
    HISTORY: tuple[tuple[str, Any, Any, bool], ...] = (
        ("hist_t", 0, np.uint32, True), ("hist_x", np.nan, np.float32, True),
        ("hist_y", np.nan, np.float32, True), ("hist_at", 0, np.int32, False),
        ("hist_last", -np.inf, np.float64, False),
    )
    hist_t: NDArray[np.uint32]
    hist_x: NDArray[np.float32]
    hist_y: NDArray[np.float32]
    hist_at: NDArray[np.int32]
    hist_last: NDArray[np.float64]

    def _columns(self) -> Iterable[tuple[str, Any, Any, tuple[int, ...]]]:
        for name, fill, dtype in self._FIELDS:
            yield name, fill, dtype, ()
        for name, fill, dtype, ring in self.HISTORY:
            yield name, fill, dtype, (self.history,) if ring else ()

    def _alloc(self, cap: int) -> None:
        for name, fill, dtype, ring in self._columns():
            out = np.full((cap, *ring), fill, dtype=dtype)
            old = getattr(self, name, None)
            if old is not None:
                out[: len(old)] = old
            setattr(self, name, out)
        self.cap = cap

    def sample(self, k: NDArray[np.int64], t: NDArray[np.float64], lon: NDArray[np.float64],
               lat: NDArray[np.float64]) -> None:
        """Add these fixes to the rows' recent tracks (one per row)."""
        at = self.hist_at[k]
        self.hist_t[k, at] = t
        self.hist_x[k, at] = lon
        self.hist_y[k, at] = lat
        self.hist_at[k] = (at + 1) % self.history
        self.hist_last[k] = t

    def history_of(self, k: int) -> list[tuple[float, float, float]]:
        if not self.history:
            return []
        order = np.roll(np.arange(self.history), -int(self.hist_at[k]))  # oldest first
        t = self.hist_t[k, order]
        kept = t > 0
        return list(zip(t[kept].tolist(), self.hist_x[k, order][kept].astype(np.float64).tolist(),
                        self.hist_y[k, order][kept].astype(np.float64).tolist(), strict=True))

    def add(self, mmsi: int) -> int:
        k = self.slot.get(mmsi)
        if k is not None:
            return k
        if self.n == self.cap:
            self._alloc(self.cap * 2)
        k = self.slot[mmsi] = self.n
        self.n += 1
        self.mmsi[k] = mmsi
        self._new.append(mmsi)
        return k

    def remove(self, mmsis: Sequence[int]) -> None:
        """Drop these vessels' rows; the others move up (new slots)."""
        n = self.n
        keep = np.ones(n, dtype=bool)
        keep[[self.slot[m] for m in mmsis]] = False
        rows = np.flatnonzero(keep)
        m = len(rows)
        for name, fill, _, _ in self._columns():
            a = getattr(self, name)
            a[:m] = a[rows]
            a[m:n] = fill
        self.n = m
        mmsi = self.mmsi[:m]
        self.slot = dict(zip(mmsi.tolist(), range(m)))
        order = np.argsort(mmsi)
        self._keys, self._key_slots = mmsi[order], order.astype(np.int64)
        self._new = []

    def sorted_mmsis(self) -> NDArray[np.int64]:
        """Every vessel's MMSI in order (the index lookup() searches; no sort of them all per call)."""
        self._merge_new()
        return self._keys

    def lookup(self, mmsis: NDArray[np.int64]) -> NDArray[np.int64]:
        """Slots of the MMSIs (-1 for one without a slot)."""
        self._merge_new()
        if len(self._keys) == 0:
            return np.full(len(mmsis), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self._keys, mmsis), len(self._keys) - 1)
        result: NDArray[np.int64] = np.where(self._keys[pos] == mmsis, self._key_slots[pos], -1)
        return result

    def _merge_new(self) -> None:
        if self._new:
            # Merge the few new MMSIs into the sorted keys (not a sort of them all: a live feed adds
            # vessels between most batches).
            new = np.array(self._new, dtype=np.int64)
            self._new = []
            new_slots = np.fromiter((self.slot[m] for m in new.tolist()), np.int64, len(new))
            order = np.argsort(new)
            new, new_slots = new[order], new_slots[order]
            at = np.searchsorted(self._keys, new)
            self._keys = np.insert(self._keys, at, new)
            self._key_slots = np.insert(self._key_slots, at, new_slots)
