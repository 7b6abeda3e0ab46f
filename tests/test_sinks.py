"""[[sinks]]: their settings, their durable queues in the store, and each kind against a real receiver (a
webhook server that refuses, then fails, then recovers; UDP and TCP listeners checking every CoT event
against the CoT 2.0 schema). The daemon end to end: tests/test_sinks_daemon.py."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts import Alert
from monitor.config import load_settings
from monitor.errors import ConfigError
from monitor.pipeline import Pipeline
from monitor.sinks.cot import (
    ALERT_TYPE,
    VESSEL_TYPE,
    CotSink,
    alert_event,
    vessel_event,
    watched_fixes,
    zone_locator,
)
from monitor.sinks.manager import Sinks
from monitor.sinks.settings import CotSinkSettings, WebhookSinkSettings
from monitor.sinks.webhook import WebhookSink
from monitor.store import Store, StoreWriteError
from monitor.zones import load_zone_file
from tests.helpers import static_lines, write_zones
from tests.mqtt_helpers import free_port
from tests.sink_receivers import CotListener, WebhookReceiver, parse_cot
from tests.test_disk import SmallDisk, small_disk  # noqa: F401 - the fixture, used by name below
from tests.test_service import feed_lines

KOREAN = 440000003  # MID 440: on the default `korea` watchlist


def _settings(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "monitor.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, env={})


def _problem(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        _settings(tmp_path, text)
    return str(info.value)


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def _payload(alert_id: str, severity: str = "warning") -> bytes:
    return json.dumps({"schema": 1, "id": alert_id, "kind": "zone_enter", "severity": severity}).encode()


def _queue(store: Store, sink: str, ids: list[str]) -> None:
    store.commit([], {}, [], [(sink, i, _payload(i)) for i in ids])


# ---- settings ------------------------------------------------------------------------------------------

def test_sink_settings_load_with_their_defaults(tmp_path: Path) -> None:
    """Both kinds load with CONTRACT's keys; `name` defaults to the kind, `min_severity` to info, CoT to
    UDP every 30 s with events stale 600 s after their time; case is folded where operators type it."""
    s = _settings(tmp_path, """
[[sinks]]
kind = "webhook"
url = "https://tickets.example/hook"
token = "s3cret"
[[sinks]]
kind = "cot"
name = "tak"
protocol = "TCP"
host = "tak.example"
port = 8087
min_severity = "Warning"
""")
    hook, cot = s.sinks
    assert isinstance(hook, WebhookSinkSettings) and isinstance(cot, CotSinkSettings)
    assert (hook.key, hook.min_severity, hook.token.get_secret_value()) == ("webhook", "info", "s3cret")
    assert "s3cret" not in repr(s)
    assert (cot.key, cot.protocol, cot.host, cot.port, cot.interval_s, cot.stale_s) == (
        "tak", "tcp", "tak.example", 8087, 30.0, 600.0)
    assert cot.wants("critical") and cot.wants("warning") and not cot.wants("info")
    assert load_settings(None, env={}).sinks == []


@pytest.mark.parametrize(("toml", "names"), [
    ('kind = "smtp"', ["sinks.0", "webhook", "cot"]),
    ('url = "http://x"', ["sinks.0", "kind"]),
    ('kind = "webhook"', ["sinks.0.webhook.url", "required"]),
    ('kind = "webhook"\nurl = "ftp://x/y"', ["sinks.0.webhook.url", "http"]),
    ('kind = "webhook"\nurl = "http://x"\nmin_severity = "loud"', ["sinks.0.webhook.min_severity"]),
    ('kind = "webhook"\nurl = "http://x"\nhost = "y"', ["sinks.0.webhook.host", "unknown key"]),
    ('kind = "cot"\nport = 4242', ["sinks.0.cot.host", "required"]),
    ('kind = "cot"\nhost = "h"\nport = 70000', ["sinks.0.cot.port"]),
    ('kind = "cot"\nhost = "h"\nport = 4242\nprotocol = "sctp"', ["sinks.0.cot.protocol"]),
    ('kind = "cot"\nhost = "h"\nport = 4242\ninterval_s = 0', ["sinks.0.cot.interval_s"]),
    ('kind = "cot"\nhost = "h"\nport = 4242\nstale_s = nan', ["sinks.0.cot.stale_s"]),
    ('kind = "cot"\nhost = "h"\nport = 4242\nname = "Bad Name"', ["sinks.0.cot.name"]),
])
def test_a_bad_sink_is_refused_naming_the_key(tmp_path: Path, toml: str, names: list[str]) -> None:
    """Every bad sink value is refused at load, in one line naming the entry and the key."""
    problem = _problem(tmp_path, f"[[sinks]]\n{toml}\n")
    assert "\n" not in problem
    for name in names:
        assert name in problem


def test_two_sinks_of_one_kind_need_names(tmp_path: Path) -> None:
    """Each sink's name keys its queue: two unnamed webhooks are refused; named, they load."""
    two = '[[sinks]]\nkind = "webhook"\nurl = "http://a"\n[[sinks]]\nkind = "webhook"\nurl = "http://b"\n'
    assert "two sinks are named 'webhook'" in _problem(tmp_path, two)
    named = two.replace('url = "http://b"', 'url = "http://b"\nname = "chat"')
    assert [s.key for s in _settings(tmp_path, named).sinks] == ["webhook", "chat"]


