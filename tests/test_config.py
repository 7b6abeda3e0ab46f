"""Settings: TOML file, MONITOR_* environment overrides, validation and error messages."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from monitor.config import (
    DecodeSettings,
    GeofenceSettings,
    LoggingSettings,
    Settings,
    Watchlist,
    ZonesSettings,
    load_settings,
)
from monitor.errors import EXIT_CONFIG, ConfigError

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "monitor.toml"


def _write(tmp_path: Path, text: str, name: str = "monitor.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path | None, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={} if env is None else env)
    assert "\n" not in str(info.value), "a config error must be one line"
    return info.value


def test_defaults() -> None:
    """With no file and no variables every setting has its documented default."""
    settings = load_settings(None, env={})
    assert settings.zones.file is None
    assert settings.decode.fragment_timeout_s == 10.0
    assert settings.decode.dedup_window_s == 10.0
    assert settings.geofence.hysteresis_m == 150.0
    assert settings.geofence.min_dwell_s == 0.0
    assert settings.watchlists == {"korea": Watchlist(mids=[440, 441], mmsis=[], roster=True)}
    assert settings.logging.level == "info"
    assert settings.logging.format == "auto"


def test_settings_are_frozen() -> None:
    """Settings cannot be changed after validation, so no component sees a value that skipped checks."""
    settings = load_settings(None, env={})
    with pytest.raises(pydantic.ValidationError):
        settings.geofence.hysteresis_m = 1.0  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError):
        settings.logging = LoggingSettings()  # type: ignore[misc]


def test_toml_file_loads(tmp_path: Path) -> None:
    """Values from the TOML file replace the defaults; keys left out keep them."""
    path = _write(
        tmp_path,
        """
[decode]
fragment_timeout_s = 5
[geofence]
hysteresis_m = 80.5
[watchlists.tankers]
mmsis = [422123456, 636019825]
[logging]
level = "debug"
format = "json"
""",
    )
    settings = load_settings(path, env={})
    assert settings.decode == DecodeSettings(fragment_timeout_s=5.0, dedup_window_s=10.0)
    assert settings.geofence == GeofenceSettings(hysteresis_m=80.5, min_dwell_s=0.0)
    assert settings.watchlists == {"tankers": Watchlist(mids=[], mmsis=[422123456, 636019825])}
    assert settings.logging == LoggingSettings(level="debug", format="json")


def test_env_overrides_toml(tmp_path: Path) -> None:
    """A MONITOR_SECTION__KEY variable wins over the file; other keys of that section keep the file's
    value."""
    path = _write(tmp_path, "[geofence]\nhysteresis_m = 80.0\nmin_dwell_s = 30.0\n")
    settings = load_settings(path, env={"MONITOR_GEOFENCE__HYSTERESIS_M": "50"})
    assert settings.geofence == GeofenceSettings(hysteresis_m=50.0, min_dwell_s=30.0)


def test_env_without_file_and_case_insensitive_names() -> None:
    """Variables override defaults without a file; names and logging values are case-insensitive."""
    settings = load_settings(
        None,
        env={
            "MONITOR_ZONES__FILE": "/srv/zones.geojson",
            "monitor_decode__dedup_window_s": "0",
            "MONITOR_LOGGING__LEVEL": "WARNING",
            "MONITOR_WATCHLISTS__IRAN__MIDS": "[422]",
        },
    )
    assert settings.zones == ZonesSettings(file=Path("/srv/zones.geojson"))
    assert settings.decode.dedup_window_s == 0.0
    assert settings.logging.level == "warning"
    assert settings.watchlists == {"iran": Watchlist(mids=[422])}


def test_only_monitor_variables_are_read() -> None:
    """Variables without the MONITOR_ prefix are ignored, even when they look like settings."""
    env = {"GEOFENCE__HYSTERESIS_M": "1", "HOME": "/home/operator", "PATH": "/bin"}
    settings = load_settings(None, env=env)
    assert settings == load_settings(None, env={})


def test_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an explicit mapping the process environment is used."""
    monkeypatch.setenv("MONITOR_GEOFENCE__MIN_DWELL_S", "12")
    assert load_settings(None).geofence.min_dwell_s == 12.0


def test_explicit_env_replaces_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """An explicit mapping is the whole environment: os.environ's MONITOR_ variables are not consulted."""
    monkeypatch.setenv("MONITOR_GEOFENCE__MIN_DWELL_S", "12")
    assert load_settings(None, env={}).geofence.min_dwell_s == 0.0


