"""The roster (CONTRACT "Roster"): one row per roster vessel heard, the picture a desk keeps of its nationals.

A roster vessel is one on a watchlist marked `roster = true` (by IMO number, MMSI or flag). Its row says
who it is (the desk's entry: operator, crew), where and in what state it was last seen, how far it is
from the strait's exit (its outer gate) and when it would reach it, the nearest safe-haven port, and the
alerts about it nobody has acknowledged yet.

`roster_rows` is a pure function of the engine's state, its zone file, the time and the alerts listed (with
their acknowledgements): the daemon's `GET /api/roster` calls it with the alerts it keeps, and a replay's
snapshot can call it at the end of a recording with the alerts it raised. Nothing here changes the engine.

Distance to the exit, and why this way. A ship does not sail straight at the gate: from Ras Tanura it
follows the Gulf round Qatar and the UAE, then the strait's bend round Musandam; and a straight line along
its present course misses the gate altogether until its last leg. So the distance is the way by water to
the outer gate (`ExitField`): the strait's side of the gate (the water reached from the strait without
crossing the gate: the strait and the Gulf behind it) is cut into cells of 0.05 degree (about 3 nm), land
(the zone file's `land` zones) taken out, and the distance of every cell from the gate is propagated once
over 16 neighbours (moves of one cell, diagonal, and a knight's move: the grid's way is at most 2.7 %
longer than the straight one), a move counting only where its straight line stays off land (so no way
leads across Musandam's 100-metre Maqlab isthmus between two fjords). Ships bound out keep to the outbound
lane of the traffic separation scheme (COLREG rule 10), not to the shortest way round the headland: for a
vessel farther from the gate than a lane's start, the way is to that start (a field of its own), along the
lane, then on to the gate. A vessel's distance is the least, over the cells round its position, of the
straight line to the cell's centre (off land) plus the cell's distance. The fields are computed once per
zone file and strait (about half a second; the daemon builds them at start, off the event loop), then each
row is a look-up. `eta_exit` is the vessel's last fix time plus that distance at its speed over ground:
null when it is stopped (under 0.5 kn), when its course points away from the way (more than 90 degrees off
the way's first few cells: it is not heading for the exit), and for a vessel already beyond the gate
(distance 0). The simulated outbound transit of tests/test_roster.py comes within 5 % of its true sailing
time from 90 nm out.

The nearest safe haven: the ports marked `safe_haven: true`. For a vessel inside the strait's side and a
haven beyond the gate, by water through the gate (the exit path, then the straight line from the gate to
the port); otherwise the great-circle distance to the port's centre.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import Point

from monitor.alerts import iso_time
from monitor.detectors.base import angle_off
from monitor.detectors.roster_overdue import RosterOverdue
from monitor.detectors.voyage import Voyage
from monitor.geo import M_PER_NM, haversine_m
from monitor.pipeline import Pipeline
from monitor.zones import Zone, ZoneFile

if TYPE_CHECKING:
    from monitor.engine import Engine, Vessel

__all__ = ["STOPPED_KN", "ExitField", "exit_fields", "roster_rows", "safe_havens"]

CELL_DEG = 0.05  # the grid of the exit paths: about 3 nm, a tenth of the strait's narrows
STOPPED_KN = 0.5  # below this a vessel is stopped: no ETA, and at anchor when not in port (as the page)
NM_PER_DEG = 60.0
# Moves of the propagation: (rows, columns), each with its reverse.
_HALF = ((0, 1), (1, 0), (1, 1), (1, -1), (1, 2), (2, 1), (1, -2), (2, -1))
_MOVES: tuple[tuple[int, int], ...] = (*_HALF, *((-a, -b) for a, b in _HALF))


class ExitField:
    """The distance by water to a strait's outer gate from every cell on the strait's side of it."""

    def __init__(self, zonefile: ZoneFile, strait: Zone) -> None:
        assert strait.gates is not None
        self.strait = strait
        self.gate = zonefile.by_id(strait.gates[0]).geometry
        self._out: dict[tuple[float, float], bool] = {}
        near = [strait.geometry, *(z.geometry for z in zonefile.of_kind("region")
                                   if z.geometry.intersects(strait.geometry))]
        area = shapely.union_all(near)
        x0, y0, x1, y1 = area.bounds
        self.lon0, self.lat0 = x0 - 2 * CELL_DEG, y0 - 2 * CELL_DEG
        nx = math.ceil((x1 - self.lon0) / CELL_DEG) + 2
        ny = math.ceil((y1 - self.lat0) / CELL_DEG) + 2
        xs: NDArray[np.float64] = self.lon0 + (np.arange(nx, dtype=np.float64) + 0.5) * CELL_DEG
        ys: NDArray[np.float64] = self.lat0 + (np.arange(ny, dtype=np.float64) + 0.5) * CELL_DEG
        self.xs, self.ys = xs, ys
        gx, gy = np.meshgrid(xs, ys)  # rows: latitude, columns: longitude
        lands = [z.geometry for z in zonefile.of_kind("land")]
        land = shapely.union_all(lands) if lands else None
        if land is not None:
            shapely.prepare(land)
        self.land = land
        water = shapely.contains_xy(area, gx, gy)
        if land is not None:
            water &= ~shapely.contains_xy(land, gx, gy)
        # The gate as a wall of cells (an unbroken chain: every cell whose centre lies within 0.75 of a cell
        # of the line), the exit's targets: water on the strait's side reaches them without crossing it.
        points = shapely.points(gx.ravel(), gy.ravel())
        wall = (shapely.distance(self.gate, points) <= 0.75 * CELL_DEG).reshape(gx.shape)
        seed = water & ~wall & shapely.contains_xy(strait.geometry, gx, gy)
        self.inside = _flood(seed, water & ~wall)  # the strait's side: the strait and the water behind it
        self.water = water
        domain = self.inside | wall
        self.domain = domain
        # A move between two cells counts only where its straight line stays off land: cells of water on
        # both sides of a headland narrower than a cell (Musandam's Maqlab isthmus is 100 m wide between
        # two fjords) are not joined across it.
        self.ok: list[NDArray[np.bool_]] = []
        ii, jj = np.nonzero(domain)
        starts = np.stack([xs[jj], ys[ii]], axis=1)
        for a, b in _MOVES:
            clear = np.zeros(gx.shape, dtype=bool)
            if land is None:
                clear[ii, jj] = True
            else:
                ends = starts + np.array([b * CELL_DEG, a * CELL_DEG])
                lines = shapely.linestrings(np.stack([starts, ends], axis=1))
                clear[ii, jj] = ~shapely.intersects(land, lines)
            self.ok.append(clear)
        self.dist = self._field({(int(i), int(j)): _to_line_nm(float(xs[j]), float(ys[i]), self.gate)
                                 for i, j in zip(*np.nonzero(wall), strict=True)})
        # The traffic separation scheme: a ship bound out joins the outbound lane at its start and follows it
        # (COLREG rule 10), rather than the shortest way round the headland. For a vessel farther from the
        # gate than a lane's start, the way is to that start, along the lane, then on to the gate.
        # (the way from a lane's start to the gate along it, the direct way from its start, its field)
        self.lanes: list[tuple[float, float, NDArray[np.float64]]] = []
        inner = zonefile.by_id(strait.gates[1]).geometry.centroid
        outer = self.gate.centroid
        outward = _bearing(inner.x, inner.y, outer.x, outer.y)
        for lane in zonefile.of_kind("tss_lane"):
            if lane.bearing is None or not strait.geometry.contains(lane.geometry.centroid):
                continue
            if angle_off(lane.bearing, outward) >= 90.0:
                continue  # the lane bound in
            entry, middle, leave = _lane_axis(lane)
            ei, ej = self.cell(*entry)
            field = self._field({(ei, ej): _nm(*entry, float(xs[ej]), float(ys[ei]))})
            reached = self._reach(self.dist, *leave)
            from_entry = self._reach(self.dist, *entry)
            if reached is None or from_entry is None:
                continue
            along = _nm(*entry, *middle) + _nm(*middle, *leave) + reached[0]
            self.lanes.append((along, from_entry[0], field))

    def _field(self, seeds: dict[tuple[int, int], float]) -> NDArray[np.float64]:
        ny, nx = self.domain.shape
        dist = np.full((ny, nx), np.inf)
        for (i, j), d in seeds.items():
            if 0 <= i < ny and 0 <= j < nx:
                dist[i, j] = d
        return _propagate(dist, self.domain, self.ys, self.ok)

    def cell(self, lon: float, lat: float) -> tuple[int, int]:
        return math.floor((lat - self.lat0) / CELL_DEG), math.floor((lon - self.lon0) / CELL_DEG)

    def _reach(self, dist: NDArray[np.float64], lon: float, lat: float
               ) -> tuple[float, tuple[int, int]] | None:
        """The least, over the cells round the position, of the way to a cell's centre (not over land)
        plus the cell's distance; with that cell."""
        i0, j0 = self.cell(lon, lat)
        ny, nx = self.domain.shape
        reach: list[tuple[float, int, int]] = []
        for i in range(max(i0 - 2, 0), min(i0 + 3, ny)):
            for j in range(max(j0 - 2, 0), min(j0 + 3, nx)):
                d = float(dist[i, j])
                if math.isfinite(d):
                    reach.append((_nm(lon, lat, float(self.xs[j]), float(self.ys[i])) + d, i, j))
        if reach and self.land is not None:
            ends = np.array([[self.xs[j], self.ys[i]] for _, i, j in reach])
            lines = shapely.linestrings(np.stack([np.broadcast_to([lon, lat], ends.shape), ends], axis=1))
            crossing: list[bool] = np.asarray(shapely.intersects(self.land, lines), dtype=bool).tolist()
            reach = [r for r, c in zip(reach, crossing, strict=True) if not c] or reach
        if not reach:
            return None
        best, i, j = min(reach)
        return best, (i, j)

    def beyond(self, lon: float, lat: float) -> bool:
        """Whether the water nearest the position lies beyond the gate (the vessel is out of the strait)."""
        i0, j0 = self.cell(lon, lat)
        ny, nx = self.water.shape
        nearest, inside = math.inf, True
        for i in range(max(i0 - 2, 0), min(i0 + 3, ny)):
            for j in range(max(j0 - 2, 0), min(j0 + 3, nx)):
                here = _nm(lon, lat, float(self.xs[j]), float(self.ys[i]))
                if bool(self.water[i, j]) and here < nearest:
                    nearest, inside = here, bool(self.inside[i, j])
        return nearest < math.inf and not inside

    def out_of_strait(self, lon: float, lat: float) -> bool:
        """Whether a place (a port) lies beyond the gate (kept: ports do not move)."""
        known = self._out.get((lon, lat))
        if known is None:
            q = self.query(lon, lat)
            known = self._out[(lon, lat)] = q is not None and q[0] == 0.0
        return known

    def query(self, lon: float, lat: float) -> tuple[float, tuple[float, float] | None] | None:
        """(distance in nm to the gate by water, a point a few cells down the way or None), 0.0 for a
        vessel beyond the gate, None outside the grid or away from any water of it."""
        direct = self._reach(self.dist, lon, lat)
        if self.beyond(lon, lat) and (direct is None or direct[0] > CELL_DEG * NM_PER_DEG):
            return 0.0, None  # the nearest water is beyond the gate: out of the strait already
        if direct is None:
            return None
        best, field, at = direct[0], self.dist, direct[1]
        for along, from_entry, lane in self.lanes:
            if direct[0] <= from_entry:
                continue  # in the lane or past its start: straight on to the gate
            to_lane = self._reach(lane, lon, lat)
            if to_lane is not None and (field is self.dist or to_lane[0] + along < best):
                best, field, at = to_lane[0] + along, lane, to_lane[1]
        return best, self._ahead(field, at)

    def _ahead(self, dist: NDArray[np.float64], at: tuple[int, int], steps: int = 4
               ) -> tuple[float, float] | None:
        """A point `steps` cells down the way from cell `at` (None at its end)."""
        i, j = at
        ny, nx = dist.shape
        moved = False
        for _ in range(steps):
            options = [(dist[i + a, j + b], i + a, j + b) for a, b in _MOVES
                       if 0 <= i + a < ny and 0 <= j + b < nx]
            d, ni, nj = min(options)
            if not d < dist[i, j]:
                break
            i, j, moved = ni, nj, True
        return (float(self.xs[j]), float(self.ys[i])) if moved else None


