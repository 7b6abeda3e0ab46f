"""The detector registry (monitor.detectors): the alert kinds, their severities per posture level and the
kinds escalation rules may count are declared by the detectors and built in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_settings
from monitor.detectors import AGGREGATES, DETECTOR_KINDS, DETECTORS, KINDS, SEVERITY, severities
from monitor.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
CONTRACT_KINDS = (  # CONTRACT.md's alert kinds that the engine raises today
    "zone_enter", "zone_exit", "transit", "loiter", "dark", "reappeared", "position_jump", "on_land",
    "wrong_way", "encounter", "posture_change", "hazard_enter", "corridor_departure",
    "traffic_drop", "traffic_recovery", "port_call", "draught_change", "interference", "interference_cleared",
    "roster_overdue",
    "identity_change", "identity_conflict",
)


def test_every_kind_is_declared_once_with_a_severity_at_every_level() -> None:
    assert sorted(KINDS) == sorted(CONTRACT_KINDS)
    declared = [kind for d in DETECTORS for kind in d.severity]
    assert len(declared) == len(set(declared))
    assert all(len(per_level) == 4 for per_level in SEVERITY.values())


def test_the_default_severities_are_the_documented_table() -> None:
    """README's posture table: severities rise with the level (truth: the table as documented)."""
    assert severities("NORMAL")["dark"] == "warning" and severities("NORMAL")["posture_change"] == "info"
    assert severities("ELEVATED")["position_jump"] == "warning"
    for kind in ("dark", "loiter", "on_land", "wrong_way", "encounter"):
        assert [severities(level)[kind] for level in ("NORMAL", "ELEVATED", "HIGH", "CRITICAL")] == [
            "warning", "warning", "critical", "critical"]
    assert severities("CRITICAL")["transit"] == "warning" and severities("HIGH")["transit"] == "info"
    settings = load_settings(None, env={})
    for level in ("NORMAL", "ELEVATED", "HIGH", "CRITICAL"):
        assert settings.posture.levels.of(level).severity == severities(level)


def test_a_severity_for_an_unknown_kind_is_refused_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text('[posture.levels.HIGH.severity]\ndarkk = "critical"\n')
    with pytest.raises(ConfigError, match="darkk"):
        load_settings(config, env={})
    config.write_text('[posture.levels.HIGH.severity]\ndark = "info"\n')
    levels = load_settings(config, env={}).posture.levels
    assert levels.HIGH.severity["dark"] == "info" and levels.HIGH.severity["loiter"] == "critical"


def test_escalation_rules_count_only_detector_kinds(tmp_path: Path) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text('[[posture.rules]]\nname = "r"\nkinds = ["zone_enter"]\n')
    with pytest.raises(ConfigError, match="zone_enter"):
        load_settings(config, env={})
    assert "zone_enter" not in DETECTOR_KINDS and "on_land" in DETECTOR_KINDS


def test_every_detectors_settings_are_keys_of_the_detectors_section() -> None:
    """[detectors] is composed of each detector's own section: none is left out, no key is declared twice,
    and the section keeps the keys (and defaults) it had."""
    from monitor.detectors import DetectorSettings
    from monitor.detectors.base import EpisodeSettings

    owned = [*(d.settings for d in DETECTORS if d.settings is not None),
             *(a.detector_settings for a in AGGREGATES if a.detector_settings is not None)]
    assert all(issubclass(DetectorSettings, s) for s in owned)
    keys = [k for s in [*owned, EpisodeSettings] for k in s.model_fields]
    assert len(keys) == len(set(keys))
    assert set(DetectorSettings.model_fields) == set(keys)
    d = load_settings(None, env={}).detectors
    assert (d.loiter_max_speed_kn, d.encounter_distance_m, d.jump_speed_kn, d.wrong_way_angle_deg,
            d.episode_gap_s) == (2.0, 500.0, 50.0, 120.0, 900.0)
