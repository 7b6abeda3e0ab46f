"""The daemon as users deploy it: a real `chokepoint-monitor run` subprocess, a real Mosquitto broker, a
TCP feed served by the test, the HTTP API, signals and the systemd notify protocol."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from monitor.config import load_settings
from monitor.pipeline import Pipeline
from monitor.zones import load_zone_file
from tests.helpers import position_lines, track, write_zones
from tests.mqtt_helpers import Broker, Subscriber, find_mosquitto, free_port

REPO = Path(__file__).resolve().parents[1]


def feed_lines() -> list[bytes]:
    """Three ships through the toy strait (transits, lane and port entries), timed to end about now so
    the wall-clock timers of the live daemon agree with the replay."""
    t0 = int(time.time()) - 3 * 3600
    lines = track(538000001, [(57.3, 26.1), (55.55, 25.95)], t0, interval_s=60, speed_kn=20)
    lines += track(538000002, [(55.7, 25.8), (57.3, 25.8)], t0 + 30, interval_s=60, speed_kn=20)
    lines += track(440000003, [(57.3, 26.3), (55.8, 26.3)], t0 + 15, interval_s=60, speed_kn=20)
    # Time order, as a receiver delivers them; the tag block starts "\s:rx1,c:<time>".
    lines.sort(key=lambda ln: int(ln.split(b"c:")[1].split(b"*")[0]))
    return lines


class Daemon:
    """`python -m monitor run` in a subprocess, with its config, feed port and HTTP port."""

    def __init__(self, tmp: Path, broker_url: str, *, prefix: str, extra: str = "",
                 env: dict[str, str] | None = None) -> None:
        self.tmp = tmp
        self.feed_port = free_port()
        self.http_port = free_port()
        self.prefix = prefix
        self.state = tmp / "state"
        self.zones = write_zones(tmp / "zones.geojson")
        self.config = tmp / "monitor.toml"
        self.config.write_text(
            f'[zones]\nfile = "{self.zones}"\n'
            f'[mqtt]\nurl = "{broker_url}"\nprefix = "{prefix}"\n'
            f'[state]\ndirectory = "{self.state}"\n'
            f'[http]\nport = {self.http_port}\ntoken = "letmein"\n'
            f'[logging]\nformat = "json"\n'
            f'[service]\nshutdown_timeout_s = 5.0\n'
            f'[[feeds]]\nname = "rx"\ntype = "tcp_server"\nport = {self.feed_port}\n' + extra
        )
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("MONITOR_", "NOTIFY_", "WATCHDOG"))
        }
        self.env.update(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tmp / "daemon.log"

    def start(self, wait_ready: bool = True) -> None:
        with open(self.log, "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "monitor", "run", "--config", str(self.config)],
                stdout=subprocess.DEVNULL, stderr=log, env=self.env,
            )
        if wait_ready:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, self.log_text()
                try:
                    if self.get("/readyz")[0] == 200:
                        return
                except OSError:
                    pass
                time.sleep(0.1)
            raise AssertionError("daemon not ready: " + self.log_text())

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any]:
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=body, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                raw = r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            raw, status = e.read(), e.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode()

    def metric(self, name: str) -> float:
        _, text = self.get("/metrics")
        for line in text.splitlines():
            if line.startswith((name + " ", name + "{")):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"no metric {name}")

    def send(self, lines: list[bytes]) -> None:
        with socket.create_connection(("127.0.0.1", self.feed_port), timeout=5) as s:
            s.sendall(b"".join(ln + b"\n" for ln in lines))

    def wait_processed(self, lines: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while self.metric("chokepoint_lines_total") < lines:
            assert time.monotonic() < deadline, f"daemon did not process {lines} lines: " + self.log_text()
            time.sleep(0.05)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 20) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        """End a daemon the test left running as systemd would: SIGTERM, a second SIGTERM (forced exit) if
        the drain takes long, SIGKILL last. A SIGKILLed process writes no coverage data, so the code only
        the daemon ran (reload, the posture command, /api/zones...) would not count."""
        if self.proc is None or self.proc.poll() is not None:
            return
        for wait_s in (3.0, 5.0):
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(wait_s)
                return
            except subprocess.TimeoutExpired:
                pass
        self.kill()


def expected_alerts(d: Daemon, lines: list[bytes]) -> list[dict[str, Any]]:
    """What a replay of the same lines, with the same config and zones, gives."""
    p = Pipeline(load_settings(d.config, env={}), load_zone_file(d.zones))
    return [a.to_dict() for a in p.process_lines(lines)]


async def persistent_subscriber(url: str, topic: str, client_id: str, sessions: list[list[aiomqtt.Message]],
                                up: asyncio.Event) -> None:
    """A persistent session (fixed id, clean_session=False, QoS 1) that reconnects until cancelled: the
    broker queues alerts for it while it is away. Each connection's messages are one list in `sessions`."""
    while True:
        try:
            async with Subscriber(url, topic, identifier=client_id, clean_session=False) as sub:
                sessions.append(sub.messages)
                up.set()
                await sub.wait_until(lambda _: False, 3600)
        except (aiomqtt.MqttError, TimeoutError):
            up.clear()
            await asyncio.sleep(0.1)


