"""The behaviour detectors, replayed from feeds the package's simulator writes, on the real zone file.

Each detector kind gets its event (kind, count, time on the feed clock, severity, posture, details, zone)
and its negative controls. Expected times and distances come from the simulated feed itself (tag-block
times, positions decoded with pyais) and the documented limits, never from the engine's own output.
Scenarios hold only the vessels a test needs plus, where the feed clock must keep running, one moored
"clock" vessel in Fujairah port.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import shapely

from monitor.config import load_settings
from monitor.pipeline import Pipeline
from tests.scenarios import (
    ANCHORAGE,
    BERTH,
    CLOCK_MMSI,
    HOUR,
    INLAND,
    LANE_EAST,
    LANE_MID,
    LANE_WEST,
    MINUTE,
    OMAN_SEA,
    PORT_ON_LAND,
    START,
    STRAIT_OPEN,
    T0,
    clock_vessel,
    fixes,
    haversine_km,
    heard,
    iso,
    kinds_of,
    lines_of,
    offset,
    replay_cli,
    run,
    run_lines,
    scenario,
    seconds,
    select,
    zonefile,
    zones_at,
)
from tools.simulate import ROUTES, Scenario, VesselPlan, plan_reports, state_at

KNOT_MS = 1852.0 / 3600.0
ANCHOR_RATE_S = 180.0  # ITU-R M.1371: class A at anchor reports every 3 minutes
ZONE_KINDS = ("zone_enter", "zone_exit", "transit")


def lane_sailer(mmsi: int, **kw: Any) -> VesselPlan:
    """A tanker sailing the inbound lane's middle stretch westward (with the traffic) at 5 kn."""
    return VesselPlan(mmsi, [LANE_EAST, LANE_WEST], 5.0, name="LANE SAILER", ship_type=80, **kw)


def waiting(
    mmsi: int,
    spot: tuple[float, float],
    wait_s: float,
    *,
    leave_bearing: float = 270.0,
    anchored: bool = True,
    **kw: Any,
) -> VesselPlan:
    """A ship stopped at `spot` for `wait_s` (at anchor, or moored), then sailing 5 km away at 10 kn."""
    route = [spot, offset(spot, leave_bearing, 5000.0)]
    kw.setdefault("noise_m", 10.0)
    return VesselPlan(
        mmsi, route, 10.0, waits={0: wait_s}, anchored=frozenset({0} if anchored else ()), ship_type=80, **kw
    )


def only(alerts: list[dict[str, Any]], kind: str, mmsi: int | None = None) -> dict[str, Any]:
    got = select(alerts, kind, mmsi)
    assert len(got) == 1, f"expected one {kind} for {mmsi}, got {len(got)}: {got}"
    return got[0]


def test_places_lie_where_the_tests_say() -> None:
    """The coordinates the scenarios use are inside (and outside) the zones the tests rely on."""
    for lane_point in (LANE_EAST, LANE_WEST, LANE_MID):
        assert {"hormuz-tss-inbound", "strait-of-hormuz"} <= zones_at(lane_point)
    assert zonefile().by_id("hormuz-tss-inbound").bearing == 287.0
    assert "strait-of-hormuz" in zones_at(STRAIT_OPEN)
    assert not {"hormuz-tss-inbound", "hormuz-tss-outbound", "hormuz-tss-separation"} & zones_at(STRAIT_OPEN)
    assert zones_at(OMAN_SEA) == {"gulf-of-oman"}
    assert {"fujairah-anchorage", "gulf-of-oman"} <= zones_at(ANCHORAGE)
    assert "fujairah" in zones_at(BERTH) and "land-1" not in zones_at(BERTH)
    assert {"fujairah", "land-1"} <= zones_at(PORT_ON_LAND)
    assert "land-1" in zones_at(INLAND)
    assert not {z.id for z in zonefile().of_kind("port")} & zones_at(INLAND)
    land = zonefile().by_id("land-1").geometry
    # Well inland: about 30 km (0.3 degrees) from the nearest coast.
    assert shapely.Point(INLAND).distance(land.boundary) > 0.25


# ---- dark / reappeared ---------------------------------------------------------------------------------

DARK = 538_000_101


def test_dark_in_a_lane_is_raised_45_minutes_after_the_last_report_on_the_feed_clock() -> None:
    """A vessel that goes silent in the inbound lane and never reappears gets exactly one `dark`, timed
    45 minutes (NORMAL) after its last message, raised as soon as other traffic moves the feed clock
    past that moment; details name the last message time and the silence; severity warning."""
    s = scenario(lane_sailer(DARK, end_s=600), duration_s=2 * HOUR)
    lines = lines_of(s)
    last = heard(lines, DARK)[-1]
    last_fix = fixes(lines, DARK)[-1]
    # Replay in small batches and note the feed time of the batch that brought the alert out.
    pipeline = Pipeline(load_settings(None, env={}), zonefile())
    alerts: list[dict[str, Any]] = []
    raised_at: float | None = None
    for i in range(0, len(lines), 20):
        got = [a.to_dict() for a in pipeline.process_lines(lines[i : i + 20])]
        if raised_at is None and select(got, "dark"):
            assert pipeline.feed_time is not None
            raised_at = pipeline.feed_time - T0
        alerts += got
    dark = only(alerts, "dark", DARK)
    assert dark["time"] == iso(last + 45 * MINUTE)
    assert dark["details"]["last_seen"] == iso(last)
    assert dark["details"]["silent_s"] == 2700.0
    assert dark["severity"] == "warning" and dark["posture"] == "NORMAL"
    assert dark["zone"]["id"] == "hormuz-tss-inbound"
    assert (dark["position"]["lon"], dark["position"]["lat"]) == pytest.approx(last_fix[1:], abs=1e-5)
    # Raised when the clock (the moored vessel's 1-minute reports) passed the deadline, not at the end.
    assert raised_at is not None and last + 2700 <= raised_at <= last + 2700 + 2 * MINUTE
    assert not select(alerts, "reappeared")


