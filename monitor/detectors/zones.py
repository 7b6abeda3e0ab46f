"""`zone_enter`, `zone_exit` and `transit`: the geofence's events on the trusted track.

A zone of a tracked kind (strait, TSS lane, separation zone, port, anchorage, territorial sea) is entered
when a fix lies in it (after `geofence.min_dwell_s` inside, if set) and left only once a fix lies more than
`geofence.hysteresis_m` outside it, so a boundary jittered over makes no alert storm. A vessel's first fix
enters its zones with `first_seen`. A zone passed through between two fixes is entered and left at the
interpolated times. A strait is transited by crossing its outer gate then its inner gate (inbound) or the
reverse (outbound); leaving by the gate it came in by is no transit.

A zone with `expires` (a hazard or corridor) raises nothing from that time on, on the feed clock: it stays
in the geofence until the next reload, and a vessel's membership of it still follows the track, so no
event is raised late once it lapses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from monitor.alerts import iso_time
from monitor.detectors.base import FixDetector, bits, position

if TYPE_CHECKING:
    from monitor.alerts import Alert
    from monitor.engine import Engine, Move, Vessel, _FastBatch
    from monitor.geofence import GateCrossing


class Zones(FixDetector):
    name = "zones"
    severity = {
        "zone_enter": ("info", "info", "info", "info"),
        "zone_exit": ("info", "info", "info", "info"),
        "transit": ("info", "info", "info", "warning"),
    }
    rule_kinds = False
    # (Its per-vessel state, the zones a vessel is in, the zones of its last trusted fix, zones waiting
    # for min_dwell_s and transits begun, are zone references: saved by zone id, with `dark_zone`.)

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.geofence = engine.geofence
        self.min_dwell_s = engine.min_dwell_s
        m = engine.masks
        self._tracked = m.tracked
        # Per zone-set id (geofence.sets): a key of its tracked and region zones, so that a fix whose key
        # is its previous fix's changes no zone (the pre-filter).
        self._selected = m.tracked | m.region
        self._keys: dict[int, int] = {}
        self._set_key = np.zeros(0, dtype=np.int64)
        self._expires = {i: z.expires for i, z in enumerate(engine.geofence.zones) if z.expires is not None}

    def _alert(self, kind: str, v: Vessel, t: float, z: int, p: dict[str, float | None],
               details: dict[str, Any], alerts: list[Alert]) -> None:
        """An enter or exit of zone `z` at `t`, unless the zone has expired by then."""
        expires = self._expires.get(z)
        if expires is None or t < expires:
            self.e.alert(kind, v, t, z, p, details, t, alerts)

    def open(self, v: Vessel) -> bool:
        # A zone waiting for min_dwell_s, or one kept by the tolerance band.
        return bool(v.pending) or v.member != v.last_s & self._tracked

    def prefilter(self, fb: _FastBatch) -> NDArray[np.bool_]:
        keys = self._zone_keys()
        # (The gate test sits beside the exact one in the geofence.)
        gate = self.geofence.may_cross_gates(fb.prev_lon, fb.prev_lat, fb.lon_a, fb.lat_a)
        result: NDArray[np.bool_] = (keys[fb.ids] != keys[fb.prev_id]) | gate
        return result

    def _zone_keys(self) -> NDArray[np.int64]:
        sets = self.geofence.sets
        have = len(self._set_key)
        if have < len(sets):
            keys, selected = self._keys, self._selected
            new = [keys.setdefault(mask & selected, len(keys)) for mask in sets.masks[have:]]
            self._set_key = np.r_[self._set_key, np.array(new, dtype=np.int64)]
        return self._set_key

    def first_fix(self, v: Vessel, t: float, lon: float, lat: float, sog: float, cog: float, s: int,
                  alerts: list[Alert]) -> None:
        """A vessel's first trusted fix: `zone_enter` with `first_seen` for each zone it is in."""
        s &= self._tracked
        v.member = s
        p = position(lat, lon, sog, cog)
        for z in bits(s):
            self._alert("zone_enter", v, t, z, p, {"first_seen": True}, alerts)

    def on_move(self, v: Vessel, t: float, lon: float, lat: float, sog: float, cog: float, s_all: int,
                moves: list[Move], alerts: list[Alert], reanchor: bool) -> None:
        """A trusted fix after the vessel's last one (still in `v`): zones left and entered, gates crossed,
        and a long move queued for `passages`. After a re-anchoring the move is no path."""
        s = s_all & self._tracked
        geofence = self.geofence
        band = geofence.hysteresis_m
        member = v.member
        if s != member or v.pending:
            self._zone_changes(v, t, lon, lat, sog, cog, s, band, alerts)
        if reanchor:
            # The move from a wrong track to the right one is no path: no gates, no passages, and a
            # transit begun on the wrong track is forgotten.
            v.transit.clear()
            return
        if geofence.straits:
            crossings = geofence.gate_crossings(v.lon, v.lat, lon, lat)
            if crossings:
                self._gates(v, t, lon, lat, sog, cog, crossings, alerts)
        if (abs(lon - v.lon) + abs(lat - v.lat)) * 111_320.0 > band:
            # A move long enough to pass through a zone: checked for the whole batch at once
            # (passages change no membership, so they need not be found in order).
            moves.append((v, v.time, t, v.lon, v.lat, lon, lat, sog, cog, member | s | v.last_s))

    def _zone_changes(self, v: Vessel, t: float, lon: float, lat: float, sog: float, cog: float, s: int,
                      band: float, alerts: list[Alert]) -> None:
        member = v.member
        geofence = self.geofence
        p = position(lat, lon, sog, cog)
        # Leaving: only once outside the tolerance band, so boundary jitter makes no alert storm.
        kept = 0
        for z in bits(member & ~s):
            if band > 0 and geofence.in_band(z, lon, lat):
                kept |= 1 << z
            else:
                self._alert("zone_exit", v, t, z, p, {}, alerts)
        entered = s & ~member
        if self.min_dwell_s > 0:
            # Still waiting: a pending zone confirms after min_dwell_s inside, or is forgotten once the
            # vessel is outside the band again.
            for z, since in list(v.pending.items()):
                if s >> z & 1:
                    if t - since >= self.min_dwell_s:
                        del v.pending[z]
                        kept |= 1 << z
                        self._alert("zone_enter", v, since, z, p, {}, alerts)
                elif not (band > 0 and geofence.in_band(z, lon, lat)):
                    del v.pending[z]
                entered &= ~(1 << z)
            for z in bits(entered):
                v.pending[z] = t
            v.member = (s & member) | kept
            return
        for z in bits(entered):
            self._alert("zone_enter", v, t, z, p, {}, alerts)
        v.member = s | kept

    def _gates(self, v: Vessel, t: float, lon: float, lat: float, sog: float, cog: float,
               crossings: Sequence[GateCrossing], alerts: list[Alert]) -> None:
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
            details = {
                "direction": "inbound" if state[0] == 0 else "outbound",
                "duration_s": round(tc - state[1], 1),
                "entered": iso_time(round(state[1], 3)),
                "gate_in": strait.gates[state[0]].zone.id,
                "gate_out": strait.gates[c.gate].zone.id,
            }
            self.e.alert("transit", v, round(tc, 3), strait.index, position(yc, xc, sog, cog), details,
                        round(state[1], 3), alerts)

    def passages(self, moves: list[Move], alerts: list[Alert]) -> None:
        """Zones a batch's long moves passed through with neither end inside: entered and left between
        the fixes (`interpolated`), found for the whole batch at once."""
        band = self.geofence.hysteresis_m
        found = self.geofence.passages([m[3:7] for m in moves], [m[9] for m in moves], band)
        for (v, t0, t, x0, y0, lon, lat, sog, cog, _), passages in zip(moves, found):
            for ps in passages:
                for kind, f in (("zone_enter", ps.frac_in), ("zone_exit", ps.frac_out)):
                    tf = round(t0 + (t - t0) * f, 3)
                    p = position(y0 + (lat - y0) * f, x0 + (lon - x0) * f, sog, cog)
                    self._alert(kind, v, tf, ps.zone, p, {"interpolated": True}, alerts)