def test_a_bad_sink_stops_the_daemon_with_exit_3(tmp_path: Path) -> None:
    """`run` with a bad sink exits 3 (no restart loop under systemd), the one line naming the key."""
    config = tmp_path / "monitor.toml"
    config.write_text('[[sinks]]\nkind = "cot"\nhost = "tak"\nport = 0\n')
    r = subprocess.run([sys.executable, "-m", "monitor", "run", "--config", str(config)],
                       capture_output=True, timeout=60)
    assert r.returncode == 3, r.stderr.decode()
    assert "sinks.0.cot.port" in r.stderr.decode()


# ---- the queues in the store ------------------------------------------------------------------------------

def test_each_sink_has_its_own_durable_queue(tmp_path: Path) -> None:
    """Rows for two sinks are committed with the alerts; each sink reads and removes only its own, in
    order; what is left survives closing and reopening the database."""
    store = Store(tmp_path)
    store.commit([("x1", "t/x1", b"{}")], {"k": b"v"}, [("x1", b"{}", False)],
                 [("hook", "a1", b"1"), ("tak", "a1", b"1"), ("hook", "a2", b"2")])
    _queue(store, "hook", ["a3"])
    _queue(store, "hook", ["a3"])  # (an id already queued for a sink is not queued twice)
    assert (store.sink_depth("hook"), store.sink_depth("tak"), store.depth) == (3, 1, 1)
    rows = store.sink_pending("hook")
    assert [p for _, p in rows][:2] == [b"1", b"2"]
    store.sink_ack("hook", [rows[0][0]])
    assert store.sink_depth("hook") == 2 and store.sink_depth("tak") == 1
    assert [p for _, p in store.sink_pending("tak")] == [b"1"]
    assert store.sink_names() == ["hook", "tak"]
    store.close()
    again = Store(tmp_path)
    assert (again.sink_depth("hook"), again.sink_depth("tak")) == (2, 1)
    assert [json.loads(p)["id"] for _, p in again.sink_pending("hook")[1:]] == ["a3"]
    again.close()


def test_a_full_sink_queue_drops_its_own_oldest(tmp_path: Path) -> None:
    """Past outbox.max_alerts a sink's queue drops its oldest rows (counted by sink); other queues and
    the MQTT outbox keep theirs."""
    store = Store(tmp_path, max_outbox=3)
    _queue(store, "tak", ["t1"])
    _queue(store, "hook", [f"a{i}" for i in range(5)])
    assert store.sink_depth("hook") == 3 and store.sink_dropped == {"hook": 2}
    assert [json.loads(p)["id"] for _, p in store.sink_pending("hook")] == ["a2", "a3", "a4"]
    assert store.sink_depth("tak") == 1
    store.close()


def test_queued_sink_rows_are_kept_when_the_database_is_moved_aside(tmp_path: Path) -> None:
    """A store discarded for bad state keeps the sinks' queued alerts, as it keeps MQTT's."""
    store = Store(tmp_path)
    _queue(store, "hook", ["a1", "a2"])
    fresh = store.discard("test")
    assert fresh.sink_depth("hook") == 2
    fresh.close()


# ---- webhook against a real receiver -----------------------------------------------------------------------

