"""The zone-file loader: a valid file loads into frozen zones; every kind of broken file is refused with
every problem named by its feature."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import shapely

from monitor.errors import EXIT_CONFIG, StartupError, ZoneFileError
from monitor.zones import ZONE_KINDS, Zone, ZoneFile, check_zone_file, default_zone_path, load_zone_file

FIXTURES = Path(__file__).parent / "data" / "zones"


def _square(lon: float, lat: float, size: float = 0.1) -> dict[str, Any]:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def _feature(properties: dict[str, Any], geometry: dict[str, Any] | None) -> dict[str, Any]:
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def _valid() -> dict[str, Any]:
    """A small file with one zone of every kind, in the Strait of Hormuz ([lon, lat])."""
    return {
        "type": "FeatureCollection",
        "properties": {"attribution": "test data"},
        "features": [
            _feature({"id": "gulf", "name": "Gulf", "kind": "region"}, _square(55.0, 25.0, 2.0)),
            _feature(
                {"id": "strait", "name": "Strait", "kind": "strait", "gates": ["outer", "inner"]},
                _square(56.0, 26.0, 0.8),
            ),
            _feature(
                {"id": "outer", "name": "Outer gate", "kind": "gate"},
                {"type": "LineString", "coordinates": [[56.8, 26.0], [56.8, 26.8]]},
            ),
            _feature(
                {"id": "inner", "name": "Inner gate", "kind": "gate"},
                {"type": "LineString", "coordinates": [[56.0, 26.0], [56.0, 26.8]]},
            ),
            _feature(
                {"id": "lane-in", "name": "Lane", "kind": "tss_lane", "bearing": 287}, _square(56.3, 26.5)
            ),
            _feature({"id": "sep", "name": "Separation", "kind": "separation_zone"}, _square(56.3, 26.4)),
            _feature({"id": "port-x", "name": "Port", "kind": "port", "country": "ir"}, _square(56.1, 27.0)),
            _feature({"id": "anch", "name": "Anchorage", "kind": "anchorage"}, _square(56.4, 25.1)),
            _feature(
                {"id": "ts-om", "name": "Oman", "kind": "territorial_sea", "country": "OM"},
                _square(56.2, 26.2),
            ),
            _feature(
                {"id": "land-1", "name": "Land", "kind": "land"},
                {"type": "MultiPolygon", "coordinates": [_square(56.2, 25.5)["coordinates"]]},
            ),
            _feature(
                {"id": "mines", "name": "Mined area", "kind": "hazard", "expires": "2026-03-01T12:00:00Z"},
                _square(56.5, 26.1, 0.05),
            ),
            _feature({"id": "evac", "name": "Corridor", "kind": "corridor"}, _square(56.0, 26.6, 0.05)),
        ],
    }


def _write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "zones.geojson"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(ZoneFileError) as caught:
        load_zone_file(path)
    assert caught.value.path == str(path)
    assert caught.value.problems, "a ZoneFileError must list at least one problem"
    return caught.value.problems


def _broken(tmp_path: Path, index: int, **changes: Any) -> list[str]:
    """Problems of the valid file with feature `index`'s properties updated (a None value deletes the key;
    the key `geometry` replaces the geometry)."""
    document = _valid()
    feature = document["features"][index]
    for key, value in changes.items():
        if key == "geometry":
            feature["geometry"] = value
        elif value is None:
            feature["properties"].pop(key, None)
        else:
            feature["properties"][key] = value
    return _problems(_write(tmp_path, document))


def _only(problems: list[str]) -> str:
    assert len(problems) == 1, problems
    return problems[0]


# ------------------------------------------------------------------------------------------ valid files


def test_valid_file_loads_every_kind(tmp_path: Path) -> None:
    """A valid file gives one Zone per feature, in file order, with kind-specific fields typed."""
    zone_file = load_zone_file(_write(tmp_path, _valid()))
    assert isinstance(zone_file, ZoneFile)
    assert [zone.id for zone in zone_file.zones] == [f["properties"]["id"] for f in _valid()["features"]]
    assert {zone.kind for zone in zone_file.zones} == set(ZONE_KINDS)
    lane = zone_file.by_id("lane-in")
    assert lane.bearing == 287.0 and isinstance(lane.bearing, float)
    assert zone_file.by_id("strait").gates == ("outer", "inner")
    assert zone_file.by_id("outer").geometry.geom_type == "LineString"
    assert zone_file.by_id("land-1").geometry.geom_type == "MultiPolygon"
    assert zone_file.by_id("gulf").bearing is None and zone_file.by_id("gulf").gates is None
    assert zone_file.properties == {"attribution": "test data"}
    assert zone_file.path == str(tmp_path / "zones.geojson")


def test_country_is_normalized_and_properties_kept(tmp_path: Path) -> None:
    """A lower-case alpha-2 country is accepted as upper case; the original properties stay available."""
    zone = load_zone_file(_write(tmp_path, _valid())).by_id("port-x")
    assert zone.country == "IR"
    assert zone.properties["country"] == "ir"
    assert zone.properties["name"] == "Port"


def test_geometry_is_lon_lat(tmp_path: Path) -> None:
    """GeoJSON order is kept: x is longitude, y is latitude."""
    zone = load_zone_file(_write(tmp_path, _valid())).by_id("port-x")
    assert shapely.contains_xy(zone.geometry, 56.15, 27.05)
    assert not shapely.contains_xy(zone.geometry, 27.05, 56.15)


def test_name_defaults_to_id(tmp_path: Path) -> None:
    """A feature without a name is named by its id rather than refused."""
    document = _valid()
    del document["features"][0]["properties"]["name"]
    assert load_zone_file(_write(tmp_path, document)).by_id("gulf").name == "gulf"


def test_feature_level_id_is_accepted(tmp_path: Path) -> None:
    """GeoJSON's own Feature "id" member serves when properties has no id."""
    document = _valid()
    del document["features"][0]["properties"]["id"]
    document["features"][0]["id"] = "gulf-by-feature-id"
    assert load_zone_file(_write(tmp_path, document)).by_id("gulf-by-feature-id").kind == "region"


