"""`traffic_drop` and `traffic_recovery`: transits per strait and period, against their baseline.

An aggregate detector (monitor.detectors.base.AggregateDetector) fed every alert: each `transit` counts
in the UTC period (day or hour, `traffic.period`) in which it completes (its alert's time, the second
gate), by direction and by ship class, tankers also laden or ballast (CONTRACT "Ship classes" and
"Traffic statistics"). A vessel's transit counts once even if it crosses the strait again within
`traffic.recount_after_s` (48 h, as IMF PortWatch counts): a tanker that turns round at Ras Tanura and
comes back out the next day made one passage of interest, not two. The window runs from the last
*counted* transit, so a shuttle is counted once per window, never zero times.

Periods close on the feed clock (`next_due`/`wake`), so a replay and the live daemon close the same
periods at the same feed times, and a recording with a gap of days gets its empty days as zero rows.

The baseline of a period is the median (or mean, `traffic.baseline_method`) of the previous
`traffic.baseline_periods` closed periods: the median, because the collapse day itself must not drag the
baseline down and hide the next one. A drop is judged on the total and, separately, on tankers (the
desk's question is "is the oil still flowing?"), one alert per strait per episode; the episode ends with
the first closed period back at `traffic.recovery_ratio` on both.

Per-vessel facts it needs beyond the engine's (the hull length, the deepest draught heard) are fields
of this detector on the Vessel, saved in the vessel's row under its name: no new state version.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field as Setting
from pydantic import model_validator
from shapely.ops import nearest_points

from monitor import savedstate as S
from monitor.alerts import Alert, alert_id, iso_time
from monitor.detectors.base import KNOT, AggregateDetector, Field
from monitor.detectors.escalation import Escalation
from monitor.geo import haversine_m
from monitor.settings_base import Seconds, Section

if TYPE_CHECKING:
    from monitor.engine import Engine

PERIOD_S: dict[str, float] = {"day": 86_400.0, "hour": 3_600.0}
CLASSES = ("tanker", "cargo", "passenger", "other", "unknown")
DIRECTIONS = ("inbound", "outbound")
# A period's counts: one list of ints in this order (compact in the saved state and cheap to copy).
TOTAL, INBOUND, OUTBOUND = 0, 1, 2
CLASS_AT = {c: 3 + i for i, c in enumerate(CLASSES)}
LADEN, BALLAST = 8, 9
WIDTH = 10
# Closed periods kept per strait by the daemon (in memory and in the saved state, which is written with
# every batch): two months of days, enough for any baseline and the page's chart. `stats` keeps all.
KEEP = 62
# A crude tanker's summer draught is about this share of its length (CONTRACT "Ship classes").
DRAUGHT_PER_LENGTH = 0.065


def ship_class(ship_type: int | None) -> str:
    """CONTRACT's class of an AIS ship type; `unknown` when no type was heard."""
    if ship_type is None:
        return "unknown"
    tens = ship_type // 10
    return "tanker" if tens == 8 else "cargo" if tens == 7 else "passenger" if tens == 6 else "other"


class TrafficSettings(Section):
    """[traffic]: transit and port-call statistics and the traffic alerts (CONTRACT "Traffic statistics").
    `min_call_s` and `draught_step_m` belong to the port calls and `draught_change`."""

    period: Literal["day", "hour"] = "day"  # UTC days or hours
    # A vessel's transits within this long of its last counted one are not counted again.
    recount_after_s: Seconds = Setting(default=172_800.0, ge=0)
    baseline_periods: int = Setting(default=7, ge=1, le=KEEP - 1)
    baseline_method: Literal["median", "mean"] = "median"
    drop_ratio: float = Setting(default=0.5, gt=0, le=1, allow_inf_nan=False)
    recovery_ratio: float = Setting(default=0.7, gt=0, le=1, allow_inf_nan=False)
    # A tanker is laden when its draught is at least this share of its reference draught.
    laden_ratio: float = Setting(default=0.7, gt=0, le=1, allow_inf_nan=False)
    min_call_s: Seconds = Setting(default=7_200.0, ge=0)  # a port call needs a stop this long
    draught_step_m: float = Setting(default=1.0, gt=0, allow_inf_nan=False)  # draught_change's step

    @model_validator(mode="after")
    def _recovery_above_drop(self) -> TrafficSettings:
        # Below the drop threshold a "recovered" period could still be a dropped one: alerts would flap.
        if self.recovery_ratio < self.drop_ratio:
            raise ValueError("recovery_ratio must not be below drop_ratio")
        return self