@pytest.mark.asyncio
async def test_webhook_that_refuses_then_fails_then_recovers_misses_no_alert(tmp_path: Path) -> None:
    """The receiver refuses connections for ~2.5 s, then answers 503 for ~2.5 s, then recovers: every
    alert arrives, in order, once (no answer was lost, so at-least-once delivers exactly once here), with
    the bearer token and the alert id as Idempotency-Key; the failures are counted."""
    receiver = WebhookReceiver(token="s3cret")
    store = Store(tmp_path)
    try:
        ids = [f"alert-{i:02d}" for i in range(12)]
        _queue(store, "hook", ids[:6])
        settings = WebhookSinkSettings(kind="webhook", name="hook", url=receiver.url, token="s3cret")
        sink = WebhookSink(settings, store, backoff_cap_s=1.0)
        task = asyncio.create_task(sink.run())
        await asyncio.sleep(2.5)  # connection refused
        assert sink.stats.failures >= 1 and not sink.stats.up and receiver.received == []
        receiver.fail_until = time.monotonic() + 2.5
        receiver.start()
        _queue(store, "hook", ids[6:])  # more alerts raised during the outage
        sink.wake()
        await until(lambda: receiver.refused > 0, 10, "a 503")
        await until(lambda: len(receiver.received) == len(ids), 30, "every alert")
        await asyncio.sleep(0.3)
        assert receiver.ids() == ids  # in order, no duplicate
        headers = [h for _, h in receiver.received]
        assert {h["Authorization"] for h in headers} == {"Bearer s3cret"}
        assert [h["Idempotency-Key"] for h in headers] == ids
        assert {h["Content-Type"] for h in headers} == {"application/json"}
        assert sink.stats.delivered == len(ids) and sink.stats.up and sink.depth == 0
        assert store.sink_depth("hook") == 0
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        store.close()
        receiver.close()


@pytest.mark.asyncio
async def test_webhook_queue_survives_a_restart(tmp_path: Path) -> None:
    """Alerts queued while the receiver is down stay in the database when the sink stops; a new sink on
    the reopened database delivers them once the receiver is up."""
    receiver = WebhookReceiver()
    settings = WebhookSinkSettings(kind="webhook", url=receiver.url)
    try:
        store = Store(tmp_path)
        _queue(store, "webhook", ["a1", "a2", "a3"])
        sink = WebhookSink(settings, store, backoff_cap_s=0.5)
        task = asyncio.create_task(sink.run())
        await until(lambda: sink.stats.failures >= 2, 10, "failures")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        store.close()
        store = Store(tmp_path)
        assert store.sink_depth("webhook") == 3
        receiver.start()
        sink = WebhookSink(settings, store, backoff_cap_s=0.5)
        task = asyncio.create_task(sink.run())
        await until(lambda: receiver.ids() == ["a1", "a2", "a3"], 10, "the queued alerts")
        await until(lambda: store.sink_depth("webhook") == 0, 5, "an empty queue")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        store.close()
    finally:
        receiver.close()


@pytest.mark.asyncio
async def test_a_sink_that_is_down_holds_up_no_other(tmp_path: Path) -> None:
    """Two webhooks, one receiver never answering: the other gets every alert at once, and the stopping
    daemon does not wait for the one that is down (its queue is kept)."""
    up, down = WebhookReceiver(), WebhookReceiver()
    up.start()
    store = Store(tmp_path)
    try:
        sinks = Sinks([WebhookSinkSettings(kind="webhook", name="up", url=up.url),
                       WebhookSinkSettings(kind="webhook", name="down", url=down.url)])
        sinks.open(store, backoff_cap_s=1.0)
        ids = [f"a{i}" for i in range(20)]
        store.commit([], {}, [], [(s.key, i, _payload(i)) for i in ids for s in sinks.settings])
        async with asyncio.TaskGroup() as tasks:
            sinks.start(tasks)
            sinks.wake()
            await until(lambda: up.ids() == ids, 10, "the working sink's alerts")
            facts = sinks.facts()
            assert facts["up"]["queued"] == 0 and facts["up"]["delivered"] == 20
            assert facts["down"]["queued"] == 20 and facts["down"]["failures"] >= 1
            assert not facts["down"]["up"] and "Cannot connect" in (facts["down"]["last_error"] or "")
            started = time.monotonic()
            await sinks.stop(time.monotonic() + 10)
            assert time.monotonic() - started < 2  # the failing sink is not waited for
        assert store.sink_depth("down") == 20
    finally:
        store.close()
        up.close()
        down.close()


