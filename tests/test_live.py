"""The operator's actions and `make live` on the real daemon (`python -m monitor run` subprocesses): a real
Mosquitto where alerts are published, none where the daemon runs without MQTT. Acknowledgements and
snoozes round-trip over HTTP, survive a restart, refuse what is wrong without changing anything, and a
snooze keeps matching alerts off MQTT while they are still listed."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts import iso_time
from monitor.config import load_settings
from monitor.store import DB_NAME
from tests.mqtt_helpers import Broker, Subscriber, free_port
from tests.test_service import Daemon, alert_ids, expected_alerts, feed_lines

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "hormuz-sample.nmea.gz"
LIVE = ROOT / "examples" / "live.toml"
AUTH = {"Authorization": "Bearer letmein", "Content-Type": "application/json"}


def post(d: Daemon, path: str, body: Any, headers: dict[str, str] | None = None,
         method: str = "POST") -> tuple[int, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return d.request(method, path, raw, AUTH if headers is None else headers)


def snoozes(d: Daemon) -> list[dict[str, Any]]:
    """GET /api/snoozes, checked for its shape: the snoozes in force, their count, the feed clock."""
    code, body = d.get("/api/snoozes")
    assert code == 200 and set(body) == {"snoozes", "count", "feed_clock"}
    assert body["count"] == len(body["snoozes"]) and body["feed_clock"].endswith("Z")
    listed: list[dict[str, Any]] = body["snoozes"]
    return listed


def wait_for(check: Any, timeout: float, what: str, d: Daemon) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: " + d.log_text()[-3000:]
        time.sleep(0.1)


def all_vessels(d: Daemon) -> list[dict[str, Any]]:
    """Every vessel of /api/vessels, page after page."""
    vessels: list[dict[str, Any]] = []
    after = 0
    while True:
        code, page = d.get(f"/api/vessels?limit=500&after={after}")
        assert code == 200
        vessels += page["vessels"]
        if page["next"] is None:
            return vessels
        after = page["next"]


def restart(d: Daemon) -> None:
    d.signal(15)
    assert d.wait() == 0
    d.start()


# ---- make live ---------------------------------------------------------------------------------------------

def test_the_live_config_streams_the_sample_at_60x_with_no_broker() -> None:
    """examples/live.toml (what `make live` runs): the bundled sample as a `file` feed at 60 times real
    time, looped, MQTT off, HTTP on 127.0.0.1:8080 with a token."""
    s = load_settings(LIVE, env={})
    assert [(f.type, f.path, f.speed, f.loop) for f in s.feeds] == [("file", SAMPLE, 60.0, True)]
    assert not s.mqtt.enabled and (s.http.listen, s.http.port) == ("127.0.0.1", 8080)
    assert s.http.token.get_secret_value()
    makefile = (ROOT / "Makefile").read_text()
    assert "live:" in makefile and "examples/live.toml" in makefile


@pytest.mark.slow
def test_a_recording_streamed_live_without_a_broker_gives_the_replays_alerts(tmp_path: Path) -> None:
    """The daemon on live.toml with MQTT off and no broker anywhere: it is ready, streams the sample (here
    at 5,000 times real time, once), keeps its own c: times through the clock rules (no line refused as
    future or past, the feed clock months behind the wall clock), and lists exactly the alerts a replay of
    the sample gives; nothing is queued for MQTT and no connection to a broker is tried. The replay's
    `--snapshot` is what the daemon's API then serves: vessels, roster, traffic, interference, zones."""
    snap = tmp_path / "snapshot.json"
    replay = subprocess.run([sys.executable, "-m", "monitor", "replay", str(SAMPLE), "--format", "jsonl",
                             "--snapshot", str(snap)], capture_output=True, timeout=300, check=True)
    want = {json.loads(line)["id"] for line in replay.stdout.decode().splitlines()}
    picture = json.loads(snap.read_text())
    d = Daemon(tmp_path, f"mqtt://127.0.0.1:{free_port()}", prefix="unused")
    d.config = LIVE
    feed = {"name": "sample", "type": "file", "path": str(SAMPLE), "speed": 5000.0}
    d.env.update({"MONITOR_HTTP__PORT": str(d.http_port), "MONITOR_STATE__DIRECTORY": str(d.state),
                  "MONITOR_MQTT__URL": f"mqtt://127.0.0.1:{free_port()}", "MONITOR_LOGGING__FORMAT": "json",
                  "MONITOR_FEEDS": json.dumps([feed])})
    try:
        d.start()
        wait_for(lambda: any(e.get("event") == "feed_finished" for e in d.events()), 120, "not finished", d)
        d.wait_processed(int(d.metric("chokepoint_feed_lines_total")))

        def listed() -> set[str]:
            return {a["id"] for a in d.get("/api/alerts")[1]["alerts"]}

        wait_for(lambda: listed() >= want, 20, "alerts missing", d)
        assert listed() == want
        assert picture["vessels"] and picture["vessels"] == all_vessels(d)
        for part in ("roster", "traffic", "interference", "zones"):
            assert picture[part] == d.get(f"/api/{part}")[1], part
        assert picture["posture"]["level"] == d.get("/api/posture")[1]["level"]
        assert d.get("/readyz")[0] == 200
        assert d.metric("chokepoint_outbox_depth") == 0
        assert d.metric("chokepoint_feed_clock_offset_seconds") < -86_400
        _, text = d.get("/metrics")
        assert 'reason="future_time"' not in text and 'reason="past_time"' not in text
        events = {e.get("event") for e in d.events()}
        assert "mqtt_disabled" in events
        assert "mqtt_connected" not in events and "mqtt_disconnected" not in events
    finally:
        d.stop()
    assert d.proc is not None and d.proc.returncode == 0


