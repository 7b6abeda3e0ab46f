"""Build zones/hormuz.geojson from the third-party geodata in ../shared/geodata.

    python tools/build_zones.py [--geodata DIR] [--out FILE]

The output is deterministic (same input, same bytes): no timestamps, fixed feature order, coordinates
rounded to 6 decimals (about 0.1 m), one feature per line so that diffs stay readable. Every geometric
promise the monitor relies on (gates from coast to coast, the TSS inside the strait between the gates,
lanes clear of the separation zone, anchorages in water, ports not overlapping) is asserted here, and the
result is loaded with monitor.zones.load_zone_file before it is written.

Sources and licences (see ../shared/geodata/SOURCES.md): the TSS and territorial seas are OpenStreetMap
data under ODbL 1.0, so the zone file is ODbL 1.0 too; Natural Earth and the NGA World Port Index are
public domain.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, shape
from shapely.geometry.base import BaseGeometry

REPO = Path(__file__).resolve().parents[1]
DEFAULT_GEODATA = REPO.parent / "shared" / "geodata"
DEFAULT_OUT = REPO / "zones" / "hormuz.geojson"

if str(REPO) not in sys.path:  # run as a script from a checkout: make `monitor` importable
    sys.path.insert(0, str(REPO))

from monitor.zones import load_zone_file  # noqa: E402 - needs the sys.path line above

Coord = tuple[float, float]
DECIMALS = 6
EARTH_RADIUS_M = 6_371_008.8  # IUGG mean radius; the port circles are small, a sphere is plenty
PORT_RADIUS_M = 3_000.0
PORT_VERTICES = 32


def dms(degrees: int, minutes: int) -> float:
    return degrees + minutes / 60.0


# IHO S-23 (1953) limits, [lon, lat].
RAS_LIMAH: Coord = (dms(56, 25), dms(25, 57))  # Musandam, Arabia
RAS_AL_KUH: Coord = (dms(57, 19), dms(25, 48))  # Iran
RAS_AL_HADD: Coord = (dms(59, 48), dms(22, 32))  # Oman
RAS_JIWANI: Coord = (dms(61, 43), dms(25, 5))  # Pakistan, at the Iranian border

# The outer gate is the S-23 Persian Gulf / Gulf of Oman limit itself: in Natural Earth 1:10m both capes lie
# about 1 km inland of the coastline, so the line already runs from land to land.
OUTER_GATE: tuple[Coord, Coord] = (RAS_LIMAH, RAS_AL_KUH)
# The inner gate runs from inside Musandam's west coast (4 km inland) north across the western approach,
# Qeshm and the Clarence (Khuran) Strait to the Iranian mainland west of Bandar Abbas (8 km inland). So a
# ship between the Gulfs crosses it whether it uses the TSS, the inshore waters or the channel north of
# Qeshm; Bandar Abbas's ports lie between the gates, inside the strait.
INNER_GATE: tuple[Coord, Coord] = ((56.10, 26.00), (55.90, 27.10))
# Closing the strait polygon over land: from Ras al Kuh inland round the Iranian coast to the inner gate,
# and across Musandam back to Ras Limah. Asserted to be on land below.
STRAIT_IRAN_INLAND: tuple[Coord, ...] = ((57.50, 26.50), (57.30, 27.40), (56.20, 27.40), (55.90, 27.30))
# The Persian Gulf / Gulf of Oman regions share this line over the UAE and Oman from Ras Limah southwards.
ARABIA_DIVIDE: tuple[Coord, ...] = (
    (56.33, 25.93),
    (56.25, 25.75),
    (56.15, 25.30),
    (56.05, 24.80),
    (55.80, 24.00),
    (55.80, 23.50),
)
REGION_SOUTH = 23.5  # the Persian Gulf region's clip box: lon 47.5 to the S-23 line, lat 23.5 to 30.6
REGION_NORTH = 30.6
REGION_WEST = 47.5
# Closing the Gulf of Oman over land (Oman's interior to Ras al Hadd, Makran inland to Ras Jiwani).
OMAN_INLAND: tuple[Coord, ...] = ((57.50, 22.80), (58.80, 22.30), (59.70, 22.30))
MAKRAN_INLAND: tuple[Coord, ...] = ((61.80, 25.40), (60.00, 25.70), (58.50, 25.90), (57.50, 26.00))

# OSM ways of the scheme "In the Strait of Hormuz".
WAY_SEPARATION = "220138722"
WAY_INBOUND_CENTRE = "220138792"
WAY_OUTBOUND_CENTRE = "220138816"
WAY_NORTH_BOUNDARY = "220138843"
WAY_SOUTH_BOUNDARY = "220138785"

WPI_COUNTRY = {
    "Bahrain": "BH",
    "Iran": "IR",
    "Iraq": "IQ",
    "Kuwait": "KW",
    "Oman": "OM",
    "Qatar": "QA",
    "Saudi Arabia": "SA",
    "United Arab Emirates": "AE",
}
# (id, name, WPI number). Kept apart by at least 2 radii so that no two port polygons overlap.
PORTS: tuple[tuple[str, str, int], ...] = (
    ("bandar-abbas-shahid-rajaee", "Bandar Abbas, Shahid Rajaee", 48495),
    ("bandar-abbas-shahid-bahonar", "Bandar Abbas, Shahid Bahonar", 48520),
    ("fujairah", "Fujairah", 48262),
    ("khor-fakkan", "Khor Fakkan", 48263),
    ("jebel-ali", "Jebel Ali", 48276),
    ("mina-rashid", "Dubai, Mina Rashid", 48275),
    ("ras-tanura", "Ras Tanura", 48340),
    ("ras-laffan", "Ras Laffan", 48297),
    ("kharg-island", "Kharg Island oil terminal", 48465),
    ("mina-al-ahmadi", "Mina al Ahmadi", 48361),
    ("sohar", "Sohar", 48257),
    ("mina-qaboos", "Muscat, Mina Qaboos", 48250),
    ("dammam", "Dammam, King Abdulaziz Port", 48335),
    ("hamad", "Hamad Port", 48288),
    ("bushehr", "Bushehr", 48470),
    ("umm-qasr", "Umm Qasr", 48399),
    ("mina-zayed", "Abu Dhabi, Mina Zayed", 48278),
    ("jask", "Jask", 48540),
    ("khasab", "Khasab", 48259),
    ("mina-saqr", "Ras al Khaimah, Mina Saqr", 48264),
    ("sharjah", "Sharjah, Mina Khalid", 48271),
    ("basra-oil-terminal", "Al Basrah Oil Terminal", 48392),
    ("chabahar", "Chabahar", 48550),
    ("doha", "Doha", 48290),
    ("jubail", "Al Jubayl", 48338),
)
KHALIFA: tuple[str, str, Coord] = ("khalifa-port", "Abu Dhabi, Khalifa Port", (dms(54, 40), dms(24, 50)))

# Approximate anchorage boxes (lon_min, lat_min, lon_max, lat_max), cut to water outside the port polygons.
ANCHORAGES: tuple[tuple[str, str, tuple[float, float, float, float]], ...] = (
    ("fujairah-anchorage", "Fujairah offshore anchorage", (56.37, 25.03, 56.56, 25.30)),
    ("khor-fakkan-anchorage", "Khor Fakkan anchorage", (56.37, 25.32, 56.48, 25.45)),
)

# Natural Earth islands that get a feature (and a name) of their own: [lon, lat] of a point on each.
NAMED_ISLANDS: tuple[tuple[str, Coord], ...] = (
    ("Qeshm", (55.85, 26.75)),
    ("Hormuz", (56.46, 27.06)),
    ("Larak", (56.36, 26.86)),
    ("Hengam", (55.88, 26.65)),
    ("Greater Tunb", (55.31, 26.26)),
    ("Abu Musa", (55.03, 25.87)),
    ("Sirri", (54.54, 25.91)),
    ("Farur", (54.52, 26.28)),
    ("Kish", (53.98, 26.53)),
    ("Lavan", (53.27, 26.80)),
    ("Bahrain", (50.55, 26.03)),
    ("Kharg", (50.32, 29.25)),
    ("Failaka", (48.33, 29.43)),
    ("Bubiyan", (48.20, 29.80)),
)
STRAIT_ISLANDS = ("Qeshm", "Hormuz", "Larak", "Hengam", "Greater Tunb", "Abu Musa", "Kish", "Sirri")

OSM_ATTRIBUTION = "© OpenStreetMap contributors, ODbL 1.0 (https://www.openstreetmap.org/copyright)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--geodata", type=Path, default=DEFAULT_GEODATA, help="the shared/geodata directory")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the zone file to write")
    args = parser.parse_args(argv)
    text = build(args.geodata)
    # Validate with the loader the monitor uses before replacing the output.
    with tempfile.TemporaryDirectory() as scratch:
        probe = Path(scratch) / "hormuz.geojson"
        probe.write_text(text, encoding="utf-8")
        load_zone_file(probe)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(text.encode())} bytes)")
    return 0


def build(geodata: Path) -> str:
    """The zone file's text."""
    land_features = [shape(f["geometry"]) for f in _features(geodata / "ne_land_gulf.geojson")]
    land = shapely.union_all(land_features)
    shapely.prepare(land)

    features: list[dict[str, Any]] = []
    features += _regions(land)
    strait, gates = _strait(land)
    features += [strait, *gates]
    tss = _tss(geodata / "osm_tss_strait_of_hormuz.geojson", strait["_geometry"], gates)
    features += tss
    ports = _ports(geodata / "wpi_pub150_persian_gulf_ports.csv")
    features += ports
    anchorages = _anchorages(land, [port["_geometry"] for port in ports])
    features += anchorages
    # A gate through a harbour would count a ship's manoeuvres there as crossings.
    for gate in gates:
        for area in (*ports, *anchorages):
            _assert(
                not gate["_geometry"].intersects(area["_geometry"]),
                f"gate {gate['properties']['id']} crosses {area['properties']['id']}",
            )
    features += _land(land)
    features += _territorial_seas(geodata / "territorial_sea_gulf.geojson")
    return _serialize(features)


