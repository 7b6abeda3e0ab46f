"""Port calls, anchorage queues and draught changes (issue 12), replayed from simulated feeds on the real
zone file. The truth is the simulator's plan (when each report is sent and where the plan puts the vessel
then) and the zone geometry measured here with shapely, never the engine's own output."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pyais.encode import encode_dict

from monitor.config import load_settings
from monitor.pipeline import Pipeline
from monitor.zones import load_zone_file
from tests.helpers import box, feature, position_lines, synthetic_zones, tagged, write_zones
from tests.oracle import run_state as oracle_run_state
from tests.oracle import use_reference
from tests.scenarios import (
    ANCHORAGE,
    BERTH,
    HOUR,
    OMAN_SEA,
    START,
    T0,
    iso,
    lines_of,
    offset,
    run_lines,
    scenario,
    seconds,
    select,
    zonefile,
)
from tools.simulate import Scenario, VesselPlan, plan_reports, state_at

BAND_M = 150.0  # geofence.hysteresis_m: the tolerance band that keeps a vessel in a zone
EAST_EDGE = (56.56, 25.17)  # on the east edge of fujairah-anchorage (a box from 56.37 to 56.56 E)
CALLER = 538_001_001


def anchorage() -> shapely.Polygon:
    return zonefile().by_id("fujairah-anchorage").geometry


def metres_outside(zone: Any, lon: float, lat: float) -> float:
    """Distance in metres from (lon, lat) to the zone (0 inside), on a local flat projection."""
    k = math.cos(math.radians(lat))
    scaled = shapely.transform(zone, lambda c: c * np.array([k * 111_195.0, 111_195.0]))
    return float(scaled.distance(shapely.Point(lon * k * 111_195.0, lat * 111_195.0)))


def truth(s: Scenario, plan: VesselPlan, zone: Any) -> tuple[float, float]:
    """From the plan: the first report inside the zone and the last one within the band of it."""
    times = plan_reports(s, plan.mmsi)
    places = [(t, state_at(plan, t)) for t in times]
    inside = [t for t, p in places if p is not None and zone.covers(shapely.Point(p.lon, p.lat))]
    near = [t for t, p in places if p is not None and metres_outside(zone, p.lon, p.lat) <= BAND_M]
    return inside[0], near[-1]


def caller(stay_s: float, spot: tuple[float, float] = ANCHORAGE, **kw: Any) -> VesselPlan:
    """Sails 10 km west from the open sea to `spot`, anchors there `stay_s`, sails 10 km back out east."""
    start = offset(spot, 90.0, 10_000.0)
    return VesselPlan(CALLER, [start, spot, start], 10.0, waits={1: stay_s}, anchored=frozenset({1}),
                      name="CALLER", ship_type=80, draught=9.5, **kw)


# ---- port calls ---------------------------------------------------------------------------------------


def test_a_three_hour_stop_at_an_anchorage_is_one_port_call_with_its_times() -> None:
    """Arrival is the first report inside the anchorage, departure the last one within its tolerance
    band (both from the plan and the polygon); one `port_call`, raised after the departure, zone the
    anchorage, info, the draught in and out the plan's."""
    plan = caller(3 * HOUR)
    s = scenario(plan, duration_s=5 * HOUR)
    arrived, departed = truth(s, plan, anchorage())
    alerts = run_lines(lines_of(s))
    calls = select(alerts, "port_call")
    assert len(calls) == 1
    call = calls[0]
    assert call["mmsi"] == CALLER and call["zone"]["id"] == "fujairah-anchorage"
    assert call["details"]["arrived"] == iso(arrived)
    assert abs(seconds(call["details"]["departed"]) - departed) <= 10.0  # (a report at 10 kn: 51 m)
    assert call["details"]["duration_s"] == pytest.approx(
        seconds(call["details"]["departed"]) - arrived, abs=0.01)
    assert call["details"]["duration_s"] > 3 * HOUR
    assert (call["details"]["draught_in"], call["details"]["draught_out"]) == (9.5, 9.5)
    assert departed <= seconds(call["time"]) <= departed + 60.0  # raised as it left, under way
    assert call["severity"] == "info"


