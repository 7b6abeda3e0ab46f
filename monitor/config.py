"""Settings: a TOML file plus `MONITOR_*` environment overrides, validated once into a frozen model.

Two steps, as uvicorn's `Config.load()`: `load_settings()` reads and validates everything before any
input is processed, and every problem becomes one `ConfigError` line naming the key (or the environment
variable) so the command line can print it and exit with EXIT_CONFIG (3); systemd's
`RestartPreventExitStatus=3` then stops a restart loop on a bad file.

Priority, highest first: environment (`MONITOR_SECTION__KEY=value`), the TOML file, the defaults below.
Unknown keys are refused everywhere (`extra="forbid"`): a misspelt key silently ignored is a setting the
operator believes is in force but is not.

To add a section later ([mqtt], [http], ...): write a frozen `_Section` subclass and add one field to
`Settings` with a default instance; the loader, the env mapping and the error messages need no change.
"""

from __future__ import annotations

import contextvars
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)
from pydantic_settings.sources.utils import parse_env_vars

from monitor.detectors import (
    DETECTOR_KINDS,
    KINDS,
    CorridorSettings,
    DetectorSettings,
    InterferenceSettings,
    RosterSettings,
    TrafficSettings,
    severities,
)
from monitor.errors import ConfigError
from monitor.levels import LEVELS, Level, Severity
from monitor.settings_base import Seconds, Section
from monitor.sinks.settings import SinkList
from monitor.watchlists import WatchEntry, imo_valid, read_watchlist_file

__all__ = [
    "ENV_PREFIX",
    "LEVELS",
    "CorridorSettings",
    "DecodeSettings",
    "DetectorSettings",
    "EscalationRule",
    "FeedSettings",
    "GeofenceSettings",
    "HttpSettings",
    "InterferenceSettings",
    "LevelSettings",
    "LoggingSettings",
    "MqttSettings",
    "OutboxSettings",
    "PostureSettings",
    "RosterSettings",
    "ServiceSettings",
    "Settings",
    "StateSettings",
    "TrafficSettings",
    "Watchlist",
    "ZonesSettings",
    "load_settings",
]

ENV_PREFIX = "MONITOR_"
ENV_NESTED_DELIMITER = "__"
_ENV_ORIGIN = "environment"  # ConfigError.path for problems that come from a variable, not a file


_Section = Section
_Seconds = Seconds
_Mid = Annotated[int, Field(ge=200, le=799)]
_Mmsi = Annotated[int, Field(ge=100_000_000, le=999_999_999)]
# Watchlist names appear in alerts (`vessel.watch`) and in variable names, where case is folded.
_WatchlistName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")]


class ZonesSettings(_Section):
    """[zones]: which zone file defines the straits, lanes, ports and land."""

    file: Path | None = None  # None (and no `files`) = the packaged default (zones/hormuz.geojson)
    # Further chokepoints watched by the same daemon, each its own zone file (ids unique across them).
    files: list[Path] = Field(default_factory=list)

    @field_validator("file", mode="before")
    @classmethod
    def _not_empty(cls, value: object) -> object:
        # Path("") is ".", which would fail later with a confusing "is a directory".
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be empty; leave it unset for the packaged default zone file")
        return value

    @field_validator("files", mode="before")
    @classmethod
    def _none_empty(cls, value: object) -> object:
        if isinstance(value, list) and any(isinstance(v, str) and not v.strip() for v in value):
            raise ValueError("a zone file path must not be empty")
        return value

    def paths(self) -> list[Path] | None:
        """The zone files to load, `file` first; None for the packaged default."""
        given = ([self.file] if self.file is not None else []) + list(self.files)
        return given or None


class DecodeSettings(_Section):
    """[decode]: NMEA reassembly and de-duplication."""

    # A multi-fragment message whose fragments are further apart than this is dropped, so a stale
    # fragment is never joined to a later, unrelated message.
    fragment_timeout_s: _Seconds = Field(default=10.0, gt=0)
    # The same sentence heard by several receivers within this window counts once; 0 disables.
    dedup_window_s: _Seconds = Field(default=10.0, ge=0)


