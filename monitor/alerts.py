"""The alert: the one object subscribers see, in CONTRACT form.

Ids are derived, not random: a hash of the kind, the vessel(s), the zone and the episode's start on the
feed clock, so replaying the same feed twice yields the same ids and subscribers can de-duplicate on them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from monitor.levels import SEVERITIES

SCHEMA = 1
# (Every alert kind, with its severities, is declared by the detector that raises it: monitor.detectors.)

# A fixed namespace so ids are stable across versions, machines and runs.
_ID_NAMESPACE = uuid.UUID("5b0c2a1e-7d0e-4b7a-9c52-1f0d3e6a8b41")
_ID_NAMESPACE_BYTES = _ID_NAMESPACE.bytes


def iso_time(t: float) -> str:
    """ISO 8601 UTC with `Z`; whole seconds when the time is whole, else milliseconds."""
    whole = math.floor(t)
    text = _iso_seconds.get(whole)
    if text is None:
        if len(_iso_seconds) > 4096:
            _iso_seconds.clear()
        text = _iso_seconds[whole] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    if t == whole:
        return text + "Z"
    ms = round((t - whole) * 1000)
    if ms >= 1000:  # rounds up to the next second
        return iso_time(float(whole + 1))
    return f"{text}.{ms:03d}Z"


_iso_seconds: dict[int, str] = {}  # many alerts share a second: format it once


def alert_id(kind: str, *parts: object) -> str:
    """A stable id from the alert's identity: kind, vessel(s), zone, episode start.

    Exactly uuid.uuid5(_ID_NAMESPACE, key), computed without building UUID objects (it is on the path
    of every alert)."""
    key = "|".join([kind, *("" if p is None else str(p) for p in parts)])
    h = bytearray(hashlib.sha1(_ID_NAMESPACE_BYTES + key.encode()).digest()[:16])
    h[6] = (h[6] & 0x0F) | 0x50  # version 5
    h[8] = (h[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = h.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


@functools.cache
def _known_kinds() -> frozenset[str]:
    """Every alert kind (looked up on first use: the detectors that declare them import this module)."""
    from monitor.detectors import KINDS

    return frozenset(KINDS)


def severity_max(a: str, b: str) -> str:
    """The higher of two severities."""
    return a if SEVERITIES.index(a) >= SEVERITIES.index(b) else b


@dataclass(slots=True)
class Alert:
    """One alert; `to_dict` gives the CONTRACT JSON object."""

    id: str
    kind: str
    severity: str
    posture: str
    time: float
    mmsi: int | None
    vessel: dict[str, Any] | None
    zone: dict[str, Any] | None
    position: dict[str, Any] | None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in _known_kinds():
            raise ValueError(f"unknown alert kind {self.kind!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "id": self.id,
            "kind": self.kind,
            "severity": self.severity,
            "posture": self.posture,
            "time": iso_time(self.time),
            "mmsi": self.mmsi,
            "vessel": self.vessel,
            "zone": self.zone,
            "position": self.position,
            "details": self.details,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    def to_text(self) -> str:
        """One readable line for a terminal (`--format text`)."""
        v = self.vessel or {}
        who = "" if self.mmsi is None else f"{self.mmsi}"
        if v.get("name"):
            who += f" {v['name']}"
        if v.get("flag"):
            who += f" [{v['flag']}]"
        if v.get("watch"):
            who += " watch:" + ",".join(v["watch"])
        where = f" {self.zone['kind']}:{self.zone['id']}" if self.zone else ""
        pos = ""
        if self.position and self.position.get("lat") is not None:
            pos = f" @ {self.position['lat']:.4f},{self.position['lon']:.4f}"
        facts = " ".join(f"{k}={_fmt(val)}" for k, val in self.details.items())
        return (
            f"{iso_time(self.time)} {self.severity.upper():8} {self.kind:14} {who.strip()}{where}{pos}"
            + (f"  {facts}" if facts else "")
        )


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, dict):
        if value.get("name"):
            return str(value["name"])
        if "lat" in value and "lon" in value:
            return f"{value['lat']:.4f},{value['lon']:.4f}"
        return json.dumps(value, separators=(",", ":"))
    return str(value)
