"""Build the chokepoints' zone files (zones/NAME.geojson) from the third-party geodata in ../shared/geodata.

    python tools/build_zones.py [--geodata DIR] [NAME ...]          # every chokepoint, or those named
    python tools/build_zones.py [--geodata DIR] --out FILE [NAME]    # one file (hormuz if none is named)

NAME is hormuz, malacca_singapore or bab_el_mandeb. One builder serves every chokepoint: each is a short
declarative spec (the `Chokepoint` values at the end of the specs below): its geodata files, its sea-area
regions as rings, its strait as an outer and an inner gate (each drawn from land to land) and the inland
paths that close the strait polygon, its traffic separation schemes as OSM way numbers, its ports as World
Port Index numbers, its anchorages and its named islands. The code that draws and checks the zones is the
same for all of them.

The output is deterministic (same input, same bytes): no timestamps, fixed feature order, coordinates
rounded to 6 decimals (about 0.1 m), one feature per line so that diffs stay readable. Every geometric
promise the monitor relies on (gates from coast to coast, the TSS inside the strait between the gates,
lanes clear of the separation zones, anchorages in water, ports not overlapping) is asserted here, and the
result is loaded with monitor.zones.load_zone_file before it is written.

Sources and licences (see ../shared/geodata/SOURCES.md): the TSS and territorial seas are OpenStreetMap
data under ODbL 1.0, so the zone files are ODbL 1.0 too; Natural Earth and the NGA World Port Index are
public domain.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, shape
from shapely.geometry.base import BaseGeometry

REPO = Path(__file__).resolve().parents[1]
DEFAULT_GEODATA = REPO.parent / "shared" / "geodata"
ZONES_DIR = REPO / "zones"

if str(REPO) not in sys.path:  # run as a script from a checkout: make `monitor` importable
    sys.path.insert(0, str(REPO))

from monitor.zones import load_zone_file  # noqa: E402 - needs the sys.path line above

Coord = tuple[float, float]
DECIMALS = 6
EARTH_RADIUS_M = 6_371_008.8  # IUGG mean radius; the port circles are small, a sphere is plenty
PORT_RADIUS_M = 3_000.0
PORT_VERTICES = 32
# A region edge that runs "over land" may stray this far (degrees, about 2 km) off Natural Earth's land: the
# S-23 points are published to 1 arc-minute and the 1:10m coast is good to several hundred metres.
REGION_LAND_TOLERANCE = 0.02
GATE_END_MARGIN = 0.005  # a gate's ends lie this far (degrees) inside land, so no gap is left at the shore


def dms(degrees: int, minutes: float) -> float:
    return degrees + minutes / 60.0


# ================================================================================================= specs


@dataclass(frozen=True)
class RegionSpec:
    """A sea area. Edge i runs from ring[i] to ring[i + 1] (the last one back to ring[0]); the edges in
    `sea_edges` cross water (an S-23 limit, or where the region stops at the edge of the data), every other
    edge is asserted to run over land (within REGION_LAND_TOLERANCE, where the geodata reaches)."""

    id: str
    name: str
    ring: tuple[Coord, ...]
    sea_edges: frozenset[int]
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class GateSpec:
    """A gate: a line (it may bend, over land or water) whose two ends lie inside land."""

    id: str
    name: str
    line: tuple[Coord, ...]
    note: str


@dataclass(frozen=True)
class StraitSpec:
    """The water between the outer and the inner gate. The polygon is the outer gate, then `side_b` (inland,
    from the outer gate's last point to the inner gate's last point), the inner gate backwards, then
    `side_a` (inland, from the inner gate's first point to the outer gate's first point)."""

    id: str
    name: str
    outer: GateSpec
    inner: GateSpec
    side_b: tuple[Coord, ...]
    side_a: tuple[Coord, ...]
    note: str


@dataclass(frozen=True)
class LaneSpec:
    """A TSS lane: between the OSM outer boundary way and its side of the separation zone (the ring's
    vertices `side`, by index, without the closing vertex). With a centre line, its drawing order is the
    direction of flow and the lane's ends are capped through (just beyond) the centre line's ends; without
    one, the boundary way's drawing order is the direction of flow.

    Where a boundary way runs on past the lane, `boundary_vertices` picks the lane's stretch of it; where
    the lanes are parted by a separation line as well as a zone, `side_ways` gives the lane's side as
    (way, vertex indices) pieces, in order, instead of `side`."""

    id: str
    name: str
    boundary: str
    side: tuple[int, ...] = ()
    centre: str | None = None
    boundary_vertices: tuple[int, ...] | None = None
    side_ways: tuple[tuple[str, tuple[int, ...]], ...] = ()


@dataclass(frozen=True)
class SchemeSpec:
    """A traffic separation scheme: its separation zone (a closed OSM way) and the lanes either side."""

    source: str
    zone_way: str
    zone_id: str
    zone_name: str
    lanes: tuple[LaneSpec, ...]


@dataclass(frozen=True)
class AnchorageSpec:
    """An anchorage: an approximate box (lon_min, lat_min, lon_max, lat_max), or a closed OSM way."""

    id: str
    name: str
    bounds: tuple[float, float, float, float] | None = None
    way: str | None = None


@dataclass(frozen=True)
class ExtraPort:
    """A port not in the WPI extract: position and properties from another source."""

    id: str
    name: str
    position: Coord
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class Chokepoint:
    key: str  # the output is zones/{key}.geojson
    title: str  # the collection's name
    tss_file: str
    land_file: str
    territorial_file: str
    wpi_file: str
    data_box: tuple[float, float, float, float]  # the geodata's clip box
    regions: tuple[RegionSpec, ...]
    strait: StraitSpec
    schemes: tuple[SchemeSpec, ...]
    countries: Mapping[str, str]  # WPI country name -> ISO 3166 alpha-2
    ports: tuple[tuple[str, str, int], ...]  # (id, name, WPI number)
    extra_ports: tuple[ExtraPort, ...]
    safe_havens: frozenset[str]
    anchorages: tuple[AnchorageSpec, ...]
    mainlands: tuple[tuple[str, Coord], ...]  # land features named by a point inside them
    islands: tuple[tuple[str, Coord], ...]
    strait_islands: tuple[str, ...]  # islands that must be found in Natural Earth
    other_islands_note: str
    territorial_count: int
    territorial_note: str
    id_prefix: str = ""  # for the ids made from the data (land-N, ts-xx)
    port_radius_m: Mapping[str, float] = field(default_factory=dict)  # exceptions to PORT_RADIUS_M


OSM_ATTRIBUTION = "© OpenStreetMap contributors, ODbL 1.0 (https://www.openstreetmap.org/copyright)"
S23_SOURCE = "IHO S-23 (1953) limits, drawn by tools/build_zones.py"

# =========================================================================================== Hormuz

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
# Safe havens (`safe_haven: true`, CONTRACT "Zone file"): the real ports outside the strait, beyond its outer
# gate on the Gulf of Oman side, where a ship leaving the Gulf can shelter without passing the narrows
# again, in states not party to the tension over the strait: Fujairah and Khor Fakkan (UAE, the east
# coast's bunkering and container ports) and Sohar and Muscat's Mina Qaboos (Oman). Duqm (Oman, 19.7 N) is
# not in the WPI extract (it ends at 21.5 N; see SOURCES.md), so it is not in this file. Left out on
# purpose: Jask and Chabahar (Iran, a party to the tension), Khasab (inside the strait), Qalhat (an LNG
# roadstead, no shelter), and every port inside the Gulf (reaching it means staying behind the strait).
SAFE_HAVENS = frozenset({"fujairah", "khor-fakkan", "sohar", "mina-qaboos"})

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

HORMUZ = Chokepoint(
    key="hormuz",
    title="Strait of Hormuz, Persian Gulf and Gulf of Oman zones",
    tss_file="osm_tss_strait_of_hormuz.geojson",
    land_file="ne_land_gulf.geojson",
    territorial_file="territorial_sea_gulf.geojson",
    wpi_file="wpi_pub150_persian_gulf_ports.csv",
    data_box=(47.0, 21.0, 61.0, 31.0),
    regions=(
        RegionSpec(
            "persian-gulf",
            "Persian Gulf",
            (
                *reversed((RAS_LIMAH, *ARABIA_DIVIDE)),  # from (55.8, 23.5) north to Ras Limah
                RAS_AL_KUH,
                (RAS_AL_KUH[0], REGION_NORTH),
                (REGION_WEST, REGION_NORTH),
                (REGION_WEST, REGION_SOUTH),
            ),
            frozenset({6}),  # Ras Limah - Ras al Kuh
            {
                "source": S23_SOURCE,
                "note": (
                    "Water area per IHO S-23 (1953) limits; the polygon also covers land, which is its own "
                    "kind. Limit with the Gulf of Oman: Ras Limah (25°57'N 56°25'E) - Ras al Kuh "
                    "(25°48'N 57°19'E)."
                ),
            },
        ),
        RegionSpec(
            "gulf-of-oman",
            "Gulf of Oman",
            (RAS_LIMAH, *ARABIA_DIVIDE, *OMAN_INLAND, RAS_AL_HADD, RAS_JIWANI, *MAKRAN_INLAND, RAS_AL_KUH),
            frozenset({10, 16}),  # Ras al Hadd - Ras Jiwani, Ras al Kuh - Ras Limah
            {
                "source": S23_SOURCE,
                "note": (
                    "Water area per IHO S-23 (1953) limits, between Ras Limah - Ras al Kuh and Ras al Hadd "
                    "(22°32'N 59°48'E) - Ras Jiwani (25°05'N 61°43'E); the polygon also covers land."
                ),
            },
        ),
    ),
    strait=StraitSpec(
        "strait-of-hormuz",
        "Strait of Hormuz",
        outer=GateSpec(
            "hormuz-outer",
            "Strait of Hormuz, outer gate (Gulf of Oman side)",
            OUTER_GATE,
            "The IHO S-23 limit Ras Limah (25°57'N 56°25'E) - Ras al Kuh (25°48'N 57°19'E).",
        ),
        inner=GateSpec(
            "hormuz-inner",
            "Strait of Hormuz, inner gate (Persian Gulf side)",
            INNER_GATE,
            "From Musandam's west coast across the western approach, Qeshm and the Clarence Strait to the "
            "Iranian mainland west of Bandar Abbas: every passage crosses it, north of Qeshm too.",
        ),
        side_b=STRAIT_IRAN_INLAND,
        side_a=(),  # across Musandam, straight from the inner gate's end to Ras Limah
        note=(
            "The water between the gates hormuz-outer (Gulf of Oman side) and hormuz-inner (Persian Gulf "
            "side); its other edges run over land. S-23 publishes no strait polygon: drawn here."
        ),
    ),
    schemes=(
        SchemeSpec(
            "OpenStreetMap seamark ways, scheme 'In the Strait of Hormuz'",
            WAY_SEPARATION,
            "hormuz-tss-separation",
            "Strait of Hormuz TSS, separation zone",
            (
                # Ring order: 0 west tip, 1 south-west corner, 1-4 the southern side, 4-5 the eastern end,
                # 5-11 the northern side back to the west tip (11 closes the ring on 0).
                LaneSpec(
                    "hormuz-tss-inbound",
                    "Strait of Hormuz TSS, inbound lane (towards the Gulf)",
                    WAY_NORTH_BOUNDARY,
                    (5, 6, 7, 8, 9, 10, 0),
                    WAY_INBOUND_CENTRE,
                ),
                LaneSpec(
                    "hormuz-tss-outbound",
                    "Strait of Hormuz TSS, outbound lane (towards the Gulf of Oman)",
                    WAY_SOUTH_BOUNDARY,
                    (1, 2, 3, 4),
                    WAY_OUTBOUND_CENTRE,
                ),
            ),
        ),
    ),
    countries=WPI_COUNTRY,
    ports=PORTS,
    extra_ports=(
        ExtraPort(
            KHALIFA[0],
            KHALIFA[1],
            KHALIFA[2],
            {
                "country": "AE",
                "unlocode": "AE KHL",
                "approximate": True,
                "source": "not in WPI Pub. 150: position 24.8333N 54.6667E from its UN/LOCODE entry "
                "(approximate)",
            },
        ),
    ),
    safe_havens=SAFE_HAVENS,
    anchorages=tuple(AnchorageSpec(zone_id, name, bounds) for zone_id, name, bounds in ANCHORAGES),
    mainlands=(("Mainland (Arabian Peninsula, Iraq, Iran)", (50.0, 24.0)),),
    islands=NAMED_ISLANDS,
    strait_islands=STRAIT_ISLANDS,
    other_islands_note="Lesser Tunb and the Quoin islands (Didamar) are in neither Natural Earth layer",
    territorial_count=8,
    territorial_note=(
        "As in the source: the polygon includes the state's land and internal waters (includes_land); "
        "the territorial sea is the polygon minus land. Abu Musa and the Tunbs are drawn in Iran's "
        "polygon as in OSM (de facto; the UAE disputes it)."
    ),
)

# ================================================================================ Malacca and Singapore

# IHO S-23 (1953) limits, [lon, lat] (see SOURCES.md).
PEDROPUNT: Coord = (dms(95, 26), dms(5, 40))  # northern extreme of Sumatra
LEM_VOALAN: Coord = (dms(98, 18), dms(7, 45))  # southern extremity of Phuket
TANJONG_PIAI: Coord = (dms(103, 31), dms(1, 16))  # southern extremity of the Malay Peninsula
THE_BROTHERS: Coord = (dms(103, 21), dms(1, 11.5))
KLEIN_KARIMOEN: Coord = (dms(103, 23.5), dms(1, 10))
TANJONG_KEDABU: Coord = (dms(102, 58), dms(1, 6))
TANJONG_DATOK: Coord = (dms(104, 17), dms(1, 22))  # south-east point of Johor
HORSBURGH: Coord = (104.405, 1.33)  # Horsburgh lighthouse on Pedra Branca ("through Horsburgh Reef")
PULO_KOKO: Coord = (dms(104, 35), dms(1, 13.5))  # north-eastern extreme of Bintan
PEMPING: Coord = (103.80, 1.12)  # Pulau Pemping Besar, off north-west Batam (S-23 copies drop its position)
# Inland paths: Sumatra from the south-east to Pedropunt; the Malay Peninsula from Krabi to Johor.
SUMATRA_INLAND: tuple[Coord, ...] = ((102.0, 0.3), (100.5, 1.0), (99.0, 2.5), (97.5, 4.0), (96.0, 5.0))
PENINSULA_INLAND: tuple[Coord, ...] = (
    (99.9, 7.6), (100.5, 6.5), (101.0, 5.0), (101.5, 4.0), (102.5, 2.8), (103.5, 1.9), (104.1, 1.75)
)  # fmt: skip
KRABI: Coord = (99.05, 7.95)  # Thai mainland east of Phuket
JOHOR_EAST: Coord = (104.24, 1.62)  # Johor's east coast, north of Tanjong Datok
SUMATRA_SOUTH_EAST: Coord = (102.9, 0.65)  # Sumatra's mainland south of the Rangsang islands

# The outer gate carries the S-23 Malacca Strait limit Pedropunt - Lem Voalan onto land at both ends: into
# Sumatra, and from Phuket's southern tip east across the mouth of Phang Nga Bay to the Krabi mainland, so
# that Phuket and the bay (reached from the Andaman Sea through the Pak Prah channel too) lie outside it.
MALACCA_OUTER: tuple[Coord, ...] = ((95.42, 5.58), PEDROPUNT, LEM_VOALAN, KRABI)
# The inner gate bars every way out to the east and south-east: from Sumatra across the Rangsang islands
# and Karimun, south of the Phillip Channel, over Batam and Bintan, then round the TSS's eastern end (which
# reaches past the S-23 line Tanjong Datok - Horsburgh - Pulo Koko) to Johor's east coast.
MALACCA_INNER: tuple[Coord, ...] = (
    SUMATRA_SOUTH_EAST, (103.0, 0.95), (103.38, 1.06), (103.66, 0.98), (103.85, 0.96), (104.05, 1.06),
    (104.35, 1.05), (104.55, 1.15), (104.66, 1.33), JOHOR_EAST,
)  # fmt: skip

MALACCA_TSS = "OpenStreetMap seamark ways, Straits of Malacca and Singapore TSS"


def _malacca_segment(number: int, where: str, zone: str, lanes: tuple[tuple[str, str, tuple[int, ...]], ...]
                     ) -> SchemeSpec:
    """One segment of the Straits of Malacca TSS: (centre, boundary, zone side) south-east-bound first."""
    directions = (("se", "south-east-bound"), ("nw", "north-west-bound"))
    return SchemeSpec(
        MALACCA_TSS,
        zone,
        f"malacca-tss-{number}-separation",
        f"Straits of Malacca TSS, {where}, separation zone",
        tuple(
            LaneSpec(f"malacca-tss-{number}-{short}", f"Straits of Malacca TSS, {where}, {long} lane",
                     boundary, side, centre)
            for (short, long), (centre, boundary, side) in zip(directions, lanes, strict=True)
        ),
    )


MALACCA_SINGAPORE = Chokepoint(
    key="malacca_singapore",
    title="Straits of Malacca and Singapore zones",
    tss_file="osm_tss_malacca_singapore.geojson",
    land_file="ne_land_malacca_singapore.geojson",
    territorial_file="territorial_sea_malacca_singapore.geojson",
    wpi_file="wpi_pub150_malacca_singapore_ports.csv",
    data_box=(94.0, -1.0, 105.0, 8.0),
    regions=(
        RegionSpec(
            "malacca-andaman-approach",
            "Andaman Sea, north-western approach to the Strait of Malacca",
            (PEDROPUNT, LEM_VOALAN, (98.35, 8.0), (94.0, 8.0), (94.0, 5.0), (95.8, 5.0)),
            frozenset({0, 1, 2, 3, 4}),
            {
                "source": S23_SOURCE,
                "note": (
                    "The approach west of the S-23 Malacca Strait limit Pedropunt (5°40'N 95°26'E) - Lem "
                    "Voalan (7°45'N 98°18'E), to lon 94°E and lat 5°N-8°N (the edge of the data); the "
                    "polygon also covers land."
                ),
            },
        ),
        RegionSpec(
            "malacca-strait-of-malacca",
            "Strait of Malacca",
            (
                LEM_VOALAN, PEDROPUNT, (95.8, 5.0), *SUMATRA_INLAND[::-1], SUMATRA_SOUTH_EAST, TANJONG_KEDABU,
                KLEIN_KARIMOEN, THE_BROTHERS, TANJONG_PIAI, (103.45, 1.45), *PENINSULA_INLAND[4::-1], KRABI,
            ),
            frozenset({0, 8, 9, 10, 11, 19}),
            {
                "source": S23_SOURCE,
                "note": (
                    "Water area per IHO S-23 (1953): Pedropunt - Lem Voalan in the north-west; Tanjong Piai "
                    "(1°16'N 103°31'E) - The Brothers - Klein Karimoen (1°10'N 103°23.5'E) - Tanjong Kedabu "
                    "(1°06'N 102°58'E) in the south-east; Phang Nga Bay is closed off by the line Lem "
                    "Voalan - Krabi. The polygon also covers land."
                ),
            },
        ),
        RegionSpec(
            "malacca-singapore-strait",
            "Singapore Strait",
            (
                TANJONG_PIAI, THE_BROTHERS, KLEIN_KARIMOEN, PEMPING, (103.95, 1.10), (104.08, 1.10),
                (104.30, 1.10), (104.50, 1.15), PULO_KOKO, HORSBURGH, TANJONG_DATOK, (104.1, 1.75),
                (103.6, 1.7), (103.45, 1.45),
            ),
            frozenset({0, 1, 2, 3, 5, 8, 9}),
            {
                "source": S23_SOURCE,
                "note": (
                    "Water area per IHO S-23 (1953): between Tanjong Piai - The Brothers - Klein Karimoen "
                    "and Tanjong Datok (1°22'N 104°17'E) - Horsburgh - Pulo Koko (1°13.5'N 104°35'E), "
                    "south to Pulau Pemping and the northern coasts of Batam and Bintan. The polygon also "
                    "covers land, Singapore island and the Johor Strait with it."
                ),
            },
        ),
        RegionSpec(
            "malacca-south-china-sea-approach",
            "South China Sea, eastern approach to the Singapore Strait",
            (
                TANJONG_DATOK, HORSBURGH, PULO_KOKO, (104.6, 1.0), (105.0, 1.0), (105.0, 2.5), (103.7, 2.5),
                (104.1, 1.75),
            ),
            frozenset({0, 1, 3, 4, 5}),
            {
                "source": S23_SOURCE,
                "note": (
                    "The approach east of the S-23 line Tanjong Datok - Horsburgh - Pulo Koko, to lon 105°E "
                    "(the edge of the data) and lat 2.5°N; the polygon also covers land."
                ),
            },
        ),
    ),
    strait=StraitSpec(
        "malacca-strait",
        "Straits of Malacca and Singapore",
        outer=GateSpec(
            "malacca-west",
            "Straits of Malacca and Singapore, outer gate (Andaman Sea side)",
            MALACCA_OUTER,
            "The IHO S-23 limit Pedropunt (5°40'N 95°26'E) - Lem Voalan (7°45'N 98°18'E), carried into "
            "Sumatra and from Phuket's southern tip east across the mouth of Phang Nga Bay to the Krabi "
            "mainland.",
        ),
        inner=GateSpec(
            "malacca-east",
            "Straits of Malacca and Singapore, inner gate (South China Sea side)",
            MALACCA_INNER,
            "From Sumatra across the Rangsang islands, Karimun, south of the Phillip Channel, over Batam and "
            "Bintan, then round the eastern end of the TSS (east of the S-23 line Tanjong Datok - Horsburgh "
            "- Pulo Koko, which the TSS overruns) to Johor's east coast: every way out to the South China "
            "Sea or through the Riau islands crosses it.",
        ),
        side_b=PENINSULA_INLAND,
        side_a=SUMATRA_INLAND,
        note=(
            "The water between the gates malacca-west (Andaman Sea side) and malacca-east (South China Sea "
            "side); its other edges run over Sumatra and the Malay Peninsula. An inbound transit is "
            "eastbound (outer, then inner gate), an outbound transit westbound. Ports inside: Port Klang, "
            "Singapore, Tanjung Pelepas, Dumai, Penang and the rest; S-23 publishes no strait polygon: "
            "drawn here."
        ),
    ),
    schemes=(
        _malacca_segment(1, "One Fathom Bank", "182076337",
                         (("182076065", "182075774", (5, 6, 7, 0)),
                          ("182075871", "182075818", (1, 2, 3, 4)))),
        _malacca_segment(2, "segment 2", "182076287",
                         (("182075814", "182075800", (5, 0, 1)), ("182075806", "182075815", (2, 3, 4)))),
        _malacca_segment(3, "segment 3", "182076162",
                         (("182075762", "182075767", (0, 1)), ("182075777", "182075769", (2, 3)))),
        _malacca_segment(4, "Melaka to Tanjung Piai", "182075759",
                         (("182076315", "182076349", (17, 18, 0, 1, 2, 3, 4, 5, 6)),
                          ("182076336", "182076356", (7, 8, 9, 10, 11, 12, 13, 14, 15, 16)))),
        # The Singapore Strait between the precautionary areas south of the Southern Islands and off
        # Changi: the lanes run between the long boundary ways 182075728 (south) and 182075730 (north).
        SchemeSpec(
            MALACCA_TSS,
            "182076204",  # tagged separation_lane in OSM, but it is the ring parting these two lanes
            "malacca-tss-southern-islands-separation",
            "Singapore Strait TSS, off the Southern Islands, separation zone",
            (
                LaneSpec("malacca-tss-southern-islands-eastbound",
                         "Singapore Strait TSS, off the Southern Islands, eastbound lane", "182075728",
                         (1, 2),
                         "182075775", boundary_vertices=(6, 7)),
                LaneSpec("malacca-tss-southern-islands-westbound",
                         "Singapore Strait TSS, off the Southern Islands, westbound lane", "182075730",
                         (3, 4, 0), "182075772", boundary_vertices=(4, 5, 6)),
            ),
        ),
        SchemeSpec(
            MALACCA_TSS,
            "182075819",  # a sliver at the east end; west of it separation line 182075798 parts the lanes
            "malacca-tss-east-coast-separation",
            "Singapore Strait TSS, off Singapore's east coast, separation zone",
            (
                LaneSpec("malacca-tss-east-coast-eastbound",
                         "Singapore Strait TSS, off Singapore's east coast, eastbound lane", "182075728",
                         centre="182075812", boundary_vertices=(8, 9, 10),
                         side_ways=(("182075798", (0, 1, 2)), ("182075819", (0,)))),
                LaneSpec("malacca-tss-east-coast-westbound",
                         "Singapore Strait TSS, off Singapore's east coast, westbound lane", "182075730",
                         centre="182075975", boundary_vertices=(0, 1, 2, 3),
                         side_ways=(("182075819", (1, 2)), ("182075798", (1, 0)))),
            ),
        ),
        SchemeSpec(
            MALACCA_TSS,
            "182076265",
            "malacca-tss-horsburgh-separation",
            "Singapore Strait TSS, Horsburgh, separation zone",
            (
                LaneSpec("malacca-tss-horsburgh-eastbound", "Singapore Strait TSS, Horsburgh, eastbound lane",
                         "182075816", (4, 5, 0), "182075803"),
                LaneSpec("malacca-tss-horsburgh-westbound", "Singapore Strait TSS, Horsburgh, westbound lane",
                         "182075811", (1, 2, 3), "182075799"),
            ),
        ),
    ),
    countries={"Indonesia": "ID", "Malaysia": "MY", "Singapore": "SG", "Thailand": "TH"},
    ports=(
        ("malacca-singapore-keppel", "Singapore, Keppel (East Singapore)", 50000),
        ("malacca-singapore-jurong-island", "Singapore, Jurong Island", 50017),
        ("malacca-singapore-pulau-bukom", "Singapore, Pulau Bukom", 50010),
        ("malacca-port-klang", "Port Klang", 49930),
        ("malacca-tanjung-pelepas", "Tanjung Pelepas", 51587),
        ("malacca-johor-pasir-gudang", "Johor, Pasir Gudang", 49982),
        ("malacca-dumai", "Dumai", 50785),
        ("malacca-penang", "Penang (Pulau Pinang)", 49850),
        ("malacca-melaka", "Melaka", 49970),
        ("malacca-sungai-udang", "Melaka, Sungai Udang", 49962),
        ("malacca-port-dickson", "Port Dickson", 49960),
        ("malacca-lumut", "Lumut", 49890),
        ("malacca-belawan", "Belawan", 50730),
        ("malacca-kuala-tanjung", "Kuala Tanjung", 50518),
        ("malacca-lhokseumawe", "Lhokseumawe", 50650),
        ("malacca-sabang", "Sabang", 50610),
        ("malacca-phuket", "Phuket", 49770),
        ("malacca-batam-pulau-sambu", "Batam, Pulau Sambu", 50060),
        ("malacca-tanjung-balai-karimun", "Tanjung Balai Karimun", 50516),
    ),
    extra_ports=(),
    # Safe havens: Singapore (Keppel: the region's hub, with Korea's embassy and its shipping companies'
    # regional offices; a ship reaches it from either end of the strait) and Penang (Malaysia, at the
    # northern entrance, for a ship that must not enter the narrows). Left out: the Indonesian and Thai
    # ports, and Singapore's oil islands (Jurong, Bukom: terminals, not shelter).
    safe_havens=frozenset({"malacca-singapore-keppel", "malacca-penang"}),
    anchorages=(
        AnchorageSpec(
            "malacca-singapore-eastern-anchorage", "Singapore Eastern Anchorages", (103.87, 1.27, 104.0, 1.31)
        ),
        AnchorageSpec(
            "malacca-eastern-opl-anchorage",
            "Eastern OPL anchorage off Tanjung Pengelih (Johor)",
            (104.06, 1.32, 104.26, 1.37),
        ),
        AnchorageSpec("malacca-nipa-transit-anchorage", "Nipa Transit anchorage", way="182076251"),
    ),
    mainlands=(("Sumatra", (101.0, 1.0)), ("Malay Peninsula (Malaysia, Thailand)", (102.0, 4.0))),
    islands=(
        ("Singapore", (103.82, 1.35)),
        ("Batam", (104.05, 1.10)),
        ("Bintan", (104.50, 1.05)),
        ("Karimun Besar", (103.38, 1.05)),
        ("Rupat", (101.60, 1.90)),
        ("Penang", (100.25, 5.40)),
        ("Langkawi", (99.80, 6.35)),
        ("Weh", (95.30, 5.85)),
        ("Phuket", (98.33, 7.90)),
    ),
    strait_islands=("Singapore", "Batam", "Bintan", "Karimun Besar", "Rupat", "Penang"),
    other_islands_note=(
        "Singapore's reclaimed and southern islands (Jurong Island, Sentosa, Pulau Bukom, Pulau Semakau, "
        "Pulau Satumu), Pedra Branca and Nipa are in neither Natural Earth layer; Singapore's coast is the "
        "1:10m one, not today's reclaimed shore"
    ),
    territorial_count=5,
    territorial_note=(
        "As in the source: the polygon includes the state's land and internal waters (includes_land); "
        "the territorial sea is the polygon minus land. Pedra Branca is drawn in Singapore's polygon (as "
        "awarded by the ICJ in 2008); the Indonesia-Malaysia and Indonesia-Singapore boundary agreements "
        "are not checked against it."
    ),
    id_prefix="malacca-",
)

# ======================================================================================== Bab el-Mandeb

# The Red Sea / Gulf of Aden limit as MARPOL gives it (33 CFR 151.06), the S-23 line to 0.1'.
RAS_SI_ANE: Coord = (dms(43, 19.6), dms(12, 28.5))  # Ras Siyyan, Djibouti
HUSN_MURAD: Coord = (dms(43, 30.2), dms(12, 40.4))  # Yemen
# The regions' divide over land: north through Yemen to the edge of the data (lat 16), south through
# Djibouti and Ethiopia to it (lat 11).
YEMEN_DIVIDE: tuple[Coord, ...] = ((43.52, 12.75), (43.90, 13.30), (43.90, 16.0))
AFRICA_DIVIDE: tuple[Coord, ...] = ((43.20, 12.30), (42.3, 11.9), (42.3, 11.0))
ERITREA_INLAND: tuple[Coord, ...] = ((41.2, 14.2), (41.8, 13.5), (42.3, 13.0), (42.9, 12.6))
MANDEB_TSS = "OpenStreetMap seamark ways, Bab el-Mandeb TSS"
HANISH_TSS = "OpenStreetMap seamark ways, TSS West of the Hanish Islands"

BAB_EL_MANDEB = Chokepoint(
    key="bab_el_mandeb",
    title="Bab el-Mandeb, southern Red Sea and western Gulf of Aden zones",
    tss_file="osm_tss_bab_el_mandeb.geojson",
    land_file="ne_land_bab_el_mandeb.geojson",
    territorial_file="territorial_sea_bab_el_mandeb.geojson",
    wpi_file="wpi_pub150_bab_el_mandeb_ports.csv",
    data_box=(41.0, 11.0, 46.0, 16.0),
    regions=(
        RegionSpec(
            "mandeb-red-sea",
            "Red Sea (southern part)",
            (RAS_SI_ANE, HUSN_MURAD, *YEMEN_DIVIDE, (41.0, 16.0), (41.0, 14.67), *ERITREA_INLAND),
            frozenset({0, 4, 5}),
            {
                "source": S23_SOURCE,
                "note": (
                    "Water area per IHO S-23 (1953) limits, north of its limit with the Gulf of Aden Ras "
                    "Siyyan (Ras si Ane, 12°28.5'N 43°19.6'E) - Husn Murad (12°40.4'N 43°30.2'E), up to lat "
                    "16°N (the edge of the data); the polygon also covers land."
                ),
            },
        ),
        RegionSpec(
            "mandeb-gulf-of-aden",
            "Gulf of Aden (western part)",
            (HUSN_MURAD, RAS_SI_ANE, *AFRICA_DIVIDE, (46.0, 11.0), (46.0, 16.0), *YEMEN_DIVIDE[::-1]),
            frozenset({0, 4, 5}),
            {
                "source": S23_SOURCE,
                "note": (
                    "Water area per IHO S-23 (1953) limits, east of the line Ras Siyyan (Ras si Ane) - Husn "
                    "Murad, with the Gulf of Tadjoura, to lon 46°E and lat 11°N (the edge of the data); the "
                    "polygon also covers land."
                ),
            },
        ),
    ),
    strait=StraitSpec(
        "mandeb-strait",
        "Bab el-Mandeb",
        outer=GateSpec(
            "mandeb-south",
            "Bab el-Mandeb, outer gate (Gulf of Aden side)",
            ((43.33, 12.28), (43.66, 12.76)),
            "From the African coast south of Ras Siyyan to the Yemeni coast east of Husn Murad: south-east "
            "of the S-23 Red Sea limit, which the Bab el-Mandeb TSS overruns by some 5 km. Both the Large "
            "Strait (west of Perim) and the Small Strait cross it.",
        ),
        inner=GateSpec(
            "mandeb-north",
            "Bab el-Mandeb, inner gate (Red Sea side)",
            ((42.0, 13.72), (43.32, 13.78)),
            "From the Eritrean coast across the Red Sea, north of the TSS West of the Hanish Islands and "
            "through Greater Hanish, to the Yemeni coast north of Mocha: passages west and east of the "
            "Hanish islands cross it.",
        ),
        side_b=((43.75, 13.0), (43.55, 13.5)),
        side_a=((42.3, 13.25), (42.75, 12.85), (43.15, 12.45)),
        note=(
            "The water between the gates mandeb-south (Gulf of Aden side) and mandeb-north (Red Sea side); "
            "its other edges run over land. An inbound transit is northbound (into the Red Sea), an outbound "
            "one southbound. It holds both TSS, Perim, Assab and Mocha. S-23 publishes no strait polygon: "
            "drawn here."
        ),
    ),
    schemes=(
        SchemeSpec(
            MANDEB_TSS,
            "971908448",
            "mandeb-tss-separation",
            "Bab el-Mandeb TSS, separation zone",
            (
                LaneSpec("mandeb-tss-northbound",
                         "Bab el-Mandeb TSS, north-west-bound lane (towards the Red Sea)",
                         "971908446", (4, 5, 0), "971908445"),
                LaneSpec("mandeb-tss-southbound",
                         "Bab el-Mandeb TSS, south-east-bound lane (towards the Gulf of Aden)",
                         "971908447", (1, 2, 3), "971908444"),
            ),
        ),
        SchemeSpec(
            HANISH_TSS,
            "1031697593",
            "mandeb-hanish-tss-separation",
            "TSS West of the Hanish Islands, separation zone",
            (
                LaneSpec("mandeb-hanish-tss-northbound",
                         "TSS West of the Hanish Islands, north-west-bound lane", "1031697591", (0, 1, 2)),
                LaneSpec("mandeb-hanish-tss-southbound",
                         "TSS West of the Hanish Islands, south-east-bound lane", "1031697592", (3, 4, 5)),
            ),
        ),
    ),
    countries={"Djibouti": "DJ", "Eritrea": "ER", "Yemen": "YE"},
    ports=(
        ("mandeb-djibouti", "Djibouti", 47850),
        ("mandeb-doraleh", "Djibouti, Doraleh", 47855),
        ("mandeb-assab", "Assab", 47880),
        ("mandeb-aden", "Aden", 48190),
        ("mandeb-mocha", "Mocha (Al Mukha)", 48175),
        ("mandeb-hodeidah", "Hodeidah (Al Hudaydah)", 48165),
        ("mandeb-ras-isa", "Ras Isa marine terminal", 48155),
        ("mandeb-salif", "Salif", 48152),
    ),
    extra_ports=(),
    # Safe haven: Djibouti (its old port and Doraleh), the one state on the strait outside the Yemen war,
    # with the international naval presence that escorts merchant ships (Korea's Cheonghae anti-piracy
    # unit among them). Left out: Yemen's ports (Aden, Mocha, Hodeidah, Ras Isa, Salif: the conflict the
    # ships are sheltering from) and Eritrea's Assab.
    safe_havens=frozenset({"mandeb-djibouti", "mandeb-doraleh"}),
    anchorages=(
        AnchorageSpec("mandeb-djibouti-anchorage", "Djibouti outer anchorage", (43.03, 11.62, 43.16, 11.70)),
        AnchorageSpec("mandeb-aden-anchorage", "Aden outer anchorage", (44.88, 12.68, 45.05, 12.75)),
        AnchorageSpec("mandeb-hodeidah-anchorage", "Hodeidah anchorage", (42.75, 14.75, 42.90, 14.92)),
    ),
    mainlands=(
        ("Africa (Eritrea, Ethiopia, Djibouti, Somaliland)", (42.5, 12.5)),
        ("Arabian Peninsula (Yemen)", (44.0, 14.0)),
    ),
    islands=(
        ("Perim", (43.41, 12.66)),
        ("Sawabi (Seven Brothers)", (43.43, 12.47)),
        ("Greater Hanish", (42.72, 13.72)),
        ("Zuqar", (42.75, 14.0)),
        ("Kamaran", (42.60, 15.35)),
        ("Zubair", (42.17, 15.05)),
    ),
    strait_islands=("Perim", "Sawabi (Seven Brothers)", "Greater Hanish"),
    other_islands_note="Jabal al-Tair and the Doumeira islands are in neither Natural Earth layer",
    territorial_count=4,
    territorial_note=(
        "As in the source: the polygon includes the state's land and internal waters (includes_land); "
        "the territorial sea is the polygon minus land. Greater Hanish and Zuqar are drawn in Yemen's "
        "polygon (as awarded by the 1998 Eritrea-Yemen arbitration); the Somaliland coast is drawn as "
        "Somalia, as in OSM; the Djibouti-Eritrea dispute over Doumeira is not resolved here."
    ),
    id_prefix="mandeb-",
    port_radius_m={"mandeb-djibouti": 2_000.0, "mandeb-doraleh": 2_000.0},  # 4.9 km apart
)

CHOKEPOINTS: dict[str, Chokepoint] = {
    spec.key: spec for spec in (HORMUZ, MALACCA_SINGAPORE, BAB_EL_MANDEB)
}


# ================================================================================================= build


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"chokepoints to build: {', '.join(CHOKEPOINTS)} (default: all)")
    parser.add_argument("--geodata", type=Path, default=DEFAULT_GEODATA, help="the shared/geodata directory")
    parser.add_argument("--out", type=Path, help="the zone file to write (one chokepoint; default hormuz)")
    args = parser.parse_args(argv)
    names: list[str] = list(dict.fromkeys(args.names))
    unknown = [name for name in names if name not in CHOKEPOINTS]
    if unknown:
        parser.error(f"unknown chokepoint {unknown[0]!r} (known: {', '.join(CHOKEPOINTS)})")
    if args.out is not None and len(names) > 1:
        parser.error("--out writes one zone file: name at most one chokepoint")
    if args.out is not None:
        targets = [(CHOKEPOINTS[names[0] if names else "hormuz"], args.out)]
    else:
        targets = [(CHOKEPOINTS[name], ZONES_DIR / f"{name}.geojson") for name in names or CHOKEPOINTS]
    for spec, out in targets:
        text = build(args.geodata, spec)
        # Validate with the loader the monitor uses before replacing the output.
        with tempfile.TemporaryDirectory() as scratch:
            probe = Path(scratch) / f"{spec.key}.geojson"
            probe.write_text(text, encoding="utf-8")
            load_zone_file(probe)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out} ({len(text.encode())} bytes)")
    return 0


def build(geodata: Path, spec: Chokepoint | None = None) -> str:
    """The zone file's text for one chokepoint (Hormuz by default)."""
    spec = spec or HORMUZ
    land_features = [shape(f["geometry"]) for f in _features(geodata / spec.land_file)]
    land = shapely.union_all(land_features)
    shapely.prepare(land)

    features: list[dict[str, Any]] = []
    features += _regions(spec, land)
    strait, gates = _strait(spec.strait, land)
    features += [strait, *gates]
    tss = _tss(geodata / spec.tss_file, spec.schemes, strait["_geometry"], gates)
    features += tss
    ports = _ports(geodata / spec.wpi_file, spec)
    features += ports
    scheme = shapely.union_all([lane["_geometry"] for lane in tss])
    anchorages = _anchorages(
        geodata / spec.tss_file, spec.anchorages, land, [port["_geometry"] for port in ports], scheme
    )
    features += anchorages
    # A gate through a harbour would count a ship's manoeuvres there as crossings.
    for gate in gates:
        for area in (*ports, *anchorages):
            _assert(
                not gate["_geometry"].intersects(area["_geometry"]),
                f"gate {gate['properties']['id']} crosses {area['properties']['id']}",
            )
    features += _land(spec, land)
    features += _territorial_seas(geodata / spec.territorial_file, spec)
    return _serialize(spec, features)