def alert_ids(messages: list[aiomqtt.Message]) -> list[str]:
    return [json.loads(m.payload)["id"] for m in messages]  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_live_tcp_feed_to_subscriber(tmp_path: Path, broker: Broker, prefix: str,
                                           daemons: list[Daemon]) -> None:
    """End to end: a TCP feed served to the daemon, a subscriber receiving contract alerts on
    {prefix}/alerts/{severity}/{kind}, exactly the ids a replay of the same feed gives; status online."""
    d = Daemon(tmp_path, broker.url, prefix=prefix)
    daemons.append(d)
    lines = feed_lines()
    want = expected_alerts(d, lines)
    assert {a["kind"] for a in want} >= {"zone_enter", "zone_exit", "transit"}
    async with Subscriber(broker.url, f"{prefix}/#") as sub:
        d.start()
        d.send(lines)
        got = await sub.wait_until(
            lambda ms: set(alert_ids([m for m in ms if "/alerts/" in str(m.topic)]))
            >= {a["id"] for a in want}, 30)
    alerts = [m for m in got if "/alerts/" in str(m.topic)]
    assert set(alert_ids(alerts)) == {a["id"] for a in want}
    for m in alerts:
        a = json.loads(m.payload)  # type: ignore[arg-type]
        assert str(m.topic) == f"{prefix}/alerts/{a['severity']}/{a['kind']}"
        assert m.qos == 1 and not m.retain
        assert set(a) == {"schema", "id", "kind", "severity", "posture", "time", "mmsi", "vessel", "zone",
                          "position", "details"}
    status = [json.loads(m.payload) for m in got if str(m.topic) == f"{prefix}/status"]  # type: ignore[arg-type]
    assert status and status[-1]["state"] == "online" and status[-1]["version"]
    # The HTTP view agrees: vessels, their zones, the recent alerts.
    code, body = d.get("/api/vessels")
    assert code == 200 and body["count"] == 3
    code, body = d.get("/api/alerts?kind=transit")
    assert code == 200 and len(body["alerts"]) == sum(a["kind"] == "transit" for a in want)
    deadline = time.monotonic() + 10
    while d.metric("chokepoint_outbox_depth") > 0:  # acknowledged rows leave the outbox
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


@pytest.mark.asyncio
async def test_broker_outage_loses_no_alert(tmp_path: Path, prefix: str, daemons: list[Daemon]) -> None:
    """The broker is stopped for seconds mid-stream and restarted: the subscriber ends with exactly the
    alert ids a jsonl replay of the same feed gives (duplicates allowed)."""
    executable = find_mosquitto()
    assert executable is not None, "mosquitto is not installed: run `make test`"
    broker = Broker(executable, tmp_path / "broker", persistent=True)
    broker.start()
    try:
        d = Daemon(tmp_path, broker.url, prefix=prefix)
        daemons.append(d)
        lines = feed_lines()
        want = {a["id"] for a in expected_alerts(d, lines)}
        sessions: list[list[aiomqtt.Message]] = []
        up = asyncio.Event()
        sub = asyncio.create_task(
            persistent_subscriber(broker.url, f"{prefix}/alerts/#", f"{prefix}-sub", sessions, up))

        def received() -> set[str]:
            return {i for messages in sessions for i in alert_ids(messages)}

        await asyncio.wait_for(up.wait(), 10)
        d.start()
        half = len(lines) // 2
        d.send(lines[:half])
        d.wait_processed(half)
        broker.stop()
        d.send(lines[half:])
        d.wait_processed(len(lines))
        await asyncio.sleep(2)
        assert d.metric("chokepoint_outbox_depth") > 0  # queued while the broker is away
        assert d.metric("chokepoint_mqtt_connected") == 0
        broker.start()
        deadline = time.monotonic() + 30
        while received() != want:
            assert time.monotonic() < deadline, f"missing {len(want - received())} alerts"
            await asyncio.sleep(0.1)
        assert received() == want
        sub.cancel()
        await asyncio.gather(sub, return_exceptions=True)
    finally:
        broker.stop()


