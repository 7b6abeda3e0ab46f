"""Scenario builders for the detector replay tests: places on the real zone file, a clock vessel, and
runners that replay a simulated feed through the pipeline or the command line.

The facts the tests check against come from the feed itself (tag-block times, positions decoded with
pyais), never from the engine under test.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import shapely
from pyais import decode

from monitor.alerts import iso_time
from monitor.config import load_settings
from monitor.pipeline import Pipeline
from monitor.zones import ZoneFile, default_zone_path, load_zone_file
from tools.simulate import Scenario, VesselPlan, generate, write_feed

ROOT = Path(__file__).resolve().parents[1]

START = datetime(2025, 6, 20, 6, 0, tzinfo=UTC)
T0 = int(START.timestamp())
MINUTE = 60.0
HOUR = 3600.0

# ---- places on the shipped zone file (tests/test_detectors.py checks each lies where it says) ----------
# The middle, east-west stretch of the inbound (northern) lane, on its OSM centre line.
LANE_EAST = (56.585, 26.624)
LANE_WEST = (56.470, 26.624)
LANE_MID = (56.525, 26.624)
STRAIT_OPEN = (56.50, 26.30)  # the strait, west of the lanes, in no lane or separation zone
OMAN_SEA = (57.30, 25.30)  # Gulf of Oman: a region, not the strait, no port or anchorage, no land
ANCHORAGE = (56.48, 25.17)  # inside fujairah-anchorage
BERTH = (56.374, 25.176)  # a berth in the Fujairah port polygon, off Natural Earth's land
PORT_ON_LAND = (56.350, 25.180)  # in the Fujairah port polygon where Natural Earth's land overlaps it
INLAND = (56.00, 25.00)  # the UAE mainland, over 30 km from the coast, in no port

CLOCK_MMSI = 470_000_999  # moored in Fujairah: keeps the feed clock running, never alerts beyond enters


@functools.cache
def zonefile() -> ZoneFile:
    return load_zone_file(default_zone_path())


def zones_at(point: tuple[float, float]) -> set[str]:
    """Ids of the zones (gates aside) whose geometry holds the point, straight from shapely."""
    p = shapely.Point(point)
    return {z.id for z in zonefile().zones if z.kind != "gate" and z.geometry.covers(p)}


def offset(point: tuple[float, float], bearing_deg: float, metres: float) -> tuple[float, float]:
    """The point `metres` from `point` on `bearing_deg` (flat earth: exact enough over a few km)."""
    lon, lat = point
    b = math.radians(bearing_deg)
    dlat = metres * math.cos(b) / 111_195.0
    dlon = metres * math.sin(b) / (111_195.0 * math.cos(math.radians(lat)))
    return (lon + dlon, lat + dlat)


def clock_vessel(**overrides: Any) -> VesselPlan:
    """A ship moored in Fujairah port reporting every minute: other traffic that moves the feed clock."""
    fields: dict[str, Any] = {"name": "HARBOUR CLOCK", "waits": {0: math.inf}, "report_interval_s": 60.0}
    fields.update(overrides)
    return VesselPlan(CLOCK_MMSI, [BERTH], 10.0, **fields)


def scenario(
    *plans: VesselPlan, duration_s: float, noise_m: float = 0.0, seed: int = 7, clock: bool = True
) -> Scenario:
    """The plans, plus the clock vessel unless `clock` is False, on one clock from START."""
    vessels = [*plans, clock_vessel()] if clock else list(plans)
    return Scenario(start=START, duration_s=duration_s, vessels=vessels, seed=seed, noise_m=noise_m)


def lines_of(s: Scenario) -> list[bytes]:
    return list(generate(s))


def run_lines(
    lines: Sequence[bytes],
    *,
    env: dict[str, str] | None = None,
    posture: str | None = None,
    batch: int = 500,
    config: Path | None = None,
) -> list[dict[str, Any]]:
    """Replay the lines through a Pipeline in batches of `batch`; the alerts as CONTRACT dicts."""
    settings = load_settings(config, env=env or {})
    pipeline = Pipeline(settings, zonefile(), posture=posture)
    alerts: list[dict[str, Any]] = []
    for i in range(0, len(lines), batch):
        alerts += [a.to_dict() for a in pipeline.process_lines(lines[i : i + batch])]
    return alerts


def run(s: Scenario, **kwargs: Any) -> list[dict[str, Any]]:
    return run_lines(lines_of(s), **kwargs)


def replay_cli(lines: Iterable[bytes], tmp_path: Path, *args: str) -> list[dict[str, Any]]:
    """`python -m monitor replay FEED --format jsonl ARGS`: the alerts printed on stdout."""
    feed = tmp_path / "feed.nmea.gz"
    write_feed(feed, lines)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    r = subprocess.run(
        [sys.executable, "-m", "monitor", "replay", str(feed), "--format", "jsonl", *args],
        cwd=ROOT,
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr.decode()
    return [json.loads(line) for line in r.stdout.decode().splitlines()]


def select(
    alerts: Iterable[dict[str, Any]], kind: str | None = None, mmsi: int | None = None
) -> list[dict[str, Any]]:
    return [a for a in alerts if (kind is None or a["kind"] == kind) and (mmsi is None or a["mmsi"] == mmsi)]


def kinds_of(alerts: Iterable[dict[str, Any]], mmsi: int | None = None) -> list[str]:
    return [a["kind"] for a in select(alerts, mmsi=mmsi)]


def iso(seconds_after_start: float) -> str:
    return iso_time(T0 + seconds_after_start)


def seconds(iso_text: str) -> float:
    """An alert's ISO time as seconds after START."""
    return datetime.fromisoformat(iso_text).timestamp() - T0


