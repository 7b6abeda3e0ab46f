"""The daemon with [[sinks]], end to end: a real `chokepoint-monitor run` subprocess sending its alerts to a
real webhook receiver (that refuses, fails, recovers) and to CoT listeners over UDP and TCP, besides MQTT."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

from tests.mqtt_helpers import Broker
from tests.sink_receivers import CotListener, WebhookReceiver, wait_for
from tests.test_disk import SmallDisk, small_disk  # noqa: F401 - the fixture, used by name below
from tests.test_service import Daemon, expected_alerts, feed_lines

KOREAN = 440000003  # MID 440: on the default `korea` watchlist (tests.test_service.feed_lines)
SEVERITY = {"info": 0, "warning": 1, "critical": 2}


def _webhook(receiver: WebhookReceiver, token: str = "s3cret") -> str:
    return f'[[sinks]]\nkind = "webhook"\nurl = "{receiver.url}"\ntoken = "{token}"\n'


def _cot(listener: CotListener, name: str, **extra: object) -> str:
    lines = ['kind = "cot"', f'name = "{name}"', f'protocol = "{listener.protocol}"', 'host = "127.0.0.1"',
             f"port = {listener.port}", "interval_s = 1", "stale_s = 86400"]
    lines += [f"{k} = {v!r}".replace("'", '"') for k, v in extra.items()]
    return "[[sinks]]\n" + "\n".join(lines) + "\n"


def test_daemon_sends_every_alert_to_webhook_and_cot_sinks(tmp_path: Path, broker: Broker, prefix: str,
                                                            daemons: list[Daemon]) -> None:
    """Alerts committed by the daemon reach every sink: the webhook gets exactly a replay's alert ids (with
    the token), the UDP CoT listener a valid event for each, the TCP one (min_severity warning) an event
    for each warning or critical alert, and both the Korean vessel's position event every interval. The
    sinks show in /metrics and /readyz."""
    receiver = WebhookReceiver(token="s3cret")
    receiver.start()
    udp, tcp = CotListener("udp"), CotListener("tcp")
    try:
        extra = _webhook(receiver) + _cot(udp, "tak-udp") + _cot(tcp, "tak-tcp", min_severity="warning")
        d = Daemon(tmp_path, broker.url, prefix=prefix, extra=extra)
        daemons.append(d)
        lines = feed_lines()
        want = expected_alerts(d, lines)
        ids = {a["id"] for a in want}
        loud = {a["id"] for a in want if SEVERITY[a["severity"]] >= 1}
        assert loud and loud != ids  # (the feed has both: the filter is exercised)
        d.start()
        d.send(lines)
        wait_for(lambda: set(receiver.ids()) >= ids, 30, "the webhook's alerts")
        wait_for(lambda: {u.removeprefix("chokepoint-alert-") for u in udp.uids("chokepoint-alert-")} >= ids,
                 30, "the UDP listener's alerts")
        wait_for(lambda: {u.removeprefix("chokepoint-alert-") for u in tcp.uids("chokepoint-alert-")} >= loud,
                 30, "the TCP listener's alerts")
        wait_for(lambda: udp.of_uid(f"chokepoint-{KOREAN}") and tcp.of_uid(f"chokepoint-{KOREAN}"), 10,
                 "the watched vessel's events")
        assert Counter(receiver.ids()) == Counter(ids)  # no alert missing, none twice
        assert {u.removeprefix("chokepoint-alert-") for u in tcp.uids("chokepoint-alert-")} == loud
        assert udp.invalid == [] and tcp.invalid == []
        # Only the watched vessel gets position events (the other two are not on any watchlist).
        assert {u for u in udp.uids() if not u.startswith("chokepoint-alert-")} == {f"chokepoint-{KOREAN}"}
        event = udp.of_uid(f"chokepoint-{KOREAN}")[-1]
        assert event.get("type") == "a-n-S-X-M"
        contact = event.find("detail/contact")
        assert contact is not None and contact.get("callsign") == f"MMSI {KOREAN}"  # (no static report)
        wait_for(lambda: d.metric('chokepoint_sink_queue_depth{kind="webhook",sink="webhook"}') == 0, 10,
                 "an empty webhook queue")
        assert d.metric('chokepoint_sink_delivered_total{kind="webhook",sink="webhook"}') == len(ids)
        assert d.metric('chokepoint_sink_delivered_total{kind="cot",sink="tak-tcp"}') == len(loud)
        assert d.metric('chokepoint_sink_events_total{kind="cot",sink="tak-udp"}') >= 1
        assert d.metric('chokepoint_sink_up{kind="cot",sink="tak-udp"}') == 1
        sinks = d.get("/readyz")[1]["sinks"]
        assert set(sinks) == {"webhook", "tak-udp", "tak-tcp"}
        assert sinks["webhook"]["delivered"] == len(ids) and sinks["webhook"]["queued"] == 0
        d.signal(signal.SIGTERM)
        assert d.wait() == 0
    finally:
        receiver.close()
        udp.close()
        tcp.close()


def test_webhook_refusing_for_5_s_misses_no_alert(tmp_path: Path, broker: Broker, prefix: str,
                                                  daemons: list[Daemon]) -> None:
    """The webhook receiver refuses connections for 2.5 s, then answers 503 for 2.5 s, then recovers: it
    gets every alert once, in the order they were raised, and the daemon's log says the sink failed and
    resumed."""
    receiver = WebhookReceiver(token="s3cret")
    try:
        d = Daemon(tmp_path, broker.url, prefix=prefix, extra=_webhook(receiver))
        daemons.append(d)
        lines = feed_lines()
        ids = {a["id"] for a in expected_alerts(d, lines)}
        d.start()
        d.send(lines)
        d.wait_processed(len(lines))
        wait_for(lambda: d.metric('chokepoint_sink_failures_total{kind="webhook",sink="webhook"}') >= 1, 10,
                 "a refused connection")
        assert d.metric('chokepoint_sink_queue_depth{kind="webhook",sink="webhook"}') == len(ids)
        time.sleep(2.0)  # (2.5 s of refused connections in all)
        receiver.fail_until = time.monotonic() + 2.5
        receiver.start()
        wait_for(lambda: set(receiver.ids()) >= ids, 40, "every alert after the receiver recovered")
        time.sleep(0.5)
        assert Counter(receiver.ids()) == Counter(ids)
        # In the order the daemon raised them (/api/alerts lists them oldest first, as committed).
        assert receiver.ids() == [a["id"] for a in d.get("/api/alerts?limit=1000")[1]["alerts"]]
        events = [e["event"] for e in d.events()]
        assert "sink_delivery_failed" in events and "sink_delivery_resumed" in events
    finally:
        receiver.close()


def test_sink_queues_survive_a_restart(tmp_path: Path, broker: Broker, prefix: str,
                                       daemons: list[Daemon]) -> None:
    """Alerts queued for a webhook that is down when the daemon stops (SIGTERM, which does not wait for
    a failing sink) are delivered after the restart, once the receiver is up; none is lost or repeated."""
    receiver = WebhookReceiver()
    try:
        d = Daemon(tmp_path, broker.url, prefix=prefix, extra=_webhook(receiver, token=""))
        daemons.append(d)
        lines = feed_lines()
        ids = {a["id"] for a in expected_alerts(d, lines)}
        d.start()
        d.send(lines)
        d.wait_processed(len(lines))
        wait_for(lambda: d.metric('chokepoint_sink_queue_depth{kind="webhook",sink="webhook"}') == len(ids),
                 10, "the alerts queued")
        d.signal(signal.SIGTERM)
        assert d.wait() == 0
        assert any(e["event"] == "sink_queues_not_empty" for e in d.events())
        receiver.start()
        d.start()
        wait_for(lambda: set(receiver.ids()) >= ids, 30, "the queued alerts after the restart")
        assert Counter(receiver.ids()) == Counter(ids)
        assert all("Authorization" not in h for _, h in receiver.received)  # (no token: no header)
    finally:
        receiver.close()


def test_alerts_held_on_a_full_disk_reach_the_sinks_once_written(
    tmp_path: Path, broker: Broker, prefix: str, daemons: list[Daemon],
    small_disk: SmallDisk,  # noqa: F811 - the fixture imported above
) -> None:
    """The state database on a small tmpfs the test fills mid-stream: the alerts raised meanwhile are held
    in memory for the sinks too (none queued, none sent), and once the space returns they are written and
    the webhook gets every alert of a replay, once."""
    receiver = WebhookReceiver()
    receiver.start()
    try:
        d = Daemon(tmp_path, broker.url, prefix=prefix, extra=_webhook(receiver, token=""),
                   env={"MONITOR_OUTBOX__RETRY_S": "1"})
        daemons.append(d)
        state = small_disk.path / "state"
        config = d.config.read_text()
        d.config.write_text(config.replace(f'directory = "{d.state}"', f'directory = "{state}"'))
        lines = feed_lines()
        ids = {a["id"] for a in expected_alerts(d, lines)}
        half = len(lines) // 2
        d.start()
        d.send(lines[:half])
        d.wait_processed(half)
        wait_for(lambda: d.metric('chokepoint_sink_queue_depth{kind="webhook",sink="webhook"}') == 0
                 and len(receiver.ids()) > 0, 10, "the first half delivered")
        first = set(receiver.ids())
        small_disk.fill()
        d.send(lines[half:])
        d.wait_processed(len(lines))
        wait_for(lambda: d.get("/readyz")[0] == 503, 10, "the state not writable")
        time.sleep(1.0)
        assert set(receiver.ids()) == first  # held, not sent: nothing is sent before it is written
        small_disk.free()
        wait_for(lambda: set(receiver.ids()) >= ids, 30, "every alert once the state was written")
        assert Counter(receiver.ids()) == Counter(ids)
        d.signal(signal.SIGTERM)
        assert d.wait() == 0
    finally:
        receiver.close()
