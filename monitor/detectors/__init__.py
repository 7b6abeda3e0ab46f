"""The detectors: one module each (monitor.detectors.<name>), composed by the engine in this order.

`DETECTORS`, in order: the trust detectors (`TrustDetector`: may a fix move the trusted track?) judge
each fix before the geofence; the others run on each trusted fix after it. The order is also that of
their fields in the saved state. To add one, see docs/detectors.md.
"""

from __future__ import annotations

from monitor.detectors.base import AggregateDetector, EpisodeSettings, Field, FixDetector, TrustDetector
from monitor.detectors.corridor import CorridorDeparture, CorridorSettings
from monitor.detectors.dark import Dark
from monitor.detectors.draught_change import DraughtChange, DraughtChangeSettings
from monitor.detectors.encounter import Encounter, EncounterSettings
from monitor.detectors.escalation import Escalation
from monitor.detectors.hazard import HazardEnter
from monitor.detectors.identity import IdentityChange, IdentitySettings
from monitor.detectors.identity_conflict import IdentityConflict, IdentityConflictSettings
from monitor.detectors.interference import Interference, InterferenceSettings
from monitor.detectors.loiter import Loiter, LoiterSettings
from monitor.detectors.on_land import OnLand
from monitor.detectors.port_call import PortCall, PortCallSettings, PortStats
from monitor.detectors.position_jump import PositionJump, PositionJumpSettings
from monitor.detectors.roster_overdue import RosterClock, RosterOverdue, RosterSettings
from monitor.detectors.traffic import Traffic, TrafficSettings
from monitor.detectors.voyage import Voyage, VoyageSettings
from monitor.detectors.wrong_way import WrongWay, WrongWaySettings
from monitor.detectors.zones import Zones
from monitor.levels import LEVELS, PerLevel, Severity

DETECTORS: tuple[type[FixDetector], ...] = (
    Zones, Dark, OnLand, IdentityConflict, PositionJump, Loiter, WrongWay, Encounter, CorridorDeparture,
    PortCall, DraughtChange, RosterOverdue, IdentityChange,
)
# The aggregate detectors (state per area, woken on the feed clock), in the order they see each alert.
# (`hazard` re-raises the zones' entries of hazard zones; the posture's rules see those too.)
AGGREGATES: tuple[type[AggregateDetector], ...] = (
    Escalation, HazardEnter, Traffic, PortStats, Interference, RosterClock, Voyage,
)




class DetectorSettings(
    PositionJumpSettings, LoiterSettings, WrongWaySettings, EncounterSettings, PortCallSettings,
    DraughtChangeSettings, IdentitySettings, IdentityConflictSettings, VoyageSettings, EpisodeSettings
):
    """[detectors]: thresholds that hold at every posture level, each key owned by its detector's section
    (`settings` of each class in DETECTORS; tests/test_registry.py checks that none is missing)."""


# The kind the engine raises itself, with its default severities: the posture's.
CORE_SEVERITY: dict[str, PerLevel] = {"posture_change": ("info", "warning", "critical", "critical")}

# Every alert kind with its default severity at each level: the core's and the detectors', built here and
# nowhere else (the configuration's severity tables, the escalation rules' kinds, the HTTP API's and the
# metrics' list of kinds all come from it).
SEVERITY: dict[str, PerLevel] = {
    **{kind: per_level for d in DETECTORS for kind, per_level in d.severity.items()},
    **{kind: per_level for a in AGGREGATES for kind, per_level in a.severity.items()},
    **CORE_SEVERITY,
}
KINDS: tuple[str, ...] = tuple(SEVERITY)
# The kinds an escalation rule may count: behaviour of one vessel, with a position.
DETECTOR_KINDS: tuple[str, ...] = (
    *(kind for d in DETECTORS if d.rule_kinds for kind in d.severity),
    *(kind for a in AGGREGATES for kind in a.counted_by_rules),  # (a traffic drop)
)


def severities(level: str) -> dict[str, Severity]:
    """The default severity of every kind at `level`."""
    i = LEVELS.index(level)
    return {kind: per_level[i] for kind, per_level in SEVERITY.items()}


def vessel_fields() -> tuple[Field, ...]:
    """Every detector's per-vessel fields, in detector order (the aggregates' after)."""
    return (*(f for d in DETECTORS for f in d.fields), *(f for a in AGGREGATES for f in a.fields))


__all__ = [
    "AGGREGATES",
    "DETECTORS",
    "DETECTOR_KINDS",
    "KINDS",
    "SEVERITY",
    "CorridorSettings",
    "DetectorSettings",
    "Field",
    "FixDetector",
    "InterferenceSettings",
    "RosterSettings",
    "TrafficSettings",
    "TrustDetector",
    "severities",
    "vessel_fields",
]