# --------------------------------------------------------------------------------------------- regions


def _regions(spec: Chokepoint, land: BaseGeometry) -> list[dict[str, Any]]:
    # The regions' edges other than the S-23 lines (and the edge of the data) must run over land, so that
    # the regions are the water areas the S-23 limits describe. Beyond the geodata's box nothing is checked.
    box = shapely.box(*spec.data_box)
    near_land = land.buffer(REGION_LAND_TOLERANCE)
    features = []
    polygons: list[tuple[str, Polygon]] = []
    for region in spec.regions:
        ring = region.ring
        for index, start in enumerate(ring):
            if index in region.sea_edges:
                continue
            edge = LineString([start, ring[(index + 1) % len(ring)]]).intersection(box)
            _assert(edge.is_empty or near_land.covers(edge), f"{region.id}: edge {index} {edge} leaves land")
        polygon = Polygon(ring)
        _assert(polygon.is_valid, f"{region.id}: polygon is not valid: {shapely.is_valid_reason(polygon)}")
        for other_id, other in polygons:
            _assert(polygon.intersection(other).area < 1e-9, f"regions {region.id} and {other_id} overlap")
        polygons.append((region.id, polygon))
        features.append(_feature(region.id, region.name, "region", polygon, dict(region.properties)))
    return features


