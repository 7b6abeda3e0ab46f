"""Zone files: load a GeoJSON FeatureCollection of zones once, validate all of it, hand back frozen zones.

The zone file is the analysts' interface (see CONTRACT.md, "Zone file"). It is checked completely when it is
loaded, so that a bad file stops the program at start with every problem listed, each naming the feature,
rather than failing later in the middle of a run. Geometries are built with shapely and prepared, so the
geofencing code can run vectorized predicates on them directly.

GeoJSON is [lon, lat]. The most common mistake in hand-written zone files is [lat, lon]. It is caught three
ways: a "latitude" beyond ±90 (true for any longitude east of 90°E or west of 90°W); a feature that lies
far from the rest of the file (a single feature written the wrong way round among correct ones); and a feature
named after a well-known strait or sea that lies far from it but would lie on it with lon and lat exchanged
(a whole file written the wrong way round: exchanging every coordinate mirrors the file, so it stays
consistent with itself and only outside knowledge can tell). See _check_placement.

`hazard` and `corridor` zones may carry `expires` (ISO 8601 UTC); an operator adds them at run time too,
checked by the same code together with the zones already loaded (merge_zone_features, monitor.runtimezones).
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from types import MappingProxyType
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from monitor.errors import ZoneFileError
from monitor.geo import EARTH_RADIUS_M

__all__ = [
    "FAR_APART_KM",
    "RUNTIME_KINDS",
    "ZONE_KINDS",
    "Zone",
    "ZoneCheck",
    "ZoneFile",
    "check_zone_file",
    "default_zone_path",
    "load_zone_file",
    "merge_zone_features",
    "parse_expires",
]

ZONE_KINDS: tuple[str, ...] = (
    "region",
    "strait",
    "tss_lane",
    "separation_zone",
    "port",
    "anchorage",
    "territorial_sea",
    "land",
    "gate",
    "hazard",
    "corridor",
)
# The kinds an operator may add at run time (POST /api/zones), and the only ones `expires` applies to: an
# expiring strait or port would change what every other detector means by it.
RUNTIME_KINDS: tuple[str, ...] = ("hazard", "corridor")

_POLYGONAL = frozenset({"Polygon", "MultiPolygon"})
_COUNTRY = re.compile(r"[A-Za-z]{2}")
# Ids end up in alert JSON and log lines and may end up in MQTT topics: refuse the characters that would
# break a topic ("/" is a level separator, "+" and "#" are wildcards) and whitespace.
_BAD_ID_CHARS = re.compile(r"[/+#\s\x00-\x1f]")


@dataclass(frozen=True, slots=True)
class Zone:
    """One validated zone. `geometry` is prepared (shapely.prepare) for fast repeated predicates."""

    id: str
    name: str
    kind: str
    geometry: BaseGeometry  # Polygon/MultiPolygon, or LineString for kind "gate"
    bearing: float | None = None  # tss_lane only, degrees true
    gates: tuple[str, str] | None = None  # strait only: (outer_gate_id, inner_gate_id)
    country: str | None = None
    expires: float | None = None  # hazard and corridor only: unix time (feed clock) it stops applying
    # All of the feature's original properties. Excluded from the hash because a mapping is not hashable;
    # zones stay usable as dict keys and set members.
    properties: Mapping[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class ZoneFile:
    """A loaded zone file: its zones in file order and the collection-level properties (attribution)."""

    path: str
    zones: tuple[Zone, ...]
    properties: Mapping[str, Any]  # collection-level properties (attribution etc.), may be empty
    # Zone files loaded together (load_zone_files: several chokepoints in one daemon), each as loaded;
    # empty for one file. Runtime zones are placed against the file they lie in (merge_zone_features).
    parts: tuple[ZoneFile, ...] = field(default=(), compare=False)
    _by_id: Mapping[str, Zone] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Built once here so lookups are O(1); the dataclass is frozen, hence object.__setattr__.
        object.__setattr__(self, "_by_id", MappingProxyType({zone.id: zone for zone in self.zones}))

    def by_id(self, zone_id: str) -> Zone:
        """The zone with this id; KeyError if there is none."""
        return self._by_id[zone_id]

    def of_kind(self, *kinds: str) -> list[Zone]:
        """The zones of any of the given kinds, in file order."""
        wanted = frozenset(kinds)
        return [zone for zone in self.zones if zone.kind in wanted]


def load_zone_files(paths: Sequence[str | os.PathLike[str]]) -> ZoneFile:
    """Several zone files watched together (`--zones` repeated, `zones.files`): each read and validated on
    its own, as `load_zone_file` does (a chokepoint's features lie together; two chokepoints need not),
    then joined in the order given. A zone id used in two files is refused, naming both (ZoneFileError
    for the later file). One path: that file, as load_zone_file gives it."""
    if len(paths) == 1:
        return load_zone_file(paths[0])
    loaded = [load_zone_file(path) for path in paths]
    owner: dict[str, str] = {}
    for zone_file in loaded:
        clashes = [z.id for z in zone_file.zones if z.id in owner]
        if clashes:
            raise ZoneFileError(zone_file.path, [
                f"feature {zone_id!r}: id already used in {owner[zone_id]} (ids must be unique across the "
                "zone files loaded together)" for zone_id in clashes
            ])
        owner.update((z.id, zone_file.path) for z in zone_file.zones)
    return ZoneFile(
        path=loaded[0].path,
        zones=tuple(z for zone_file in loaded for z in zone_file.zones),
        properties=MappingProxyType(_joined_properties(loaded)),
        parts=tuple(loaded),
    )


def _joined_properties(loaded: Sequence[ZoneFile]) -> dict[str, Any]:
    """The collection properties of files loaded together: names joined, every attribution once, and each
    file's own properties under `files` (with its path)."""
    names = [str(f.properties["name"]) for f in loaded if f.properties.get("name")]
    attribution: list[str] = []
    for f in loaded:
        for line in f.properties.get("attribution") or ():
            if line not in attribution:
                attribution.append(line)
    licences = list(dict.fromkeys(str(f.properties["license"]) for f in loaded
                                  if f.properties.get("license")))
    joined: dict[str, Any] = {"name": "; ".join(names)} if names else {}
    if licences:
        joined["license"] = " AND ".join(licences)
    if attribution:
        joined["attribution"] = attribution
    joined["files"] = [{"path": f.path, **f.properties} for f in loaded]
    return joined


# The zone files shipped with the package, one per chokepoint, by name: `--zones malacca_singapore`.
PACKAGED = ("hormuz", "malacca_singapore", "bab_el_mandeb")


def load_configured_zones(paths: Sequence[str | os.PathLike[str]] | None) -> ZoneFile:
    """The zone files a command line or configuration names (`load_zone_files`), or the packaged default
    when it names none. A name of PACKAGED that is no file stands for the packaged file (`--zones
    malacca_singapore`; in a configuration, where paths are taken relative to it, `files =
    ["malacca_singapore"]`)."""
    return load_zone_files([_packaged(p) for p in paths] if paths else [default_zone_path()])


def _packaged(path: str | os.PathLike[str]) -> str | os.PathLike[str]:
    name = os.path.basename(os.fspath(path))
    if name in PACKAGED and not os.path.exists(path):
        return pathlib.Path(str(resources.files("monitor.data") / f"{name}.geojson"))
    return path


def default_zone_path() -> pathlib.Path:
    """The zone file shipped with the package (monitor/data/hormuz.geojson)."""
    return pathlib.Path(str(resources.files("monitor.data") / "hormuz.geojson"))


@dataclass(frozen=True)
class ZoneCheck:
    """Everything `zones check` reports about a file, valid or not.

    `problems` lists every problem in file order, each naming its feature (empty when the file is valid, and
    then `zone_file` is the loaded file). `kinds` counts the features read, by kind; `bounds` is
    (lon_min, lat_min, lon_max, lat_max) over every finite coordinate of every readable geometry, valid or
    not, so a user sees where the file lies even when it is refused (None when no geometry could be read).
    """

    path: str
    problems: tuple[str, ...]
    zone_file: ZoneFile | None
    features: int = 0
    kinds: Mapping[str, int] = field(default_factory=dict)
    bounds: tuple[float, float, float, float] | None = None


def load_zone_file(path: str | os.PathLike[str]) -> ZoneFile:
    """Read, validate and build a zone file.

    Raises ZoneFileError(path, problems) listing every problem found. Each feature problem starts with
    the feature's id (``feature 'x': ...``) or, without a usable id, its 0-based position in the
    ``features`` array (``feature #3 (no id): ...``); a problem of the whole file starts ``whole file:``.
    The exception's message is one line (the first problem and how many more), for a log line; `problems`
    carries them all.
    """
    path_str = os.fspath(path)
    check = _build(path_str, _read(path_str))
    if check.zone_file is None:
        raise ZoneFileError(path_str, list(check.problems))
    return check.zone_file


def check_zone_file(path: str | os.PathLike[str]) -> ZoneCheck:
    """Validate a zone file like load_zone_file, but hand back the report instead of raising."""
    path_str = os.fspath(path)
    try:
        document = _read(path_str)
    except ZoneFileError as exc:
        return ZoneCheck(path_str, tuple(exc.problems), None)
    return _build(path_str, document)


def _read(path: str) -> Any:
    try:
        text = pathlib.Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ZoneFileError(path, [f"cannot read file: {exc}"]) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ZoneFileError(path, [f"not JSON: {exc}"]) from exc


@dataclass(slots=True)
class _Draft:
    """A feature whose properties were read; geometry checks follow in bulk."""

    index: int
    label: str  # how problems name it: "feature 'x'" or "feature #3 (no id)"
    id: str | None
    kind: str | None
    properties: dict[str, Any]
    geometry: BaseGeometry | None = None


def merge_zone_features(base: ZoneFile, features: Sequence[Any], path: str | None = None) -> ZoneCheck:
    """Zones added to a loaded zone file (the operator's runtime zones), checked exactly as a zone file's
    features are, and together with the base's: an id must be unique across both, and a feature must lie
    among the base's features. The base is not checked again (it was, when loaded). Problems name only
    the added features; on success `zone_file` holds the base's zones, then the added ones."""
    document = {"type": "FeatureCollection", "features": list(features)}
    return _build(path if path is not None else base.path, document, base)


def _build(path: str, document: Any, base: ZoneFile | None = None) -> ZoneCheck:
    problems: list[str] = []
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        found = document.get("type") if isinstance(document, dict) else type(document).__name__
        return ZoneCheck(path, (f"not a GeoJSON FeatureCollection (type is {found!r})",), None)
    features = document.get("features")
    if not isinstance(features, list):
        return ZoneCheck(path, ("not a GeoJSON FeatureCollection: 'features' is not a list",), None)
    if not features and base is None:
        return ZoneCheck(path, ("empty FeatureCollection: no features",), None)
    collection_properties = document.get("properties") or {}
    if not isinstance(collection_properties, dict):
        problems.append("collection 'properties' is not an object")
        collection_properties = {}
    if base is not None:
        collection_properties = dict(base.properties)

    drafts = [_read_feature(index, feature, problems) for index, feature in enumerate(features)]
    # The base's zones take part in the checks that look across features (ids, placement, strait gates),
    # as drafts already built; their own checks passed when the base was loaded.
    known = [] if base is None else [
        _Draft(-1, f"zone {zone.id!r}", zone.id, zone.kind, dict(zone.properties), zone.geometry)
        for zone in base.zones
    ]
    kinds = Counter(draft.kind for draft in drafts if draft.kind is not None)
    _check_ids(drafts, problems, {draft.id for draft in known if draft.id is not None})
    bounds = _bounds(drafts)
    _check_geometries(drafts, problems)
    _check_placement([*_neighbours(base, known, drafts), *drafts], problems)
    by_id = {draft.id: draft for draft in [*known, *drafts] if draft.id is not None}

    zones: list[Zone] = []
    for draft in drafts:
        zone = _make_zone(draft, by_id, problems)
        if zone is not None:
            zones.append(zone)
    counts = MappingProxyType(dict(sorted(kinds.items())))
    if problems:
        # Checks run in phases (properties, ids, geometries in bulk, placement, kinds); report in file order
        # instead, so each feature's problems read together, whole-file problems first. sort() is stable:
        # phase order is kept within a feature.
        position: dict[str, int] = {}
        for draft in drafts:
            position.setdefault(draft.label, draft.index)
        problems.sort(key=lambda problem: position.get(problem.split(": ", 1)[0], -1))
        return ZoneCheck(path, tuple(problems), None, len(features), counts, bounds)
    shapely.prepare([zone.geometry for zone in zones])
    if base is not None:
        zones = [*base.zones, *zones]
        path = base.path  # (the zones in force are still the base's file, with the features added)
    zone_file = ZoneFile(path=path, zones=tuple(zones), properties=MappingProxyType(collection_properties),
                         parts=() if base is None else base.parts)
    return ZoneCheck(path, (), zone_file, len(features), counts, bounds)


def _neighbours(base: ZoneFile | None, known: list[_Draft], drafts: list[_Draft]) -> list[_Draft]:
    """The base's zones that added features are placed among: all of them, or with several zone files
    loaded together, those of the file whose zones lie nearest the added features (another chokepoint's
    zones lie thousands of kilometres off, and would make the added ones look misplaced), with the
    runtime zones already added."""
    if base is None or not base.parts:
        return known
    placed = [d.geometry for d in drafts if d.geometry is not None]
    if not placed:
        return known
    here = np.array(shapely.bounds(shapely.union_all(placed)))
    gaps = [float(_gap_km(here, np.array(shapely.bounds(np.array([z.geometry for z in part.zones],
                                                                   dtype=object)))).min())
            for part in base.parts]
    nearest = base.parts[int(np.argmin(gaps))]
    others = {z.id for part in base.parts if part is not nearest for z in part.zones}
    return [d for d in known if d.id not in others]


def _read_feature(index: int, feature: Any, problems: list[str]) -> _Draft:
    """Read id, kind and properties; build the geometry. Geometry validity is checked later, in bulk."""
    anonymous = f"feature #{index} (no id)"
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        problems.append(f"{anonymous}: not a GeoJSON Feature")
        return _Draft(index, anonymous, None, None, {})
    properties = feature.get("properties")
    if not isinstance(properties, dict):
        problems.append(f"{anonymous}: 'properties' is missing or not an object")
        properties = {}
    # The contract puts the id in properties; GeoJSON's own Feature "id" member is accepted as a fallback.
    raw_id = properties.get("id", feature.get("id"))
    zone_id: str | None = None
    label = anonymous
    if raw_id is None or raw_id == "":
        problems.append(f"{anonymous}: missing 'id'")
    elif not isinstance(raw_id, str):
        problems.append(f"{anonymous}: 'id' must be a string, got {raw_id!r}")
    elif _BAD_ID_CHARS.search(raw_id):
        problems.append(f"feature {raw_id!r}: id must not contain whitespace, '/', '+' or '#'")
    else:
        zone_id = raw_id
        label = f"feature {raw_id!r}"

    kind = properties.get("kind")
    if kind is None:
        problems.append(f"{label}: missing 'kind' (one of {', '.join(ZONE_KINDS)})")
    elif kind not in ZONE_KINDS:
        problems.append(f"{label}: unknown kind {kind!r} (one of {', '.join(ZONE_KINDS)})")
        kind = None

    draft = _Draft(index, label, zone_id, kind, properties)
    raw_geometry = feature.get("geometry")
    if not raw_geometry:
        problems.append(f"{label}: missing geometry")
        return draft
    try:
        geometry = shape(raw_geometry)
    except Exception as exc:  # noqa: BLE001 - shapely raises many exception types for malformed GeoJSON
        problems.append(f"{label}: unreadable geometry: {exc}")
        return draft
    if geometry.is_empty:
        problems.append(f"{label}: empty geometry")
        return draft
    draft.geometry = geometry
    return draft


def _check_ids(drafts: list[_Draft], problems: list[str], taken: set[str] | frozenset[str] = frozenset()
               ) -> None:
    """Ids unique within the file and not among `taken` (the zones the file is added to)."""
    first_seen: dict[str, int] = {}
    for draft in drafts:
        if draft.id is None:
            continue
        if draft.id in taken:
            problems.append(f"{draft.label}: duplicate id: a zone {draft.id!r} exists already")
            draft.id = None
        elif draft.id in first_seen:
            problems.append(f"{draft.label}: duplicate id (also feature #{first_seen[draft.id]})")
            draft.id = None  # later lookups (strait gates) resolve to the first one
        else:
            first_seen[draft.id] = draft.index


def _check_geometries(drafts: list[_Draft], problems: list[str]) -> None:
    """Coordinate range and validity, vectorized over all geometries (the land polygons are large)."""
    with_geometry = [draft for draft in drafts if draft.geometry is not None]
    if not with_geometry:
        return
    geometries = np.array([draft.geometry for draft in with_geometry], dtype=object)
    coordinates, owner = shapely.get_coordinates(geometries, return_index=True)
    lon_bad = np.abs(coordinates[:, 0]) > 180.0
    lat_bad = np.abs(coordinates[:, 1]) > 90.0
    bad_lat_owners = set(np.unique(owner[lat_bad]).tolist())
    bad_lon_owners = set(np.unique(owner[lon_bad]).tolist())
    nonfinite_owners = set(np.unique(owner[~np.isfinite(coordinates).all(axis=1)]).tolist())
    valid = shapely.is_valid(geometries)
    for position, draft in enumerate(with_geometry):
        label = draft.label
        geometry = draft.geometry
        assert geometry is not None
        range_ok = True
        if position in nonfinite_owners:
            problems.append(f"{label}: coordinates are not finite numbers")
            range_ok = False
        if position in bad_lat_owners:
            problems.append(f"{label}: coordinates look swapped (lat beyond ±90): GeoJSON is [lon, lat]")
            range_ok = False
        if position in bad_lon_owners:
            problems.append(f"{label}: coordinates out of range (lon beyond ±180): GeoJSON is [lon, lat]")
            range_ok = False
        kind = draft.kind
        if kind == "gate":
            if geometry.geom_type != "LineString":
                problems.append(f"{label}: gate must be a LineString, got {geometry.geom_type}")
                draft.geometry = None
                continue
        elif kind is not None and geometry.geom_type not in _POLYGONAL:
            problems.append(f"{label}: {kind} must be a Polygon or MultiPolygon, got {geometry.geom_type}")
            draft.geometry = None
            continue
        if range_ok and not valid[position]:
            # is_valid_reason names the defect and where it is, e.g. "Self-intersection[56.5 26.5]".
            reason = shapely.is_valid_reason(geometry)
            problems.append(f"{label}: invalid {geometry.geom_type}: {reason}")
            draft.geometry = None
        elif not range_ok:
            draft.geometry = None


# ------------------------------------------------------------------------------------ where the file lies

# A zone file describes one chokepoint and its approaches: its features lie together. Every feature must
# lie within FAR_APART_KM of at least one other feature, through a chain of such neighbours, of the file's
# main group. A chokepoint's zones span a few hundred kilometres (the Hormuz file's ports reach from Umm
# Qasr to Chabahar, 1,300 km, but each lies well within 1,000 km of its neighbours); a feature written
# [lat, lon] among correct ones lands thousands of kilometres away (Hormuz: lon 56, lat 26 becomes a
# point in the Baltic states). Chaining (single linkage) rather than a distance to the file's centre means
# a file as wide as the Red Sea, or one holding two neighbouring chokepoints, is not refused.
FAR_APART_KM = 1000.0
# A feature named after a place (below) is "at" it within this distance of the place's box.
_NEAR_PLACE_KM = 300.0
# A far feature is diagnosed as written [lat, lon] (rather than just misplaced) when exchanging its lon and
# lat brings it this close to a feature of the main group: back where it belongs, among its neighbours.
_SWAP_NEAR_KM = 100.0


_Boxes = NDArray[np.float64]  # lon/lat boxes, one row (lon_min, lat_min, lon_max, lat_max) each


@dataclass(frozen=True, slots=True)
class _Place:
    """A well-known strait or sea, as a generous lon/lat box, and the words that name it."""

    name: str
    pattern: re.Pattern[str]
    box: tuple[float, float, float, float]  # lon_min, lat_min, lon_max, lat_max


def _place(name: str, words: str, box: tuple[float, float, float, float]) -> _Place:
    return _Place(name, re.compile(rf"\b(?:{words})\b"), box)


# Only places whose longitude lies within ±90: a file written [lat, lon] anywhere else has "latitudes"
# beyond ±90, which the range check already catches (Malacca, Singapore, Taiwan, Lombok). Boxes are
# generous (a name like "Hormuz island" or "Gulf of Suez" must fall inside); tests check them against the
# shared geodata where there is some.
_PLACES: tuple[_Place, ...] = (
    _place("Strait of Hormuz", "hormuz", (55.5, 25.5, 57.8, 27.5)),
    _place("Persian Gulf", "persian gulf|arabian gulf", (47.5, 23.5, 57.0, 30.7)),
    _place("Gulf of Oman", "gulf of oman|sea of oman", (56.0, 22.0, 62.0, 26.8)),
    _place("Bab el-Mandeb", "mandeb", (42.8, 12.2, 43.8, 13.3)),
    _place("Red Sea", "red sea", (32.3, 12.4, 43.6, 30.0)),
    _place("Gulf of Aden", "aden", (42.5, 10.3, 51.5, 15.2)),
    _place("Suez Canal", "suez", (32.2, 27.5, 34.0, 31.4)),
    _place("Bosphorus", "bosphorus|bosporus|istanbul strait", (28.9, 40.9, 29.2, 41.3)),
    _place("Dardanelles", "dardanelles|canakkale|çanakkale", (26.1, 39.9, 26.8, 40.5)),
    _place("Strait of Gibraltar", "gibraltar", (-6.1, 35.7, -5.2, 36.3)),
    _place("Strait of Dover", "dover|pas de calais", (1.0, 50.7, 2.0, 51.3)),
    _place("English Channel", "english channel|la manche", (-5.8, 48.4, 1.8, 51.2)),
    _place("Panama Canal", "panama canal", (-80.0, 8.8, -79.4, 9.5)),
)


def _bounds(drafts: Sequence[_Draft]) -> tuple[float, float, float, float] | None:
    """lon_min, lat_min, lon_max, lat_max over the finite coordinates of every geometry read."""
    geometries = [draft.geometry for draft in drafts if draft.geometry is not None]
    if not geometries:
        return None
    coordinates = shapely.get_coordinates(np.array(geometries, dtype=object))
    coordinates = coordinates[np.isfinite(coordinates).all(axis=1)]
    if not len(coordinates):
        return None
    lo = coordinates.min(axis=0)
    hi = coordinates.max(axis=0)
    return (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))