# --------------------------------------------------------------------------------------------- regions


def _regions(land: BaseGeometry) -> list[dict[str, Any]]:
    divide = [RAS_LIMAH, *ARABIA_DIVIDE]
    persian_gulf = Polygon(
        [
            *reversed(divide),  # from (55.8, 23.5) north to Ras Limah
            RAS_AL_KUH,
            (RAS_AL_KUH[0], REGION_NORTH),
            (REGION_WEST, REGION_NORTH),
            (REGION_WEST, REGION_SOUTH),
        ]
    )
    gulf_of_oman = Polygon([*divide, *OMAN_INLAND, RAS_AL_HADD, RAS_JIWANI, *MAKRAN_INLAND, RAS_AL_KUH])
    # The regions' edges other than the S-23 lines must run over land, so that the regions are the water
    # areas the S-23 limits describe (the geodata stops at lon 61, so the Makran edge beyond is unchecked).
    box = shapely.box(47.0, 21.0, 61.0, 31.0)
    for edge in (LineString(divide), LineString([RAS_AL_KUH, (RAS_AL_KUH[0], REGION_NORTH)])):
        _assert(edge.within(land), f"region edge {edge} leaves land")
    for clipped in (
        LineString([ARABIA_DIVIDE[-1], *OMAN_INLAND, RAS_AL_HADD]),
        LineString([RAS_JIWANI, *MAKRAN_INLAND, RAS_AL_KUH]).intersection(box),
    ):
        _assert(land.buffer(1e-4).covers(clipped), f"region edge {clipped} leaves land")
    _assert(persian_gulf.is_valid and gulf_of_oman.is_valid, "region polygons are not valid")
    _assert(persian_gulf.intersection(gulf_of_oman).area < 1e-9, "regions overlap")
    note = (
        "Water area per IHO S-23 (1953) limits; the polygon also covers land, which is its own kind. "
        "Limit with the Gulf of Oman: Ras Limah (25°57'N 56°25'E) - Ras al Kuh (25°48'N 57°19'E)."
    )
    return [
        _feature(
            "persian-gulf",
            "Persian Gulf",
            "region",
            persian_gulf,
            {"source": "IHO S-23 (1953) limits, drawn by tools/build_zones.py", "note": note},
        ),
        _feature(
            "gulf-of-oman",
            "Gulf of Oman",
            "region",
            gulf_of_oman,
            {
                "source": "IHO S-23 (1953) limits, drawn by tools/build_zones.py",
                "note": (
                    "Water area per IHO S-23 (1953) limits, between Ras Limah - Ras al Kuh and Ras al Hadd "
                    "(22°32'N 59°48'E) - Ras Jiwani (25°05'N 61°43'E); the polygon also covers land."
                ),
            },
        ),
    ]


