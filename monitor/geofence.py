"""Geofencing: which zones a fix is in, which gates a move crosses, which zones a move passes through.

The zone file is loaded and prepared once (STYLE 2). Point-in-zone runs on whole batches of fixes (a grid
classified lazily with shapely 2's vectorized predicates on prepared geometries) and comes back as one
zone-set id per fix: a small integer standing for one distinct set of zones (`ZoneSets`), whatever the
number of zones, with its bit mask for the per-fix loop. Gate crossings are segment intersections between
consecutive fixes, never sampling: a ship reporting every 3 minutes at 20 knots still crosses the gate.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely import Geometry, STRtree

from monitor.geo import M_PER_DEG_LAT, buffer_m, haversine_m
from monitor.zones import Zone, ZoneFile

# Kinds a vessel enters and leaves (CONTRACT: not region, gate, land). Hazards and corridors too: their
# zone_enter is what `hazard_enter` re-raises (monitor.detectors.hazard), with the same tolerance band.
TRACKED_KINDS = ("strait", "tss_lane", "separation_zone", "port", "anchorage", "territorial_sea", "hazard",
                 "corridor")


@dataclass(frozen=True, slots=True)
class GateCrossing:
    """A move crossed a strait's gate; `frac` is where along the move (0..1), `into_strait` which way."""

    strait: int  # index into Geofence.straits
    gate: int  # 0 = outer, 1 = inner
    frac: float
    into_strait: bool


@dataclass(frozen=True, slots=True)
class Passage:
    """A move passed through a zone without a fix inside it: enter and leave at these fractions."""

    zone: int
    frac_in: float
    frac_out: float


@dataclass(slots=True)
class _Gate:
    zone: Zone
    # Edges as arrays of (x1, y1, x2, y2) and, per edge, the sign of the cross product for a move into the
    # strait (+1 or -1).
    edges: list[tuple[float, float, float, float, int]]
    bbox: tuple[float, float, float, float]


@dataclass(slots=True)
class Strait:
    zone: Zone
    index: int  # index of the strait zone among the tracked zones
    gates: tuple[_Gate, _Gate]  # (outer, inner)


