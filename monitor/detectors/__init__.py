"""The detectors: one module each (monitor.detectors.<name>), composed by the engine in this order.

`DETECTORS`, in order: the trust detectors (`TrustDetector`: may a fix move the trusted track?) judge
each fix before the geofence; the others run on each trusted fix after it. The order is also that of
their fields in the saved state. To add one, see docs/detectors.md.
"""

from __future__ import annotations

from monitor.detectors.base import Field, FixDetector, TrustDetector
from monitor.detectors.dark import Dark
from monitor.detectors.encounter import Encounter
from monitor.detectors.loiter import Loiter
from monitor.detectors.on_land import OnLand
from monitor.detectors.position_jump import PositionJump
from monitor.detectors.wrong_way import WrongWay

DETECTORS: tuple[type[FixDetector], ...] = (Dark, OnLand, PositionJump, Loiter, WrongWay, Encounter)


def vessel_fields() -> tuple[Field, ...]:
    """Every detector's per-vessel fields, in detector order."""
    return tuple(f for d in DETECTORS for f in d.fields)


__all__ = ["DETECTORS", "Field", "FixDetector", "TrustDetector", "vessel_fields"]
