"""Issue 16's inputs and per-feed observability in the daemon as deployed: `chokepoint-monitor run`
subprocesses (tests.test_service.Daemon), a real Mosquitto, feeds served by the test.

- AIS-catcher's JSON over MQTT, UDP and its HTTP push gives the same vessels as its NMEA form.
- Rejects, duplicates and `$` sentences are counted per feed in /metrics and GET /api/feeds.
- /readyz is false while every feed is failing (its last error shown) and while no feed has delivered a
  line for service.ready_silence_s."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiomqtt
from pyais import decode

from tests.helpers import static_lines, tagged
from tests.mqtt_helpers import Broker, free_port
from tests.test_inputs import catcher_messages, json_lines, sentence_of, tag_time
from tests.test_service import Daemon, feed_lines


def wait_for(predicate: Any, timeout: float, what: str, d: Daemon) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}: " + d.log_text()[-3000:]
        time.sleep(0.05)


def metric(d: Daemon, name: str, **labels: str) -> float | None:
    """The value of one sample of /metrics (labels matched as given), None when absent."""
    _, text = d.get("/metrics")
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$", line)
        if m is None or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return None


def vessels(d: Daemon) -> list[dict[str, Any]]:
    code, body = d.get("/api/vessels?limit=1000")
    assert code == 200, body
    return list(body["vessels"])


def nmea_form() -> list[bytes]:
    """Three ships through the toy strait and two type 5 reports, the last line a minute ago (so a copy
    of it, sent later, is timed within the de-duplication window of the newest line)."""
    lines = feed_lines()
    shift = max(map(tag_time, lines)) - int(time.time()) + 60
    lines = [tagged(sentence_of(line), tag_time(line) - shift) for line in lines]
    t = tag_time(lines[0]) + 50
    lines += static_lines(538000001, t, "FIRST SHIP", callsign="V7FS1", imo=9_000_001)
    lines += static_lines(440000003, t + 1, "THIRD SHIP", ship_type=70, callsign="DSTS3", imo=9_000_002)
    lines.sort(key=tag_time)
    return lines


def test_catcher_json_over_mqtt_udp_and_http_gives_the_same_vessels_as_its_nmea_form(
    tmp_path: Path, broker: Broker, prefix: str, daemons: list[Daemon],
) -> None:
    """One daemon reads the NMEA form over TCP; another the same messages as AIS-catcher JSON, one ship
    over MQTT (topic .../ais/data), one over UDP, one by HTTP push: both list the same vessels, names,
    positions and times. The second daemon's feeds count per feed what they got: rejects (a bad checksum),
    duplicates (a second receiver's copy) and a ship's own $GPRMC (other_sentences, not a reject), in
    /metrics and GET /api/feeds."""
    nmea = nmea_form()
    udp_port, http_port = free_port(), free_port()
    topic = f"{prefix}/ais/data"
    extra = (
        f'[[feeds]]\nname = "catcher-mqtt"\ntype = "mqtt"\ntopic = "{topic}"\nformat = "aiscatcher_json"\n'
        f'[[feeds]]\nname = "catcher-udp"\ntype = "udp"\nport = {udp_port}\nformat = "aiscatcher_json"\n'
        f'[[feeds]]\nname = "catcher-http"\ntype = "http"\nport = {http_port}\nformat = "aiscatcher_json"\n'
    )
    (tmp_path / "nmea").mkdir()
    (tmp_path / "json").mkdir()
    plain = Daemon(tmp_path / "nmea", broker.url, prefix=f"{prefix}a")
    catcher = Daemon(tmp_path / "json", broker.url, prefix=f"{prefix}b", extra=extra)
    daemons += [plain, catcher]
    plain.start()
    catcher.start()

    plain.send(nmea)
    plain.wait_processed(len(nmea))

    by_ship: dict[int, list[dict[str, Any]]] = {}
    for obj in catcher_messages(nmea, full=True):
        mmsi = int(decode(*obj["nmea"]).asdict()["mmsi"])
        by_ship.setdefault(mmsi, []).append(obj)
    assert sorted(by_ship) == [440000003, 538000001, 538000002]
    async def publish() -> None:
        async with aiomqtt.Client(broker.host, broker.port) as client:
            for obj in json_lines(by_ship[538000001]):
                await client.publish(topic, obj, qos=1)

    wait_for(lambda: _feed(catcher, "catcher-mqtt")["state"] == "connected", 10, "the mqtt feed", catcher)
    asyncio.run(publish())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for obj in json_lines(by_ship[538000002]):
            sock.sendto(obj + b"\n", ("127.0.0.1", udp_port))
            time.sleep(0.001)
    push = {"protocol": "jsonaiscatcher", "encodetime": "20250615123001", "stationid": "test",
            "msgs": by_ship[440000003]}
    req = urllib.request.Request(f"http://127.0.0.1:{http_port}/", data=json.dumps(push).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200
    total = len(nmea)
    catcher.wait_processed(total)

    got, want = vessels(catcher), vessels(plain)
    assert [v["mmsi"] for v in got] == [440000003, 538000001, 538000002]
    assert got == want
    assert {v["mmsi"]: v["name"] for v in got}[538000001] == "FIRST SHIP"

    # Junk, a copy and a ship's own GPS on the TCP feed: counted against that feed only.
    copy = b"\\s:rx2,c:" + str(tag_time(nmea[-1])).encode() + b"*00\\" + sentence_of(nmea[-1]).encode()
    copy = _retag(copy)
    catcher.send([b"!AIVDM,1,1,,A,15MgK45P3@G?fl0E`JbR0OwT0@MS,0*00", copy,
                  b"$GPRMC,123519,A,2630.000,N,05615.000,E,012.0,071.0,150625,,,A*7C"])
    catcher.wait_processed(total + 3)
    assert metric(catcher, "chokepoint_feed_rejected_total", feed="rx", reason="bad_checksum") == 1
    assert metric(catcher, "chokepoint_feed_duplicates_total", feed="rx") == 1
    assert metric(catcher, "chokepoint_feed_other_sentences_total", feed="rx") == 1
    assert metric(catcher, "chokepoint_feed_duplicates_total", feed="catcher-udp") == 0
    assert metric(catcher, "chokepoint_feed_rejected_total", feed="catcher-udp") is None
    assert metric(catcher, "chokepoint_rejected_total", reason="unknown_sentence") in (None, 0)
    rows = {r["name"]: r for r in catcher.get("/api/feeds")[1]["feeds"]}
    assert set(rows) == {"rx", "catcher-mqtt", "catcher-udp", "catcher-http"}
    assert rows["rx"]["rejects"] == {"bad_checksum": 1} and rows["rx"]["duplicates"] == 1
    assert rows["rx"]["other_sentences"] == 1
    assert all(r["state"] == "connected" and r["last_error"] is None for r in rows.values())
    assert rows["catcher-http"]["format"] == "aiscatcher_json" and rows["catcher-http"]["lines"] > 0
    assert sum(r["lines"] for r in rows.values()) == total + 3


def _retag(line: bytes) -> bytes:
    """The line with its tag block's checksum made right."""
    body = line[1:line.index(b"*")]
    c = 0
    for b in body:
        c ^= b
    return b"\\" + body + b"*" + f"{c:02X}".encode() + line[line.index(b"\\", 1):]


def _feed(d: Daemon, name: str) -> dict[str, Any]:
    code, body = d.get("/api/feeds")
    assert code == 200, body
    return next(r for r in body["feeds"] if r["name"] == name)


class _LineServer:
    """A receiver serving NMEA over TCP from a thread: every client gets `lines`, then the connection
    stays open."""

    def __init__(self, port: int, lines: list[bytes]) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen()
        self.lines = lines
        self.clients: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.clients.append(conn)
            conn.sendall(b"".join(line + b"\n" for line in self.lines))

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.sock.close()


def test_readyz_false_while_every_feed_fails_then_true_and_false_again_after_silence(
    tmp_path: Path, broker: Broker, prefix: str, daemons: list[Daemon],
) -> None:
    """With its only feed a receiver that refuses connections, the daemon is not ready: /readyz is 503
    saying every feed is failing, and /api/feeds shows the feed failing with its last error. Once the
    receiver serves lines, ready; when nothing has come for service.ready_silence_s, not ready again."""
    port = free_port()
    d = Daemon(tmp_path, broker.url, prefix=prefix)
    d.config.write_text(
        re.sub(r'\[\[feeds\]\].*', "", d.config.read_text(), flags=re.DOTALL)
        .replace("shutdown_timeout_s = 5.0\n", "shutdown_timeout_s = 5.0\nready_silence_s = 4.0\n")
        + f'[[feeds]]\nname = "far"\ntype = "tcp"\nport = {port}\nreconnect_max_s = 0.3\n'
    )
    daemons.append(d)
    d.start(wait_ready=False)
    wait_for(lambda: _ready(d)[0] == 503 and _ready(d)[1].get("feeds_failing") is True, 20,
             "readyz 503, every feed failing", d)
    row = _feed(d, "far")
    assert row["state"] == "failing" and "Connect" in (row["last_error"] or "") and row["last_error_at"]
    assert metric(d, "chokepoint_feed_failing", feed="far") == 1
    server = _LineServer(port, feed_lines()[:5])
    try:
        wait_for(lambda: _ready(d)[0] == 200, 20, "readyz 200 once the receiver serves lines", d)
        assert _feed(d, "far")["state"] == "connected" and _feed(d, "far")["lines"] == 5
        wait_for(lambda: _ready(d)[0] == 503, 15, "readyz 503 after ready_silence_s without a line", d)
        facts = _ready(d)[1]
        assert facts["feeds_failing"] is False and facts["feeds_silent_s"] >= 4.0
    finally:
        server.close()


def _ready(d: Daemon) -> tuple[int, dict[str, Any]]:
    try:
        code, body = d.get("/readyz")  # (the facts, with "ready"; a 503 in the API's error shape besides)
    except OSError:
        return 0, {}  # (not listening yet)
    return code, body if isinstance(body, dict) else {}