def test_sinks_queue_only_what_they_want() -> None:
    """min_severity filters each sink's rows: an info alert goes to the `info` sink only."""
    sinks = Sinks([WebhookSinkSettings(kind="webhook", name="all", url="http://a"),
                   WebhookSinkSettings(kind="webhook", name="loud", url="http://b", min_severity="critical")])
    alerts = [Alert(id=f"a-{sev}", kind="zone_enter", severity=sev, posture="NORMAL", time=0.0, mmsi=None,
                    vessel=None, zone=None, position=None) for sev in ("info", "warning", "critical")]
    rows = sinks.rows(alerts, {a.id: a.to_json().encode() for a in alerts})
    assert [(s, i) for s, i, _ in rows] == [("all", "a-info"), ("all", "a-warning"), ("all", "a-critical"),
                                            ("loud", "a-critical")]


# ---- Cursor-on-Target ------------------------------------------------------------------------------------

def _replayed(tmp_path: Path) -> tuple[Pipeline, list[Alert]]:
    """The toy strait's three ships (one Korean, named), replayed; plus an operator's posture change (no
    position, no zone)."""
    pipeline = Pipeline(load_settings(None, env={}), load_zone_file(write_zones(tmp_path / "zones.geojson")))
    lines = feed_lines()
    t0 = int(lines[0].split(b"c:")[1].split(b"*")[0])
    alerts = pipeline.process_lines(static_lines(KOREAN, t0, "HANJIN TEST", ship_type=70) + lines)
    alerts += pipeline.set_posture("HIGH", "drill", "mqtt", pipeline.feed_time)
    return pipeline, alerts


def _time(text: str | None) -> float:
    assert text is not None
    return datetime.fromisoformat(text).timestamp()


def test_cot_events_are_valid_cot_2(tmp_path: Path) -> None:
    """Every alert and every watched vessel makes an event the CoT 2.0 schema accepts: uids, types,
    time = start = the feed time, stale = start + stale_s, the position (ce/hae/le unknown), the vessel's
    name as callsign; an alert without a position lies on its zone or the area watched."""
    pipeline, alerts = _replayed(tmp_path)
    assert {"zone_enter", "transit", "posture_change"} <= {a.kind for a in alerts}
    locate = zone_locator(pipeline.geofence.zonefile)
    for a in alerts:
        event = parse_cot(alert_event(a.to_dict(), 600.0, locate))
        assert event.get("uid") == f"chokepoint-alert-{a.id}" and event.get("type") == ALERT_TYPE
        assert event.get("time") == event.get("start") == a.to_dict()["time"]
        assert _time(event.get("stale")) - _time(event.get("start")) == 600.0
        point = event.find("point")
        assert point is not None
        if a.position is not None:
            assert float(point.get("lat", "nan")) == pytest.approx(a.position["lat"], abs=1e-6)
            assert (point.get("ce"), point.get("hae"), point.get("le")) == ("9999999.0",) * 3
        else:  # the posture change: on the middle of the toy zones (54..59 E, 25..27 N), ce covering them
            assert 25 < float(point.get("lat", "nan")) < 27 and 54 < float(point.get("lon", "nan")) < 59
            assert 100_000 < float(point.get("ce", "nan")) < 1_000_000
        detail = event.find("detail")
        assert detail is not None
        contact, remarks = detail.find("contact"), detail.find("remarks")
        assert contact is not None and contact.get("callsign", "").startswith(a.kind)
        assert remarks is not None and a.severity.upper() in (remarks.text or "")
    fixes = watched_fixes(pipeline)
    assert [f.mmsi for f in fixes] == [KOREAN]  # MID 440 only: the default `korea` watchlist
    event = parse_cot(vessel_event(fixes[0], 300.0))
    assert (event.get("uid"), event.get("type"), event.get("how")) == (f"chokepoint-{KOREAN}", VESSEL_TYPE,
                                                                       "m-g")
    assert _time(event.get("start")) == fixes[0].time
    assert _time(event.get("stale")) - _time(event.get("start")) == 300.0
    contact = event.find("detail/contact")
    track = event.find("detail/track")
    assert contact is not None and contact.get("callsign") == "HANJIN TEST"
    assert track is not None and float(track.get("speed", "0")) == pytest.approx(20 * 1852 / 3600, abs=0.01)


