"""The shipped zone files of every chokepoint (zones/*.geojson): valid, rebuilt byte for byte from
../shared/geodata, ids unique across the files, and known places fall in the zones they should.

The Hormuz file has its own detailed tests (test_zone_file_hormuz.py); here are the Straits of Malacca and
Singapore and Bab el-Mandeb. Reference positions come from the sources (OSM way vertices, NGA WPI reference
points, the point tests in shared/geodata/SOURCES.md), not from the builder's output. GeoJSON order:
(lon, lat).
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import shapely
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from monitor.cli import main
from monitor.config import load_settings
from monitor.pipeline import Pipeline
from monitor.zones import ZoneFile, load_zone_file
from tools.simulate import Scenario, VesselPlan, generate

REPO = Path(__file__).resolve().parents[1]
GEODATA = REPO.parent / "shared" / "geodata"
CHOKEPOINTS = ("hormuz", "malacca_singapore", "bab_el_mandeb")
NEW = ("malacca_singapore", "bab_el_mandeb")

Way = list[tuple[float, float]]

# ---------------------------------------------------------------------------------- OSM lane centre lines
# (osm_tss_malacca_singapore.geojson, osm_tss_bab_el_mandeb.geojson; drawing order = direction of flow)
MALACCA_SE: dict[str, Way] = {  # south-east-bound (towards Singapore)
    "malacca-tss-1-se": [(100.7554963, 2.9619427), (100.9141959, 2.8564028), (100.9850175, 2.7912224),
                         (101.1522454, 2.7061306)],
    "malacca-tss-2-se": [(101.2167635, 2.6741849), (101.4121717, 2.5747312), (101.5947875, 2.4293335)],
    "malacca-tss-3-se": [(101.6692243, 2.37117), (101.9688255, 2.1361763)],
    "malacca-tss-4-se": [(102.051582, 2.0618821), (102.2333635, 1.8952172), (102.4935215, 1.7727095),
                         (102.7873291, 1.6352292), (102.9071014, 1.5598992), (103.0183798, 1.489909),
                         (103.1966851, 1.3770609), (103.3845848, 1.2060759), (103.4491955, 1.16539)],
}  # fmt: skip
MALACCA_NW: dict[str, Way] = {  # north-west-bound (from Singapore)
    "malacca-tss-4-nw": [(103.4818254, 1.2211823), (103.4442621, 1.2321544), (103.4037733, 1.2439809),
                         (103.217635, 1.4146853), (103.0402566, 1.5354081), (102.9335144, 1.608176),
                         (102.8227398, 1.6836901), (102.5341234, 1.820889), (102.2667349, 1.947377),
                         (102.0894956, 2.1041709)],
    "malacca-tss-3-nw": [(102.0007137, 2.1772126), (101.7007417, 2.4114587)],
    "malacca-tss-2-nw": [(101.6292713, 2.4676756), (101.4505488, 2.6080685), (101.2399381, 2.7171493)],
    "malacca-tss-1-nw": [(101.1743076, 2.7504828), (101.0044842, 2.8428855), (100.9429324, 2.9034341),
                         (100.7998061, 3.028039)],
}  # fmt: skip
HORSBURGH = {
    "malacca-tss-horsburgh-eastbound": [(104.2494144, 1.270492), (104.3285324, 1.2838373),
                                        (104.4565489, 1.396157)],
    "malacca-tss-horsburgh-westbound": [(104.4421807, 1.4163591), (104.3237585, 1.3112689),
                                        (104.2491826, 1.2992213)],
}  # fmt: skip
SINGAPORE = {  # the two segments between the Phillip Channel and Changi
    "malacca-tss-southern-islands-eastbound": [(103.8427581, 1.1780755), (103.8758283, 1.1932979)],
    "malacca-tss-southern-islands-westbound": [(103.8700578, 1.2055777), (103.8380073, 1.190309)],
    "malacca-tss-east-coast-eastbound": [(103.9021314, 1.2094934), (103.9698013, 1.2359991),
                                         (104.0554546, 1.2451741)],
    "malacca-tss-east-coast-westbound": [(104.053786, 1.2683431), (103.9857454, 1.2568976),
                                         (103.9184927, 1.2298824), (103.8977746, 1.2199659)],
}  # fmt: skip
MANDEB = {
    "mandeb-tss-southbound": [(43.03825, 13.2084168), (43.3266667, 12.6050001), (43.4569167, 12.5315002)],
    "mandeb-tss-northbound": [(43.47775, 12.5671669), (43.3600833, 12.6333335), (43.0691667, 13.2402502)],
}
# The Phillip Channel lanes (not in the zone file: OSM bounds them by lines on one side only), used by the
# simulated transits.
PHILLIP_EASTBOUND: Way = [  # way 182076276
    (103.5430063, 1.1077198), (103.6538736, 1.0397838), (103.7149618, 1.0789885), (103.7670583, 1.1323265),
    (103.8062697, 1.1618914), (103.8231408, 1.1707422),
]  # fmt: skip
PHILLIP_WESTBOUND: Way = [  # way 182076258
    (103.8182046, 1.1827441), (103.7925967, 1.1724336), (103.7337332, 1.1350606), (103.6685663, 1.1813076),
    (103.5963542, 1.1962288),
]  # fmt: skip
OSM_WAY_OF_LANE = {
    "malacca-tss-1-se": "182076065", "malacca-tss-2-se": "182075814", "malacca-tss-3-se": "182075762",
    "malacca-tss-4-se": "182076315", "malacca-tss-4-nw": "182076336", "malacca-tss-3-nw": "182075777",
    "malacca-tss-2-nw": "182075806", "malacca-tss-1-nw": "182075871",
    "malacca-tss-horsburgh-eastbound": "182075803", "malacca-tss-horsburgh-westbound": "182075799",
    "malacca-tss-southern-islands-eastbound": "182075775",
    "malacca-tss-southern-islands-westbound": "182075772",
    "malacca-tss-east-coast-eastbound": "182075812", "malacca-tss-east-coast-westbound": "182075975",
    "mandeb-tss-southbound": "971908444", "mandeb-tss-northbound": "971908445",
}  # fmt: skip
# OSM tss_flow_bearing_deg (bearing first to last vertex) of each lane way.
OSM_FLOW = {
    "malacca-tss-1-se": 122.84, "malacca-tss-2-se": 122.95, "malacca-tss-3-se": 128.12,
    "malacca-tss-4-se": 122.69, "malacca-tss-1-nw": 306.58, "malacca-tss-2-nw": 302.68,
    "malacca-tss-3-nw": 308.01, "malacca-tss-4-nw": 302.4,
    "malacca-tss-horsburgh-eastbound": 58.75, "malacca-tss-horsburgh-westbound": 238.74,
    "malacca-tss-southern-islands-eastbound": 65.28, "malacca-tss-southern-islands-westbound": 244.52,
    "malacca-tss-east-coast-eastbound": 76.9, "malacca-tss-east-coast-westbound": 252.77,
    "mandeb-tss-southbound": 148.88, "mandeb-tss-northbound": 329.41,
    # West of the Hanish Islands: no centre line in OSM; SOURCES.md gives the north-west-bound flow as
    # about 322° (the strip between the zone's north-east side and boundary 1031697591).
    "mandeb-hanish-tss-northbound": 322.0, "mandeb-hanish-tss-southbound": 142.0,
}  # fmt: skip
# A point in the middle of each Hanish lane: halfway between the boundary way's middle vertex and the facing
# vertex of the separation zone (ways 1031697591 / 1031697593 vertex 1, 1031697592 / 1031697593 vertex 4).
HANISH_LANE_POINTS = {
    "mandeb-hanish-tss-northbound": ((42.673 + 42.6513333) / 2, (13.5676667 + 13.5533333) / 2),
    "mandeb-hanish-tss-southbound": ((42.5646667 + 42.5933333) / 2, (13.497 + 13.5158333) / 2),
}
# The middle line of each Hanish lane, in the direction of flow: halfway between the boundary way's vertices
# (1031697591 north-east, 1031697592 south-west, both drawn in the direction of flow) and the facing vertices
# of separation zone 1031697593 (0, 1, 2 on its north-east side; 3, 4, 5 on its south-west side).
HANISH_MIDDLES: dict[str, Way] = {
    "mandeb-hanish-tss-northbound": [
        ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
        for a, b in zip(
            [(42.753, 13.5041667), (42.673, 13.5676667), (42.615, 13.6803333)],
            [(42.737, 13.4853333), (42.6513333, 13.5533333), (42.5916667, 13.6691667)],
            strict=True,
        )
    ],
    "mandeb-hanish-tss-southbound": [
        ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
        for a, b in zip(
            [(42.4988333, 13.6233333), (42.5646667, 13.497), (42.6841667, 13.4203333)],
            [(42.5296667, 13.6388333), (42.5933333, 13.5158333), (42.703, 13.4435)],
            strict=True,
        )
    ],
}
# A point inside each separation zone: the middle of two of its OSM ring's vertices across it.
SEPARATION_POINTS = {
    "malacca-tss-1-separation": (101.0772, 2.77394),  # way 182076337, vertices 0 and 2
    "malacca-tss-2-separation": (101.32843, 2.64309),  # way 182076287, vertices 0 and 2
    "malacca-tss-3-separation": (101.83514, 2.27434),  # way 182076162, vertices 0 and 2
    "malacca-tss-4-separation": (102.91159, 1.58258),  # way 182075759, vertices 0 and 11
    "malacca-tss-horsburgh-separation": (104.38872, 1.35169),  # way 182076265, vertices 0 and 2
    "malacca-tss-southern-islands-separation": (103.85631, 1.19261),  # way 182076204, vertices 1 and 3
    # way 182075819, a sliver: on the line from vertex 2 to the middle of vertices 0 and 1, at lon 104.03
    "malacca-tss-east-coast-separation": (104.03, 1.25531),
    "mandeb-tss-separation": (43.1985, 12.92208),  # way 971908448, vertices 0 and 2
    "mandeb-hanish-tss-separation": (42.63333, 13.56208),  # way 1031697593, vertices 0 and 3
}

# ------------------------------------------------------------------------------- WPI Pub. 150 ports
WPI_PORTS = {
    "malacca-singapore-keppel": (103.8500, 1.2833),
    "malacca-singapore-jurong-island": (103.7333, 1.2833),
    "malacca-singapore-pulau-bukom": (103.7667, 1.2333),
    "malacca-port-klang": (101.4000, 3.0000),
    "malacca-tanjung-pelepas": (103.5500, 1.3500),
    "malacca-johor-pasir-gudang": (103.9000, 1.4333),
    "malacca-dumai": (101.4500, 1.6833),
    "malacca-penang": (100.3500, 5.4167),
    "malacca-melaka": (102.2500, 2.2000),
    "malacca-port-dickson": (101.7833, 2.5333),
    "malacca-belawan": (98.6833, 3.7833),
    "malacca-batam-pulau-sambu": (103.9000, 1.1667),
    "malacca-tanjung-balai-karimun": (103.4333, 0.9833),
    "malacca-sabang": (95.3167, 5.8833),
    "mandeb-djibouti": (43.1333, 11.6000),
    "mandeb-doraleh": (43.0886, 11.6028),
    "mandeb-assab": (42.7500, 13.0000),
    "mandeb-aden": (44.9500, 12.7833),
    "mandeb-mocha": (43.2500, 13.3167),
    "mandeb-hodeidah": (42.9667, 14.8333),
    "mandeb-ras-isa": (42.6000, 15.1333),
    "mandeb-salif": (42.6667, 15.3000),
}

# SOURCES.md point tests: (lon, lat, is land).
LAND_POINTS = {
    "malacca_singapore": [
        ("Singapore island", 103.82, 1.35, True), ("Batam", 104.05, 1.10, True),
        ("Bintan", 104.50, 1.05, True),
        ("Karimun Besar", 103.38, 1.05, True), ("Rupat", 101.60, 1.90, True), ("Penang", 100.25, 5.40, True),
        ("Langkawi", 99.80, 6.35, True), ("Weh", 95.30, 5.85, True),
        ("Singapore Strait TSS", 103.90, 1.20, False), ("Malacca TSS", 102.80, 1.60, False),
        ("One Fathom Bank", 100.98, 2.88, False),
    ],
    "bab_el_mandeb": [
        ("Perim", 43.41, 12.66, True), ("Sawabi (Seven Brothers)", 43.43, 12.47, True),
        ("Greater Hanish", 42.72, 13.72, True), ("Zuqar", 42.75, 14.0, True), ("Kamaran", 42.60, 15.35, True),
        ("Zubair", 42.17, 15.05, True), ("Bab el-Mandeb TSS", 43.30, 12.75, False),
        ("West of Hanish TSS", 42.65, 13.55, False), ("Gulf of Aden", 45.0, 12.3, False),
    ],
}  # fmt: skip
ANCHORAGE_POINTS = {
    "malacca-nipa-transit-anchorage": (103.63, 1.11),  # inside OSM way 182076251
    "malacca-singapore-eastern-anchorage": (103.94, 1.285),  # off Singapore's east coast
    "malacca-eastern-opl-anchorage": (104.16, 1.335),  # off Tanjung Pengelih
    "mandeb-djibouti-anchorage": (43.10, 11.66),
    "mandeb-aden-anchorage": (44.96, 12.71),
    "mandeb-hodeidah-anchorage": (42.82, 14.80),
}
STRAITS = {
    # strait, (outer gate, inner gate), points outside the outer gate, in the strait, beyond the inner gate
    "malacca_singapore": ("malacca-strait", ("malacca-west", "malacca-east"), (95.6, 6.2), (101.0, 2.8),
                          (104.8, 1.6)),
    "bab_el_mandeb": ("mandeb-strait", ("mandeb-south", "mandeb-north"), (44.0, 12.3), (43.2, 12.9),
                      (42.5, 14.5)),
}  # fmt: skip
BOXES = {"malacca_singapore": (94.0, -1.0, 105.0, 8.0), "bab_el_mandeb": (41.0, 11.0, 46.0, 16.0)}


def _path(name: str) -> Path:
    return REPO / "zones" / f"{name}.geojson"


@pytest.fixture(scope="module")
def files() -> dict[str, ZoneFile]:
    return {name: load_zone_file(_path(name)) for name in CHOKEPOINTS}


def _land(zones: ZoneFile) -> BaseGeometry:
    return shapely.union_all([zone.geometry for zone in zones.of_kind("land")])


def _inside(geometry: BaseGeometry, lon: float, lat: float) -> bool:
    return bool(shapely.contains_xy(geometry, lon, lat))


def _zones_of(files: dict[str, ZoneFile], zone_id: str) -> ZoneFile:
    return files["malacca_singapore" if zone_id.startswith("malacca-") else "bab_el_mandeb"]


def _interior_points(way: Way) -> list[tuple[float, float]]:
    """The way's inner vertices and the midpoints of its segments: points on the centre line, off its ends."""
    midpoints = [((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for a, b in itertools.pairwise(way)]
    return way[1:-1] + midpoints


# ------------------------------------------------------------------------------------------ the files


@pytest.mark.parametrize("name", CHOKEPOINTS)
def test_zones_check_passes(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`chokepoint-monitor zones check` accepts each shipped file."""
    assert main(["zones", "check", str(_path(name))]) == 0
    assert "OK" in capsys.readouterr().out


@pytest.mark.skipif(not GEODATA.is_dir(), reason="../shared/geodata is not available")
@pytest.mark.parametrize("name", CHOKEPOINTS)
def test_file_rebuilds_byte_identically(tmp_path: Path, name: str) -> None:
    """tools/build_zones.py reproduces each committed file byte for byte from ../shared/geodata."""
    out = tmp_path / f"{name}.geojson"
    subprocess.run(
        [sys.executable, str(REPO / "tools" / "build_zones.py"), "--geodata", str(GEODATA), "--out", str(out),
         name],
        check=True,
        capture_output=True,
    )  # fmt: skip
    assert out.read_bytes() == _path(name).read_bytes()


def test_ids_are_unique_across_the_files(files: dict[str, ZoneFile]) -> None:
    """No id is used in two files (one daemon loads them together), and the new files prefix every id."""
    ids = [zone.id for zone_file in files.values() for zone in zone_file.zones]
    assert len(ids) == len(set(ids))
    for name, prefix in (("malacca_singapore", "malacca-"), ("bab_el_mandeb", "mandeb-")):
        assert all(zone.id.startswith(prefix) for zone in files[name].zones), name


@pytest.mark.parametrize("name", NEW)
def test_collection_carries_attribution(files: dict[str, ZoneFile], name: str) -> None:
    """The ODbL attribution for OpenStreetMap, and the public-domain sources, travel with each file."""
    text = " ".join(map(str, files[name].properties.values()))
    assert "ODbL" in text and "OpenStreetMap contributors" in text
    assert "Natural Earth" in text and "World Port Index" in text
    for zone in files[name].of_kind("tss_lane", "separation_zone", "territorial_sea"):
        assert "OpenStreetMap" in zone.properties["attribution"], zone.id


def test_the_required_zones_exist(files: dict[str, ZoneFile]) -> None:
    """Straits with their gates, every lane and separation zone, the main ports, the anchorages."""
    for name, (strait_id, gates, *_) in STRAITS.items():
        assert files[name].by_id(strait_id).gates == gates
        assert all(files[name].by_id(gate).kind == "gate" for gate in gates)
        assert len(files[name].of_kind("region")) >= 2
    for lane_id in OSM_FLOW:
        assert _zones_of(files, lane_id).by_id(lane_id).kind == "tss_lane", lane_id
    for zone_id in SEPARATION_POINTS:
        assert _zones_of(files, zone_id).by_id(zone_id).kind == "separation_zone", zone_id
    for zone_id in WPI_PORTS:
        assert _zones_of(files, zone_id).by_id(zone_id).kind == "port", zone_id
    for zone_id in ANCHORAGE_POINTS:
        assert _zones_of(files, zone_id).by_id(zone_id).kind == "anchorage", zone_id
    countries = {zone.country for zone in files["malacca_singapore"].of_kind("territorial_sea")}
    assert countries == {"ID", "IN", "MY", "SG", "TH"}
    countries = {zone.country for zone in files["bab_el_mandeb"].of_kind("territorial_sea")}
    assert countries == {"DJ", "ER", "SO", "YE"}


# ------------------------------------------------------------------------------------------------- TSS


def _osm_ways(name: str) -> dict[str, Way]:
    path = GEODATA / f"osm_tss_{name}.geojson"
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    return {
        str(f["properties"]["osm_id"]): [(c[0], c[1]) for c in f["geometry"]["coordinates"]] for f in features
    }


LANE_WAYS = {**MALACCA_SE, **MALACCA_NW, **SINGAPORE, **HORSBURGH, **MANDEB}


@pytest.mark.parametrize("lane_id", sorted(LANE_WAYS))
def test_lane_centre_line_points_are_in_their_lane_only(files: dict[str, ZoneFile], lane_id: str) -> None:
    """Points on a lane's OSM centre line are in that lane, in no other lane, in no separation zone."""
    zones = _zones_of(files, lane_id)
    for lon, lat in _interior_points(LANE_WAYS[lane_id]):
        for lane in zones.of_kind("tss_lane"):
            assert _inside(lane.geometry, lon, lat) == (lane.id == lane_id), (lane.id, lon, lat)
        assert not any(_inside(zone.geometry, lon, lat) for zone in zones.of_kind("separation_zone"))


@pytest.mark.skipif(not GEODATA.is_dir(), reason="../shared/geodata is not available")
@pytest.mark.parametrize("lane_id", sorted(OSM_WAY_OF_LANE))
def test_lane_contains_its_whole_osm_centre_line(files: dict[str, ZoneFile], lane_id: str) -> None:
    """The whole OSM centre line, ends included, lies in its lane; the reference ends above are the way's."""
    name = "malacca_singapore" if lane_id.startswith("malacca-") else "bab_el_mandeb"
    way = _osm_ways(name)[OSM_WAY_OF_LANE[lane_id]]
    assert way[0] == LANE_WAYS[lane_id][0] and way[-1] == LANE_WAYS[lane_id][-1]
    assert _zones_of(files, lane_id).by_id(lane_id).geometry.covers(LineString(way))


@pytest.mark.parametrize("lane_id", sorted(HANISH_LANE_POINTS))
def test_hanish_lane_points(files: dict[str, ZoneFile], lane_id: str) -> None:
    """The lanes West of the Hanish Islands (no centre line in OSM) hold the middle of their strip only."""
    zones = files["bab_el_mandeb"]
    lon, lat = HANISH_LANE_POINTS[lane_id]
    assert [lane.id for lane in zones.of_kind("tss_lane") if _inside(lane.geometry, lon, lat)] == [lane_id]


@pytest.mark.parametrize("zone_id", sorted(SEPARATION_POINTS))
def test_separation_zone_points(files: dict[str, ZoneFile], zone_id: str) -> None:
    """A point inside each OSM separation zone is in that zone and in no lane."""
    zones = _zones_of(files, zone_id)
    lon, lat = SEPARATION_POINTS[zone_id]
    assert _inside(zones.by_id(zone_id).geometry, lon, lat)
    assert not any(_inside(lane.geometry, lon, lat) for lane in zones.of_kind("tss_lane"))


def test_lane_bearings_follow_osm_flow(files: dict[str, ZoneFile]) -> None:
    """Each lane's bearing is the OSM direction of traffic, in whole degrees (Hanish: within 3°)."""
    for lane_id, flow in OSM_FLOW.items():
        bearing = _zones_of(files, lane_id).by_id(lane_id).bearing
        assert bearing is not None and bearing == round(bearing)
        assert abs((bearing - flow + 180) % 360 - 180) <= (3.0 if "hanish" in lane_id else 1.0), lane_id


@pytest.mark.parametrize("name", NEW)
def test_scheme_parts_do_not_overlap_and_lie_in_the_strait(files: dict[str, ZoneFile], name: str) -> None:
    """Lanes and separation zones share edges at most; the whole scheme is in the strait, clear of gates."""
    zones = files[name]
    parts = zones.of_kind("tss_lane", "separation_zone")
    for first, second in itertools.combinations(parts, 2):
        assert first.geometry.intersection(second.geometry).area < 1e-10, (first.id, second.id)
    strait = zones.by_id(STRAITS[name][0]).geometry
    for part in parts:
        assert strait.contains(part.geometry), part.id
        for gate in zones.of_kind("gate"):
            assert not gate.geometry.intersects(part.geometry), (gate.id, part.id)


# ------------------------------------------------------------------------------ land, ports, anchorages


@pytest.mark.parametrize(
    ("name", "place", "lon", "lat", "is_land"),
    [(name, *point) for name, points in LAND_POINTS.items() for point in points],
)
def test_land_points(
    files: dict[str, ZoneFile], name: str, place: str, lon: float, lat: float, is_land: bool
) -> None:
    """Natural Earth's land and islands are land; the TSS and open water are not."""
    assert _inside(_land(files[name]), lon, lat) == is_land, place


@pytest.mark.parametrize("zone_id", sorted(WPI_PORTS))
def test_port_contains_its_reference_point(files: dict[str, ZoneFile], zone_id: str) -> None:
    """Each required port polygon contains its WPI reference point, and no other port does."""
    zones = _zones_of(files, zone_id)
    lon, lat = WPI_PORTS[zone_id]
    assert [port.id for port in zones.of_kind("port") if _inside(port.geometry, lon, lat)] == [zone_id]
    assert zones.by_id(zone_id).country is not None


@pytest.mark.parametrize("name", NEW)
def test_ports_do_not_overlap(files: dict[str, ZoneFile], name: str) -> None:
    """No two port polygons overlap, so a fix is in one port at most."""
    for first, second in itertools.combinations(files[name].of_kind("port"), 2):
        assert not first.geometry.intersects(second.geometry), (first.id, second.id)


@pytest.mark.parametrize("zone_id", sorted(ANCHORAGE_POINTS))
def test_anchorage_points(files: dict[str, ZoneFile], zone_id: str) -> None:
    """A point in each anchorage is in it; anchorages are water and clear of ports and lanes."""
    zones = _zones_of(files, zone_id)
    anchorage = zones.by_id(zone_id).geometry
    assert _inside(anchorage, *ANCHORAGE_POINTS[zone_id])
    assert anchorage.intersection(_land(zones)).area < 1e-9
    for other in zones.of_kind("port", "tss_lane", "separation_zone"):
        assert anchorage.intersection(other.geometry).area < 1e-6, other.id


# ---------------------------------------------------------------------------------- gates and strait


@pytest.mark.parametrize("name", NEW)
def test_gates_end_well_inside_land(files: dict[str, ZoneFile], name: str) -> None:
    """Both ends of both gates lie inside land, at least 500 m from the shore: nothing passes round an end."""
    land = _land(files[name])
    for gate in files[name].of_kind("gate"):
        coords = list(gate.geometry.coords)
        for lon, lat in (coords[0], coords[-1]):
            assert _inside(land, lon, lat), (gate.id, lon, lat)
            assert land.boundary.distance(Point(lon, lat)) > 0.005, (gate.id, lon, lat)


@pytest.mark.parametrize("name", NEW)
def test_gates_and_land_separate_the_seas(files: dict[str, ZoneFile], name: str) -> None:
    """In the water of the whole data box, cut along both gates, the sea outside the outer gate, the strait
    and the sea beyond the inner gate are three separate pieces: no passage avoids either gate."""
    zones = files[name]
    strait_id, _, outside, inside, beyond = STRAITS[name]
    gates = shapely.union_all([gate.geometry for gate in zones.of_kind("gate")])
    water = shapely.box(*BOXES[name]).difference(_land(zones)).difference(gates.buffer(1e-6))
    pieces = list(getattr(water, "geoms", [water]))

    def piece_of(lon: float, lat: float) -> int:
        found = [i for i, piece in enumerate(pieces) if piece.contains(Point(lon, lat))]
        assert len(found) == 1, (lon, lat)
        return found[0]

    assert len({piece_of(*outside), piece_of(*inside), piece_of(*beyond)}) == 3
    strait = zones.by_id(strait_id).geometry
    assert _inside(strait, *inside) and not _inside(strait, *outside) and not _inside(strait, *beyond)


def test_malacca_strait_ways_round_the_islands_cross_the_inner_gate(files: dict[str, ZoneFile]) -> None:
    """Leaving the Singapore Strait south through the Riau islands (Riau Strait between Batam and Bintan,
    Durian Strait west of Batam) crosses the inner gate: only the TSS side is the strait."""
    zones = files["malacca_singapore"]
    strait = zones.by_id("malacca-strait").geometry
    inner = zones.by_id("malacca-east").geometry
    for track in ([(104.15, 1.20), (104.17, 0.90)], [(103.75, 1.10), (103.70, 0.80)]):
        assert _inside(strait, *track[0]) and not _inside(strait, *track[1])
        assert LineString(track).intersects(inner)


# ------------------------------------------------------------------------------- simulated transits

# Routes along the OSM lane centre lines, from outside the outer gate to beyond the inner gate (inbound) and
# back (outbound). Between the lanes the ships cross the precautionary areas.
ROUTES: dict[str, dict[str, Way]] = {
    "malacca_singapore": {
        "inbound": [
            (95.6, 6.2), (98.5, 4.8), (100.55, 3.1),
            *itertools.chain.from_iterable(MALACCA_SE.values()), *PHILLIP_EASTBOUND,
            *SINGAPORE["malacca-tss-southern-islands-eastbound"],
            *SINGAPORE["malacca-tss-east-coast-eastbound"],
            *HORSBURGH["malacca-tss-horsburgh-eastbound"], (104.8, 1.6),
        ],
        "outbound": [
            (104.8, 1.6), *HORSBURGH["malacca-tss-horsburgh-westbound"],
            *SINGAPORE["malacca-tss-east-coast-westbound"],
            *SINGAPORE["malacca-tss-southern-islands-westbound"],
            *PHILLIP_WESTBOUND,
            *itertools.chain.from_iterable(MALACCA_NW.values()),
            (100.55, 3.2), (98.5, 5.0), (95.6, 6.2),
        ],
    },
    "bab_el_mandeb": {  # on through the lanes West of the Hanish Islands, down the middle of each
        "inbound": [(44.0, 12.3), *MANDEB["mandeb-tss-northbound"],
                    *HANISH_MIDDLES["mandeb-hanish-tss-northbound"], (42.5, 14.5)],
        "outbound": [(42.5, 14.5), *HANISH_MIDDLES["mandeb-hanish-tss-southbound"],
                     *MANDEB["mandeb-tss-southbound"], (44.0, 12.3)],
    },
}  # fmt: skip


@pytest.mark.parametrize("name", NEW)
def test_simulated_transits_each_way(files: dict[str, ZoneFile], name: str) -> None:
    """A tanker through the strait each way, keeping to the lanes: one transit each, the right strait and
    direction (the simulator's truth), no wrong_way and no on_land."""
    strait_id = STRAITS[name][0]
    plans = {
        direction: VesselPlan(
            mmsi=mmsi, route=route, speed_kn=14.0, start_s=0.0, report_interval_s=30.0, name=f"SIM {mmsi}",
            ship_type=80, draught=12.0,
        )
        for mmsi, (direction, route) in enumerate(ROUTES[name].items(), start=477_000_001)
    }  # fmt: skip
    scenario = Scenario(datetime(2026, 3, 1, tzinfo=UTC), 4 * 86_400.0, list(plans.values()))
    pipeline = Pipeline(load_settings(None, env={}), files[name])
    lines = list(generate(scenario))
    alerts = []
    for i in range(0, len(lines), 4096):
        alerts += [alert.to_dict() for alert in pipeline.process_lines(lines[i : i + 4096])]
    for direction, plan in plans.items():
        mine = [alert for alert in alerts if alert["mmsi"] == plan.mmsi]
        transits = [alert for alert in mine if alert["kind"] == "transit"]
        assert [(t["zone"]["id"], t["details"]["direction"]) for t in transits] == [(strait_id, direction)]
        bad = [(a["kind"], a["position"]) for a in mine if a["kind"] in {"wrong_way", "on_land"}]
        assert not bad, direction