def test_dark_at_high_posture_from_the_command_line(tmp_path: Path) -> None:
    """`replay --posture HIGH`: the lane's dark limit is 20 minutes and `dark` is critical."""
    lines = lines_of(scenario(lane_sailer(DARK, end_s=600), duration_s=1 * HOUR))
    last = heard(lines, DARK)[-1]
    alerts = replay_cli(lines, tmp_path, "--posture", "HIGH")
    dark = only(alerts, "dark", DARK)
    assert dark["time"] == iso(last + 20 * MINUTE)
    assert dark["details"]["silent_s"] == 1200.0
    assert dark["severity"] == "critical" and dark["posture"] == "HIGH"
    assert {a["posture"] for a in alerts} == {"HIGH"}


def test_dark_in_a_region_waits_two_hours() -> None:
    """A vessel last seen in the Gulf of Oman (a region, not the strait) is dark only after 2 hours of
    silence: one `dark` at last + 2 h in zone gulf-of-oman, nothing at the strait's 45 minutes."""
    plan = VesselPlan(DARK, [OMAN_SEA, offset(OMAN_SEA, 90.0, 20_000.0)], 10.0, end_s=600)
    lines = lines_of(scenario(plan, duration_s=2.5 * HOUR))
    last = heard(lines, DARK)[-1]
    alerts = run_lines(lines)
    dark = only(alerts, "dark", DARK)
    assert dark["time"] == iso(last + 2 * HOUR)
    assert dark["details"] == {"last_seen": iso(last), "silent_s": 7200.0}
    assert dark["zone"]["id"] == "gulf-of-oman"


def test_reappeared_after_dark_with_gap_and_distance() -> None:
    """A lane vessel silent for 50 minutes goes `dark` at 45 minutes and, when it reports again,
    `reappeared` follows with the gap since its last message and the distance from its last fix."""
    plan = lane_sailer(DARK, silences=[(600.0, 3600.0)])
    lines = lines_of(scenario(plan, duration_s=4000))
    times = heard(lines, DARK)
    before = max(t for t in times if t < 600)
    after = min(t for t in times if t >= 3600)
    fx = fixes(lines, DARK)
    last_fix = max((f for f in fx if f[0] < 600), key=lambda f: f[0])
    first_back = min((f for f in fx if f[0] >= 3600), key=lambda f: f[0])
    alerts = run_lines(lines)
    dark = only(alerts, "dark", DARK)
    assert dark["time"] == iso(before + 2700)
    back = only(alerts, "reappeared", DARK)
    assert back["time"] == iso(after)
    assert back["details"]["gap_s"] == pytest.approx(after - before)
    distance = haversine_km(last_fix[1:], first_back[1:])
    assert distance == pytest.approx(5.0 * KNOT_MS * (first_back[0] - last_fix[0]) / 1000.0, rel=0.02)
    assert back["details"]["distance_km"] == pytest.approx(distance, abs=0.01)
    assert back["severity"] == "info" and back["zone"]["id"] == "hormuz-tss-inbound"
    assert [a["kind"] for a in select(alerts, mmsi=DARK) if a["kind"] in ("dark", "reappeared")] == [
        "dark",
        "reappeared",
    ]


def test_no_dark_for_vessels_reporting_at_their_normal_rates() -> None:
    """A class A ship at anchor (3-minute reports) and class B craft (3 minutes slow, 30 s under way)
    in the strait are never dark: their normal reporting gaps are far below the limit."""
    anchored = waiting(538_000_111, STRAIT_OPEN, math.inf)
    b_slow = VesselPlan(
        538_000_112, [offset(STRAIT_OPEN, 180, 3000), offset(STRAIT_OPEN, 180, 9000)], 1.5, ais_class="B"
    )
    b_fast = VesselPlan(
        538_000_113, [offset(STRAIT_OPEN, 0, 3000), offset(STRAIT_OPEN, 90, 20000)], 6.0, ais_class="B"
    )
    lines = lines_of(scenario(anchored, b_slow, b_fast, duration_s=2.5 * HOUR, clock=False))
    for mmsi, rate in ((538_000_111, 180), (538_000_112, 180), (538_000_113, 30)):
        times = heard(lines, mmsi)
        assert max(b - a for a, b in itertools.pairwise(times)) <= rate  # the feed has the expected rates
    alerts = run_lines(lines)
    assert not select(alerts, "dark") and not select(alerts, "reappeared")


def test_no_dark_for_a_40_minute_silence_in_a_lane() -> None:
    """40 minutes of silence in a lane is under NORMAL's 45-minute limit: no dark, no reappeared."""
    plan = lane_sailer(DARK, silences=[(600.0, 3000.0)])
    lines = lines_of(scenario(plan, duration_s=4000))
    times = heard(lines, DARK)
    assert 2400 <= max(b - a for a, b in itertools.pairwise(times)) < 2700
    alerts = run_lines(lines)
    assert not select(alerts, "dark") and not select(alerts, "reappeared")