class ClockSettings(_Section):
    """[clock]: each feed's clock, and how far a line's time may stray from it (README, "Clocks")."""

    # A timed line further ahead of its feed's clock than this is held back, and refused (future_time)
    # unless the lines after it confirm the jump. Live, the feed's clock moves on with the wall clock
    # between lines. 0: no guard (a collection of example lines, days apart).
    max_ahead_s: _Seconds = Field(default=3600.0, ge=0)
    # The same for a line this far behind its feed's clock (past_time). Satellite feeds relay late.
    max_behind_s: _Seconds = Field(default=21_600.0, ge=0)
    # This many off-clock lines in a row that agree with each other are a real jump (a gap in a
    # recording, a receiver reset): the feed's clock moves to them and none of them is lost.
    confirm_lines: int = Field(default=3, ge=1, le=1000)
    # A feed that delivers nothing at all for this long is down (its receiver, the link), not a sea
    # where every vessel went dark at once: its clock stops moving with the wall clock, and once it is
    # back, the vessels it watched get their full `dark` limit again before they count as dark.
    outage_s: _Seconds = Field(default=600.0, gt=0)


class GeofenceSettings(_Section):
    """[geofence]: when a position change counts as entering or leaving a zone."""

    # Tolerance band: a vessel inside a zone counts as having left it only once it is more than this many
    # metres outside the zone boundary, so GNSS jitter along a boundary does not flap enter/exit.
    hysteresis_m: float = Field(default=150.0, ge=0, allow_inf_nan=False)
    # Minimum time a vessel must stay in a zone before the enter counts: a second guard against
    # jitter; 0 disables.
    min_dwell_s: _Seconds = Field(default=0.0, ge=0)


def _check_imo(imo: int) -> int:
    if not imo_valid(imo):
        raise ValueError(f"IMO number {imo} is not 7 digits with a valid check digit")
    return imo


_Imo = Annotated[int, AfterValidator(_check_imo)]


