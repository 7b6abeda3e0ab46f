"""`corridor_departure`: a watched vessel in the strait strays from every corridor it is advised to keep to.

While at least one `corridor` zone is in force (not past its `expires` on the feed clock), a watched vessel
(on any watchlist) whose trusted fix lies in a strait-class zone (the strait, a TSS lane, the separation
zone) farther than `corridor.tolerance_m` from every corridor in force has departed from them. One alert
per episode, at its first fix; the episode ends after `detectors.episode_gap_s` without the condition.
`details`: `distance_m` to the nearest corridor in force and that corridor's id (`corridor`).

Distances are measured in a local equirectangular projection centred on the fix: within a few metres of
the geodesic distance over the few kilometres that decide the rule.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import shapely
from numpy.typing import NDArray
from pydantic import Field as Setting
from shapely import Geometry

from monitor import savedstate as S
from monitor.detectors.base import NEVER, Field, FixDetector, position
from monitor.geo import M_PER_DEG_LAT, buffer_m
from monitor.settings_base import Seconds, Section

if TYPE_CHECKING:
    from monitor.alerts import Alert
    from monitor.engine import Engine, Vessel, _FastBatch
    from monitor.zones import Zone

# The pre-filter's band round the corridors is this share of the tolerance: buffer_m's projection (centred
# on the corridor) and its polygonal arcs differ from the exact distance by far less than this, so a fix
# inside the band is surely within the tolerance.
_BAND_SHARE = 0.9


class CorridorSettings(Section):
    """[corridor]: how far outside every corridor a watched vessel may be before it has departed."""

    tolerance_m: Seconds = Setting(default=1000.0, ge=0)


class CorridorDeparture(FixDetector):
    name = "corridor"
    section = "corridor"  # (CONTRACT: `corridor.tolerance_m`, a section of its own)
    severity = {"corridor_departure": ("warning", "warning", "critical", "critical")}
    fields = (
        Field("cd_since", None, S.opt_time),  # start of the episode, alerted then (None: none open)
        Field("cd_last", NEVER, S.time_or_never, urgent=False),  # when the condition last held
    )

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._corridors: list[tuple[int, Zone]] = [
            (i, z) for i, z in enumerate(engine.geofence.zones) if z.kind == "corridor"
        ]
        self._strait_mask = engine.masks.strait
        self.tolerance_m = CorridorSettings().tolerance_m
        # Per zone-set id (geofence.sets): does the set hold a strait-class zone?
        self._set_strait = np.zeros(0, dtype=bool)
        # The pre-filter's band for a set of corridors (by index), at the tolerance it was built for.
        self._bands: dict[tuple[tuple[int, ...], float], Geometry] = {}

    def configure(self, settings: CorridorSettings) -> None:
        """Take the [corridor] section (a section of its own, not [detectors] keys: CONTRACT names it
        `corridor.tolerance_m`)."""
        self.tolerance_m = settings.tolerance_m

    def open(self, v: Vessel) -> bool:
        return v.cd_since is not None

    def prefilter(self, fb: _FastBatch) -> NDArray[np.bool_]:
        """Watched vessels' fixes in a strait-class zone, outside a band a little narrower than the
        tolerance round the corridors in force for the whole batch, while any corridor is in force."""
        result = np.zeros(fb.n, dtype=bool)
        times = fb.t_a[~np.isnan(fb.t_a)]
        if not self._corridors or not len(times):
            return result  # (untimed fixes take the per-fix step anyway)
        first = float(times.min())
        in_force = [(i, z) for i, z in self._corridors if z.expires is None or first < z.expires]
        if not in_force:
            return result  # corridors only lapse: none can be in force later in the batch
        rows = np.flatnonzero(self._straits()[fb.ids] & fb.valid)
        if not len(rows):
            return result
        mmsis = fb.mmsi_a[rows]
        vessels = self.e.vessels
        candidates = np.unique(mmsis)
        # A vessel not known yet takes the per-fix step anyway; count it as watched.
        watched = [m for m in candidates.tolist() if (v := vessels.get(m)) is None or v.watch]
        rows = rows[np.isin(mmsis, watched)]
        # The band of the corridors in force at every fix of the batch: a fix inside it is within the
        # tolerance of one of them, whatever lapses meanwhile.
        lasting = tuple(i for i, z in in_force if z.expires is None or fb.t_max < z.expires)
        if lasting and len(rows):
            rows = rows[~shapely.intersects_xy(self._band(lasting), fb.lon_a[rows], fb.lat_a[rows])]
        result[rows] = True
        return result

    def _straits(self) -> NDArray[np.bool_]:
        sets = self.e.geofence.sets
        have = len(self._set_strait)
        if have < len(sets):
            new = [bool(mask & self._strait_mask) for mask in sets.masks[have:]]
            self._set_strait = np.r_[self._set_strait, np.array(new, dtype=bool)]
        return self._set_strait

    def _band(self, corridors: tuple[int, ...]) -> Geometry:
        key = (corridors, self.tolerance_m)
        band = self._bands.get(key)
        if band is None:
            zones = self.e.geofence.zones
            band = shapely.union_all(
                [buffer_m(zones[i].geometry, self.tolerance_m * _BAND_SHARE) for i in corridors])
            shapely.prepare(band)
            self._bands[key] = band
        return band

    def on_fix(self, v: Vessel, t: float, lon: float, lat: float, sog: float, cog: float, s: int,
               alerts: list[Alert]) -> None:
        nearest: tuple[float, int] | None = None
        if v.watch and s & self._strait_mask:
            for i, z in self._corridors:
                if z.expires is None or t < z.expires:
                    d = (distance_m(z.geometry, lon, lat), i)
                    nearest = d if nearest is None else min(nearest, d)
        if nearest is not None and nearest[0] > self.tolerance_m:
            if v.cd_since is None:
                v.cd_since = t
                details = {"distance_m": round(nearest[0]), "corridor": self.e.geofence.zones[nearest[1]].id}
                self.e.alert("corridor_departure", v, t, self.e.pick_strait(s), position(lat, lon, sog, cog),
                             details, t, alerts)
            v.cd_last = t
        elif v.cd_since is not None and t - v.cd_last > self.det.episode_gap_s:
            v.cd_since = None


def distance_m(geometry: Geometry, lon: float, lat: float) -> float:
    """Metres from (lon, lat) to the geometry (0 inside), in an equirectangular projection centred on the
    point."""
    kx = M_PER_DEG_LAT * math.cos(math.radians(lat))

    def local(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        out = np.empty_like(xy)
        out[:, 0] = (xy[:, 0] - lon) * kx
        out[:, 1] = (xy[:, 1] - lat) * M_PER_DEG_LAT
        return out

    return float(shapely.distance(shapely.transform(geometry, local), shapely.points(0.0, 0.0)))
