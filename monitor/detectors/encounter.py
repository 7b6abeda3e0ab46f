"""`encounter`: two vessels stay close together and slow, outside ports and anchorages, longer than the
posture's limit (`encounter_s`): the ship-to-ship transfer pattern.

Slow is under `detectors.encounter_max_speed_kn`, close within `encounter_distance_m`. Slow fixes are kept
in a grid of cells about 1 km wide, so a fix is compared with the vessels of its 3 x 3 neighbourhood only.
One alert per pair and episode (an episode ends after `episode_gap_s` apart), about the watched vessel if
one is, else the lower MMSI.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field as Setting

from monitor import savedstate as S
from monitor.alerts import iso_time
from monitor.detectors.base import NEVER, Field, FixDetector, position
from monitor.geo import haversine_m
from monitor.settings_base import Seconds, Section

if TYPE_CHECKING:
    from monitor.alerts import Alert
    from monitor.engine import Engine, Vessel, _FastBatch

CELL_DEG = 0.01  # about 1 km, so the 3x3 neighbourhood covers the 500 m search
SLOW_STALE_S = 600.0  # a neighbour's slow fix older than this is not evidence of being alongside


# Cell keys: x * _ROW + y, x and y offset to be positive (_key): |x| <= 18,000 and |y| <= 9,000 cells of
# CELL_DEG, so a key is below 2**32.
_ROW = 1 << 16
_OFFSET = 1 << 15
_NEIGHBOURS = np.array([dx * _ROW + dy for dx in (-1, 0, 1) for dy in (-1, 0, 1)], dtype=np.int64)
_U_BITS = 24  # (cell key << _U_BITS | vessel index) < 2**56: a batch has fewer than 2**24 vessels


def _cells(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The grid cells of these fixes, as on_fix computes them (math.floor of the same quotient)."""
    return np.floor(lon / CELL_DEG).astype(np.int64), np.floor(lat / CELL_DEG).astype(np.int64)


def _key(x: Any, y: Any) -> Any:
    """One integer per cell, neighbours `_ROW` apart in x and 1 in y."""
    return (x + _OFFSET) * _ROW + (y + _OFFSET)


def _last_per_vessel(mmsis: NDArray[np.int64], rows: NDArray[np.int64]) -> NDArray[np.int64]:
    """Each vessel's last row among `rows` (input order), in the order of their MMSIs."""
    order = np.argsort(mmsis, kind="stable")
    ends = np.r_[mmsis[order][1:] != mmsis[order][:-1], True] if len(order) else np.zeros(0, dtype=bool)
    result: NDArray[np.int64] = rows[order][ends]
    return result


class _Pair:
    __slots__ = ("alerted", "distance", "last", "start")

    def __init__(self, t: float, d: float) -> None:
        self.start = t
        self.last = t
        self.alerted = False
        self.distance = d


class EncounterSettings(Section):
    """[detectors] keys of `encounter`."""

    encounter_max_speed_kn: Seconds = Setting(default=2.0, gt=0)  # both vessels slower than this
    encounter_distance_m: Seconds = Setting(default=500.0, gt=0)  # ... and this close together


