"""The daemon object (monitor.service.Service) without its event loop: the operator's posture command as it
arrives on MQTT, where the state directory is, and alerts held while the state database cannot be written
(then written, oldest dropped beyond the bound). What is on disk is read with a sqlite3 connection of the
test's own."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from monitor.config import OutboxSettings, Settings, StateSettings
from monitor.service import MAX_REASON, Service, parse_posture_command, state_directory
from monitor.store import DB_NAME, Store
from monitor.zones import load_zone_file
from tests.helpers import write_zones


class _Notifier:
    """Records sd_notify messages (the real notifier, without NOTIFY_SOCKET, leaves a socket unclosed)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def notify(self, state: str) -> None:
        self.sent.append(state)


@pytest.fixture(autouse=True)
def _no_sdnotify(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("monitor.service.sdnotify.SystemdNotifier", _Notifier)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """The real daemon object on a real store in tmp_path/state, not running (no feeds, no broker)."""
    settings = Settings(state=StateSettings(directory=tmp_path / "state"),
                        outbox=OutboxSettings(max_held_alerts=100))
    svc = Service(settings, load_zone_file(write_zones(tmp_path / "z.geojson")), config_path=None)
    svc.store = Store(tmp_path / "state")
    svc.store._db.execute("PRAGMA busy_timeout = 50")  # a locked database fails at once, not after 5 s
    yield svc
    svc.store.close()


def queued(directory: Path) -> list[dict[str, object]]:
    """The alerts in the outbox on disk, oldest first, as JSON objects."""
    db = sqlite3.connect(directory / DB_NAME)
    try:
        return [json.loads(p) for (p,) in db.execute("SELECT payload FROM outbox ORDER BY seq")]
    finally:
        db.close()


# ---- posture/set payloads ------------------------------------------------------------------------------

def test_a_posture_command_gives_the_level_upper_case_and_the_reason() -> None:
    """{"level", "reason"}: the level in any case, the reason optional (empty when absent)."""
    assert parse_posture_command(b'{"level": "high", "reason": "drill"}') == ("HIGH", "drill", None)
    assert parse_posture_command(b'{"level": "Critical"}') == ("CRITICAL", "", None)
    assert parse_posture_command(json.dumps({"level": "normal", "reason": "x" * MAX_REASON}).encode()) == (
        "NORMAL", "x" * MAX_REASON, None)


def test_a_posture_command_may_carry_the_time_it_was_given() -> None:
    """`time` (ISO 8601 with its offset, or unix seconds) near the daemon's clock stamps the change, so
    the two daemons of a redundant pair raise the same posture_change id."""
    now = 1_790_000_000.0
    assert parse_posture_command(b'{"level": "HIGH", "time": "2026-09-21T14:13:20Z"}', now) == (
        "HIGH", "", 1_790_000_000.0)
    assert parse_posture_command(b'{"level": "HIGH", "time": 1790000120.5}', now)[2] == 1_790_000_120.5
    for payload, problem in [
        (b'{"level": "HIGH", "time": "2026-09-21T14:13:20"}', "UTC offset"),
        (b'{"level": "HIGH", "time": "yesterday"}', "not an ISO 8601 time"),
        (b'{"level": "HIGH", "time": true}', "ISO 8601 UTC time or unix seconds"),
        (b'{"level": "HIGH", "time": 1e400}', "finite"),
        (b'{"level": "HIGH", "time": 1789990000}', "within 300 s"),
    ]:
        with pytest.raises(ValueError, match=problem):
            parse_posture_command(payload, now)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"HIGH", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b'["HIGH"]', "not a JSON object"),
        (b'"HIGH"', "not a JSON object"),
        (b'{"level": "HIGH", "by": "me", "at": 1}', "unknown field 'at'"),
        (b"{}", "level must be one of NORMAL, ELEVATED, HIGH, CRITICAL"),
        (b'{"level": "SEVERE"}', "level must be one of"),
        (b'{"level": 2}', "level must be one of"),
        (b'{"level": "HIGH", "reason": 5}', f"reason must be a string of at most {MAX_REASON} characters"),
        (json.dumps({"level": "HIGH", "reason": "x" * (MAX_REASON + 1)}).encode(), "reason must be a string"),
    ],
)
def test_a_bad_posture_command_is_refused_naming_the_problem(payload: bytes, problem: str) -> None:
    """Anything but a JSON object with a known level and a short string reason is a ValueError that says
    what is wrong (the daemon logs it and keeps its posture)."""
    with pytest.raises(ValueError, match=problem):
        parse_posture_command(payload)