# ---- acknowledge -------------------------------------------------------------------------------------------

def test_an_ack_round_trips_and_survives_a_restart(tmp_path: Path, broker: Broker, prefix: str,
                                                  daemons: list[Daemon]) -> None:
    """POST /api/alerts/{id}/ack with the token sets `ack` {by, note, time} on the alert in /api/alerts
    (others stay null); a second ack keeps the first; after SIGTERM and a restart the alerts are listed
    again with the same ack."""
    d = Daemon(tmp_path, broker.url, prefix=prefix)
    daemons.append(d)
    lines = feed_lines()
    d.start()
    d.send(lines)
    d.wait_processed(len(lines))
    alerts = wait_for(lambda: d.get("/api/alerts")[1]["alerts"], 10, "no alerts", d)
    assert all(a["ack"] is None and a["snoozed"] is False for a in alerts)
    target = alerts[0]["id"]
    before = time.time()
    code, acked = post(d, f"/api/alerts/{target}/ack", {"by": "watch officer", "note": "tanker known"})
    assert code == 200 and acked["id"] == target
    ack = acked["ack"]
    assert (ack["by"], ack["note"]) == ("watch officer", "tanker known")
    assert before - 1 <= datetime_s(ack["time"]) <= time.time() + 1 and ack["time"].endswith("Z")
    code, again = post(d, f"/api/alerts/{target}/ack", {"by": "second shift"})
    assert code == 200 and again["ack"] == ack  # idempotent: the first ack stays
    restart(d)
    after = d.get("/api/alerts")[1]["alerts"]
    assert [a["id"] for a in after] == [a["id"] for a in alerts]
    assert [a["ack"] for a in after] == [ack] + [None] * (len(alerts) - 1)