@pytest.mark.asyncio
async def test_sigkill_and_restart_loses_nothing_and_repeats_no_entry(
    tmp_path: Path, broker: Broker, prefix: str, daemons: list[Daemon]
) -> None:
    """The daemon is SIGKILLed mid-stream and restarted on the same state directory: no alert id is
    missing, and vessels already inside a zone get no second zone_enter."""
    d = Daemon(tmp_path, broker.url, prefix=prefix)
    daemons.append(d)
    lines = feed_lines()
    want = expected_alerts(d, lines)
    async with Subscriber(broker.url, f"{prefix}/alerts/#") as sub:
        d.start()
        half = len(lines) // 2
        d.send(lines[:half])
        d.wait_processed(half)
        d.kill()  # SIGKILL: no drain, no flush, no offline status
        d.start()
        code, vessels = d.get("/api/vessels")
        assert code == 200 and vessels["count"] == 3  # tracks restored
        d.send(lines[half:])
        await sub.wait_until(lambda ms: set(alert_ids(ms)) >= {a["id"] for a in want}, 30)
        await asyncio.sleep(0.5)  # anything extra would have arrived by now
        got = [json.loads(m.payload) for m in sub.messages]  # type: ignore[arg-type]
    assert {a["id"] for a in got} == {a["id"] for a in want}
    enters = Counter((a["mmsi"], a["zone"]["id"]) for a in {a["id"]: a for a in got}.values()
                     if a["kind"] == "zone_enter")
    assert enters == Counter((a["mmsi"], a["zone"]["id"]) for a in want if a["kind"] == "zone_enter")


@pytest.mark.asyncio
async def test_sigterm_drains_flushes_and_says_offline(tmp_path: Path, broker: Broker, prefix: str,
                                                      daemons: list[Daemon]) -> None:
    """SIGTERM with alerts just produced: every alert is delivered, the retained status says offline,
    and the daemon exits 0."""
    d = Daemon(tmp_path, broker.url, prefix=prefix)
    daemons.append(d)
    lines = feed_lines()
    want = {a["id"] for a in expected_alerts(d, lines)}
    async with Subscriber(broker.url, f"{prefix}/#") as sub:
        d.start()
        d.send(lines)
        # Lines still in the socket when the feeds stop are not read (the receiver's stream goes on
        # without us); what the pipeline has taken in must all come out.
        d.wait_processed(len(lines))
        d.signal(signal.SIGTERM)
        assert d.wait() == 0
        await sub.wait_until(lambda ms: set(alert_ids([m for m in ms if "/alerts/" in str(m.topic)])) >= want
                             and any(str(m.topic).endswith("/status") and b"offline" in m.payload  # type: ignore[operator]
                                     for m in ms), 20)
    events = [e["event"] for e in d.events()]
    assert "stop_requested" in events and "stopped" in events


