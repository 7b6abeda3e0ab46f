"""Zone membership with more zones than one 64-bit word holds (a busy coast's ports, anchorages and
regions): the masks must agree, bit for bit, with shapely's own point-in-polygon test of each zone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import shape

from monitor.geofence import Geofence
from monitor.zones import load_zone_file
from tests.helpers import box, feature, write_zones


def crowded_zones(n: int, seed: int) -> dict[str, object]:
    """n overlapping boxes of random size in lon 55..57, lat 25..27, as ports, anchorages and regions."""
    rng = np.random.default_rng(seed)
    kinds = ("port", "anchorage", "region")
    features = []
    for i in range(n):
        x, y = rng.uniform(55.0, 56.8), rng.uniform(25.0, 26.8)
        w, h = rng.uniform(0.02, 0.4, size=2)
        geometry = {"type": "Polygon", "coordinates": box(x, y, x + w, y + h)}
        features.append(feature(f"z{i:03d}", kinds[i % 3], geometry))
    return {"type": "FeatureCollection", "features": features}


def test_masks_beyond_64_zones_match_shapely_bit_for_bit(tmp_path: Path) -> None:
    """With 150 overlapping zones (three 64-bit words), each fix's mask has bit i set exactly when shapely
    says zone i contains it: in one batch, again from the classified grid cells, and fix by fix."""
    collection = crowded_zones(150, seed=7)
    geofence = Geofence(load_zone_file(write_zones(tmp_path / "z.geojson", collection)))
    assert len(geofence.zones) == 150 and geofence.words == 3
    rng = np.random.default_rng(11)
    lon = rng.uniform(54.8, 57.4, 4000)
    lat = rng.uniform(24.8, 27.4, 4000)
    # The truth: each zone's polygon straight from the GeoJSON, tested by shapely, no grid, no tree.
    by_id = {f["properties"]["id"]: shape(f["geometry"]) for f in collection["features"]}
    truth = [0] * len(lon)
    for i, zone in enumerate(geofence.zones):
        inside = shapely.intersects_xy(by_id[zone.id], lon, lat)
        for k in np.flatnonzero(inside).tolist():
            truth[k] |= 1 << i
    assert sum(1 for m in truth if m.bit_count() > 1) > 100  # the fixes do fall in overlaps
    assert any(m >> 128 for m in truth)  # and in zones of the third word
    assert geofence.membership(lon, lat) == truth
    assert geofence.membership(lon, lat) == truth  # again: the cells are classified now
    assert [geofence.membership(lon[k:k + 1], lat[k:k + 1])[0] for k in range(0, 4000, 97)] == truth[::97]
    words = geofence.membership_words(lon, lat)
    assert words.shape == (4000, 3)
    assert [int(a) | int(b) << 64 | int(c) << 128 for a, b, c in words.tolist()] == truth
    assert (geofence.membership_exact(lon, lat) == words).all()


def test_masks_of_many_zones_with_no_fix_or_no_zone(tmp_path: Path) -> None:
    """An empty batch gives empty masks; a fix outside every zone has mask 0."""
    geofence = Geofence(load_zone_file(write_zones(tmp_path / "z.geojson", crowded_zones(70, seed=3))))
    empty = np.zeros(0)
    assert geofence.membership(empty, empty) == []
    assert geofence.membership_words(empty, empty).shape == (0, 2)
    assert geofence.membership(np.array([10.0]), np.array([10.0])) == [0]
