"""The alert: the one object subscribers see, in CONTRACT form.

Ids are derived, not random: a hash of the kind, the vessel(s), the zone and the episode's start on the
feed clock, so replaying the same feed twice yields the same ids and subscribers can de-duplicate on them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SCHEMA = 1
SEVERITIES = ("info", "warning", "critical")
KINDS = (
    "zone_enter",
    "zone_exit",
    "transit",
    "loiter",
    "dark",
    "reappeared",
    "position_jump",
    "on_land",
    "wrong_way",
    "encounter",
    "posture_change",
)

# A fixed namespace so ids are stable across versions, machines and runs.
_ID_NAMESPACE = uuid.UUID("5b0c2a1e-7d0e-4b7a-9c52-1f0d3e6a8b41")


def iso_time(t: float) -> str:
    """ISO 8601 UTC with `Z`; whole seconds when the time is whole, else milliseconds."""
    dt = datetime.fromtimestamp(t, tz=UTC)
    if t == int(t):
        return dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def alert_id(kind: str, *parts: object) -> str:
    """A stable id from the alert's identity: kind, vessel(s), zone, episode start."""
    key = "|".join([kind, *("" if p is None else str(p) for p in parts)])
    return str(uuid.uuid5(_ID_NAMESPACE, key))


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
        if self.kind not in KINDS:
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
