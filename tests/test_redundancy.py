"""Redundancy (CONTRACT "Redundancy"): two daemons fed the same recording publish the same alert ids to one
broker, so a subscriber de-duplicating on `id` sees each alert once whichever daemon is up; and both follow
the operator's posture command on {prefix}/posture/set."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

import aiomqtt
import pytest

from monitor.alerts import iso_time
from tests.mqtt_helpers import Broker, Subscriber
from tests.test_service import Daemon, alert_ids, expected_alerts, feed_lines


def _pair(tmp_path: Path, broker: Broker, prefix: str, daemons: list[Daemon]) -> tuple[Daemon, Daemon]:
    """Two daemons on one broker and one topic prefix, as on two hosts: each its own state and client id
    (on two hosts the default id, chokepoint-monitor-<hostname>, differs by itself)."""
    pair = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        d = Daemon(tmp_path / name, broker.url, prefix=prefix,
                   env={"MONITOR_MQTT__CLIENT_ID": f"chokepoint-monitor-{prefix}-{name}"})
        daemons.append(d)
        pair.append(d)
    return pair[0], pair[1]


@pytest.mark.asyncio
async def test_two_daemons_publish_the_same_alert_ids_and_follow_one_posture_command(
    tmp_path: Path, broker: Broker, prefix: str, daemons: list[Daemon]
) -> None:
    """Fed the same recording, both daemons publish exactly a replay's alert ids: each id arrives twice
    (once from each), so a subscriber de-duplicating on `id` keeps one of each. Then one operator command
    on {prefix}/posture/set: both daemons take the level (HIGH, set by mqtt) and each raises its
    posture_change."""
    a, b = _pair(tmp_path, broker, prefix, daemons)
    lines = feed_lines()
    want = {x["id"] for x in expected_alerts(a, lines)}
    assert want == {x["id"] for x in expected_alerts(b, lines)}
    async with Subscriber(broker.url, f"{prefix}/alerts/#") as sub:
        a.start()
        b.start()
        a.send(lines)
        b.send(lines)
        await sub.wait_until(lambda ms: Counter(alert_ids(ms)) == Counter(dict.fromkeys(want, 2)), 30)
        await asyncio.sleep(0.5)  # anything extra would have arrived by now
        got = Counter(alert_ids(sub.messages))
    assert got == Counter(dict.fromkeys(want, 2))  # the same ids from both, nothing else
    for d in (a, b):  # each published every alert itself: neither sent its partner's share
        assert d.metric("chokepoint_mqtt_published_total") == len(want)
        assert d.metric("chokepoint_outbox_depth") == 0
    # The subscriber's side: de-duplicated on `id`, the pair's stream is one replay's.
    payloads = {json.loads(m.payload)["id"]: json.loads(m.payload) for m in sub.messages}  # type: ignore[arg-type]
    assert set(payloads) == want

    async with Subscriber(broker.url, f"{prefix}/#") as sub:
        async with aiomqtt.Client("127.0.0.1", broker.port) as operator:
            # With the time it was given, both daemons stamp the change alike: one id for the pair.
            given = json.dumps({"level": "HIGH", "reason": "drill", "time": iso_time(time.time())})
            await operator.publish(f"{prefix}/posture/set", given.encode(), qos=1)
        changes = await sub.wait_until(
            lambda ms: sum("posture_change" in str(m.topic) for m in ms) >= 2
            and any(str(m.topic) == f"{prefix}/posture" and b'"HIGH"' in m.payload for m in ms), 15)  # type: ignore[operator]
    for d in (a, b):
        posture = d.get("/api/posture")[1]
        assert (posture["level"], posture["set_by"], posture["reason"]) == ("HIGH", "mqtt", "drill")
        assert d.metric('chokepoint_posture_commands_total{result="applied"}') == 1
    details = [json.loads(m.payload)["details"] for m in changes  # type: ignore[arg-type]
               if "posture_change" in str(m.topic)]
    assert details == [{"from": "NORMAL", "to": "HIGH", "reason": "drill", "set_by": "mqtt"}] * 2
    ids = [json.loads(m.payload)["id"] for m in changes if "posture_change" in str(m.topic)]  # type: ignore[arg-type]
    assert len(ids) == 2 and ids[0] == ids[1]