def datetime_s(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


def test_refused_operator_requests_change_nothing(tmp_path: Path, broker: Broker, prefix: str,
                                                 daemons: list[Daemon]) -> None:
    """Without the token 401 (with a challenge), an unknown alert or snooze 404, a bad body or value 400
    naming the field: afterwards no alert is acknowledged and the only snooze is the one made."""
    d = Daemon(tmp_path, broker.url, prefix=prefix)
    daemons.append(d)
    lines = feed_lines()
    d.start()
    d.send(lines)
    d.wait_processed(len(lines))
    target = wait_for(lambda: d.get("/api/alerts")[1]["alerts"], 10, "no alerts", d)[0]["id"]
    until = iso_time(round(time.time()) + 6 * 3600)  # (the feed runs up to 2 h ahead of the wall clock)
    code, snooze = post(d, "/api/snoozes", {"mmsi": 538000001, "kind": "*", "until": until, "reason": "r"})
    assert code == 201, snooze
    ack_path = f"/api/alerts/{target}/ack"
    good = {"mmsi": 538000002, "kind": "dark", "until": until, "reason": "known"}
    cases: list[tuple[str, str, Any, dict[str, str] | None, int, str | None]] = [
        ("POST", ack_path, {"by": "x"}, {}, 401, None),
        ("POST", ack_path, {"by": "x"}, {"Authorization": "Bearer wrong"}, 401, None),
        ("POST", "/api/snoozes", good, {"Authorization": "Basic letmein"}, 401, None),
        ("DELETE", f"/api/snoozes/{snooze['id']}", b"", {}, 401, None),
        ("POST", "/api/alerts/no-such-alert/ack", {"by": "x"}, None, 404, None),
        ("POST", ack_path, {"note": "who?"}, None, 400, "by"),
        ("POST", ack_path, {"by": "x", "extra": 1}, None, 400, "extra"),
        ("POST", ack_path, b"not json", None, 400, None),
        ("POST", ack_path, b"[1]", None, 400, None),
        ("POST", ack_path, b"[" * 40000, None, 400, None),
        ("POST", "/api/snoozes", {**good, "kind": "sinking"}, None, 400, "kind"),
        ("POST", "/api/snoozes", {**good, "until": "soon"}, None, 400, "until"),
        ("POST", "/api/snoozes", {**good, "until": iso_time(time.time() - 60)}, None, 400, "until"),
        ("POST", "/api/snoozes", {**good, "mmsi": -1}, None, 400, "mmsi"),
        ("POST", "/api/snoozes", {**good, "reason": ""}, None, 400, "reason"),
        ("DELETE", "/api/snoozes/999", b"", None, 404, None),
        ("DELETE", "/api/snoozes/abc", b"", None, 404, None),
        ("POST", "/api/snoozes?x=1", good, None, 400, "x"),
    ]
    for method, path, body, headers, status, field in cases:
        code, answer = post(d, path, body, headers, method=method)
        assert code == status, (method, path, body, answer)
        assert answer["status"] == status and answer["error"]
        assert answer.get("parameter") == field, (path, body, answer)
    assert snoozes(d) == [snooze]
    assert all(a["ack"] is None for a in d.get("/api/alerts")[1]["alerts"])


def test_operator_writes_without_a_configured_token_are_forbidden(tmp_path: Path, broker: Broker, prefix: str,
                                                                   daemons: list[Daemon]) -> None:
    """No token configured: every ack and snooze change is a 403 saying so; GET /api/snoozes is open."""
    d = Daemon(tmp_path, broker.url, prefix=prefix, env={"MONITOR_HTTP__TOKEN": ""})
    daemons.append(d)
    d.start()
    code, answer = post(d, "/api/snoozes", {"mmsi": 538000001, "kind": "*", "until": "x", "reason": "r"})
    assert code == 403 and "no token is configured" in answer["error"]
    assert post(d, "/api/alerts/x/ack", {"by": "x"})[0] == 403
    assert d.get("/api/snoozes")[0] == 200 and snoozes(d) == []


# ---- snooze ------------------------------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_a_snooze_keeps_matching_alerts_off_mqtt_but_lists_them(
        tmp_path: Path, broker: Broker, prefix: str, daemons: list[Daemon]) -> None:
    """Snoozed: every kind of 538000001, and 538000002's `transit`. Those alerts are listed with
    snoozed: true and never published; every other alert (538000002's zone entries, 440000003's) is
    published and listed with snoozed: false."""
    d = Daemon(tmp_path, broker.url, prefix=prefix)
    daemons.append(d)
    lines = feed_lines()
    want = expected_alerts(d, lines)
    until = iso_time(round(time.time()) + 6 * 3600)  # (the feed runs up to 2 h ahead of the wall clock)
    d.start()
    for body in ({"mmsi": 538000001, "kind": "*", "until": until, "reason": "escorted"},
                 {"mmsi": 538000002, "kind": "transit", "until": until, "reason": "expected"}):
        assert post(d, "/api/snoozes", body)[0] == 201

    def held(a: dict[str, Any]) -> bool:
        return a["mmsi"] == 538000001 or (a["mmsi"] == 538000002 and a["kind"] == "transit")

    snoozed = {a["id"] for a in want if held(a)}
    published = {a["id"] for a in want} - snoozed
    assert snoozed and published and any(a["kind"] == "transit" and a["mmsi"] == 538000002 for a in want)
    async with Subscriber(broker.url, f"{prefix}/alerts/#") as sub:
        d.send(lines)
        await sub.wait_until(lambda ms: set(alert_ids(ms)) >= published, 30)
        d.wait_processed(len(lines))
        deadline = time.monotonic() + 10
        while d.metric("chokepoint_outbox_depth") > 0:  # everything queued went out
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        assert set(alert_ids(sub.messages)) == published
    listed = d.get("/api/alerts")[1]["alerts"]
    assert {a["id"] for a in listed} == snoozed | published
    assert {a["id"] for a in listed if a["snoozed"]} == snoozed


def test_snoozes_survive_a_restart_and_expire_on_their_own(tmp_path: Path, broker: Broker, prefix: str,
                                                          daemons: list[Daemon]) -> None:
    """Two snoozes, one ending in an hour and one in a few seconds (no feed line yet: the feed clock is
    the wall clock): both listed after a restart; then the short one leaves GET /api/snoozes and the
    database by itself; DELETE ends the long one early, and a restart does not bring it back."""
    d = Daemon(tmp_path, broker.url, prefix=prefix)
    daemons.append(d)
    d.start()
    now = round(time.time())
    code, long = post(d, "/api/snoozes", {"mmsi": 538000001, "kind": "loiter", "until": iso_time(now + 3600),
                                          "reason": "at anchor, known"})
    assert code == 201 and long["id"] == 1 and long["until"] == iso_time(now + 3600)
    code, short = post(d, "/api/snoozes", {"mmsi": 538000002, "kind": "*", "until": iso_time(now + 8),
                                           "reason": "drill"})
    assert code == 201 and short["id"] == 2
    restart(d)
    assert snoozes(d) == [long, short]

    def kept() -> list[int]:
        db = sqlite3.connect(d.state / DB_NAME)
        try:
            return [i for (i,) in db.execute("SELECT id FROM snoozes ORDER BY id")]
        finally:
            db.close()

    wait_for(lambda: d.get("/api/snoozes")[1]["count"] == 1, 20, "short snooze not expired", d)
    wait_for(lambda: kept() == [1], 5, "expired snooze still kept", d)
    assert d.request("DELETE", "/api/snoozes/1", headers=AUTH)[1] == long
    assert d.request("DELETE", "/api/snoozes/1", headers=AUTH)[0] == 404
    restart(d)
    assert snoozes(d) == [] and kept() == []
    assert os.path.exists(d.state / DB_NAME)
