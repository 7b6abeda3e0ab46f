"""Voyages (issue 15, point 3): a watched vessel's transits of several chokepoints linked in order, shown by
the vessel API; between chokepoints, at sea outside every region, `dark` judges it against its route.

Two chokepoints: the synthetic one of tests/helpers.py and a copy moved 45° east and 24° south (as in
tests/test_zone_files_many.py). The tracks are straight lines at constant speed, so the truth (when each
gate is crossed, how long between chokepoints, when a silence passes the route's limit) is worked out here
from the plan, not by the code under test."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts import iso_time
from monitor.config import load_settings
from monitor.pipeline import Pipeline
from monitor.views import vessel_dict
from monitor.zones import load_zone_files
from tests.helpers import T0, position_lines, static_lines, synthetic_zones, write_zones
from tests.test_zone_files_many import DX, DY, moved

KNOT = 1852.0 / 3600.0
LAT = 26.1  # the synthetic strait's lane latitude; the second strait's is LAT + DY


def leg(mmsi: int, start: tuple[float, float], end: tuple[float, float], t0: int, speed_kn: float,
        interval_s: int) -> tuple[list[tuple[int, bytes]], int, Any]:
    """Fixes every interval_s from start to end at speed_kn (flat earth at the mean latitude, as the
    positions are interpolated); returns (time, line) pairs, the time of the last fix, and the time at
    which the track passes a given longitude."""
    (x0, y0), (x1, y1) = start, end
    kx = 111_320.0 * math.cos(math.radians((y0 + y1) / 2))
    dist = math.hypot((x1 - x0) * kx, (y1 - y0) * 111_320.0)
    duration = dist / (speed_kn * KNOT)
    cog = (math.degrees(math.atan2((x1 - x0) * kx, (y1 - y0) * 111_320.0)) + 360) % 360
    out: list[tuple[int, bytes]] = []
    steps = max(1, int(duration // interval_s))
    for k in range(steps + 1):
        t = t0 + k * interval_s
        f = min(1.0, (t - t0) / duration)
        out += [(t, line) for line in position_lines(mmsi, x0 + (x1 - x0) * f, y0 + (y1 - y0) * f, t,
                                                      speed_kn, cog)]

    def at_lon(lon: float) -> float:
        return t0 + (lon - x0) / (x1 - x0) * duration

    return out, out[-1][0], at_lon


@pytest.fixture
def zonefile(tmp_path: Path) -> Any:
    a = write_zones(tmp_path / "a.geojson", synthetic_zones())
    b = write_zones(tmp_path / "b.geojson", moved(synthetic_zones()))
    return load_zone_files([a, b])


def run(zonefile: Any, timed: list[tuple[int, bytes]]) -> tuple[Pipeline, list[dict[str, Any]]]:
    pipeline = Pipeline(load_settings(None, env={}), zonefile)
    lines = [line for _, line in sorted(timed, key=lambda x: x[0])]
    alerts: list[dict[str, Any]] = []
    for i in range(0, len(lines), 500):
        alerts += [a.to_dict() for a in pipeline.process_lines(lines[i : i + 500])]
    return pipeline, alerts


def test_a_watched_tanker_links_its_transits_into_a_voyage(zonefile: Any) -> None:
    """A Korean tanker (MID 440: the default `korea` watchlist) leaves through the first strait outbound,
    sails on reporting every 3 hours, and passes the second strait the same way about ten days later:
    two transits, one leg with the days between them, no `dark` on the way. An unwatched vessel on the
    same voyage keeps none."""
    watched, other = 440000001, 538000009
    out_a, t1, at_a = leg(watched, (55.7, LAT), (60.0, LAT), T0, 12.0, 60)
    sea, t2, _ = leg(watched, (60.0, LAT), (100.5, LAT + DY), t1 + 3 * 3600, 12.0, 3 * 3600)
    in_b, _, at_b = leg(watched, (100.5, LAT + DY), (103.0, LAT + DY), t2 + 3 * 3600, 12.0, 60)
    twin = [(t, line) for t, line in leg(other, (55.7, LAT - 0.05), (60.0, LAT - 0.05), T0, 12.0, 60)[0]]
    pipeline, alerts = run(zonefile, out_a + sea + in_b + twin)
    transits = [a for a in alerts if a["kind"] == "transit" and a["mmsi"] == watched]
    assert [(a["zone"]["id"], a["details"]["direction"]) for a in transits] == [
        ("strait", "outbound"), ("b-strait", "outbound")]
    assert not [a for a in alerts if a["kind"] == "dark"]
    voyage = vessel_dict(pipeline, watched, detail=True)["voyage"]  # type: ignore[index]
    left_a, reached_b = at_a(57.0), at_b(56.0 + DX)  # the first's outer gate, the second's inner gate
    assert [t["strait"] for t in voyage["transits"]] == ["strait", "b-strait"]
    assert abs(_seconds(voyage["transits"][0]["completed"]) - left_a) <= 1.0
    assert abs(_seconds(voyage["transits"][1]["entered"]) - reached_b) <= 1.0
    (only,) = voyage["legs"]
    assert (only["from"], only["to"]) == ("strait", "b-strait")
    assert only["days"] == pytest.approx((reached_b - left_a) / 86_400.0, abs=0.01)
    assert 9 < only["days"] < 12  # (Hormuz to Malacca at 12 kn: about ten days)
    assert voyage["on_route"]["strait"] == "b-strait"
    assert vessel_dict(pipeline, other, detail=True)["voyage"] is None  # type: ignore[index]


def test_silence_at_sea_is_judged_against_the_route(zonefile: Any) -> None:
    """At sea outside every region after leaving a strait: a watched vessel silent for the route's limit
    (NORMAL 6 h) is `dark` once, at that moment, with the strait it left; an unwatched one, or a watched
    one that never passed a strait, is not (no region watches them there). A vessel reporting in the
    region moves the feed clock on."""
    watched, unwatched, never = 440000002, 538000003, 440000004
    a, last_a, _ = leg(watched, (55.7, LAT), (60.0, LAT), T0, 12.0, 60)
    b, _, _ = leg(unwatched, (55.7, LAT - 0.05), (60.0, LAT - 0.05), T0, 12.0, 60)
    c, _, _ = leg(never, (58.5, LAT + 0.3), (60.5, LAT + 0.3), T0, 12.0, 60)
    clock, _, _ = leg(538000005, (54.5, 25.2), (55.5, 25.2), T0, 0.5, 600)  # slow, in the region, 12 h+
    clock += [(last_a + 8 * 3600 + k * 600, line) for k in range(6)
              for line in position_lines(538000005, 55.5, 25.2, last_a + 8 * 3600 + k * 600, 0.5)]
    _, alerts = run(zonefile, a + b + c + clock)
    dark = [x for x in alerts if x["kind"] == "dark"]
    assert [x["mmsi"] for x in dark] == [watched]
    (alert,) = dark
    assert alert["time"] == iso_time(last_a + 6 * 3600)
    assert alert["zone"]["id"] == "strait"
    assert alert["details"]["route"]["from"] == "strait"
    assert alert["details"]["route"]["direction"] == "outbound"
    assert alert["severity"] in ("warning", "critical")


def _seconds(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def test_a_ship_that_changes_mmsi_keeps_its_voyage_by_imo(zonefile: Any) -> None:
    """A tanker on the desk's list by IMO number passes the first strait as a Marshall Islands ship, then
    the second under a Panama MMSI (flag hopping): the second MMSI's voyage holds both transits, each with
    the MMSI it was made under, and their leg. Another listed ship, with another IMO number, passing the
    second strait beside it, takes nothing of it."""
    imo, other_imo = 9_304_356, 9_074_729  # valid IMO numbers (check digits 6 and 9)
    fleet = json.dumps({"fleet": {"imos": [imo, other_imo]}})
    settings = load_settings(None, env={"MONITOR_WATCHLISTS": fleet})
    first, second, stranger = 538_000_101, 352_000_202, 352_000_303
    a, t1, _ = leg(first, (55.7, LAT), (60.0, LAT), T0, 12.0, 60)
    b, _, _ = leg(second, (100.5, LAT + DY), (103.0, LAT + DY), t1 + 9 * 86_400, 12.0, 60)
    c, _, _ = leg(stranger, (100.5, LAT + DY - 0.05), (103.0, LAT + DY - 0.05), t1 + 9 * 86_400, 12.0, 60)
    statics = [(T0 + 1, line) for line in static_lines(first, T0 + 1, "HOPPER", imo=imo)]
    statics += [(t1 + 9 * 86_400 + 1, line) for line in static_lines(second, t1 + 9 * 86_400 + 1, "HOPPER",
                                                                   imo=imo)]
    statics += [(t1 + 9 * 86_400 + 1, line) for line in static_lines(stranger, t1 + 9 * 86_400 + 1, "OTHER",
                                                                   imo=other_imo)]
    pipeline = Pipeline(settings, zonefile)
    lines = [line for _, line in sorted(a + b + c + statics, key=lambda x: x[0])]
    for i in range(0, len(lines), 500):
        pipeline.process_lines(lines[i : i + 500])
    voyage = vessel_dict(pipeline, second, detail=True)["voyage"]  # type: ignore[index]
    assert [(t["strait"], t["mmsi"]) for t in voyage["transits"]] == [("strait", first), ("b-strait", second)]
    assert [(leg_["from"], leg_["to"]) for leg_ in voyage["legs"]] == [("strait", "b-strait")]
    alone = vessel_dict(pipeline, stranger, detail=True)["voyage"]  # type: ignore[index]
    assert [(t["strait"], t["mmsi"]) for t in alone["transits"]] == [("b-strait", stranger)]
    assert alone["legs"] == []