# ---------------------------------------------------------------------------------------------- strait


def _strait(spec: StraitSpec, land: BaseGeometry) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    outer = LineString(spec.outer.line)
    inner = LineString(spec.inner.line)
    for gate in (outer, inner):
        for end in gate.boundary.geoms:
            # Strictly inside, with margin: a gate that stops at the coastline leaves a gap at the shore.
            _assert(
                land.contains(end) and land.boundary.distance(end) > GATE_END_MARGIN,
                f"gate end {end} not on land",
            )
    side_a = LineString([spec.inner.line[0], *spec.side_a, spec.outer.line[0]])
    side_b = LineString([spec.outer.line[-1], *spec.side_b, spec.inner.line[-1]])
    for edge in (side_a, side_b):
        _assert(edge.within(land), f"strait edge {edge} leaves land")
    polygon = Polygon([*spec.outer.line, *spec.side_b, *reversed(spec.inner.line), *spec.side_a])
    _assert(polygon.is_valid, f"strait polygon is not valid: {shapely.is_valid_reason(polygon)}")
    strait = _feature(
        spec.id, spec.name, "strait", polygon, {"gates": [spec.outer.id, spec.inner.id], "note": spec.note}
    )
    gates = [
        _feature(gate.id, gate.name, "gate", LineString(gate.line), {"note": gate.note})
        for gate in (spec.outer, spec.inner)
    ]
    return strait, gates