# ---------------------------------------------------------------------------------------------- strait


def _strait(land: BaseGeometry) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    outer = LineString(OUTER_GATE)
    inner = LineString(INNER_GATE)
    for gate in (outer, inner):
        for end in gate.boundary.geoms:
            # Strictly inside, with margin: a gate that stops at the coastline leaves a gap at the shore.
            _assert(land.contains(end) and land.boundary.distance(end) > 0.005, f"gate end {end} not on land")
    musandam = LineString([INNER_GATE[0], OUTER_GATE[0]])
    iran = LineString([OUTER_GATE[1], *STRAIT_IRAN_INLAND, INNER_GATE[1]])
    for edge in (musandam, iran):
        _assert(edge.within(land), f"strait edge {edge} leaves land")
    polygon = Polygon([OUTER_GATE[0], OUTER_GATE[1], *STRAIT_IRAN_INLAND, INNER_GATE[1], INNER_GATE[0]])
    _assert(polygon.is_valid, "strait polygon is not valid")
    strait = _feature(
        "strait-of-hormuz",
        "Strait of Hormuz",
        "strait",
        polygon,
        {
            "gates": ["hormuz-outer", "hormuz-inner"],
            "note": (
                "The water between the gates hormuz-outer (Gulf of Oman side) and hormuz-inner (Persian Gulf "
                "side); its other edges run over land. S-23 publishes no strait polygon: drawn here."
            ),
        },
    )
    gates = [
        _feature(
            "hormuz-outer",
            "Strait of Hormuz, outer gate (Gulf of Oman side)",
            "gate",
            outer,
            {"note": "The IHO S-23 limit Ras Limah (25°57'N 56°25'E) - Ras al Kuh (25°48'N 57°19'E)."},
        ),
        _feature(
            "hormuz-inner",
            "Strait of Hormuz, inner gate (Persian Gulf side)",
            "gate",
            inner,
            {
                "note": (
                    "From Musandam's west coast across the western approach, Qeshm and the Clarence Strait "
                    "to the Iranian mainland west of Bandar Abbas: every passage crosses it, north of Qeshm "
                    "too."
                )
            },
        ),
    ]
    return strait, gates