def test_example_file_loads_and_equals_defaults() -> None:
    """examples/monitor.toml documents every key with its default, so loading it changes nothing."""
    assert load_settings(EXAMPLE, env={}) == load_settings(None, env={})


def test_example_file_mentions_every_key() -> None:
    """Every settings key appears in the example file, so the documentation cannot fall behind the model."""
    text = EXAMPLE.read_text(encoding="utf-8")
    for section, field in Settings.model_fields.items():
        assert f"[{section}" in text, section
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
            for key in annotation.model_fields:
                # A plain key, or a nested table such as [posture.levels.NORMAL] / [[posture.rules]].
                assert f"{key} =" in text or f"[{section}.{key}" in text, f"{section}.{key}"
    for key in Watchlist.model_fields:
        assert f"{key} =" in text, f"watchlists.*.{key}"


def test_relative_zone_file_resolves_against_config_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative zones.file means the same file whatever directory the daemon is started from."""
    config_dir = tmp_path / "etc"
    config_dir.mkdir()
    path = _write(config_dir, '[zones]\nfile = "zones/strait.geojson"\n')
    monkeypatch.chdir(tmp_path)
    settings = load_settings(Path("etc") / "monitor.toml", env={})
    assert settings.zones.file == config_dir / "zones" / "strait.geojson"
    assert settings.zones.file is not None and settings.zones.file.is_absolute()
    assert load_settings(path, env={}).zones.file == config_dir / "zones" / "strait.geojson"


def test_absolute_zone_file_kept(tmp_path: Path) -> None:
    """An absolute zones.file is used as written."""
    target = tmp_path / "elsewhere" / "z.geojson"
    path = _write(tmp_path, f'[zones]\nfile = "{target.as_posix()}"\n')
    assert load_settings(path, env={}).zones.file == target


def test_missing_file(tmp_path: Path) -> None:
    """A config file that does not exist is a ConfigError naming the file, with the config exit code."""
    missing = tmp_path / "nope.toml"
    error = _error(missing)
    assert error.path == str(missing)
    assert "no such file" in error.problem
    assert error.exit_code == EXIT_CONFIG


def test_directory_instead_of_file(tmp_path: Path) -> None:
    """A directory given as the config file is refused with a clear reason."""
    error = _error(tmp_path)
    assert error.path == str(tmp_path)
    assert "directory" in error.problem


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file that cannot be read (here: permission denied) is a ConfigError naming why, not a traceback."""
    path = _write(tmp_path, "")

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    # Patched rather than chmod 0: CI runs as root, which reads any file regardless of permissions.
    monkeypatch.setattr(Path, "read_bytes", denied)
    error = _error(path)
    assert error.path == str(path)
    assert error.problem == "cannot read: Permission denied"


def test_toml_syntax_error(tmp_path: Path) -> None:
    """Broken TOML is reported with the parser's line and column."""
    path = _write(tmp_path, "[geofence\nhysteresis_m = 1\n")
    error = _error(path)
    assert error.path == str(path)
    assert "TOML" in error.problem and "line 1" in error.problem


def test_non_utf8_file(tmp_path: Path) -> None:
    """A file that is not UTF-8 text is refused rather than decoded wrongly."""
    path = tmp_path / "monitor.toml"
    path.write_bytes(b'[logging]\nlevel = "\xff"\n')
    assert "UTF-8" in _error(path).problem


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[mqtt]\nhost = 'x'\n", "mqtt.host"),
        ("[radar]\nhost = 'x'\n", "radar"),
        ("[geofence]\nhysteresis = 5\n", "geofence.hysteresis"),
        ("[watchlists.korea]\nmid = [440]\n", "watchlists.korea.mid"),
        ("verbose = true\n", "verbose"),
        ("_env_prefix = 'X_'\n", "_env_prefix"),
    ],
)
def test_unknown_keys_refused(tmp_path: Path, text: str, key: str) -> None:
    """A misspelt or unsupported key stops start-up, naming the key and listing the allowed ones."""
    error = _error(_write(tmp_path, text))
    assert error.problem.startswith(f"{key}: unknown key")
    assert "allowed:" in error.problem


