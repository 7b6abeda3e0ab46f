"""Synthetic zone files for the zone-scaling benchmark: the real zone file plus extra small zones.

`build_zone_file(total, out)` copies zones/hormuz.geojson (about 60 features) and adds port- and
anchorage-like polygons until the file holds `total` features. The extra zones are irregular polygons
of 1.5-4 km radius scattered over open water inside the two region polygons: off every land polygon,
clear of the real ports, anchorages, the strait, its lanes and its gates, and apart from each other.
They may overlap territorial seas, as real anchorages do. Placement is deterministic for a given seed,
and the result passes `chokepoint-monitor zones check`.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import Polygon, mapping, shape

ROOT = Path(__file__).resolve().parents[1]
REAL_ZONES = ROOT / "zones" / "hormuz.geojson"

# Kinds a synthetic zone must keep clear of (territorial seas and regions may contain it).
_AVOID = frozenset({"land", "port", "anchorage", "strait", "tss_lane", "separation_zone", "gate"})
_KM_PER_DEG = 111.32


def _blob(rng: random.Random, lon: float, lat: float, radius_km: float) -> Polygon:
    """An irregular 7-10 sided polygon around (lon, lat): port basins and anchorages are not circles."""
    sides = rng.randint(7, 10)
    coslat = math.cos(math.radians(lat))
    ring = []
    for k in range(sides):
        angle = 2.0 * math.pi * k / sides
        r = radius_km * rng.uniform(0.7, 1.0) / _KM_PER_DEG
        ring.append((round(lon + r * math.cos(angle) / coslat, 5), round(lat + r * math.sin(angle), 5)))
    return Polygon(ring)


def synthetic_features(base: dict[str, Any], count: int, seed: int = 7) -> list[dict[str, Any]]:
    """`count` extra GeoJSON features placed on open water of `base`'s regions (see module doc)."""
    features = base["features"]
    regions = shapely.union_all(
        [shape(f["geometry"]) for f in features if f["properties"]["kind"] == "region"]
    )
    # 1 km of clearance from what the extra zones must not touch.
    avoid = shapely.union_all(
        [shape(f["geometry"]).buffer(0.01) for f in features if f["properties"]["kind"] in _AVOID]
    )
    shapely.prepare(regions)
    shapely.prepare(avoid)
    rng = random.Random(seed)
    x0, y0, x1, y1 = regions.bounds
    placed: list[Polygon] = []
    tree_dirty = True
    tree = shapely.STRtree([])
    out: list[dict[str, Any]] = []
    attempts = 0
    while len(out) < count:
        attempts += 1
        if attempts > 200 * count + 10_000:
            raise RuntimeError(f"could only place {len(out)} of {count} synthetic zones")
        lon, lat = rng.uniform(x0, x1), rng.uniform(y0, y1)
        poly = _blob(rng, lon, lat, rng.uniform(1.5, 4.0))
        if not poly.is_valid or not regions.contains(poly) or avoid.intersects(poly):
            continue
        if tree_dirty:
            tree = shapely.STRtree(placed)
            tree_dirty = False
        # Keep 1 km between extra zones too (rebuilding the tree is cheap next to the checks above).
        near = tree.query(poly.buffer(0.01), predicate="intersects")
        if len(near):
            continue
        if any(p.intersects(poly.buffer(0.01)) for p in placed[len(tree.geometries):]):
            continue
        placed.append(poly)
        if len(placed) - len(tree.geometries) >= 32:
            tree_dirty = True
        n = len(out) + 1
        kind = "anchorage" if n % 3 else "port"
        props: dict[str, Any] = {"id": f"bench-{kind}-{n}", "name": f"Bench {kind} {n}", "kind": kind}
        out.append({"type": "Feature", "properties": props, "geometry": mapping(poly)})
    return out


def build_zone_file(total: int, out: Path, seed: int = 7) -> Path:
    """Write the real zone file plus synthetic zones, `total` features in all (at least the real ones)."""
    base = json.loads(REAL_ZONES.read_text())
    extra = max(0, total - len(base["features"]))
    collection = dict(base)
    collection["features"] = [*base["features"], *synthetic_features(base, extra, seed)]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(collection))
    return out


def real_zone_count() -> int:
    """How many features the shipped zone file has."""
    return len(json.loads(REAL_ZONES.read_text())["features"])