def _gap_km(box: _Boxes, boxes: _Boxes) -> _Boxes:
    """Great-circle distance in km between the lon/lat box `box` and each of `boxes` (0 where they touch).

    Measured between the boxes' nearest edges; where their latitudes overlap, the longitude gap is measured
    at the overlapping latitude farthest from the equator. Boxes contain their geometries, so this is (up
    to the small error of treating box edges as the nearest points) a lower bound of the distance between
    the features: it errs towards accepting. Longitude gaps are taken round the antimeridian too.
    """
    zero = np.zeros(len(boxes))
    lon_gap = np.full(len(boxes), np.inf)
    for shift in (-360.0, 0.0, 360.0):
        gap = np.maximum.reduce([zero, boxes[:, 0] + shift - box[2], box[0] - (boxes[:, 2] + shift)])
        lon_gap = np.minimum(lon_gap, gap)
    lo = np.maximum(box[1], boxes[:, 1])
    hi = np.minimum(box[3], boxes[:, 3])
    overlap = lo <= hi
    # Overlapping latitudes: both ends at the overlap's latitude farthest from the equator.
    far_lat = np.where(np.abs(lo) > np.abs(hi), lo, hi)
    below = boxes[:, 3] < box[1]  # the other box lies wholly south
    lat_a = np.where(overlap, far_lat, np.where(below, box[1], box[3]))
    lat_b = np.where(overlap, far_lat, np.where(below, boxes[:, 3], boxes[:, 1]))
    p1 = np.radians(lat_a)
    p2 = np.radians(lat_b)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon_gap) / 2) ** 2
    km: _Boxes = 2 * EARTH_RADIUS_M / 1000.0 * np.arcsin(np.minimum(1.0, np.sqrt(a)))
    return km


