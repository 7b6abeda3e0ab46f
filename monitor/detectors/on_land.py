"""`on_land`: a reported position lies in a `land` zone and in no `port` zone: GNSS interference or
spoofing. Such a fix is reported once per episode (an episode ends after `episode_gap_s` without one) and
is never evidence for anything else: it does not move the trusted track.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from monitor import savedstate as S
from monitor.detectors.base import DISTRUST, NEVER, TRUST, Field, TrustDetector, lowest, position

if TYPE_CHECKING:
    from monitor.alerts import Alert
    from monitor.engine import Engine, Vessel, _FastBatch


class OnLand(TrustDetector):
    name = "on_land"
    severity = {"on_land": ("warning", "warning", "critical", "critical")}
    fields = (
        Field("land_start", NEVER, S.time_or_never, urgent=False),  # when the episode began
        Field("land_last", NEVER, S.time_or_never),  # its last fix on land
    )

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._land, self._port = engine.masks.land, engine.masks.port
        self._zones = engine.geofence.zones

    def prefilter(self, fb: _FastBatch) -> NDArray[np.bool_]:
        # Every fix on land (in no port); the engine's fast path leaves out those that continue an
        # episode (they only move `land_last`, which it applies in bulk).
        result: NDArray[np.bool_] = fb.land
        return result

    def judge(self, v: Vessel, t: float, lon: float, lat: float, sog: float, cog: float, s: int,
              alerts: list[Alert]) -> int:
        if not (s & self._land and not s & self._port):
            return TRUST
        if t - v.land_last > self.det.episode_gap_s:
            v.land_start = t
            self.e.alert("on_land", v, t, None, position(lat, lon, sog, cog),
                         {"land": self._zones[lowest(s & self._land)].id}, t, alerts)
        v.land_last = t
        return DISTRUST
