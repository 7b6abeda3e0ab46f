"""Geofencing through the whole pipeline on a toy strait: enter/exit, hysteresis, gates and transits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.config import load_settings
from monitor.pipeline import Pipeline
from monitor.zones import load_zone_file
from tests.helpers import T0, position_lines, static_lines, track, write_zones


def run(tmp_path: Path, lines: list[bytes], env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    settings = load_settings(None, env=env or {})
    zf = load_zone_file(write_zones(tmp_path / "zones.geojson"))
    p = Pipeline(settings, zf)
    alerts = []
    for i in range(0, len(lines), 50):  # several batches, so state must carry across them
        alerts += [a.to_dict() for a in p.process_lines(lines[i : i + 50])]
    return alerts


def kinds(alerts: list[dict[str, Any]], mmsi: int | None = None) -> list[tuple[str, str | None]]:
    return [
        (a["kind"], a["zone"]["id"] if a["zone"] else None)
        for a in alerts
        if mmsi is None or a["mmsi"] == mmsi
    ]


def test_inbound_passage_gives_one_transit_with_duration(tmp_path: Path) -> None:
    """Outer gate then inner gate is one inbound transit; duration is the time between the gates."""
    lines = track(538000001, [(57.5, 26.1), (55.7, 26.1)], T0, interval_s=10, speed_kn=15)
    alerts = run(tmp_path, lines)
    transits = [a for a in alerts if a["kind"] == "transit"]
    assert len(transits) == 1
    d = transits[0]["details"]
    assert d["direction"] == "inbound"
    # 1 degree of longitude at 26.1N is 99.98 km; at 15 kn that takes about 12,957 s.
    assert d["duration_s"] == pytest.approx(99_980 / (15 * 1852 / 3600), rel=0.01)
    assert transits[0]["zone"]["id"] == "strait"
    assert kinds(alerts).count(("zone_enter", "strait")) == 1
    assert kinds(alerts).count(("zone_exit", "strait")) == 1
    assert kinds(alerts).count(("zone_enter", "lane-in")) == 1
    assert kinds(alerts).count(("zone_exit", "lane-in")) == 1


def test_outbound_passage_direction(tmp_path: Path) -> None:
    """Inner gate then outer gate is an outbound transit."""
    lines = track(538000002, [(55.7, 25.8), (57.5, 25.8)], T0, interval_s=10, speed_kn=15)
    transits = [a for a in run(tmp_path, lines) if a["kind"] == "transit"]
    assert [t["details"]["direction"] for t in transits] == ["outbound"]


def test_sparse_reports_still_cross_the_gates(tmp_path: Path) -> None:
    """A ship reporting every 3 minutes at 20 knots still crosses both gates: segment crossing, not
    sampling."""
    lines = track(538000003, [(57.2, 26.3), (55.8, 26.3)], T0, interval_s=180, speed_kn=20)
    transits = [a for a in run(tmp_path, lines) if a["kind"] == "transit"]
    assert len(transits) == 1 and transits[0]["details"]["direction"] == "inbound"


def test_turning_back_at_a_gate_makes_no_transit(tmp_path: Path) -> None:
    """A vessel that crosses the outer gate, turns back and recrosses it makes no transit."""
    lines = track(538000004, [(57.3, 26.1), (56.5, 26.1), (57.3, 26.1)], T0, interval_s=30, speed_kn=15)
    alerts = run(tmp_path, lines)
    assert not [a for a in alerts if a["kind"] == "transit"]
    assert kinds(alerts).count(("zone_enter", "strait")) == 1
    assert kinds(alerts).count(("zone_exit", "strait")) == 1


def test_transit_after_dithering_on_the_outer_gate(tmp_path: Path) -> None:
    """Dithering across the outer gate before going through gives one transit, timed from the last entry."""
    pts = [(57.1, 26.1), (56.99, 26.1), (57.01, 26.1), (56.99, 26.1), (55.8, 26.1)]
    alerts = run(tmp_path, track(538000005, pts, T0, interval_s=30, speed_kn=12))
    transits = [a for a in alerts if a["kind"] == "transit"]
    assert len(transits) == 1 and transits[0]["details"]["direction"] == "inbound"


def test_boundary_jitter_gives_one_enter(tmp_path: Path) -> None:
    """A vessel anchored on a port boundary, wobbling +-30 m in and out for hours, gets one zone_enter."""
    lines: list[bytes] = []
    # First seen outside the port, moving in, then anchored on the east edge (lon 55.6) wobbling.
    lines += position_lines(470000001, 55.65, 25.95, T0, sog=5, cog=270)
    for k in range(1, 200):
        dx = 0.0003 if k % 2 else -0.0003  # about 30 m either side of the boundary
        lines += position_lines(470000001, 55.6 + dx, 25.95, T0 + 180 * k, sog=0.1, cog=0)
    alerts = run(tmp_path, lines)
    assert kinds(alerts, 470000001).count(("zone_enter", "port-a")) == 1
    assert kinds(alerts, 470000001).count(("zone_exit", "port-a")) == 0


def test_leaving_beyond_the_band_exits(tmp_path: Path) -> None:
    """Leaving a zone by more than the tolerance band gives the zone_exit."""
    lines = track(470000002, [(55.55, 25.95), (55.7, 25.95)], T0, interval_s=60, speed_kn=8)
    alerts = run(tmp_path, lines)
    assert kinds(alerts, 470000002) == [("zone_enter", "port-a"), ("zone_exit", "port-a")]
    assert alerts[0]["details"] == {"first_seen": True}


def test_zone_crossed_between_two_fixes_is_interpolated(tmp_path: Path) -> None:
    """A zone crossed entirely between two fixes yields enter and exit with interpolated times."""
    lines = position_lines(470000003, 55.45, 25.95, T0, sog=20, cog=90)
    lines += position_lines(470000003, 55.65, 25.95, T0 + 1200, sog=20, cog=90)
    alerts = run(tmp_path, lines)
    got = [a for a in alerts if a["zone"] and a["zone"]["id"] == "port-a"]
    assert [a["kind"] for a in got] == ["zone_enter", "zone_exit"]
    assert all(a["details"].get("interpolated") is True for a in got)
    # The port spans lon 55.5-55.6 of the 55.45-55.65 move: a quarter and three quarters of the way.
    assert got[0]["time"] == "2025-06-15T15:11:40Z"
    assert got[1]["time"] == "2025-06-15T15:21:40Z"
    assert got[0]["position"]["lon"] == pytest.approx(55.5, abs=1e-4)


def test_first_seen_inside_and_vessel_fusion(tmp_path: Path) -> None:
    """A vessel first seen inside a zone gets zone_enter first_seen; static data and flag fill `vessel`."""
    lines = static_lines(440123456, T0 - 5, "HANBADA STAR", ship_type=84, callsign="DSAB1", imo=9_312_345)
    lines += position_lines(440123456, 56.5, 26.1, T0, sog=10, cog=270)
    alerts = run(tmp_path, lines)
    assert {a["zone"]["id"] for a in alerts} == {"strait", "lane-in"}
    a = alerts[0]
    assert a["details"] == {"first_seen": True}
    assert a["vessel"] == {
        "name": "HANBADA STAR",
        "imo": 9312345,
        "callsign": "DSAB1",
        "ship_type": 84,
        "flag": "KR",
        "watch": ["korea"],
    }
    # Watched vessel: at least warning.
    assert all(x["severity"] == "warning" for x in alerts)
    assert a["schema"] == 1 and a["posture"] == "NORMAL"
    assert a["position"] == {"lat": 26.1, "lon": 56.5, "sog": 10.0, "cog": 270.0}


def test_unwatched_vessel_is_info_and_ids_are_stable(tmp_path: Path) -> None:
    """Alerts of an unwatched vessel are info; replaying the same lines gives the same ids."""
    lines = track(538000009, [(57.5, 26.1), (55.7, 26.1)], T0, interval_s=60, speed_kn=15)
    first = run(tmp_path, lines)
    second = run(tmp_path, lines)
    assert [a["id"] for a in first] == [a["id"] for a in second]
    assert len({a["id"] for a in first}) == len(first)
    assert {a["severity"] for a in first} == {"info"}


def test_min_dwell_holds_back_a_brief_visit(tmp_path: Path) -> None:
    """With min_dwell_s set, a vessel that is inside only briefly makes no enter and no exit; one that
    stays gets its enter, timed when it first came inside."""
    env = {"MONITOR_GEOFENCE__MIN_DWELL_S": "900", "MONITOR_GEOFENCE__HYSTERESIS_M": "0"}
    # 6 km hops at 20 kn take 10 minutes each: inside for 10 minutes only.
    brief = position_lines(470000004, 55.65, 25.95, T0) + position_lines(470000004, 55.59, 25.95, T0 + 600)
    brief += position_lines(470000004, 55.65, 25.95, T0 + 1200)
    assert kinds(run(tmp_path, brief, env), 470000004) == []
    stay = position_lines(470000005, 55.65, 25.95, T0)
    stay += [ln for k in range(12) for ln in position_lines(470000005, 55.59, 25.95, T0 + 600 + 120 * k)]
    got = [a for a in run(tmp_path, stay, env) if a["mmsi"] == 470000005]
    assert [(a["kind"], a["time"]) for a in got] == [("zone_enter", "2025-06-15T15:16:40Z")]
