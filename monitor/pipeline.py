"""The synchronous middle of the daemon: lines in, alerts out (STYLE 1).

    feed lines -> NmeaAssembler (tag blocks, checksums, fragments, duplicates)
               -> decode_batch (vectorized position reports, pyais for the rest)
               -> Tracker (per-vessel state, static fusion, zone membership, gates)
               -> alerts

Replay and the daemon run exactly this code; only where the lines come from and where alerts go differ.
No event loop here: it is tested directly and works on batches for speed.
"""

from __future__ import annotations

import math
import time as _time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from monitor.alerts import Alert, alert_id, iso_time, severity_max
from monitor.config import Settings
from monitor.decode import DecodedBatch, StaticReport, decode_batch
from monitor.geo import haversine_m
from monitor.geofence import Geofence
from monitor.mid import flag_of, mid_of
from monitor.nmea import NmeaAssembler
from monitor.zones import ZoneFile

POSTURES = ("NORMAL", "ELEVATED", "HIGH", "CRITICAL")

# Severity of each kind before the posture table (issue 3) takes over; watched vessels are at least warning.
BASE_SEVERITY = {"zone_enter": "info", "zone_exit": "info", "transit": "info"}


@dataclass(slots=True)
class Summary:
    """What a run saw: printed at the end of a replay, exported as metrics by the daemon."""

    lines: int = 0
    rejects: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    messages: int = 0
    positions: int = 0
    statics: int = 0
    untimed: int = 0
    stale: int = 0
    vessels: int = 0
    alerts: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "rejected": sum(self.rejects.values()),
            "rejects": dict(sorted(self.rejects.items())),
            "duplicates": self.duplicates,
            "messages": self.messages,
            "positions": self.positions,
            "statics": self.statics,
            "untimed": self.untimed,
            "stale": self.stale,
            "vessels": self.vessels,
            "alerts": sum(self.alerts.values()),
            "alerts_by_kind": dict(sorted(self.alerts.items())),
        }


class Vessel:
    """Everything known about one MMSI. One object per vessel, none per message."""

    __slots__ = (
        "mmsi", "name", "imo", "callsign", "ship_type", "draught", "destination", "flag", "watch",
        "time", "lon", "lat", "sog", "cog", "member", "last_s", "pending", "transit", "_info",
    )

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
        self.time = -math.inf  # time of the last trusted fix
        self.lon = math.nan
        self.lat = math.nan
        self.sog = math.nan
        self.cog = math.nan
        self.member = 0  # bit mask of tracked zones the vessel is in
        self.last_s = 0  # bit mask of the zones its last fix lay in (strictly, without the band)
        self.pending: dict[int, float] = {}  # zone -> first time inside, while min_dwell_s runs
        self.transit: dict[int, tuple[int, float]] = {}  # strait -> (gate entered by, time)
        self._info: dict[str, Any] | None = None

    @property
    def has_fix(self) -> bool:
        return self.time > -math.inf

    def apply_static(self, s: StaticReport) -> None:
        for attr in ("name", "imo", "callsign", "ship_type", "draught", "destination"):
            value = getattr(s, attr)
            if value is not None:
                setattr(self, attr, value)
        self._info = None

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


def _bits(mask: int) -> Iterable[int]:
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def _position(lat: float, lon: float, sog: float, cog: float) -> dict[str, float | None]:
    return {
        "lat": round(lat, 6),
        "lon": round(lon, 6),
        "sog": None if sog != sog else round(sog, 1),
        "cog": None if cog != cog else round(cog, 1),
    }


