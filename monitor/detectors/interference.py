"""`interference` and `interference_cleared`: areas where GNSS jamming or spoofing is happening, found
from the vessels themselves (issue 13).

An aggregate detector (monitor.detectors.base.AggregateDetector). The sea is cut into h3 hexagons of
resolution 5 (`RESOLUTION`: cells about 20 km across, 9.9 km edges: a few cells cover a jammer's or a
spoofer's reach of tens of kilometres, and a cell still holds enough ships in a busy strait for a share
to mean something). Per cell and per signature it keeps, over a sliding window (`window_s`, 1 h), the
vessels heard and the vessels affected, each as MMSI -> last time. It reads every report of the batch
(`on_batch`, once per batch, vectorized: the fixes the fast path skips included) and samples it: each
vessel's first report in every 15 min of the feed clock as heard (HEARD_SAMPLE_S), its first on land or
jammed in every 5 min (SAMPLE_S), so h3 and the dicts run a few times an hour per vessel, not for each of
its reports every few seconds. A sample depends on the feed alone (never on where a batch ends), and the
samples wait (`pending`) until the judgement they precede: a judgement counts what happened before its
time, so a replay in any batch size and the live daemon raise the same areas at the same times.

- heard: every vessel, where its report places it;
- spoofing: fixes on land (in no port: `on_land`'s condition, every fix of the episode, not only its
  alert) and `position_jump` alerts, counted at the vessel's trusted position (where the ship really is:
  the track, which such fixes do not move), the spoofed position kept to find the `target`. The jump
  back from a spoofed position its track had re-anchored to is no evidence: the ship is back;
- jamming: vessels still transmitting with a time stamp of 60 to 63 (no fresh fix), lat 91 / lon 181 (no
  position), or a sync state of 1 to 3 (not synchronised to its own GNSS), counted where their last good
  position places them (the batch's previous trusted fix of the vessel, or its track). Only a vessel that
  *lost* its fix counts: one heard with a clean report (a position, a time stamp 0-59, sync state 0)
  within `GOOD_MEMORY_S` (a day) before. Clean traffic has transponders that never give a time stamp or
  always sync indirectly (in pyais's 898 real sentences from Greek waters, 18 of 164 vessels report sync
  state 1 throughout, 7 time stamp 60 or more): counted, they would make areas of any busy port.

A cell is hot when at least `min_ratio` of the vessels heard in it are affected; connected hot cells (h3
neighbours) make a cluster, and a cluster with at least `min_vessels` vessels affected (a single faulty
transponder is never an area) and `min_ratio` overall is an area. Areas are judged every minute of the feed
clock (`EVAL_S`, `next_due`/`wake`): a replay and the daemon judge at the same feed times. An area matches
the open episode of its type whose cells overlap it or touch it (so it grows, shrinks and drifts a little as
one episode); two episodes one cluster joins merge into the older (the younger is cleared with
`merged_into`). `interference` is raised when an episode starts, `interference_cleared` once no affected
vessel has been seen in it for `clear_after_s` (judged on the samples: up to 5 min before the last report).
While open, an area feeds the posture's rules its vessels affected (`_escalate`).

The `target` of a spoofing area: the spoofed positions of its affected vessels binned in h3 cells of
resolution 7 (`TARGET_RESOLUTION`, 1.2 km edges); in the densest bin (ties: the smallest cell id) and its
neighbours, the median latitude and median longitude. A spoofer puts its victims at one point (an airport,
a spot inland) or on a small circle around it: the bin finds it, the median within it ignores the few
victims shown elsewhere (a jump of their own).
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections import Counter
from typing import TYPE_CHECKING, Any, ClassVar

import h3
import numpy as np
from numpy.typing import NDArray
from pydantic import Field as Setting
from shapely.geometry import Polygon, mapping
from shapely.ops import unary_union

from monitor import savedstate as S
from monitor.alerts import Alert, alert_id, iso_time
from monitor.detectors.base import NEVER, AggregateDetector, Field
from monitor.detectors.escalation import Escalation
from monitor.geo import haversine_m
from monitor.settings_base import Seconds, Section

if TYPE_CHECKING:
    from monitor.engine import Engine, _FastBatch

RESOLUTION = 5  # h3 cells about 20 km across (see the module docstring)
TARGET_RESOLUTION = 7  # bins of the spoofed positions, 1.2 km edges: the target within a kilometre or two
GOOD_MEMORY_S = 86_400.0  # a jamming signature counts if the vessel had a clean fix within this long
EVAL_S = 60.0  # areas are judged every minute of the feed clock
PRUNE_S = 600.0
# A vessel's reports are sampled, its first in every bucket of so many seconds of the feed clock (see
# _Sampler): as heard every 15 min (its cell may be that old, 7 km at 16 kn, against 20 km cells and a
# window of an hour: four samples in it), as spoofed or jammed every 5 min (an area's start and quiet
# time are judged on these). A sample costs a few microseconds of Python (h3, dicts): a vessel reports
# every few seconds.
HEARD_SAMPLE_S = 900.0
SAMPLE_S = 300.0
# An area feeds the posture's rules at most this many of its vessels a judgement (a storm's thousands would
# only fill the rule's memory: a rule needing more vessels than this is never met by one area).
RULE_VESSELS = 100  # the heard counts are swept of reports older than the window this often
TYPES = ("spoofing", "jamming")
# A pending sample: (time, HEARD/SPOOFED/JAMMED, MMSI, lon, lat where it places the vessel, extra: for
# HEARD whether the report is clean, for SPOOFED the spoofed (lon, lat), for JAMMED False).
HEARD, SPOOFED, JAMMED = 0, 1, 2
Event = tuple[float, int, int, float, float, Any]
# Time stamps (ITU-R M.1371 "second") that say the position is not a fresh GNSS fix: 60 not available,
# 61 manual input, 62 dead reckoning, 63 positioning system inoperative.
JAM_SECOND_MIN, JAM_SECOND_MAX = 60, 63
# Sync states (SOTDMA/ITDMA radio status) of a station not synchronised to its own GNSS's UTC.
JAM_SYNC_MIN, JAM_SYNC_MAX = 1, 3


# ---- h3, typed (h3 4.x ships no type hints) ------------------------------------------------------------
def cell_of(lat: float, lon: float, resolution: int = RESOLUTION) -> str:
    """The h3 cell (hex string) holding a point."""
    return str(h3.latlng_to_cell(lat, lon, resolution))


def neighbours(cell: str) -> list[str]:
    """The cell and the six (five at a pentagon) around it."""
    return [str(c) for c in h3.grid_disk(cell, 1)]


def cell_polygon(cell: str) -> Polygon:
    """The cell's hexagon in lon/lat order (h3 gives lat/lon)."""
    return Polygon([(float(lon), float(lat)) for lat, lon in h3.cell_to_boundary(cell)])