def test_by_id_and_of_kind(tmp_path: Path) -> None:
    """by_id finds one zone or raises KeyError; of_kind filters by one or several kinds in file order."""
    zone_file = load_zone_file(_write(tmp_path, _valid()))
    assert zone_file.by_id("anch").kind == "anchorage"
    with pytest.raises(KeyError):
        zone_file.by_id("no-such-zone")
    assert [zone.id for zone in zone_file.of_kind("gate")] == ["outer", "inner"]
    assert [zone.id for zone in zone_file.of_kind("port", "anchorage")] == ["port-x", "anch"]
    assert zone_file.of_kind("no-such-kind") == []


def test_zones_are_frozen_and_hashable(tmp_path: Path) -> None:
    """Zones cannot be modified and can be used as dict keys or set members."""
    zone = load_zone_file(_write(tmp_path, _valid())).by_id("strait")
    assert isinstance(zone, Zone)
    with pytest.raises(AttributeError):
        zone.kind = "port"  # type: ignore[misc]
    assert {zone: 1}[zone] == 1


def test_default_zone_path_exists_and_loads() -> None:
    """The packaged default zone file is found through importlib.resources and is valid."""
    path = default_zone_path()
    assert path.is_file()
    assert path.name == "hormuz.geojson"
    zone_file = load_zone_file(path)
    assert zone_file.of_kind("strait")
    assert zone_file.properties


# ------------------------------------------------------------------------------------- whole-file problems


def test_refuses_unreadable_file(tmp_path: Path) -> None:
    """A path that does not exist is a ZoneFileError naming the file, not an OSError."""
    problem = _only(_problems(tmp_path / "missing.geojson"))
    assert problem.startswith("cannot read file")


def test_refuses_non_utf8_file(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are refused as unreadable."""
    path = tmp_path / "latin1.geojson"
    path.write_bytes(b'{"type": "FeatureCollection", "features": [], "name": "\xe9"}')
    assert _only(_problems(path)).startswith("cannot read file")


def test_refuses_non_json() -> None:
    """A truncated file is refused as not JSON, with the parser's position."""
    problem = _only(_problems(FIXTURES / "not_json.geojson"))
    assert problem.startswith("not JSON")
    assert "line" in problem


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"type": "Feature", "properties": {}, "geometry": None},
        {"type": "Polygon", "coordinates": []},
        {"type": "FeatureCollection"},
        {"type": "FeatureCollection", "features": {"a": 1}},
    ],
)
def test_refuses_json_that_is_not_a_feature_collection(tmp_path: Path, document: Any) -> None:
    """JSON that is not a FeatureCollection with a list of features is refused."""
    assert "not a GeoJSON FeatureCollection" in _only(_problems(_write(tmp_path, document)))


def test_refuses_empty_collection(tmp_path: Path) -> None:
    """A FeatureCollection without features is refused: the monitor would watch nothing."""
    problem = _only(_problems(_write(tmp_path, {"type": "FeatureCollection", "features": []})))
    assert "empty" in problem


def test_error_is_a_startup_error_with_config_exit_code(tmp_path: Path) -> None:
    """ZoneFileError makes the command line exit with EXIT_CONFIG (3), so systemd does not restart-loop."""
    with pytest.raises(StartupError) as caught:
        load_zone_file(tmp_path / "missing.geojson")
    assert caught.value.exit_code == EXIT_CONFIG
    assert str(tmp_path / "missing.geojson") in str(caught.value)


# ----------------------------------------------------------------------------------- feature problems


def test_refuses_unknown_kind(tmp_path: Path) -> None:
    """A kind outside ZONE_KINDS is refused, naming the feature and the kind."""
    problem = _only(_broken(tmp_path, 7, kind="harbour"))
    assert problem.startswith("feature 'anch': unknown kind 'harbour'")


def test_refuses_missing_kind(tmp_path: Path) -> None:
    """A feature without a kind is refused."""
    assert _only(_broken(tmp_path, 7, kind=None)).startswith("feature 'anch': missing 'kind'")