class Tracker:
    """Per-vessel state and the geofence events: zone enter/exit (with hysteresis) and strait transits."""

    def __init__(
        self,
        geofence: Geofence,
        *,
        watchlists: dict[str, tuple[frozenset[int], frozenset[int]]],
        min_dwell_s: float = 0.0,
        posture: str = "NORMAL",
    ) -> None:
        self.geofence = geofence
        self.watchlists = watchlists
        self.min_dwell_s = min_dwell_s
        self.posture = posture
        self.vessels: dict[int, Vessel] = {}
        self.stale = 0

    def vessel(self, mmsi: int) -> Vessel:
        v = self.vessels.get(mmsi)
        if v is None:
            mid = mid_of(mmsi)
            watch = sorted(
                name for name, (mids, mmsis) in self.watchlists.items() if mmsi in mmsis or mid in mids
            )
            v = self.vessels[mmsi] = Vessel(mmsi, watch)
        return v

    # ---- alerts ------------------------------------------------------------------------------------------
    def _alert(
        self,
        kind: str,
        v: Vessel,
        t: float,
        zone: int | None,
        position: dict[str, float | None] | None,
        details: dict[str, Any],
        episode: float,
    ) -> Alert:
        severity = BASE_SEVERITY.get(kind, "info")
        if v.watch:
            severity = severity_max(severity, "warning")
        zone_dict = None if zone is None else self.geofence.zone_dicts[zone]
        return Alert(
            id=alert_id(kind, v.mmsi, None if zone_dict is None else zone_dict["id"], iso_time(episode)),
            kind=kind,
            severity=severity,
            posture=self.posture,
            time=t,
            mmsi=v.mmsi,
            vessel=v.info(),
            zone=zone_dict,
            position=position,
            details=details,
        )

    # ---- the per-fix step --------------------------------------------------------------------------------
    def process(self, batch: DecodedBatch, clock: Callable[[], float]) -> tuple[list[Alert], int]:
        """Run one decoded batch; returns its alerts (time-ordered) and how many fixes had no time."""
        alerts: list[Alert] = []
        pos = batch.positions
        statics = batch.statics
        si = 0
        untimed = 0
        lat_a = pos["lat"]
        lon_a = pos["lon"]
        has_pos = ~(np.isnan(lat_a) | np.isnan(lon_a))
        masks_valid = self.geofence.membership(lon_a[has_pos], lat_a[has_pos])
        masks: list[int | None] = [None] * len(pos)
        for j, i in enumerate(np.flatnonzero(has_pos).tolist()):
            masks[i] = masks_valid[j]
        geofence = self.geofence
        band = geofence.hysteresis_m
        dwell = self.min_dwell_s
        moves: list[tuple[Vessel, float, float, float, float, float, float, float, float, int]] = []
        for i, (seq, t, mmsi, lat, lon, sog, cog) in enumerate(
            zip(
                pos["seq"].tolist(),
                pos["time"].tolist(),
                pos["mmsi"].tolist(),
                lat_a.tolist(),
                lon_a.tolist(),
                pos["sog"].tolist(),
                pos["cog"].tolist(),
            )
        ):
            while si < len(statics) and statics[si].seq < seq:
                self.vessel(statics[si].mmsi).apply_static(statics[si])
                si += 1
            v = self.vessel(mmsi)
            s = masks[i]
            if s is None:
                continue  # no position available: updates no position
            if t != t:
                t = clock()
                untimed += 1
            if t < v.time:
                self.stale += 1  # an older fix relayed late: the track has moved on
                continue
            if not v.has_fix:
                self._first_fix(v, t, lon, lat, sog, cog, s, alerts)
                continue
            member = v.member
            if s != member or v.pending:
                self._zone_changes(v, t, lon, lat, sog, cog, s, band, dwell, alerts)
            crossings = geofence.gate_crossings(v.lon, v.lat, lon, lat) if geofence.straits else ()
            if crossings:
                self._gates(v, t, lon, lat, sog, cog, crossings, alerts)
            if (abs(lon - v.lon) + abs(lat - v.lat)) * 111_320.0 > band:
                # A move long enough to pass through a zone: checked for the whole batch at once below
                # (passages change no membership, so they need not be found in order).
                moves.append((v, v.time, t, v.lon, v.lat, lon, lat, sog, cog, member | s | v.last_s))
            v.time, v.lon, v.lat, v.sog, v.cog, v.last_s = t, lon, lat, sog, cog, s
        for st in statics[si:]:
            self.vessel(st.mmsi).apply_static(st)
        if moves:
            self._passages(moves, band, alerts)
        alerts.sort(key=lambda a: a.time)
        return alerts, untimed

    def _first_fix(
        self, v: Vessel, t: float, lon: float, lat: float, sog: float, cog: float, s: int,
        alerts: list[Alert],
    ) -> None:
        v.time, v.lon, v.lat, v.sog, v.cog, v.last_s = t, lon, lat, sog, cog, s
        v.member = s
        p = _position(lat, lon, sog, cog)
        for z in _bits(s):
            alerts.append(self._alert("zone_enter", v, t, z, p, {"first_seen": True}, t))

    def _zone_changes(
        self, v: Vessel, t: float, lon: float, lat: float, sog: float, cog: float, s: int,
        band: float, dwell: float, alerts: list[Alert],
    ) -> None:
        member = v.member
        geofence = self.geofence
        p = _position(lat, lon, sog, cog)
        # Leaving: only once outside the tolerance band, so boundary jitter makes no alert storm.
        kept = 0
        for z in _bits(member & ~s):
            if band > 0 and geofence.in_band(z, lon, lat):
                kept |= 1 << z
            else:
                alerts.append(self._alert("zone_exit", v, t, z, p, {}, t))
        entered = s & ~member
        if dwell > 0:
            # Still waiting: a pending zone confirms after min_dwell_s inside, or is forgotten once the
            # vessel is outside the band again.
            for z, since in list(v.pending.items()):
                if s >> z & 1:
                    if t - since >= dwell:
                        del v.pending[z]
                        kept |= 1 << z
                        alerts.append(self._alert("zone_enter", v, since, z, p, {}, since))
                elif not (band > 0 and geofence.in_band(z, lon, lat)):
                    del v.pending[z]
                entered &= ~(1 << z)
            for z in _bits(entered):
                v.pending[z] = t
            v.member = (s & member) | kept
            return
        for z in _bits(entered):
            alerts.append(self._alert("zone_enter", v, t, z, p, {}, t))
        v.member = s | kept

    def _gates(
        self, v: Vessel, t: float, lon: float, lat: float, sog: float, cog: float,
        crossings: Sequence[Any], alerts: list[Alert],
    ) -> None:
        t0, x0, y0 = v.time, v.lon, v.lat
        for c in crossings:
            tc = t0 + (t - t0) * c.frac
            state = v.transit.get(c.strait)
            if c.into_strait:
                v.transit[c.strait] = (c.gate, tc)
                continue
            v.transit.pop(c.strait, None)
            if state is None or state[0] == c.gate:
                continue  # left by the gate it came in by: turned back, no transit
            strait = self.geofence.straits[c.strait]
            xc, yc = x0 + (lon - x0) * c.frac, y0 + (lat - y0) * c.frac
            direction = "inbound" if state[0] == 0 else "outbound"
            details = {
                "direction": direction,
                "duration_s": round(tc - state[1], 1),
                "entered": iso_time(round(state[1], 3)),
                "gate_in": strait.gates[state[0]].zone.id,
                "gate_out": strait.gates[c.gate].zone.id,
            }
            alerts.append(
                self._alert(
                    "transit", v, round(tc, 3), strait.index, _position(yc, xc, sog, cog), details,
                    round(state[1], 3),
                )
            )

    def _passages(
        self,
        moves: list[tuple[Vessel, float, float, float, float, float, float, float, float, int]],
        band: float,
        alerts: list[Alert],
    ) -> None:
        found = self.geofence.passages([m[3:7] for m in moves], [m[9] for m in moves], band)
        for (v, t0, t, x0, y0, lon, lat, sog, cog, _), passages in zip(moves, found):
            for ps in passages:
                for kind, f in (("zone_enter", ps.frac_in), ("zone_exit", ps.frac_out)):
                    tf = round(t0 + (t - t0) * f, 3)
                    p = _position(y0 + (lat - y0) * f, x0 + (lon - x0) * f, sog, cog)
                    alerts.append(self._alert(kind, v, tf, ps.zone, p, {"interpolated": True}, tf))


