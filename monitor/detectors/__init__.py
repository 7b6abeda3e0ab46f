"""The detectors: one module each (monitor.detectors.<name>), composed by the engine in this order.

`FIX_DETECTORS` run on each trusted fix of a vessel, after the geofence, in this order (which is also
the order of their fields in the saved state). To add one, see docs/detectors.md.
"""

from __future__ import annotations

from monitor.detectors.base import Field, FixDetector
from monitor.detectors.encounter import Encounter
from monitor.detectors.loiter import Loiter
from monitor.detectors.wrong_way import WrongWay

FIX_DETECTORS: tuple[type[FixDetector], ...] = (Loiter, WrongWay, Encounter)


def vessel_fields() -> tuple[Field, ...]:
    """Every detector's per-vessel fields, in detector order."""
    return tuple(f for d in FIX_DETECTORS for f in d.fields)


__all__ = ["FIX_DETECTORS", "Field", "FixDetector", "vessel_fields"]