def test_no_dark_for_a_vessel_last_seen_in_port() -> None:
    """A ship that switches off while moored in Fujairah port is not dark, however long it stays quiet;
    the same silence in the strait, in the same feed, is."""
    moored = waiting(538_000_121, BERTH, math.inf, anchored=False, end_s=600)
    control = waiting(538_000_122, STRAIT_OPEN, math.inf, end_s=600)
    alerts = run(scenario(moored, control, duration_s=3 * HOUR))
    assert not select(alerts, "dark", 538_000_121)
    assert len(select(alerts, "dark", 538_000_122)) == 1


# ---- loiter --------------------------------------------------------------------------------------------

LOITER_STRAIT, LOITER_LANE = 538_000_201, 538_000_202


def test_loiter_in_the_strait_and_in_a_lane_after_an_hour() -> None:
    """A ship stopped 70 minutes in open water of the strait, and one stopped in the inbound lane, each
    get exactly one `loiter` once an hour has passed, in the most specific zone, with the duration and
    the radius it strayed (GNSS jitter only)."""
    s = scenario(
        waiting(LOITER_STRAIT, STRAIT_OPEN, 70 * MINUTE),
        waiting(LOITER_LANE, LANE_MID, 70 * MINUTE),
        duration_s=75 * MINUTE,
    )
    lines = lines_of(s)
    alerts = run_lines(lines)
    for mmsi, zone in ((LOITER_STRAIT, "strait-of-hormuz"), (LOITER_LANE, "hormuz-tss-inbound")):
        loiter = only(alerts, "loiter", mmsi)
        first = fixes(lines, mmsi)[0][0]
        duration = loiter["details"]["duration_s"]
        assert 3600 <= duration < 3600 + ANCHOR_RATE_S
        assert loiter["time"] == iso(first + duration)
        assert 0 < loiter["details"]["radius_m"] < 100  # 10 m jitter, clipped at 3 sigma
        assert loiter["zone"]["id"] == zone
        assert loiter["severity"] == "warning" and loiter["posture"] == "NORMAL"
        assert loiter["position"]["sog"] == 0.0


def test_loiter_in_a_region_waits_four_hours() -> None:
    """In the Gulf of Oman (a region) loitering needs 4 hours: 3.5 hours stopped is none, 4.5 hours is
    one `loiter` in zone gulf-of-oman."""
    long_wait = waiting(538_000_211, OMAN_SEA, 4.5 * HOUR)
    short_wait = waiting(538_000_212, offset(OMAN_SEA, 0, 20_000), 3.5 * HOUR)
    alerts = run(scenario(long_wait, short_wait, duration_s=4.6 * HOUR, clock=False))
    loiter = only(alerts, "loiter", 538_000_211)
    assert 4 * HOUR <= loiter["details"]["duration_s"] < 4 * HOUR + ANCHOR_RATE_S
    assert loiter["zone"]["id"] == "gulf-of-oman"
    assert not select(alerts, "loiter", 538_000_212)


def test_no_loiter_in_an_anchorage_or_a_port() -> None:
    """Three hours at anchor in fujairah-anchorage or moored in Fujairah port is normal waiting: no
    loiter; the same three hours in the strait, in the same feed, is one."""
    s = scenario(
        waiting(538_000_221, ANCHORAGE, 3 * HOUR),
        waiting(538_000_222, BERTH, 3 * HOUR, anchored=False, leave_bearing=90.0),
        waiting(538_000_223, STRAIT_OPEN, 3 * HOUR),
        duration_s=3.2 * HOUR,
        clock=False,
    )
    alerts = run(s)
    assert not select(alerts, "loiter", 538_000_221)
    assert not select(alerts, "loiter", 538_000_222)
    assert len(select(alerts, "loiter", 538_000_223)) == 1


def test_no_loiter_after_50_minutes_in_the_strait() -> None:
    """50 minutes stopped in the strait is under the 1-hour limit: no loiter."""
    alerts = run(scenario(waiting(538_000_231, STRAIT_OPEN, 50 * MINUTE), duration_s=90 * MINUTE))
    assert not select(alerts, "loiter")


def test_a_four_hour_loiter_is_one_alert() -> None:
    """A ship stopped 4 hours in the strait gets one `loiter` for the whole episode, not one per hour."""
    lines = lines_of(scenario(waiting(538_000_241, STRAIT_OPEN, 4 * HOUR), duration_s=4.2 * HOUR))
    assert len(fixes(lines, 538_000_241)) > 4 * HOUR / ANCHOR_RATE_S  # it kept reporting throughout
    alerts = run_lines(lines)
    loiter = only(alerts, "loiter", 538_000_241)
    assert loiter["details"]["duration_s"] < 3600 + ANCHOR_RATE_S


# ---- encounter -----------------------------------------------------------------------------------------

SHIP_A, SHIP_B = 538_000_301, 538_000_302
KOREAN = 440_123_456


def test_encounter_two_slow_vessels_close_together_for_an_hour() -> None:
    """Two ships stopped 300 m apart in the Gulf of Oman for 75 minutes: exactly one `encounter`, about
    the lower MMSI, naming the other, with duration and distance; no loiter (the region needs 4 h)."""
    b_spot = offset(OMAN_SEA, 45.0, 300.0)
    s = scenario(
        waiting(SHIP_A, OMAN_SEA, 75 * MINUTE), waiting(SHIP_B, b_spot, 75 * MINUTE), duration_s=80 * MINUTE
    )
    alerts = run(s)
    enc = only(alerts, "encounter")
    assert enc["mmsi"] == SHIP_A and enc["details"]["other_mmsi"] == SHIP_B
    assert 3600 <= enc["details"]["duration_s"] < 3600 + ANCHOR_RATE_S
    assert enc["details"]["distance_m"] == pytest.approx(300.0, abs=60.0)  # 10 m jitter on each ship
    assert enc["zone"]["id"] == "gulf-of-oman"
    assert enc["severity"] == "warning" and enc["posture"] == "NORMAL"
    assert not select(alerts, "loiter")