def _swapped(boxes: _Boxes) -> _Boxes:
    """The boxes with lon and lat exchanged (only meaningful where |lon| <= 90)."""
    return boxes[:, [1, 0, 3, 2]]


def _groups(boxes: _Boxes) -> list[list[int]]:
    """Single-linkage groups: two features are in one group when a chain of features, each within
    FAR_APART_KM of the next, joins them. Memory O(n): one row of distances at a time."""
    unvisited = np.ones(len(boxes), dtype=bool)
    groups: list[list[int]] = []
    for seed in range(len(boxes)):
        if not unvisited[seed]:
            continue
        unvisited[seed] = False
        group = [seed]
        frontier = [seed]
        while frontier:
            rest = np.flatnonzero(unvisited)
            if not rest.size:
                break
            near = rest[_gap_km(boxes[frontier.pop()], boxes[rest]) <= FAR_APART_KM].tolist()
            unvisited[near] = False
            group += near
            frontier += near
        groups.append(sorted(group))
    return groups


def _places_named(draft: _Draft) -> list[_Place]:
    name = draft.properties.get("name")
    text = f"{draft.id or ''} {name if isinstance(name, str) else ''}".lower().replace("-", " ")
    text = text.replace("_", " ")
    return [place for place in _PLACES if place.pattern.search(text)]