@pytest.mark.asyncio
async def test_posture_commands_validated(tmp_path: Path, broker: Broker, prefix: str,
                                          daemons: list[Daemon]) -> None:
    """Malformed posture/set commands and unauthorized HTTP PUTs are refused, counted and change
    nothing; a valid command changes the retained posture and raises a posture_change alert."""
    d = Daemon(tmp_path, broker.url, prefix=prefix)
    daemons.append(d)
    d.start()
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        for bad in (b"not json", b'{"level": "PURPLE"}', b'{"level": 3}', b'{"level": "HIGH", "x": 1}',
                    b'{"level": "HIGH", "reason": 7}', b"[]"):
            await client.publish(f"{prefix}/posture/set", bad, qos=1)
        deadline = time.monotonic() + 10
        while d.metric('chokepoint_posture_commands_total{result="refused"}') < 6:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert d.get("/api/posture")[1]["level"] == "NORMAL"
        # HTTP: no token, wrong token, malformed queries.
        assert d.request("PUT", "/api/posture", b'{"level":"HIGH"}')[0] == 401
        nope, letmein = {"Authorization": "Bearer nope"}, {"Authorization": "Bearer letmein"}
        assert d.request("PUT", "/api/posture", b'{"level":"HIGH"}', nope)[0] == 401
        assert d.request("PUT", "/api/posture", b'{"level":"SEVERE"}', letmein)[0] == 400
        for q in ("/api/alerts?since=yesterday", "/api/alerts?kind=boom", "/api/vessels?type=abc",
                  "/api/vessels/notanumber"):
            code, body = d.get(q)
            assert code == 400 and "error" in body and "Traceback" not in json.dumps(body)
        assert d.get("/api/posture")[1]["level"] == "NORMAL"
        async with Subscriber(broker.url, f"{prefix}/#") as sub:
            await client.publish(f"{prefix}/posture/set", b'{"level": "HIGH", "reason": "drill"}', qos=1)
            msgs = await sub.wait_until(
                lambda ms: any(str(m.topic) == f"{prefix}/posture" and b'"HIGH"' in m.payload  # type: ignore[operator]
                               for m in ms)
                and any("posture_change" in str(m.topic) for m in ms), 10)
    change = next(json.loads(m.payload) for m in msgs if "posture_change" in str(m.topic))  # type: ignore[arg-type]
    assert change["details"] == {"from": "NORMAL", "to": "HIGH", "reason": "drill", "set_by": "mqtt"}
    retained = [json.loads(m.payload) for m in msgs if str(m.topic) == f"{prefix}/posture"][-1]  # type: ignore[arg-type]
    assert retained["level"] == "HIGH" and retained["set_by"] == "mqtt"
    assert d.get("/api/posture")[1]["level"] == "HIGH"
    code, body = d.request("PUT", "/api/posture", b'{"level":"normal","reason":"stand down"}',
                           {"Authorization": "Bearer letmein"})
    assert code == 200 and body["level"] == "NORMAL"


def test_a_forgotten_vessel_leaves_the_api_the_metrics_and_the_saved_state(
    tmp_path: Path, broker: Broker, prefix: str, daemons: list[Daemon]
) -> None:
    """With state.forget_after_s = 2 h: a vessel last heard 4 h ago is saved with its zone_enter; once the
    feed's clock has moved past its silence (another ship reports now), it is forgotten: it leaves
    /api/vessels, /metrics counts it, and its saved state goes: after SIGTERM and a restart only the
    vessel still reporting is restored. (Forgetting runs on the feed's clock, never the wall clock's.)"""
    d = Daemon(tmp_path, broker.url, prefix=prefix, env={"MONITOR_STATE__FORGET_AFTER_S": "7200"})
    daemons.append(d)
    now = int(time.time())
    d.start()
    d.send(position_lines(538000001, 55.55, 25.95, now - 4 * 3600))  # in port-a, four hours ago
    d.wait_processed(1)
    time.sleep(1.5)  # ticks: the wall clock alone forgets nobody
    assert d.metric("chokepoint_vessels_forgotten_total") == 0 and d.metric("chokepoint_vessels") == 1
    lines = [ln for t in range(now - 1800, now, 600) for ln in position_lines(538000002, 55.0, 26.5, t)]
    d.send(lines)
    d.wait_processed(1 + len(lines))
    deadline = time.monotonic() + 10
    while d.metric("chokepoint_vessels_forgotten_total") < 1:
        assert time.monotonic() < deadline, d.log_text()
        time.sleep(0.05)
    assert [v["mmsi"] for v in d.get("/api/vessels")[1]["vessels"]] == [538000002]
    d.signal(signal.SIGTERM)
    assert d.wait() == 0
    d.start()
    assert d.get("/readyz")[1]["state_restored_vessels"] == 1