def _wanted(alerts: list[Alert]) -> set[str]:
    return {f"chokepoint-alert-{a.id}" for a in alerts}


@pytest.mark.asyncio
@pytest.mark.parametrize("protocol", ["udp", "tcp"])
async def test_cot_listener_receives_alerts_and_watched_vessels(tmp_path: Path, protocol: str) -> None:
    """A CoT sink to a real UDP or TCP listener: every queued alert arrives as a valid event, and every
    interval the watched vessel's position event; nothing invalid."""
    pipeline, alerts = _replayed(tmp_path)
    listener = CotListener(protocol)
    store = Store(tmp_path / "state")
    try:
        settings = CotSinkSettings(kind="cot", protocol=protocol, host="127.0.0.1", port=listener.port,
                                   interval_s=1.0, stale_s=3600.0)
        store.commit([], {}, [], [("cot", a.id, a.to_json().encode()) for a in alerts])
        sink = CotSink(settings, store, pipeline=lambda: pipeline, backoff_cap_s=1.0)
        task = asyncio.create_task(sink.run())
        await until(lambda: set(listener.uids("chokepoint-alert-")) >= _wanted(alerts), 10, "alert events")
        await until(lambda: len(listener.of_uid(f"chokepoint-{KOREAN}")) >= 2, 10, "two vessel rounds")
        assert listener.invalid == []
        assert set(listener.uids()) == _wanted(alerts) | {f"chokepoint-{KOREAN}"}
        assert len(listener.uids("chokepoint-alert-")) == len(alerts)  # (nothing failed: none resent)
        await until(lambda: store.sink_depth("cot") == 0, 5, "an empty queue")
        assert sink.stats.delivered == len(alerts) and sink.stats.events >= 2
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        store.close()
        listener.close()


@pytest.mark.asyncio
async def test_cot_tcp_sink_waits_for_its_receiver_and_reconnects(tmp_path: Path) -> None:
    """Nothing listens at first: the alerts wait in the queue (connection refused, counted); once a
    listener is up they arrive; after the listener goes away and comes back, later alerts arrive on a new
    connection."""
    _, alerts = _replayed(tmp_path)
    port = free_port()
    store = Store(tmp_path / "state")
    listener: CotListener | None = None
    try:
        settings = CotSinkSettings(kind="cot", protocol="tcp", host="127.0.0.1", port=port, interval_s=3600.0)
        half = len(alerts) // 2
        store.commit([], {}, [], [("cot", a.id, a.to_json().encode()) for a in alerts[:half]])
        sink = CotSink(settings, store, backoff_cap_s=0.5)
        task = asyncio.create_task(sink.run())
        await until(lambda: sink.stats.failures >= 2, 10, "refused connections")
        assert store.sink_depth("cot") == half
        listener = CotListener("tcp", port=port)
        await until(lambda: set(listener.uids()) >= _wanted(alerts[:half]), 15, "the first half")
        listener.close()
        await asyncio.sleep(0.5)
        listener = CotListener("tcp", port=port)
        store.commit([], {}, [], [("cot", a.id, a.to_json().encode()) for a in alerts[half:]])
        sink.wake()
        await until(lambda: set(listener.uids()) >= _wanted(alerts[half:]), 20, "the second half")
        assert listener.invalid == [] and listener.connections >= 1
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        store.close()
        if listener is not None:
            listener.close()


def test_an_event_that_cannot_be_built_is_dropped_not_retried_for_ever(tmp_path: Path) -> None:
    """A queued row that is not an alert (a bug, or a row from elsewhere) is counted as unsendable and
    removed; the rows after it are delivered."""
    listener = CotListener("udp")
    store = Store(tmp_path)

    async def go() -> CotSink:
        settings = CotSinkSettings(kind="cot", host="127.0.0.1", port=listener.port)
        store.commit([], {}, [], [("cot", "bad", b"not json"), ("cot", "good", _alert_json())])
        sink = CotSink(settings, store)
        task = asyncio.create_task(sink.run())
        await until(lambda: store.sink_depth("cot") == 0, 5, "the queue to empty")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return sink

    try:
        sink = asyncio.run(go())
        assert (sink.stats.unsendable, sink.stats.delivered) == (1, 1)
        time.sleep(0.2)
        assert listener.uids() == ["chokepoint-alert-good"]
    finally:
        store.close()
        listener.close()


