"""The operator's actions without a running daemon: the checks of an acknowledgement and of a snooze, the
one snooze rule every sink uses, the store's `alerts` and `snoozes` tables (old files migrated, rows
checked when read back, snoozes carried over when a file is moved aside), and the daemon object's
ack/snooze calls on a real store, a locked database included. The daemon end to end: tests/test_live.py."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from monitor.alerts import Alert, iso_time
from monitor.config import HttpSettings, MqttSettings, OutboxSettings, Settings, StateSettings
from monitor.operator import (
    ANY_KIND,
    MAX_SNOOZE_S,
    NotWritable,
    Refused,
    Snooze,
    Snoozes,
    parse_ack,
    parse_snooze,
    snooze_kinds,
)
from monitor.service import Service
from monitor.store import DB_NAME, Store, StoreCorrupt, StoreError, StoreWriteError
from monitor.zones import load_zone_file
from tests.helpers import write_zones

NOW = 1_765_000_000.0  # 2025-12-06T05:46:40Z, a feed clock


def alert(mmsi: int | None, kind: str = "loiter", t: float = NOW, ident: str = "") -> Alert:
    return Alert(id=ident or f"{kind}-{mmsi}-{t}", kind=kind, severity="warning", posture="NORMAL", time=t,
                 mmsi=mmsi, vessel=None, zone=None, position=None)


def body(**kw: object) -> dict[str, object]:
    out: dict[str, object] = {"mmsi": 538000001, "kind": "loiter", "until": iso_time(NOW + 3600),
                              "reason": "known tanker at anchor"}
    out.update(kw)
    return {k: v for k, v in out.items() if v is not None}


# ---- the checks ------------------------------------------------------------------------------------------

def test_an_ack_needs_who_and_may_say_why() -> None:
    """`by` is required and not blank; `note` is optional (empty when absent); nothing else is taken."""
    assert parse_ack({"by": "watch officer"}) == ("watch officer", "")
    assert parse_ack({"by": "wo", "note": "seen, tanker known"}) == ("wo", "seen, tanker known")
    for bad, field in [({}, "by"), ({"by": "  "}, "by"), ({"by": 5}, "by"), ({"by": "x" * 101}, "by"),
                       ({"by": "a", "note": 1}, "note"), ({"by": "a", "note": "n" * 501}, "note"),
                       ({"by": "a", "seen": True}, "seen")]:
        with pytest.raises(Refused) as err:
            parse_ack(bad)
        assert err.value.parameter == field


def test_a_snooze_is_checked_field_by_field() -> None:
    """A good body gives (mmsi, kind, until, reason); `*` snoozes every kind; a time with an offset is
    taken in UTC."""
    assert parse_snooze(body(), NOW) == (538000001, "loiter", NOW + 3600, "known tanker at anchor")
    assert parse_snooze(body(kind="*"), NOW)[1] == ANY_KIND
    assert parse_snooze(body(until="2025-12-06T07:46:40+01:00"), NOW)[2] == NOW + 3600
    assert snooze_kinds()[0] == "*" and "posture_change" not in snooze_kinds()


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"mmsi": None}, "mmsi", "mmsi is required"),
        ({"mmsi": "538000001"}, "mmsi", "integer"),
        ({"mmsi": True}, "mmsi", "integer"),
        ({"mmsi": 0}, "mmsi", "integer from 1"),
        ({"kind": "posture_change"}, "kind", "about a vessel"),
        ({"kind": "loitering"}, "kind", "'loitering'"),
        ({"until": "tomorrow"}, "until", "ISO 8601"),
        ({"until": 1765003600}, "until", "ISO 8601"),
        ({"until": "2025-12-06T06:46:40"}, "until", "zone"),
        ({"until": "2200-01-01T00:00:00Z"}, "until", "between 1970 and 2100"),
        ({"until": iso_time(NOW - 1)}, "until", "not after the feed clock now"),
        ({"until": iso_time(NOW)}, "until", "not after"),
        ({"until": iso_time(NOW + MAX_SNOOZE_S + 1)}, "until", "at most 30 days"),
        ({"reason": None}, "reason", "reason is required"),
        ({"reason": ""}, "reason", "non-empty"),
        ({"by": "me"}, "by", "unknown field 'by'"),
    ],
)
def test_a_bad_snooze_is_refused_naming_the_field(changes: dict[str, object], field: str, words: str) -> None:
    """Unknown kind, bad or zone-less time, until not after the feed clock or beyond 30 days, a missing or
    extra field: Refused with the field's name and a message that says what is wrong."""
    with pytest.raises(Refused, match=words) as err:
        parse_snooze(body(**changes), NOW)
    assert err.value.parameter == field


