"""The shipped zone file zones/hormuz.geojson: valid, and known places fall in the zones they should.

Reference positions below come from the sources (OSM way vertices, NGA WPI reference points, the point
tests in shared/geodata/SOURCES.md), not from the builder's output. GeoJSON order: (lon, lat).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

from monitor.zones import ZoneFile, default_zone_path, load_zone_file

REPO = Path(__file__).resolve().parents[1]
ZONE_FILE = REPO / "zones" / "hormuz.geojson"

# OSM way 220138792, inbound (northern) lane centre line, and 220138816, outbound (southern) lane.
INBOUND_CENTRE = [
    (56.6734317, 26.5035035),
    (56.5916022, 26.6238492),
    (56.4649679, 26.624089),
    (56.345175, 26.5950641),
]
OUTBOUND_CENTRE = [
    (56.3805226, 26.520249),
    (56.4785837, 26.5584126),
    (56.550218, 26.5584726),
    (56.6113218, 26.4679635),
]
# OSM way 220138722, the separation zone (closed ring).
SEPARATION_RING = [
    (56.3504738, 26.580189), (56.3733458, 26.5330917), (56.4757667, 26.5746703), (56.55934, 26.5751502),
    (56.6260108, 26.4765193), (56.6568646, 26.4941093), (56.5814742, 26.608588), (56.5475016, 26.6089778),
    (56.5119862, 26.6083481), (56.481971, 26.608558), (56.4659404, 26.6081682), (56.3504738, 26.580189),
]  # fmt: skip
# OSM tss_flow_bearing_deg of the two lane ways (direction of traffic along the way).
OSM_FLOW = {"hormuz-tss-inbound": 287.35, "hormuz-tss-outbound": 104.19}

# WPI Pub. 150 reference points (lon, lat) of the ports the monitor must know, by zone id.
WPI_PORTS = {
    "bandar-abbas-shahid-rajaee": (56.0667, 27.1000),
    "bandar-abbas-shahid-bahonar": (56.2000, 27.1500),
    "fujairah": (56.3692, 25.1731),
    "khor-fakkan": (56.3689, 25.3628),
    "jebel-ali": (55.0500, 25.0167),
    "mina-rashid": (55.3000, 25.2667),
    "khalifa-port": (54.6667, 24.8333),  # not in WPI: UN/LOCODE position
    "ras-tanura": (50.1667, 26.6333),
    "ras-laffan": (51.5833, 25.9167),
    "kharg-island": (50.3333, 29.2333),
    "mina-al-ahmadi": (48.1667, 29.0667),
    "sohar": (56.6333, 24.5167),
    "mina-qaboos": (58.5833, 23.6333),
    "dammam": (50.2000, 26.5000),
    "hamad": (51.6000, 25.0167),
    "bushehr": (50.8333, 28.9833),
    "umm-qasr": (47.9500, 30.0167),
}

GULF_OF_OMAN = (57.0, 25.3)
PERSIAN_GULF = (55.0, 26.3)


@pytest.fixture(scope="module")
def zones() -> ZoneFile:
    return load_zone_file(ZONE_FILE)


@pytest.fixture(scope="module")
def land(zones: ZoneFile) -> BaseGeometry:
    return shapely.union_all([zone.geometry for zone in zones.of_kind("land")])


def _inside(geometry: BaseGeometry, lon: float, lat: float) -> bool:
    return bool(shapely.contains_xy(geometry, lon, lat))


def _interior_points(way: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The way's inner vertices and the midpoints of its segments: points on the centre line, off its ends."""
    midpoints = [((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for a, b in itertools.pairwise(way)]
    return way[1:-1] + midpoints


def _area_km2(geometry: BaseGeometry) -> float:
    """Area on a local equirectangular projection: good to a fraction of a percent at harbour size."""
    lon0, lat0 = geometry.centroid.x, geometry.centroid.y
    scale = math.cos(math.radians(lat0))
    projected = shapely.transform(geometry, lambda xy: (xy - (lon0, lat0)) * (111.32 * scale, 110.57))
    return float(projected.area)


def test_shipped_file_is_valid_and_is_the_default() -> None:
    """The repository's zone file loads without problems and is what the package ships as its default."""
    zone_file = load_zone_file(ZONE_FILE)
    assert zone_file.zones
    assert default_zone_path().resolve() == ZONE_FILE.resolve()


def test_collection_carries_attribution(zones: ZoneFile) -> None:
    """The ODbL attribution for OpenStreetMap, and the public-domain sources, travel with the file."""
    text = " ".join(map(str, zones.properties.values()))
    assert "ODbL" in text and "OpenStreetMap contributors" in text
    assert "Natural Earth" in text and "World Port Index" in text


def test_ids_are_lowercase_slugs(zones: ZoneFile) -> None:
    """Every id is a stable slug: lowercase letters, digits and hyphens."""
    for zone in zones.zones:
        assert zone.id == zone.id.lower() and all(c.isalnum() or c == "-" for c in zone.id), zone.id


def test_the_required_zones_exist(zones: ZoneFile) -> None:
    """The zones other components name explicitly exist with the right kinds."""
    expected = {
        "persian-gulf": "region",
        "gulf-of-oman": "region",
        "strait-of-hormuz": "strait",
        "hormuz-outer": "gate",
        "hormuz-inner": "gate",
        "hormuz-tss-inbound": "tss_lane",
        "hormuz-tss-outbound": "tss_lane",
        "hormuz-tss-separation": "separation_zone",
        "fujairah-anchorage": "anchorage",
        "khor-fakkan-anchorage": "anchorage",
        **dict.fromkeys(WPI_PORTS, "port"),
        **{f"ts-{cc}": "territorial_sea" for cc in ("ae", "bh", "iq", "ir", "kw", "om", "qa", "sa")},
    }
    for zone_id, kind in expected.items():
        assert zones.by_id(zone_id).kind == kind, zone_id
    assert zones.by_id("strait-of-hormuz").gates == ("hormuz-outer", "hormuz-inner")
    assert len(zones.of_kind("port")) >= 17


@pytest.mark.parametrize(
    ("lane_id", "way"), [("hormuz-tss-inbound", INBOUND_CENTRE), ("hormuz-tss-outbound", OUTBOUND_CENTRE)]
)
def test_lane_centre_line_points_are_in_their_lane_only(
    zones: ZoneFile, lane_id: str, way: list[tuple[float, float]]
) -> None:
    """Points on a lane's OSM centre line are in that lane, in no other lane, not in the separation zone."""
    separation = zones.by_id("hormuz-tss-separation").geometry
    for lon, lat in _interior_points(way):
        for lane in zones.of_kind("tss_lane"):
            assert _inside(lane.geometry, lon, lat) == (lane.id == lane_id), (lane.id, lon, lat)
        assert not _inside(separation, lon, lat)


@pytest.mark.parametrize(
    ("lane_id", "way"), [("hormuz-tss-inbound", INBOUND_CENTRE), ("hormuz-tss-outbound", OUTBOUND_CENTRE)]
)
def test_lane_contains_whole_centre_line(
    zones: ZoneFile, lane_id: str, way: list[tuple[float, float]]
) -> None:
    """The whole OSM centre line, ends included, lies in its lane."""
    assert zones.by_id(lane_id).geometry.covers(LineString(way))


def test_lanes_do_not_overlap_separation_zone_or_each_other(zones: ZoneFile) -> None:
    """Lanes and separation zone share edges at most: a fix is in exactly one part of the scheme."""
    inbound = zones.by_id("hormuz-tss-inbound").geometry
    outbound = zones.by_id("hormuz-tss-outbound").geometry
    separation = zones.by_id("hormuz-tss-separation").geometry
    assert inbound.intersection(separation).area < 1e-10
    assert outbound.intersection(separation).area < 1e-10
    assert inbound.intersection(outbound).area < 1e-10


def test_separation_zone_matches_osm(zones: ZoneFile) -> None:
    """The separation zone is the OSM ring (to the 6-decimal rounding) and contains a point inside it."""
    separation = zones.by_id("hormuz-tss-separation").geometry
    reference = Polygon(SEPARATION_RING)
    assert separation.hausdorff_distance(reference) < 1e-6
    assert abs(separation.area - reference.area) < 1e-3 * reference.area
    assert _inside(separation, 56.50, 26.59)


def test_lane_bearings_follow_osm_flow(zones: ZoneFile) -> None:
    """Each lane's bearing is the OSM traffic direction, in whole degrees."""
    for lane_id, flow in OSM_FLOW.items():
        bearing = zones.by_id(lane_id).bearing
        assert bearing is not None and bearing == round(bearing)
        assert abs(bearing - flow) <= 1.0, (lane_id, bearing)


def test_tss_lies_inside_the_strait(zones: ZoneFile) -> None:
    """The whole traffic separation scheme is inside the strait polygon and no gate touches it."""
    strait = zones.by_id("strait-of-hormuz").geometry
    for zone_id in ("hormuz-tss-inbound", "hormuz-tss-outbound", "hormuz-tss-separation"):
        assert strait.contains(zones.by_id(zone_id).geometry), zone_id
        for gate in zones.of_kind("gate"):
            assert not gate.geometry.intersects(zones.by_id(zone_id).geometry)


@pytest.mark.parametrize(
    ("zone_id", "lon", "lat"),
    [
        ("fujairah-anchorage", 56.45, 25.15),
        ("fujairah-anchorage", 56.52, 25.06),
        ("khor-fakkan-anchorage", 56.43, 25.40),
    ],
)
def test_anchorage_points(zones: ZoneFile, zone_id: str, lon: float, lat: float) -> None:
    """Points off Fujairah and off Khor Fakkan are in their anchorage."""
    assert _inside(zones.by_id(zone_id).geometry, lon, lat)


def test_anchorages_are_water(zones: ZoneFile, land: BaseGeometry) -> None:
    """Anchorages do not overlap land and overlap no port polygon by more than a sliver."""
    for anchorage in zones.of_kind("anchorage"):
        assert anchorage.geometry.intersection(land).area < 1e-9, anchorage.id
        assert anchorage.properties.get("approximate") is True
        for port in zones.of_kind("port"):
            assert anchorage.geometry.intersection(port.geometry).area < 1e-6, (anchorage.id, port.id)


@pytest.mark.parametrize(
    ("place", "lon", "lat", "is_land"),
    [
        ("Qeshm", 55.85, 26.75, True),
        ("Hormuz island", 56.46, 27.06, True),
        ("Larak", 56.36, 26.86, True),
        ("Greater Tunb", 55.31, 26.26, True),
        ("Abu Musa", 55.03, 25.87, True),
        ("Musandam", 56.25, 26.2, True),
        ("Hormuz TSS, open water", 56.5, 26.55, False),
        ("off Fujairah", 56.5, 25.1, False),
        ("central Gulf", 53.0, 26.0, False),
    ],
)
def test_land_points(land: BaseGeometry, place: str, lon: float, lat: float, is_land: bool) -> None:
    """Natural Earth's islands in the strait are kept as land; the open water is not land."""
    assert _inside(land, lon, lat) == is_land, place


@pytest.mark.parametrize(
    ("place", "lon", "lat", "country"),
    [
        ("Qeshm", 55.85, 26.75, "IR"),
        ("Musandam", 56.25, 26.2, "OM"),
        ("Hormuz TSS", 56.5, 26.55, "OM"),
        ("off Fujairah", 56.5, 25.1, "AE"),
        ("central Gulf", 53.0, 26.0, None),
    ],
)
def test_territorial_sea_points(
    zones: ZoneFile, place: str, lon: float, lat: float, country: str | None
) -> None:
    """The territorial seas are the source's: the TSS lies in Omani waters, the central Gulf in none."""
    covering = [zone.country for zone in zones.of_kind("territorial_sea") if _inside(zone.geometry, lon, lat)]
    assert covering == ([country] if country else []), place


@pytest.mark.parametrize("zone_id", sorted(WPI_PORTS))
def test_port_contains_its_reference_point(zones: ZoneFile, zone_id: str) -> None:
    """Each required port polygon contains its WPI (or UN/LOCODE) reference point."""
    assert _inside(zones.by_id(zone_id).geometry, *WPI_PORTS[zone_id])


def test_every_port_is_harbour_sized_round_its_point(zones: ZoneFile) -> None:
    """Every port polygon is 4 to 40 km², contains the point it was drawn round and has a 2-letter country."""
    for port in zones.of_kind("port"):
        assert 4.0 <= _area_km2(port.geometry) <= 40.0, port.id
        lon = port.properties.get("wpi_lon", WPI_PORTS.get(port.id, (None, None))[0])
        lat = port.properties.get("wpi_lat", WPI_PORTS.get(port.id, (None, None))[1])
        assert lon is not None and lat is not None, port.id
        assert _inside(port.geometry, lon, lat), port.id
        assert port.country is not None and len(port.country) == 2, port.id


def test_ports_do_not_overlap(zones: ZoneFile) -> None:
    """No two port polygons overlap, so a fix is in one port at most."""
    ports = zones.of_kind("port")
    for i, first in enumerate(ports):
        for second in ports[i + 1 :]:
            assert not first.geometry.intersects(second.geometry), (first.id, second.id)


def test_gates_end_on_land(zones: ZoneFile, land: BaseGeometry) -> None:
    """Both ends of both gates lie inside land, so no ship can pass round a gate's end."""
    for gate in zones.of_kind("gate"):
        coords = list(gate.geometry.coords)
        for lon, lat in (coords[0], coords[-1]):
            assert _inside(land, lon, lat), (gate.id, lon, lat)


def _crossings(track: LineString, zones: ZoneFile) -> list[str]:
    """The gates the track crosses, in the order it crosses them."""
    hits = []
    for gate in zones.of_kind("gate"):
        crossing = track.intersection(gate.geometry)
        points = getattr(crossing, "geoms", [crossing])
        hits.extend((track.project(point), gate.id) for point in points if not point.is_empty)
    return [gate_id for _, gate_id in sorted(hits)]


def test_inbound_passage_through_tss_crosses_outer_then_inner(zones: ZoneFile) -> None:
    """A track from the Gulf of Oman via the inbound lane to the Persian Gulf crosses outer, then inner."""
    track = LineString([GULF_OF_OMAN, *INBOUND_CENTRE, PERSIAN_GULF])
    assert _crossings(track, zones) == ["hormuz-outer", "hormuz-inner"]


def test_outbound_passage_through_tss_crosses_inner_then_outer(zones: ZoneFile) -> None:
    """The reverse passage through the outbound lane crosses inner, then outer."""
    track = LineString([PERSIAN_GULF, *OUTBOUND_CENTRE, GULF_OF_OMAN])
    assert _crossings(track, zones) == ["hormuz-inner", "hormuz-outer"]


def test_passage_north_of_qeshm_crosses_inner_gate(zones: ZoneFile, land: BaseGeometry) -> None:
    """A track along the Clarence (Khuran) Strait between Qeshm and the mainland, in water, crosses the
    inner gate."""
    track = LineString([(55.80, 26.965), (56.05, 27.00)])
    assert not track.intersects(land)
    assert _crossings(track, zones) == ["hormuz-inner"]


def test_gates_and_land_separate_the_two_gulfs(zones: ZoneFile, land: BaseGeometry) -> None:
    """In the water of the strait's surroundings, cut along both gates, the Gulf of Oman, the strait and the
    Persian Gulf are three separate pieces: no passage between the gulfs avoids either gate."""
    gates = shapely.union_all([gate.geometry for gate in zones.of_kind("gate")])
    water = shapely.box(54.5, 24.8, 58.5, 27.8).difference(land).difference(gates.buffer(1e-6))
    pieces = list(getattr(water, "geoms", [water]))

    def piece_of(lon: float, lat: float) -> int:
        found = [i for i, piece in enumerate(pieces) if piece.contains(Point(lon, lat))]
        assert len(found) == 1, (lon, lat)
        return found[0]

    oman, strait, gulf = piece_of(*GULF_OF_OMAN), piece_of(56.5, 26.55), piece_of(*PERSIAN_GULF)
    assert len({oman, strait, gulf}) == 3
    # The Clarence Strait west of the inner gate belongs to the Persian Gulf side, east of it to the strait.
    assert piece_of(55.80, 26.965) == gulf
    assert piece_of(56.05, 27.00) == strait


@pytest.mark.parametrize(
    ("lon", "lat", "expected"),
    [
        (57.0, 25.3, "gulf-of-oman"),
        (55.0, 26.3, "persian-gulf"),
        (56.5, 26.55, "persian-gulf"),
        (58.5, 24.5, "gulf-of-oman"),
    ],
)
def test_region_points(zones: ZoneFile, lon: float, lat: float, expected: str) -> None:
    """The S-23 regions: the strait is in the Persian Gulf; water east of the limit is the Gulf of Oman."""
    assert [zone.id for zone in zones.of_kind("region") if _inside(zone.geometry, lon, lat)] == [expected]


def test_strait_is_between_the_gates(zones: ZoneFile) -> None:
    """The strait polygon holds the TSS water but neither gulf's reference point."""
    strait = zones.by_id("strait-of-hormuz").geometry
    assert _inside(strait, 56.5, 26.55)
    assert not _inside(strait, *GULF_OF_OMAN)
    assert not _inside(strait, *PERSIAN_GULF)


# The byte-for-byte rebuild from ../shared/geodata is tested for every chokepoint's file at once, this one
# included: test_zone_files.py, test_file_rebuilds_byte_identically.
