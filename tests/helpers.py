"""Test helpers: a small synthetic zone file and NMEA sentences encoded with pyais (independent of ours)."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pyais.encode import encode_dict

T0 = 1_750_000_000  # 2025-06-15T15:06:40Z


def nmea_checksum(body: str) -> str:
    c = 0
    for ch in body.encode():
        c ^= ch
    return f"{c:02X}"


def tagged(sentence: str, t: float, source: str = "rx1") -> bytes:
    """Prefix a NMEA 4.0 tag block with the receive time."""
    tb = f"s:{source},c:{int(t)}"
    return f"\\{tb}*{nmea_checksum(tb)}\\{sentence}".encode()


def position_lines(
    mmsi: int, lon: float, lat: float, t: float, sog: float = 12.0, cog: float = 270.0, msg_type: int = 1
) -> list[bytes]:
    data: dict[str, Any] = {
        "type": msg_type,
        "mmsi": mmsi,
        "lon": lon,
        "lat": lat,
        "speed": sog,
        "course": cog,
        "heading": round(cog) % 360,
        "second": int(t) % 60,
        "status": 0,
    }
    if msg_type == 18:
        data.pop("status")
    return [tagged(s, t) for s in encode_dict(data, talker_id="AI", sentence_type="VDM", radio_channel="A")]


def track_lines(track: Iterable[tuple[int, float, float, int, float, float]]) -> list[bytes]:
    """Position lines of (vessel number, lon, lat, seconds since the previous fix, sog, cog) fixes, from T0:
    vessel k is MMSI 538000000 + k (the random tracks of the property tests)."""
    lines: list[bytes] = []
    t = T0
    for vessel, lon, lat, dt, sog, cog in track:
        t += dt
        lines += position_lines(538000000 + vessel, lon, lat, t, sog=sog, cog=cog)
    return lines


def static_lines(
    mmsi: int, t: float, name: str, ship_type: int = 80, callsign: str = "TEST1", imo: int = 9_000_001
) -> list[bytes]:
    data = {
        "type": 5,
        "mmsi": mmsi,
        "shipname": name,
        "ship_type": ship_type,
        "callsign": callsign,
        "imo": imo,
        "ais_version": 0,
        "destination": "FUJAIRAH",
        "draught": 10.2,
    }
    return [
        tagged(s, t)
        for s in encode_dict(data, talker_id="AI", sentence_type="VDM", radio_channel="A", seq_id=1)
    ]


def track(
    mmsi: int,
    points: list[tuple[float, float]],
    t0: float,
    interval_s: float,
    speed_kn: float,
    msg_type: int = 1,
) -> list[bytes]:
    """Fixes every interval_s along straight legs between points at speed_kn (flat-earth, fine here)."""
    out: list[bytes] = []
    t = t0
    step_m = speed_kn * 1852 / 3600 * interval_s
    for (x1, y1), (x2, y2) in itertools.pairwise(points):
        kx = 111_320 * math.cos(math.radians((y1 + y2) / 2))
        dist = math.hypot((x2 - x1) * kx, (y2 - y1) * 111_320)
        n = max(1, int(dist // step_m))
        cog = (math.degrees(math.atan2((x2 - x1) * kx, (y2 - y1) * 111_320)) + 360) % 360
        for k in range(n):
            f = k / n
            out += position_lines(mmsi, x1 + (x2 - x1) * f, y1 + (y2 - y1) * f, t, speed_kn, cog, msg_type)
            t += interval_s
    x, y = points[-1]
    out += position_lines(mmsi, x, y, t, speed_kn, 0.0, msg_type)
    return out


def box(x1: float, y1: float, x2: float, y2: float) -> list[list[list[float]]]:
    return [[[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]]]


def feature(fid: str, kind: str, geometry: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"id": fid, "name": fid.replace("-", " ").title(), "kind": kind, **props},
        "geometry": geometry,
    }


def synthetic_zones() -> dict[str, Any]:
    """A toy strait between lon 56 and 57 with its gates on both sides, a lane, a port and an anchorage."""
    return {
        "type": "FeatureCollection",
        "features": [
            feature("gulf", "region", {"type": "Polygon", "coordinates": box(54.0, 25.0, 59.0, 27.0)}),
            feature(
                "strait",
                "strait",
                {"type": "Polygon", "coordinates": box(56.0, 25.5, 57.0, 26.5)},
                gates=["outer", "inner"],
            ),
            feature("outer", "gate", {"type": "LineString", "coordinates": [[57.0, 25.5], [57.0, 26.5]]}),
            feature("inner", "gate", {"type": "LineString", "coordinates": [[56.0, 26.5], [56.0, 25.5]]}),
            feature(
                "lane-in",
                "tss_lane",
                {"type": "Polygon", "coordinates": box(56.2, 26.0, 56.8, 26.2)},
                bearing=270,
            ),
            feature(
                "port-a",
                "port",
                {"type": "Polygon", "coordinates": box(55.5, 25.9, 55.6, 26.0)},
                country="AE",
            ),
            feature("anch", "anchorage", {"type": "Polygon", "coordinates": box(57.2, 25.6, 57.3, 25.7)}),
            feature("land-a", "land", {"type": "Polygon", "coordinates": box(58.0, 25.0, 59.0, 25.3)}),
        ],
    }


def write_zones(path: Path, collection: dict[str, Any] | None = None) -> Path:
    path.write_text(json.dumps(collection or synthetic_zones()))
    return path


def write_lines(path: Path, lines: Iterable[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path