class Geofence:
    """The prepared zone file: the tracked zones, their tolerance bands, the straits with their gates."""

    def __init__(self, zonefile: ZoneFile, hysteresis_m: float = 150.0) -> None:
        self.zonefile = zonefile
        self.hysteresis_m = float(hysteresis_m)
        # Every zone but the gates takes part in the membership test: tracked kinds for enter/exit,
        # regions and land for the detectors. Bit i of a mask is self.zones[i].
        self.zones: list[Zone] = [z for z in zonefile.zones if z.kind != "gate"]
        self.index_of: dict[str, int] = {z.id: i for i, z in enumerate(self.zones)}
        self.kind_mask: dict[str, int] = {}
        for i, z in enumerate(self.zones):
            self.kind_mask[z.kind] = self.kind_mask.get(z.kind, 0) | (1 << i)
        self.tracked_mask = sum(self.kind_mask.get(k, 0) for k in TRACKED_KINDS)
        geoms = np.array([z.geometry for z in self.zones], dtype=object)
        shapely.prepare(geoms)
        self._geoms = geoms
        self._tree = STRtree(geoms)
        self._words = max(1, math.ceil(len(self.zones) / 64))
        # Tolerance band per zone, built lazily: most zones never need it.
        self._bands: list[Geometry | None] = [None] * len(self.zones)
        self.zone_dicts: list[dict[str, str]] = [
            {"id": z.id, "name": z.name, "kind": z.kind} for z in self.zones
        ]
        self.straits: list[Strait] = [self._prepare_strait(z) for z in zonefile.of_kind("strait")]
        self.sets = ZoneSets(self._words)
        self._grid = _ZoneGrid(self._geoms, self._tree, self._words, self.sets)
        self._gate_bbox = _union_bbox([g.bbox for s in self.straits for g in s.gates])

    # ---- point in zone, on batches -------------------------------------------------------------------
    def membership(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> list[int]:
        """For each fix, the bit mask of the zones it lies in (bit i = self.zones[i])."""
        return list(map(self.sets.masks.__getitem__, self.membership_ids(lon, lat).tolist()))

    def membership_ids(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.int32]:
        """For each fix, the id (in self.sets) of the set of zones it lies in; 0 is no zone.

        A grid over the zone file answers most fixes without a polygon test: each cell knows the zones
        that contain it whole and the zones whose boundary crosses it, and only the latter are tested
        exactly. Cells are classified lazily, the first time a fix falls in them. The cost per fix does
        not grow with the number of zones, except for the exact tests near boundaries.
        """
        n = len(lon)
        if n == 0 or not self.zones:
            return np.zeros(n, dtype=np.int32)
        return self._grid.lookup(lon, lat)

    def membership_words(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.uint64]:
        """The same masks as an (n, words) array of 64-bit words."""
        ids = self.membership_ids(lon, lat)  # first: it may add zone sets (and grow sets.words)
        return self.sets.words[ids]

    def membership_exact(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.uint64]:
        """membership_words without the grid: every candidate zone tested exactly (the reference)."""
        n = len(lon)
        words = np.zeros((n, self._words), dtype=np.uint64)
        if n == 0 or not self.zones:
            return words
        # The tree gives bounding-box candidates; the exact test runs on the zones' prepared geometries.
        # (STRtree.query's own predicate prepares the query points instead, which for points is
        # about 25 times slower against large, detailed polygons such as land and territorial seas.)
        points = shapely.points(lon, lat)
        pt, zi = self._tree.query(points)
        if len(pt):
            inside = shapely.intersects_xy(self._geoms[zi], lon[pt], lat[pt])
            pt, zi = pt[inside], zi[inside]
        if len(pt):
            np.bitwise_or.at(
                words,
                (pt, zi // 64),
                np.left_shift(np.uint64(1), (zi % 64).astype(np.uint64)),
            )
        return words

    @property
    def words(self) -> int:
        """How many 64-bit words a zone mask takes."""
        return self._words

    def in_band(self, zone: int, lon: float, lat: float) -> bool:
        """Is the fix within the tolerance band of the zone (inside it or less than hysteresis_m out)?"""
        band = self._bands[zone]
        if band is None:
            band = buffer_m(self.zones[zone].geometry, self.hysteresis_m)
            shapely.prepare(band)
            self._bands[zone] = band
        return bool(shapely.intersects_xy(band, lon, lat))

    # ---- moves between consecutive fixes -------------------------------------------------------------
    def may_pass(self, x1: NDArray[np.float64], y1: NDArray[np.float64], x2: NDArray[np.float64],
                 y2: NDArray[np.float64]) -> NDArray[np.bool_]:
        """For each move, False where it surely passes through no zone boundary (one grid cell, or two
        side by side, whole and alike): `passages` finds nothing for it."""
        if not self.zones:
            return np.zeros(len(x1), dtype=bool)
        coords = np.stack([np.stack([x1, y1], axis=1), np.stack([x2, y2], axis=1)], axis=1)
        result: NDArray[np.bool_] = ~self._grid.plain_moves(coords)
        return result

    def may_cross_gates(self, x1: NDArray[np.float64], y1: NDArray[np.float64], x2: NDArray[np.float64],
                        y2: NDArray[np.float64]) -> NDArray[np.bool_]:
        """For a batch of moves at once: False where `gate_crossings` surely finds nothing. The same
        segment test, with a margin, so rounding never hides a crossing from the exact test; NaN ends
        (no previous fix) give False."""
        near = np.zeros(len(x1), dtype=bool)
        dx = x2 - x1
        dy = y2 - y1
        eps = 1e-6
        with np.errstate(invalid="ignore", divide="ignore"):
            for strait in self.straits:
                for g in strait.gates:
                    for ax, ay, bx, by, _ in g.edges:
                        ex, ey = bx - ax, by - ay
                        denom = dx * ey - dy * ex
                        t = ((ax - x1) * ey - (ay - y1) * ex) / denom
                        u = ((ax - x1) * dy - (ay - y1) * dx) / denom
                        near |= (t >= -eps) & (t <= 1 + eps) & (u >= -eps) & (u <= 1 + eps)
        return near

    def gate_crossings(self, x1: float, y1: float, x2: float, y2: float) -> list[GateCrossing]:
        """Every gate the move from (x1, y1) to (x2, y2) crosses, in order along the move."""
        gx1, gy1, gx2, gy2 = self._gate_bbox
        if max(x1, x2) < gx1 or min(x1, x2) > gx2 or max(y1, y2) < gy1 or min(y1, y2) > gy2:
            return []
        found: list[GateCrossing] = []
        dx = x2 - x1
        dy = y2 - y1
        for si, strait in enumerate(self.straits):
            for gi, gate in enumerate(strait.gates):
                bx1, by1, bx2, by2 = gate.bbox
                if max(x1, x2) < bx1 or min(x1, x2) > bx2 or max(y1, y2) < by1 or min(y1, y2) > by2:
                    continue
                for ax, ay, bx, by, into_sign in gate.edges:
                    ex = bx - ax
                    ey = by - ay
                    denom = dx * ey - dy * ex
                    if denom == 0.0:
                        continue  # parallel: a move along the gate crosses nothing
                    # Move: P = (x1, y1) + t (dx, dy); edge: Q = A + u (ex, ey).
                    t = ((ax - x1) * ey - (ay - y1) * ex) / denom
                    u = ((ax - x1) * dy - (ay - y1) * dx) / denom
                    # Half-open on both: a fix exactly on the gate counts once, on the move that leaves it.
                    if 0.0 <= t < 1.0 and 0.0 <= u < 1.0:
                        side = ex * dy - ey * dx  # > 0: the move heads to the edge's left
                        into = (side > 0) == (into_sign > 0)
                        found.append(GateCrossing(si, gi, t, into))
        found.sort(key=lambda c: c.frac)
        return found

    def passages(
        self,
        moves: Sequence[tuple[float, float, float, float]],
        excludes: Sequence[int],
        min_inside_m: float,
    ) -> list[list[Passage]]:
        """For each move (x1, y1, x2, y2), the zones it passes through with neither end inside (`excludes`
        masks the zones of both ends), in order along the move. One vectorized query for all moves.

        Only a stretch inside longer than `min_inside_m` counts, so a move that clips a corner within the
        tolerance band is not an entry.
        """
        out: list[list[Passage]] = [[] for _ in moves]
        if not moves or not self.zones:
            return out
        untracked = ~self.tracked_mask
        coords = np.asarray(moves, dtype=np.float64).reshape(-1, 2, 2)
        # A move within one grid cell, or between two cells sharing a side, that no zone boundary
        # crosses stays in the same zones: no polygon test needed.
        keep = np.flatnonzero(~self._grid.plain_moves(coords))
        if len(keep) == 0:
            return out
        lines = np.empty(len(moves), dtype=object)
        lines[keep] = shapely.linestrings(coords[keep])
        mi, zi = self._tree.query(lines[keep])
        mi = keep[mi]
        if len(mi):
            hit = shapely.intersects(self._geoms[zi], lines[mi])  # prepared zones, as in membership()
            mi, zi = mi[hit], zi[hit]
        for m, z in zip(mi.tolist(), zi.tolist()):
            if (excludes[m] | untracked) >> z & 1:
                continue
            x1, y1, x2, y2 = moves[m]
            inside = shapely.intersection(lines[m], self.zones[z].geometry)
            fracs: list[float] = []
            for part in shapely.get_parts(inside):
                if shapely.get_type_id(part) != 1:  # only LineString stretches, not touching points
                    continue
                for px, py in shapely.get_coordinates(part).tolist():
                    fracs.append(_fraction(x1, y1, x2, y2, px, py))
            if not fracs:
                continue
            f_in, f_out = min(fracs), max(fracs)
            if (f_out - f_in) * haversine_m(x1, y1, x2, y2) > min_inside_m:
                out[m].append(Passage(z, f_in, f_out))
        for found in out:
            found.sort(key=lambda p: p.frac_in)
        return out

    # ---- preparation -----------------------------------------------------------------------------------
    def _prepare_strait(self, strait: Zone) -> Strait:
        assert strait.gates is not None  # the zone file loader guarantees straits have two gates
        outer = self.zonefile.by_id(strait.gates[0])
        inner = self.zonefile.by_id(strait.gates[1])
        gates = (
            _prepare_gate(outer, strait.geometry, other=inner.geometry),
            _prepare_gate(inner, strait.geometry, other=outer.geometry),
        )
        return Strait(strait, self.index_of[strait.id], gates)


def _prepare_gate(gate: Zone, strait: Geometry, other: Geometry) -> _Gate:
    """Split the gate into edges and find, for each, which side is the strait.

    The strait side is tested just off the edge's midpoint; where the polygon does not say (both or
    neither side inside, as for an edge over land), the side facing the strait's other gate is taken.
    """
    coords = shapely.get_coordinates(gate.geometry).tolist()
    other_c = shapely.centroid(other)
    edges: list[tuple[float, float, float, float, int]] = []
    eps = 20.0 / M_PER_DEG_LAT  # 20 m off the edge
    for (ax, ay), (bx, by) in itertools.pairwise(coords):
        ex, ey = bx - ax, by - ay
        norm = math.hypot(ex, ey)
        if norm == 0:
            continue
        mx, my = (ax + bx) / 2, (ay + by) / 2
        lx, ly = mx - ey / norm * eps, my + ex / norm * eps  # a point just to the left of the edge
        rx, ry = mx + ey / norm * eps, my - ex / norm * eps
        left_in = bool(shapely.intersects_xy(strait, lx, ly))
        right_in = bool(shapely.intersects_xy(strait, rx, ry))
        if left_in != right_in:
            sign = 1 if left_in else -1
        else:
            side = ex * (other_c.y - ay) - ey * (other_c.x - ax)
            sign = 1 if side > 0 else -1  # the other gate lies on the strait's side
        edges.append((ax, ay, bx, by, sign))
    xs = [c[0] for c in coords]
    ys = [c[1] for c in coords]
    return _Gate(gate, edges, (min(xs), min(ys), max(xs), max(ys)))


def _union_bbox(boxes: Sequence[tuple[float, float, float, float]]) -> tuple[float, float, float, float]:
    if not boxes:
        return (math.inf, math.inf, -math.inf, -math.inf)
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _fraction(x1: float, y1: float, x2: float, y2: float, px: float, py: float) -> float:
    dx, dy = x2 - x1, y2 - y1
    d2 = dx * dx + dy * dy
    if d2 == 0:
        return 0.0
    return max(0.0, min(1.0, ((px - x1) * dx + (py - y1) * dy) / d2))


class _ZoneGrid:
    """A lazily classified grid over the zones' extent: per cell, the zones containing it whole and the
    zones whose boundary crosses it (as 64-bit word masks)."""

    CELL_DEG = 0.02  # about 2 km: most fixes of a vessel fall in cells far from any boundary
    COARSE = 8  # cells a side of a coarse cell (_classify)

    def __init__(self, geoms: NDArray[np.object_], tree: STRtree, words: int, sets: ZoneSets) -> None:
        self.geoms = geoms
        self.tree = tree
        self.words = words
        self.sets = sets
        x1, y1, x2, y2 = shapely.total_bounds(geoms)
        self.x0, self.y0 = float(x1), float(y1)
        r = self.CELL_DEG
        self.nx = max(1, math.ceil((float(x2) - self.x0) / r) + 1)
        self.ny = max(1, math.ceil((float(y2) - self.y0) / r) + 1)
        cells = self.nx * self.ny
        self.inside = np.zeros((cells, words), dtype=np.uint64)
        self.edge = np.zeros((cells, words), dtype=np.uint64)
        self.known = np.zeros(cells, dtype=bool)
        self.inside_id = np.zeros(cells, dtype=np.int32)  # zone-set id of `inside`
        self.has_edge = np.zeros(cells, dtype=bool)
        # A coarse grid of COARSE x COARSE cells, classified first: under a coarse cell no boundary crosses,
        # every cell takes its zones with no test of its own, and under the others only the zones whose
        # boundary crosses the coarse cell are tested (most of the sea is far from most boundaries).
        self.ncx = -(-self.nx // self.COARSE)
        coarse = self.ncx * -(-self.ny // self.COARSE)
        self.coarse_inside = np.zeros((coarse, words), dtype=np.uint64)
        self.coarse_edge = np.zeros((coarse, words), dtype=np.uint64)
        self.coarse_known = np.zeros(coarse, dtype=bool)

    def _classify(self, cells: NDArray[np.int64]) -> None:
        """Classify these cells (not yet known): the zones containing each whole, and those whose
        boundary crosses it."""
        cx = cells % self.nx
        cy = cells // self.nx
        parent = (cy // self.COARSE) * self.ncx + cx // self.COARSE
        self._classify_coarse(np.unique(parent))
        self.inside[cells] = self.coarse_inside[parent]
        self.edge[cells] = 0
        edgy = np.flatnonzero((self.coarse_edge[parent] != 0).any(axis=1))
        if len(edgy):
            # Each cell against the zones whose boundary crosses its coarse cell.
            pi, zi = _set_bits(self.coarse_edge[parent[edgy]])
            r = self.CELL_DEG
            bx, by = cx[edgy][pi], cy[edgy][pi]
            west, south = self.x0 + bx * r, self.y0 + by * r
            boxes = shapely.box(west, south, self.x0 + (bx + 1) * r, self.y0 + (by + 1) * r)
            g = self.geoms[zi]
            hit = shapely.intersects(g, boxes)
            whole = hit & shapely.contains(g, boxes)
            at = cells[edgy][pi]
            bits = np.left_shift(np.uint64(1), (zi % 64).astype(np.uint64))
            word = zi // 64
            np.bitwise_or.at(self.inside, (at[whole], word[whole]), bits[whole])
            partial = hit & ~whole
            np.bitwise_or.at(self.edge, (at[partial], word[partial]), bits[partial])
        self.inside_id[cells] = self.sets.intern_words(self.inside[cells])
        self.has_edge[cells] = (self.edge[cells] != 0).any(axis=1)
        self.known[cells] = True

    def _classify_coarse(self, parents: NDArray[np.int64]) -> None:
        new = parents[~self.coarse_known[parents]]
        if not len(new):
            return
        side = self.CELL_DEG * self.COARSE
        px, py = new % self.ncx, new // self.ncx
        # Widened by a hair, so that its cells' boxes (computed from the fine grid, whose rounding may
        # differ in the last bit) lie inside it: "no boundary crosses it" then holds for each of them.
        e = 1e-9
        boxes = shapely.box(self.x0 + px * side - e, self.y0 + py * side - e, self.x0 + (px + 1) * side + e,
                            self.y0 + (py + 1) * side + e)
        bi, zi = self.tree.query(boxes)
        if len(bi):
            g = self.geoms[zi]
            hit = shapely.intersects(g, boxes[bi])
            whole = hit & shapely.contains(g, boxes[bi])
            bits = np.left_shift(np.uint64(1), (zi % 64).astype(np.uint64))
            word = zi // 64
            np.bitwise_or.at(self.coarse_inside, (new[bi[whole]], word[whole]), bits[whole])
            partial = hit & ~whole
            np.bitwise_or.at(self.coarse_edge, (new[bi[partial]], word[partial]), bits[partial])
        self.coarse_known[new] = True

    def plain_moves(self, coords: NDArray[np.float64]) -> NDArray[np.bool_]:
        """For moves (n, 2, 2), whether each stays in one cell, or two side by side, whose zone masks are
        whole (no boundary crosses them) and equal: such a move passes through no zone boundary."""
        r = self.CELL_DEG
        ix = np.floor((coords[:, :, 0] - self.x0) / r).astype(np.int64)
        iy = np.floor((coords[:, :, 1] - self.y0) / r).astype(np.int64)
        inside_grid = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        within = inside_grid[:, 0] & inside_grid[:, 1]  # both ends (not .all(axis=1): typed as an array)
        near = (np.abs(ix[:, 0] - ix[:, 1]) + np.abs(iy[:, 0] - iy[:, 1])) <= 1
        cells = np.where(within[:, None], iy * self.nx + ix, 0)
        known = self.known[cells].all(axis=1)
        a, b = cells[:, 0], cells[:, 1]
        clean = (
            (self.edge[a] == 0).all(axis=1) & (self.edge[b] == 0).all(axis=1)
            & (self.inside[a] == self.inside[b]).all(axis=1)
        )
        result: NDArray[np.bool_] = within & near & known & clean
        return result

    def lookup(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.int32]:
        r = self.CELL_DEG
        ix = np.floor((lon - self.x0) / r).astype(np.int64)
        iy = np.floor((lat - self.y0) / r).astype(np.int64)
        within = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        cell = np.where(within, iy * self.nx + ix, 0)
        new = within & ~self.known[cell]
        if new.any():
            self._classify(np.unique(cell[new]))
        ids = np.where(within, self.inside_id[cell], 0).astype(np.int32)
        rows = np.flatnonzero(within & self.has_edge[cell])
        if len(rows) == 0:
            return ids
        # The fixes in cells that a zone boundary crosses: the exact test, only for those zones.
        cells = cell[rows]
        words = self.inside[cells]
        pr, pz = _set_bits(self.edge[cells])
        ok = shapely.intersects_xy(self.geoms[pz], lon[rows[pr]], lat[rows[pr]])
        pr, pz = pr[ok], pz[ok]
        if len(pr):
            np.bitwise_or.at(words, (pr, pz // 64), np.left_shift(np.uint64(1), (pz % 64).astype(np.uint64)))
        ids[rows] = self.sets.intern_words(words)
        return ids


class ZoneSets:
    """The distinct sets of zones fixes have been seen in, each with a small integer id (0: no zone).

    A zone file of hundreds of zones still has only a few hundred distinct sets that a point can be in
    (most zones are apart), so a fix's membership is one int32 whatever the number of zones: the fast
    path compares and looks up ids, and only the fixes that take the per-fix step need the mask.
    """

    def __init__(self, words: int) -> None:
        self.nw = words
        self.masks: list[int] = [0]  # id -> bit mask (bit i = Geofence.zones[i])
        self.words = np.zeros((64, words), dtype=np.uint64)  # id -> the mask as 64-bit words (grown)
        self._ids: dict[int, int] = {0: 0}

    def __len__(self) -> int:
        return len(self.masks)

    def intern(self, mask: int) -> int:
        """The id of a mask, given one if it has none yet."""
        i = self._ids.get(mask)
        if i is None:
            i = self._ids[mask] = len(self.masks)
            self.masks.append(mask)
            if i == len(self.words):
                grown = np.zeros((2 * i, self.nw), dtype=np.uint64)
                grown[:i] = self.words
                self.words = grown
            for k in range(self.nw):
                self.words[i, k] = (mask >> (64 * k)) & 0xFFFF_FFFF_FFFF_FFFF
        return i

    def intern_words(self, words: NDArray[np.uint64]) -> NDArray[np.int32]:
        """Ids of (n, words) masks."""
        if len(words) == 0:
            return np.zeros(0, dtype=np.int32)
        if self.nw == 1:
            uniq, inverse = np.unique(words[:, 0], return_inverse=True)
            masks: list[int] = uniq.tolist()
        else:
            # One 64-bit key per row (the words mixed), unique'd in one dimension; rows that share a key
            # must be equal, else (a collision, never seen in practice) the slower unique of whole rows.
            _, first, inverse = np.unique(_row_keys(words), return_index=True, return_inverse=True)
            inverse = inverse.reshape(-1)
            if (words == words[first[inverse]]).all():
                uniq = words[first]
            else:
                uniq, inverse = np.unique(words, axis=0, return_inverse=True)
            masks = uniq[:, 0].tolist()
            for k in range(1, self.nw):
                masks = [m | (c << (64 * k)) for m, c in zip(masks, uniq[:, k].tolist())]
        ids = np.array([self.intern(m) for m in masks], dtype=np.int32)
        result: NDArray[np.int32] = ids[inverse.reshape(-1)]
        return result


def _row_keys(words: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """A 64-bit key per row of (n, words) masks: equal rows, equal keys (unequal rows: almost surely not)."""
    key = np.zeros(len(words), dtype=np.uint64)
    for k in range(words.shape[1]):
        key = (key ^ words[:, k]) * np.uint64(0x9E37_79B9_7F4A_7C15)
        key ^= key >> np.uint64(29)
    return key


def _set_bits(words: NDArray[np.uint64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The set bits of rows of 64-bit words: (row, bit index over the row's words), one pair per bit."""
    er, wi = np.nonzero(words)
    # (little-endian bytes, bits in little order: bit b of the word is column b)
    word_bytes = words[er, wi].astype("<u8").view(np.uint8).reshape(-1, 8)
    k, b = np.nonzero(np.unpackbits(word_bytes, axis=1, bitorder="little"))
    return er[k].astype(np.int64), (wi[k] * 64 + b).astype(np.int64)