def test_a_one_hour_stop_is_no_port_call_and_a_passage_is_none() -> None:
    """An hour at anchor is below traffic.min_call_s (2 h): no port_call; a ship sailing through the
    anchorage for over two hours without stopping makes none either; at a 30-minute minimum the hour's
    stop counts."""
    short = caller(1 * HOUR)
    crossing = VesselPlan(538_001_002, [offset(EAST_EDGE, 90, 2000), offset(EAST_EDGE, 270, 30_000)],
                          5.0)  # 32 km inside the box at 5 kn: over three hours in it, never stopped
    s = scenario(short, crossing, duration_s=6 * HOUR)
    lines = lines_of(s)
    alerts = run_lines(lines)
    assert select(alerts, "zone_enter", 538_001_002)  # (it did go in)
    assert not select(alerts, "port_call")
    shorter = run_lines(lines, env={"MONITOR_TRAFFIC__MIN_CALL_S": "1800"})
    assert [a["mmsi"] for a in select(shorter, "port_call")] == [CALLER]


def drifter(hours: float) -> VesselPlan:
    """At anchor across the anchorage's east edge for `hours`: 10 minutes 400 m inside, then 10 minutes
    400 m outside (beyond the 150 m band), moving between at 2 kn; then away east."""
    inside, outside = offset(EAST_EDGE, 270, 400), offset(EAST_EDGE, 90, 400)
    swings = int(hours * HOUR / (2 * (600 + 800 / (2 * 0.5144))))
    route = [offset(EAST_EDGE, 90, 6000)] + [inside, outside] * swings + [offset(EAST_EDGE, 90, 12_000)]
    waits = dict.fromkeys(range(1, len(route) - 1), 600.0)
    return VesselPlan(CALLER, route, 2.0, waits=waits, anchored=frozenset(waits), name="DRIFTER")


def test_a_vessel_drifting_across_an_anchorage_edge_for_six_hours_makes_one_call() -> None:
    """It enters and leaves the anchorage's polygon (and its band) every few minutes, as `zone_enter` and
    `zone_exit` show, yet makes one port call, from its first entry to its last time inside."""
    plan = drifter(6)
    s = scenario(plan, duration_s=12 * HOUR)
    arrived, departed = truth(s, plan, anchorage())
    alerts = run_lines(lines_of(s))
    exits = [a for a in select(alerts, "zone_exit", CALLER) if a["zone"]["id"] == "fujairah-anchorage"]
    assert len(exits) >= 6  # (one each swing out, the last as it leaves)
    calls = select(alerts, "port_call")
    assert len(calls) == 1
    assert calls[0]["details"]["arrived"] == iso(arrived)
    assert abs(seconds(calls[0]["details"]["departed"]) - departed) <= 600.0  # (at 2 kn, slow reports)
    assert calls[0]["details"]["duration_s"] > 5 * HOUR
    # No grace: every swing out ends the call, and none of those short calls counts.
    assert not select(run_lines(lines_of(s), env={"MONITOR_DETECTORS__PORT_CALL_GRACE_S": "0"}),
                      "port_call")