class _Strait:
    """One strait's counts: the running period, the closed ones, its drop episode, whom it counted."""

    __slots__ = ("counted", "current", "drop_period", "dropped", "history", "index", "lonlat",
                 "min_transit_s", "sid")

    def __init__(self, sid: str, index: int, lonlat: tuple[float, float], min_transit_s: float,
                 keep: int | None) -> None:
        self.sid = sid
        self.index = index  # the strait's zone index (an alert's zone)
        self.lonlat = lonlat  # where the posture's rules place its drop
        self.min_transit_s = min_transit_s
        self.current = [0] * WIDTH
        # Closed periods, oldest first: (start, counts, total baseline or None).
        self.history: deque[tuple[float, list[int], float | None]] = deque(maxlen=keep)
        self.dropped = False  # in a drop episode
        self.drop_period: float | None = None  # the period whose drop opened it
        self.counted: dict[int, float] = {}  # MMSI -> time of its last counted transit


class Traffic(AggregateDetector):
    name = "traffic"
    section = "traffic"
    severity = {
        "traffic_drop": ("warning", "warning", "critical", "critical"),
        "traffic_recovery": ("info", "info", "info", "warning"),
    }
    counted_by_rules = ("traffic_drop",)
    # What a tanker's laden/ballast call needs of the vessel: its length (AIS dimensions, types 5 and 24
    # part B) and the deepest draught heard from it. The engine fuses them with each static report.
    fields: ClassVar[tuple[Field, ...]] = (
        Field("length", None, S.integer(1, 1022, nullable=True), urgent=False),
        Field("draught_max", None, S.opt_draught, urgent=False),
    )

    def __init__(self, engine: Engine, keep: int | None = KEEP) -> None:
        super().__init__(engine)
        self.settings = TrafficSettings()
        self.keep = keep
        self.start: float | None = None  # the running period's start (None: the clock has not started)
        self.checked = False  # the running period's early check (see _early) done
        self.changes = 0  # bumped on every change of the counts (the publisher's cue)
        # Transits counted since start, by strait, direction and class (Prometheus counters).
        self.totals: dict[str, list[int]] = {}
        self.straits: dict[str, _Strait] = {}
        self._build()

    def configure(self, settings: TrafficSettings) -> None:
        self.settings = settings

    def keep_everything(self) -> None:
        """Keep every closed period (`stats` over a recording), not the daemon's last KEEP."""
        self.keep = None
        for st in self.straits.values():
            st.history = deque(st.history)

    @property
    def period_s(self) -> float:
        return PERIOD_S[self.settings.period]

    def _build(self) -> None:
        for s in self.e.geofence.straits:
            outer, inner = (g.zone.geometry for g in s.gates)
            a, b = nearest_points(outer, inner)
            # The shortest run from one gate to the other at the fastest speed a trusted track can move
            # (a faster move is a position_jump and moves nothing): no transit completes sooner after its
            # first gate. 0.9: the nearest points are found in degrees, not metres.
            gap_m = 0.9 * haversine_m(a.x, a.y, b.x, b.y)
            min_transit = gap_m / (self.e.det.jump_speed_kn * KNOT)
            c = s.zone.geometry.representative_point()
            self.straits[s.zone.id] = _Strait(s.zone.id, s.index, (c.x, c.y), min_transit, self.keep)
            self.totals[s.zone.id] = [0] * (len(DIRECTIONS) * len(CLASSES))

    # ---- counting ------------------------------------------------------------------------------------
    def observe(self, alert: Alert, alerts: list[Alert]) -> None:
        if alert.kind != "transit" or alert.zone is None or alert.mmsi is None:
            return
        st = self.straits.get(alert.zone["id"])
        if st is None:  # pragma: no cover (every strait of the zone file has its entry)
            return
        t = alert.time
        last = st.counted.get(alert.mmsi)
        if last is not None and t - last < self.settings.recount_after_s:
            return  # crossed again within the window: the same passage, for the statistics
        row = self._counts_of(st, t)
        if row is None:
            return  # completed in a period no longer kept (a very late report)
        st.counted[alert.mmsi] = t
        v = self.e.vessels.get(alert.mmsi)
        cls = ship_class(None if v is None else v.ship_type)
        direction = alert.details["direction"]
        row[TOTAL] += 1
        row[INBOUND if direction == "inbound" else OUTBOUND] += 1
        row[CLASS_AT[cls]] += 1
        if cls == "tanker" and v is not None:
            laden = self.laden(v.draught, v.draught_max, v.length)
            if laden is not None:
                row[LADEN if laden else BALLAST] += 1
        self.totals[st.sid][DIRECTIONS.index(direction) * len(CLASSES) + CLASSES.index(cls)] += 1
        self.changes += 1

    def laden(self, draught: float | None, deepest: float | None, length: int | None) -> bool | None:
        """CONTRACT: laden when the draught is at least laden_ratio of the reference draught (the deepest
        heard, or DRAUGHT_PER_LENGTH of the length, whichever is deeper); None when no draught is known."""
        if draught is None:
            return None
        reference = max(deepest or 0.0, DRAUGHT_PER_LENGTH * (length or 0), draught)
        return draught >= self.settings.laden_ratio * reference

    def _counts_of(self, st: _Strait, t: float) -> list[int] | None:
        """The strait's counts of the period holding `t`, or None if that period is no longer kept."""
        if self.start is None:
            self.start = self._floor(t)
        if t >= self.start:
            # (A transit is never timed after the clock, and the clock never passes an open period's end.)
            return st.current
        p = self._floor(t)
        for start, counts, _ in st.history:
            if start == p:
                # A late report of a closed period amends its row (the statistics stay right); the alerts
                # judged on that period stand.
                return counts
        return None

    def _floor(self, t: float) -> float:
        return math.floor(t / self.period_s) * self.period_s

    # ---- the clock -----------------------------------------------------------------------------------
    def _check_at(self) -> float:
        """When the running period can first be judged before it closes (math.inf: not before).

        "Can no longer reach the threshold", soundly: a transit that completes at time u began at its first
        gate no earlier than u - min_transit_s (the gates' distance at the fastest trusted speed). So from
        end - min_transit_s on, only the vessels already past their first gate (an open entry in
        `Vessel.transit`) can still complete one before the period ends, each at most once; the count plus
        those vessels is an upper bound of the period's final count. If even that bound is below the
        threshold the drop is certain now. (It assumes the feed is in time order, as the clock rules keep
        it within a feed: a report far behind the clock completing a transit is counted but was not
        foreseen.)"""
        if self.start is None or self.checked or not self.straits:
            return math.inf
        end = self.start + self.period_s
        # (Later is as sound: on a whole minute, for readable alert times.)
        at = math.ceil((end - min(st.min_transit_s for st in self.straits.values())) / 60.0) * 60.0
        return at if self.start < at < end else math.inf

    def next_due(self) -> float:
        if self.start is None:
            # Not started: the first clock reading opens the first period (so a recording's leading quiet
            # periods are rows too).
            return self.e.now if math.isfinite(self.e.now) else math.inf
        return min(self.start + self.period_s, self._check_at())

    def wake(self, t: float, alerts: list[Alert]) -> None:
        if self.start is None:
            self.start = self._floor(t)
            self.changes += 1
            return
        if t < self.start + self.period_s:
            self.checked = True
            self._early(t, alerts)
            return
        end = self.start + self.period_s
        for st in self.straits.values():
            self._close(st, end, alerts)
        self.start = end
        self.checked = False
        cutoff = end - self.settings.recount_after_s
        for st in self.straits.values():
            st.counted = {m: c for m, c in st.counted.items() if c > cutoff}
        self.changes += 1

    def _baselines(self, st: _Strait) -> tuple[float, float] | None:
        """The total and tanker baselines of the running period; None without enough history."""
        n = self.settings.baseline_periods
        if len(st.history) < n:
            return None
        rows = [counts for _, counts, _ in list(st.history)[-n:]]
        average = statistics.median if self.settings.baseline_method == "median" else statistics.fmean
        return (float(average([r[TOTAL] for r in rows])),
                float(average([r[CLASS_AT["tanker"]] for r in rows])))

    def _by_class_baselines(self, st: _Strait) -> dict[str, float]:
        n = self.settings.baseline_periods
        rows = [counts for _, counts, _ in list(st.history)[-n:]]
        average = statistics.median if self.settings.baseline_method == "median" else statistics.fmean
        return {c: float(average([r[CLASS_AT[c]] for r in rows])) for c in CLASSES}

    def _below(self, total: int, tankers: int, base: tuple[float, float], ratio: float) -> bool:
        b_total, b_tankers = base
        return (b_total > 0 and total < ratio * b_total) or (b_tankers > 0 and tankers < ratio * b_tankers)

    def _early(self, t: float, alerts: list[Alert]) -> None:
        """The running period, judged before it closes (see _check_at)."""
        for st in self.straits.values():
            base = self._baselines(st)
            if base is None or st.dropped:
                continue
            pending = sum(1 for v in self.e.vessels.values() if st.index in v.transit)
            row = st.current
            if self._below(row[TOTAL] + pending, row[CLASS_AT["tanker"]] + pending, base,
                           self.settings.drop_ratio):
                assert self.start is not None
                self._raise("traffic_drop", st, t, self.start, row, base, alerts)

    def _close(self, st: _Strait, end: float, alerts: list[Alert]) -> None:
        start = end - self.period_s
        row = st.current
        base = self._baselines(st)
        if base is not None:
            s = self.settings
            if not st.dropped:
                if self._below(row[TOTAL], row[CLASS_AT["tanker"]], base, s.drop_ratio):
                    self._raise("traffic_drop", st, end, start, row, base, alerts)
            elif st.drop_period == start or self._below(row[TOTAL], row[CLASS_AT["tanker"]], base,
                                                          s.recovery_ratio):
                self._escalate(st, end, alerts)  # still down: the raised posture holds on
            else:
                self._raise("traffic_recovery", st, end, start, row, base, alerts)
        st.history.append((start, row, None if base is None else base[0]))
        st.current = [0] * WIDTH

    def _raise(self, kind: str, st: _Strait, t: float, start: float, row: list[int],
               base: tuple[float, float], alerts: list[Alert]) -> None:
        e = self.e
        by_class_base = self._by_class_baselines(st)
        details: dict[str, Any] = {
            "period": iso_time(start),
            "count": row[TOTAL],
            "baseline": base[0],
            "ratio": _ratio(row[TOTAL], base[0]),
            "by_class": {
                c: {"count": row[CLASS_AT[c]], "baseline": by_class_base[c],
                    "ratio": _ratio(row[CLASS_AT[c]], by_class_base[c])}
                for c in CLASSES
            },
            "by_direction": {"inbound": row[INBOUND], "outbound": row[OUTBOUND]},
        }
        alerts.append(
            Alert(
                id=alert_id(kind, None, st.sid, iso_time(start)),
                kind=kind,
                severity=e.posture.limits.severity[kind],
                posture=e.posture.level,
                time=t,
                mmsi=None,
                vessel=None,
                zone=e.geofence.zone_dicts[st.index],
                position=None,
                details=details,
            )
        )
        if kind == "traffic_drop":
            st.dropped, st.drop_period = True, start
            name = e.geofence.zone_dicts[st.index]["name"]
            self._escalate(st, t, alerts, f"traffic drop in {name}: {row[TOTAL]} transits "
                           f"({row[CLASS_AT['tanker']]} tankers) in the {self.settings.period} from "
                           f"{iso_time(start)}, baseline {base[0]:g} (tankers {base[1]:g})")
        else:
            st.dropped, st.drop_period = False, None
        self.changes += 1

    def _escalate(self, st: _Strait, t: float, alerts: list[Alert], reason: str | None = None) -> None:
        """Feed the posture's rules (a rule on `traffic_drop`, by default to ELEVATED): at the drop, and at
        every closed period still down, so the raised level lasts the episode plus the rule's quiet
        period. The strait stands in for the vessel a rule counts (1 + its zone index: an MMSI the saved
        posture accepts), at a point of it."""
        lon, lat = st.lonlat
        self.e.aggregate(Escalation).count("traffic_drop", t, 1 + st.index, lon, lat, alerts, reason)

    # ---- output ---------------------------------------------------------------------------------------
    def rows(self, st: _Strait) -> list[dict[str, Any]]:
        """The strait's kept periods, oldest first, the running one last (CONTRACT's rows)."""
        out = [_row(start, counts, base) for start, counts, base in st.history]
        if self.start is not None:
            base = self._baselines(st)
            out.append(_row(self.start, st.current, None if base is None else base[0]))
        return out

    def stats(self) -> dict[str, Any]:
        return {"straits": {sid: self.rows(st) for sid, st in self.straits.items()}}

    def latest(self, sid: str) -> dict[str, Any]:
        """The retained MQTT message of a strait: the running and the previous period."""
        rows = self.rows(self.straits[sid])
        return {
            "period": self.settings.period,
            "strait": sid,
            "current": rows[-1] if rows else None,
            "previous": rows[-2] if len(rows) > 1 else None,
        }

    # ---- saved state ----------------------------------------------------------------------------------
    def global_state(self) -> dict[str, Any]:
        return {
            "traffic": {
                "period": self.settings.period,
                "start": self.start,
                "checked": self.checked,
                "totals": self.totals,
                "straits": {
                    sid: {
                        "current": st.current,
                        "history": [[start, counts, base] for start, counts, base in st.history],
                        "dropped": st.dropped,
                        "drop_period": st.drop_period,
                        "counted": [[m, t] for m, t in st.counted.items()],
                    }
                    for sid, st in self.straits.items()
                },
            }
        }

    @staticmethod
    def read_global(g: dict[str, Any]) -> Any:
        saved = g.get("traffic")
        if saved is None:
            return None
        x = S.mapping(saved, "traffic")
        period = x.get("period")
        if period not in PERIOD_S:
            raise S.BadValue(f"traffic.period: {period!r:.20}")
        straits: dict[str, dict[str, Any]] = {}
        for sid, raw in S.mapping(x.get("straits", {}), "traffic.straits").items():
            s = S.mapping(raw, "traffic.strait")
            history = []
            for item in S.items(s.get("history", []), "traffic.history"):
                start, counts, base = S.items(item, "traffic.history", 3)
                history.append((S.time(start, "traffic.history"), _counts(counts, WIDTH),
                                None if base is None else float(S.metres(base, "traffic.baseline"))))
            straits[S.text(sid, "traffic.straits")] = {
                "current": _counts(s.get("current", [0] * WIDTH), WIDTH),
                "history": history,
                "dropped": S.boolean(s.get("dropped", False), "traffic.dropped"),
                "drop_period": S.opt_time(s.get("drop_period"), "traffic.drop_period"),
                "counted": {
                    S.mmsi(m, "traffic.counted"): S.time(t, "traffic.counted")
                    for m, t in (S.items(p, "traffic.counted", 2)
                                 for p in S.items(s.get("counted", []), "traffic.counted"))
                },
            }
        totals = {S.text(sid, "traffic.totals"): _counts(c, len(DIRECTIONS) * len(CLASSES))
                  for sid, c in S.mapping(x.get("totals", {}), "traffic.totals").items()}
        return {"period": period, "start": S.opt_time(x.get("start"), "traffic.start"),
                "checked": S.boolean(x.get("checked", False), "traffic.checked"),
                "straits": straits, "totals": totals}

    def restore_global(self, checked: Any) -> None:
        if checked is None:
            return
        for sid, counts in checked["totals"].items():
            if sid in self.totals:
                self.totals[sid] = counts
        same_period = checked["period"] == self.settings.period
        for sid, saved in checked["straits"].items():
            st = self.straits.get(sid)
            if st is None:
                continue  # a strait the zone file no longer has
            st.counted = saved["counted"]
            if same_period:  # (periods of another length cannot be continued: they start again)
                st.current = saved["current"]
                st.history.extend(saved["history"])
                st.dropped, st.drop_period = saved["dropped"], saved["drop_period"]
        if same_period:
            self.start, self.checked = checked["start"], checked["checked"]