# ---- the rule --------------------------------------------------------------------------------------------

def test_the_snooze_rule_matches_vessel_kind_and_the_alerts_own_time() -> None:
    """Held back: the vessel's alerts of the kind (any kind for `*`) timed before `until` on the feed
    clock. Published: other vessels, other kinds, alerts at or after `until`, alerts about no vessel."""
    rule = Snoozes([Snooze(1, 538000001, "loiter", NOW + 60, "r", "c"),
                    Snooze(2, 538000002, ANY_KIND, NOW + 60, "r", "c")])
    held = [alert(538000001), alert(538000002, "dark"), alert(538000002, "zone_enter", NOW + 59)]
    sent = [alert(538000001, "dark"), alert(538000003), alert(538000001, t=NOW + 60),
            alert(None, "posture_change")]
    assert rule.publishable(held + sent) == sent
    assert [rule.snoozed(a) for a in held] == [True, True, True]
    assert Snoozes().publishable(held) == held


def test_snoozes_expire_and_are_removed_by_id() -> None:
    """active() lists those not ended on the feed clock, expired() the ids of the others; remove() takes one
    out of the rule (and of its vessel's list)."""
    rule = Snoozes([Snooze(1, 538000001, "loiter", NOW + 60, "r", "c"),
                    Snooze(2, 538000001, "dark", NOW + 10, "r", "c"),
                    Snooze(3, 538000004, "dark", NOW + 10, "r", "c")])
    assert [s.id for s in rule.active(NOW + 30)] == [1] and sorted(rule.expired(NOW + 30)) == [2, 3]
    assert rule.remove(2) is not None and rule.remove(3) is not None and rule.remove(3) is None
    assert len(rule) == 1 and not rule.snoozed(alert(538000004, "dark"))
    assert rule.get(1) is not None and rule.snoozed(alert(538000001))


# ---- the store -------------------------------------------------------------------------------------------

def test_an_old_database_gets_the_new_tables_and_keeps_its_outbox(tmp_path: Path) -> None:
    """A file written before alerts and snoozes were kept (outbox and state only) opens with both tables
    added and its queued alerts and state untouched."""
    directory = tmp_path / "s"
    directory.mkdir()
    db = sqlite3.connect(directory / DB_NAME)
    db.executescript(
        "PRAGMA journal_mode=WAL;"
        "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, alert_id TEXT NOT NULL UNIQUE,"
        " topic TEXT NOT NULL, payload BLOB NOT NULL);"
        "CREATE TABLE state (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;"
        "INSERT INTO outbox (alert_id, topic, payload) VALUES ('a1', 't', x'7b7d');"
        "INSERT INTO state VALUES ('k', x'01'); PRAGMA user_version=2;"
    )
    db.close()
    with Store(directory) as store:
        assert store.depth == 1 and store.load_state() == {"k": b"\x01"}
        assert store.load_alerts() == [] and store.load_snoozes() == []
        assert store.add_snooze(538000001, "dark", NOW, "r", "c") == 1


