"""`loiter`: a vessel stays slow within a small area longer than the posture's limit.

In a strait, lane, separation zone or region (the strait's limit `loiter_strait_s` or the region's
`loiter_region_s` at the level in force); never in a port or anchorage, where waiting is normal. Slow is
under `detectors.loiter_max_speed_kn`; the area is `loiter_radius_m` around where the slow spell began.
A spell survives short bursts of speed (up to `episode_gap_s`); one alert per spell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from pydantic import Field as Setting

from monitor import savedstate as S
from monitor.alerts import iso_time
from monitor.detectors.base import Field, FixDetector, position
from monitor.geo import haversine_m
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

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        m = engine.masks
        self._harbour, self._strait, self._region = m.harbour, m.strait, m.region

    def open(self, v: Vessel) -> bool:
        return v.lo_t0 is not None

    def prefilter(self, fb: _FastBatch) -> NDArray[np.bool_]:
        result: NDArray[np.bool_] = (fb.sog_a < self.det.loiter_max_speed_kn) & ~self.e.set_harbour[fb.ids]
        return result

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