def test_refuses_missing_id(tmp_path: Path) -> None:
    """A feature without an id is named by its position in the features array."""
    assert _only(_broken(tmp_path, 7, id=None)) == "feature #7 (no id): missing 'id'"


@pytest.mark.parametrize("bad_id", [7, "has space", "a/b", "lane+", "#"])
def test_refuses_unusable_id(tmp_path: Path, bad_id: Any) -> None:
    """An id that is not a string, or would break an MQTT topic, is refused."""
    problem = _only(_broken(tmp_path, 7, id=bad_id))
    assert problem.startswith("feature ")
    assert "id" in problem


def test_refuses_duplicate_id(tmp_path: Path) -> None:
    """Two features with the same id are refused, naming the id and where it first appears."""
    problem = _only(_broken(tmp_path, 8, id="anch"))
    assert problem == "feature 'anch': duplicate id (also feature #7)"


def test_refuses_missing_geometry(tmp_path: Path) -> None:
    """A feature whose geometry is null is refused."""
    assert _only(_broken(tmp_path, 7, geometry=None)) == "feature 'anch': missing geometry"


def test_refuses_empty_geometry(tmp_path: Path) -> None:
    """A feature whose geometry has no coordinates is refused."""
    problem = _only(_broken(tmp_path, 7, geometry={"type": "Polygon", "coordinates": []}))
    assert problem == "feature 'anch': empty geometry"


def test_refuses_malformed_geometry(tmp_path: Path) -> None:
    """A polygon ring with too few positions is refused as unreadable rather than crashing."""
    geometry = {"type": "Polygon", "coordinates": [[[56.0, 26.0], [56.1, 26.0]]]}
    assert _only(_broken(tmp_path, 7, geometry=geometry)).startswith("feature 'anch': unreadable geometry")


def test_refuses_self_intersecting_polygon_with_reason_and_location() -> None:
    """A bow-tie polygon is refused with shapely's reason and the crossing point."""
    problem = _only(_problems(FIXTURES / "self_intersecting.geojson"))
    assert problem.startswith("feature 'bowtie-anchorage': invalid Polygon")
    assert "Self-intersection" in problem
    assert "56.45 26.45" in problem


def test_refuses_polygon_with_hole_outside(tmp_path: Path) -> None:
    """A hole outside its shell is invalid and refused, naming the feature."""
    geometry = _square(56.4, 25.1)
    geometry["coordinates"].append(_square(57.0, 25.1, 0.01)["coordinates"][0])
    problem = _only(_broken(tmp_path, 7, geometry=geometry))
    assert problem.startswith("feature 'anch': invalid Polygon: Hole lies outside shell")


def test_refuses_gate_that_is_not_a_line(tmp_path: Path) -> None:
    """A gate drawn as a polygon is refused: crossing detection needs a line."""
    problem = _only(_broken(tmp_path, 2, geometry=_square(56.8, 26.0)))
    assert problem == "feature 'outer': gate must be a LineString, got Polygon"


def test_refuses_degenerate_gate(tmp_path: Path) -> None:
    """A gate whose two points coincide is refused as an invalid LineString."""
    geometry = {"type": "LineString", "coordinates": [[56.8, 26.0], [56.8, 26.0]]}
    assert _only(_broken(tmp_path, 2, geometry=geometry)).startswith("feature 'outer': invalid LineString")


@pytest.mark.parametrize(
    "geometry",
    [
        {"type": "Point", "coordinates": [56.1, 27.0]},
        {"type": "LineString", "coordinates": [[56.1, 27.0], [56.2, 27.1]]},
    ],
)
def test_refuses_area_kind_that_is_not_a_polygon(tmp_path: Path, geometry: dict[str, Any]) -> None:
    """A port (like every kind but gate) must be a Polygon or MultiPolygon."""
    problem = _only(_broken(tmp_path, 6, geometry=geometry))
    assert problem.startswith("feature 'port-x': port must be a Polygon or MultiPolygon")


def test_refuses_strait_without_gates(tmp_path: Path) -> None:
    """A strait must say which gates define a transit."""
    assert _only(_broken(tmp_path, 1, gates=None)).startswith("feature 'strait': strait has no 'gates'")


@pytest.mark.parametrize("gates", [["outer"], ["outer", "inner", "outer"], "outer,inner", ["outer", 3]])
def test_refuses_strait_gates_not_two_ids(tmp_path: Path, gates: Any) -> None:
    """A strait's gates must be exactly two ids."""
    problem = _only(_broken(tmp_path, 1, gates=gates))
    assert problem.startswith("feature 'strait': strait 'gates' must be exactly 2 gate ids")


def test_refuses_strait_with_the_same_gate_twice(tmp_path: Path) -> None:
    """Outer and inner gate must differ, or no transit direction can be told."""
    problem = _only(_broken(tmp_path, 1, gates=["outer", "outer"]))
    assert problem.startswith("feature 'strait': strait 'gates' must be 2 different gates")


def test_refuses_strait_gate_that_does_not_exist() -> None:
    """A strait naming a gate that is not in the file is refused, naming both."""
    problem = _only(_problems(FIXTURES / "strait_gate_missing.geojson"))
    assert problem == "feature 'strait-x': strait gate 'gate-inner' does not exist"