def _describe_box(box: Sequence[float]) -> str:
    return f"lon {_lon(box[0])} to {_lon(box[2])}, lat {_lat(box[1])} to {_lat(box[3])}"


def _lon(value: float) -> str:
    return f"{abs(value):.1f}°{'E' if value >= 0 else 'W'}"


def _lat(value: float) -> str:
    return f"{abs(value):.1f}°{'N' if value >= 0 else 'S'}"


def _check_placement(drafts: list[_Draft], problems: list[str]) -> None:
    """Refuse features that lie far from the rest of the file, or far from the place they are named after
    when exchanging lon and lat would put them on it.

    1. Far apart: features are grouped by single linkage at FAR_APART_KM (see there). The main group is
       the one with the most features lying at the place they are named after, then the largest, then the
       first. Every feature outside it is refused: as "looks like lat/lon swapped" when its lon and lat
       exchanged would put it within _SWAP_NEAR_KM of a feature of the main group, otherwise as lying far
       from the others.
    2. Named place: a feature whose id or name names a place of _PLACES (e.g. "Strait of Hormuz") and that
       lies more than _NEAR_PLACE_KM from it, but within it with lon and lat exchanged, is refused as
       swapped. A far feature that the swap would not explain is left alone: names are ambiguous ("Dover",
       Delaware), and rule 1 covers misplaced features.
    3. A file all of whose named features look swapped (and none lies at its place) while every feature
       lies in one group is written [lat, lon] throughout: one "whole file" problem says so, with where the
       file lies and where it would lie.
    Only features whose geometry passed the range and validity checks take part.
    """
    placed = [draft for draft in drafts if draft.geometry is not None]
    if not placed:
        return
    boxes = np.array(shapely.bounds(np.array([draft.geometry for draft in placed], dtype=object)))
    # |lon| <= 90 everywhere: exchanging lon and lat gives a valid position.
    swappable = (boxes[:, 0] >= -90.0) & (boxes[:, 2] <= 90.0)
    swapped_boxes = _swapped(boxes)

    named_ok: set[int] = set()  # positions of features at the place they are named after
    named_swapped: dict[int, tuple[_Place, float]] = {}  # position -> (place, km from it as given)
    for position, draft in enumerate(placed):
        places = _places_named(draft)
        if not places:
            continue
        place_boxes = np.array([place.box for place in places], dtype=float)
        gaps = _gap_km(boxes[position], place_boxes)
        if gaps.min() <= _NEAR_PLACE_KM:
            named_ok.add(position)
        elif swappable[position]:
            swapped_gaps = _gap_km(swapped_boxes[position], place_boxes)
            best = int(swapped_gaps.argmin())
            if swapped_gaps[best] <= _NEAR_PLACE_KM:
                named_swapped[position] = (places[best], float(gaps[best]))

    groups = _groups(boxes)
    main = max(groups, key=lambda group: (len(named_ok.intersection(group)), len(group), -group[0]))
    main_boxes = boxes[main]
    flagged: set[int] = set()
    for group in groups:
        if group is main:
            continue
        for position in group:
            label = placed[position].label
            gaps = _gap_km(boxes[position], main_boxes)
            nearest = int(gaps.argmin())
            gap = float(gaps[nearest])
            if swappable[position]:
                swapped_gaps = _gap_km(swapped_boxes[position], main_boxes)
                swapped_nearest = int(swapped_gaps.argmin())
                swapped_gap = float(swapped_gaps[swapped_nearest])
                if swapped_gap <= _SWAP_NEAR_KM:
                    where = (
                        "among them"
                        if swapped_gap < 1.0
                        else f"{swapped_gap:,.0f} km from {placed[main[swapped_nearest]].id!r}"
                    )
                    problems.append(
                        f"{label}: looks like lat/lon swapped: it lies {gap:,.0f} km from the file's other "
                        f"features (nearest {placed[main[nearest]].id!r}); with lon and lat exchanged it "
                        f"would lie {where} (GeoJSON is [lon, lat])"
                    )
                    flagged.add(position)
                    continue
            problems.append(
                f"{label}: lies far from the file's other features: {gap:,.0f} km from the nearest "
                f"({placed[main[nearest]].id!r}), and every feature must lie within {FAR_APART_KM:,.0f} km "
                "of another; is it in the right place? (another chokepoint's zones belong in a zone file "
                "of their own)"
            )
            flagged.add(position)

    for position, (place, gap) in named_swapped.items():
        if position in flagged:
            continue
        problems.append(
            f"{placed[position].label}: looks like lat/lon swapped: named after the {place.name} "
            f"({_describe_box(place.box)}), it lies {gap:,.0f} km from it; with lon and lat exchanged it "
            "lies there (GeoJSON is [lon, lat])"
        )
    if named_swapped and not named_ok and len(groups) == 1:
        names = ", ".join(dict.fromkeys(f"the {place.name}" for place, _ in named_swapped.values()))
        lo = boxes.min(axis=0)
        hi = boxes.max(axis=0)
        extent = (float(lo[0]), float(lo[1]), float(hi[2]), float(hi[3]))
        problems.append(
            f"whole file: coordinates look written [lat, lon] throughout (GeoJSON is [lon, lat]): the file "
            f"lies at {_describe_box(extent)}, but its features are named after {names}; with lon and lat "
            f"exchanged it would lie at {_describe_box(_swapped(np.array([extent]))[0])}"
        )


