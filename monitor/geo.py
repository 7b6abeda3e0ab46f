"""Small geodesy helpers: distances and a local metric projection for buffering in metres."""

from __future__ import annotations

import math

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely import Geometry

EARTH_RADIUS_M = 6_371_008.8
M_PER_DEG_LAT = 111_320.0
M_PER_NM = 1852.0


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres."""
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def haversine_np(lon1: NDArray[np.float64], lat1: NDArray[np.float64], lon2: NDArray[np.float64],
                 lat2: NDArray[np.float64]) -> NDArray[np.float64]:
    """haversine_m over arrays. (numpy's sin and cos may differ from math's in the last bit: a caller
    that must agree with haversine_m exactly leaves a margin, or recomputes the value it keeps.)"""
    p1 = np.radians(lat1)
    p2 = np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    result: NDArray[np.float64] = 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(a)))
    return result


def buffer_m(geom: Geometry, distance_m: float, quad_segs: int = 4) -> Geometry:
    """Buffer a lon/lat geometry by a distance in metres.

    Buffers in a local equirectangular projection centred on the geometry, which is accurate to a few
    per cent over the few degrees a zone spans: good enough for a tolerance band.
    """
    if distance_m <= 0:
        return geom
    c = shapely.centroid(geom)
    lon0, lat0 = c.x, c.y
    kx = M_PER_DEG_LAT * math.cos(math.radians(lat0))
    ky = M_PER_DEG_LAT

    def fwd(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        out = xy.copy()
        out[:, 0] = (xy[:, 0] - lon0) * kx
        out[:, 1] = (xy[:, 1] - lat0) * ky
        return out

    def inv(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        out = xy.copy()
        out[:, 0] = xy[:, 0] / kx + lon0
        out[:, 1] = xy[:, 1] / ky + lat0
        return out

    projected = shapely.transform(geom, fwd)
    return shapely.transform(shapely.buffer(projected, distance_m, quad_segs=quad_segs), inv)
