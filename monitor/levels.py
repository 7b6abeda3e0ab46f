"""The posture levels and the alert severities: the words every part of the daemon shares."""

from __future__ import annotations

from typing import Literal

LEVELS = ("NORMAL", "ELEVATED", "HIGH", "CRITICAL")
Level = Literal["NORMAL", "ELEVATED", "HIGH", "CRITICAL"]
SEVERITIES = ("info", "warning", "critical")
Severity = Literal["info", "warning", "critical"]
# A kind's severity at each level, in LEVELS order.
PerLevel = tuple[Severity, Severity, Severity, Severity]