def _make_zone(draft: _Draft, by_id: Mapping[str, _Draft], problems: list[str]) -> Zone | None:
    """Kind-specific properties; returns None when the feature has a problem (already recorded)."""
    label = draft.label
    properties = draft.properties
    ok = draft.id is not None and draft.kind is not None and draft.geometry is not None

    # A name is optional: analysts' quick files often have only ids, and the id is a fine fallback.
    name = properties.get("name", draft.id or "")
    if not isinstance(name, str):
        problems.append(f"{label}: 'name' must be a string, got {name!r}")
        ok = False

    country = properties.get("country")
    if country is not None:
        if isinstance(country, str) and _COUNTRY.fullmatch(country):
            country = country.upper()
        else:
            problems.append(
                f"{label}: 'country' must be an ISO 3166 alpha-2 code (2 letters), got {country!r}"
            )
            ok = False

    bearing: float | None = None
    if draft.kind == "tss_lane":
        raw = properties.get("bearing")
        if raw is None:
            problems.append(f"{label}: tss_lane has no 'bearing'")
            ok = False
        elif isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            problems.append(f"{label}: tss_lane 'bearing' must be a number of degrees, got {raw!r}")
            ok = False
        elif not 0.0 <= raw < 360.0:
            problems.append(f"{label}: tss_lane 'bearing' must be in [0, 360), got {raw!r}")
            ok = False
        else:
            bearing = float(raw)

    expires: float | None = None
    raw_expires = properties.get("expires")
    if raw_expires is not None:
        if draft.kind is not None and draft.kind not in RUNTIME_KINDS:
            problems.append(f"{label}: 'expires' applies only to {' and '.join(RUNTIME_KINDS)} zones, "
                            f"not {draft.kind}")
            ok = False
        else:
            try:
                expires = parse_expires(raw_expires)
            except ValueError as exc:
                problems.append(f"{label}: {exc}")
                ok = False

    # `safe_haven` (CONTRACT): a port where watched vessels can shelter; the roster names the nearest.
    haven = properties.get("safe_haven")
    if haven is not None:
        if not isinstance(haven, bool):
            problems.append(f"{label}: 'safe_haven' must be true or false, got {haven!r:.60}")
            ok = False
        elif draft.kind is not None and draft.kind != "port":
            problems.append(f"{label}: 'safe_haven' applies only to port zones, not {draft.kind}")
            ok = False

    gates: tuple[str, str] | None = None
    if draft.kind == "strait":
        gates = _strait_gates(label, properties.get("gates"), by_id, problems)
        ok = ok and gates is not None

    if not ok:
        return None
    assert draft.id is not None and draft.kind is not None and draft.geometry is not None
    return Zone(
        id=draft.id,
        name=str(name),
        kind=draft.kind,
        geometry=draft.geometry,
        bearing=bearing,
        gates=gates,
        country=country,
        expires=expires,
        properties=MappingProxyType(properties),
    )