def test_refuses_strait_gate_of_another_kind(tmp_path: Path) -> None:
    """A strait's gate must be a feature of kind gate."""
    problem = _only(_broken(tmp_path, 1, gates=["outer", "lane-in"]))
    assert problem == "feature 'strait': strait gate 'lane-in' is not of kind gate (it is 'tss_lane')"


def test_refuses_tss_lane_without_bearing(tmp_path: Path) -> None:
    """A lane without a bearing cannot support wrong-way detection."""
    assert _only(_broken(tmp_path, 4, bearing=None)) == "feature 'lane-in': tss_lane has no 'bearing'"


@pytest.mark.parametrize("bearing", ["287", True, [287]])
def test_refuses_non_numeric_bearing(tmp_path: Path, bearing: Any) -> None:
    """A bearing must be a JSON number."""
    problem = _only(_broken(tmp_path, 4, bearing=bearing))
    assert problem.startswith("feature 'lane-in': tss_lane 'bearing' must be a number")


@pytest.mark.parametrize("bearing", [360, 360.5, -1, -0.001])
def test_refuses_bearing_out_of_range(tmp_path: Path, bearing: float) -> None:
    """A bearing must lie in [0, 360)."""
    problem = _only(_broken(tmp_path, 4, bearing=bearing))
    assert problem.startswith("feature 'lane-in': tss_lane 'bearing' must be in [0, 360)")


def test_accepts_bearing_zero(tmp_path: Path) -> None:
    """Due north, 0°, is a valid bearing (the lower end of [0, 360) is included)."""
    document = _valid()
    document["features"][4]["properties"]["bearing"] = 0
    assert load_zone_file(_write(tmp_path, document)).by_id("lane-in").bearing == 0.0


def test_refuses_swapped_coordinates() -> None:
    """[lat, lon] written by mistake is caught when the "latitude" goes beyond ±90, and the message says
    how GeoJSON orders them."""
    problem = _only(_problems(FIXTURES / "swapped_latlon.geojson"))
    assert problem == (
        "feature 'singapore-strait': coordinates look swapped (lat beyond ±90): GeoJSON is [lon, lat]"
    )


def test_refuses_longitude_out_of_range(tmp_path: Path) -> None:
    """A longitude beyond ±180 is refused."""
    problem = _only(_broken(tmp_path, 7, geometry=_square(181.0, 25.0)))
    assert problem.startswith("feature 'anch': coordinates out of range (lon beyond ±180)")


@pytest.mark.parametrize("country", ["IRN", "I", "1R", 98, ""])
def test_refuses_country_that_is_not_two_letters(tmp_path: Path, country: Any) -> None:
    """A country must be an ISO 3166 alpha-2 code."""
    problem = _only(_broken(tmp_path, 8, country=country))
    assert problem.startswith("feature 'ts-om': 'country' must be an ISO 3166 alpha-2 code (2 letters)")


def test_reports_all_problems_in_file_order(tmp_path: Path) -> None:
    """Every problem of every feature is reported at once, ordered by feature, each naming its feature."""
    document = _valid()
    features = document["features"]
    features[1]["properties"]["gates"] = ["outer", "nowhere"]
    features[4]["properties"].pop("bearing")
    features[4]["geometry"] = copy.deepcopy(
        {
            "type": "Polygon",
            "coordinates": [[[56.4, 26.4], [56.5, 26.5], [56.5, 26.4], [56.4, 26.5], [56.4, 26.4]]],
        }
    )
    features[6]["properties"]["country"] = "IRN"
    del features[7]["properties"]["id"]
    features[9]["properties"]["kind"] = "continent"
    problems = _problems(_write(tmp_path, document))
    assert len(problems) == 6, problems
    assert problems[0].startswith("feature 'strait': strait gate 'nowhere'")
    assert problems[1].startswith("feature 'lane-in': invalid Polygon: Self-intersection")
    assert problems[2] == "feature 'lane-in': tss_lane has no 'bearing'"
    assert problems[3].startswith("feature 'port-x': 'country'")
    assert problems[4] == "feature #7 (no id): missing 'id'"
    assert problems[5].startswith("feature 'land-1': unknown kind 'continent'")


def test_error_message_names_first_problem_and_count(tmp_path: Path) -> None:
    """The exception's one-line message names the file, the first problem and how many more there are."""
    document = _valid()
    document["features"][4]["properties"].pop("bearing")
    document["features"][6]["properties"]["country"] = "IRN"
    path = _write(tmp_path, document)
    with pytest.raises(ZoneFileError) as caught:
        load_zone_file(path)
    assert str(caught.value) == f"{path}: feature 'lane-in': tss_lane has no 'bearing' (and 1 more)"


def test_refuses_feature_that_is_not_a_feature(tmp_path: Path) -> None:
    """An entry of features that is not a GeoJSON Feature is refused by position."""
    document = _valid()
    document["features"][2] = {"type": "LineString", "coordinates": [[56.8, 26.0], [56.8, 26.8]]}
    problems = _problems(_write(tmp_path, document))
    assert "feature #2 (no id): not a GeoJSON Feature" in problems
    # The strait's outer gate is gone with it, and that is reported on the strait too.
    assert "feature 'strait': strait gate 'outer' does not exist" in problems