def valid_cell(cell: str, resolution: int = RESOLUTION) -> bool:
    return bool(h3.is_valid_cell(cell)) and int(h3.get_resolution(cell)) == resolution


class InterferenceSettings(Section):
    """[interference]: GNSS interference areas (CONTRACT `interference`, `GET /api/interference`)."""

    # The sliding window over which a cell's vessels heard and affected are counted.
    window_s: Seconds = Setting(default=3_600.0, gt=0)
    # A cell is hot, and an area an area, when at least this share of the vessels heard is affected.
    min_ratio: float = Setting(default=0.2, gt=0, le=1, allow_inf_nan=False)
    # An area needs at least this many vessels affected: one faulty transponder is never an area.
    min_vessels: int = Setting(default=3, ge=2)
    # An area is cleared when no affected vessel has been seen in it for this long.
    clear_after_s: Seconds = Setting(default=3_600.0, gt=0)


class _Sampler:
    """Picks, of a batch's reports, each vessel's first in every bucket of the feed clock (one it
    has not had a sample in yet): a sample depends on the feed alone, never on where a batch ends, so a
    replay in any batch size and the live daemon count the same. Each vessel's latest bucket sampled is
    kept in sorted arrays, so the batch's vessels are looked up at once."""

    __slots__ = ("b", "m", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds  # the buckets' length
        self.m = np.zeros(0, dtype=np.int64)  # MMSIs, sorted
        self.b = np.zeros(0, dtype=np.float64)  # the latest bucket sampled of each

    def pick(self, order: NDArray[np.int64], m: NDArray[np.int64], t: NDArray[np.float64],
             rows: NDArray[np.bool_]) -> NDArray[np.int64]:
        """The samples among the selected rows, grouped by vessel, in input order. The batch's rows come
        grouped by vessel (`order`, fb.order), with their MMSIs `m`, times `t` and selection `rows` in
        that order (timed rows only)."""
        o: NDArray[np.int64] = order[rows]
        if not len(o):
            return o
        m, b = m[rows], np.floor(t[rows] / self.seconds)
        first = np.ones(len(o), dtype=bool)
        first[1:] = (m[1:] != m[:-1]) | (b[1:] != b[:-1])
        o, m, b = o[first], m[first], b[first]
        k = np.searchsorted(self.m, m)
        kk = np.minimum(k, max(len(self.m) - 1, 0))
        found = (self.m[kk] == m) if len(self.m) else np.zeros(len(m), dtype=bool)
        # (A report older than the vessel's latest sample, relayed late, is no sample.)
        fresh = b > np.where(found, self.b[kk] if len(self.b) else -np.inf, -np.inf)
        o, m, b, kk, found = o[fresh], m[fresh], b[fresh], kk[fresh], found[fresh]
        last = np.ones(len(m), dtype=bool)
        last[:-1] = m[1:] != m[:-1]
        at = last & found
        self.b[kk[at]] = np.maximum(self.b[kk[at]], b[at])
        new = last & ~found
        if new.any():
            mm = np.concatenate([self.m, m[new]])
            order = np.argsort(mm, kind="stable")
            self.m, self.b = mm[order], np.concatenate([self.b, b[new]])[order]
        result: NDArray[np.int64] = o
        return result

    def prune(self, cut: float) -> None:
        keep = ~(self.b < math.floor(cut / self.seconds))
        self.m, self.b = self.m[keep], self.b[keep]


class _Episode:
    """One interference area, from its `interference` to its `interference_cleared`."""

    __slots__ = ("affected", "area_id", "cells", "current", "heard", "kind", "last_seen", "now", "started",
                 "target")

    def __init__(self, area_id: str, kind: str, started: float) -> None:
        self.area_id = area_id
        self.kind = kind  # "spoofing" or "jamming"
        self.started = started
        self.cells: set[str] = set()  # the area's cells at its last judgement
        self.last_seen = started  # the newest affected report in it
        self.affected: set[int] = set()  # every vessel affected in it, for the episode's totals
        self.heard: set[int] = set()  # every vessel heard in its cells while it was an area
        self.now = (0, 0)  # (affected, heard) at its last judgement: the running counts
        self.current: set[int] = set()  # the vessels affected at its last judgement
        self.target: tuple[float, float] | None = None  # (lon, lat), spoofing only


Hits = dict[str, dict[int, float]]  # cell -> MMSI -> last time


class Interference(AggregateDetector):
    name = "interference"
    section = "interference"
    severity = {
        "interference": ("warning", "warning", "critical", "critical"),
        "interference_cleared": ("info", "info", "info", "warning"),
    }
    counted_by_rules = ("interference",)
    # When the vessel last sent a clean GNSS report (see the module docstring: only a lost fix counts).
    fields: ClassVar[tuple[Field, ...]] = (Field("gnss_good", NEVER, S.time_or_never, urgent=False),)

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.settings = InterferenceSettings()
        self.heard: Hits = {}
        self.hits: dict[str, Hits] = {kind: {} for kind in TYPES}
        # MMSI -> its spoofed positions in the window, (time, lon, lat), oldest first.
        self.spoofed: dict[int, list[tuple[float, float, float]]] = {}
        self.episodes: dict[str, _Episode] = {}  # the open ones, by area id
        self.tick = math.inf  # the next judgement (inf: nothing to judge)
        self.pruned = -math.inf  # when the heard counts were last swept
        # After a restart: the heard counts of cells far from any evidence were not saved; until a
        # window has passed such a cell gives no verdict (its share would be judged on a few reports).
        self.blind_until = -math.inf
        self.known: set[str] = set()
        self.changes = 0  # bumped on every change of the areas (the publisher's cue)
        # The samples of the vessels heard, spoofed and jammed (a vessel reports every few seconds, a
        # window is an hour: h3 and the dicts run for a vessel every few minutes at most).
        self.samplers = {"heard": _Sampler(HEARD_SAMPLE_S), **{kind: _Sampler(SAMPLE_S) for kind in TYPES}}
        self.pending: list[Event] = []  # samples not applied yet, in time order (see on_batch)
        self.evidence_until = -math.inf  # the latest spoofed or jammed sample added

    def configure(self, settings: InterferenceSettings) -> None:
        self.settings = settings

    # ---- evidence --------------------------------------------------------------------------------------
    def on_batch(self, fb: _FastBatch) -> None:
        """Every report of the batch (vectorized): each vessel's first report in every HEARD_SAMPLE_S of
        the feed clock (_Sampler) as heard, and in every SAMPLE_S its first on land (spoofing) and its
        first with a jamming signature, each where it places the vessel. They wait in `pending` and are
        applied in time order up to each judgement's time: a judgement sees what had happened by then,
        whatever the batches."""
        mmsi, t = fb.mmsi_a, fb.t_a
        order = fb.order
        m_sorted, t_sorted = mmsi[order], t[order]
        timed = ~np.isnan(t_sorted)
        events = self.pending
        rows = self.samplers["heard"].pick(order, m_sorted, t_sorted, timed)
        _, clean = jammed(fb.positions[rows], fb.valid[rows])
        events += _events(fb, rows, HEARD, clean.tolist())
        if fb.land.any():
            rows = self.samplers["spoofing"].pick(order, m_sorted, t_sorted, timed & fb.land[order])
            events += _events(fb, rows, SPOOFED, list(zip(fb.lon_a[rows].tolist(), fb.lat_a[rows].tolist())))
        signature, _ = jammed(fb.positions, fb.valid)
        if signature.any():
            rows = self.samplers["jamming"].pick(order, m_sorted, t_sorted, timed & signature[order])
            events += _events(fb, rows, JAMMED, [False] * len(rows))
        # (Each kind's events come in time order: the sort merges runs. Events of one vessel, time and
        # kind are never compared beyond that: one sample per vessel, bucket and kind.)
        events.sort()
        evidence = [e[0] for e in events if e[1] != HEARD]
        if evidence:
            self._wake_at(min(evidence))
            self.evidence_until = max(self.evidence_until, *evidence)
        # What no judgement still to come can be earlier than (they run after the engine's clock).
        self._apply(self.e.now)
        cut = min(self.e.now, self.tick) - self.settings.window_s
        if fb.t_max - self.pruned >= PRUNE_S and math.isfinite(cut):
            # (Nothing a judgement still to come could count: those run from the engine's clock on.)
            self._prune(cut)
            self.pruned = fb.t_max

    def _apply(self, before: float) -> None:
        """Apply the pending samples older than `before`, in time order."""
        events = self.pending
        n = bisect.bisect_left(events, (before,))  # (a 1-tuple sorts before every event of its time)
        if not n:
            return
        vessels = self.e.vessels
        heard, spoofed, jammed_ = self.heard, self.hits["spoofing"], self.hits["jamming"]
        for ti, kind, m, x, y, extra in events[:n]:
            if x != x or y != y:
                continue  # (no trusted position yet: nowhere to count it)
            cell = cell_of(y, x)
            if kind == HEARD:
                d = heard.get(cell)
                if d is None:
                    d = heard[cell] = {}
                d[m] = ti
                if extra:  # a clean report
                    v = vessels.get(m)
                    if v is not None and ti > v.gnss_good:
                        v.gnss_good = ti
            elif kind == SPOOFED:
                d = spoofed.setdefault(cell, {})
                d[m] = max(d.get(m, ti), ti)
                self.spoofed.setdefault(m, []).append((ti, *extra))
            else:
                v = vessels.get(m)
                if v is not None and ti - v.gnss_good <= GOOD_MEMORY_S:
                    # (Only a vessel that had a clean fix lost it: not a transponder that never has one.)
                    d = jammed_.setdefault(cell, {})
                    d[m] = max(d.get(m, ti), ti)
        del events[:n]

    def observe(self, alert: Alert, alerts: list[Alert]) -> None:
        # A jump is judged per fix (its pre-filter is no simple mask of the batch): its alert is the
        # evidence. (`on_land` alerts also come here: the batch hook has sampled their fixes too.)
        if alert.kind not in ("on_land", "position_jump") or alert.mmsi is None or alert.position is None:
            return
        v = self.e.get(alert.mmsi)
        if v is None or v.lon != v.lon or v.lat != v.lat:
            return  # no trusted position yet: nowhere to count it
        p = alert.position
        t = alert.time
        was = self.spoofed.get(alert.mmsi)
        if alert.kind == "position_jump" and was and haversine_m(
                was[-1][1], was[-1][2], v.lon, v.lat) <= self.e.det.jump_min_distance_m:
            # The jump back from where it was spoofed to (its track had re-anchored there, after
            # `jump_recover_fixes` agreeing fixes): the ship is back, not spoofed again.
            return
        extra = (p["lon"], p["lat"])  # (an on_land or position_jump alert is about a fix: it has both)
        bisect.insort(self.pending, (t, SPOOFED, alert.mmsi, v.lon, v.lat, extra))
        self._wake_at(t)
        self.evidence_until = max(self.evidence_until, t)

    def _wake_at(self, t: float) -> None:
        # (The first judgement after the evidence: it counts evidence before its own time.)
        self.tick = min(self.tick, (math.floor(t / EVAL_S) + 1) * EVAL_S)

    def _prune(self, cut: float) -> None:
        for table in (self.heard, *self.hits.values()):
            _prune_table(table, cut)
        spoofed = {m: [p for p in points if p[0] >= cut] for m, points in self.spoofed.items()}
        self.spoofed = {m: points for m, points in spoofed.items() if points}
        for sampler in self.samplers.values():
            sampler.prune(cut)

    # ---- judgement -------------------------------------------------------------------------------------
    def next_due(self) -> float:
        return self.tick

    def wake(self, t: float, alerts: list[Alert]) -> None:
        s = self.settings
        cut = t - s.window_s
        self._apply(t)
        self._prune_hits(cut)
        for kind in TYPES:
            self._judge(kind, t, cut, alerts)
        if any(self.hits[kind] for kind in TYPES) or self.episodes or self.evidence_until >= t:
            self.tick = t + EVAL_S
        else:
            self.tick = math.inf

    def _prune_hits(self, cut: float) -> None:
        for table in self.hits.values():
            _prune_table(table, cut)

    def _heard_in(self, cell: str, cut: float) -> set[int]:
        return {m for m, ti in self.heard.get(cell, {}).items() if ti >= cut}

    def clusters(self, kind: str, t: float, cut: float) -> list[tuple[set[str], set[int], set[int]]]:
        """The areas of one signature now: (cells, vessels affected, vessels heard), connected hot cells
        over both thresholds, in the order of their smallest cell."""
        s = self.settings
        hot: dict[str, tuple[set[int], set[int]]] = {}
        for cell, d in self.hits[kind].items():
            if t < self.blind_until and cell not in self.known:
                continue
            # (Evidence from the judgement's time on, from the batch under way, waits for the next one:
            # the reports of that very second are not all in yet. A vessel heard later in the batch was
            # heard in the window all the same.)
            affected = {m for m, ti in d.items() if ti < t}
            heard = self._heard_in(cell, cut) | affected
            if affected and len(affected) >= s.min_ratio * len(heard):
                hot[cell] = (affected, heard)
        out: list[tuple[set[str], set[int], set[int]]] = []
        seen: set[str] = set()
        for start in sorted(hot):
            if start in seen:
                continue
            cells: set[str] = set()
            todo = [start]
            seen.add(start)
            while todo:
                c = todo.pop()
                cells.add(c)
                for n in neighbours(c):
                    if n in hot and n not in seen:
                        seen.add(n)
                        todo.append(n)
            affected = set().union(*(hot[c][0] for c in cells))
            heard = set().union(*(hot[c][1] for c in cells))
            if len(affected) >= s.min_vessels and len(affected) >= s.min_ratio * len(heard):
                out.append((cells, affected, heard))
        return out

    def _judge(self, kind: str, t: float, cut: float, alerts: list[Alert]) -> None:
        open_ = [ep for ep in self.episodes.values() if ep.kind == kind]
        # (Matched against their cells before this judgement: an area split in two finds its episode
        # with both parts.)
        before = {ep.area_id: set(ep.cells) for ep in open_}
        matched: set[str] = set()
        for cells, affected, heard in self.clusters(kind, t, cut):
            near = set().union(*(neighbours(c) for c in cells))
            owners = sorted((ep for ep in open_ if ep.area_id in self.episodes
                             and before.get(ep.area_id, ep.cells) & near),
                            key=lambda ep: (ep.started, ep.area_id))
            times = [ti for c in cells for ti in self.hits[kind][c].values() if ti < t]
            last_seen = max(times)
            if owners:
                ep = owners[0]
                for other in owners[1:]:  # one cluster joins two episodes: the younger merges in
                    ep.affected |= other.affected
                    ep.heard |= other.heard
                    ep.cells |= other.cells
                    self._clear(other, t, alerts, merged_into=ep.area_id)
                if ep.area_id in matched:  # an area split in two: one episode holds both parts
                    ep.cells |= cells
                    ep.current |= affected
                    a, h = ep.now
                    ep.now = (a + len(affected), h + len(heard))
                else:
                    ep.cells = set(cells)
                    ep.current = set(affected)
                    ep.now = (len(affected), len(heard))
                ep.affected |= affected
                ep.heard |= heard
                ep.last_seen = max(ep.last_seen, last_seen)
                ep.target = self._target(affected, t, cut) if kind == "spoofing" else None
                matched.add(ep.area_id)
                self.changes += 1
                self._escalate(ep, t, alerts)
            else:
                started = min(times)
                area_id = f"{kind}-{iso_time(started)}-{min(cells)}"
                ep = _Episode(area_id, kind, started)
                ep.cells, ep.affected, ep.heard = set(cells), set(affected), set(heard)
                ep.current = set(affected)
                ep.now = (len(affected), len(heard))
                ep.last_seen = last_seen
                ep.target = self._target(affected, t, cut) if kind == "spoofing" else None
                self.episodes[area_id] = ep
                matched.add(area_id)
                open_.append(ep)
                self._raise("interference", ep, t, alerts)
        for ep in open_:
            if ep.area_id in self.episodes and ep.area_id not in matched:
                # Below the thresholds now; the last affected vessel still in its cells keeps it open.
                seen = [ti for c in ep.cells for ti in self.hits[kind].get(c, {}).values() if ti < t]
                ep.last_seen = max([ep.last_seen, *seen])
                if t - ep.last_seen >= self.settings.clear_after_s:
                    self._clear(ep, t, alerts)
                else:
                    self._escalate(ep, t, alerts)

    def _target(self, affected: set[int], t: float, cut: float) -> tuple[float, float] | None:
        """Where the affected vessels' spoofed positions converge: each vessel's latest in the window
        before `t`, binned (see the module docstring)."""
        points = []
        for m in sorted(affected):
            before = [(x, y) for ti, x, y in self.spoofed.get(m, ()) if cut <= ti < t]
            if before:
                points.append(before[-1])
        if not points:
            return None
        bins = Counter(cell_of(y, x, TARGET_RESOLUTION) for x, y in points)
        top = max(bins.values())
        densest = min(c for c, k in bins.items() if k == top)
        around = set(neighbours(densest))
        near = [(x, y) for x, y in points if cell_of(y, x, TARGET_RESOLUTION) in around]
        return statistics.median(x for x, _ in near), statistics.median(y for _, y in near)

    # ---- alerts ----------------------------------------------------------------------------------------
    def geometry(self, ep: _Episode) -> dict[str, Any]:
        """The area as a GeoJSON Polygon: the union of its cells (the hull, should it be in parts)."""
        shape = unary_union([cell_polygon(c) for c in sorted(ep.cells)])
        if shape.geom_type != "Polygon":
            shape = shape.convex_hull
        geo: dict[str, Any] = mapping(shape)
        return {"type": "Polygon",
                "coordinates": [[[round(x, 6), round(y, 6)] for x, y in ring] for ring in geo["coordinates"]]}

    def details(self, ep: _Episode, totals: bool = False) -> dict[str, Any]:
        affected, heard = (len(ep.affected), len(ep.heard)) if totals else ep.now
        out: dict[str, Any] = {
            "area_id": ep.area_id,
            "type": ep.kind,
            "area": self.geometry(ep),
            "vessels_affected": affected,
            "vessels_heard": heard,
            "ratio": round(affected / max(heard, 1), 3),  # (heard >= affected: both count the affected)
            "started": iso_time(ep.started),
        }
        if ep.kind == "spoofing":
            out["target"] = None if ep.target is None else {"lat": round(ep.target[1], 6),
                                                            "lon": round(ep.target[0], 6)}
        return out

    def _centre(self, ep: _Episode) -> tuple[float, float]:
        c = unary_union([cell_polygon(c) for c in ep.cells]).centroid
        return float(c.x), float(c.y)

    def _raise(self, kind: str, ep: _Episode, t: float, alerts: list[Alert],
               details: dict[str, Any] | None = None) -> None:
        e = self.e
        lon, lat = self._centre(ep)
        alerts.append(
            Alert(
                id=alert_id(kind, None, ep.area_id, iso_time(ep.started)),
                kind=kind,
                severity=e.posture.limits.severity[kind],
                posture=e.posture.level,
                time=t,
                mmsi=None,
                vessel=None,
                zone=None,
                position={"lat": round(lat, 6), "lon": round(lon, 6), "sog": None, "cog": None},
                details=self.details(ep) if details is None else details,
            )
        )
        self.changes += 1
        if kind == "interference":
            self._escalate(ep, t, alerts)

    def _clear(self, ep: _Episode, t: float, alerts: list[Alert], merged_into: str | None = None) -> None:
        details = self.details(ep, totals=True)
        details["ended"] = iso_time(ep.last_seen)
        if merged_into is not None:
            details["merged_into"] = merged_into
        self._raise("interference_cleared", ep, t, alerts, details)
        del self.episodes[ep.area_id]

    def _escalate(self, ep: _Episode, t: float, alerts: list[Alert]) -> None:
        """Feed the posture's rules (a rule on `interference`, by default: 5 vessels, to ELEVATED): the
        area's vessels affected (at its last judgement; the first RULE_VESSELS of them), each at its
        centre, at the start and at every judgement until the area is cleared, so the raised level
        lasts the episode plus the rule's quiet period. A rule counts vessels, as the rule on `on_land`
        does: an area of four ships raises no posture that four ships on land would not."""
        lon, lat = self._centre(ep)
        affected, heard = ep.now
        where = (f" converging on {ep.target[1]:.3f}N {ep.target[0]:.3f}E"
                 if ep.target is not None else "")
        reason = (f"GNSS {ep.kind} area {ep.area_id} around {lat:.2f}N {lon:.2f}E: {affected} of {heard} "
                  f"vessels affected{where}")
        escalation = self.e.aggregate(Escalation)
        for mmsi in sorted(ep.current)[:RULE_VESSELS]:
            escalation.count("interference", t, mmsi, lon, lat, alerts, reason)

    # ---- output ----------------------------------------------------------------------------------------
    def areas(self) -> dict[str, Any]:
        """CONTRACT's FeatureCollection of the active areas (GET /api/interference, the retained topic,
        the snapshot), oldest first; each Feature's properties the alert's details, counts running."""
        features = []
        for ep in sorted(self.episodes.values(), key=lambda ep: (ep.started, ep.area_id)):
            props = self.details(ep)
            geometry = props["area"]
            features.append({"type": "Feature", "id": ep.area_id, "geometry": geometry,
                             "properties": props})
        return {"type": "FeatureCollection", "features": features}

    # ---- saved state -----------------------------------------------------------------------------------
    def global_state(self) -> dict[str, Any]:
        # The engine row is written with every batch: the heard counts only of the cells near evidence or
        # an area (the others are rebuilt within a window: see `blind_until`), the rest in full.
        keep: set[str] = set()
        for table in self.hits.values():
            for cell in table:
                keep.update(neighbours(cell))
        for ep in self.episodes.values():
            for cell in ep.cells:
                keep.update(neighbours(cell))
        return {
            "interference": {
                "tick": None if self.tick == math.inf else self.tick,
                "heard": {c: [[m, ti] for m, ti in self.heard[c].items()] for c in sorted(keep)
                          if c in self.heard},
                "hits": {kind: {c: [[m, ti] for m, ti in d.items()] for c, d in table.items()}
                         for kind, table in self.hits.items()},
                "pending": [[ti, kind, m, x, y, _saved_extra(extra)]
                            for ti, kind, m, x, y, extra in self.pending if x == x and y == y],
                # (Each vessel's latest spoofed position only: the row is written with every batch.)
                "spoofed": [[m, *points[-1]] for m, points in self.spoofed.items()],
                "episodes": [
                    {"area_id": ep.area_id, "type": ep.kind, "started": ep.started, "cells": sorted(ep.cells),
                     "last_seen": ep.last_seen, "affected": sorted(ep.affected), "heard": sorted(ep.heard),
                     "now": list(ep.now), "current": sorted(ep.current),
                     "target": None if ep.target is None else list(ep.target)}
                    for ep in self.episodes.values()
                ],
            }
        }

    @staticmethod
    def read_global(g: dict[str, Any]) -> Any:
        saved = g.get("interference")
        if saved is None:
            return None
        x = S.mapping(saved, "interference")

        def cells(raw: Any, what: str) -> Hits:
            out: Hits = {}
            for c, pairs in S.mapping(raw, what).items():
                if not valid_cell(c):
                    raise S.BadValue(f"{what}: not an h3 cell of resolution {RESOLUTION}: {c!r:.20}")
                out[c] = {S.mmsi(m, what): S.time(ti, what)
                          for m, ti in (S.items(p, what, 2) for p in S.items(pairs, what))}
            return out

        hits = S.mapping(x.get("hits", {}), "interference.hits")
        episodes = []
        for raw in S.items(x.get("episodes", []), "interference.episodes"):
            r = S.mapping(raw, "interference.episode")
            kind = r.get("type")
            if kind not in TYPES:
                raise S.BadValue(f"interference.episode.type: {kind!r:.20}")
            ep = _Episode(S.text(r.get("area_id"), "interference.area_id"), kind,
                          S.time(r.get("started"), "interference.started"))
            ep.cells = set(cells({c: [] for c in S.items(r.get("cells", []), "interference.cells")},
                                 "interference.cells"))
            ep.last_seen = S.time(r.get("last_seen"), "interference.last_seen")
            ep.affected = {S.mmsi(m, "interference.affected") for m in S.items(r.get("affected", []),
                                                                                 "interference.affected")}
            ep.heard = {S.mmsi(m, "interference.heard") for m in S.items(r.get("heard", []),
                                                                          "interference.heard")}
            ep.current = {S.mmsi(m, "interference.current") for m in S.items(r.get("current", []),
                                                                               "interference.current")}
            count = S.integer(0, 2**40)
            a, h = S.items(r.get("now", [0, 0]), "interference.now", 2)
            ep.now = (count(a, "interference.now") or 0, count(h, "interference.now") or 0)
            target = r.get("target")
            if target is not None:
                tx, ty = S.items(target, "interference.target", 2)
                ep.target = (S.lon(tx, "interference.target"), S.lat(ty, "interference.target"))
            episodes.append(ep)
        return {
            "tick": S.opt_time(x.get("tick"), "interference.tick"),
            "heard": cells(x.get("heard", {}), "interference.heard"),
            "hits": {kind: cells(hits.get(kind, {}), f"interference.hits.{kind}") for kind in TYPES},
            "spoofed": {
                S.mmsi(m, "interference.spoofed"): [(S.time(ti, "interference.spoofed"),
                                                     S.lon(sx, "interference.spoofed"),
                                                     S.lat(sy, "interference.spoofed"))]
                for m, ti, sx, sy in (S.items(p, "interference.spoofed", 4)
                                      for p in S.items(x.get("spoofed", []), "interference.spoofed"))
            },
            "episodes": episodes,
            "pending": [_read_event(e) for e in S.items(x.get("pending", []), "interference.pending")],
        }

    def restore_global(self, checked: Any) -> None:
        if checked is None:
            return
        self.tick = math.inf if checked["tick"] is None else checked["tick"]
        self.heard = checked["heard"]
        self.hits = checked["hits"]
        self.spoofed = checked["spoofed"]
        self.pending = checked["pending"]
        self.episodes = {ep.area_id: ep for ep in checked["episodes"]}
        self.known = set(self.heard)
        now = self.e.now if math.isfinite(self.e.now) else (self.tick if math.isfinite(self.tick) else 0.0)
        self.blind_until = now + self.settings.window_s
        self.changes += 1


def _prune_table(table: Hits, cut: float) -> None:
    """Drop the reports older than `cut`, and the cells left empty."""
    for cell in list(table):
        d = table[cell]
        if any(ti < cut for ti in d.values()):
            d = table[cell] = {m: ti for m, ti in d.items() if ti >= cut}
        if not d:
            del table[cell]


def _saved_extra(extra: Any) -> Any:
    return list(extra) if isinstance(extra, tuple) else extra


def _read_event(raw: Any) -> Event:
    what = "interference.pending"
    ti, kind, m, x, y, extra = S.items(raw, what, 6)
    if kind not in (HEARD, SPOOFED, JAMMED) or type(kind) is not int:
        raise S.BadValue(f"{what}: kind {kind!r:.20}")
    if kind == SPOOFED:
        sx, sy = S.items(extra, what, 2)
        extra = (S.lon(sx, what), S.lat(sy, what))
    else:
        extra = S.boolean(extra, what)
    return S.time(ti, what), kind, S.mmsi(m, what), S.lon(x, what), S.lat(y, what), extra


def _events(fb: _FastBatch, rows: NDArray[np.int64], kind: int, extra: list[Any]) -> list[Event]:
    """The samples of these rows, in time order: where each places its vessel, and `extra`."""
    lon, lat = _place(fb, rows)
    by_time = np.argsort(fb.t_a[rows], kind="stable").tolist()
    t, m, x, y = fb.t_a[rows].tolist(), fb.mmsi_a[rows].tolist(), lon.tolist(), lat.tolist()
    return [(t[i], kind, m[i], x[i], y[i], extra[i]) for i in by_time]


def _place(fb: _FastBatch, rows: NDArray[np.int64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Where these reports place their vessels (lon, lat; NaN: nowhere yet): a fix that may move the track
    where it is, any other (on land, without a position) at the last trusted position before it."""
    track = fb.track[rows]
    lon: NDArray[np.float64] = np.where(track, fb.lon_a[rows], fb.prev_lon[rows])
    lat: NDArray[np.float64] = np.where(track, fb.lat_a[rows], fb.prev_lat[rows])
    return lon, lat


def jammed(positions: NDArray[Any], valid: NDArray[np.bool_]
           ) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Which reports carry a jamming signature (no position: lat 91 / lon 181, a time stamp of 60 to 63,
    or a sync state not from the station's own GNSS), and which are clean (a position, a time stamp 0 to
    59, sync state 0 or none). The decoder's `second` and `sync_state` (-1: the type has none)."""
    second, sync = positions["second"], positions["sync_state"]
    bad: NDArray[np.bool_] = (~valid | ((second >= JAM_SECOND_MIN) & (second <= JAM_SECOND_MAX))
                              | ((sync >= JAM_SYNC_MIN) & (sync <= JAM_SYNC_MAX)))
    return bad, ~bad