# ------------------------------------------------------------------------------------------------- TSS


def _tss(
    path: Path, schemes: Sequence[SchemeSpec], strait: BaseGeometry, gates: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    ways = {str(f["properties"]["osm_id"]): LineString(f["geometry"]["coordinates"]) for f in _features(path)}
    features: list[dict[str, Any]] = []
    parts: list[tuple[str, Polygon]] = []
    for scheme in schemes:
        ring = list(ways[scheme.zone_way].coords)
        _assert(ring[0] == ring[-1] and len(ring) >= 4, f"way {scheme.zone_way} is not a closed ring")
        separation = Polygon(ring)
        _assert(separation.is_valid, f"separation zone way {scheme.zone_way} is not a valid polygon")
        vertices = ring[:-1]
        for lane in scheme.lanes:
            boundary = list(ways[lane.boundary].coords)
            if lane.boundary_vertices is not None:
                boundary = [boundary[index] for index in lane.boundary_vertices]
            side = [vertices[index] for index in lane.side]
            for way, indices in lane.side_ways:
                side += [ways[way].coords[index] for index in indices]
            _assert(len(boundary) >= 2 and len(side) >= 2, f"{lane.id}: a side has fewer than 2 vertices")
            if lane.centre is not None:
                # Each lane lies between its side of the zone and its boundary way. The end caps run from the
                # boundary's end through (just beyond) the centre line's end to the zone's corner: the centre
                # lines stop up to a few tens of metres beyond straight caps, and a lane must contain its
                # centre line, also after rounding to 6 decimals.
                centre = ways[lane.centre]
                first = centre.coords[0]
                boundary, side = _along(boundary, first), _along(side, first)
                start, end = _beyond_ends(centre)
                polygon = Polygon([*boundary, end, *reversed(side), start])
                source = (
                    f"{scheme.source}: centre line way {lane.centre}, boundary way {lane.boundary}, "
                    f"separation zone way {scheme.zone_way}"
                )
                note = (
                    "bearing: initial great-circle bearing from the first to the last vertex of the centre "
                    "line, rounded to a whole degree"
                )
            else:
                side = _along(side, boundary[0])
                # The lane's middle line: through the middles of facing vertices where both sides have as
                # many, else from the middle of the start to the middle of the end.
                pairs = zip(boundary, side, strict=True) if len(boundary) == len(side) else (
                    (boundary[0], side[0]), (boundary[-1], side[-1])
                )
                centre = LineString([_middle(a, b) for a, b in pairs])
                polygon = Polygon([*boundary, *reversed(side)])
                source = (
                    f"{scheme.source}: boundary way {lane.boundary}, separation zone way {scheme.zone_way} "
                    "(OSM has no centre line for this lane)"
                )
                note = (
                    "bearing: initial great-circle bearing from the middle of the lane's start to the middle "
                    "of its end, the boundary way's drawing order being the direction of flow, rounded to a "
                    "whole degree"
                )
            if lane.boundary_vertices is not None:
                source += f"; of the boundary way, vertices {', '.join(map(str, lane.boundary_vertices))}"
            if lane.side_ways:
                pieces = "; ".join(
                    f"way {way} vertices {', '.join(map(str, ix))}" for way, ix in lane.side_ways
                )
                source += f"; the side towards the other lane: {pieces}"
            _assert(polygon.is_valid, f"{lane.id}: lane polygon invalid: {shapely.is_valid_reason(polygon)}")
            # (A middle line's ends lie on the lane's end edges: allow for the floating-point rounding.)
            _assert(polygon.buffer(1e-9).covers(centre), f"{lane.id}: lane does not contain its centre line")
            _assert(polygon.intersection(separation).area < 1e-12, f"{lane.id} overlaps the separation zone")
            parts.append((lane.id, polygon))
            features.append(
                _feature(
                    lane.id,
                    lane.name,
                    "tss_lane",
                    polygon,
                    {
                        "bearing": _bearing(centre.coords[0], centre.coords[-1]),
                        "source": source,
                        "note": note,
                        "attribution": OSM_ATTRIBUTION,
                    },
                )
            )
        parts.append((scheme.zone_id, separation))
        features.append(
            _feature(
                scheme.zone_id,
                scheme.zone_name,
                "separation_zone",
                separation,
                {"source": f"{scheme.source}: way {scheme.zone_way}", "attribution": OSM_ATTRIBUTION},
            )
        )
    for i, (one_id, one) in enumerate(parts):
        for other_id, other in parts[i + 1 :]:
            _assert(one.intersection(other).area < 1e-12, f"{one_id} overlaps {other_id}")
    scheme_area = shapely.union_all([polygon for _, polygon in parts])
    _assert(strait.contains(scheme_area), "TSS is not inside the strait polygon")
    for gate in gates:
        _assert(
            not gate["_geometry"].intersects(scheme_area), f"gate {gate['properties']['id']} crosses the TSS"
        )
    return features


def _along(points: list[tuple[float, ...]], start: Sequence[float]) -> list[tuple[float, ...]]:
    """The points in the order that begins at the end nearer `start` (the direction of flow)."""
    if math.dist(points[-1], start) < math.dist(points[0], start):
        return points[::-1]
    return points


def _middle(a: Sequence[float], b: Sequence[float]) -> Coord:
    return ((a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0)


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


def _ports(path: Path, spec: Chokepoint) -> list[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = {int(float(row["World Port Index Number"])): row for row in csv.DictReader(handle)}
    features = []
    for zone_id, name, number in spec.ports:
        row = rows[number]
        lon, lat = float(row["Longitude"]), float(row["Latitude"])
        radius = spec.port_radius_m.get(zone_id, PORT_RADIUS_M)
        properties: dict[str, Any] = {
            "country": spec.countries[row["Country Code"]],
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
            note=f"circle of {radius / 1000:g} km radius around the WPI reference point "
            "(nominal, to about 1 arc-minute)",
        )
        if zone_id in spec.safe_havens:
            properties["safe_haven"] = True
        features.append(_feature(zone_id, name, "port", _circle(lon, lat, radius), properties))
    for extra in spec.extra_ports:
        lon, lat = extra.position
        radius = spec.port_radius_m.get(extra.id, PORT_RADIUS_M)
        properties = {
            **extra.properties,
            "note": f"circle of {radius / 1000:g} km radius around that position",
        }
        if extra.id in spec.safe_havens:
            properties["safe_haven"] = True
        features.append(_feature(extra.id, extra.name, "port", _circle(lon, lat, radius), properties))
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


def _anchorages(
    tss_path: Path,
    specs: Sequence[AnchorageSpec],
    land: BaseGeometry,
    ports: list[BaseGeometry],
    scheme: BaseGeometry,
) -> list[dict[str, Any]]:
    features = []
    taken = shapely.union_all([land, *ports])
    ways = {str(f["properties"]["osm_id"]): f["geometry"]["coordinates"] for f in _features(tss_path)}
    for spec in specs:
        if spec.bounds is not None:
            area: BaseGeometry = shapely.box(*spec.bounds)
            properties: dict[str, Any] = {"approximate": True}
            what = "the box lon {0}-{2}, lat {1}-{3}".format(*spec.bounds)
        else:
            _assert(spec.way is not None, f"{spec.id}: neither bounds nor way")
            area = Polygon(ways[str(spec.way)])
            properties = {"source": f"OpenStreetMap seamark way {spec.way} (anchorage)"}
            what = f"OSM way {spec.way}"
        water = area.difference(taken)
        cut = "Natural Earth land and the port polygons"
        if water.intersects(scheme):
            water = water.difference(scheme)
            cut = "Natural Earth land, the port polygons and the traffic separation scheme"
        _assert(water.is_valid and water.area > 0.5 * area.area, f"{spec.id}: mostly not water")
        _assert(water.intersection(land).area < 1e-9, f"{spec.id} overlaps land")
        if spec.bounds is not None:
            properties["note"] = f"Approximate: {what} minus {cut}; not the charted anchorage limits."
        else:
            properties["note"] = f"{what} minus {cut}."
            properties["attribution"] = OSM_ATTRIBUTION
        features.append(_feature(spec.id, spec.name, "anchorage", water, properties))
    return features


# ------------------------------------------------------------------------------------------------ land


def _land(spec: Chokepoint, land: BaseGeometry) -> list[dict[str, Any]]:
    """The union of Natural Earth land and minor islands, unsimplified: the mainland(s), the named islands,
    then the rest."""
    parts = list(getattr(land, "geoms", [land]))
    mainlands: list[tuple[str, Polygon]] = []
    for name, point in spec.mainlands:
        hits = [part for part in parts if part.covers(Point(point))]
        _assert(len(hits) == 1, f"mainland {name} not found in Natural Earth")
        mainlands.append((name, hits[0]))
    taken = {id(part) for _, part in mainlands}
    named: list[tuple[str, Polygon]] = []
    for island, point in spec.islands:
        hits = [part for part in parts if id(part) not in taken and part.covers(Point(point))]
        _assert(
            len(hits) == 1 or island not in spec.strait_islands, f"island {island} not found in Natural Earth"
        )
        if hits:
            named.append((island, hits[0]))
    used = {*taken, *(id(part) for _, part in named)}
    others = [part for part in parts if id(part) not in used]
    source = {
        "source": "Natural Earth 1:10m land and minor islands (public domain), unioned, not simplified",
    }
    features = []
    for number, (name, part) in enumerate(mainlands, start=1):
        features.append(_feature(f"{spec.id_prefix}land-{number}", name, "land", part, source))
    for number, (island, part) in enumerate(named, start=len(mainlands) + 1):
        features.append(_feature(f"{spec.id_prefix}land-{number}", f"{island} island", "land", part, source))
    if others:
        features.append(
            _feature(
                f"{spec.id_prefix}land-{len(mainlands) + len(named) + 1}",
                "Other islands",
                "land",
                MultiPolygon(others),
                {**source, "note": spec.other_islands_note},
            )
        )
    return features


# ------------------------------------------------------------------------------------- territorial sea


def _territorial_seas(path: Path, spec: Chokepoint) -> list[dict[str, Any]]:
    features = []
    for source in _features(path):
        properties = dict(source["properties"])
        zone_id = spec.id_prefix + properties.pop("id")
        name = properties.pop("name")
        properties.pop("kind")
        properties["note"] = spec.territorial_note
        properties["attribution"] = OSM_ATTRIBUTION
        features.append(_feature(zone_id, name, "territorial_sea", shape(source["geometry"]), properties))
    _assert(
        len(features) == spec.territorial_count,
        f"expected the {spec.territorial_count} coastal states' territorial seas",
    )
    return features


# -------------------------------------------------------------------------------------------- output


def _feature(
    zone_id: str, name: str, kind: str, geometry: BaseGeometry, extra: dict[str, Any]
) -> dict[str, Any]:
    # `_geometry` keeps the shapely object for the builder's own checks; it is not serialized.
    return {"properties": {"id": zone_id, "name": name, "kind": kind, **extra}, "_geometry": geometry}


def _serialize(spec: Chokepoint, features: Iterable[dict[str, Any]]) -> str:
    collection_properties = {
        "name": spec.title,
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
        _assert(zone_id.startswith(spec.id_prefix), f"id {zone_id} lacks the prefix {spec.id_prefix!r}")
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
