"""What the API shows of the pipeline's state, as JSON-ready dicts: a vessel, the zones in force, the posture,
and the whole picture at one moment (`replay --snapshot`).

The daemon's HTTP API (monitor.service, monitor.http) and a replay's snapshot build their objects here, so
a snapshot is exactly what the daemon would have served at the recording's end.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from monitor.alerts import iso_time
from monitor.detectors.interference import Interference
from monitor.detectors.traffic import traffic_stats
from monitor.detectors.voyage import Voyage
from monitor.pipeline import Pipeline
from monitor.zones import ZoneFile

if TYPE_CHECKING:
    from monitor.engine import Vessel


def vessel_dict(pipeline: Pipeline, mmsi: int, detail: bool = False) -> dict[str, Any] | None:
    """One vessel as `/api/vessels` lists it, or with `detail` as `/api/vessels/{mmsi}` gives it; None for
    a vessel not (or no longer) known."""
    v = pipeline.engine.get(mmsi)
    if v is None:
        return None
    zones = pipeline.geofence.zones
    member = v.member | (v.last_s & ~pipeline.geofence.tracked_mask)
    d: dict[str, Any] = {
        "mmsi": v.mmsi,
        **v.info(),
        "zones": [zones[i].id for i in range(len(zones)) if member >> i & 1],
        "position": None if not v.has_fix else {
            "lat": round(v.lat, 6), "lon": round(v.lon, 6),
            "sog": None if v.sog != v.sog else round(v.sog, 1),
            "cog": None if v.cog != v.cog else round(v.cog, 1),
        },
        "time": iso_time(v.time) if v.has_fix else None,
        "last_heard": iso_time(v.heard) if v.heard > float("-inf") else None,
        "dark": v.dark,
    }
    if detail:
        d.update({
            "draught": v.draught,
            "destination": v.destination,
            "loitering_since": None if v.lo_t0 is None else iso_time(v.lo_t0),
            "wrong_way_since": None if v.ww_since is None else iso_time(v.ww_since),
            "on_land_last": iso_time(v.land_last) if v.land_last > float("-inf") else None,
            "position_jump_last": iso_time(v.jump_last) if v.jump_last > float("-inf") else None,
            # What the desk's lists say of it (operator, crew, note, entry), IMO entries first.
            "watch_entries": [
                dataclasses.asdict(e) for e in pipeline.engine.watchlists.entries_for(v.mmsi, v.imo)
            ],
            # A watched vessel's transits of the straits watched, linked (monitor.detectors.voyage).
            "voyage": voyage_of(pipeline, v),
        })
    return d


def voyage_of(pipeline: Pipeline, v: Vessel) -> dict[str, Any] | None:
    """A watched vessel's voyage as the API shows it (null when it has none)."""
    return pipeline.engine.aggregate(Voyage).describe(v)


def vessel_dicts(pipeline: Pipeline, after: int = 0) -> Iterator[dict[str, Any]]:
    """Vessels above MMSI `after`, in MMSI order, each built only when taken (the API takes a page).
    The order is a snapshot: a vessel forgotten meanwhile is skipped, one added is not seen."""
    keys = pipeline.engine.mmsis_in_order()
    start = int(np.searchsorted(keys, after, side="right"))
    for i in range(start, len(keys), 256):
        for mmsi in keys[i : i + 256].tolist():
            d = vessel_dict(pipeline, mmsi)
            if d is not None:
                yield d


def zones_geojson(zonefile: ZoneFile, runtime: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """The zones in force as a FeatureCollection: the zone file's, then the runtime zones (ids in
    `runtime`), marked `"runtime": true`."""
    return {
        "type": "FeatureCollection",
        "properties": dict(zonefile.properties),
        "features": [
            {"type": "Feature",
             "properties": {**z.properties, **({"runtime": True} if z.id in runtime else {})},
             "geometry": json.loads(shapely.to_geojson(z.geometry))}
            for z in zonefile.zones
        ],
    }


def posture_dict(pipeline: Pipeline, started_at: float | None = None) -> dict[str, Any]:
    """The posture as `/api/posture` gives it; `since` is the last change, else `started_at`."""
    p = pipeline.posture
    since = p.since if p.since is not None else started_at
    return {"level": p.level, "since": None if since is None else iso_time(round(since, 3)),
            "reason": p.reason, "set_by": p.set_by, "operator_level": p.operator_level}


def interference_areas(pipeline: Pipeline) -> dict[str, Any]:
    """The GNSS interference areas as `/api/interference` gives them (a GeoJSON FeatureCollection)."""
    return pipeline.engine.aggregate(Interference).areas()


def snapshot(pipeline: Pipeline, roster: list[dict[str, Any]],
             runtime: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """The picture the daemon's API would serve at the pipeline's feed time (CONTRACT, `replay
    --snapshot`): `time`, `posture`, `vessels` (every one, as `/api/vessels` lists them), `roster`,
    `traffic`, `interference`, `zones`."""
    now = pipeline.feed_time
    return {
        "time": None if now is None else iso_time(now),
        "posture": posture_dict(pipeline),
        "vessels": list(vessel_dicts(pipeline)),
        "roster": roster,
        "traffic": traffic_stats(pipeline.engine),
        "interference": interference_areas(pipeline),
        "zones": zones_geojson(pipeline.geofence.zonefile, runtime),
    }
