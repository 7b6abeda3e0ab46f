"""Hostile and skewed input against the real daemon (`chokepoint-monitor run` in a subprocess, a real
Mosquitto): one UDP datagram that used to stop it, a receiver whose clock lags the wall clock by 50 minutes,
and a recording streamed live, which must give the replay's alerts."""

from __future__ import annotations

import gzip
import json
import socket
import time
from datetime import datetime
from pathlib import Path

from monitor.zones import default_zone_path
from tests.helpers import position_lines
from tests.mqtt_helpers import Broker, free_port
from tests.test_clock import GOLDEN, SAMPLE, retimed
from tests.test_service import Daemon

FLEET = [538_200_000 + k for k in range(20)]


def send_udp(port: int, payload: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(payload, ("127.0.0.1", port))


def counter(d: Daemon, family: str, label: str) -> float:
    """A labelled counter of the daemon's /metrics, e.g. counter(d, "rejected", 'reason="future_time"');
    0 when the label has not been counted yet."""
    _, text = d.get("/metrics")
    for line in text.splitlines():
        if line.startswith(f"chokepoint_{family}_total{{{label}}}"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def rejected(d: Daemon, reason: str) -> float:
    return counter(d, "rejected", f'reason="{reason}"')


def alerts_of_kind(d: Daemon, kind: str) -> float:
    return counter(d, "alerts", f'kind="{kind}"')


def test_one_udp_datagram_cannot_stop_the_daemon(tmp_path: Path, broker: Broker, prefix: str,
                                                 daemons: list[Daemon]) -> None:
    """The 68-byte datagram `c:1e20` that made `run` exit 1, a 30-digit c:, NaN, junk bytes: each is counted
    and skipped, the daemon stays up and goes on to process a good line."""
    udp = free_port()
    d = Daemon(tmp_path, broker.url, prefix=prefix,
               extra=f'[[feeds]]\nname = "udp"\ntype = "udp"\nport = {udp}\n')
    daemons.append(d)
    d.start()
    good = position_lines(538_000_001, 56.3, 26.1, time.time() - 5)[0]
    for value in ("1e20", "9" * 30, "nan", "-1", "4102444800"):
        send_udp(udp, retimed(good, value) + b"\n")
    send_udp(udp, b"\\c:1e20*00\\!AIVDM,1,1,,A,\xff\xfe\x00,0*00\n")
    send_udp(udp, bytes(range(256)))
    send_udp(udp, good + b"\n")
    deadline = time.monotonic() + 15
    while d.metric("chokepoint_vessels") < 1:
        assert d.proc is not None and d.proc.poll() is None, d.log_text()
        assert time.monotonic() < deadline, d.log_text()
        time.sleep(0.05)
    assert rejected(d, "bad_tag_block") >= 5
    assert d.proc is not None and d.proc.poll() is None
    assert d.get("/healthz")[0] == 200
    assert "Traceback" not in d.log_text()


def test_a_lagging_receiver_raises_no_storm(tmp_path: Path, broker: Broker, prefix: str,
                                            daemons: list[Daemon]) -> None:
    """Tag-block times 50 minutes behind the wall clock, 20 ships reporting every second for 8 s while the
    daemon's ticker runs on the wall clock: no dark, no reappeared (it was 80 and 60 in 35 s)."""
    d = Daemon(tmp_path, broker.url, prefix=prefix)
    daemons.append(d)
    d.start()
    lag = 50 * 60
    with socket.create_connection(("127.0.0.1", d.feed_port), timeout=5) as s:
        for k in range(8):
            t = time.time() - lag
            lines = [
                ln
                for j, m in enumerate(FLEET)
                for ln in position_lines(m, 56.2 + 0.01 * j, 26.1 + 0.001 * k, t)
            ]
            s.sendall(b"".join(ln + b"\n" for ln in lines))
            time.sleep(1.0)
    d.wait_processed(8 * len(FLEET))
    time.sleep(2.5)  # more ticks
    assert d.metric("chokepoint_vessels") == len(FLEET)
    assert alerts_of_kind(d, "dark") == 0 and alerts_of_kind(d, "reappeared") == 0
    assert rejected(d, "future_time") == 0 and rejected(d, "past_time") == 0
    # The feed's clock is exported under its name, and no clock of a feed that does not exist.
    metrics = d.get("/metrics")[1]
    assert 'chokepoint_feed_clock_jumps_total{feed="rx"} 0.0' in metrics and 'feed=""' not in metrics


def test_a_recording_streamed_live_keeps_its_vessels_and_gives_the_replays_alerts(
        tmp_path: Path, broker: Broker, prefix: str, daemons: list[Daemon]) -> None:
    """The bundled sample (June 2025) streamed into `run` as fast as TCP takes it: every alert of the replay,
    same ids, no vessel lost (it was 2,670 alerts, or every vessel lost at the first tick). Beyond the replay,
    only `dark` alerts due within clock.outage_s after the recording's last line (the live clock goes on
    that long after a feed falls silent)."""
    d = Daemon(tmp_path, broker.url, prefix=prefix)
    daemons.append(d)
    d.config.write_text(d.config.read_text().replace(str(d.zones), str(default_zone_path())))
    d.start()
    lines = gzip.decompress(SAMPLE.read_bytes()).splitlines()
    d.send(lines)
    d.wait_processed(sum(1 for ln in lines if ln.strip()), timeout=60)
    time.sleep(2.0)
    golden = [json.loads(x) for x in GOLDEN.read_text().splitlines()]
    code, body = d.get("/api/alerts?limit=10000")
    assert code == 200
    live = body["alerts"]
    assert {a["id"] for a in golden} <= {a["id"] for a in live}
    last = max(float(ln.split(b"c:")[1].split(b"*")[0].split(b",")[0]) for ln in lines if b"c:" in ln)
    extra = [a for a in live if a["id"] not in {g["id"] for g in golden}]
    for a in extra:
        t = datetime.fromisoformat(a["time"]).timestamp()
        assert a["kind"] == "dark" and last < t <= last + 600, a
    assert d.metric("chokepoint_vessels") == 38
    assert rejected(d, "future_time") == 0 and rejected(d, "past_time") == 0