def test_every_problem_is_carried_and_listed_by_id(tmp_path: Path) -> None:
    """Three features broken in three different ways: the loader's exception carries all three problems
    (its message stays one line, for a log), and check_zone_file lists the same three, each naming its id."""
    document = _valid()
    document["features"][2]["geometry"] = _square(56.8, 26.0)  # gate drawn as a polygon
    document["features"][4]["properties"]["bearing"] = 400  # lane bearing out of range
    document["features"][7]["geometry"] = _square(181.0, 25.0)  # longitude out of range
    path = _write(tmp_path, document)
    with pytest.raises(ZoneFileError) as caught:
        load_zone_file(path)
    assert len(str(caught.value).splitlines()) == 1 and "(and 2 more)" in str(caught.value)
    check = check_zone_file(path)
    assert check.zone_file is None
    assert list(check.problems) == caught.value.problems
    assert [problem.split(": ", 1)[0] for problem in check.problems] == [
        "feature 'outer'",
        "feature 'lane-in'",
        "feature 'anch'",
    ]


# ------------------------------------------------------------------------- where the features lie
#
# The truth here is computed from the files themselves, apart from monitor.zones: a "swapped" file is the
# real one with every [lon, lat] turned into [lat, lon], and distances are checked with shapely on the
# geometries (in degrees: one degree is at least 55 km anywhere within 60° of the equator).

REPO = Path(__file__).resolve().parents[1]
HORMUZ = REPO / "zones" / "hormuz.geojson"
GEODATA = REPO.parent / "shared" / "geodata"
needs_geodata = pytest.mark.skipif(not GEODATA.is_dir(), reason="../shared/geodata is not available")


def _swap(coordinates: Any) -> Any:
    """[lon, lat] -> [lat, lon] at every depth of a GeoJSON coordinates array."""
    if isinstance(coordinates[0], int | float):
        return [coordinates[1], coordinates[0], *coordinates[2:]]
    return [_swap(part) for part in coordinates]


def _shift(coordinates: Any, dlon: float, dlat: float) -> Any:
    if isinstance(coordinates[0], int | float):
        return [coordinates[0] + dlon, coordinates[1] + dlat]
    return [_shift(part, dlon, dlat) for part in coordinates]


def _hormuz() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(HORMUZ.read_text(encoding="utf-8"))
    return document


def _feature_by_id(document: dict[str, Any], zone_id: str) -> dict[str, Any]:
    return next(f for f in document["features"] if f["properties"]["id"] == zone_id)


def _distance_to_others_deg(document: dict[str, Any], zone_id: str) -> float:
    """Shortest distance in degrees from the feature to every other feature of the file (shapely)."""
    mine = shapely.geometry.shape(_feature_by_id(document, zone_id)["geometry"])
    others = [
        shapely.geometry.shape(f["geometry"])
        for f in document["features"]
        if f["properties"]["id"] != zone_id
    ]
    return float(min(shapely.distance(mine, others)))


def _coordinates(document: dict[str, Any]) -> Any:
    import numpy as np

    geometries = [shapely.geometry.shape(f["geometry"]) for f in document["features"]]
    return np.concatenate([shapely.get_coordinates(g) for g in geometries])


def test_shipped_file_passes_every_placement_check() -> None:
    """The real zones/hormuz.geojson (ports from Umm Qasr to Chabahar, land over the whole box) passes, and
    the reported bounding box is the extent of its coordinates."""
    check = check_zone_file(HORMUZ)
    assert check.problems == () and check.zone_file is not None
    coordinates = _coordinates(_hormuz())
    expected = (*coordinates.min(axis=0), *coordinates.max(axis=0))
    assert check.bounds == pytest.approx((expected[0], expected[1], expected[2], expected[3]))
    assert check.kinds["port"] == 26 and check.features == len(_hormuz()["features"])


@pytest.mark.parametrize(
    "zone_id", ["fujairah", "strait-of-hormuz", "hormuz-outer", "hormuz-tss-inbound", "land-2", "ts-om"]
)
def test_single_swapped_feature_is_refused_with_its_id(tmp_path: Path, zone_id: str) -> None:
    """One feature of the real file written [lat, lon] (still in range: Hormuz longitudes are under 90) is
    refused, and only that one, as looking swapped."""
    document = _hormuz()
    feature = _feature_by_id(document, zone_id)
    feature["geometry"]["coordinates"] = _swap(feature["geometry"]["coordinates"])
    coordinates = _coordinates(document)
    assert (abs(coordinates[:, 1]) <= 90).all()  # the old range check cannot see it
    assert _distance_to_others_deg(document, zone_id) > 1000 / 55  # truly far from every other feature
    problem = _only(_problems(_write(tmp_path, document)))
    assert problem.startswith(f"feature {zone_id!r}: looks like lat/lon swapped")
    assert "GeoJSON is [lon, lat]" in problem