def _alert_json() -> bytes:
    return Alert(id="good", kind="zone_enter", severity="info", posture="NORMAL", time=1_750_000_000.5,
                 mmsi=KOREAN, vessel=None, zone=None,
                 position={"lat": 26.1, "lon": 56.5, "sog": 10.0, "cog": 90.0}).to_json().encode()


def test_cot_times_keep_milliseconds() -> None:
    """A sub-second feed time is kept (ISO 8601 with milliseconds, a valid xs:dateTime)."""
    event = parse_cot(alert_event(json.loads(_alert_json()), 60.0))
    assert event.get("time") == "2025-06-15T15:06:40.500Z"
    assert event.get("stale") == "2025-06-15T15:07:40.500Z"
    assert ET.tostring(event).count(b"<point") == 1


def test_a_vessel_already_stale_on_the_feed_clock_is_left_out(tmp_path: Path) -> None:
    """A round of vessel events sends the watched vessels whose last fix is within stale_s of the feed
    clock, and leaves out one heard last two hours ago (its event would be stale on arrival) and the
    unwatched."""
    from tests.helpers import T0, position_lines

    pipeline = Pipeline(load_settings(None, env={}), load_zone_file(write_zones(tmp_path / "zones.geojson")))
    lines = position_lines(440000001, 56.5, 26.1, T0)
    for t in range(T0 + 1800, T0 + 7201, 1800):  # (steps within the clock's max_ahead_s)
        lines += position_lines(440000002, 56.6, 26.1, t) + position_lines(538000009, 56.7, 26.1, t)
    pipeline.process_lines(lines)
    listener = CotListener("udp")
    store = Store(tmp_path / "state")

    async def go() -> None:
        settings = CotSinkSettings(kind="cot", host="127.0.0.1", port=listener.port, stale_s=3600.0)
        sink = CotSink(settings, store, pipeline=lambda: pipeline)
        await sink._vessel_round(settings.stale_s)
        assert sink.stats.events == 1
        await sink.close()

    try:
        asyncio.run(go())
        deadline = time.monotonic() + 5
        while not listener.uids() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.1)
        assert listener.uids() == ["chokepoint-440000002"]
    finally:
        store.close()
        listener.close()


def test_cot_text_is_escaped_and_cleaned() -> None:
    """Names and details with XML's special characters are escaped, characters XML 1.0 cannot carry are
    dropped, and long remarks are cut: the event stays valid and fits one UDP datagram."""
    alert = json.loads(_alert_json())
    alert["vessel"] = {"name": "A<B>&\x01C", "imo": None, "callsign": None, "ship_type": None, "flag": "KR",
                       "watch": ["korea"]}
    alert["zone"] = {"id": "strait", "name": "Strait \"of\" <Hormuz>\x0b", "kind": "strait"}
    alert["details"] = {"note": "x" * 5000, "area": {"type": "Polygon", "coordinates": [[[0, 0]] * 500]}}
    data = alert_event(alert, 60.0)
    assert len(data) < 1400
    event = parse_cot(data)
    contact = event.find("detail/contact")
    assert contact is not None and contact.get("callsign") == "zone_enter: A<B>&C"
    remarks = event.find("detail/remarks")
    assert remarks is not None and "Strait \"of\" <Hormuz>" in (remarks.text or "")


def test_an_alert_without_a_position_lies_on_its_zone(tmp_path: Path) -> None:
    """A strait's alert without a position (a traffic drop) is placed on the strait, with a ce covering
    it; an unknown zone falls back on the area watched; no zones at all: 0, 0 with ce unknown."""
    zonefile = load_zone_file(write_zones(tmp_path / "zones.geojson"))
    locate = zone_locator(zonefile)
    lat, lon, ce = locate("strait") or (0.0, 0.0, "")
    assert 25.5 <= lat <= 26.5 and 56.0 <= lon <= 57.0 and 50_000 < float(ce) < 200_000
    assert locate("no-such-zone") == locate(None) != locate("strait")
    alert = json.loads(_alert_json())
    alert.update(position=None, mmsi=None, zone={"id": "strait", "name": "Strait", "kind": "strait"})
    event = parse_cot(alert_event(alert, 60.0, locate))
    point = event.find("point")
    assert point is not None and event.get("how") == "m-c" and point.get("ce") == ce
    assert event.find("detail/contact") is not None
    bare = parse_cot(alert_event(alert, 60.0))
    assert bare.find("point") is not None and bare.find("point").get("ce") == "9999999.0"  # type: ignore[union-attr]


