"""Zone files: load a GeoJSON FeatureCollection of zones once, validate all of it, hand back frozen zones.

The zone file is the analysts' interface (see CONTRACT.md, "Zone file"). It is checked completely when it is
loaded, so that a bad file stops the program at start with every problem listed, each naming the feature,
rather than failing later in the middle of a run. Geometries are built with shapely and prepared, so the
geofencing code can run vectorized predicates on them directly.

GeoJSON is [lon, lat]. The most common mistake in hand-written zone files is [lat, lon], which is caught
here when a "latitude" falls beyond ±90 (true for any longitude east of 90°E or west of 90°W).
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from monitor.errors import ZoneFileError

__all__ = ["ZONE_KINDS", "Zone", "ZoneFile", "default_zone_path", "load_zone_file"]

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
)

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
    geometry: shapely.Geometry  # Polygon/MultiPolygon, or LineString for kind "gate"
    bearing: float | None = None  # tss_lane only, degrees true
    gates: tuple[str, str] | None = None  # strait only: (outer_gate_id, inner_gate_id)
    country: str | None = None
    # All of the feature's original properties. Excluded from the hash because a mapping is not hashable;
    # zones stay usable as dict keys and set members.
    properties: Mapping[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class ZoneFile:
    """A loaded zone file: its zones in file order and the collection-level properties (attribution)."""

    path: str
    zones: tuple[Zone, ...]
    properties: Mapping[str, Any]  # collection-level properties (attribution etc.), may be empty
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


def default_zone_path() -> pathlib.Path:
    """The zone file shipped with the package (monitor/data/hormuz.geojson)."""
    return pathlib.Path(str(resources.files("monitor.data") / "hormuz.geojson"))


def load_zone_file(path: str | os.PathLike[str]) -> ZoneFile:
    """Read, validate and build a zone file.

    Raises ZoneFileError(path, problems) listing every problem found. Each feature problem starts with
    the feature's id (``feature 'x': ...``) or, without a usable id, its 0-based position in the
    ``features`` array (``feature #3 (no id): ...``).
    """
    path_str = os.fspath(path)
    try:
        text = pathlib.Path(path_str).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ZoneFileError(path_str, [f"cannot read file: {exc}"]) from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ZoneFileError(path_str, [f"not JSON: {exc}"]) from exc
    return _build(path_str, document)


@dataclass(slots=True)
class _Draft:
    """A feature whose properties were read; geometry checks follow in bulk."""

    index: int
    label: str  # how problems name it: "feature 'x'" or "feature #3 (no id)"
    id: str | None
    kind: str | None
    properties: dict[str, Any]
    geometry: BaseGeometry | None = None


def _build(path: str, document: Any) -> ZoneFile:
    problems: list[str] = []
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        found = document.get("type") if isinstance(document, dict) else type(document).__name__
        raise ZoneFileError(path, [f"not a GeoJSON FeatureCollection (type is {found!r})"])
    features = document.get("features")
    if not isinstance(features, list):
        raise ZoneFileError(path, ["not a GeoJSON FeatureCollection: 'features' is not a list"])
    if not features:
        raise ZoneFileError(path, ["empty FeatureCollection: no features"])
    collection_properties = document.get("properties") or {}
    if not isinstance(collection_properties, dict):
        problems.append("collection 'properties' is not an object")
        collection_properties = {}

    drafts = [_read_feature(index, feature, problems) for index, feature in enumerate(features)]
    _check_ids(drafts, problems)
    _check_geometries(drafts, problems)
    by_id = {draft.id: draft for draft in drafts if draft.id is not None}

    zones: list[Zone] = []
    for draft in drafts:
        zone = _make_zone(draft, by_id, problems)
        if zone is not None:
            zones.append(zone)
    if problems:
        # Checks run in phases (properties, ids, geometries in bulk, kinds); report in file order instead,
        # so each feature's problems read together. sort() is stable: phase order is kept within a feature.
        position: dict[str, int] = {}
        for draft in drafts:
            position.setdefault(draft.label, draft.index)
        problems.sort(key=lambda problem: position.get(problem.split(": ", 1)[0], -1))
        raise ZoneFileError(path, problems)
    shapely.prepare([zone.geometry for zone in zones])
    return ZoneFile(path=path, zones=tuple(zones), properties=MappingProxyType(collection_properties))


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
    except Exception as exc:  # shapely raises many exception types for malformed GeoJSON geometry
        problems.append(f"{label}: unreadable geometry: {exc}")
        return draft
    if geometry.is_empty:
        problems.append(f"{label}: empty geometry")
        return draft
    draft.geometry = geometry
    return draft


def _check_ids(drafts: list[_Draft], problems: list[str]) -> None:
    first_seen: dict[str, int] = {}
    for draft in drafts:
        if draft.id is None:
            continue
        if draft.id in first_seen:
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
        properties=MappingProxyType(properties),
    )


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