def test_encounter_with_a_watched_vessel_is_about_the_watched_vessel() -> None:
    """When one of the pair is on a watchlist (Korean flag), the encounter is about that vessel and is
    at least a warning."""
    s = scenario(
        waiting(SHIP_A, OMAN_SEA, 75 * MINUTE),
        waiting(KOREAN, offset(OMAN_SEA, 45, 300), 75 * MINUTE),
        duration_s=80 * MINUTE,
    )
    enc = only(run(s), "encounter")
    assert enc["mmsi"] == KOREAN and enc["details"]["other_mmsi"] == SHIP_A
    assert enc["vessel"]["watch"] == ["korea"] and enc["vessel"]["flag"] == "KR"
    assert enc["severity"] == "warning"


def test_no_encounter_among_a_dozen_ships_waiting_in_the_anchorage() -> None:
    """Twelve ships at anchor 200-300 m apart in fujairah-anchorage for three hours: no encounter and no
    loiter; two ships the same distance apart in open water, in the same feed, are one encounter."""
    crowd = [
        waiting(538_000_400 + i, (ANCHORAGE[0] + 0.003 * (i % 4), ANCHORAGE[1] + 0.002 * (i // 4)), 3 * HOUR)
        for i in range(12)
    ]
    assert all("fujairah-anchorage" in zones_at(p.route[0]) for p in crowd)
    s = scenario(
        *crowd,
        waiting(SHIP_A, OMAN_SEA, 3 * HOUR),
        waiting(SHIP_B, offset(OMAN_SEA, 90, 250), 3 * HOUR),
        duration_s=3.1 * HOUR,
        clock=False,
    )
    alerts = run(s)
    crowd_ids = {p.mmsi for p in crowd}
    assert not [a for a in alerts if a["kind"] in ("encounter", "loiter") and a["mmsi"] in crowd_ids]
    assert not [a for a in select(alerts, "encounter") if a["details"]["other_mmsi"] in crowd_ids]
    assert len(select(alerts, "encounter")) == 1


def test_no_encounter_for_slow_vessels_a_kilometre_apart() -> None:
    """Two ships stopped 1 km apart (beyond the 500 m limit) for two hours: no encounter."""
    s = scenario(
        waiting(SHIP_A, OMAN_SEA, 2 * HOUR),
        waiting(SHIP_B, offset(OMAN_SEA, 90, 1000), 2 * HOUR),
        duration_s=2.1 * HOUR,
        clock=False,
    )
    assert not select(run(s), "encounter")


def test_a_four_hour_encounter_is_one_alert() -> None:
    """Two ships alongside each other for four hours get one `encounter` for the episode."""
    s = scenario(
        waiting(SHIP_A, STRAIT_OPEN, 4 * HOUR),
        waiting(SHIP_B, offset(STRAIT_OPEN, 0, 200), 4 * HOUR),
        duration_s=4.1 * HOUR,
        clock=False,
    )
    alerts = run(s)
    enc = only(alerts, "encounter")
    assert enc["zone"]["id"] == "strait-of-hormuz"
    assert enc["details"]["duration_s"] < 3600 + ANCHOR_RATE_S


# ---- position_jump -------------------------------------------------------------------------------------

JUMPER = 538_000_501


def _transit_plan(**kw: Any) -> VesselPlan:
    """Inbound from just south of the outer gate, through the inbound lane, out past the inner gate."""
    route = [(56.79, 25.80), *ROUTES["inbound-jebel-ali"][1:11]]
    return VesselPlan(JUMPER, route, 18.0, report_interval_s=20.0, ship_type=80, **kw)


def test_one_bad_fix_is_a_position_jump_and_does_not_move_the_track() -> None:
    """One report 30 km away, just after the ship entered the strait, is one `position_jump` with the
    distance and implied speed; the following correct reports raise no more, and every other alert
    (zone enters/exits, the inbound transit) is exactly as without the bad fix."""
    clean = _transit_plan()
    # The first report with the ship 10 km inside the strait; the spoofed point is 30 km due south of
    # it, back outside the outer gate in the Gulf of Oman.
    t_bad = next(
        t
        for t in plan_reports(Scenario(START, 20_000, [clean]), JUMPER)
        if (st := state_at(clean, t)) is not None and st.lat > 25.99
    )
    real = state_at(clean, t_bad)
    assert real is not None
    bad = offset((real.lon, real.lat), 180.0, 30_000.0)
    assert "strait-of-hormuz" not in zones_at(bad) and "land-1" not in zones_at(bad)
    spoofed = replace(clean, spoofs=[(t_bad, t_bad + 1, *bad)])
    baseline = run(scenario(clean, duration_s=20_000, clock=False))
    lines = lines_of(scenario(spoofed, duration_s=20_000, clock=False))
    alerts = run_lines(lines)

    jump = only(alerts, "position_jump", JUMPER)
    fx = fixes(lines, JUMPER)
    i = next(k for k, f in enumerate(fx) if f[0] == t_bad)
    distance = haversine_km(fx[i - 1][1:], fx[i][1:])
    assert distance == pytest.approx(30.0, abs=0.2)
    assert jump["time"] == iso(t_bad)
    assert jump["details"]["distance_km"] == pytest.approx(distance, abs=0.05)
    implied = distance * 1000.0 / (fx[i][0] - fx[i - 1][0]) / KNOT_MS
    assert jump["details"]["implied_knots"] == pytest.approx(implied, rel=0.01)
    assert jump["severity"] == "info"
    # The bad fix changed nothing else: same alerts, same ids, and the transit is still there.
    assert [a for a in alerts if a["kind"] != "position_jump"] == baseline
    transit = only(alerts, "transit", JUMPER)
    assert transit["details"]["direction"] == "inbound"


def test_a_fast_ferry_is_no_position_jump() -> None:
    """A 30-knot ferry reporting every 2 seconds (with GNSS jitter) makes no position_jump."""
    ferry = VesselPlan(
        538_000_511, [OMAN_SEA, offset(OMAN_SEA, 90, 30_000)], 30.0, ship_type=60, noise_m=10.0
    )
    lines = lines_of(scenario(ferry, duration_s=30 * MINUTE, clock=False))
    times = [f[0] for f in fixes(lines, 538_000_511)]
    assert max(b - a for a, b in itertools.pairwise(times)) == 2.0
    assert not select(run_lines(lines), "position_jump")


# ---- on_land -------------------------------------------------------------------------------------------

LANDED_A, LANDED_B = 538_000_601, 538_000_602


def test_spoofed_onto_land_for_an_hour_is_one_on_land_and_nothing_else() -> None:
    """Two ships at anchor 3 km apart in the Gulf of Oman are spoofed onto the same inland spot for 90
    minutes: one `on_land` each for the whole episode, and the spoofed fixes make nothing else (no
    encounter although they sit on one spot, no loiter, no zone enter/exit, no jump on the way back)."""
    a = waiting(LANDED_A, OMAN_SEA, 2.5 * HOUR, spoofs=[(30 * MINUTE, 120 * MINUTE, *INLAND)], noise_m=5.0)
    b = waiting(
        LANDED_B,
        offset(OMAN_SEA, 0, 3000),
        2.5 * HOUR,
        spoofs=[(30 * MINUTE, 120 * MINUTE, *INLAND)],
        noise_m=5.0,
    )
    lines = lines_of(scenario(a, b, duration_s=2.4 * HOUR))
    alerts = run_lines(lines)
    for mmsi in (LANDED_A, LANDED_B):
        on_fixes = [f for f in fixes(lines, mmsi) if 30 * MINUTE <= f[0] < 120 * MINUTE]
        assert len(on_fixes) >= 29  # 90 minutes of 3-minute reports, all on land
        assert kinds_of(alerts, mmsi) == ["on_land"]
        on_land = only(alerts, "on_land", mmsi)
        assert on_land["time"] == iso(on_fixes[0][0])
        assert on_land["zone"] is None and on_land["details"]["land"] == "land-1"
        assert (on_land["position"]["lon"], on_land["position"]["lat"]) == pytest.approx(INLAND, abs=0.001)
        assert on_land["severity"] == "warning"
    assert not select(alerts, "posture_change")  # two vessels are no cluster


def test_no_on_land_in_a_port_where_the_coastline_overlaps_the_harbour() -> None:
    """A ship moored in Fujairah port where Natural Earth's coarse land covers the harbour is not on
    land: the port polygon wins."""
    alerts = run(
        scenario(
            waiting(538_000_611, PORT_ON_LAND, 1 * HOUR, anchored=False, leave_bearing=90.0, noise_m=3.0),
            duration_s=1 * HOUR,
            clock=False,
        )
    )
    assert not select(alerts, "on_land")
    assert ("zone_enter", "fujairah") in [(a["kind"], a["zone"]["id"]) for a in alerts if a["zone"]]


# ---- the GNSS spoofing cluster -------------------------------------------------------------------------


def _cluster(n: int, duration_s: float) -> tuple[Scenario, list[int]]:
    """`n` ships at anchor across fujairah-anchorage, each spoofed onto the same inland spot for 30
    minutes, the spoofs starting 3 s apart from minute 10."""
    plans = []
    for i in range(n):
        spot = (56.41 + 0.012 * (i % 10), 25.06 + 0.021 * (i // 10))
        start = 10 * MINUTE + 3 * i
        plans.append(
            waiting(
                538_100_000 + i, spot, math.inf, noise_m=5.0, spoofs=[(start, start + 30 * MINUTE, *INLAND)]
            )
        )
    assert all("fujairah-anchorage" in zones_at(p.route[0]) for p in plans)
    return scenario(*plans, duration_s=duration_s), [p.mmsi for p in plans]


def test_gnss_spoofing_cluster_raises_the_posture_once_and_it_falls_back() -> None:
    """100 ships put on one inland spot within minutes (GNSS spoofing): 100 `on_land` (one per vessel),
    no encounter or loiter although they all sit on one spot, the posture rises to ELEVATED once
    (set_by rule:gnss-interference, the reason naming the count) at the fifth vessel's on_land, later
    alerts carry ELEVATED, and 2 hours after the last on_land it falls back to NORMAL."""
    s, mmsis = _cluster(100, 2.6 * HOUR)
    alerts = run(s)
    on_land = select(alerts, "on_land")
    assert Counter(a["mmsi"] for a in on_land) == Counter(mmsis)
    assert not select(alerts, "encounter") and not select(alerts, "loiter")
    assert not select(alerts, "position_jump")
    changes = select(alerts, "posture_change")
    assert len(changes) == 2, changes
    up, down = changes
    fifth = sorted(on_land, key=lambda a: a["time"])[4]
    assert up["time"] == fifth["time"]
    assert up["mmsi"] is None and up["posture"] == "ELEVATED" and up["severity"] == "warning"
    assert up["details"]["from"] == "NORMAL" and up["details"]["to"] == "ELEVATED"
    assert up["details"]["set_by"] == "rule:gnss-interference"
    assert up["details"]["reason"].startswith("5 vessels")
    k_up = alerts.index(up)
    assert all(a["posture"] == "NORMAL" for a in alerts[:k_up])
    k_down = alerts.index(down)
    assert all(a["posture"] == "ELEVATED" for a in alerts[k_up:k_down])
    assert len([a for a in on_land if a["posture"] == "ELEVATED"]) == 95
    last_on_land = max(seconds(a["time"]) for a in on_land)
    assert down["time"] == iso(last_on_land + 2 * HOUR)
    assert down["details"]["from"] == "ELEVATED" and down["details"]["to"] == "NORMAL"
    assert down["details"]["set_by"] == "rule:gnss-interference"
    assert down["posture"] == "NORMAL" and down["severity"] == "info"
    assert all(a["posture"] == "NORMAL" for a in alerts[k_down + 1 :])


def test_four_vessels_on_land_change_no_posture() -> None:
    """Four ships spoofed onto land are below the rule's five: four on_land, no posture change."""
    s, mmsis = _cluster(4, 1.5 * HOUR)
    alerts = run(s)
    assert sorted(a["mmsi"] for a in select(alerts, "on_land")) == mmsis
    assert not select(alerts, "posture_change")
    assert {a["posture"] for a in alerts} == {"NORMAL"}


# ---- wrong_way -----------------------------------------------------------------------------------------

WW = 538_000_701


def test_wrong_way_in_the_inbound_lane_is_one_alert_for_the_episode() -> None:
    """A ship steering 107 degrees (against the lane's 287) at 10 kn for 30 minutes in the inbound lane:
    one `wrong_way` once the course has held 2 minutes, with the lane bearing and the course."""
    a, b = offset(LANE_MID, 287, 4600), offset(LANE_MID, 107, 4600)
    assert zonefile().by_id("hormuz-tss-inbound").geometry.covers(shapely.LineString([a, b]))
    lines = lines_of(scenario(VesselPlan(WW, [a, b], 10.0), duration_s=40 * MINUTE, clock=False))
    fx = fixes(lines, WW)
    assert fx[-1][0] - fx[0][0] > 25 * MINUTE  # it kept going the wrong way
    alerts = run_lines(lines)
    ww = only(alerts, "wrong_way", WW)
    assert ww["time"] == iso(fx[0][0] + 120)
    assert ww["details"]["bearing"] == 287.0
    assert ww["details"]["cog"] == pytest.approx(107.0, abs=1.0)
    assert ww["zone"]["id"] == "hormuz-tss-inbound"
    assert ww["severity"] == "warning"


@pytest.mark.parametrize("course", [17.0, 197.0])
def test_crossing_the_lane_at_right_angles_is_not_wrong_way(course: float) -> None:
    """A ship crossing the inbound lane at right angles (course 17 or 197) is not going the wrong way."""
    a, b = offset(LANE_MID, course + 180.0, 3000), offset(LANE_MID, course, 3000)
    lines = lines_of(scenario(VesselPlan(WW, [a, b], 10.0), duration_s=40 * MINUTE, clock=False))
    in_lane = [f for f in fixes(lines, WW) if "hormuz-tss-inbound" in zones_at(f[1:])]
    assert in_lane[-1][0] - in_lane[0][0] > 4 * MINUTE  # long enough in the lane to count if it were
    alerts = run_lines(lines)
    assert ("zone_enter", "hormuz-tss-inbound") in [(x["kind"], x["zone"]["id"]) for x in alerts if x["zone"]]
    assert not select(alerts, "wrong_way")


def test_wrong_way_for_only_a_minute_is_not_reported() -> None:
    """Steering against the lane for about 60 s, then turning with the traffic: no wrong_way."""
    turn = offset(LANE_MID, 107, 300)
    plan = VesselPlan(WW, [LANE_MID, turn, offset(turn, 287, 4000)], 10.0)
    alerts = run(scenario(plan, duration_s=20 * MINUTE, clock=False))
    assert not select(alerts, "wrong_way")


def test_slow_wrong_way_is_not_reported() -> None:
    """Drifting against the lane at 2.5 kn (under the 3 kn minimum) for 30 minutes: no wrong_way."""
    plan = VesselPlan(WW, [LANE_MID, offset(LANE_MID, 107, 2400)], 2.5)
    alerts = run(scenario(plan, duration_s=30 * MINUTE, clock=False))
    assert not select(alerts, "wrong_way")


# ---- posture: operator level ---------------------------------------------------------------------------


def _posture_feed() -> list[bytes]:
    return lines_of(scenario(lane_sailer(DARK, end_s=600), duration_s=1 * HOUR))


def _check_level(
    alerts: list[dict[str, Any]], level: str, dark_limit_s: float, dark_severity: str, last: float
) -> None:
    assert {a["posture"] for a in alerts} == {level}
    assert {a["severity"] for a in select(alerts, "zone_enter")} == {"info"}
    dark = only(alerts, "dark", DARK)
    assert dark["time"] == iso(last + dark_limit_s)
    assert dark["severity"] == dark_severity


def test_posture_level_from_the_config_file(tmp_path: Path) -> None:
    """`[posture] level = "HIGH"` in the config: every alert carries posture HIGH, the lane's dark
    limit is 20 minutes and dark is critical; zone enters stay info."""
    config = tmp_path / "monitor.toml"
    config.write_text('[posture]\nlevel = "HIGH"\n')
    lines = _posture_feed()
    _check_level(run_lines(lines, config=config), "HIGH", 20 * MINUTE, "critical", heard(lines, DARK)[-1])


def test_posture_level_from_the_environment() -> None:
    """MONITOR_POSTURE__LEVEL=ELEVATED: posture ELEVATED on every alert, dark after 30 minutes, warning."""
    lines = _posture_feed()
    alerts = run_lines(lines, env={"MONITOR_POSTURE__LEVEL": "ELEVATED"})
    _check_level(alerts, "ELEVATED", 30 * MINUTE, "warning", heard(lines, DARK)[-1])


def test_posture_on_the_command_line_overrides_the_config(tmp_path: Path) -> None:
    """`replay --config F --posture CRITICAL` with F at HIGH: the command line wins (dark after 10
    minutes, critical); without --posture the file's HIGH holds."""
    config = tmp_path / "monitor.toml"
    config.write_text('[posture]\nlevel = "HIGH"\n')
    lines = _posture_feed()
    last = heard(lines, DARK)[-1]
    _check_level(
        replay_cli(lines, tmp_path, "--config", str(config), "--posture", "CRITICAL"),
        "CRITICAL",
        10 * MINUTE,
        "critical",
        last,
    )
    _check_level(replay_cli(lines, tmp_path, "--config", str(config)), "HIGH", 20 * MINUTE, "critical", last)


def test_watched_vessel_info_alerts_are_at_least_warning() -> None:
    """A Korean-flagged (MID 440) ship's zone enters, info for others, are warnings; its dark stays a
    warning at NORMAL and is critical at HIGH, like anyone's."""
    s = scenario(lane_sailer(KOREAN, end_s=600), lane_sailer(DARK), duration_s=1 * HOUR)
    lines = lines_of(s)
    alerts = run_lines(lines)
    korean = select(alerts, mmsi=KOREAN)
    assert {a["severity"] for a in select(korean, "zone_enter")} == {"warning"}
    assert all(a["vessel"]["watch"] == ["korea"] for a in korean)
    assert {a["severity"] for a in select(alerts, "zone_enter", DARK)} == {"info"}
    assert only(alerts, "dark", KOREAN)["severity"] == "warning"
    assert only(run_lines(lines, posture="HIGH"), "dark", KOREAN)["severity"] == "critical"


# ---- determinism ---------------------------------------------------------------------------------------


def _busy_scenario() -> Scenario:
    """Several detectors at once, with jitter, a second receiver's repeats and malformed lines."""
    plans = [
        lane_sailer(DARK, silences=[(600.0, 3600.0)]),
        waiting(SHIP_A, OMAN_SEA, 75 * MINUTE),
        waiting(SHIP_B, offset(OMAN_SEA, 45, 300), 75 * MINUTE),
        waiting(LOITER_STRAIT, STRAIT_OPEN, 70 * MINUTE),
        VesselPlan(WW, [offset(LANE_MID, 287, 4600), offset(LANE_MID, 107, 4600)], 10.0),
        waiting(LANDED_A, offset(OMAN_SEA, 0, 3000), 2 * HOUR, spoofs=[(600.0, 1800.0, *INLAND)]),
        waiting(KOREAN, ANCHORAGE, 2 * HOUR),
        clock_vessel(),
    ]
    return Scenario(
        start=START,
        duration_s=80 * MINUTE,
        vessels=plans,
        seed=11,
        noise_m=4.0,
        receivers=2,
        malformed_every=50,
    )


def test_replaying_the_same_scenario_twice_gives_identical_alerts() -> None:
    """The same simulated feed replayed twice gives the same alerts, ids included."""
    first = run(_busy_scenario())
    second = run(_busy_scenario())
    assert first == second
    kinds = {a["kind"] for a in first}
    assert {"dark", "reappeared", "encounter", "loiter", "wrong_way", "on_land"} <= kinds
    assert len({a["id"] for a in first}) == len(first)


def test_batch_size_does_not_change_the_alerts() -> None:
    """Replaying in batches of 7 lines gives the same alerts (same ids) as in batches of 10000."""
    lines = lines_of(_busy_scenario())
    small = run_lines(lines, batch=7)
    large = run_lines(lines, batch=10_000)
    assert Counter(a["id"] for a in small) == Counter(a["id"] for a in large)
    assert {a["id"]: a for a in small} == {a["id"]: a for a in large}
    assert CLOCK_MMSI in {a["mmsi"] for a in large}


# ---- more episodes, and the posture's effect on running timers -----------------------------------------


def test_a_second_spoofing_episode_is_a_second_on_land() -> None:
    """Spoofed onto land twice, an hour apart: two `on_land`, one per episode."""
    plan = waiting(
        LANDED_A,
        OMAN_SEA,
        3 * HOUR,
        spoofs=[(10 * MINUTE, 40 * MINUTE, *INLAND), (100 * MINUTE, 130 * MINUTE, *INLAND)],
    )
    lines = lines_of(scenario(plan, duration_s=2.5 * HOUR, clock=False))
    on_land = select(run_lines(lines), "on_land", LANDED_A)
    starts = [next(f[0] for f in fixes(lines, LANDED_A) if f[0] >= w) for w in (10 * MINUTE, 100 * MINUTE)]
    assert [a["time"] for a in on_land] == [iso(t) for t in starts]
    assert len({a["id"] for a in on_land}) == 2


def test_slow_drift_within_the_radius_is_loitering() -> None:
    """A ship under way at 0.8 kn (10-second reports) drifts 1.5 km in an hour in the strait: still within
    the 2 km radius, so one `loiter` after an hour, radius about the distance drifted."""
    drift_m = 0.8 * KNOT_MS * 80 * MINUTE
    plan = VesselPlan(538_000_251, [STRAIT_OPEN, offset(STRAIT_OPEN, 180, drift_m)], 0.8)
    lines = lines_of(scenario(plan, duration_s=80 * MINUTE, clock=False))
    loiter = only(run_lines(lines), "loiter", 538_000_251)
    assert loiter["time"] == iso(fixes(lines, 538_000_251)[0][0] + HOUR)
    assert loiter["details"]["radius_m"] == pytest.approx(0.8 * KNOT_MS * HOUR, rel=0.02)


def _port_cluster(spoof_at: float, **kw: Any) -> list[VesselPlan]:
    """Five ships moored in Fujairah port (no dark, loiter or encounter there), spoofed onto land at once."""
    return [
        VesselPlan(
            538_100_000 + i,
            [(BERTH[0] + 0.002 * i, BERTH[1])],
            10.0,
            waits={0: math.inf},
            report_interval_s=60.0,
            spoofs=[(spoof_at, spoof_at + 100, *INLAND)],
            **kw,
        )
        for i in range(5)
    ]


def test_dark_after_a_posture_rise_is_raised_when_the_limit_drops() -> None:
    """A lane vessel silent for 35 minutes when a GNSS cluster raises the posture to ELEVATED (dark limit
    30 minutes) becomes dark at the posture change, not back-dated to a moment when NORMAL's 45 minutes
    still held: the alert's time is not before the change, its silence is measured to its time, and it
    carries ELEVATED."""
    plans = [lane_sailer(DARK, end_s=600), *_port_cluster(spoof_at=600 + 35 * MINUTE)]
    lines = lines_of(scenario(*plans, duration_s=2 * HOUR))
    last = heard(lines, DARK)[-1]
    alerts = run_lines(lines)
    change = only(alerts, "posture_change")
    assert seconds(change["time"]) - last == pytest.approx(35 * MINUTE, abs=20)  # the set-up holds
    dark = only(alerts, "dark", DARK)
    assert dark["posture"] == "ELEVATED"
    assert seconds(dark["time"]) >= seconds(change["time"])
    assert dark["details"]["silent_s"] == pytest.approx(seconds(dark["time"]) - last)


def test_dark_uses_the_limit_in_force_after_a_fall_back_on_a_sparse_feed() -> None:
    """On a sparse feed (the only traffic after the cluster reports every 10 minutes), the posture falls
    back to NORMAL between two reports; a lane vessel whose 30-minute (ELEVATED) deadline lies after the
    fall-back is not dark then: NORMAL's 45 minutes apply, and its one `dark` carries NORMAL."""
    sparse: dict[str, Any] = {
        "static_interval_s": 100_000.0
    }  # no static messages to move the clock in between
    plans = [
        VesselPlan(DARK, [LANE_EAST, LANE_WEST], 5.0, start_s=5000, end_s=6300, **sparse),
        *_port_cluster(spoof_at=700, start_s=5, end_s=1000, **sparse),
        clock_vessel(report_interval_s=600.0, **sparse),
    ]
    lines = lines_of(Scenario(start=START, duration_s=10_000, vessels=plans))
    last = heard(lines, DARK)[-1]
    alerts = run_lines(lines)
    _up, down = select(alerts, "posture_change")
    fall_back = seconds(down["time"])
    assert fall_back < last + 30 * MINUTE < 8400  # both between the clock's reports at 7800 and 8400
    dark = only(alerts, "dark", DARK)
    assert dark["posture"] == "NORMAL"
    assert dark["time"] == iso(last + 45 * MINUTE)


def test_position_jumps_of_five_vessels_also_raise_the_posture() -> None:
    """The GNSS rule counts position jumps too: five ships under way in the Gulf of Oman, each with one fix
    30 km off within two minutes, give five `position_jump` and one rise to ELEVATED at the fifth."""
    plans = []
    for i in range(5):
        p0 = offset(OMAN_SEA, 0, 2000 * i)
        bad = offset(p0, 180, 30_000)
        plans.append(
            VesselPlan(
                538_200_000 + i,
                [p0, offset(p0, 90, 20_000)],
                12.0,
                spoofs=[(600 + 20 * i, 601 + 20 * i, *bad)],
            )
        )
    alerts = run(scenario(*plans, duration_s=40 * MINUTE))
    jumps = select(alerts, "position_jump")
    assert sorted(a["mmsi"] for a in jumps) == [p.mmsi for p in plans]
    change = only(alerts, "posture_change")
    assert change["time"] == max(a["time"] for a in jumps)
    assert change["details"]["to"] == "ELEVATED" and change["details"]["set_by"] == "rule:gnss-interference"


def test_two_vessels_drifting_together_under_way_are_an_encounter() -> None:
    """Two ships under way side by side at 1 kn, 200 m apart, for over an hour (a transfer under way):
    one `encounter`, though neither is at anchor."""
    a = VesselPlan(SHIP_A, [OMAN_SEA, offset(OMAN_SEA, 90, 3000)], 1.0)
    b_start = offset(OMAN_SEA, 0, 200)
    b = VesselPlan(SHIP_B, [b_start, offset(b_start, 90, 3000)], 1.0)
    enc = only(run(scenario(a, b, duration_s=65 * MINUTE)), "encounter")
    assert (enc["mmsi"], enc["details"]["other_mmsi"]) == (SHIP_A, SHIP_B)
    assert enc["details"]["distance_m"] == pytest.approx(200.0, abs=5.0)
    assert 3600 <= enc["details"]["duration_s"] < 3600 + 20
