"""The oil route beyond Hormuz (issue 15) with the three real zone files loaded together: one replay of
simulated tankers through Hormuz, Malacca-Singapore and Bab el-Mandeb each way gives one transit per
passage with the right strait and direction and no `wrong_way` or `on_land`; a Korean tanker's voyage from
Hormuz outbound to Malacca eastbound, ten days on, is linked and shown by the vessel API, and a silence of
hers in the Indian Ocean is `dark` judged against her route.

Truth comes from the simulator's plans (which strait, which way, the route sailed) and from geometry
worked out here with shapely and the haversine formula (where the route crosses the gates, how far apart
those crossings lie along it), not from the code under test."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from shapely.geometry import LineString

from monitor.config import load_settings
from monitor.pipeline import Pipeline
from monitor.views import vessel_dict
from monitor.zones import PACKAGED, ZoneFile, load_configured_zones
from tests.test_zone_files import ROUTES as NEW_ROUTES
from tools.simulate import TRAFFIC_INBOUND, TRAFFIC_OUTBOUND, Scenario, VesselPlan, generate

START = datetime(2026, 3, 1, tzinfo=UTC)
SPEED_KN = 14.0
STRAITS = {"hormuz": "strait-of-hormuz", "malacca_singapore": "malacca-strait",
           "bab_el_mandeb": "mandeb-strait"}
KOREAN = 440_123_001  # MID 440: on the default `korea` watchlist (and its roster)
# Out of the Gulf of Oman, across the Arabian Sea, south of Sri Lanka, to the Malacca approach, in the
# open ocean all the way (no zone of any file), then the Malacca eastbound route of tests/test_zone_files.
OCEAN = [(57.6, 24.6), (59.0, 24.0), (60.5, 23.0), (62.0, 20.0), (72.0, 10.0), (80.5, 5.4), (92.0, 5.8)]
# A tanker at anchor off Fujairah for the whole run, reporting every 3 minutes: the feed goes on while the
# Korean tanker is silent (a silence of the whole feed is an outage of the feed, and no vessel's).
ANCHORED = VesselPlan(mmsi=477_199_999, route=[(56.45, 25.15)], speed_kn=10.0, report_interval_s=180.0,
                      name="SIM ANCHOR", ship_type=80, waits={0: math.inf}, anchored=frozenset({0}))
SILENCE = (4 * 86_400.0, 4 * 86_400.0 + 9 * 3600.0)  # 9 h without a word, mid-ocean (the route's 6 h)


def _haversine_nm(a: tuple[float, float], b: tuple[float, float]) -> float:
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h)) / 1852.0


def _along(route: list[tuple[float, float]], gate: LineString) -> float:
    """Nautical miles along the route from its start to where it first crosses the gate."""
    done = 0.0
    for a, b in itertools.pairwise(route):
        leg = LineString([a, b])
        if leg.intersects(gate):
            p = leg.intersection(gate)
            point = (p.x, p.y) if p.geom_type == "Point" else (p.geoms[0].x, p.geoms[0].y)  # type: ignore[attr-defined]
            return done + _haversine_nm(a, point)
        done += _haversine_nm(a, b)
    raise AssertionError("the route never crosses the gate")


@pytest.fixture(scope="module")
def zonefile() -> ZoneFile:
    return load_configured_zones(list(PACKAGED))


@pytest.fixture(scope="module")
def run(zonefile: ZoneFile) -> tuple[Pipeline, list[dict[str, Any]], dict[int, tuple[str, str]], list[Any]]:
    plans: list[VesselPlan] = []
    truth: dict[int, tuple[str, str]] = {}
    mmsi = 477_100_001
    for name, routes in (("hormuz", {"inbound": TRAFFIC_INBOUND, "outbound": TRAFFIC_OUTBOUND}),
                         *((n, NEW_ROUTES[n]) for n in ("malacca_singapore", "bab_el_mandeb"))):
        for direction, route in routes.items():
            plans.append(VesselPlan(mmsi=mmsi, route=list(route), speed_kn=SPEED_KN, report_interval_s=30.0,
                                    name=f"SIM {mmsi}", ship_type=80, draught=12.0))
            truth[mmsi] = (STRAITS[name], direction)
            mmsi += 1
    korean_route = [*TRAFFIC_OUTBOUND, *OCEAN, *NEW_ROUTES["malacca_singapore"]["inbound"]]
    plans.append(VesselPlan(mmsi=KOREAN, route=korean_route, speed_kn=SPEED_KN, report_interval_s=60.0,
                            name="HANBADA PIONEER", ship_type=81, draught=20.5, silences=[SILENCE]))
    scenario = Scenario(START, 12 * 86_400.0, [*plans, ANCHORED])
    pipeline = Pipeline(load_settings(None, env={}), zonefile)
    lines = list(generate(scenario))
    alerts: list[dict[str, Any]] = []
    for i in range(0, len(lines), 8192):
        alerts += [a.to_dict() for a in pipeline.process_lines(lines[i : i + 8192])]
    return pipeline, alerts, truth, korean_route


def test_one_replay_of_three_chokepoints_gives_one_transit_per_passage(run: Any) -> None:
    _, alerts, truth, _ = run
    for mmsi, (strait, direction) in truth.items():
        mine = [a for a in alerts if a["mmsi"] == mmsi]
        assert [(a["zone"]["id"], a["details"]["direction"]) for a in mine if a["kind"] == "transit"] == [
            (strait, direction)], mmsi
        assert not [a for a in mine if a["kind"] in ("wrong_way", "on_land")], mmsi


def test_the_korean_tankers_voyage_links_hormuz_to_malacca(run: Any, zonefile: ZoneFile) -> None:
    pipeline, alerts, _, route = run
    mine = [a for a in alerts if a["mmsi"] == KOREAN]
    assert [(a["zone"]["id"], a["details"]["direction"]) for a in mine if a["kind"] == "transit"] == [
        ("strait-of-hormuz", "outbound"), ("malacca-strait", "inbound")]
    assert not [a for a in mine if a["kind"] in ("wrong_way", "on_land", "position_jump")]
    voyage = vessel_dict(pipeline, KOREAN, detail=True)["voyage"]  # type: ignore[index]
    (leg,) = voyage["legs"]
    assert (leg["from"], leg["to"]) == ("strait-of-hormuz", "malacca-strait")
    # The truth: the route's length between the Hormuz gate it leaves by (the outer) and the Malacca gate
    # it enters by (the outer), at the plan's speed; the silence does not stop the ship.
    hormuz_out = zonefile.by_id(zonefile.by_id("strait-of-hormuz").gates[0]).geometry  # type: ignore[index]
    malacca_in = zonefile.by_id(zonefile.by_id("malacca-strait").gates[0]).geometry  # type: ignore[index]
    sailed_nm = _along(route, malacca_in) - _along(route, hormuz_out)
    assert leg["days"] == pytest.approx(sailed_nm / SPEED_KN / 24.0, rel=0.01)
    assert 8 < leg["days"] < 12


def test_a_silence_on_the_route_is_dark_against_the_route(run: Any) -> None:
    _, alerts, _, _ = run
    mine = [a for a in alerts if a["mmsi"] == KOREAN]
    # (At the end of her plan, in the Malacca approaches, she falls silent for good: a region's `dark`.)
    dark = [a for a in mine if a["kind"] == "dark" and a["time"] < "2026-03-11"]
    assert len(dark) == 1
    (alert,) = dark
    assert alert["details"]["route"]["from"] == "strait-of-hormuz"
    silent_from = START.timestamp() + SILENCE[0]
    seen = datetime.fromisoformat(alert["details"]["last_seen"]).timestamp()
    assert silent_from - 60 <= seen <= silent_from
    fired = datetime.fromisoformat(alert["time"]).timestamp()
    assert fired == pytest.approx(seen + 6 * 3600, abs=1)
    assert [a["kind"] for a in mine if a["kind"] == "reappeared"] == ["reappeared"]