def test_the_history_keeps_the_newest_alerts_with_their_acks(tmp_path: Path) -> None:
    """commit() keeps every history alert (snoozed or not) beside the outbox; beyond max_history the oldest
    go, their acks with them; set_ack acknowledges a kept alert once."""
    with Store(tmp_path / "s", max_history=3) as store:
        payloads = [(f"a{i}", json.dumps({"id": f"a{i}"}).encode(), i == 1) for i in range(5)]
        store.commit([], history=payloads[:2])
        ack = {"by": "wo", "note": "", "time": "2026-12-04T22:00:00Z"}
        assert store.set_ack("a1", ack) is True
        assert store.set_ack("a1", {**ack, "by": "other"}) is False  # the first ack stays
        assert store.set_ack("nope", ack) is False
        store.commit([], history=payloads[2:] + payloads[:1])  # (a0 again: kept once)
        kept = store.load_alerts()
        assert [(a["id"], a["snoozed"], a["ack"]) for a in kept] == [
            ("a2", False, None), ("a3", False, None), ("a4", False, None)]
        store.commit([], history=[("a5", b'{"id":"a5"}', False)])
        assert [a["id"] for a in store.load_alerts()] == ["a3", "a4", "a5"]
    with pytest.raises(ValueError, match="max_history must be at least 1"):
        Store(tmp_path / "t", max_history=0)


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("INSERT INTO alerts (alert_id, payload) VALUES ('a', x'6e6f74206a736f6e')", "alerts"),
        ("INSERT INTO alerts (alert_id, payload) VALUES ('a', '{\"id\":\"a\"}')", "alerts"),
        ("INSERT INTO alerts (alert_id, payload) VALUES ('a', CAST('{\"id\":\"b\"}' AS BLOB))", "alerts"),
        ("INSERT INTO alerts (alert_id, payload, snoozed) VALUES ('a', CAST('{\"id\":\"a\"}' AS BLOB), 7)",
         "alerts"),
        (("INSERT INTO alerts (alert_id, payload, ack)"
          " VALUES ('a', CAST('{\"id\":\"a\"}' AS BLOB), '{\"by\":1}')"), "alerts"),
        ("INSERT INTO alerts (alert_id, payload, ack) VALUES ('a', CAST('{\"id\":\"a\"}' AS BLOB), 'x')",
         "alerts"),
        ("INSERT INTO snoozes (mmsi, kind, until, reason, created) VALUES (0, 'dark', 1.0, 'r', 'c')",
         "snoozes"),
        ("INSERT INTO snoozes (mmsi, kind, until, reason, created) VALUES (538000001, 'dark', 'x', 'r', 'c')",
         "snoozes"),
    ],
)
def test_a_kept_row_this_program_did_not_write_is_refused(tmp_path: Path, row: str, problem: str) -> None:
    """Alerts and snoozes are checked when read back, like the engine's state: a row of the wrong type or
    out of range is StoreCorrupt naming the table."""
    with Store(tmp_path / "s") as store:
        store._db.execute(row)
        with pytest.raises(StoreCorrupt, match=f"cannot read the {problem}"):
            store.load_alerts() if problem == "alerts" else store.load_snoozes()