def test_whole_file_swapped_is_refused(tmp_path: Path) -> None:
    """The real file written [lat, lon] throughout lies around lon 21-31, lat 47-62 (Eastern Europe) and
    is consistent with itself; it is refused because its features are named after the Strait of Hormuz,
    the Persian Gulf and the Gulf of Oman, with a whole-file problem that says where it would lie."""
    document = _hormuz()
    for feature in document["features"]:
        feature["geometry"]["coordinates"] = _swap(feature["geometry"]["coordinates"])
    coordinates = _coordinates(document)
    assert (abs(coordinates[:, 1]) <= 90).all()
    check = check_zone_file(_write(tmp_path, document))
    assert check.zone_file is None
    assert check.problems[0].startswith("whole file: coordinates look written [lat, lon]")
    assert "Strait of Hormuz" in check.problems[0]
    flagged = {problem.split(": ", 1)[0] for problem in check.problems[1:]}
    assert {"feature 'strait-of-hormuz'", "feature 'persian-gulf'", "feature 'gulf-of-oman'"} <= flagged
    assert all("looks like lat/lon swapped" in problem for problem in check.problems[1:])
    # The bounding box shows where the file lies as given: the real one's, with lon and lat exchanged.
    real = _coordinates(_hormuz())
    assert check.bounds == pytest.approx(
        (real[:, 1].min(), real[:, 0].min(), real[:, 1].max(), real[:, 0].max())
    )


def test_feature_moved_far_away_is_refused_with_its_id(tmp_path: Path) -> None:
    """A port moved 40° west and 20° north (into the Balkans) is refused as lying far from the others; a
    lon/lat swap does not explain it, so it is not called swapped."""
    document = _hormuz()
    jask = _feature_by_id(document, "jask")
    jask["geometry"]["coordinates"] = _shift(jask["geometry"]["coordinates"], -40.0, 20.0)
    assert _distance_to_others_deg(document, "jask") > 1000 / 55
    problem = _only(_problems(_write(tmp_path, document)))
    assert problem.startswith("feature 'jask': lies far from the file's other features")
    assert "1,000 km" in problem and "swapped" not in problem


def test_feature_in_a_sparse_file_far_from_the_rest_is_refused(tmp_path: Path) -> None:
    """In the small hand-written file, an anchorage put 15° east (beyond 70°E, so swapping would not help)
    is refused as far apart; the rest of the file is fine."""
    document = _valid()
    document["features"][7]["geometry"] = _square(71.4, 25.1)
    problem = _only(_problems(_write(tmp_path, document)))
    assert problem.startswith("feature 'anch': lies far from the file's other features")


def test_features_chained_across_a_wide_area_pass(tmp_path: Path) -> None:
    """A file as long as the Red Sea (ports every 4° of latitude, 2,000 km end to end) passes: each
    feature lies within 1,000 km of the next, so nothing is far apart."""
    features = [
        _feature({"id": f"port-{k}", "kind": "port"}, _square(38.0 - k * 0.5, 28.0 - k * 4.0, 0.05))
        for k in range(5)
    ]
    check = check_zone_file(_write(tmp_path, {"type": "FeatureCollection", "features": features}))
    assert check.problems == ()


def test_second_chokepoint_in_one_file_is_refused(tmp_path: Path) -> None:
    """Zones of a second chokepoint 2,500 km away in the same file are refused, each by id, pointing the
    user to a file of their own (the daemon takes several)."""
    document = _valid()
    document["features"] += [
        _feature({"id": "far-port", "kind": "port"}, _square(43.0, 12.5)),
        _feature({"id": "far-anch", "kind": "anchorage"}, _square(43.2, 12.6)),
    ]
    problems = _problems(_write(tmp_path, document))
    assert [problem.split(": ", 1)[0] for problem in problems] == ["feature 'far-port'", "feature 'far-anch'"]
    assert all("a zone file of their own" in problem for problem in problems)


def test_name_of_a_far_place_without_a_swap_to_explain_it_is_accepted(tmp_path: Path) -> None:
    """Names are ambiguous: zones named "Dover" on Delaware Bay (75.5°W) are not the Strait of Dover, and
    exchanging lon and lat would not put them there, so they are accepted."""
    features = [
        _feature(
            {"id": "dover-anchorage", "name": "Dover anchorage", "kind": "anchorage"}, _square(-75.4, 39.1)
        ),
        _feature({"id": "delaware-bay", "name": "Delaware Bay", "kind": "region"}, _square(-75.6, 38.8, 0.6)),
    ]
    check = check_zone_file(_write(tmp_path, {"type": "FeatureCollection", "features": features}))
    assert check.problems == ()


def _wpi_ports(name: str) -> list[tuple[str, str, float, float]]:
    """(port name, first world water body, lon, lat) of the WPI extract."""
    import csv

    with (GEODATA / f"wpi_pub150_{name}_ports.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [
        (
            row["Main Port Name"],
            row["World Water Body"].split(";")[0],
            float(row["Longitude"]),
            float(row["Latitude"]),
        )
        for row in rows
    ]