# ---- the feed's own facts ----------------------------------------------------------------------------
_LINE = re.compile(
    rb"^\\s:(\w+),c:(\d+)\*[0-9A-F]{2}\\(!AIVDM,(\d),(\d),[^,]*,[AB]?,([^,]*),\d)\*[0-9A-F]{2}$"
)


def _sixbit(payload: str, start: int, length: int) -> int:
    value = 0
    for ch in payload:
        v = ord(ch) - 48
        value = (value << 6) | (v - 8 if v > 40 else v)
    total = 6 * len(payload)
    return (value >> (total - start - length)) & ((1 << length) - 1)


def heard(lines: Iterable[bytes], mmsi: int) -> list[float]:
    """Seconds after START of every message (position or static) the first receiver logged from `mmsi`."""
    out: list[float] = []
    for line in lines:
        m = _LINE.match(line)
        if m is None or m.group(1) != b"sim1" or m.group(5) != b"1":  # the first fragment names the MMSI
            continue
        if _sixbit(m.group(6).decode(), 8, 30) == mmsi:
            out.append(float(int(m.group(2)) - T0))
    return out


def fixes(lines: Iterable[bytes], mmsi: int) -> list[tuple[float, float, float]]:
    """(seconds after START, lon, lat) of every position report the first receiver logged from `mmsi`."""
    out: list[tuple[float, float, float]] = []
    for line in lines:
        m = _LINE.match(line)
        if m is None or m.group(1) != b"sim1" or m.group(4) != b"1":  # position reports are one sentence
            continue
        payload = m.group(6).decode()
        if _sixbit(payload, 0, 6) not in (1, 2, 3, 18) or _sixbit(payload, 8, 30) != mmsi:
            continue
        msg: dict[str, Any] = decode(m.group(3).decode()).asdict()
        out.append((float(int(m.group(2)) - T0), float(msg["lon"]), float(msg["lat"])))
    return out


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance on the mean earth sphere (written out here, not the package's)."""
    (lon1, lat1), (lon2, lat2) = a, b
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(math.sqrt(h))