class Watchlist(_Section):
    """[watchlists.NAME]: vessels whose alerts are raised to at least `warning` and tagged NAME
    (matched by monitor.watchlists: IMO number first, then MMSI, then MID)."""

    mids: list[_Mid] = Field(default_factory=list)  # every vessel whose MMSI carries one of these MIDs
    mmsis: list[_Mmsi] = Field(default_factory=list)  # individual vessels
    imos: list[_Imo] = Field(default_factory=list)  # individual ships, whatever MMSI or flag they use
    # A CSV file of ships (monitor.watchlists.COLUMNS), relative to the config file like zones.file.
    file: str | None = None
    roster: bool = False  # its vessels form the roster (CONTRACT "Roster")
    # The file's rows, read and checked here so a bad row is refused at load (exit 3, or a refused
    # SIGHUP reload) and never half-way through a run. Private: not a key of the TOML table.
    _entries: tuple[WatchEntry, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _read_file(self) -> Watchlist:
        if self.file is not None and self.file.strip():
            # ConfigError, not ValueError: it names the CSV file and line, not the TOML key.
            self._entries = read_watchlist_file(self.file)
        return self

    @property
    def entries(self) -> tuple[WatchEntry, ...]:
        return self._entries


class LoggingSettings(_Section):
    """[logging]: structlog level and renderer (see monitor.log)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"

    @field_validator("level", "format", mode="before")
    @classmethod
    def _fold_case(cls, value: object) -> object:
        # `MONITOR_LOGGING__LEVEL=INFO` is what operators type; accept it rather than fail start-up.
        return value.lower() if isinstance(value, str) else value


def _severity_table(value: object) -> object:
    """[posture.levels.LEVEL.severity]: a severity for alert kinds (monitor.detectors.KINDS); an unknown
    kind is refused, naming the known ones."""
    if isinstance(value, dict):
        unknown = sorted(str(k) for k in value if k not in KINDS)
        if unknown:
            raise ValueError(f"unknown alert kind {unknown[0]!r} (kinds: {', '.join(KINDS)})")
    return value


class LevelSettings(_Section):
    """[posture.levels.LEVEL]: the limits in force at one posture level, and its severities.

    "strait" limits apply in the strait, its TSS lanes and separation zone; "region" limits elsewhere
    in a region (Persian Gulf, Gulf of Oman). Defaults follow Global Fishing Watch's published
    definitions, tightened for a chokepoint with dense coastal AIS coverage (README, Detectors).
    """

    dark_strait_s: _Seconds = Field(default=2700.0, gt=0)  # silence before `dark`, strait/lanes
    dark_region_s: _Seconds = Field(default=7200.0, gt=0)  # silence before `dark`, a region
    # ... a watched vessel at sea between chokepoints, on its route (monitor.detectors.voyage)
    dark_route_s: _Seconds = Field(default=21600.0, gt=0)
    loiter_strait_s: _Seconds = Field(default=3600.0, gt=0)  # slow and within the radius, strait/lanes
    loiter_region_s: _Seconds = Field(default=14400.0, gt=0)  # the same in a region
    encounter_s: _Seconds = Field(default=3600.0, gt=0)  # two slow vessels close together
    # The severity of each alert kind at this level: every kind, the defaults each detector declares
    # (monitor.detectors) laid under what the file gives.
    severity: dict[str, Severity] = Field(default_factory=lambda: severities("NORMAL"))

    @field_validator("severity", mode="before")
    @classmethod
    def _known_kinds(cls, value: object) -> object:
        return _severity_table(value)


def _level_defaults() -> dict[str, dict[str, Any]]:
    """The default table (issue 3): limits per level, and severities rising with the posture (each
    detector declares its kinds' severities: monitor.detectors)."""
    return {
        "NORMAL": {"dark_strait_s": 2700, "dark_region_s": 7200, "dark_route_s": 21600,
                   "loiter_strait_s": 3600, "loiter_region_s": 14400, "encounter_s": 3600,
                   "severity": severities("NORMAL")},
        "ELEVATED": {"dark_strait_s": 1800, "dark_region_s": 5400, "dark_route_s": 14400,
                     "loiter_strait_s": 2700, "loiter_region_s": 10800, "encounter_s": 2700,
                     "severity": severities("ELEVATED")},
        "HIGH": {"dark_strait_s": 1200, "dark_region_s": 3600, "dark_route_s": 10800,
                 "loiter_strait_s": 1800, "loiter_region_s": 7200, "encounter_s": 1800,
                 "severity": severities("HIGH")},
        "CRITICAL": {"dark_strait_s": 600, "dark_region_s": 1800, "dark_route_s": 7200,
                     "loiter_strait_s": 1200, "loiter_region_s": 3600, "encounter_s": 900,
                     "severity": severities("CRITICAL")},
    }


class LevelsTable(_Section):
    """[posture.levels]: one LevelSettings per level. A level's table given in the file is laid over
    that level's defaults (not NORMAL's), so `[posture.levels.HIGH] dark_strait_s = 900` changes only
    that one limit. Level names are case-insensitive."""

    NORMAL: LevelSettings = LevelSettings(**_level_defaults()["NORMAL"])
    ELEVATED: LevelSettings = LevelSettings(**_level_defaults()["ELEVATED"])
    HIGH: LevelSettings = LevelSettings(**_level_defaults()["HIGH"])
    CRITICAL: LevelSettings = LevelSettings(**_level_defaults()["CRITICAL"])

    @model_validator(mode="before")
    @classmethod
    def _over_defaults(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        defaults = _level_defaults()
        out: dict[str, Any] = {}
        for key, given in value.items():
            level = str(key).upper()
            if level not in defaults or not isinstance(given, dict):
                out[key] = given  # let validation name the unknown level or the wrong type
                continue
            merged = dict(defaults[level])
            merged.update({k: v for k, v in given.items() if k != "severity"})
            if isinstance(given.get("severity"), dict):
                merged["severity"] = {**defaults[level]["severity"], **given["severity"]}
            elif "severity" in given:
                merged["severity"] = given["severity"]
            out[level] = merged
        return out

    def of(self, level: str) -> LevelSettings:
        result: LevelSettings = getattr(self, level)
        return result


def _default_rule_kinds() -> list[str]:
    return ["on_land", "position_jump"]


class EscalationRule(_Section):
    """[[posture.rules]]: raise the posture when alerts of `kinds` come from at least `min_vessels`
    distinct vessels within `window_s` and `radius_km` of each other; fall back to the operator's
    level after `quiet_s` without such a cluster."""

    name: str = Field(default="gnss-interference", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    kinds: list[str] = Field(default_factory=_default_rule_kinds, min_length=1)
    min_vessels: int = Field(default=5, ge=1)
    window_s: _Seconds = Field(default=1800.0, gt=0)
    radius_km: _Seconds = Field(default=50.0, gt=0)
    raise_to: Level = "ELEVATED"
    quiet_s: _Seconds = Field(default=7200.0, gt=0)

    @field_validator("kinds")
    @classmethod
    def _detector_kinds(cls, value: list[str]) -> list[str]:
        # The kinds of the detectors (monitor.detectors): alerts about one vessel, with a position.
        for kind in value:
            if kind not in DETECTOR_KINDS:
                raise ValueError(f"unknown kind {kind!r} (a rule counts: {', '.join(DETECTOR_KINDS)})")
        return value


def _traffic_drop_rule() -> EscalationRule:
    """The default rule on a strait's traffic drop (issue 12): one drop raises the posture to ELEVATED.
    The traffic detector feeds it again at every closed period still down, so the level holds for the
    whole episode and falls back a day after the last period below the threshold."""
    return EscalationRule(name="traffic-drop", kinds=["traffic_drop"], min_vessels=1, window_s=86_400.0,
                          radius_km=50.0, raise_to="ELEVATED", quiet_s=86_400.0)


def _interference_rule() -> EscalationRule:
    """The default rule on a GNSS interference area (issue 13): an area with 5 vessels affected raises the
    posture to ELEVATED, its reason naming the area (the same five as `gnss-interference`, so an area of
    four ships raises nothing four ships on land would not). The interference detector feeds it the
    area's vessels at every judgement while the area is open (each minute), so the level holds until the
    area is cleared and falls back 10 min later. `gnss-interference` stays: it raises at the fifth alert
    itself, and on a cluster too brief for an area."""
    return EscalationRule(name="interference-area", kinds=["interference"], min_vessels=5, window_s=600.0,
                          radius_km=50.0, raise_to="ELEVATED", quiet_s=600.0)


class PostureSettings(_Section):
    """[posture]: the operator's level at start, the per-level table, and the escalation rules."""

    level: Level = "NORMAL"
    levels: LevelsTable = LevelsTable()
    rules: list[EscalationRule] = Field(
        default_factory=lambda: [EscalationRule(), _traffic_drop_rule(), _interference_rule()]
    )

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


# [detectors]: DetectorSettings, composed of the detectors' own sections (monitor.detectors).

class MqttSettings(_Section):
    """[mqtt]: the broker alerts are published to (`run`, `replay --publish`)."""

    # false: `run` publishes nothing and needs no broker (`make live`, a desk that only uses the HTTP
    # API); alerts are still kept and listed over HTTP, but not queued in the outbox. An `mqtt` feed
    # still reads from `url`.
    enabled: bool = True
    url: str = Field(default="mqtt://127.0.0.1:1883", pattern=r"^mqtts?://[^/:]+(:\d+)?/?$")
    prefix: str = Field(default="chokepoint", pattern=r"^[^#+]+$")  # topics are {prefix}/alerts/...
    client_id: str = ""  # empty: chokepoint-monitor-<hostname>
    username: str = ""
    password: SecretStr = SecretStr("")  # prefer MONITOR_MQTT__PASSWORD to a file
    ca_file: Path | None = None  # CA bundle for mqtts:// (None: the system's)
    tls_insecure: bool = False  # skip the broker certificate's host name check (testing only)
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    publish_timeout_s: _Seconds = Field(default=10.0, gt=0)  # a PUBACK not back by then: reconnect


class OutboxSettings(_Section):
    """[outbox]: alerts are written here before they are sent and removed only on PUBACK."""

    max_alerts: int = Field(default=1_000_000, ge=100)  # when full, the oldest alerts are dropped
    # While the state database cannot be written (disk full, read-only, I/O error), alerts are kept in
    # memory up to this many (about 1 KB each; beyond it the oldest are dropped and counted) and written,
    # then published, once a retry every `retry_s` seconds succeeds.
    max_held_alerts: int = Field(default=20_000, ge=100, le=1_000_000)
    retry_s: _Seconds = Field(default=5.0, ge=0.5, le=3600)


class StateSettings(_Section):
    """[state]: where the outbox and the engine's state live (systemd's StateDirectory)."""

    # None: $STATE_DIRECTORY (set by systemd's StateDirectory=), else ./state
    directory: Path | None = None
    # A vessel silent this long on the feed clock is forgotten (its state dropped, here and in memory),
    # so months of a global feed, junk MMSIs included, cannot grow the daemon without bound. Heard again,
    # it is a new vessel (zone_enter with first_seen, no `reappeared`). 0: never forget.
    forget_after_s: _Seconds = Field(default=30 * 86_400.0, ge=0)
    # A cap on the vessels kept, so a flood of junk MMSIs cannot push the daemon over its memory limit
    # (the unit's MemoryMax=1G; about 2 KB a vessel). Past it, a tenth below the cap is dropped: vessels
    # heard once and never again first, then those silent longest. 0: no cap.
    max_vessels: int = Field(default=200_000, ge=0)


class HttpSettings(_Section):
    """[http]: the HTTP API: health, metrics, vessels, alerts, zones, posture."""

    enabled: bool = True
    listen: str = "127.0.0.1"  # loopback by default: put a reverse proxy in front to expose it
    port: int = Field(default=8080, ge=0, le=65535)  # 0: any free port (tests)
    token: SecretStr = SecretStr("")  # bearer token for PUT /api/posture; empty refuses every PUT
    recent_alerts: int = Field(default=10_000, ge=0)  # alerts kept in memory for /api/alerts
    # A connection that has not sent a complete request head this long after it opened or after its last
    # response is closed: bounds slow-header (slowloris) and idle keep-alive clients. Live streams are
    # not idle while they stream.
    idle_timeout_s: _Seconds = Field(default=15.0, gt=0, le=3600)
    # Connections at once (live streams included); one more is answered 503 and closed. Keep it under the
    # unit's LimitNOFILE, with room for the feeds, the broker and the state files.
    max_connections: int = Field(default=1024, ge=1)
    # GET /api/vessels pages: the size of a page without `limit`, the largest `limit` accepted (a larger
    # one is a 400), and how many vessels one request may look at before it answers with what it found
    # and a cursor (filters that match few vessels), so no request holds the daemon long.
    vessels_page_size: int = Field(default=500, ge=1)
    vessels_page_max: int = Field(default=5000, ge=1)
    vessels_scan_max: int = Field(default=20_000, ge=1)
    # GET /api/vessels/{mmsi}/track and the map page's track: each vessel's last `track_points` trusted
    # fixes, one every `track_interval_s` at most (12 bytes a fix: 36 MB for 50,000 vessels at 60).
    track_points: int = Field(default=60, ge=0, le=10_000)
    track_interval_s: _Seconds = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _pages_in_order(self) -> HttpSettings:
        if not self.vessels_page_size <= self.vessels_page_max <= self.vessels_scan_max:
            raise ValueError(
                "vessels_page_size <= vessels_page_max <= vessels_scan_max must hold, got "
                f"{self.vessels_page_size}, {self.vessels_page_max}, {self.vessels_scan_max}"
            )
        return self


FeedType = Literal["tcp", "tcp_server", "udp", "aisstream", "mqtt", "file", "gpsd", "http"]
# What a feed's lines or payloads hold: NMEA sentences, or AIS-catcher's JSON (JSON_NMEA / JSON_FULL:
# one object per line or payload, its `nmea` array the sentences; monitor.aiscatcher).
FeedFormat = Literal["nmea", "aiscatcher_json"]
_JSON_FEED_TYPES: Final = frozenset({"tcp", "tcp_server", "udp", "mqtt", "http"})


class FeedSettings(_Section):
    """[[feeds]]: one live input. Any number at once, each reconnecting on its own."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")  # in logs and metrics
    type: FeedType
    # tcp, gpsd: the receiver (gpsd) to connect to; tcp_server, udp, http: the address to listen on
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)  # gpsd: 0 means gpsd's port, 2947
    url: str = "wss://stream.aisstream.io/v0/stream"  # aisstream
    api_key: SecretStr = SecretStr("")  # aisstream; empty: $AISSTREAM_API_KEY
    topic: str = "ais/nmea"  # mqtt: input topic carrying NMEA lines (on the [mqtt] broker)
    format: FeedFormat = "nmea"  # tcp, tcp_server, udp, mqtt, http: "aiscatcher_json" for AIS-catcher JSON
    stall_s: _Seconds = Field(default=120.0, gt=0)  # nothing received this long: reported as stalled
    reconnect_max_s: _Seconds = Field(default=60.0, gt=0)  # cap of the jittered reconnect backoff
    # file: a recording (plain or .gz) streamed as if live, relative to the config file; `speed` times
    # real time, paced by its lines' tag-block times; `loop`: played again and again (monitor.filefeed).
    path: Path | None = None
    speed: float = Field(default=1.0, gt=0, le=1_000_000, allow_inf_nan=False)
    loop: bool = False

    @field_validator("path")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        # Checked at start (exit 3 naming the key), not found missing by the feed minutes later.
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}" if not value.exists() else f"not a file: {value}")
        if value is not None and not os.access(value, os.R_OK):
            raise ValueError(f"cannot read: {value}")
        return value

    @model_validator(mode="after")
    def _file_needs_path(self) -> FeedSettings:
        if self.type == "file" and self.path is None:
            raise ValueError("a feed of type \"file\" needs `path`, the recording to stream")
        if self.format != "nmea" and self.type not in _JSON_FEED_TYPES:
            raise ValueError(f"format {self.format!r} is for feeds of type "
                             f"{', '.join(sorted(_JSON_FEED_TYPES))}, not {self.type!r}")
        return self


class ServiceSettings(_Section):
    """[service]: the daemon's batching and shutdown."""

    batch_max_lines: int = Field(default=2048, ge=1)  # a batch is processed at this size ...
    batch_max_delay_ms: _Seconds = Field(default=2.0, ge=0)  # ... or this long after its first line
    queue_max_lines: int = Field(default=200_000, ge=1000)  # bounded input queue; when full, drop newest
    shutdown_timeout_s: _Seconds = Field(default=10.0, gt=0)  # drain and flush deadline on SIGTERM
    # /readyz is false while no feed has delivered a line for this long (counted from the start); 0: off.
    ready_silence_s: _Seconds = Field(default=900.0, ge=0)


def _default_watchlists() -> dict[str, Watchlist]:
    # CONTRACT.md: the default configuration watches vessels flagged in South Korea.
    # Its vessels form the roster (the desk's people-and-ships picture of Korean crews).
    return {"korea": Watchlist(mids=[440, 441], roster=True)}


# The environment to read while one `load_settings` call builds its Settings; None means os.environ.
# A ContextVar rather than a class attribute so concurrent loads (threads, tests) cannot see each other's.
_environ: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "monitor_config_environ", default=None
)


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' env source, reading the mapping given to `load_settings` instead of os.environ."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = _environ.get()
        if environ is None:
            environ = os.environ
        return parse_env_vars(environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


class Settings(BaseSettings):
    """The whole configuration. Build it with `load_settings`; direct `Settings()` gives the defaults
    plus os.environ overrides."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        case_sensitive=False,
        # An empty variable is a value (and then usually refused), not "unset": ignoring it would hide
        # the operator's mistake.
        env_ignore_empty=False,
    )

    zones: ZonesSettings = ZonesSettings()
    decode: DecodeSettings = DecodeSettings()
    clock: ClockSettings = ClockSettings()
    geofence: GeofenceSettings = GeofenceSettings()
    # Defining any [watchlists.NAME] replaces this default set (keep [watchlists.korea] to keep it).
    watchlists: dict[_WatchlistName, Watchlist] = Field(default_factory=_default_watchlists)
    logging: LoggingSettings = LoggingSettings()
    posture: PostureSettings = PostureSettings()
    detectors: DetectorSettings = DetectorSettings()
    corridor: CorridorSettings = CorridorSettings()
    traffic: TrafficSettings = TrafficSettings()
    interference: InterferenceSettings = InterferenceSettings()
    roster: RosterSettings = RosterSettings()
    mqtt: MqttSettings = MqttSettings()
    outbox: OutboxSettings = OutboxSettings()
    state: StateSettings = StateSettings()
    http: HttpSettings = HttpSettings()
    service: ServiceSettings = ServiceSettings()
    feeds: list[FeedSettings] = []
    # [[sinks]]: webhook and Cursor-on-Target outputs, each with its own durable queue (monitor.sinks).
    sinks: SinkList = []

    @model_validator(mode="after")
    def _unique_feed_names(self) -> Settings:
        names = [f.name for f in self.feeds]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"feeds: duplicate feed name {dup[0]!r}")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file arrives as init kwargs; the environment must override it, so it comes first.
        # No .env file and no secrets directory: a daemon's configuration lives in one visible place.
        return (_MappingEnvSource(settings_cls), init_settings)


def load_settings(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Read the TOML file at `path` (None: defaults only), apply `MONITOR_*` overrides from `env`
    (default os.environ), validate, and return the frozen Settings.

    A relative `zones.file` in the TOML file is resolved against the file's directory, so a config
    file and its zone file can move together. Every problem raises `ConfigError` with one line.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    ours = {name: value for name, value in environ.items() if name.upper().startswith(ENV_PREFIX)}
    _check_env_names(ours)
    origin = os.fspath(path) if path is not None else _ENV_ORIGIN
    data = _read_toml(Path(origin)) if path is not None else {}
    try:
        with _using_environ(ours):
            return Settings(**data)
    except ValidationError as exc:
        raise _config_error(exc, origin, ours) from exc
    except SettingsError as exc:  # a variable for a list or table value that is not valid JSON
        raise _json_error(exc, ours) from exc


@contextmanager
def _using_environ(environ: Mapping[str, str]) -> Iterator[None]:
    token = _environ.set(environ)
    try:
        yield
    finally:
        _environ.reset(token)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(str(path), "no such file") from exc
    except IsADirectoryError as exc:
        raise ConfigError(str(path), "is a directory, not a TOML file") from exc
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), f"not UTF-8 text (byte {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"TOML syntax error: {exc}") from exc
    for key in data:
        if key.startswith("_"):
            # Settings(**data) would take these as pydantic-settings' own init options (_env_prefix, ...).
            allowed = ", ".join(sorted(Settings.model_fields))
            raise ConfigError(str(path), f"{key}: unknown key (allowed: {allowed})")
    zones = data.get("zones")
    if isinstance(zones, dict) and isinstance(zones.get("file"), str) and zones["file"].strip():
        zone_file = Path(zones["file"]).expanduser()
        if not zone_file.is_absolute():
            # Relative to the config file, not to wherever the daemon happens to be started from.
            # abspath, not resolve(): a config symlinked into /etc/ keeps its zone file beside the link.
            zones["file"] = os.path.join(os.path.dirname(os.path.abspath(path)), zone_file)
    if isinstance(zones, dict) and isinstance(zones.get("files"), list):
        zones["files"] = [
            os.path.join(os.path.dirname(os.path.abspath(path)), Path(f).expanduser())
            if isinstance(f, str) and f.strip() and not Path(f).expanduser().is_absolute() else f
            for f in zones["files"]
        ]
    watchlists = data.get("watchlists")
    for table in watchlists.values() if isinstance(watchlists, dict) else ():
        # A watchlist file too, like the zone file.
        if isinstance(table, dict) and isinstance(table.get("file"), str) and table["file"].strip():
            listed = Path(table["file"]).expanduser()
            if not listed.is_absolute():
                table["file"] = os.path.join(os.path.dirname(os.path.abspath(path)), listed)
    feeds = data.get("feeds")
    for feed in feeds if isinstance(feeds, list) else ():
        # A file feed's recording too, like the zone file.
        if isinstance(feed, dict) and isinstance(feed.get("path"), str) and feed["path"].strip():
            recording = Path(feed["path"]).expanduser()
            if not recording.is_absolute():
                feed["path"] = os.path.join(os.path.dirname(os.path.abspath(path)), recording)
    return data


def _section_of(variable: str) -> str:
    return variable[len(ENV_PREFIX) :].split(ENV_NESTED_DELIMITER, 1)[0].lower()


def _check_env_names(ours: Mapping[str, str]) -> None:
    """Refuse a MONITOR_ variable naming no section: pydantic-settings would silently ignore it."""
    sections = sorted(Settings.model_fields)
    for name in sorted(ours):
        if _section_of(name) not in sections:
            raise ConfigError(
                _ENV_ORIGIN,
                f"{name}: unknown setting (variables are {ENV_PREFIX}<SECTION>{ENV_NESTED_DELIMITER}<KEY>,"
                f" sections: {', '.join(sections)})",
            )


def _config_error(exc: ValidationError, origin: str, ours: Mapping[str, str]) -> ConfigError:
    """Turn pydantic's multi-line report into one line naming the key, and the variable if it came
    from the environment."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = tuple(str(part) for part in first["loc"])
    key = ".".join(loc) or "(top level)"
    problem = f"{key}: {_describe(first)}"
    if len(errors) > 1:
        problem += f" (and {len(errors) - 1} more)"
    variable = _variable_for(loc, ours)
    if variable is not None:
        return ConfigError(_ENV_ORIGIN, f"{variable} ({problem})")
    return ConfigError(origin, problem)


def _json_error(exc: SettingsError, ours: Mapping[str, str]) -> ConfigError:
    # pydantic-settings names only the field ("error parsing value for field "watchlists" ..."):
    # name the variables of that section instead, and the JSON problem it chained.
    match = re.search(r'field "([^"]+)"', str(exc))
    section = match.group(1) if match else ""
    names = [name for name in sorted(ours) if _section_of(name) == section] or [ENV_PREFIX + section.upper()]
    detail = f": {exc.__cause__}" if exc.__cause__ is not None else ""
    return ConfigError(_ENV_ORIGIN, f"{' or '.join(names)}: a list or table value must be JSON{detail}")


_TABLE_ERRORS = frozenset({"model_type", "model_attributes_type", "dict_type"})


def _describe(error: ErrorDetails) -> str:
    loc = tuple(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        return f"unknown key (allowed: {', '.join(allowed)})" if allowed else "unknown key"
    if error["type"] in _TABLE_ERRORS:
        return "should be a table of settings"  # pydantic's text names Python classes
    return error["msg"]


def _allowed_keys(parent: tuple[str, ...]) -> list[str]:
    """The keys the section at `parent` accepts, for the unknown-key message; [] if not a model."""
    model: type[BaseModel] = Settings
    annotation: Any = None
    for part in parent:
        if annotation is not None and getattr(annotation, "__origin__", None) is dict:
            annotation = annotation.__args__[1]  # a watchlist name: step into its value type
        else:
            field = model.model_fields.get(part)
            if field is None:
                return []
            annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model, annotation = annotation, None
    if annotation is not None:
        return []
    return sorted(model.model_fields)


def _variable_for(loc: tuple[str, ...], ours: Mapping[str, str]) -> str | None:
    """The variable that supplied the value at `loc`: the longest MONITOR_A__B prefix of the key path
    that is set (a whole section can be given as JSON in MONITOR_SECTION). Case-insensitive."""
    by_upper = {name.upper(): name for name in ours}
    for length in range(len(loc), 0, -1):
        candidate = ENV_PREFIX + ENV_NESTED_DELIMITER.join(loc[:length]).upper()
        if candidate in by_upper:
            return by_upper[candidate]
    return None