def _geodata_zone_file(name: str, title: str) -> dict[str, Any]:
    """A zone file built from ../shared/geodata the way tools/build_zones.py builds Hormuz's: Natural
    Earth land, OSM separation zones and lanes, territorial seas, WPI ports as small squares named with
    their water body ("Aden (Gulf of Aden)")."""
    from shapely.geometry import LineString, Polygon, mapping, shape

    features: list[dict[str, Any]] = []
    land = json.loads((GEODATA / f"ne_land_{name}.geojson").read_text(encoding="utf-8"))
    for k, item in enumerate(land["features"]):
        features.append(_feature({"id": f"land-{k}", "name": "Land", "kind": "land"}, item["geometry"]))
    tss = json.loads((GEODATA / f"osm_tss_{name}.geojson").read_text(encoding="utf-8"))
    for item in tss["features"]:
        properties = item["properties"]
        tags = str(properties.get("other_tags") or properties.get("parsed_other_tags"))
        line = shape(item["geometry"])
        osm = properties["osm_id"]
        if "separation_zone" in tags and line.is_closed:
            polygon = Polygon(line.coords)
            if polygon.is_valid:
                features.append(_feature(
                    {"id": f"sep-{osm}", "name": f"{title} TSS, separation zone", "kind": "separation_zone"},
                    mapping(polygon),
                ))
        elif "separation_lane" in tags and not line.is_closed:
            features.append(_feature(
                {"id": f"lane-{osm}", "name": f"{title} TSS, lane", "kind": "tss_lane",
                 "bearing": round(properties["tss_flow_bearing_deg"]) % 360},
                mapping(LineString(line.coords).buffer(0.01)),
            ))
    territorial = json.loads((GEODATA / f"territorial_sea_{name}.geojson").read_text(encoding="utf-8"))
    for item in territorial["features"]:
        p = item["properties"]
        properties = {"id": p["id"], "name": p["name"], "kind": "territorial_sea"}
        features.append(_feature(properties, item["geometry"]))
    for k, (port, water, lon, lat) in enumerate(_wpi_ports(name)):
        features.append(_feature({"id": f"port-{k}", "name": f"{port} ({water})", "kind": "port"},
                                 _square(lon - 0.02, lat - 0.02, 0.04)))
    return {"type": "FeatureCollection", "features": features}


@needs_geodata
@pytest.mark.parametrize(
    ("name", "title"), [("bab_el_mandeb", "Bab el-Mandeb"), ("malacca_singapore", "Singapore Strait")]
)
def test_files_built_from_the_other_regions_geodata_pass(tmp_path: Path, name: str, title: str) -> None:
    """Zone files built from the Bab el-Mandeb and Malacca-Singapore geodata (real land, TSS, territorial
    seas and WPI ports, named after their straits and water bodies) raise no false refusal."""
    check = check_zone_file(_write(tmp_path, _geodata_zone_file(name, title)))
    assert check.problems == (), check.problems[:5]


@needs_geodata
def test_bab_el_mandeb_file_swapped_is_refused(tmp_path: Path) -> None:
    """The Bab el-Mandeb file written [lat, lon] (it lands in the Adriatic, lon 11-16, lat 41-46, every
    "latitude" in range) is refused as a whole, and each feature named after the strait, the Red Sea or the
    Gulf of Aden is named."""
    document = _geodata_zone_file("bab_el_mandeb", "Bab el-Mandeb")
    for feature in document["features"]:
        feature["geometry"]["coordinates"] = _swap(feature["geometry"]["coordinates"])
    assert (abs(_coordinates(document)[:, 1]) <= 90).all()
    check = check_zone_file(_write(tmp_path, document))
    assert check.problems and check.problems[0].startswith("whole file: coordinates look written [lat, lon]")
    flagged = {problem.split(": ", 1)[0] for problem in check.problems[1:]}
    ports = {f"feature 'port-{k}'" for k in range(len(_wpi_ports("bab_el_mandeb")))}
    assert ports <= flagged  # every WPI port there is on the Red Sea or the Gulf of Aden


@needs_geodata
def test_malacca_file_swapped_is_refused_by_range(tmp_path: Path) -> None:
    """The Malacca-Singapore file written [lat, lon] has "latitudes" near 100: every feature is refused by
    the range check, by id."""
    document = _geodata_zone_file("malacca_singapore", "Singapore Strait")
    for feature in document["features"]:
        feature["geometry"]["coordinates"] = _swap(feature["geometry"]["coordinates"])
    problems = _problems(_write(tmp_path, document))
    assert len(problems) == len(document["features"])
    assert all("lat beyond ±90" in problem for problem in problems)