def test_reload_refuses_a_broken_zone_file_and_applies_a_good_one(tmp_path: Path, broker: Broker,
                                                                 prefix: str, daemons: list[Daemon]) -> None:
    """SIGHUP re-reads config and zones atomically: a broken zone file is refused (logged) and the old
    zones kept; a good one is applied."""
    d = Daemon(tmp_path, broker.url, prefix=prefix)
    daemons.append(d)
    d.start()
    good = d.zones.read_text()
    d.zones.write_text('{"type": "FeatureCollection", "features": []}')
    d.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while not any(e["event"] == "reload_refused" for e in d.events()):
        assert time.monotonic() < deadline, d.log_text()
        time.sleep(0.05)
    assert d.get("/healthz")[0] == 200
    assert any(f["properties"]["id"] == "port-a" for f in d.get("/api/zones")[1]["features"])
    collection = json.loads(good)
    collection["features"] = [f for f in collection["features"] if f["properties"]["id"] != "port-a"]
    d.zones.write_text(json.dumps(collection))
    d.signal(signal.SIGHUP)
    while not any(e["event"] == "reloaded" for e in d.events()):
        assert time.monotonic() < deadline, d.log_text()
        time.sleep(0.05)
    assert not any(f["properties"]["id"] == "port-a" for f in d.get("/api/zones")[1]["features"])