_COUNT = S.integer(0, 2**40)


def _counts(x: Any, width: int) -> list[int]:
    counts = S.items(x, "traffic counts", width)
    return [int(_COUNT(c, "traffic count") or 0) for c in counts]


def _ratio(count: int, baseline: float | None) -> float | None:
    return None if not baseline else round(count / baseline, 3)


def _row(start: float, counts: Sequence[int], baseline: float | None) -> dict[str, Any]:
    return {
        "start": iso_time(start),
        "transits": counts[TOTAL],
        "by_direction": {"inbound": counts[INBOUND], "outbound": counts[OUTBOUND]},
        "by_class": {c: counts[CLASS_AT[c]] for c in CLASSES},
        "tankers": {"laden": counts[LADEN], "ballast": counts[BALLAST]},
        "baseline": baseline,
        "ratio": _ratio(counts[TOTAL], baseline),
    }


def traffic_stats(engine: Engine) -> dict[str, Any]:
    """CONTRACT's statistics object (`stats --format json`, GET /api/traffic): every aggregate detector
    that keeps statistics contributes its sections (`stats()`), so the transits here and the port calls
    of another detector merge without either knowing the other."""
    period = "day"
    out: dict[str, Any] = {"straits": {}, "ports": {}, "anchorages": {}}
    for aggregate in engine.aggregates:
        if isinstance(aggregate, Traffic):
            period = aggregate.settings.period
        stats = getattr(aggregate, "stats", None)
        if stats is not None:
            for section, by_id in stats().items():
                out.setdefault(section, {}).update(by_id)
    return {"period": period, **out}


_AREAS = {"straits": "strait", "ports": "port", "anchorages": "anchorage"}


def _flat(row: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    # Nested objects by their leaf names (inbound, tanker, laden, ...): plain column names for a
    # spreadsheet, and none repeats across the objects of a row.
    for key, value in row.items():
        if isinstance(value, dict):
            _flat(value, out)
        else:
            out[key] = value
    return out


def stats_csv(stats: dict[str, Any]) -> str:
    """`stats --format csv`: the JSON's rows flattened, one header line (every column any row has, in the
    order first met), a row per area and period: `area` (strait, port, anchorage), `id`, then the row."""
    import csv
    import io

    rows: list[dict[str, Any]] = []
    for section, area in _AREAS.items():
        for zid, periods in stats.get(section, {}).items():
            rows.extend(_flat(p, {"area": area, "id": zid}) for p in periods)
    header: dict[str, None] = {"area": None, "id": None}
    for r in rows:
        header.update(dict.fromkeys(r))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(header), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