class Encounter(FixDetector):
    name = "encounter"
    settings = EncounterSettings
    # A vessel in the grid sends only the fixes that can change something to the per-fix step (base).
    quiet = True
    severity = {"encounter": ("warning", "warning", "critical", "critical")}
    fields = (
        Field("slow_t", NEVER, S.time_or_never, urgent=False),  # its last slow fix
        Field("slow_x", 0.0, S.lon, urgent=False),
        Field("slow_y", 0.0, S.lat, urgent=False),
        Field("cell", None, S.cell),  # its grid cell while slow (None: not slow)
    )

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._harbour = engine.masks.harbour
        self.grid: dict[tuple[int, int], set[int]] = {}  # cell -> the slow vessels in it
        self.pairs: dict[tuple[int, int], _Pair] = {}  # (lower MMSI, higher) -> their episode
        self._involved = np.zeros(0, dtype=bool)  # of the batch, per vessel: alone, in or into the grid

    def open(self, v: Vessel) -> bool:
        return v.cell is not None

    def prefilter(self, fb: _FastBatch) -> NDArray[np.bool_]:
        # Only a vessel with another near it can meet it: one with a slow fix (or its grid cell at the
        # batch's start) in the 3 x 3 cells around another vessel's slow fix or grid cell, this batch's
        # slow fixes all counted (before or after: a neighbour arriving later must meet its fixes in
        # order). All the trusted fixes of such a vessel take the per-fix step; a vessel alone only moves
        # in and out of the grid, which `carry` applies.
        slow = (fb.sog_a < self.det.encounter_max_speed_kn) & ~self.e.set_harbour[fb.ids] & fb.track
        slow_rows = np.flatnonzero(slow)
        n_u = len(fb.uniq)
        home = np.full(n_u, -1, dtype=np.int64)  # grid cell key at the batch's start (-1: not in the grid)
        cells = [(u, v.cell) for u, v in zip(fb.quiet_idx.tolist(), fb.quiet_vessels) if v.cell is not None]
        if cells:
            at, xy = zip(*cells)
            home[list(at)] = _key(*np.array(xy, dtype=np.int64).T)
        self._involved = np.zeros(n_u, dtype=bool)
        self._involved[fb.inverse[slow_rows]] = True
        self._involved |= home >= 0
        if not self._involved.any():
            return np.zeros(fb.n, dtype=bool)
        cx, cy = _cells(fb.lon_a[slow_rows], fb.lat_a[slow_rows])
        members = np.array([(x, y, m) for (x, y), ms in self.grid.items() for m in ms], dtype=np.int64)
        members = members.reshape(-1, 3)
        keys = np.r_[_key(cx, cy), _key(members[:, 0], members[:, 1])]
        who = np.r_[fb.mmsi_a[slow_rows], members[:, 2]]
        # Per occupied cell, its lowest and highest MMSI: it holds a vessel other than A unless both are A.
        order = np.argsort(keys, kind="stable")
        keys, who = keys[order], who[order]
        first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        occupied = keys[first]
        low = np.minimum.reduceat(who, first)
        # Per occupied cell, its one vessel (-1: several): a cell holds a vessel other than A unless A is
        # its one vessel.
        sole = np.where(low == np.maximum.reduceat(who, first), low, -1)
        # The cells each vessel is at (its slow fixes', its grid cell), each (cell, vessel) once: has any
        # another vessel near? All nine neighbours of them all in one search.
        gridded = np.flatnonzero(home >= 0)
        at = np.r_[_key(cx, cy), home[gridded]] << _U_BITS
        pairs = np.unique(at | np.r_[fb.inverse[slow_rows], gridded])
        at_u = pairs & ((1 << _U_BITS) - 1)
        at_key = pairs >> _U_BITS
        around = (at_key[None, :] + _NEIGHBOURS[:, None]).ravel()
        k = np.minimum(np.searchsorted(occupied, around), len(occupied) - 1)
        near = ((occupied[k] == around) & (sole[k] != np.tile(fb.uniq[at_u], 9))).reshape(9, -1).any(axis=0)
        crowded = np.zeros(n_u, dtype=bool)
        crowded[at_u[near]] = True
        self._involved &= ~crowded
        result: NDArray[np.bool_] = crowded[fb.inverse] & fb.track
        return result

    def carry(self, fb: _FastBatch, rows: NDArray[np.int64]) -> Iterable[Vessel]:
        # A vessel alone: its last trusted fix says whether it is in the grid (slow, out of harbours) and
        # in which cell; its last slow one is its slow position.
        rows = rows[self._involved[fb.inverse[rows]]]
        if not len(rows):
            return ()
        slow = (fb.sog_a[rows] < self.det.encounter_max_speed_kn) & ~self.e.set_harbour[fb.ids[rows]]
        vessels = self.e.vessels
        picks = _last_per_vessel(fb.mmsi_a[rows[slow]], rows[slow])
        for mmsi, t, x, y in zip(fb.mmsi_a[picks].tolist(), fb.t_a[picks].tolist(), fb.lon_a[picks].tolist(),
                                 fb.lat_a[picks].tolist()):
            v = vessels[mmsi]
            v.slow_t, v.slow_x, v.slow_y = t, x, y
        # The grid: where the last fix leaves each vessel (-1: out of it).
        picks = _last_per_vessel(fb.mmsi_a[rows], rows)
        in_grid = fb.sog_a[picks] < self.det.encounter_max_speed_kn
        in_grid &= ~self.e.set_harbour[fb.ids[picks]]
        cx, cy = _cells(fb.lon_a[picks], fb.lat_a[picks])
        changed = []
        grid = self.grid
        for mmsi, inside, x, y in zip(fb.mmsi_a[picks].tolist(), in_grid.tolist(), cx.tolist(), cy.tolist()):
            v = vessels[mmsi]
            cell = (x, y) if inside else None
            if cell != v.cell:
                if v.cell is not None:
                    self._leave(v)
                else:
                    changed.append(v)
                if cell is not None:
                    grid.setdefault(cell, set()).add(mmsi)
                elif v.cell is not None:
                    changed.append(v)
                v.cell = cell
        return changed

    def on_fix(self, v: Vessel, t: float, lon: float, lat: float, sog: float, cog: float, s: int,
               alerts: list[Alert]) -> None:
        det = self.det
        if s & self._harbour or not sog < det.encounter_max_speed_kn:
            if v.cell is not None:
                self._leave(v)
                v.cell = None
            return
        cx, cy = math.floor(lon / CELL_DEG), math.floor(lat / CELL_DEG)
        cell = (cx, cy)
        grid = self.grid
        if v.cell != cell:
            if v.cell is not None:
                self._leave(v)
            grid.setdefault(cell, set()).add(v.mmsi)
            v.cell = cell
        v.slow_t, v.slow_x, v.slow_y = t, lon, lat
        limit = self.e.posture.limits.encounter_s
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                members = grid.get((cx + dx, cy + dy))
                if not members:
                    continue
                for other in members:
                    if other == v.mmsi:
                        continue
                    w = self.e.get(other)
                    assert w is not None
                    if t - w.slow_t > SLOW_STALE_S:
                        continue
                    d = haversine_m(lon, lat, w.slow_x, w.slow_y)
                    if d > det.encounter_distance_m:
                        continue
                    key = (v.mmsi, other) if v.mmsi < other else (other, v.mmsi)
                    pair = self.pairs.get(key)
                    if pair is None or t - pair.last > det.episode_gap_s:
                        pair = self.pairs[key] = _Pair(t, d)
                    pair.last = t
                    pair.distance = d
                    if not pair.alerted and t - pair.start >= limit:
                        pair.alerted = True
                        self._alert(v, w, pair, t, s, alerts)

    def _alert(self, v: Vessel, w: Vessel, pair: _Pair, t: float, s: int, alerts: list[Alert]) -> None:
        a, b = (v, w) if v.mmsi < w.mmsi else (w, v)
        if b.watch and not a.watch:
            a, b = b, a
        zone = self.e.area_of(s)
        details = {
            "other_mmsi": b.mmsi,
            "other_vessel": b.info(),
            "duration_s": round(t - pair.start, 1),
            "distance_m": round(pair.distance, 1),
            "since": iso_time(pair.start),
        }
        pos = position(a.slow_y, a.slow_x, a.sog, a.cog)
        key = f"{min(a.mmsi, b.mmsi)}-{max(a.mmsi, b.mmsi)}"
        self.e.alert("encounter", a, t, zone, pos, details, pair.start, alerts, key=key,
                     watched=bool(b.watch))

    # ---- engine-wide state ----------------------------------------------------------------------------
    def after_batch(self) -> None:
        """Episodes over for longer than the gap are forgotten (now and then: not every batch)."""
        if len(self.pairs) > 4 * len(self.e.vessels) + 1024:
            self.prune(self.e.now)

    def _leave(self, v: Vessel) -> None:
        """Take `v` out of its grid cell, and the cell out of the grid when that empties it (else every
        cell a slow vessel ever drifted through would stay, and each batch's pre-filter walk them)."""
        assert v.cell is not None
        members = self.grid[v.cell]
        members.discard(v.mmsi)
        if not members:
            del self.grid[v.cell]

    def prune(self, now: float) -> None:
        gap = self.det.episode_gap_s
        self.pairs = {k: p for k, p in self.pairs.items() if now - p.last <= gap}

    def forget(self, gone: set[int], vessels: list[Vessel]) -> None:
        for v in vessels:
            if v.cell is not None:
                self._leave(v)
        self.pairs = {k: p for k, p in self.pairs.items() if k[0] not in gone and k[1] not in gone}

    def global_state(self) -> dict[str, Any]:
        return {"pairs": [[a, b, p.start, p.last, p.alerted, p.distance] for (a, b), p in self.pairs.items()]}

    @staticmethod
    def read_global(g: dict[str, Any]) -> Any:
        pairs = []
        for pair in S.items(g.get("pairs", []), "pairs"):
            a, b, start, last, alerted, distance = S.items(pair, "pairs", 6)
            pairs.append((S.mmsi(a, "pairs"), S.mmsi(b, "pairs"), S.time(start, "pairs"),
                          S.time(last, "pairs"), S.boolean(alerted, "pairs"), S.metres(distance, "pairs")))
        return pairs

    def restore_global(self, checked: Any) -> None:
        self.pairs = {}
        for a, b, start, last, alerted, distance in checked:
            p = _Pair(start, distance)
            p.last, p.alerted = last, alerted
            self.pairs[(a, b)] = p

    def restored(self, vessels: list[Vessel]) -> None:
        self.grid = {}
        for v in vessels:
            if v.cell is not None:
                self.grid.setdefault(v.cell, set()).add(v.mmsi)