def test_an_operator_write_on_a_locked_database_changes_nothing(tmp_path: Path) -> None:
    """While another writer holds the file, set_ack, add_snooze and end_snoozes raise StoreWriteError and
    write nothing."""
    with Store(tmp_path / "s") as store:
        store._db.execute("PRAGMA busy_timeout = 50")
        store.commit([], history=[("a", b'{"id":"a"}', False)])
        ident = store.add_snooze(538000001, "dark", NOW, "r", "c")
        other = sqlite3.connect(tmp_path / "s" / DB_NAME, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        for call in (lambda: store.set_ack("a", {"by": "x", "note": "", "time": "t"}),
                     lambda: store.add_snooze(538000001, "dark", NOW, "r", "c"),
                     lambda: store.end_snoozes([ident])):
            with pytest.raises(StoreWriteError):
                call()
        other.execute("ROLLBACK")
        other.close()
        assert store.load_alerts()[0]["ack"] is None and [r[0] for r in store.load_snoozes()] == [ident]
        store.end_snoozes([])  # nothing to end: no transaction
        store.end_snoozes([ident])
        assert store.load_snoozes() == []


def test_snoozes_are_carried_over_when_the_file_is_moved_aside(tmp_path: Path) -> None:
    """discard() (the engine refused the state) keeps the operator's snoozes in the fresh file: they are
    not the state that was refused, and losing them would publish what the operator silenced."""
    store = Store(tmp_path / "s")
    store.add_snooze(538000001, "dark", NOW, "known", "2026-12-04T22:00:00Z")
    with capture_logs():
        fresh = store.discard("test")
    with fresh:
        rows = [r[1:] for r in fresh.load_snoozes()]
    assert rows == [(538000001, "dark", NOW, "known", "2026-12-04T22:00:00Z")]


# ---- the daemon object -------------------------------------------------------------------------------------

class _Notifier:
    def notify(self, state: str) -> None:
        pass


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    """The real daemon object with its store opened as at start (not running: no feeds, no broker)."""
    monkeypatch.setattr("monitor.service.sdnotify.SystemdNotifier", _Notifier)
    settings = Settings(state=StateSettings(directory=tmp_path / "state"),
                        http=HttpSettings(recent_alerts=50), outbox=OutboxSettings(max_held_alerts=100),
                        mqtt=MqttSettings(enabled=True))
    svc = Service(settings, load_zone_file(write_zones(tmp_path / "z.geojson")), config_path=None)
    svc.store = svc._open_store()
    svc.store._db.execute("PRAGMA busy_timeout = 50")
    yield svc
    svc.store.close()


def _outbox(directory: Path) -> list[str]:
    db = sqlite3.connect(directory / DB_NAME)
    try:
        return [i for (i,) in db.execute("SELECT alert_id FROM outbox ORDER BY seq")]
    finally:
        db.close()


def test_snoozed_alerts_are_listed_and_kept_but_not_queued(service: Service, tmp_path: Path) -> None:
    """_commit fills the outbox from the one rule: a snoozed alert is listed (snoozed: true), kept in the
    history, but not queued; the others are queued as before."""
    wall = time.time()
    snooze = service.add_snooze(body(until=iso_time(wall + 600)))
    listed = service.snooze_list()
    assert snooze["id"] == 1 and listed["snoozes"] == [snooze] and listed["count"] == 1
    assert abs(datetime.fromisoformat(listed["feed_clock"]).timestamp() - time.time()) < 5  # (no line yet)
    held, sent = alert(538000001, t=wall, ident="held"), alert(538000002, t=wall, ident="sent")
    service._commit([held, sent])
    assert _outbox(tmp_path / "state") == ["sent"]
    listed = [(a["id"], a["snoozed"], a["ack"]) for a in service.recent]
    assert listed == [("held", True, None), ("sent", False, None)]
    assert [(a["id"], a["snoozed"]) for a in service.store.load_alerts()] == [("held", True), ("sent", False)]


def test_an_ack_is_kept_once_and_survives_reopening(service: Service, tmp_path: Path) -> None:
    """ack_alert sets {by, note, time} on the listed alert and in the store; a second ack returns the first
    unchanged; an alert not listed is a LookupError; reopened, the alert is listed with its ack."""
    service._commit([alert(538000001, ident="a1")])
    first = service.ack_alert("a1", {"by": "wo", "note": "seen"})
    assert (first["ack"]["by"], first["ack"]["note"]) == ("wo", "seen") and first["ack"]["time"].endswith("Z")
    assert service.ack_alert("a1", {"by": "someone else"})["ack"] == first["ack"]
    with pytest.raises(LookupError):
        service.ack_alert("nope", {"by": "wo"})
    with pytest.raises(Refused):
        service.ack_alert("a1", {"note": "no by"})
    service.store.close()
    again = Service(service.settings, service.zonefile, config_path=None)
    again.store = again._open_store()
    try:
        assert [(a["id"], a["ack"]) for a in again.recent] == [("a1", first["ack"])]
    finally:
        again.store.close()


def test_operator_actions_on_a_locked_database_are_refused_and_change_nothing(service: Service,
                                                                               tmp_path: Path) -> None:
    """With the database held by another writer: ack, add and end a snooze raise NotWritable and change
    nothing in memory either; an alert raised meanwhile (held in memory) cannot be acknowledged until it
    is written, and can once it is; expired snoozes are retried at the next tick."""
    wall = time.time()
    service._commit([alert(538000001, ident="a1")])
    snooze = service.add_snooze(body(until=iso_time(wall + 600)))
    other = sqlite3.connect(tmp_path / "state" / DB_NAME, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with capture_logs():
        with pytest.raises(NotWritable):
            service.ack_alert("a1", {"by": "wo"})
        with pytest.raises(NotWritable):
            service.add_snooze(body(until=iso_time(wall + 900)))
        with pytest.raises(NotWritable):
            service.end_snooze(snooze["id"])
        service._commit([alert(538000009, ident="a2")])  # held: the store cannot be written
        with pytest.raises(NotWritable, match="not written"):
            service.ack_alert("a2", {"by": "wo"})
        service._expire_snoozes(wall + 601)  # due, but the write fails: kept, retried
    assert len(service.snoozes) == 1
    other.execute("ROLLBACK")
    other.close()
    assert [a["ack"] for a in service.recent] == [None, None]
    assert service.snooze_list()["snoozes"] == [snooze]
    with capture_logs():
        assert service._retry_writes() is True  # the held alert is written, history row included
    assert service.ack_alert("a2", {"by": "wo"})["ack"]["by"] == "wo"
    service._expire_snoozes(wall + 601)
    assert len(service.snoozes) == 0 and service.store.load_snoozes() == []
    with pytest.raises(LookupError):
        service.end_snooze(snooze["id"])


def test_ending_a_snooze_publishes_that_vessel_again(service: Service, tmp_path: Path) -> None:
    """end_snooze removes it from the rule and the store: the vessel's next alerts are queued."""
    wall = time.time()
    snooze = service.add_snooze(body(until=iso_time(wall + 600)))
    assert service.end_snooze(snooze["id"]) == snooze
    service._commit([alert(538000001, t=wall, ident="after")])
    assert _outbox(tmp_path / "state") == ["after"] and service.snooze_list()["snoozes"] == []


def test_with_mqtt_disabled_alerts_are_kept_and_listed_but_not_queued(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """[mqtt] enabled = false: the outbox is not filled; the alert is listed and kept for /api/alerts."""
    monkeypatch.setattr("monitor.service.sdnotify.SystemdNotifier", _Notifier)
    settings = Settings(state=StateSettings(directory=tmp_path / "state"), mqtt=MqttSettings(enabled=False))
    svc = Service(settings, load_zone_file(write_zones(tmp_path / "z.geojson")), config_path=None)
    svc.store = svc._open_store()
    try:
        svc._commit([alert(538000001, ident="a1")])
        assert svc.store.depth == 0 and _outbox(tmp_path / "state") == []
        assert [a["id"] for a in svc.store.load_alerts()] == ["a1"] and svc.recent[0]["id"] == "a1"
    finally:
        svc.store.close()


def test_a_bad_kept_alert_moves_the_file_aside_but_keeps_the_snoozes(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """At start, an `alerts` row that fails its checks is a corrupt state database: moved aside with one
    state_corrupt event, the daemon starts with nothing listed but with the operator's snoozes."""
    monkeypatch.setattr("monitor.service.sdnotify.SystemdNotifier", _Notifier)
    with Store(tmp_path / "state") as store:
        store.add_snooze(538000001, "dark", time.time() + 600, "known", "2026-12-04T22:00:00Z")
        store._db.execute("INSERT INTO alerts (alert_id, payload) VALUES ('a', x'00')")
    settings = Settings(state=StateSettings(directory=tmp_path / "state"))
    svc = Service(settings, load_zone_file(write_zones(tmp_path / "z.geojson")), config_path=None)
    with capture_logs() as logs:
        svc.store = svc._open_store()
    try:
        assert [e["event"] for e in logs if e["log_level"] == "error"] == ["state_corrupt"]
        assert list(svc.recent) == [] and [s["mmsi"] for s in svc.snooze_list()["snoozes"]] == [538000001]
    finally:
        svc.store.close()


def test_tables_of_another_shape_cannot_be_read(tmp_path: Path) -> None:
    """An `alerts` or `snoozes` table this program did not make (other columns) is a StoreError naming what
    could not be read, not a crash; a write that breaks a constraint is a bug and propagates as it is."""
    with Store(tmp_path / "s") as store:
        store._db.executescript("DROP TABLE alerts; CREATE TABLE alerts (x);"
                                "DROP TABLE snoozes; CREATE TABLE snoozes (y);")
        with pytest.raises(StoreError, match="cannot read the alerts"):
            store.load_alerts()
        with pytest.raises(StoreError, match="cannot read the snoozes"):
            store.load_snoozes()
    with Store(tmp_path / "t") as store, pytest.raises(sqlite3.IntegrityError):
        store.add_snooze(538000001, None, NOW, "r", "c")  # type: ignore[arg-type]
