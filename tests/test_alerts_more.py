"""The alert object (monitor.alerts.Alert): built only with a known kind and severity, and its one-line
text form (`replay --format text`) shows who, where and the facts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from monitor.alerts import Alert, alert_id, severity_max
from tests.helpers import T0


def make(**over: Any) -> Alert:
    fields: dict[str, Any] = {
        "id": alert_id("loiter", 366123456, T0),
        "kind": "loiter",
        "severity": "warning",
        "posture": "NORMAL",
        "time": T0,
        "mmsi": 366123456,
        "vessel": None,
        "zone": None,
        "position": None,
        "details": {},
    }
    fields.update(over)
    return Alert(**fields)


def test_an_unknown_kind_or_severity_is_refused_when_built() -> None:
    """A typo in a kind or a severity fails where the alert is made, not at a subscriber."""
    with pytest.raises(ValueError, match="unknown alert kind 'loitering'"):
        make(kind="loitering")
    with pytest.raises(ValueError, match="unknown severity 'error'"):
        make(severity="error")
    with pytest.raises(ValueError, match="unknown severity 'Warning'"):
        make(severity="Warning")


def test_severity_max_orders_info_warning_critical() -> None:
    """The higher of two severities, in the order info < warning < critical, whichever comes first."""
    order = ["info", "warning", "critical"]
    for a in order:
        for b in order:
            assert severity_max(a, b) == order[max(order.index(a), order.index(b))]


def test_text_line_of_a_bare_alert() -> None:
    """Time, severity and kind padded into columns, then the MMSI; nothing else when nothing else is known."""
    line = make().to_text()
    assert line == "2025-06-15T15:06:40Z WARNING  loiter         366123456"


def test_text_line_shows_name_flag_watch_zone_position_and_facts() -> None:
    """Name, [flag], watch lists, kind:id of the zone, the position to 4 decimals, and the details as
    key=value: floats to one decimal, a vessel by its name, a point as lat,lon, anything else as JSON."""
    alert = make(
        kind="encounter",
        severity="critical",
        time=T0 + 0.25,
        vessel={"name": "EVER GIVEN", "flag": "PA", "watch": ["sanctions", "navy"]},
        zone={"kind": "strait", "id": "hormuz"},
        position={"lat": 26.5, "lon": 56.25},
        details={
            "distance_m": 123.456,
            "other": {"mmsi": 477000001, "name": "OTHER SHIP"},
            "other_at": {"lat": 26.50001, "lon": 56.24999},
            "window": {"minutes": 30},
            "count": 3,
        },
    )
    assert alert.to_text() == (
        "2025-06-15T15:06:40.250Z CRITICAL encounter      366123456 EVER GIVEN [PA] watch:sanctions,navy"
        " strait:hormuz @ 26.5000,56.2500"
        '  distance_m=123.5 other=OTHER SHIP other_at=26.5000,56.2500 window={"minutes":30} count=3'
    )


def test_text_line_without_mmsi_or_position_value() -> None:
    """A posture change concerns no vessel: no MMSI; a position whose lat is unknown is left out."""
    alert = make(kind="posture_change", severity="info", mmsi=None, vessel={"name": ""},
                 position={"lat": None, "lon": None}, details={"from": "NORMAL", "to": "HIGH"})
    assert alert.to_text() == "2025-06-15T15:06:40Z INFO     posture_change   from=NORMAL to=HIGH"


def test_json_form_is_the_contract_object_with_unicode_kept() -> None:
    """to_json is the compact CONTRACT object (schema 1, ISO time) with non-ASCII names kept as they are."""
    alert = make(vessel={"name": "ŞEHİT"}, details={"radius_m": 500.0})
    text = alert.to_json()
    assert "ŞEHİT" in text and ", " not in text
    assert json.loads(text) == {
        "schema": 1, "id": alert.id, "kind": "loiter", "severity": "warning", "posture": "NORMAL",
        "time": "2025-06-15T15:06:40Z", "mmsi": 366123456, "vessel": {"name": "ŞEHİT"}, "zone": None,
        "position": None, "details": {"radius_m": 500.0},
    }