def test_notify_socket_sees_ready_and_watchdog(tmp_path: Path, broker: Broker, prefix: str,
                                               daemons: list[Daemon]) -> None:
    """Type=notify: with NOTIFY_SOCKET set the daemon sends READY=1 once started, WATCHDOG=1 pings at
    half of WATCHDOG_USEC, STATUS lines, and STOPPING=1 on SIGTERM."""
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    d = Daemon(tmp_path, broker.url, prefix=prefix, env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"})
    daemons.append(d)
    d.start(wait_ready=False)
    seen: list[str] = []
    deadline = time.monotonic() + 20
    while not (any("READY=1" in m for m in seen) and sum("WATCHDOG=1" in m for m in seen) >= 2):
        assert time.monotonic() < deadline, seen
        seen.append(sock.recv(4096).decode())
    assert any("STATUS=" in m for m in seen)
    d.signal(signal.SIGTERM)
    while not any("STOPPING=1" in m for m in seen):
        seen.append(sock.recv(4096).decode())
    assert d.wait() == 0
    sock.close()


def test_bad_config_exits_3(tmp_path: Path) -> None:
    """`run` with an invalid config exits 3 with one line naming the file: systemd does not restart it."""
    cfg = tmp_path / "m.toml"
    cfg.write_text("[mqtt]\nurl = 'http://nope'\n")
    r = subprocess.run([sys.executable, "-m", "monitor", "run", "--config", str(cfg)], capture_output=True,
                       timeout=60)
    assert r.returncode == 3
    assert str(cfg) in r.stderr.decode() and "mqtt.url" in r.stderr.decode()


def test_systemd_unit_verifies() -> None:
    """systemd-analyze verify accepts the unit (its ExecStart pointed at this venv's command)."""
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze is missing (Debian package systemd)"
    unit = (REPO / "systemd" / "chokepoint-monitor.service").read_text()
    exe = Path(sys.executable).with_name("chokepoint-monitor")
    for key in ("Type=notify", "WatchdogSec=", "Restart=on-failure", "RestartPreventExitStatus=3",
                "DynamicUser=yes", "StateDirectory=", "ConfigurationDirectory=", "NoNewPrivileges=yes",
                "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "RestrictAddressFamilies=",
                "MemoryMax=", "LimitNOFILE=", "ExecReload=/bin/kill -HUP $MAINPID"):
        assert key in unit, key
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chokepoint-monitor.service"
        path.write_text(unit.replace("/opt/chokepoint-monitor/.venv/bin/chokepoint-monitor", str(exe)))
        r = subprocess.run([analyze, "verify", str(path)], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()


def test_replay_publish_waits_for_every_ack(tmp_path: Path, broker: Broker, prefix: str) -> None:
    """`replay --publish` sends every alert and exits 0 only once all are acknowledged; with the broker
    down it gives up, exit 1, naming how many are still queued."""
    zones = write_zones(tmp_path / "z.geojson")
    feed = tmp_path / "f.nmea"
    lines = feed_lines()
    feed.write_bytes(b"".join(ln + b"\n" for ln in lines))
    cfg = tmp_path / "m.toml"
    cfg.write_text(f'[mqtt]\nprefix = "{prefix}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}

    async def run() -> tuple[subprocess.CompletedProcess[bytes], list[aiomqtt.Message]]:
        async with Subscriber(broker.url, f"{prefix}/#") as sub:
            r = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "monitor", "replay", str(feed), "--zones", str(zones),
                 "--config", str(cfg), "--publish", "--mqtt", broker.url],
                capture_output=True, timeout=120, env=env)
            n = len(r.stdout.splitlines())
            await sub.wait_until(lambda ms: len({json.loads(m.payload)["id"] for m in ms}) >= n, 10)  # type: ignore[arg-type]
            return r, sub.messages

    r, msgs = asyncio.run(run())
    assert r.returncode == 0, r.stderr.decode()
    ids = {json.loads(line)["id"] for line in r.stdout.splitlines()}
    assert ids and {json.loads(m.payload)["id"] for m in msgs} == ids  # type: ignore[arg-type]
    assert not any(str(m.topic).endswith("/status") for m in msgs)  # a replay does not pose as the daemon
    dead = f"mqtt://127.0.0.1:{free_port()}"
    r = subprocess.run(
        [sys.executable, "-m", "monitor", "replay", str(feed), "--zones", str(zones), "--publish",
         "--mqtt", dead, "--publish-timeout", "2"], capture_output=True, timeout=120, env=env)
    assert r.returncode == 1
    assert f"{len(ids)} alerts still queued" in r.stderr.decode()


def test_second_signal_forces_exit(tmp_path: Path, prefix: str, daemons: list[Daemon]) -> None:
    """A second SIGTERM during the drain (the broker is unreachable, so the flush would wait out its
    deadline) forces the daemon out at once, with a non-zero code and a `forced_exit` event."""
    dead = f"mqtt://127.0.0.1:{free_port()}"
    d = Daemon(tmp_path, dead, prefix=prefix, extra="")
    d.config.write_text(d.config.read_text().replace("shutdown_timeout_s = 5.0", "shutdown_timeout_s = 60.0"))
    daemons.append(d)
    d.start()
    d.send(feed_lines())
    d.wait_processed(len(feed_lines()))
    d.signal(signal.SIGTERM)
    time.sleep(0.5)
    assert d.proc is not None and d.proc.poll() is None  # still flushing towards a broker that is not there
    started = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.wait(10) != 0
    assert time.monotonic() - started < 5
    assert any(e["event"] == "forced_exit" for e in d.events())


def test_dark_timer_keeps_running_across_a_restart(tmp_path: Path) -> None:
    """State saved by one engine and restored by another keeps a vessel's silence: the restored daemon
    raises `dark` at last_seen + limit, with no second zone_enter for the vessel already inside."""
    zones = load_zone_file(write_zones(tmp_path / "z.geojson"))
    settings = load_settings(None, env={})
    t0 = 1_750_000_000
    lines = track(538000009, [(56.9, 26.1), (56.6, 26.1)], t0, interval_s=60, speed_kn=12)
    first = Pipeline(settings, zones)
    first.engine.dirty = set()
    before = first.process_lines(lines)
    saved = {k: v for k, v in first.engine.export_state().items() if v is not None}
    wall = [0.0]
    second = Pipeline(settings, zones, clock=lambda: wall[0])  # live, on a wall clock the test moves
    assert second.engine.import_state(saved) == 1
    last = max(a["time"] for a in [x.to_dict() for x in before])
    heard = second.engine.get(538000009).heard  # type: ignore[union-attr]
    # The feed goes on after the restart: another ship reports every 5 minutes, the wall clock in step.
    alerts = []
    for t in range(int(heard) + 300, int(heard) + 3300, 300):
        wall[0] = t + 1.0
        alerts += second.process_lines(position_lines(538000010, 56.0, 26.5, t))
        for w in range(t + 60, t + 300, 60):  # the daemon's ticker, between the lines
            alerts += second.tick(w)
    assert [a.kind for a in alerts if a.mmsi == 538000009] == ["dark"]
    dark = next(a for a in alerts if a.kind == "dark")
    assert dark.time == heard + 2700 and dark.details["silent_s"] == 2700.0
    # The vessel reports again inside the same zones: reappeared, and no new zone_enter.
    more = second.process_lines(track(538000009, [(56.5, 26.1), (56.45, 26.1)], int(heard) + 4000,
                                       interval_s=60, speed_kn=12))
    assert "zone_enter" not in [a.kind for a in more] and "reappeared" in [a.kind for a in more]
    assert last