# ------------------------------------------------------------------------------------------------- TSS


def _tss(path: Path, strait: BaseGeometry, gates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ways = {str(f["properties"]["osm_id"]): LineString(f["geometry"]["coordinates"]) for f in _features(path)}
    ring = list(ways[WAY_SEPARATION].coords)
    _assert(ring[0] == ring[-1] and len(ring) == 12, "separation zone way is not the expected closed ring")
    separation = Polygon(ring)
    # Ring order: 0 west tip, 1 south-west corner, 1-4 the southern side, 4-5 the eastern end, 5-11 the
    # northern side back to the west tip. Each lane lies between its side of the zone and its boundary way.
    south_side = ring[1:5]  # west to east
    north_side = ring[5:12]  # east to west
    inbound_centre = ways[WAY_INBOUND_CENTRE]  # runs east to west
    outbound_centre = ways[WAY_OUTBOUND_CENTRE]  # runs west to east
    north = list(ways[WAY_NORTH_BOUNDARY].coords)  # east to west
    south = list(ways[WAY_SOUTH_BOUNDARY].coords)  # west to east
    # The end caps run from the boundary's end through (just beyond) the centre line's end to the zone's
    # corner: the centre lines stop up to a few tens of metres beyond straight caps, and a lane must
    # contain its centre line, also after rounding to 6 decimals.
    in_start, in_end = _beyond_ends(inbound_centre)
    out_start, out_end = _beyond_ends(outbound_centre)
    inbound = Polygon([*north, in_end, *reversed(north_side), in_start])
    outbound = Polygon([*south, out_end, *reversed(south_side), out_start])
    for lane, centre in ((inbound, inbound_centre), (outbound, outbound_centre)):
        _assert(lane.is_valid, f"lane polygon invalid: {shapely.is_valid_reason(lane)}")
        _assert(lane.covers(centre), "lane does not contain its centre line")
        _assert(lane.intersection(separation).area < 1e-12, "lane overlaps the separation zone")
    _assert(inbound.intersection(outbound).area < 1e-12, "lanes overlap")
    scheme = shapely.union_all([inbound, outbound, separation])
    _assert(strait.contains(scheme), "TSS is not inside the strait polygon")
    for gate in gates:
        _assert(not gate["_geometry"].intersects(scheme), f"gate {gate['properties']['id']} crosses the TSS")
    source = "OpenStreetMap seamark ways, scheme 'In the Strait of Hormuz'"

    def lane_feature(
        zone_id: str, name: str, polygon: Polygon, centre: LineString, way: str, outer: str
    ) -> dict[str, Any]:
        return _feature(
            zone_id,
            name,
            "tss_lane",
            polygon,
            {
                "bearing": _bearing(centre.coords[0], centre.coords[-1]),
                "source": f"{source}: centre line way {way}, boundary way {outer}, separation zone way "
                f"{WAY_SEPARATION}",
                "note": "bearing: initial great-circle bearing from the first to the last vertex of the "
                "centre line, rounded to a whole degree",
                "attribution": OSM_ATTRIBUTION,
            },
        )

    return [
        lane_feature(
            "hormuz-tss-inbound",
            "Strait of Hormuz TSS, inbound lane (towards the Gulf)",
            inbound,
            inbound_centre,
            WAY_INBOUND_CENTRE,
            WAY_NORTH_BOUNDARY,
        ),
        lane_feature(
            "hormuz-tss-outbound",
            "Strait of Hormuz TSS, outbound lane (towards the Gulf of Oman)",
            outbound,
            outbound_centre,
            WAY_OUTBOUND_CENTRE,
            WAY_SOUTH_BOUNDARY,
        ),
        _feature(
            "hormuz-tss-separation",
            "Strait of Hormuz TSS, separation zone",
            "separation_zone",
            separation,
            {"source": f"{source}: way {WAY_SEPARATION}", "attribution": OSM_ATTRIBUTION},
        ),
    ]


def _beyond_ends(line: LineString, extra_deg: float = 1e-4) -> tuple[Coord, Coord]:
    """The line's two ends, each moved `extra_deg` (about 10 m) further along its end segment."""
    coords = list(line.coords)

    def beyond(end: Sequence[float], previous: Sequence[float]) -> Coord:
        dx, dy = end[0] - previous[0], end[1] - previous[1]
        scale = extra_deg / math.hypot(dx, dy)
        return (end[0] + dx * scale, end[1] + dy * scale)

    return beyond(coords[0], coords[1]), beyond(coords[-1], coords[-2])


def _bearing(start: Sequence[float], end: Sequence[float]) -> int:
    """Initial great-circle bearing from start to end ([lon, lat]), degrees true, whole degrees."""
    lon1, lat1, lon2, lat2 = map(math.radians, (start[0], start[1], end[0], end[1]))
    dlon = lon2 - lon1
    x = math.sin(dlon) * math.cos(lat2)
    y = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(dlon)
    return round(math.degrees(math.atan2(x, y))) % 360


# ----------------------------------------------------------------------------------------------- ports


def _ports(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = {int(float(row["World Port Index Number"])): row for row in csv.DictReader(handle)}
    features = []
    for zone_id, name, number in PORTS:
        row = rows[number]
        lon, lat = float(row["Longitude"]), float(row["Latitude"])
        properties: dict[str, Any] = {
            "country": WPI_COUNTRY[row["Country Code"]],
            "wpi_number": number,
            "wpi_name": row["Main Port Name"].strip(),
        }
        if row["UN/LOCODE"].strip():
            properties["unlocode"] = row["UN/LOCODE"].strip()
        properties.update(
            wpi_lon=round(lon, DECIMALS),
            wpi_lat=round(lat, DECIMALS),
            harbor_size=row["Harbor Size"].strip(),
            source="NGA World Port Index (Pub. 150), public domain",
            note=f"circle of {PORT_RADIUS_M / 1000:g} km radius around the WPI reference point "
            "(nominal, to about 1 arc-minute)",
        )
        features.append(_feature(zone_id, name, "port", _circle(lon, lat, PORT_RADIUS_M), properties))
    khalifa_id, khalifa_name, (lon, lat) = KHALIFA
    features.append(
        _feature(
            khalifa_id,
            khalifa_name,
            "port",
            _circle(lon, lat, PORT_RADIUS_M),
            {
                "country": "AE",
                "unlocode": "AE KHL",
                "approximate": True,
                "source": "not in WPI Pub. 150: position 24.8333N 54.6667E from its UN/LOCODE entry "
                "(approximate)",
                "note": f"circle of {PORT_RADIUS_M / 1000:g} km radius around that position",
            },
        )
    )
    circles = [feature["_geometry"] for feature in features]
    tree = shapely.STRtree(circles)
    pairs = tree.query(circles, predicate="intersects")
    _assert(bool((pairs[0] == pairs[1]).all()), "port polygons overlap")
    return features


def _circle(lon: float, lat: float, radius_m: float) -> Polygon:
    """A PORT_VERTICES-gon of the given radius in metres (spherical destination-point formula)."""
    lat1, lon1 = math.radians(lat), math.radians(lon)
    angular = radius_m / EARTH_RADIUS_M
    ring = []
    # Counter-clockwise from north (bearing decreasing), as RFC 7946 wants exterior rings.
    for k in range(PORT_VERTICES):
        bearing = -2.0 * math.pi * k / PORT_VERTICES
        lat2 = math.asin(
            math.sin(lat1) * math.cos(angular) + math.cos(lat1) * math.sin(angular) * math.cos(bearing)
        )
        lon2 = lon1 + math.atan2(
            math.sin(bearing) * math.sin(angular) * math.cos(lat1),
            math.cos(angular) - math.sin(lat1) * math.sin(lat2),
        )
        ring.append((math.degrees(lon2), math.degrees(lat2)))
    return Polygon(ring)


# ------------------------------------------------------------------------------------------ anchorages


def _anchorages(land: BaseGeometry, ports: list[BaseGeometry]) -> list[dict[str, Any]]:
    features = []
    taken = shapely.union_all([land, *ports])
    for zone_id, name, bounds in ANCHORAGES:
        water = shapely.box(*bounds).difference(taken)
        _assert(
            water.is_valid and water.area > 0.5 * shapely.box(*bounds).area, f"{zone_id}: mostly not water"
        )
        _assert(water.intersection(land).area < 1e-9, f"{zone_id} overlaps land")
        features.append(
            _feature(
                zone_id,
                name,
                "anchorage",
                water,
                {
                    "approximate": True,
                    "note": (
                        "Approximate: the box lon {0}-{2}, lat {1}-{3} minus Natural Earth land and the port "
                        "polygons; not the charted anchorage limits."
                    ).format(*bounds),
                },
            )
        )
    return features


# ------------------------------------------------------------------------------------------------ land


def _land(land: BaseGeometry) -> list[dict[str, Any]]:
    """The union of Natural Earth land and minor islands, unsimplified: mainland, named islands, the rest."""
    parts = list(getattr(land, "geoms", [land]))
    mainland = max(parts, key=lambda part: part.area)
    named: list[tuple[str, Polygon]] = []
    for island, point in NAMED_ISLANDS:
        hits = [part for part in parts if part is not mainland and part.covers(Point(point))]
        _assert(len(hits) == 1 or island not in STRAIT_ISLANDS, f"island {island} not found in Natural Earth")
        if hits:
            named.append((island, hits[0]))
    used = {id(mainland), *(id(part) for _, part in named)}
    others = [part for part in parts if id(part) not in used]
    source = {
        "source": "Natural Earth 1:10m land and minor islands (public domain), unioned, not simplified",
    }
    features = [_feature("land-1", "Mainland (Arabian Peninsula, Iraq, Iran)", "land", mainland, source)]
    for number, (island, part) in enumerate(named, start=2):
        features.append(_feature(f"land-{number}", f"{island} island", "land", part, source))
    features.append(
        _feature(
            f"land-{len(named) + 2}",
            "Other islands",
            "land",
            MultiPolygon(others),
            {
                **source,
                "note": "Lesser Tunb and the Quoin islands (Didamar) are in neither Natural Earth layer",
            },
        )
    )
    return features


# ------------------------------------------------------------------------------------- territorial sea


def _territorial_seas(path: Path) -> list[dict[str, Any]]:
    features = []
    for source in _features(path):
        properties = dict(source["properties"])
        zone_id = properties.pop("id")
        name = properties.pop("name")
        properties.pop("kind")
        properties["note"] = (
            "As in the source: the polygon includes the state's land and internal waters (includes_land); "
            "the territorial sea is the polygon minus land. Abu Musa and the Tunbs are drawn in Iran's "
            "polygon as in OSM (de facto; the UAE disputes it)."
        )
        properties["attribution"] = OSM_ATTRIBUTION
        features.append(_feature(zone_id, name, "territorial_sea", shape(source["geometry"]), properties))
    _assert(len(features) == 8, "expected the 8 coastal states' territorial seas")
    return features


# -------------------------------------------------------------------------------------------- output


def _feature(
    zone_id: str, name: str, kind: str, geometry: BaseGeometry, extra: dict[str, Any]
) -> dict[str, Any]:
    # `_geometry` keeps the shapely object for the builder's own checks; it is not serialized.
    return {"properties": {"id": zone_id, "name": name, "kind": kind, **extra}, "_geometry": geometry}


def _serialize(features: Iterable[dict[str, Any]]) -> str:
    collection_properties = {
        "name": "Strait of Hormuz, Persian Gulf and Gulf of Oman zones",
        "license": "ODbL-1.0",
        "attribution": [
            "Traffic separation schemes and territorial seas: " + OSM_ATTRIBUTION,
            "Land: Natural Earth 1:10m land and minor islands (public domain)",
            "Ports: NGA World Port Index, Pub. 150 (public domain)",
            "Sea-area limits: IHO S-23, Limits of Oceans and Seas (1953)",
        ],
        "build": "tools/build_zones.py from shared/geodata (see its SOURCES.md); coordinates rounded to 6 "
        "decimals; GeoJSON [lon, lat], WGS84",
    }
    lines = []
    seen: set[str] = set()
    for feature in features:
        zone_id = feature["properties"]["id"]
        _assert(zone_id not in seen, f"duplicate id {zone_id}")
        seen.add(zone_id)
        geometry = _rounded(feature["_geometry"])
        _assert(geometry.is_valid, f"{zone_id}: invalid after rounding: {shapely.is_valid_reason(geometry)}")
        body = {"type": "Feature", "properties": feature["properties"], "geometry": _geojson(geometry)}
        lines.append(json.dumps(body, ensure_ascii=False, separators=(",", ":")))
    head = json.dumps(collection_properties, ensure_ascii=False, separators=(",", ":"))
    return (
        '{"type":"FeatureCollection","properties":' + head + ',"features":[\n' + ",\n".join(lines) + "\n]}\n"
    )


def _rounded(geometry: BaseGeometry) -> BaseGeometry:
    """Rounded to DECIMALS places, exterior rings counter-clockwise (RFC 7946).

    Plain rounding can make a ring touch itself where two vertices of the coastline lie within 1e-6 degrees
    of each other; set_precision snaps to the same grid and repairs the topology instead.
    """
    rounded = shapely.set_precision(geometry, 10.0**-DECIMALS)
    if rounded.geom_type in ("Polygon", "MultiPolygon"):
        rounded = shapely.orient_polygons(rounded)
    return rounded


def _geojson(geometry: BaseGeometry) -> dict[str, Any]:
    def ring(coords: Iterable[Sequence[float]]) -> list[list[float]]:
        return [[round(x, DECIMALS), round(y, DECIMALS)] for x, y in coords]

    def polygon(part: Polygon) -> list[list[list[float]]]:
        return [ring(part.exterior.coords), *(ring(hole.coords) for hole in part.interiors)]

    if isinstance(geometry, LineString):
        return {"type": "LineString", "coordinates": ring(geometry.coords)}
    if isinstance(geometry, Polygon):
        return {"type": "Polygon", "coordinates": polygon(geometry)}
    if isinstance(geometry, MultiPolygon):
        return {"type": "MultiPolygon", "coordinates": [polygon(part) for part in geometry.geoms]}
    raise TypeError(f"unexpected geometry {geometry.geom_type}")


def _features(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        features: list[dict[str, Any]] = json.load(handle)["features"]
    return features


def _assert(condition: bool, message: str) -> None:
    # Not `assert`: these checks must also run under python -O.
    if not condition:
        raise SystemExit(f"build_zones: {message}")


if __name__ == "__main__":
    raise SystemExit(main())
