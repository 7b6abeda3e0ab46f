"""`hazard_enter` and `corridor_departure` on simulated feeds: who gets them, once per entry or episode,
not from a zone past its `expires`; and the fast path gives exactly the reference path's alerts with
hazards and corridors in the zone file. Truth comes from the planned fixes and from shapely and the
haversine formula applied here, never from the detectors."""

from __future__ import annotations

import calendar
import gzip
import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config import load_settings
from monitor.pipeline import Pipeline
from monitor.zones import ZoneFile, default_zone_path, load_zone_file, merge_zone_features
from tests.helpers import T0, box, feature, position_lines, synthetic_zones, write_zones
from tests.oracle import use_reference

ROOT = Path(__file__).resolve().parents[1]
WATCHED = 440000001  # MID 440: the default watchlist `korea`
OTHER = 538000002
HAZARD = box(56.5, 26.05, 56.6, 26.15)
CORRIDOR = box(56.0, 25.70, 57.0, 25.75)  # a strip across the toy strait, south of the lane


def polygon(coordinates: list[list[list[float]]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": coordinates}


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def zones(tmp_path: Path, *, hazard_expires: float | None = None, corridor_expires: float | None = None,
          corridor: bool = True) -> ZoneFile:
    collection = synthetic_zones()
    extra: dict[str, Any] = {} if hazard_expires is None else {"expires": iso(hazard_expires)}
    collection["features"].append(feature("mines", "hazard", polygon(HAZARD), **extra))
    if corridor:
        extra = {} if corridor_expires is None else {"expires": iso(corridor_expires)}
        collection["features"].append(feature("evac", "corridor", polygon(CORRIDOR), **extra))
    return load_zone_file(write_zones(tmp_path / "zones.geojson", collection))


def fixes_lines(fixes: list[tuple[int, float, float, float]], sog: float = 12.0, cog: float = 270.0
                ) -> list[bytes]:
    """(mmsi, lon, lat, time) fixes, in time order."""
    out: list[bytes] = []
    for mmsi, lon, lat, t in sorted(fixes, key=lambda f: f[3]):
        out += position_lines(mmsi, lon, lat, t, sog=sog, cog=cog)
    return out


def run(zonefile: ZoneFile, lines: list[bytes], config: str = "", tmp_path: Path | None = None,
        fast: bool = True, batch: int = 4096) -> list[dict[str, Any]]:
    path = None
    if config:
        assert tmp_path is not None
        path = tmp_path / "monitor.toml"
        path.write_text(config)
    p = Pipeline(load_settings(path, env={}), zonefile)
    if not fast:
        use_reference(p)
    out: list[dict[str, Any]] = []
    for i in range(0, len(lines), batch):
        out += [a.to_dict() for a in p.process_lines(lines[i : i + batch])]
    return out


def of(alerts: list[dict[str, Any]], kind: str, mmsi: int | None = None) -> list[dict[str, Any]]:
    return [a for a in alerts if a["kind"] == kind and (mmsi is None or a["mmsi"] == mmsi)]


def westward(mmsi: int, lat: float, t0: float, lon0: float = 57.305, lon1: float = 55.805,
             step: float = 0.01, dt: float = 60.0) -> list[tuple[int, float, float, float]]:
    """Fixes a minute apart heading west along `lat`, never exactly on a zone's edge (at x.xx5)."""
    n = round((lon0 - lon1) / step)
    return [(mmsi, round(lon0 - k * step, 6), lat, t0 + k * dt) for k in range(n + 1)]


# ---- hazard_enter ---------------------------------------------------------------------------------------

def test_hazard_enter_for_any_vessel_critical_when_watched(tmp_path: Path) -> None:
    """Two vessels cross the hazard: each gets one hazard_enter at its first fix inside (shapely says
    which), with the zone_enter of the same fix; critical for the watched vessel, warning for the other."""
    fixes = westward(WATCHED, 26.1, T0) + westward(OTHER, 26.08, T0 + 20)
    got = run(zones(tmp_path), fixes_lines(fixes))
    hazard = shapely.Polygon(HAZARD[0])
    for mmsi, severity in ((WATCHED, "critical"), (OTHER, "warning")):
        first_inside = next(f for f in fixes if f[0] == mmsi and hazard.contains(shapely.Point(f[1], f[2])))
        entered = of(got, "hazard_enter", mmsi)
        assert len(entered) == 1, entered
        a = entered[0]
        assert (a["time"], a["zone"]["id"], a["zone"]["kind"], a["severity"]) == (
            iso(first_inside[3]), "mines", "hazard", severity)
        assert a["position"]["lon"] == pytest.approx(first_inside[1])
        # In addition to the zone event, which the CONTRACT promises for every zone kind it tracks.
        assert [z["time"] for z in of(got, "zone_enter", mmsi) if z["zone"]["id"] == "mines"] == [a["time"]]


def test_hazard_enter_once_per_entry_through_the_tolerance_band(tmp_path: Path) -> None:
    """Jitter across the hazard's edge by tens of metres (inside geofence.hysteresis_m, 150 m) is one
    entry; a vessel that went about a kilometre out and came back enters again."""
    edge = 56.6  # the hazard's east edge; 0.0005 deg of longitude at 26.1N is about 50 m
    m_per_deg = 111_195 * math.cos(math.radians(26.1))
    assert 0.0005 * m_per_deg < 150 < 0.01 * m_per_deg
    path = [edge + 0.02, edge - 0.0005, edge + 0.0005, edge - 0.0005, edge + 0.0005, edge - 0.0005,
            edge + 0.01, edge - 0.0005]
    # Five minutes apart: no move here is a position jump (at most 2 km, 13 kn).
    fixes = [(OTHER, lon, 26.1, T0 + 300 * k) for k, lon in enumerate(path)]
    got = run(zones(tmp_path), fixes_lines(fixes))
    assert [a["time"] for a in of(got, "hazard_enter")] == [iso(T0 + 300), iso(T0 + 7 * 300)]


def test_a_vessel_first_heard_inside_a_hazard_gets_it_with_first_seen(tmp_path: Path) -> None:
    got = run(zones(tmp_path), fixes_lines([(OTHER, 56.55, 26.1, T0)]))
    assert [(a["kind"], a["details"]) for a in got if a["zone"] and a["zone"]["id"] == "mines"] == [
        ("zone_enter", {"first_seen": True}), ("hazard_enter", {"first_seen": True})]


def test_a_hazard_crossed_between_two_fixes_is_entered_interpolated(tmp_path: Path) -> None:
    """Fixes 0.4 degrees (40 km, an hour at 22 kn) apart pass over the 0.1-degree hazard: entered
    between them, as zone_enter is."""
    got = run(zones(tmp_path), fixes_lines([(OTHER, 56.8, 26.1, T0), (OTHER, 56.4, 26.1, T0 + 3600)]))
    entered = of(got, "hazard_enter")
    assert len(entered) == 1 and entered[0]["details"] == {"interpolated": True}
    # Entered at the east edge: 0.2 of 0.4 degrees along the move, so half an hour after the first fix.
    assert entered[0]["time"] == iso(T0 + 1800)


def test_an_expired_hazard_raises_nothing(tmp_path: Path) -> None:
    """The hazard expires at T0 + 80 min: a vessel entering before gets hazard_enter, one entering after
    gets neither hazard_enter nor any zone event of it."""
    fixes = westward(WATCHED, 26.1, T0) + westward(OTHER, 26.1, T0 + 3 * 3600)
    hazard = shapely.Polygon(HAZARD[0])
    entry = next(f[3] for f in fixes if f[0] == WATCHED and hazard.contains(shapely.Point(f[1], f[2])))
    leave = next(f[3] for f in fixes if f[3] > entry and not hazard.contains(shapely.Point(f[1], f[2])))
    assert entry < T0 + 4800 < leave
    got = run(zones(tmp_path, hazard_expires=T0 + 4800), fixes_lines(fixes))
    assert [a["mmsi"] for a in of(got, "hazard_enter")] == [WATCHED]
    assert not [a for a in got if a["mmsi"] == OTHER and a["zone"] and a["zone"]["id"] == "mines"]
    # The watched vessel left the hazard after its expiry: no zone_exit from it either.
    assert not [a for a in of(got, "zone_exit", WATCHED) if a["zone"]["id"] == "mines"]


# ---- corridor_departure ---------------------------------------------------------------------------------

def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


def corridor_gap_m(lon: float, lat: float) -> float:
    """Metres from a fix north of the corridor strip to it: to the point of its north edge due south."""
    north = CORRIDOR[0][2][1]
    assert lat > north and CORRIDOR[0][0][0] < lon < CORRIDOR[0][1][0]
    return haversine_m(lon, lat, lon, north)


def test_corridor_departure_once_per_episode_for_a_watched_vessel_only(tmp_path: Path) -> None:
    """A watched vessel and an unwatched one run 2.2 km north of the corridor through the strait: one
    alert for the watched vessel at its first fix in the strait, with the distance and the corridor's id;
    none for the other."""
    lat = 25.77
    fixes = westward(WATCHED, lat, T0) + westward(OTHER, lat, T0 + 10)
    got = run(zones(tmp_path), fixes_lines(fixes))
    strait = shapely.Polygon(box(56.0, 25.5, 57.0, 26.5)[0])
    first = next(f for f in fixes if f[0] == WATCHED and strait.contains(shapely.Point(f[1], f[2])))
    alerts = of(got, "corridor_departure")
    assert [a["mmsi"] for a in alerts] == [WATCHED]
    a = alerts[0]
    assert a["time"] == iso(first[3]) and a["zone"]["id"] == "strait" and a["severity"] == "warning"
    assert a["details"]["corridor"] == "evac"
    assert a["details"]["distance_m"] == pytest.approx(corridor_gap_m(first[1], first[2]), rel=0.005)


def test_no_corridor_departure_within_the_tolerance(tmp_path: Path) -> None:
    """About 550 m north of the corridor, under corridor.tolerance_m (1000 m): nothing; and with the
    tolerance set to 200 m in [corridor], the same track departs."""
    lat = 25.755
    assert 500 < corridor_gap_m(56.5, lat) < 600
    lines = fixes_lines(westward(WATCHED, lat, T0))
    assert not of(run(zones(tmp_path), lines), "corridor_departure")
    tight = run(zones(tmp_path), lines, "[corridor]\ntolerance_m = 200\n", tmp_path)
    assert len(of(tight, "corridor_departure")) == 1


def test_a_new_episode_after_the_gap_and_not_before(tmp_path: Path) -> None:
    """Fixes 5 minutes apart, 1.7 km out of the corridor or inside it. Out, inside for 10 minutes, out
    again: one episode (the gap is 15 min). Then inside for 20 minutes, out again: a second alert."""
    out_lat, in_lat = 25.765, 25.745
    assert corridor_gap_m(56.5, out_lat) > 1500
    plan = [out_lat] * 3 + [in_lat] * 2 + [out_lat] * 3 + [in_lat] * 5 + [out_lat] * 2
    fixes = [(WATCHED, 56.5, lat, T0 + 300 * k) for k, lat in enumerate(plan)]
    got = of(run(zones(tmp_path), fixes_lines(fixes)), "corridor_departure")
    assert [a["time"] for a in got] == [iso(T0), iso(T0 + 300 * 13)]


def test_no_corridor_departure_outside_the_strait_or_without_a_corridor_in_force(tmp_path: Path) -> None:
    """Far from the corridor but west of the strait (in the region only): nothing. With the corridor
    expired (or none at all), nothing in the strait either; a corridor expiring mid-track stops it."""
    lines = fixes_lines([(WATCHED, 55.7, 25.8 + 0.001 * k, T0 + 60 * k) for k in range(10)])
    assert not of(run(zones(tmp_path), lines), "corridor_departure")
    track = fixes_lines([(WATCHED, 56.5, 26.3, T0 + 60 * k) for k in range(10)])
    assert len(of(run(zones(tmp_path), track), "corridor_departure")) == 1
    assert not of(run(zones(tmp_path, corridor=False), track), "corridor_departure")
    assert not of(run(zones(tmp_path, corridor_expires=T0 - 1), track), "corridor_departure")
    # In force for the first 5 minutes only: one alert at the first fix; after a 20-minute gap out of
    # the strait and back, no second one (no corridor in force, so no departure).
    later = track + fixes_lines([(WATCHED, 56.5, 26.3, T0 + 3600 + 60 * k) for k in range(5)])
    got = of(run(zones(tmp_path, corridor_expires=T0 + 300), later), "corridor_departure")
    assert [a["time"] for a in got] == [iso(T0)]


def test_the_expires_property_is_read_as_utc(tmp_path: Path) -> None:
    """`expires` "2025-06-15T16:06:40Z" is T0 + 1 h (calendar.timegm, not the code under test)."""
    assert calendar.timegm((2025, 6, 15, 16, 6, 40, 0, 0, 0)) == T0 + 3600
    z = zones(tmp_path, hazard_expires=T0 + 3600).by_id("mines")
    assert z.expires == T0 + 3600 and z.properties["expires"] == "2025-06-15T16:06:40Z"


# ---- the fast path --------------------------------------------------------------------------------------

def expiring_zones(tmp_path: Path) -> ZoneFile:
    """The toy strait with two hazards and two corridors, one of each expiring 40 minutes in."""
    collection = synthetic_zones()
    lapse = {"expires": iso(T0 + 2400)}
    collection["features"] += [
        feature("mines", "hazard", polygon(HAZARD)),
        feature("wreck", "hazard", polygon(box(56.2, 25.9, 56.35, 26.05)), **lapse),
        feature("evac", "corridor", polygon(CORRIDOR)),
        feature("north", "corridor", polygon(box(56.0, 26.3, 57.0, 26.33)), **lapse),
    ]
    return load_zone_file(write_zones(tmp_path / "expiring.geojson", collection))


# Mostly close to the corridors' edges (within a few tolerances, where the pre-filter's band decides) and
# to the hazards, sometimes anywhere in and around the strait; silences long enough to end episodes.
fixes = st.lists(
    st.tuples(st.sampled_from([WATCHED, 440000002, OTHER]),
              st.one_of(st.floats(55.8, 57.2), st.floats(56.15, 56.65)),
              st.one_of(st.floats(25.6, 26.4), st.floats(25.68, 25.78), st.floats(26.27, 26.36)),
              st.sampled_from([0, 5, 60, 300, 901, 1900]), st.floats(0.0, 25.0), st.floats(0.0, 359.9)),
    min_size=1, max_size=60,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(track=fixes, batch=st.integers(1, 9))
def test_fast_path_equals_reference_with_hazards_and_corridors(
    tmp_path: Path, track: list[tuple[int, float, float, int, float, float]], batch: int
) -> None:
    """Random reports of watched and unwatched vessels around hazards and corridors, some expiring during
    the feed: identical alerts on the fast path and the reference path, whatever the batch size."""
    zonefile = expiring_zones(tmp_path)
    lines: list[bytes] = []
    t = T0
    for mmsi, lon, lat, dt, sog, cog in track:
        t += dt
        lines += position_lines(mmsi, lon, lat, t, sog=sog, cog=cog)
    fast = run(zonefile, lines, fast=True, batch=batch)
    assert fast == run(zonefile, lines, fast=False, batch=batch)


def test_fast_path_equals_reference_on_the_sample_with_hazards_and_corridors(tmp_path: Path) -> None:
    """The bundled sample with a hazard on the inbound lane and a corridor along the Omani side of the
    strait added to the Hormuz zones: both kinds are raised, and the fast path gives the reference's
    alerts in large and small batches."""
    base = load_zone_file(default_zone_path())
    strait = base.by_id(next(z.id for z in base.zones if z.kind == "strait"))
    lane = base.of_kind("tss_lane")[0]
    c = lane.geometry.centroid
    extra = [
        feature("sample-hazard", "hazard",
                {"type": "Polygon", "coordinates": box(c.x - 0.05, c.y - 0.05, c.x + 0.05, c.y + 0.05)}),
        feature("sample-corridor", "corridor", json.loads(shapely.to_geojson(
            shapely.box(*strait.geometry.bounds).intersection(strait.geometry).buffer(-0.08)))),
    ]
    check = merge_zone_features(base, extra)
    assert check.zone_file is not None, check.problems
    with gzip.open(ROOT / "examples" / "hormuz-sample.nmea.gz") as f:
        lines = f.read().splitlines()
    reference = run(check.zone_file, lines, fast=False, batch=8192)
    kinds = {a["kind"] for a in reference}
    assert {"hazard_enter", "corridor_departure"} <= kinds
    assert run(check.zone_file, lines, fast=True, batch=8192) == reference
    assert run(check.zone_file, lines, fast=True, batch=333) == reference


# Tracks of watched vessels along the corridor's north edge, each fix at a distance from it drawn as a
# multiple of the tolerance (0.3 to 2.5: at most 5 km, so no position jump in 5 minutes): in and out of
# the tolerance in the same zones, the fixes only the pre-filter's band sorts.
edge_tracks = st.lists(
    st.tuples(st.sampled_from([WATCHED, 440000002]), st.floats(0.3, 2.5),
              st.sampled_from([300, 600, 901, 1900])),
    min_size=1, max_size=40,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(track=edge_tracks, batch=st.integers(1, 7), tolerance=st.sampled_from([500, 1000, 2000]))
def test_fast_path_equals_reference_along_a_corridors_edge(
    tmp_path: Path, track: list[tuple[int, float, int]], batch: int, tolerance: int
) -> None:
    """Watched vessels drifting across corridor.tolerance_m of a corridor's edge, episodes ending and
    starting again: identical alerts on both paths."""
    zonefile = zones(tmp_path)
    lines: list[bytes] = []
    t = T0
    north = CORRIDOR[0][2][1]
    for k, (mmsi, ratio, dt) in enumerate(track):
        lat = north + ratio * tolerance / 111_195.0  # (metres per degree of latitude)
        t += dt
        lines += position_lines(mmsi, 56.9 - 0.001 * k, lat, t, sog=8.0, cog=270.0)
    config = f"[corridor]\ntolerance_m = {tolerance}\n"
    fast = run(zonefile, lines, config, tmp_path, fast=True, batch=batch)
    assert fast == run(zonefile, lines, config, tmp_path, fast=False, batch=batch)
