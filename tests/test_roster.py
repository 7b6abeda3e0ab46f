"""The roster (issue 14, point 3; CONTRACT "Roster"): roster vessels and their rows, the `roster_overdue`
alert, the distance and ETA to the strait's outer gate, the nearest safe haven, `GET /api/roster`, and the
zone file's `safe_haven`.

Truth comes from the simulator's plans (when a ship last reports, where it is at any time, when it crosses
the outer gate: found by bisection on the plan with a side-of-line test of the gate's two ends) and from
the zone file's data read here with shapely and a haversine of the test's own, never from the code under
test.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import shapely

from monitor.config import load_settings
from monitor.errors import ConfigError, ZoneFileError
from monitor.pipeline import Pipeline
from monitor.roster import roster_rows
from monitor.zones import default_zone_path, load_zone_file
from tests.mqtt_helpers import Broker
from tests.scenarios import (
    ANCHORAGE,
    HOUR,
    MINUTE,
    OMAN_SEA,
    T0,
    lines_of,
    offset,
    run_lines,
    scenario,
    seconds,
    select,
    zonefile,
    zones_at,
)
from tests.test_service import Daemon
from tools.simulate import ROUTES, VesselPlan, plan_reports, state_at

ROW_KEYS = {"mmsi", "imo", "name", "flag", "watch", "operator", "crew", "last_seen", "position", "state",
            "zone", "distance_to_exit_nm", "eta_exit", "nearest_safe_haven", "open_alerts"}
KOREAN = 440_123_450  # MID 440: South Korea, on the default `korea` watchlist, the default roster
PANAMA = 352_001_234  # MID 352: Panama
ARABIAN_SEA = (60.80, 23.20)  # beyond the Gulf of Oman's S-23 limit: in no region (checked below)
IMO = 9_304_356  # a valid IMO number (check digit 6)
# Beyond CONTRACT's keys: the vessel's voyage from chokepoint to chokepoint (issue 15).
EXTRA_KEYS = {"voyage"}


def _run(lines: list[bytes], env: dict[str, str] | None = None, config: Path | None = None,
         batch: int = 500) -> tuple[Pipeline, list[dict[str, Any]]]:
    p = Pipeline(load_settings(config, env=env or {}), zonefile())
    alerts: list[dict[str, Any]] = []
    for i in range(0, len(lines), batch):
        alerts += [a.to_dict() for a in p.process_lines(lines[i: i + batch])]
    return p, alerts


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle km (the test's own haversine, R = 6371 km)."""
    lon1, lat1, lon2, lat2 = (math.radians(x) for x in (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def _time(line: bytes) -> float:
    """A line's tag-block time, as seconds after the scenario's start."""
    return float(line.split(b"c:")[1].split(b"*")[0]) - T0


def _drifting(mmsi: int, at: tuple[float, float], *, end_s: float | None = None, **kw: Any) -> VesselPlan:
    """A ship sailing slowly east from `at` (2 kn, a report every 30 s) until `end_s`."""
    return VesselPlan(mmsi=mmsi, route=[at, offset(at, 90.0, 40_000.0)], speed_kn=2.0,
                      report_interval_s=30.0, end_s=end_s, **kw)


# ---- who is on the roster -------------------------------------------------------------------------------
def test_a_panama_flagged_ship_on_a_roster_csv_by_imo_is_on_the_roster_and_watched(tmp_path: Path) -> None:
    """A ship flagged in Panama (no Korean MID) listed by IMO number in a roster CSV: once its static report
    names the IMO, its alerts carry the list and it has a roster row with the desk's operator and crew;
    a Panama ship not listed is on neither."""
    (tmp_path / "desk.csv").write_text(
        f"imo,name,operator,crew\n{IMO},ASTRA VENTURE,Hanbit Shipping,21 (6 KR)\n")
    config = tmp_path / "monitor.toml"
    config.write_text('[watchlists.desk]\nfile = "desk.csv"\nroster = true\n')
    listed = _drifting(PANAMA, OMAN_SEA, imo=IMO, name="ASTRA VENTURE", ship_type=80)
    other = _drifting(PANAMA + 1, offset(OMAN_SEA, 0.0, 8_000.0), imo=9_074_729, ship_type=70)
    lines = lines_of(scenario(listed, other, duration_s=HOUR))
    p, alerts = _run(lines, config=config)
    v = p.engine.get(PANAMA)
    assert v is not None and v.watch == ["desk"] and v.flag == "PA"
    assert p.engine.get(PANAMA + 1).watch == []  # type: ignore[union-attr]
    [row] = roster_rows(p.engine)
    assert set(row) == ROW_KEYS | EXTRA_KEYS
    assert row["mmsi"] == PANAMA and row["imo"] == IMO and row["flag"] == "PA" and row["watch"] == ["desk"]
    assert row["operator"] == "Hanbit Shipping" and row["crew"] == "21 (6 KR)"
    assert row["zone"]["id"] == "gulf-of-oman" and row["state"] == "underway"
    # Its alerts after the static report are tagged (at least warning: a watched vessel).
    later = [a for a in select(alerts, mmsi=PANAMA) if a["vessel"]["imo"] == IMO]
    assert all(a["vessel"]["watch"] == ["desk"] for a in later)


def test_the_default_roster_is_the_korean_flag_and_needs_roster_true() -> None:
    """By default `korea` is the roster: a Korean ship has a row, a Panama ship none; a configuration
    whose lists are not marked `roster` has no roster at all."""
    lines = lines_of(scenario(_drifting(KOREAN, OMAN_SEA), _drifting(PANAMA, offset(OMAN_SEA, 0.0, 9_000.0)),
                              duration_s=30 * MINUTE))
    p, _ = _run(lines)
    assert [r["mmsi"] for r in roster_rows(p.engine)] == [KOREAN]
    p, _ = _run(lines, env={"MONITOR_WATCHLISTS": '{"korea": {"mids": [440, 441]}}'})
    assert roster_rows(p.engine) == []


# ---- roster_overdue -------------------------------------------------------------------------------------
SILENT_AT = 40 * MINUTE


def _overdue_case() -> tuple[list[VesselPlan], list[bytes]]:
    silent = _drifting(KOREAN, OMAN_SEA, end_s=SILENT_AT)  # falls silent in the Gulf of Oman
    talking = _drifting(KOREAN + 1, offset(OMAN_SEA, 0.0, 6_000.0))  # keeps reporting
    away = _drifting(KOREAN + 2, ARABIAN_SEA, end_s=SILENT_AT)  # silent outside the roster area
    stranger = _drifting(538_000_777, offset(OMAN_SEA, 180.0, 6_000.0), end_s=SILENT_AT)  # no roster
    plans = [silent, talking, away, stranger]
    return plans, lines_of(scenario(*plans, duration_s=4 * HOUR))


def test_a_silent_korean_ship_raises_one_roster_overdue_an_hour_after_its_last_report() -> None:
    """Exactly one `roster_overdue`, for the ship that fell silent in the Gulf of Oman, timed an hour after
    its last report (the simulator's plan), with `last_seen` and `silent_s`; none for the Korean ship that
    keeps reporting, the one silent outside every region, or the silent ship on no roster."""
    plans, lines = _overdue_case()
    assert zones_at(ARABIAN_SEA) == set() and "gulf-of-oman" in zones_at(OMAN_SEA)
    alerts = run_lines(lines)
    [alert] = select(alerts, "roster_overdue")
    last = max(plan_reports(scenario(*plans, duration_s=4 * HOUR), KOREAN))
    assert alert["mmsi"] == KOREAN and alert["zone"]["id"] == "gulf-of-oman"
    assert seconds(alert["time"]) == pytest.approx(last + HOUR)
    assert seconds(alert["details"]["last_seen"]) == pytest.approx(last)
    assert alert["details"]["silent_s"] == pytest.approx(HOUR)
    assert alert["severity"] == "warning" and alert["vessel"]["watch"] == ["korea"]
    # (`dark` in a region waits 2 h at NORMAL: the roster's hour is its own limit.)
    assert seconds(select(alerts, "dark", KOREAN)[0]["time"]) == pytest.approx(last + 2 * HOUR)


def test_roster_overdue_is_raised_at_any_posture_with_the_same_limit() -> None:
    """At CRITICAL (`dark` after 30 min in a region) the roster's limit stays an hour."""
    _, lines = _overdue_case()
    [alert] = select(run_lines(lines, posture="CRITICAL"), "roster_overdue")
    assert alert["details"]["silent_s"] == pytest.approx(HOUR) and alert["severity"] == "critical"


def test_one_alert_per_silence_and_a_report_rearms_it() -> None:
    """Silent 70 min, back for 20 min, silent again: two alerts, one per silence, each an hour after the
    report that ended the ship's reporting; the fast path and batch sizes agree."""
    ship = _drifting(KOREAN, OMAN_SEA, silences=[(30 * MINUTE, 100 * MINUTE)], end_s=120 * MINUTE)
    s = scenario(ship, duration_s=5 * HOUR)
    lines = lines_of(s)
    reports = plan_reports(s, KOREAN)
    ends = [max(t for t in reports if t < 30 * MINUTE), max(reports)]
    for batch in (1, 37, 500):
        alerts = run_lines(lines, batch=batch)
        got = [seconds(a["time"]) for a in select(alerts, "roster_overdue")]
        assert got == pytest.approx([t + HOUR for t in ends]), batch


def test_roster_area_follows_roster_zones_and_unknown_zones_are_refused(tmp_path: Path) -> None:
    """`roster.zones = ["persian-gulf"]`: a ship silent in the Gulf of Oman is no longer in the roster area;
    an id the zone file lacks is refused at start, naming it."""
    _, lines = _overdue_case()
    assert select(run_lines(lines, env={"MONITOR_ROSTER__ZONES": '["persian-gulf"]'}), "roster_overdue") == []
    with pytest.raises(ConfigError, match="no-such-sea"):
        run_lines(lines[:10], env={"MONITOR_ROSTER__ZONES": '["no-such-sea"]'})


def test_overdue_state_survives_a_restart_without_repeat_or_loss() -> None:
    """State saved and restored into a new pipeline (as the daemon does across a restart): cut before the
    deadline, the alert still comes once; cut after it, it is not raised again."""
    _, lines = _overdue_case()
    expected = select(run_lines(lines), "roster_overdue")
    deadline = seconds(expected[0]["time"])
    for cut_at in (deadline - 10 * MINUTE, deadline + 10 * MINUTE):
        cut = next(i for i, line in enumerate(lines) if _time(line) > cut_at)
        first, alerts1 = _run(lines[:cut])
        saved = first.engine.export_state(everything=True)
        second = Pipeline(load_settings(None, env={}), zonefile())
        second.engine.import_state({k: b for k, b in saved.items() if b is not None})
        alerts2 = [a.to_dict() for i in range(cut, len(lines), 500)
                   for a in second.process_lines(lines[i: i + 500])]
        got = select(alerts1, "roster_overdue") + select(alerts2, "roster_overdue")
        assert [a["id"] for a in got] == [expected[0]["id"]], cut_at
        # The row says the ship is dark once overdue.
        [row] = [r for r in roster_rows(second.engine) if r["mmsi"] == KOREAN]
        assert row["state"] == "dark"


# ---- distance and ETA to the outer gate -----------------------------------------------------------------
def _gate() -> tuple[tuple[float, float], tuple[float, float]]:
    coords = zonefile().by_id("hormuz-outer").geometry.coords
    return (coords[0][0], coords[0][1]), (coords[-1][0], coords[-1][1])


def _past_gate(point: tuple[float, float], inside: tuple[float, float]) -> bool:
    """Whether `point` lies on the other side of the gate's line from `inside`."""
    (x1, y1), (x2, y2) = _gate()

    def side(p: tuple[float, float]) -> float:
        return (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1)
    return side(point) * side(inside) < 0


def _crosses_gate(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether the segment a-b crosses the gate's segment (orientation tests of both against each other)."""
    g1, g2 = _gate()

    def orient(p: tuple[float, float], q: tuple[float, float], r: tuple[float, float]) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])
    return orient(a, b, g1) * orient(a, b, g2) < 0 and orient(g1, g2, a) * orient(g1, g2, b) < 0


def _crossing_time(plan: VesselPlan, t0: float, t1: float) -> float:
    """When the plan's ship first crosses the outer gate (scanned a minute at a time, then bisected)."""
    def at(t: float) -> tuple[float, float]:
        s = state_at(plan, t)
        assert s is not None
        return (s.lon, s.lat)
    t = t0
    while not _crosses_gate(at(t), at(t + 60.0)):
        t += 60.0
        assert t < t1, "the plan never crosses the gate"
    lo, hi = t, t + 60.0
    while hi - lo > 0.5:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if _crosses_gate(at(lo), at(mid)) else (mid, hi)
    return hi


def test_the_eta_to_the_outer_gate_is_within_15_percent_of_the_true_sailing_time() -> None:
    """A Korean tanker sailing out of the Gulf at a constant 12 kn, by the simulator's outbound route
    through the TSS: at three moments (in the Gulf, in the narrows, south of the lanes) the roster's ETA
    to the outer gate is within 15 % of the time the plan really takes to cross the gate's line, and its
    distance within 15 % of that time at 12 kn; once past the gate, distance 0 and no ETA."""
    route = ROUTES["outbound-jebel-ali"][3:]  # from (55.62, 26.05), off Ras al Khaimah
    plan = VesselPlan(mmsi=KOREAN, route=route, speed_kn=12.0, report_interval_s=10.0, ship_type=80)
    duration = 16 * HOUR
    lines = lines_of(scenario(plan, duration_s=duration))
    crossing = _crossing_time(plan, 0.0, duration - 60.0)
    p = Pipeline(load_settings(None, env={}), zonefile())
    checks = [HOUR, 4 * HOUR, crossing - 40 * MINUTE, crossing + 30 * MINUTE]
    i = 0
    for k, at in enumerate(checks):
        while i < len(lines) and _time(lines[i]) <= at:
            p.process_lines(lines[i: i + 1])
            i += 1
        [row] = roster_rows(p.engine)
        fix_t = seconds(row["last_seen"])
        if k == len(checks) - 1:
            assert row["distance_to_exit_nm"] == 0 and row["eta_exit"] is None
            continue
        truth = crossing - fix_t
        eta = seconds(row["eta_exit"]) - fix_t
        assert abs(eta - truth) <= 0.15 * truth, (at, eta, truth)
        assert abs(row["distance_to_exit_nm"] - truth / 3600 * 12.0) <= 0.15 * truth / 3600 * 12.0
        assert row["state"] == "underway"


def test_no_eta_when_stopped_or_heading_away() -> None:
    """A ship stopped in the Gulf has a distance but no ETA; one sailing into the Gulf (away from the
    outer gate) has none either."""
    stopped = VesselPlan(mmsi=KOREAN, route=[(54.90, 26.43)], speed_kn=10.0, waits={0: math.inf},
                         anchored=frozenset({0}), report_interval_s=60.0)
    inbound = VesselPlan(mmsi=KOREAN + 1, route=[(55.45, 26.40), (54.20, 26.45)], speed_kn=12.0)
    p, _ = _run(lines_of(scenario(stopped, inbound, duration_s=HOUR)))
    rows = {r["mmsi"]: r for r in roster_rows(p.engine)}
    assert rows[KOREAN]["distance_to_exit_nm"] > 50 and rows[KOREAN]["eta_exit"] is None
    assert rows[KOREAN]["state"] == "at_anchor"
    assert rows[KOREAN + 1]["distance_to_exit_nm"] > 50 and rows[KOREAN + 1]["eta_exit"] is None


# ---- safe havens ----------------------------------------------------------------------------------------
def _havens() -> dict[str, tuple[float, float]]:
    """The shipped zone file's safe havens, each at its WPI reference point (the port circle's centre)."""
    doc = json.loads(default_zone_path().read_text())
    return {f["properties"]["id"]: (f["properties"]["wpi_lon"], f["properties"]["wpi_lat"])
            for f in doc["features"] if f["properties"].get("safe_haven")}


def test_the_shipped_safe_havens_are_real_ports_beyond_the_outer_gate() -> None:
    """Fujairah, Khor Fakkan, Sohar and Muscat are marked; each a port in the Gulf of Oman region, outside
    the strait polygon, beyond the outer gate's line from the strait."""
    havens = _havens()
    assert set(havens) == {"fujairah", "khor-fakkan", "sohar", "mina-qaboos"}
    strait = zonefile().by_id("strait-of-hormuz").geometry
    inside = (56.50, 26.50)
    for zid, point in havens.items():
        assert zonefile().by_id(zid).kind == "port"
        assert not strait.covers(shapely.Point(point)) and "gulf-of-oman" in zones_at(point)
        assert _past_gate(point, inside)


def test_the_nearest_safe_haven_is_named_with_its_distance() -> None:
    """In the Gulf of Oman the nearest haven is the one nearest as the test's haversine says, at that
    distance (within 1 %); inside the Gulf, the one nearest the gate, by water: farther than straight."""
    havens = _havens()
    at = (56.90, 24.60)
    km = {zid: _km(at, point) for zid, point in havens.items()}
    nearest = min(km, key=lambda z: km[z])
    gulf = (55.40, 26.00)
    plans = [VesselPlan(mmsi=mmsi, route=[point], speed_kn=10.0, waits={0: math.inf}, report_interval_s=60.0)
             for mmsi, point in ((KOREAN, at), (KOREAN + 1, gulf))]
    p, _ = _run(lines_of(scenario(*plans, duration_s=30 * MINUTE)))
    rows = {r["mmsi"]: r for r in roster_rows(p.engine)}
    haven = rows[KOREAN]["nearest_safe_haven"]
    assert haven["id"] == nearest == "sohar" and haven["name"] == zonefile().by_id("sohar").name
    assert haven["distance_nm"] == pytest.approx(km[nearest] / 1.852, rel=0.01)
    inner = rows[KOREAN + 1]["nearest_safe_haven"]
    gate_mid = tuple((a + b) / 2 for a, b in zip(*_gate(), strict=True))
    by_gate = {zid: _km(gate_mid, point) for zid, point in havens.items()}
    assert inner["id"] == min(by_gate, key=lambda z: by_gate[z]) == "khor-fakkan"
    assert inner["distance_nm"] > _km(gulf, havens["khor-fakkan"]) / 1.852


# ---- the zone file's safe_haven -------------------------------------------------------------------------
def _with(tmp_path: Path, zid: str, value: Any) -> Path:
    doc = json.loads(default_zone_path().read_text())
    for f in doc["features"]:
        if f["properties"]["id"] == zid:
            f["properties"]["safe_haven"] = value
    path = tmp_path / "zones.geojson"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(("zid", "value", "problem"), [
    ("gulf-of-oman", True, "'safe_haven' applies only to port zones, not region"),
    ("fujairah-anchorage", False, "'safe_haven' applies only to port zones, not anchorage"),
    ("jask", "yes", "'safe_haven' must be true or false, got 'yes'"),
    ("jask", 1, "'safe_haven' must be true or false, got 1"),
])
def test_safe_haven_is_a_boolean_of_ports_only(tmp_path: Path, zid: str, value: Any, problem: str) -> None:
    """`safe_haven` on anything but a port, or not a boolean, is refused naming the feature."""
    with pytest.raises(ZoneFileError) as err:
        load_zone_file(_with(tmp_path, zid, value))
    assert err.value.problems == [f"feature {zid!r}: {problem}"]


def test_safe_haven_false_on_a_port_is_accepted(tmp_path: Path) -> None:
    zf = load_zone_file(_with(tmp_path, "jask", False))
    assert zf.by_id("jask").properties["safe_haven"] is False


# ---- GET /api/roster ------------------------------------------------------------------------------------
def test_the_daemon_serves_the_roster_with_open_alerts(tmp_path: Path, broker: Broker) -> None:
    """A running daemon fed a Korean ship at anchor off Fujairah and a Panama ship: GET /api/roster is a
    list of one row, CONTRACT's keys, its open alerts those of /api/alerts about it; acknowledging one
    takes it off the row."""
    korean = VesselPlan(mmsi=KOREAN, route=[ANCHORAGE], speed_kn=10.0, waits={0: math.inf},
                        anchored=frozenset({0}), report_interval_s=60.0)
    lines = lines_of(scenario(korean, _drifting(PANAMA, OMAN_SEA), duration_s=30 * MINUTE))
    d = Daemon(tmp_path, broker.url, prefix=f"roster-{tmp_path.name}")
    config = d.config.read_text()
    d.config.write_text(config.replace(f'file = "{d.zones}"', f'file = "{default_zone_path()}"'))
    try:
        d.start()
        d.send(lines)
        d.wait_processed(len(lines), timeout=60)
        code, body = d.get("/api/roster")
        assert code == 200 and isinstance(body, list)
        [row] = body
        assert set(row) == ROW_KEYS | EXTRA_KEYS and row["mmsi"] == KOREAN and row["flag"] == "KR"
        assert row["zone"]["id"] == "fujairah-anchorage" and row["state"] == "at_anchor"
        assert row["nearest_safe_haven"]["id"] == "fujairah"
        _, listed = d.get("/api/alerts")
        about = {a["id"] for a in listed["alerts"] if a["mmsi"] == KOREAN}
        assert about and {a["id"] for a in row["open_alerts"]} == about
        first = min(about)
        code, _ = d.request("POST", f"/api/alerts/{first}/ack", json.dumps({"by": "desk"}).encode(),
                            {"Authorization": "Bearer letmein", "Content-Type": "application/json"})
        assert code == 200
        _, [row] = d.get("/api/roster")
        assert {a["id"] for a in row["open_alerts"]} == about - {first}
        code, _ = d.get("/api/roster?x=1")
        assert code == 400
    finally:
        d.stop()