def test_calls_count_in_the_period_of_their_departure_and_the_queue_is_measured() -> None:
    """Three anchorage calls and one port call; with hourly periods each counts in the hour of its
    departure (from the plans). The anchorage's queue per hour (most at once, time-weighted mean) matches
    the waits the plans give: from the first report at anchor to the first report out at speed."""
    plans = [
        VesselPlan(538_001_010 + k, [offset(ANCHORAGE, 90, 10_000), offset(ANCHORAGE, 0, 500 * k),
                                     offset(ANCHORAGE, 90, 10_000)], 10.0, waits={1: stay},
                   anchored=frozenset({1}), start_s=start)
        for k, (start, stay) in enumerate([(0, 3 * HOUR), (1800, 3.5 * HOUR), (3 * HOUR, 2.5 * HOUR)])
    ]
    berth = VesselPlan(538_001_020, [offset(BERTH, 60, 9000), BERTH, offset(BERTH, 60, 9000)], 10.0,
                       waits={1: 2.5 * HOUR})
    s = scenario(*plans, berth, duration_s=9 * HOUR)
    lines = lines_of(s)
    pipeline = Pipeline(load_settings(None, env={"MONITOR_TRAFFIC__PERIOD": "hour"}), zonefile())
    alerts = [a.to_dict() for i in range(0, len(lines), 700)
              for a in pipeline.process_lines(lines[i : i + 700])]
    stats = next(a for a in pipeline.engine.aggregates if hasattr(a, "stats") and "port" in a.name).stats()
    by_hour: dict[str, int] = {}
    waits: list[tuple[float, float]] = []
    for plan in plans:
        _, departed = truth(s, plan, anchorage())
        hour = iso(math.floor((T0 + departed) / HOUR) * HOUR - T0)
        by_hour[hour] = by_hour.get(hour, 0) + 1
        reports = plan_reports(s, plan.mmsi)
        states = [(t, state_at(plan, t)) for t in reports]
        stopped = next(t for t, p in states if p is not None and p.sog_kn < 1.0)
        gone = next(t for t, p in states if t > stopped and p is not None and p.sog_kn >= 3.0
                    and metres_outside(anchorage(), p.lon, p.lat) > BAND_M)
        waits.append((stopped, gone))
    rows = stats["anchorages"]["fujairah-anchorage"]
    assert {r["start"]: r["port_calls"] for r in rows if r["port_calls"]} == by_hour
    assert len(select(alerts, "port_call")) == 4
    port_rows = stats["ports"]["fujairah"]
    assert sum(r["port_calls"] for r in port_rows) == 1
    first_hour = math.floor(T0 / HOUR) * HOUR - T0
    for r in rows:
        h0 = seconds(r["start"])
        assert h0 >= first_hour
        inside = [(max(a, h0), min(b, h0 + HOUR)) for a, b in waits if a < h0 + HOUR and b > h0]
        mean = sum(b - a for a, b in inside) / HOUR
        marks = sorted({a for a, _ in inside} | {h0})
        most = max((sum(1 for a, b in inside if a <= m < b) for m in marks), default=0)
        assert r["waiting_mean"] == pytest.approx(mean, abs=0.002), r
        assert r["waiting_max"] == most, r
    assert max(r["waiting_max"] for r in rows) >= 2  # (the plans make the waits overlap)


def test_a_restart_mid_call_keeps_the_call() -> None:
    """The state saved while a vessel is at anchor, restored into a new pipeline, keeps its call: the
    rest of the feed gives the same port_call (same id, arrival and departure) as one uninterrupted run."""
    plan = caller(4 * HOUR)
    s = scenario(plan, duration_s=6 * HOUR)
    lines = lines_of(s)
    whole = select(run_lines(lines), "port_call")
    assert len(whole) == 1
    cut = next(i for i, line in enumerate(lines) if int(line.split(b"c:")[1][:10]) > T0 + 2 * HOUR)
    first = Pipeline(load_settings(None, env={}), zonefile())
    before = [a.to_dict() for a in first.process_lines(lines[:cut])]
    assert not select(before, "port_call")
    saved = {k: v for k, v in first.engine.export_state(everything=True).items() if v is not None}
    second = Pipeline(load_settings(None, env={}), zonefile())
    second.engine.import_state(saved)
    after = [a.to_dict() for i in range(cut, len(lines), 500)
             for a in second.process_lines(lines[i : i + 500])]
    assert select(after, "port_call") == whole
    # (The call is in the vessel's saved row, under the detector's name.)
    assert b'"port_call":["fujairah-anchorage"' in saved[f"v:{CALLER}"]


# ---- draught changes ----------------------------------------------------------------------------------

MOTHER = 538_002_001


