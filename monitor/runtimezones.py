"""Runtime zones: the `hazard` and `corridor` zones an operator adds over HTTP, kept across restarts.

They are kept in the state directory as a GeoJSON FeatureCollection (`runtime-zones.geojson`), apart from
the SQLite store: the store is written with every batch, an operator's edit is rare, and a file of its own
is one an operator can read, back up or empty by hand. It is written atomically (a temporary file, fsync,
rename, fsync of the directory): a crash leaves the old file or the new one, never half of one.

Each feature is checked exactly as a zone file's (monitor.zones.merge_zone_features), together with the
zones in force: its id unique across the zone file and the other runtime zones, its geometry valid, lying
among the file's zones, `expires` ISO 8601 UTC. The daemon applies the result as a reload does (the
geofence and the engine rebuilt, every vessel's state kept by zone id), so a change holds from the next
fix on.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import structlog

from monitor.errors import ZoneFileError
from monitor.zones import RUNTIME_KINDS, ZoneFile, merge_zone_features, parse_expires

__all__ = ["FILE_NAME", "NotRuntime", "RuntimeZones"]

log = structlog.get_logger(__name__)

FILE_NAME = "runtime-zones.geojson"
# What a runtime zone may say: the zone file's properties that make sense for an area drawn at run time.
# Anything else is refused rather than kept unread (a misspelt `expires` must not make a zone permanent).
_PROPERTIES = ("id", "name", "kind", "expires")
_MEMBERS = frozenset({"type", "id", "properties", "geometry", "bbox"})  # RFC 7946 Feature members


class NotRuntime(Exception):
    """A zone of the zone file, which only an edit of the file (and a reload) changes."""


class RuntimeZones:
    """The runtime zones, as stored (normalised features), in the order they were added."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.features: list[dict[str, Any]] = []

    def ids(self) -> set[str]:
        return {f["properties"]["id"] for f in self.features}

    # ---- at start, and on a reload -------------------------------------------------------------------
    def load(self, base: ZoneFile) -> ZoneFile:
        """Read the file (none: no runtime zones) and return the zone file with them added. A file that
        cannot be read is moved aside; a zone that no longer fits the zone file (an edited file now has
        its id) is left out. Each with an error event carrying what was left out: the daemon starts
        either way, as it must not stop watching over an operator's drawing."""
        self.features = []
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError):
            # (No state directory yet, or none possible: the store's opening reports that, once.)
            return base
        except (OSError, ValueError) as exc:  # (UnicodeDecodeError and JSONDecodeError are ValueErrors)
            self._move_aside(f"cannot read: {exc}")
            return base
        features = document.get("features") if isinstance(document, dict) else None
        if not isinstance(features, list):
            self._move_aside("not a GeoJSON FeatureCollection")
            return base
        merged = base
        for feature in features:
            try:
                merged, stored = self._checked(merged, feature)
            except ValueError as exc:
                log.error("runtime_zone_refused", problem=str(exc), feature=feature, file=str(self.path))
                continue
            self.features.append(stored)
        return merged

    def merged(self, base: ZoneFile) -> ZoneFile:
        """The zone file with every runtime zone added; ZoneFileError when one no longer fits it (a reload
        to a zone file that took a runtime zone's id is refused, rather than dropping the operator's
        zone)."""
        if not self.features:
            return base
        check = merge_zone_features(base, self.features)
        if check.zone_file is None:
            raise ZoneFileError(str(self.path), list(check.problems))
        return check.zone_file

    # ---- the operator's edits ------------------------------------------------------------------------
    def add(self, in_force: ZoneFile, feature: Any, now: float) -> tuple[ZoneFile, dict[str, Any]]:
        """Check a new zone against the zones in force (`now`: the feed clock, -inf before any line) and
        save it; returns the zones in force with it, and the feature as stored. ValueError names the
        problem (nothing changed); OSError: it could not be saved (nothing changed)."""
        merged, stored = self._checked(in_force, feature)
        expires = stored["properties"].get("expires")
        if expires is not None and parse_expires(expires) <= now:
            raise ValueError(f"feature {stored['properties']['id']!r}: 'expires' {expires} is already past "
                             "on the feed clock")
        self._write([*self.features, stored])
        self.features.append(stored)
        return merged, stored

    def remove(self, in_force: ZoneFile, zone_id: str) -> ZoneFile:
        """Delete a runtime zone and save; returns the zones in force without it. KeyError: no runtime
        zone has that id; OSError: it could not be saved (nothing changed)."""
        kept = [f for f in self.features if f["properties"]["id"] != zone_id]
        if len(kept) == len(self.features):
            raise KeyError(zone_id)
        self._write(kept)
        self.features = kept
        return ZoneFile(path=in_force.path, zones=tuple(z for z in in_force.zones if z.id != zone_id),
                        properties=MappingProxyType(dict(in_force.properties)), parts=in_force.parts)

    # ---- checks and storage ----------------------------------------------------------------------------
    def _checked(self, in_force: ZoneFile, feature: Any) -> tuple[ZoneFile, dict[str, Any]]:
        stored = _normalised(feature)
        check = merge_zone_features(in_force, [stored], str(self.path))
        if check.zone_file is None:
            raise ValueError("; ".join(check.problems))
        return check.zone_file, stored

    def _write(self, features: Sequence[Mapping[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        document = {"type": "FeatureCollection", "features": list(features)}
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(document, f, ensure_ascii=False, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        # The rename itself is durable only once the directory is.
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _move_aside(self, problem: str) -> None:
        aside = self.path.with_name(f"{self.path.name}.unreadable-{int(time.time())}")
        try:
            os.replace(self.path, aside)
        except OSError as exc:
            log.error("runtime_zones_unreadable", problem=problem, file=str(self.path),
                      moved_aside=None, move_error=str(exc))
            return
        log.error("runtime_zones_unreadable", problem=problem, file=str(self.path), moved_aside=str(aside))


def _normalised(feature: Any) -> dict[str, Any]:
    """The feature as stored: a Feature with only the known properties, of a runtime kind. ValueError
    names the problem; geometry and the properties' values are checked by the zone file's checks."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise ValueError("the body must be a GeoJSON Feature ({\"type\": \"Feature\", \"properties\": "
                         "{\"id\", \"name\", \"kind\", \"expires\"}, \"geometry\": ...})")
    unknown = sorted(set(feature) - _MEMBERS)
    if unknown:
        raise ValueError(f"unknown Feature member {unknown[0]!r:.60}")
    properties = feature.get("properties")
    if not isinstance(properties, dict):
        raise ValueError("'properties' is missing or not an object")
    unknown = sorted(set(properties) - set(_PROPERTIES))
    if unknown:
        raise ValueError(f"unknown property {unknown[0]!r:.60} (known: {', '.join(_PROPERTIES)})")
    kept = dict(properties)
    if "id" not in kept and "id" in feature:
        kept["id"] = feature["id"]  # (GeoJSON's own Feature id, as the zone file accepts it)
    kind = kept.get("kind")
    if kind not in RUNTIME_KINDS:
        raise ValueError(f"kind must be {' or '.join(RUNTIME_KINDS)}, got {kind!r:.60} (zones of other kinds "
                         "come from the zone file)")
    return {"type": "Feature", "properties": kept, "geometry": feature.get("geometry")}
