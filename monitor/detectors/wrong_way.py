"""`wrong_way`: a moving vessel in a TSS lane keeps a course against the lane's bearing.

Crossing a lane at right angles (COLREG rule 10) is 90 degrees off the bearing: not wrong way. The course
must be more than `detectors.wrong_way_angle_deg` off, at more than `wrong_way_min_speed_kn`, for at least
`wrong_way_sustain_s`; one alert per episode (an episode ends after `episode_gap_s` without the condition).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from pydantic import Field as Setting

from monitor import savedstate as S
from monitor.alerts import iso_time
from monitor.detectors.base import NEVER, Field, FixDetector, angle_off, lowest, position
from monitor.settings_base import Seconds, Section

if TYPE_CHECKING:
    from monitor.alerts import Alert
    from monitor.engine import Engine, Vessel, _FastBatch


class WrongWaySettings(Section):
    """[detectors] keys of `wrong_way`."""

    wrong_way_angle_deg: Seconds = Setting(default=120.0, gt=90, le=180)  # course off the lane bearing
    wrong_way_min_speed_kn: Seconds = Setting(default=3.0, ge=0)  # moving faster than this
    wrong_way_sustain_s: Seconds = Setting(default=120.0, ge=0)  # ... for at least this long


class WrongWay(FixDetector):
    name = "wrong_way"
    settings = WrongWaySettings
    severity = {"wrong_way": ("warning", "warning", "critical", "critical")}
    fields = (
        Field("ww_since", None, S.opt_time),  # since when the condition holds (None: it does not)
        Field("ww_last", NEVER, S.time_or_never, urgent=False),  # when it last held
        Field("ww_alerted", False, S.boolean),  # reported in this episode
    )

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        zones = engine.geofence.zones
        self.bearing = {i: z.bearing for i, z in enumerate(zones) if z.kind == "tss_lane"}
        self._lane_mask = engine.masks.lane
        # Per zone-set id (geofence.sets): the bearing of its lowest lane (NaN: none, or no bearing).
        self._set_bearing = np.zeros(0, dtype=np.float64)

    def open(self, v: Vessel) -> bool:
        return v.ww_since is not None or v.ww_alerted

    def prefilter(self, fb: _FastBatch) -> NDArray[np.bool_]:
        det = self.det
        bearing = self._bearings()[fb.ids]
        result = np.zeros(fb.n, dtype=bool)
        # Only the fixes in a lane with a bearing (most are in none: NaN, and numpy's remainder is about
        # ten times slower on NaN than on a number).
        lane = np.flatnonzero(~np.isnan(bearing))
        if len(lane):
            off = np.abs((fb.cog_a[lane] - bearing[lane] + 180.0) % 360.0 - 180.0)
            result[lane] = (fb.sog_a[lane] > det.wrong_way_min_speed_kn) & (off > det.wrong_way_angle_deg)
        return result

    def _bearings(self) -> NDArray[np.float64]:
        sets = self.e.geofence.sets
        have = len(self._set_bearing)
        if have < len(sets):
            lanes = sorted(self.bearing)
            new = []
            for mask in sets.masks[have:]:
                b = math.nan
                for lane in lanes:  # the lowest lane wins, as in on_fix
                    if mask >> lane & 1:
                        lb = self.bearing[lane]
                        b = math.nan if lb is None else lb
                        break
                new.append(b)
            self._set_bearing = np.r_[self._set_bearing, np.array(new, dtype=np.float64)]
        return self._set_bearing

    def on_fix(self, v: Vessel, t: float, lon: float, lat: float, sog: float, cog: float, s: int,
               alerts: list[Alert]) -> None:
        det = self.det
        lanes = s & self._lane_mask
        wrong = False
        lane = -1
        if lanes and sog > det.wrong_way_min_speed_kn and cog == cog:
            lane = lowest(lanes)
            bearing = self.bearing[lane]
            wrong = bearing is not None and angle_off(cog, bearing) > det.wrong_way_angle_deg
        if wrong:
            if v.ww_since is None:
                v.ww_since = t
            v.ww_last = t
            if not v.ww_alerted and t - v.ww_since >= det.wrong_way_sustain_s:
                v.ww_alerted = True
                details = {"bearing": self.bearing[lane], "cog": round(cog, 1),
                           "since": iso_time(v.ww_since), "sustained_s": round(t - v.ww_since, 1)}
                self.e.alert("wrong_way", v, t, lane, position(lat, lon, sog, cog), details, v.ww_since,
                             alerts)
        else:
            v.ww_since = None
            if v.ww_alerted and t - v.ww_last > det.episode_gap_s:
                v.ww_alerted = False