def static(mmsi: int, t: float, draught: float) -> list[bytes]:
    data = {"type": 5, "mmsi": mmsi, "shipname": "TANKER", "ship_type": 80, "callsign": "TK1",
            "imo": 9_000_001, "ais_version": 0, "destination": "SEA", "draught": draught}
    return [tagged(s, T0 + t, "sim1") for s in
            encode_dict(data, talker_id="AI", sentence_type="VDM", radio_channel="A", seq_id=1)]


def with_statics(lines: list[bytes], mmsi: int, reports: list[tuple[float, float]]) -> list[bytes]:
    """The feed with type 5 reports (time after START, draught) of `mmsi` put in time order."""
    def time_of(line: bytes) -> int:
        return int(line.split(b"c:")[1][:10])

    extra = [(T0 + t, static(mmsi, t, d)) for t, d in reports]
    out: list[bytes] = []
    pending = sorted(extra, key=lambda e: e[0])
    for line in lines:
        while pending and pending[0][0] <= time_of(line):
            out += pending.pop(0)[1]
        out.append(line)
    for _, group in pending:
        out += group
    return out


def at_sea(**kw: Any) -> VesselPlan:
    """A tanker stopped in the Gulf of Oman (open water: a region, no port), reporting every minute; its
    static reports are the test's own (`with_statics`)."""
    return VesselPlan(MOTHER, [OMAN_SEA], 0.3, waits={0: math.inf}, report_interval_s=60.0,
                      name="TANKER", ship_type=80, static_interval_s=1e9, first_static_s=1e9, **kw)


def test_a_draught_rising_three_metres_at_sea_across_a_dark_gap_is_one_draught_change() -> None:
    """10.0 m before a three-hour silence at sea (the region's limit: 2 h), 13.0 m after it: one
    `draught_change` (from 10.0 to 13.0, during_dark, no last port, at least warning), after the vessel's
    `dark` and `reappeared`. Without the silence the same change is not during_dark, and info."""
    silent = at_sea(silences=[(1 * HOUR, 4 * HOUR)])
    reports = [(k * 360.0, 10.0) for k in range(1, 10)] + [(4 * HOUR + 120, 13.0), (4 * HOUR + 480, 13.0)]
    lines = with_statics(lines_of(scenario(silent, duration_s=5 * HOUR)), MOTHER,
                         [r for r in reports if not HOUR <= r[0] < 4 * HOUR])
    alerts = run_lines(lines)
    assert [a["kind"] for a in alerts if a["mmsi"] == MOTHER and a["kind"] in (
        "dark", "reappeared", "draught_change")] == ["dark", "reappeared", "draught_change"]
    change = select(alerts, "draught_change")[0]
    assert change["details"] == {"from": 10.0, "to": 13.0, "during_dark": True, "last_port": None}
    assert change["time"] == iso(4 * HOUR + 120)
    assert change["severity"] == "warning" and change["zone"]["id"] == "gulf-of-oman"
    assert change["position"] is not None

    steady = with_statics(lines_of(scenario(at_sea(), duration_s=5 * HOUR)), MOTHER, reports)
    plain = select(run_lines(steady), "draught_change")
    assert len(plain) == 1 and plain[0]["details"]["during_dark"] is False
    assert plain[0]["severity"] == "info"
    # Half a metre is below the step; a step of 4 m makes the 3 m change nothing.
    small = with_statics(lines_of(scenario(at_sea(), duration_s=5 * HOUR)), MOTHER,
                         [(360.0, 10.0), (4 * HOUR, 10.5)])
    assert not select(run_lines(small), "draught_change")
    assert not select(run_lines(steady, env={"MONITOR_TRAFFIC__DRAUGHT_STEP_M": "4"}), "draught_change")