def test_a_queue_left_by_a_sink_no_longer_configured_is_kept_and_logged(tmp_path: Path) -> None:
    """Rows queued for a sink since removed or renamed stay in the database (configured again, they are
    sent) and are named at start."""
    from structlog.testing import capture_logs

    store = Store(tmp_path)
    _queue(store, "old-hook", ["a1"])
    with capture_logs() as logs:
        Sinks([WebhookSinkSettings(kind="webhook", url="http://a")]).open(store)
    orphaned = [e for e in logs if e["event"] == "sink_queue_orphaned"]
    assert [(e["sink"], e["queued"]) for e in orphaned] == [("old-hook", 1)]
    assert store.sink_depth("old-hook") == 1
    store.close()


@pytest.mark.asyncio
async def test_a_failing_vessel_round_is_logged_and_the_next_one_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug while building the vessel events is logged with its traceback each round; the sink, its
    alerts and the daemon go on."""
    from structlog.testing import capture_logs

    calls = 0

    def broken(pipeline: Pipeline) -> list[Any]:
        nonlocal calls
        calls += 1
        raise RuntimeError("a bug")

    monkeypatch.setattr("monitor.sinks.cot.watched_fixes", broken)
    pipeline, _ = _replayed(tmp_path)
    listener = CotListener("udp")
    store = Store(tmp_path / "state")
    try:
        settings = CotSinkSettings(kind="cot", host="127.0.0.1", port=listener.port, interval_s=1.0)
        store.commit([], {}, [], [("cot", "good", _alert_json())])
        with capture_logs() as logs:
            sink = CotSink(settings, store, pipeline=lambda: pipeline)
            task = asyncio.create_task(sink.run())
            await until(lambda: calls >= 2 and store.sink_depth("cot") == 0, 10, "two rounds and the alert")
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert sum(e["event"] == "cot_vessel_round_failed" for e in logs) >= 2
        assert sink.stats.delivered == 1
    finally:
        store.close()
        listener.close()


def test_sink_acks_the_disk_refuses_are_kept_until_a_write_succeeds(
    small_disk: SmallDisk,  # noqa: F811 - the fixture imported above
) -> None:
    """On a full disk a sink's delivered rows leave its pending list and depth at once (never sent
    again), and their removal is written with the next commit that succeeds; a commit with sink rows
    fails whole."""
    store = Store(small_disk.path / "state")
    _queue(store, "hook", ["a1", "a2", "a3"])
    rows = store.sink_pending("hook")
    small_disk.fill()
    store.sink_ack("hook", [rows[0][0]])
    assert [r for r, _ in store.sink_pending("hook")] == [r for r, _ in rows[1:]]
    assert store.sink_depth("hook") == 2
    with pytest.raises(StoreWriteError):
        store.commit([], {}, [], [("hook", f"b{i}", b"x" * 4000) for i in range(200)])
    assert store.sink_depth("hook") == 2
    small_disk.free()
    _queue(store, "hook", ["a4"])
    store.close()
    with Store(small_disk.path / "state") as again:
        assert [json.loads(p)["id"] for _, p in again.sink_pending("hook")] == ["a2", "a3", "a4"]


def test_a_vessel_round_to_a_receiver_that_is_down_stops_and_counts(tmp_path: Path) -> None:
    """Vessel events are not queued: a round whose receiver refuses the connection stops at the first
    event, counts the failure, and the sink reports itself down until a delivery succeeds."""
    pipeline, _ = _replayed(tmp_path)
    store = Store(tmp_path / "state")

    async def go() -> CotSink:
        settings = CotSinkSettings(kind="cot", protocol="tcp", host="127.0.0.1", port=free_port(),
                                   stale_s=86_400.0)
        sink = CotSink(settings, store, pipeline=lambda: pipeline)
        await sink._vessel_round(settings.stale_s)
        await sink.close()
        return sink

    try:
        sink = asyncio.run(go())
        assert (sink.stats.failures, sink.stats.events, sink.stats.up) == (1, 0, False)
        assert "ConnectionRefusedError" in (sink.stats.last_error or "")
    finally:
        store.close()