def test_the_mqtt_command_sets_the_posture_and_queues_its_alert(service: Service, tmp_path: Path) -> None:
    """A valid posture/set payload changes the level, says who set it, and its posture_change alert is in
    the outbox on disk; a bad one is refused with one warning and changes nothing."""
    with capture_logs() as logs:
        assert service._posture_command(b'{"level": "elevated", "reason": "exercise"}') is True
        assert service._posture_command(b'{"level": "panic"}') is False
    posture = service.posture()
    assert (posture["level"], posture["reason"], posture["set_by"]) == ("ELEVATED", "exercise", "mqtt")
    assert [a["kind"] for a in queued(tmp_path / "state")] == ["posture_change"]
    refused = [e for e in logs if e["event"] == "posture_command_refused"]
    assert len(refused) == 1 and refused[0]["log_level"] == "warning" and refused[0]["source"] == "mqtt"
    assert "level must be one of" in refused[0]["problem"]


def test_the_api_refuses_an_unknown_level(service: Service) -> None:
    """set_posture (the HTTP API's PUT) takes a level in any case and refuses an unknown one."""
    assert service.set_posture("high", "drill", "api")["level"] == "HIGH"
    with pytest.raises(ValueError, match="level must be one of"):
        service.set_posture("red", "drill", "api")
    assert service.posture()["level"] == "HIGH"


# ---- state directory -------------------------------------------------------------------------------------

def test_the_state_directory_comes_from_config_then_systemd_then_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """[state] directory wins; else systemd's $STATE_DIRECTORY (colon-separated when the unit lists
    several: the first is ours); else ./state."""
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/chokepoint-monitor:/var/lib/other")
    assert state_directory(Settings(state=StateSettings(directory=tmp_path))) == tmp_path
    assert state_directory(Settings()) == Path("/var/lib/chokepoint-monitor")
    monkeypatch.setenv("STATE_DIRECTORY", "")
    assert state_directory(Settings()) == Path("state")
    monkeypatch.delenv("STATE_DIRECTORY")
    assert state_directory(Settings()) == Path("state")


# ---- alerts held while the database cannot be written ---------------------------------------------------

def test_alerts_are_held_while_the_database_is_locked_and_written_after(service: Service,
                                                                          tmp_path: Path) -> None:
    """While another writer holds the database the alerts are held (status says so, one error event);
    beyond outbox.max_held_alerts the oldest are dropped and counted with one warning; the retry that
    succeeds writes the newest ones in order and logs state_write_resumed."""
    directory = tmp_path / "state"
    other = sqlite3.connect(directory / DB_NAME, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    levels = ["HIGH", "NORMAL"] * 51  # 102 changes, each a posture_change alert
    with capture_logs() as logs:
        for n, level in enumerate(levels):
            service.set_posture(level, f"change {n}", "api")
        assert "STATE NOT WRITABLE (100 alerts held)" in service._status()
        assert service._retry_writes() is False  # still locked
        other.execute("ROLLBACK")
        other.close()
        assert service._retry_writes() is True
        assert service._retry_writes() is True  # nothing held any more: nothing to do
    events = [e["event"] for e in logs]
    assert events.count("state_write_failed") == 1
    assert events.count("held_alerts_dropped") == 1
    assert service.held_dropped == 2
    resumed = [e for e in logs if e["event"] == "state_write_resumed"]
    assert len(resumed) == 1 and resumed[0]["alerts_written"] == 100 and resumed[0]["alerts_dropped"] == 2
    # Every change raised its alert (shared with API clients at once); the two oldest never reach the disk.
    # Changes to the same level within one millisecond share an alert id, and a queued id is queued once.
    raised = list(service.recent)
    assert len(raised) == 102 and all(a["kind"] == "posture_change" for a in raised)
    assert [a["id"] for a in queued(directory)] == list(dict.fromkeys(a["id"] for a in raised[2:]))
    assert "STATE NOT WRITABLE" not in service._status()