@needs_geodata
def test_place_boxes_hold_the_real_ports_and_schemes(tmp_path: Path) -> None:
    """Each WPI port of the Gulf and Bab el-Mandeb extracts, named after its water body (Persian Gulf,
    Gulf of Oman, Strait of Hormuz, Red Sea, Gulf of Aden), passes alone in a file where it is, and is
    called swapped when written [lat, lon]: the place boxes agree with the World Port Index."""
    for name in ("persian_gulf", "bab_el_mandeb"):
        for port, water, lon, lat in _wpi_ports(name):
            properties = {"id": "p", "name": f"{port} ({water})", "kind": "port"}
            as_given = _feature(properties, _square(lon, lat, 0.02))
            check = check_zone_file(_write(tmp_path, {"type": "FeatureCollection", "features": [as_given]}))
            assert check.problems == (), (port, check.problems)
            as_given["geometry"]["coordinates"] = _swap(as_given["geometry"]["coordinates"])
            check = check_zone_file(_write(tmp_path, {"type": "FeatureCollection", "features": [as_given]}))
            assert check.problems and "looks like lat/lon swapped" in check.problems[-1], (port, water)


# ------------------------------------------------------------------------------- hazards and corridors

HAZARD_INDEX = len(_valid()["features"]) - 2  # the last two features: a hazard, then a corridor


def test_hazard_and_corridor_load_with_expires_as_unix_time(tmp_path: Path) -> None:
    """`expires` "2026-03-01T12:00:00Z" is 1772366400 (calendar.timegm, not the code under test); a zone
    without it never expires."""
    import calendar

    zone_file = load_zone_file(_write(tmp_path, _valid()))
    assert zone_file.by_id("mines").expires == calendar.timegm((2026, 3, 1, 12, 0, 0, 0, 0, 0)) == 1772366400
    assert zone_file.by_id("evac").expires is None and zone_file.by_id("evac").kind == "corridor"
    # "+00:00" is UTC too.
    problems = check_zone_file(_write(tmp_path, _with_expires("2026-03-01T12:00:00+00:00"))).problems
    assert problems == ()


def _with_expires(value: Any, index: int = HAZARD_INDEX) -> dict[str, Any]:
    document = _valid()
    document["features"][index]["properties"]["expires"] = value
    return document


@pytest.mark.parametrize("value", ["tomorrow", "2026-13-01T00:00:00Z", "", 1772366400, None, "2026-03-01"])
def test_refuses_malformed_expires_naming_the_feature(tmp_path: Path, value: Any) -> None:
    document = _with_expires(value)
    if value is None:  # JSON null: present but not a time
        document["features"][HAZARD_INDEX]["properties"]["expires"] = None
        assert load_zone_file(_write(tmp_path, document)).by_id("mines").expires is None  # null: absent
        return
    problem = _only(_problems(_write(tmp_path, document)))
    assert problem.startswith("feature 'mines': 'expires' must be") and "2026-03-01T12:00:00Z" in problem


@pytest.mark.parametrize("value", ["2026-03-01T12:00:00", "2026-03-01T16:00:00+04:00"])
def test_refuses_expires_that_is_not_utc(tmp_path: Path, value: str) -> None:
    """A time without an offset, or in another zone, is refused rather than guessed."""
    problem = _only(_problems(_write(tmp_path, _with_expires(value))))
    assert problem.startswith("feature 'mines': 'expires' must be in UTC")


def test_refuses_expires_on_a_kind_that_does_not_expire(tmp_path: Path) -> None:
    problem = _only(_problems(_write(tmp_path, _with_expires("2026-03-01T12:00:00Z", index=6))))
    assert problem == "feature 'port-x': 'expires' applies only to hazard and corridor zones, not port"


@pytest.mark.parametrize("index", [HAZARD_INDEX, HAZARD_INDEX + 1])
def test_refuses_hazard_or_corridor_that_is_not_a_polygon(tmp_path: Path, index: int) -> None:
    kind = _valid()["features"][index]["properties"]["kind"]
    fid = _valid()["features"][index]["properties"]["id"]
    line = {"type": "LineString", "coordinates": [[56.5, 26.1], [56.6, 26.1]]}
    problems = _broken(tmp_path, index, geometry=line)
    assert _only(problems) == f"feature {fid!r}: {kind} must be a Polygon or MultiPolygon, got LineString"


def test_merge_adds_features_checked_with_the_base(tmp_path: Path) -> None:
    """Features added to a loaded file: ids unique across both, placed among the base's features, checked
    as the file's; the base's zones come first and are not checked again."""
    from monitor.zones import merge_zone_features

    base = load_zone_file(_write(tmp_path, _valid()))
    hazard = _feature({"id": "wreck", "kind": "hazard"}, _square(56.6, 26.6, 0.02))
    check = merge_zone_features(base, [hazard])
    assert check.problems == () and check.zone_file is not None
    assert [z.id for z in check.zone_file.zones] == [*(z.id for z in base.zones), "wreck"]
    assert check.zone_file.properties == base.properties and check.kinds == {"hazard": 1}
    assert merge_zone_features(base, []).zone_file is not None  # nothing added: the base
    taken = _feature({"id": "strait", "kind": "hazard"}, _square(56.6, 26.6, 0.02))
    assert merge_zone_features(base, [taken]).problems == (
        "feature 'strait': duplicate id: a zone 'strait' exists already",)
    swapped = _feature({"id": "far", "kind": "corridor"}, _square(26.6, 56.6, 0.02))
    problem = merge_zone_features(base, [swapped]).problems[0]
    assert problem.startswith("feature 'far': looks like lat/lon swapped")
