"""`loiter`: a vessel stays slow within a small area longer than the posture's limit.

In a strait, lane, separation zone or region (the strait's limit `loiter_strait_s` or the region's
`loiter_region_s` at the level in force); never in a port or anchorage, where waiting is normal. Slow is
under `detectors.loiter_max_speed_kn`; the area is `loiter_radius_m` around where the slow spell began.
A spell survives short bursts of speed (up to `episode_gap_s`); one alert per spell.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from pydantic import Field as Setting

from monitor import savedstate as S
from monitor.alerts import iso_time
from monitor.detectors.base import Field, FixDetector, position
from monitor.geo import haversine_m, haversine_np
from monitor.settings_base import Seconds, Section

if TYPE_CHECKING:
    from monitor.alerts import Alert
    from monitor.engine import Engine, Vessel, _FastBatch


class LoiterSettings(Section):
    """[detectors] keys of `loiter`."""

    loiter_max_speed_kn: Seconds = Setting(default=2.0, gt=0)  # slower than this counts as loitering
    loiter_radius_m: Seconds = Setting(default=2000.0, gt=0)  # ... staying within this of where it began


class Loiter(FixDetector):
    name = "loiter"
    settings = LoiterSettings
    severity = {"loiter": ("warning", "warning", "critical", "critical")}
    fields = (
        Field("lo_t0", None, S.opt_time),  # when the slow spell began (None: no spell)
        Field("lo_x", 0.0, S.lon, urgent=False),  # where it began
        Field("lo_y", 0.0, S.lat, urgent=False),
        Field("lo_r", 0.0, S.metres, urgent=False),  # how far it has strayed since
        Field("lo_fast", None, S.opt_time, urgent=False),  # when it last sped up within the spell
        Field("lo_alerted", False, S.boolean),
    )

    # A spell under way sends only the fixes that can change it to the per-fix step (base.FixDetector.quiet).
    quiet = True

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        m = engine.masks
        self._harbour, self._strait, self._region = m.harbour, m.strait, m.region
        # Per zone-set id (geofence.sets): 1 in the strait (its limit), 2 in a region only, 0 neither.
        self._set_area = np.zeros(0, dtype=np.int8)
        # Of the batch (prefilter, for carry): per vessel (`fb.uniq`), has it a spell open; per row of
        # such a vessel, when its burst of speed began (NaN: none).
        self._spell = np.zeros(0, dtype=bool)
        self._since = np.zeros(0)

    def open(self, v: Vessel) -> bool:
        return v.lo_t0 is not None

    def prefilter(self, fb: _FastBatch) -> NDArray[np.bool_]:
        det = self.det
        slow = fb.sog_a < det.loiter_max_speed_kn
        area = self._areas()[fb.ids]
        harbour = self.e.set_harbour[fb.ids]
        # A vessel without a spell: a slow fix may start one.
        result: NDArray[np.bool_] = slow & ~harbour
        self._spell = np.zeros(len(fb.uniq), dtype=bool)
        spells = [(u, v) for u, v in zip(fb.quiet_idx.tolist(), fb.quiet_vessels) if v.lo_t0 is not None]
        if not spells:
            return result
        # A vessel with a spell: only a fix that ends it (in a harbour or out of the area, beyond the
        # radius, fast for longer than the gap) or raises its alert needs the step; the others widen it or
        # start and end bursts of speed (`carry`). The limit is the level's in force now: a change of level
        # within the batch sends these fixes to the step (Engine._process_fast).
        n_u = len(fb.uniq)
        at_u = np.array([i for i, _ in spells], dtype=np.int64)
        vs = [v for _, v in spells]
        self._spell[at_u] = True
        t0, x0, y0 = np.zeros(n_u), np.zeros(n_u), np.zeros(n_u)
        fast0 = np.full(n_u, np.nan)
        alerted = np.zeros(n_u, dtype=bool)
        t0[at_u] = [v.lo_t0 for v in vs]
        x0[at_u] = [v.lo_x for v in vs]
        y0[at_u] = [v.lo_y for v in vs]
        fast0[at_u] = [math.nan if v.lo_fast is None else v.lo_fast for v in vs]
        alerted[at_u] = [v.lo_alerted for v in vs]
        # Their trusted fixes, vessel by vessel in input order (fixes that move no track never reach here).
        rows = np.flatnonzero(self._spell[fb.inverse] & fb.track)
        rows = rows[np.argsort(fb.inverse[rows], kind="stable")]
        u = fb.inverse[rows]
        t = fb.t_a[rows]
        slow_r = slow[rows]
        # When the burst of speed a fast fix is in began: after the vessel's last slow fix before it, or
        # with none in the batch, when the spell's last burst began (lo_fast), else at its first fix.
        at = np.arange(len(rows))
        group = np.flatnonzero(np.r_[True, u[1:] != u[:-1]]) if len(rows) else at
        lo = np.repeat(group, np.diff(np.r_[group, len(rows)]))
        last_slow = np.maximum.accumulate(np.where(slow_r, at, -1)) if len(rows) else at
        since = np.where(last_slow >= lo, t[np.minimum(last_slow + 1, len(rows) - 1)], np.nan)
        since = np.where(np.isnan(since), np.where(np.isnan(fast0[u]), t[lo], fast0[u]), since)
        self._since = np.full(fb.n, np.nan)
        self._since[rows] = since
        limits = self.e.posture.limits
        limit = np.where(area[rows] == 1, limits.loiter_strait_s, limits.loiter_region_s)
        d = haversine_np(x0[u], y0[u], fb.lon_a[rows], fb.lat_a[rows])
        # (A millimetre's margin: haversine_np may differ from on_fix's haversine_m in the last bit.)
        keeps = (area[rows] > 0) & ~harbour[rows] & (d <= det.loiter_radius_m - 1e-3) & np.where(
            slow_r, alerted[u] | (t - t0[u] < limit), t - since <= det.episode_gap_s)
        result[self._spell[fb.inverse]] = False
        result[rows] = ~keeps
        return result

    def carry(self, fb: _FastBatch, rows: NDArray[np.int64]) -> Iterable[Vessel]:
        # A spell's skipped fixes: the slow ones widen it (lo_r) and end a burst of speed, the fast ones
        # start or continue one (lo_fast: when it began, worked out by the pre-filter).
        rows = rows[self._spell[fb.inverse[rows]]]
        if not len(rows):
            return ()
        rows = rows[np.argsort(fb.inverse[rows], kind="stable")]
        u = fb.inverse[rows]
        last = rows[np.r_[u[1:] != u[:-1], True]]
        slow = fb.sog_a[rows] < self.det.loiter_max_speed_kn
        vessels = self.e.vessels
        bursts = np.where(fb.sog_a[last] < self.det.loiter_max_speed_kn, np.nan, self._since[last])
        for mmsi, since in zip(fb.mmsi_a[last].tolist(), bursts.tolist()):
            vessels[mmsi].lo_fast = None if since != since else since
        widen = rows[slow]
        if len(widen):
            mmsis, at = np.unique(fb.mmsi_a[widen], return_inverse=True)
            spells = [vessels[m] for m in mmsis.tolist()]
            x0 = np.array([v.lo_x for v in spells])
            y0 = np.array([v.lo_y for v in spells])
            d = haversine_np(x0[at], y0[at], fb.lon_a[widen], fb.lat_a[widen])
            # Each vessel's farthest slow fix (the last of its rows ordered by distance), measured again as
            # on_fix measures it.
            by_distance = np.lexsort((d, at))
            far = widen[by_distance[np.r_[at[by_distance][1:] != at[by_distance][:-1], True]]]
            for v, r in zip(spells, map(haversine_m, x0.tolist(), y0.tolist(), fb.lon_a[far].tolist(),
                                        fb.lat_a[far].tolist())):
                if r > v.lo_r:
                    v.lo_r = r
        return ()

    def _areas(self) -> NDArray[np.int8]:
        sets = self.e.geofence.sets
        have = len(self._set_area)
        if have < len(sets):
            strait, region = self._strait, self._region
            new = [1 if mask & strait else 2 if mask & region else 0 for mask in sets.masks[have:]]
            self._set_area = np.r_[self._set_area, np.array(new, dtype=np.int8)]
        return self._set_area

    def on_fix(self, v: Vessel, t: float, lon: float, lat: float, sog: float, cog: float, s: int,
               alerts: list[Alert]) -> None:
        det = self.det
        strait = s & self._strait
        if s & self._harbour or not (strait or s & self._region):
            v.lo_t0 = None
            return
        slow = sog < det.loiter_max_speed_kn  # NaN (speed not available) is not slow
        if v.lo_t0 is not None:
            d = haversine_m(v.lo_x, v.lo_y, lon, lat)
            if d > det.loiter_radius_m:
                v.lo_t0 = None
            elif not slow:
                if v.lo_fast is None:
                    v.lo_fast = t
                elif t - v.lo_fast > det.episode_gap_s:
                    v.lo_t0 = None
            else:
                v.lo_fast = None
                v.lo_r = max(v.lo_r, d)
        if v.lo_t0 is None and slow:
            v.lo_t0, v.lo_x, v.lo_y, v.lo_r, v.lo_fast, v.lo_alerted = t, lon, lat, 0.0, None, False
        if v.lo_t0 is not None and not v.lo_alerted and slow:
            limits = self.e.posture.limits
            limit = limits.loiter_strait_s if strait else limits.loiter_region_s
            if t - v.lo_t0 >= limit:
                v.lo_alerted = True
                zone = self.e.area_of(s)
                details = {"duration_s": round(t - v.lo_t0, 1), "radius_m": round(v.lo_r, 1),
                           "since": iso_time(v.lo_t0)}
                self.e.alert("loiter", v, t, zone, position(lat, lon, sog, cog), details, v.lo_t0, alerts)