@pytest.mark.parametrize(
    ("text", "key", "phrase"),
    [
        ("[geofence]\nhysteresis_m = -1\n", "geofence.hysteresis_m", "greater than or equal to 0"),
        ('[geofence]\nhysteresis_m = "far"\n', "geofence.hysteresis_m", "valid number"),
        ("[geofence]\nmin_dwell_s = -0.5\n", "geofence.min_dwell_s", "greater than or equal to 0"),
        ("[decode]\nfragment_timeout_s = 0\n", "decode.fragment_timeout_s", "greater than 0"),
        ("[decode]\nfragment_timeout_s = inf\n", "decode.fragment_timeout_s", "finite"),
        ("[decode]\ndedup_window_s = nan\n", "decode.dedup_window_s", "finite"),
        ("[watchlists.x]\nmids = [199]\n", "watchlists.x.mids.0", "greater than or equal to 200"),
        ("[watchlists.x]\nmids = [800]\n", "watchlists.x.mids.0", "less than or equal to 799"),
        ("[watchlists.x]\nmmsis = [12345]\n", "watchlists.x.mmsis.0", "greater than or equal to 100000000"),
        ("[watchlists.x]\nmids = 440\n", "watchlists.x.mids", "valid list"),
        ("[watchlists.Korea]\nmids = [440]\n", "watchlists.Korea", "pattern"),
        ('[logging]\nlevel = "verbose"\n', "logging.level", "'debug'"),
        ('[logging]\nformat = "xml"\n', "logging.format", "'json'"),
        ("geofence = 5\n", "geofence", "table"),
        ('[zones]\nfile = ""\n', "zones.file", "must not be empty"),
    ],
)
def test_bad_values_refused(tmp_path: Path, text: str, key: str, phrase: str) -> None:
    """Wrong types and out-of-range values are refused with the key path and the reason."""
    path = _write(tmp_path, text)
    error = _error(path)
    assert error.path == str(path)
    assert error.problem.startswith(f"{key}"), error.problem
    assert phrase in error.problem, error.problem


def test_several_errors_summarised_on_one_line(tmp_path: Path) -> None:
    """Several problems give one line: the first in full and how many more there are."""
    error = _error(_write(tmp_path, "[geofence]\nhysteresis_m = -1\nmin_dwell_s = -1\n"))
    assert error.problem.endswith("(and 1 more)")


@pytest.mark.parametrize(
    ("env", "variable", "phrase"),
    [
        ({"MONITOR_GEOFENCE__HYSTERESIS_M": "-5"}, "MONITOR_GEOFENCE__HYSTERESIS_M", "greater than or equal"),
        (
            {"monitor_decode__fragment_timeout_s": "soon"},
            "monitor_decode__fragment_timeout_s",
            "valid number",
        ),
        ({"MONITOR_GEOFENCE__BOGUS": "1"}, "MONITOR_GEOFENCE__BOGUS", "unknown key"),
        ({"MONITOR_BOGUS": "1"}, "MONITOR_BOGUS", "unknown setting"),
        ({"MONITOR_GEOFENCE_HYSTERESIS_M": "5"}, "MONITOR_GEOFENCE_HYSTERESIS_M", "unknown setting"),
        (
            {"MONITOR_WATCHLISTS__X__MIDS": "[1]"},
            "MONITOR_WATCHLISTS__X__MIDS",
            "greater than or equal to 200",
        ),
        ({"MONITOR_WATCHLISTS__X__MIDS": "[440"}, "MONITOR_WATCHLISTS__X__MIDS", "JSON"),
        ({"MONITOR_DECODE": '{"fragment_timeout_s": 0}'}, "MONITOR_DECODE", "greater than 0"),
        ({"MONITOR_LOGGING__LEVEL": "loud"}, "MONITOR_LOGGING__LEVEL", "'debug'"),
    ],
)
def test_env_errors_name_the_variable(
    tmp_path: Path, env: dict[str, str], variable: str, phrase: str
) -> None:
    """A bad variable is reported by its name (not the config file), so the operator knows what to fix."""
    path = _write(tmp_path, "[geofence]\nhysteresis_m = 10\n")
    error = _error(path, env)
    assert error.path == "environment"
    assert error.problem.startswith(variable), error.problem
    assert phrase in error.problem, error.problem


def test_toml_error_not_blamed_on_env(tmp_path: Path) -> None:
    """A bad key in the file is reported against the file even when variables set the same section."""
    path = _write(tmp_path, "[geofence]\nmin_dwell_s = -1\n")
    error = _error(path, {"MONITOR_GEOFENCE__HYSTERESIS_M": "10"})
    assert error.path == str(path)
    assert error.problem.startswith("geofence.min_dwell_s:")