def parse_expires(value: Any) -> float:
    """An `expires` property: an ISO 8601 date and time in UTC (`Z` or `+00:00`) as unix seconds.
    ValueError says what is wrong. A time without an offset is refused rather than taken as UTC: the
    property is written by hand, and an analyst's local time read as UTC would move the expiry by hours."""
    example = "ISO 8601 UTC such as 2026-03-01T12:00:00Z"
    if not isinstance(value, str):
        raise ValueError(f"'expires' must be {example}, got {value!r:.60}")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'expires' must be {example}, got {value!r:.60}") from None
    if when.tzinfo is None or when.utcoffset() != timedelta(0):
        raise ValueError(f"'expires' must be in UTC (ending Z or +00:00), such as 2026-03-01T12:00:00Z, "
                         f"got {value!r:.60}")
    return when.timestamp()


def _strait_gates(
    label: str, raw: Any, by_id: Mapping[str, _Draft], problems: list[str]
) -> tuple[str, str] | None:
    if raw is None:
        problems.append(f"{label}: strait has no 'gates' ([outer_gate_id, inner_gate_id])")
        return None
    if not isinstance(raw, list) or len(raw) != 2 or not all(isinstance(gate, str) for gate in raw):
        problems.append(f"{label}: strait 'gates' must be exactly 2 gate ids [outer, inner], got {raw!r}")
        return None
    outer, inner = raw
    ok = True
    if outer == inner:
        problems.append(f"{label}: strait 'gates' must be 2 different gates, got {raw!r}")
        ok = False
    for gate_id in dict.fromkeys(raw):
        target = by_id.get(gate_id)
        if target is None:
            problems.append(f"{label}: strait gate {gate_id!r} does not exist")
            ok = False
        elif target.kind != "gate":
            problems.append(f"{label}: strait gate {gate_id!r} is not of kind gate (it is {target.kind!r})")
            ok = False
    return (outer, inner) if ok else None