def test_a_draught_change_during_a_port_call_is_none_and_a_later_one_at_sea_names_the_port() -> None:
    """Loaded at anchor (9.5 m in, 12.5 m reported during the call): no draught_change, and the
    port_call's draught_in and draught_out say so. Two hours after leaving, 12.5 m becomes 9.0 m at sea:
    one draught_change naming the anchorage as last_port."""
    plan = caller(3 * HOUR, static_interval_s=1e9, first_static_s=1e9)  # (its draughts: the test's)
    s = scenario(plan, duration_s=9 * HOUR)
    arrived, departed = truth(s, plan, anchorage())
    reports = [(arrived - 600, 9.5), (arrived + HOUR, 12.5), (departed + 1200, 12.5),
               (departed + 2 * HOUR, 9.0)]
    alerts = run_lines(with_statics(lines_of(s), CALLER, reports))
    call = select(alerts, "port_call")
    assert len(call) == 1
    assert (call[0]["details"]["draught_in"], call[0]["details"]["draught_out"]) == (9.5, 12.5)
    changes = select(alerts, "draught_change")
    assert len(changes) == 1
    assert changes[0]["details"] == {"from": 12.5, "to": 9.0, "during_dark": False,
                                     "last_port": "fujairah-anchorage"}
    assert changes[0]["time"] == iso(departed + 2 * HOUR)


# ---- the fast path ------------------------------------------------------------------------------------


def harbour_zones(tmp_path: Path) -> Any:
    """The toy strait (a port and an anchorage) with a second port inside the anchorage."""
    collection = synthetic_zones()
    collection["features"].append(
        feature("inner-port", "port", {"type": "Polygon", "coordinates": box(57.27, 25.6, 57.3, 25.63)}))
    return load_zone_file(write_zones(tmp_path / "harbours.geojson", collection))


# Four vessels, each fix at one of five places: the anchorage's west edge (57.2) and its middle, the port
# inside it, the port's east edge (55.6) and its middle; drifting in and out, stopped or not, under way now
# and then, silent for a while; static reports with draughts around the step.
SPOTS = [(57.2, 25.65), (57.24, 25.66), (57.285, 25.615), (55.6, 25.95), (55.55, 25.95)]
harbour_fixes = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.sampled_from([None, None, None, 0, 1, 2, 3, 4]),  # (None: the vessel's own spot, k + 1)
        st.sampled_from([0.0, 0.0, 0.001, -0.001]) | st.floats(-0.004, 0.004),
        st.sampled_from([0.0, 0.0, 0.001, -0.001]) | st.floats(-0.004, 0.004),
        st.sampled_from([0, 10, 60, 180, 600, 1900, 3000]),
        st.sampled_from([0.0, 0.4, 0.99, 1.0, 2.0, 2.99, 3.0, 9.0]),
        st.sampled_from([None, None, None, 8.0, 8.5, 9.0, 10.0, 12.3]),
    ),
    min_size=1, max_size=150,
)
Fix = tuple[int, int | None, float, float, int, float, float | None]


def harbour_lines(track: list[Fix]) -> list[bytes]:
    """Position reports of vessel k (MMSI 538000000 + k) at a spot plus (dx, dy), each followed by a
    type 5 with the draught where one is drawn."""
    lines: list[bytes] = []
    t = T0
    for k, spot, dx, dy, dt, sog, draught in track:
        t += dt
        x, y = SPOTS[k + 1 if spot is None else spot]
        lines += position_lines(538000000 + k, x + dx, y + dy, t, sog=sog, cog=90.0)
        if draught is not None:
            data = {"type": 5, "mmsi": 538000000 + k, "shipname": "T", "ship_type": 80, "callsign": "T",
                    "imo": 9_000_001, "ais_version": 0, "destination": "X", "draught": draught}
            lines += [tagged(s, t) for s in encode_dict(data, talker_id="AI", sentence_type="VDM",
                                                         radio_channel="A", seq_id=1)]
    return lines


def run_state(lines: list[bytes], fast: bool, batch: int, zones: Any, env: dict[str, str]
              ) -> tuple[list[dict[str, Any]], dict[str, bytes | None]]:
    return oracle_run_state(load_settings(None, env=env), zones, lines, batch, fast)