class Pipeline:
    """Lines in, alerts out, with the counts a summary or the metrics need."""

    def __init__(
        self,
        settings: Settings,
        zonefile: ZoneFile,
        *,
        posture: str = "NORMAL",
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings
        self.live = clock is not None
        self.clock: Callable[[], float] = clock or _time.time
        self.assembler = NmeaAssembler(
            fragment_timeout_s=settings.decode.fragment_timeout_s,
            dedup_window_s=settings.decode.dedup_window_s,
            clock=clock,
        )
        self.geofence = Geofence(zonefile, hysteresis_m=settings.geofence.hysteresis_m)
        watchlists = {
            name: (frozenset(w.mids), frozenset(w.mmsis)) for name, w in settings.watchlists.items()
        }
        self.tracker = Tracker(
            self.geofence, watchlists=watchlists, min_dwell_s=settings.geofence.min_dwell_s, posture=posture
        )
        self.summary = Summary()
        self._seq = 0
        self._decode_rejects: Counter[str] = Counter()
        self.first_time: float | None = None  # the earliest and newest times seen on the feed clock
        self.feed_time: float | None = None

    def process_lines(self, lines: Sequence[bytes]) -> list[Alert]:
        messages = self.assembler.push_lines(lines)
        batch = decode_batch(messages, seq_start=self._seq)
        self._seq += len(messages)
        self._decode_rejects.update(batch.rejects)
        alerts, untimed = self.tracker.process(batch, self.clock)
        times = batch.positions["time"]
        if len(times) and not np.isnan(times).all():
            lo, hi = float(np.nanmin(times)), float(np.nanmax(times))
            self.first_time = lo if self.first_time is None else min(self.first_time, lo)
            self.feed_time = hi if self.feed_time is None else max(self.feed_time, hi)
        s = self.summary
        s.messages += len(messages) - sum(batch.rejects.values())
        s.positions += len(batch.positions)
        s.statics += len(batch.statics)
        s.untimed += untimed
        for a in alerts:
            s.alerts[a.kind] += 1
        return alerts

    def finish(self) -> Summary:
        """Bring the summary up to date (counts kept by the assembler and the tracker)."""
        s = self.summary
        s.lines = self.assembler.lines
        s.rejects = self.assembler.rejects + self._decode_rejects
        s.duplicates = self.assembler.duplicates
        s.stale = self.tracker.stale
        s.vessels = len(self.tracker.vessels)
        return s
