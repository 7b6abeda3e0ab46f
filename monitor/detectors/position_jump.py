"""`position_jump`: consecutive reports imply a speed no ship can make (over `jump_speed_kn`, across more
than `jump_min_distance_m`); the trusted track.

Such a fix is reported once per episode and does not move the trusted track. But `jump_recover_fixes`
fixes in a row that agree with each other, away from the track, re-anchor it: then the track was wrong
(a bad first fix), not this run of reports, and the move to the new track is no path (no gates, no
passages).

`identity_conflict` (monitor.detectors.identity_conflict) judges each fix before this one: the fixes of a
second ship sharing the MMSI, once it has seen them alternate with the track, never get here (no jump
storm, and the track is not re-anchored back and forth between the two ships); it reads this detector's
run of candidates (`jump_cands`) to find them, and voids it when the track moves to the other ship.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field as Setting

from monitor import savedstate as S
from monitor.alerts import iso_time
from monitor.detectors.base import (
    DISTRUST,
    KNOT,
    NEVER,
    REANCHOR,
    TRUST,
    Field,
    TrustDetector,
    position,
)
from monitor.geo import haversine_m
from monitor.settings_base import Seconds, Section

if TYPE_CHECKING:
    from monitor.alerts import Alert
    from monitor.engine import Vessel, _FastBatch


def _candidates(x: Any, what: str) -> tuple[tuple[float, float, float], ...]:
    return tuple(S.fixes(x, what))


class PositionJumpSettings(Section):
    """[detectors] keys of `position_jump`."""

    jump_speed_kn: Seconds = Setting(default=50.0, gt=0)  # implied speed no ship makes
    jump_min_distance_m: Seconds = Setting(default=2000.0, ge=0)  # ... over more than this distance
    jump_recover_fixes: int = Setting(default=3, ge=1)  # consistent fixes away from the track re-anchor it


class PositionJump(TrustDetector):
    name = "position_jump"
    settings = PositionJumpSettings
    severity = {"position_jump": ("info", "warning", "warning", "critical")}
    fields = (
        Field("jump_start", NEVER, S.time_or_never, urgent=False),  # when the episode began
        Field("jump_last", NEVER, S.time_or_never),  # its last jump
        Field("jump_cands", (), _candidates),  # (time, lon, lat) of the fixes that agree, away from the track
    )

    def open(self, v: Vessel) -> bool:
        return bool(v.jump_cands)

    def prefilter(self, fb: _FastBatch) -> NDArray[np.bool_]:
        det = self.det
        d = fb.dist
        dt = fb.t_a - fb.prev_t
        too_fast = (dt <= 0) | (d > dt * det.jump_speed_kn * KNOT)
        result: NDArray[np.bool_] = (d > det.jump_min_distance_m) & too_fast
        return result

    def judge(self, v: Vessel, t: float, lon: float, lat: float, sog: float, cog: float, s: int,
              alerts: list[Alert]) -> int:
        if not v.has_fix:
            return TRUST
        det = self.det
        d = haversine_m(v.lon, v.lat, lon, lat)
        dt = t - v.time
        if not (d > det.jump_min_distance_m and (dt <= 0 or d / dt > det.jump_speed_kn * KNOT)):
            v.jump_cands = ()
            return TRUST
        if t - v.jump_last > det.episode_gap_s:
            v.jump_start = t
            knots = d / dt / KNOT if dt > 0 else None
            details = {
                "distance_km": round(d / 1000.0, 3),
                "implied_knots": None if knots is None else round(knots, 1),
                "from": {"lat": round(v.lat, 6), "lon": round(v.lon, 6)},
                "from_time": iso_time(v.time),
            }
            self.e.alert("position_jump", v, t, None, position(lat, lon, sog, cog), details, t, alerts)
        v.jump_last = t
        cands = v.jump_cands
        if cands:
            ct, cx, cy = cands[-1]
            cd = haversine_m(cx, cy, lon, lat)
            if not (cd <= det.jump_min_distance_m or (t > ct and cd / (t - ct) <= det.jump_speed_kn * KNOT)):
                cands = ()
        cands = (*cands, (t, lon, lat))
        if len(cands) < det.jump_recover_fixes:
            v.jump_cands = cands
            return DISTRUST
        v.jump_cands = ()
        return REANCHOR