SHORT_CALLS = {"MONITOR_TRAFFIC__MIN_CALL_S": "600", "MONITOR_TRAFFIC__PERIOD": "hour"}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(track=harbour_fixes, batch=st.integers(1, 30))
# A call opened under way whose first stopped fix comes in a later batch (it begins waiting).
@example(track=[(0, 1, 0.0, 0.0, 0, 9.0, None), (0, 1, 0.0, 0.0, 10, 9.0, None),
                (0, 1, 0.0, 0.0, 10, 0.0, None), (0, 1, 0.0, 0.0, 10, 0.0, None)], batch=1)
def test_fast_path_equals_reference_in_ports_and_anchorages(
    tmp_path: Path, track: list[Fix], batch: int
) -> None:
    """Calls opening, continuing quietly (the fast path carries their fixes), ending under way, after the
    grace or in the port inside the anchorage, with draughts reported in and out of them: identical
    alerts and identical saved state on both paths, whatever the batch size."""
    zones = harbour_zones(tmp_path)
    lines = harbour_lines(track)
    assert run_state(lines, True, batch, zones, SHORT_CALLS) == run_state(lines, False, batch, zones,
                                                                          SHORT_CALLS)


def test_vessels_at_anchor_do_not_take_the_per_fix_step_on_every_fix(monkeypatch: pytest.MonkeyPatch
                                                                     ) -> None:
    """Twenty ships at anchor for ten hours, reporting every 3 minutes: the fast path gives the per-fix
    step a handful of their fixes (arrival, first stop, leaving), not the 200 each sends at anchor; and
    the reference path agrees on the alerts."""
    from monitor.engine import Engine

    plans = [VesselPlan(538_003_000 + k, [offset(ANCHORAGE, 90, 10_000), offset(ANCHORAGE, 0, 400 * k),
                                          offset(ANCHORAGE, 90, 10_000)], 10.0, waits={1: 10 * HOUR},
                        anchored=frozenset({1})) for k in range(20)]
    s = Scenario(start=START, duration_s=13 * HOUR, vessels=plans)
    lines = lines_of(s)
    at_anchor = {p.mmsi: [t for t in plan_reports(s, p.mmsi) if (st_ := state_at(p, t)) and st_.sog_kn == 0]
                 for p in plans}
    step = Engine._report
    taken: dict[int, int] = {}

    def counted(self: Engine, v: Any, t: float, *rest: Any) -> None:
        if t - T0 > 3 * HOUR and t - T0 < 9 * HOUR:  # (well inside every stay)
            taken[v.mmsi] = taken.get(v.mmsi, 0) + 1
        step(self, v, t, *rest)

    monkeypatch.setattr(Engine, "_report", counted)
    fast = run_lines(lines, batch=2048)
    assert all(len(times) > 150 for times in at_anchor.values())
    assert sum(taken.values()) <= 20  # (none, but for the feed's batch boundaries)
    monkeypatch.setattr(Engine, "_report", step)
    p = use_reference(Pipeline(load_settings(None, env={}), zonefile()))
    reference = [a.to_dict() for i in range(0, len(lines), 2048)
                 for a in p.process_lines(lines[i : i + 2048])]
    assert fast == reference
    assert len(select(fast, "port_call")) == 20


# ---- saved state and statistics -----------------------------------------------------------------------


def port_stats(pipeline: Pipeline) -> Any:
    return next(a for a in pipeline.engine.aggregates if a.name == "port_stats")