def _lane_axis(lane: Zone) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
    """A lane's start, middle and end along its bearing: the mean of the polygon's vertices in the first and
    last tenth of its extent along the bearing, and a point inside it between."""
    geometry: Any = lane.geometry
    if geometry.geom_type == "MultiPolygon":
        geometry = max(geometry.geoms, key=lambda g: g.area)
    xy = np.array(geometry.exterior.coords)
    k = math.cos(math.radians(float(xy[:, 1].mean())))
    assert lane.bearing is not None
    b = math.radians(lane.bearing)
    along = xy[:, 0] * k * math.sin(b) + xy[:, 1] * math.cos(b)
    lo, hi = float(along.min()), float(along.max())
    start = xy[along <= lo + 0.1 * (hi - lo)].mean(axis=0)
    end = xy[along >= hi - 0.1 * (hi - lo)].mean(axis=0)
    middle = geometry.point_on_surface()
    return (float(start[0]), float(start[1])), (middle.x, middle.y), (float(end[0]), float(end[1]))


def _flood(seed: NDArray[np.bool_], passable: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The cells of `passable` joined to `seed` through passable cells sharing an edge."""
    region = seed & passable
    while True:
        grown = region.copy()
        grown[1:, :] |= region[:-1, :]
        grown[:-1, :] |= region[1:, :]
        grown[:, 1:] |= region[:, :-1]
        grown[:, :-1] |= region[:, 1:]
        grown &= passable
        if (grown == region).all():
            return region
        region = grown


def _propagate(dist: NDArray[np.float64], domain: NDArray[np.bool_], ys: NDArray[np.float64],
               ok: list[NDArray[np.bool_]]) -> NDArray[np.float64]:
    """Shortest distances over the domain's cells from the finite ones (Bellman-Ford sweeps, all cells at
    once: a sweep per few cells of the longest path, each a handful of array operations); `ok[k]`: the
    cells whose move `_MOVES[k]` is allowed."""
    ny, nx = dist.shape
    coslat = np.cos(np.radians(ys))[:, None]
    costs = [NM_PER_DEG * CELL_DEG * np.sqrt((b * coslat) ** 2 + a * a) for a, b in _MOVES]
    dist = np.where(domain, dist, np.inf)
    for _ in range(4 * (nx + ny)):
        changed = False
        for (a, b), cost, allowed in zip(_MOVES, costs, ok, strict=True):
            # cell (i, j) from its neighbour (i + a, j + b)
            src = np.full_like(dist, np.inf)
            src[max(-a, 0):ny - max(a, 0), max(-b, 0):nx - max(b, 0)] = \
                dist[max(a, 0):ny + min(a, 0), max(b, 0):nx + min(b, 0)]
            cand = src + cost
            better = (cand < dist) & allowed
            if better.any():
                dist = np.where(better, cand, dist)
                changed = True
        if not changed:
            break
    return dist


def _nm(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    return haversine_m(lon1, lat1, lon2, lat2) / M_PER_NM


def _to_line_nm(lon: float, lat: float, line: Any) -> float:
    """Great-circle distance in nm from a point to the nearest point of a (short) line."""
    nearest = line.interpolate(line.project(Point(lon, lat)))
    return _nm(lon, lat, nearest.x, nearest.y)


# Exit fields per zone file: by identity, and by what they are made of (a reload, or a runtime hazard
# added, makes a new zone file object with the same straits, lanes, regions and land); the few newest kept.
_BY_ID: dict[int, tuple[ZoneFile, list[ExitField]]] = {}
_BY_MAKING: dict[int, list[ExitField]] = {}
_KINDS = ("strait", "gate", "tss_lane", "region", "land")


def exit_fields(zonefile: ZoneFile) -> list[ExitField]:
    """Every strait's exit field of the zone file (built on first use, then kept). Thread-safe enough to be
    built ahead in another thread: at worst two threads build the same fields."""
    kept = _BY_ID.get(id(zonefile))
    if kept is not None and kept[0] is zonefile:
        return kept[1]
    making = hash(tuple((z.id, z.kind, z.bearing, z.gates, z.geometry.wkb)
                        for z in zonefile.of_kind(*_KINDS)))
    fields = _BY_MAKING.get(making)
    if fields is None:
        fields = [ExitField(zonefile, s) for s in zonefile.of_kind("strait") if s.gates is not None]
        _keep(_BY_MAKING, making, fields)
    _keep(_BY_ID, id(zonefile), (zonefile, fields))
    return fields


def _keep(cache: dict[int, Any], key: int, value: Any) -> None:
    while len(cache) >= 4:
        cache.pop(next(iter(cache)), None)
    cache[key] = value


def safe_havens(zonefile: ZoneFile) -> list[tuple[Zone, float, float]]:
    """The ports marked `safe_haven: true`, each with its centre (lon, lat)."""
    out = []
    for z in zonefile.of_kind("port"):
        if z.properties.get("safe_haven") is True:
            c = z.geometry.centroid
            out.append((z, float(c.x), float(c.y)))
    return out


def _exit(fields: list[ExitField], lon: float, lat: float
          ) -> tuple[ExitField | None, float | None, tuple[float, float] | None]:
    """The strait whose side the position is on (or beyond whose gate it lies), the distance, a point
    ahead."""
    inside: list[tuple[float, ExitField, tuple[float, float] | None]] = []
    beyond: ExitField | None = None
    for f in fields:
        q = f.query(lon, lat)
        if q is None:
            continue
        if q[0] > 0:
            inside.append((q[0], f, q[1]))
        else:
            beyond = f
    if inside:
        d, f, ahead = min(inside, key=lambda x: x[0])
        return f, d, ahead
    return (beyond, 0.0, None) if beyond is not None else (None, None, None)


def roster_rows(source: Engine | Pipeline, now: float | None = None, alerts: Iterable[Mapping[str, Any]] = ()
                ) -> list[dict[str, Any]]:
    """The roster at feed time `now` (default: the engine's clock, the newest time seen), by MMSI: one row
    per roster vessel heard (CONTRACT "Roster"). `source`: the engine, or the pipeline that holds it.

    `alerts`: the alerts listed so far (CONTRACT objects; an `ack` other than null marks one acknowledged):
    a row's `open_alerts` are the vessel's unacknowledged ones, newest first."""
    engine = source.engine if isinstance(source, Pipeline) else source
    if now is None:
        now = engine.now
    wl = engine.watchlists
    if not wl.roster:
        return []
    geofence = engine.geofence
    zonefile = geofence.zonefile
    overdue = next(d for d in engine.detectors if isinstance(d, RosterOverdue))
    voyage = engine.aggregate(Voyage)
    open_by_mmsi: dict[int, list[dict[str, Any]]] = {}
    for a in alerts:
        mmsi = a.get("mmsi")
        if mmsi is not None and a.get("ack") is None:
            open_by_mmsi.setdefault(mmsi, []).append(
                {"id": a["id"], "kind": a["kind"], "severity": a["severity"], "time": a["time"]})
    fields: list[ExitField] | None = None
    havens = safe_havens(zonefile)
    rows = []
    for mmsi in sorted(engine.vessels):
        v = engine.get(mmsi)
        if v is None or v.heard == -math.inf or wl.roster.isdisjoint(v.watch):
            continue
        if fields is None:
            fields = exit_fields(zonefile)
        entries = wl.entries_for(v.mmsi, v.imo)
        entry = next((e for e in entries if e.watchlist in wl.roster), entries[0] if entries else None)
        row: dict[str, Any] = {
            "mmsi": v.mmsi,
            "imo": v.imo if v.imo is not None else (entry.imo if entry else None),
            "name": v.name or (entry.name if entry else None),
            "flag": v.flag,
            "watch": list(v.watch),
            "operator": entry.operator if entry else None,
            "crew": entry.crew if entry else None,
            "last_seen": iso_time(v.heard),
            "position": None,
            "state": _state(engine, v, now, overdue),
            "zone": _zone(engine, v),
            "distance_to_exit_nm": None,
            "eta_exit": None,
            "nearest_safe_haven": None,
            "open_alerts": sorted(open_by_mmsi.get(v.mmsi, []), key=lambda a: a["time"], reverse=True),
            # (Beyond CONTRACT's keys: its transits linked from chokepoint to chokepoint, issue 15.)
            "voyage": voyage.describe(v),
        }
        if v.has_fix:
            row["position"] = {"lat": round(v.lat, 6), "lon": round(v.lon, 6),
                               "sog": None if v.sog != v.sog else round(v.sog, 1),
                               "cog": None if v.cog != v.cog else round(v.cog, 1)}
            strait, dist, ahead = _exit(fields, v.lon, v.lat)
            if dist is not None:
                row["distance_to_exit_nm"] = round(dist, 1)
                row["eta_exit"] = _eta(v, dist, ahead)
            row["nearest_safe_haven"] = _nearest_haven(havens, v.lon, v.lat, strait, dist)
        rows.append(row)
    return rows


def _state(engine: Engine, v: Vessel, now: float, overdue: RosterOverdue) -> str:
    if v.dark or v.ro_reported == v.heard or now - v.heard >= overdue.overdue_s:
        return "dark"
    if not v.has_fix:
        return "underway"
    if v.land_last > v.time or v.jump_last > v.time:  # its latest positions were not trusted
        return "spoofed"
    masks = engine.masks
    if v.last_s & masks.port:
        return "in_port"
    if v.last_s & masks.harbour or (v.sog == v.sog and v.sog < STOPPED_KN):
        return "at_anchor"
    return "underway"


def _zone(engine: Engine, v: Vessel) -> dict[str, str] | None:
    """The most specific zone of the last fix: a port, an anchorage, the strait's lane, ..., its region."""
    s = v.last_s
    m = engine.masks
    for mask in (m.port, m.harbour):
        if s & mask:
            return engine.geofence.zone_dicts[(s & mask & -(s & mask)).bit_length() - 1]
    z = engine.area_of(s)
    return None if z is None else engine.geofence.zone_dicts[z]


def _eta(v: Vessel, dist: float, ahead: tuple[float, float] | None) -> str | None:
    if dist <= 0 or v.sog != v.sog or v.sog < STOPPED_KN or v.cog != v.cog:
        return None
    if ahead is not None:
        to = _bearing(v.lon, v.lat, *ahead)
        if angle_off(v.cog, to) > 90.0:
            return None  # heading away from the exit
    return iso_time(round(v.time + dist / v.sog * 3600.0))


def _bearing(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(x, y)) % 360.0


def _nearest_haven(havens: list[tuple[Zone, float, float]], lon: float, lat: float,
                   strait: ExitField | None, dist: float | None) -> dict[str, Any] | None:
    best: tuple[float, Zone] | None = None
    for zone, hx, hy in havens:
        d = _nm(lon, lat, hx, hy)
        if strait is not None and dist is not None and dist > 0 and strait.out_of_strait(hx, hy):
            d = dist + _to_line_nm(hx, hy, strait.gate)  # a haven beyond the gate: by water, through it
        if best is None or d < best[0]:
            best = (d, zone)
    if best is None:
        return None
    return {"id": best[1].id, "name": best[1].name, "distance_nm": round(best[0], 1)}