def test_the_queue_under_way_is_in_the_statistics_and_survives_a_restore_under_other_settings(
    tmp_path: Path,
) -> None:
    """Mid-call, the anchorage's row counts the vessel waiting since its first report at anchor (the plan)
    up to the feed clock (the last line's time). Restored with hourly periods the daily rows are dropped
    but the call goes on to its port_call; restored under a zone file without the anchorage the call is
    dropped; a saved period that is neither day nor hour is refused, naming it."""
    from monitor.savedstate import StateError

    plan = caller(4 * HOUR)
    s = scenario(plan, duration_s=6 * HOUR)
    lines = lines_of(s)
    cut = next(i for i, line in enumerate(lines) if int(line.split(b"c:")[1][:10]) > T0 + 2 * HOUR)
    first = Pipeline(load_settings(None, env={}), zonefile())
    first.process_lines(lines[:cut])
    now = int(lines[cut - 1].split(b"c:")[1][:10]) - T0
    stopped = next(t for t in plan_reports(s, CALLER) if (p := state_at(plan, t)) and p.sog_kn == 0)
    (row,) = port_stats(first).stats()["anchorages"]["fujairah-anchorage"]
    day = math.floor(T0 / 86_400) * 86_400 - T0
    assert row == {"start": iso(day), "port_calls": 0, "waiting_max": 1,
                   "waiting_mean": pytest.approx((now - stopped) / (now - day), abs=1e-3)}
    saved = {k: v for k, v in first.engine.export_state(everything=True).items() if v is not None}

    hourly = Pipeline(load_settings(None, env={"MONITOR_TRAFFIC__PERIOD": "hour"}), zonefile())
    hourly.engine.import_state(saved)
    rows = port_stats(hourly).stats()["anchorages"]["fujairah-anchorage"]
    # (The days' rows are gone; the hours of the wait so far are counted again from the vessel.)
    first_hour = math.floor((T0 + stopped) / HOUR) * HOUR - T0
    assert [r["start"] for r in rows] == [iso(h) for h in np.arange(first_hour, now, HOUR)]
    assert {r["waiting_max"] for r in rows} == {1}
    after = [a.to_dict() for a in hourly.process_lines(lines[cut:])]
    assert len(select(after, "port_call", CALLER)) == 1

    import json

    raw = json.loads(default_zone_text())
    raw["features"] = [f for f in raw["features"] if f["properties"]["id"] != "fujairah-anchorage"]
    edited = load_zone_file(write_zones(tmp_path / "edited.geojson", raw))
    without = Pipeline(load_settings(None, env={}), edited)
    without.engine.import_state(saved)
    assert without.engine.vessels[CALLER].pc_zone is None
    assert not select([a.to_dict() for a in without.process_lines(lines[cut:])], "port_call")

    bad = dict(saved)
    engine_row = json.loads(bad["engine"])
    engine_row["port_calls"]["period"] = "week"
    bad["engine"] = json.dumps(engine_row).encode()
    with pytest.raises(StateError, match=r"port_calls\.period"):
        Pipeline(load_settings(None, env={}), zonefile()).engine.import_state(bad)


def default_zone_text() -> str:
    from monitor.zones import default_zone_path

    return default_zone_path().read_text()


def test_a_vessel_forgotten_at_anchor_stops_waiting_and_old_rows_are_let_go(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A ship at anchor that falls silent for good is forgotten after state.forget_after_s: from then on
    it no longer counts as waiting (the next hours' rows are empty), and no port call is counted for it.
    Only the newest KEEP_ROWS periods are kept per zone."""
    from monitor.detectors import port_call

    monkeypatch.setattr(port_call, "KEEP_ROWS", 3)
    plan = caller(math.inf, end_s=2 * HOUR)
    s = scenario(plan, duration_s=9 * HOUR)
    env = {"MONITOR_TRAFFIC__PERIOD": "hour", "MONITOR_STATE__FORGET_AFTER_S": str(3 * HOUR)}
    pipeline = Pipeline(load_settings(None, env=env), zonefile())
    lines = lines_of(s)
    for i in range(0, len(lines), 20):  # (20 minutes of the clock vessel's reports)
        pipeline.process_lines(lines[i : i + 20])
    assert CALLER not in pipeline.engine.vessels
    rows = port_stats(pipeline).stats()["anchorages"]["fujairah-anchorage"]
    assert len(rows) == 3 and all(r["port_calls"] == 0 for r in rows)
    # Forgotten between 5 and 6 hours in (3 h after its last report, looked for once an hour).
    assert rows[-1]["waiting_max"] == 1 and seconds(rows[-1]["start"]) <= 6 * HOUR
