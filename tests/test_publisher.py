"""The MQTT publisher against a real Mosquitto: topics, QoS, retained status and posture, the last
will, posture commands, a broker outage, and credentials kept out of the logs."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from monitor.config import MqttSettings
from monitor.errors import ConfigError
from monitor.publisher import Publisher
from monitor.store import Store
from tests.mqtt_helpers import Broker, Subscriber, find_mosquitto, make_certificates

REPO = Path(__file__).resolve().parents[1]
VERSION = "9.9.9-test"
STARTED = "2025-06-15T15:06:40Z"


def unique_prefix() -> str:
    # The session broker keeps retained messages between tests: each test gets its own topics.
    return f"test-{uuid.uuid4().hex[:12]}"


def settings(broker: Broker, prefix: str, **overrides: Any) -> MqttSettings:
    values: dict[str, Any] = {
        "url": broker.url,
        "prefix": prefix,
        "client_id": f"{prefix}-daemon",
        "publish_timeout_s": 3.0,
        "keepalive_s": 5,
    }
    values.update(overrides)
    return MqttSettings(**values)


def alert(prefix: str, n: int, severity: str = "info", kind: str = "transit") -> tuple[str, str, bytes]:
    alert_id = f"alert-{n:05d}"
    payload = json.dumps({"schema": 1, "id": alert_id, "kind": kind, "severity": severity}).encode()
    return alert_id, f"{prefix}/alerts/{severity}/{kind}", payload


def ids_of(messages: list[aiomqtt.Message]) -> set[str]:
    return {json.loads(m.payload)["id"] for m in messages if isinstance(m.payload, bytes)}


def state_of(message: aiomqtt.Message) -> dict[str, Any]:
    assert isinstance(message.payload, bytes)
    result: dict[str, Any] = json.loads(message.payload)
    return result


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "state") as s:
        yield s


@asynccontextmanager
async def running(publisher: Publisher) -> AsyncIterator[asyncio.Task[None]]:
    """Run the publisher for the block; close() it cleanly at the end unless the block ended run()."""
    task = asyncio.create_task(publisher.run(), name="publisher")
    try:
        yield task
    finally:
        if not task.done():
            await publisher.close()
            if not task.done():
                task.cancel()
            with suppress(asyncio.CancelledError):
                await task


async def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


@pytest.mark.asyncio
async def test_alerts_arrive_on_their_topics_with_qos_1_and_the_outbox_empties(
    broker: Broker, store: Store
) -> None:
    """Every committed alert reaches a subscriber once, on the row's topic, QoS 1, not retained, and is
    removed from the outbox once acknowledged."""
    prefix = unique_prefix()
    publisher = Publisher(settings(broker, prefix), store, version=VERSION, started=STARTED)
    kinds = [("info", "transit"), ("warning", "dark"), ("critical", "on_land")]
    outgoing = [alert(prefix, n, *kinds[n % 3]) for n in range(300)]
    async with Subscriber(broker.url, f"{prefix}/alerts/#") as sub, running(publisher):
        store.commit(outgoing[:100])
        publisher.wake()
        await wait_for(lambda: store.depth == 0, 10, "the first batch to be acknowledged")
        store.commit(outgoing[100:])  # committed while connected and idle: wake() must send them
        publisher.wake()
        assert await publisher.flush(10)
        messages = await sub.wait_until(lambda ms: len(ms) >= len(outgoing), 10)
        await asyncio.sleep(0.2)  # would a duplicate follow?
    assert store.depth == 0
    assert publisher.stats.published == len(outgoing)
    assert len(sub.messages) == len(outgoing)
    got = {json.loads(m.payload)["id"]: m for m in messages if isinstance(m.payload, bytes)}
    for alert_id, topic, payload in outgoing:
        message = got[alert_id]
        assert str(message.topic) == topic
        assert message.payload == payload
        assert message.qos == 1
        assert not message.retain
    # Sent in commit order.
    assert [json.loads(m.payload)["id"] for m in messages if isinstance(m.payload, bytes)] == [
        a for a, _, _ in outgoing
    ]


def broker_sockets(port: int) -> list[socket.socket]:
    """This process's TCP sockets connected to 127.0.0.1:port (Linux: from /proc/self/fd)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        with suppress(OSError, ValueError):
            if not os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                continue
            sock = socket.socket(fileno=os.dup(int(fd)))
            is_tcp = sock.type == socket.SOCK_STREAM and sock.family == socket.AF_INET
            if is_tcp and sock.getpeername()[1] == port:
                found.append(sock)
                continue
            sock.close()
    return found


@pytest.mark.asyncio
async def test_the_broker_connection_runs_without_nagle(broker: Broker, store: Store) -> None:
    """TCP_NODELAY is set on the connection to the broker: with Nagle's algorithm on, a PUBLISH waits
    for the broker's delayed ACK of the one before (up to 40 ms an alert)."""
    prefix = unique_prefix()
    publisher = Publisher(settings(broker, prefix), store, version=VERSION, started=STARTED)
    async with running(publisher):
        await wait_for(lambda: publisher.stats.connected, 10, "the connection")
        socks = broker_sockets(broker.port)
        try:
            assert len({sock.getsockname() for sock in socks}) == 1  # one connection (maybe several fds)
            assert all(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1 for sock in socks)
        finally:
            for sock in socks:
                sock.close()
        await publisher.close()


@pytest.mark.asyncio
async def test_status_online_is_retained_and_offline_after_close(broker: Broker, store: Store) -> None:
    """A late subscriber finds the retained "online" status; close() replaces it with "offline",
    which a later subscriber also finds retained; run() then returns."""
    prefix = unique_prefix()
    publisher = Publisher(settings(broker, prefix), store, version=VERSION, started=STARTED)
    async with running(publisher) as task:
        await wait_for(lambda: publisher.stats.connected, 10, "the connection")
        async with Subscriber(broker.url, f"{prefix}/status") as late:
            (online,) = await late.wait_until(lambda ms: len(ms) >= 1, 5)
            assert online.retain
            assert online.qos == 1
            assert state_of(online) == {"state": "online", "version": VERSION, "started": STARTED}
            await publisher.close()
            await asyncio.wait_for(task, 5)  # run() returns after close()
            messages = await late.wait_until(lambda ms: len(ms) >= 2, 5)
            assert state_of(messages[1]) == {"state": "offline", "version": VERSION, "started": STARTED}
    assert not publisher.stats.connected
    async with Subscriber(broker.url, f"{prefix}/status") as later:
        (status,) = await later.wait_until(lambda ms: len(ms) >= 1, 5)
        assert status.retain
        assert state_of(status)["state"] == "offline"


@pytest.mark.asyncio
async def test_last_will_offline_when_run_is_cancelled_without_close(broker: Broker, store: Store) -> None:
    """Cancelling run() without close() drops the connection uncleanly: the broker publishes the last
    will, so the retained status says "offline" (not a stale "online")."""
    prefix = unique_prefix()
    publisher = Publisher(settings(broker, prefix), store, version=VERSION, started=STARTED)
    async with Subscriber(broker.url, f"{prefix}/status") as sub:
        task = asyncio.create_task(publisher.run())
        await sub.wait_until(lambda ms: len(ms) >= 1, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task  # CancelledError is never swallowed
        messages = await sub.wait_until(lambda ms: len(ms) >= 2, 5)
    assert [state_of(m)["state"] for m in messages] == ["online", "offline"]
    assert state_of(messages[1]) == {"state": "offline", "version": VERSION, "started": STARTED}
    async with Subscriber(broker.url, f"{prefix}/status") as later:
        (status,) = await later.wait_until(lambda ms: len(ms) >= 1, 5)
        assert status.retain and state_of(status)["state"] == "offline"


@pytest.mark.asyncio
async def test_last_will_offline_when_the_process_is_killed(broker: Broker, tmp_path: Path) -> None:
    """A publisher process killed with SIGKILL (no code of ours runs) still ends "offline": the will is
    registered with the broker at connect time."""
    prefix = unique_prefix()
    script = textwrap.dedent(
        f"""
        import asyncio
        from pathlib import Path
        from monitor.config import MqttSettings
        from monitor.publisher import Publisher
        from monitor.store import Store
        settings = MqttSettings(url={broker.url!r}, prefix={prefix!r}, client_id={prefix + "-child"!r})
        store = Store(Path({str(tmp_path / "child")!r}))
        asyncio.run(Publisher(settings, store, version={VERSION!r}, started={STARTED!r}).run())
        """
    )
    async with Subscriber(broker.url, f"{prefix}/status") as sub:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, cwd=REPO, stderr=subprocess.PIPE
        )
        try:
            await sub.wait_until(lambda ms: len(ms) >= 1, 20)
        finally:
            child.kill()
            _, stderr = await asyncio.wait_for(child.communicate(), 10)
        assert child.returncode == -9, stderr.decode()
        messages = await sub.wait_until(lambda ms: len(ms) >= 2, 5)
    assert [state_of(m)["state"] for m in messages] == ["online", "offline"]
    assert state_of(messages[1])["version"] == VERSION


@pytest.mark.asyncio
async def test_retained_posture_for_late_subscribers_and_after_a_reconnect(
    broker: Broker, store: Store
) -> None:
    """The posture is retained for a late subscriber, updated while connected, and published again
    after a reconnect (here the restarted broker has forgotten every retained message)."""
    prefix = unique_prefix()
    publisher = Publisher(
        settings(broker, prefix), store, version=VERSION, started=STARTED, backoff_cap_s=0.5
    )
    first = {"level": "NORMAL", "since": STARTED, "reason": "start", "set_by": "config"}
    second = {"level": "HIGH", "since": "2025-06-15T16:00:00Z", "reason": "drill", "set_by": "operator"}
    publisher.set_posture(first)  # set before connecting: published as soon as connected
    async with Subscriber(broker.url, f"{prefix}/posture") as early, running(publisher):
        (live,) = await early.wait_until(lambda ms: len(ms) >= 1, 10)
        assert state_of(live) == first and live.qos == 1
        async with Subscriber(broker.url, f"{prefix}/posture") as late:
            (message,) = await late.wait_until(lambda ms: len(ms) >= 1, 5)
            assert message.retain and message.qos == 1
            assert state_of(message) == first
            publisher.set_posture(second)
            messages = await late.wait_until(lambda ms: len(ms) >= 2, 5)
            assert state_of(messages[1]) == second
        broker.stop()
        await wait_for(lambda: not publisher.stats.connected, 10, "the publisher to notice the outage")
        broker.start()
        await wait_for(lambda: publisher.stats.connected, 10, "the reconnection")
        async with Subscriber(broker.url, f"{prefix}/#") as after:
            messages = await after.wait_until(lambda ms: len(ms) >= 2, 5)
            by_topic = {str(m.topic): m for m in messages}
            assert state_of(by_topic[f"{prefix}/posture"]) == second
            assert by_topic[f"{prefix}/posture"].retain
            assert state_of(by_topic[f"{prefix}/status"])["state"] == "online"
    assert publisher.stats.reconnects == 1


@pytest.mark.asyncio
async def test_posture_set_commands_reach_on_command_and_are_counted(broker: Broker, store: Store) -> None:
    """Each posture/set payload reaches on_command as raw bytes; True counts ok, False counts bad; a
    handler exception counts bad and the publisher keeps going; a retained command is refused, and
    the empty message that clears it is not a command at all."""
    prefix = unique_prefix()
    received: list[bytes] = []

    def on_command(payload: bytes) -> bool:
        received.append(payload)
        if payload == b"boom":
            raise ValueError("handler bug")
        return bool(json.loads(payload).get("level") in {"NORMAL", "HIGH"})

    publisher = Publisher(
        settings(broker, prefix), store, version=VERSION, started=STARTED, on_command=on_command
    )
    topic = f"{prefix}/posture/set"
    async with aiomqtt.Client(broker.host, broker.port) as operator:
        # Retained before the daemon connects: delivered to it as retained, so stale: ignored.
        await operator.publish(topic, b'{"level": "HIGH", "reason": "old"}', qos=1, retain=True)
        async with running(publisher):
            await wait_for(lambda: publisher.stats.connected, 10, "the connection")
            await wait_for(lambda: publisher.stats.commands_bad == 1, 5, "the retained command")
            await operator.publish(topic, b"", qos=1, retain=True)  # clear the retained command
            await operator.publish(topic, b'{"level": "HIGH", "reason": "drill"}', qos=1)
            await operator.publish(topic, b'{"level": "PURPLE"}', qos=1)
            await operator.publish(topic, b"boom", qos=1)
            await operator.publish(topic, b'{"level": "NORMAL", "reason": "all clear"}', qos=1)
            await wait_for(lambda: len(received) == 4, 5, "four commands")
            # Still serving after the handler raised: alerts still go out.
            store.commit([alert(prefix, 1)])
            publisher.wake()
            assert await publisher.flush(5)
    assert received == [
        b'{"level": "HIGH", "reason": "drill"}',
        b'{"level": "PURPLE"}',
        b"boom",
        b'{"level": "NORMAL", "reason": "all clear"}',
    ]
    assert publisher.stats.commands_ok == 2
    assert publisher.stats.commands_bad == 3  # retained, PURPLE, boom


@pytest.fixture
def persistent_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker of its own that keeps sessions and queued messages across stop/start, as a production
    broker with persistence does."""
    executable = find_mosquitto()
    assert executable is not None, "mosquitto is not installed: run `make test`"
    broker = Broker(executable, tmp_path / "persistent-broker", persistent=True)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


async def persistent_subscriber(
    url: str, topic: str, client_id: str, sessions: list[list[aiomqtt.Message]], up: asyncio.Event
) -> None:
    """A subscriber with a persistent session (clean_session=False, fixed id, QoS 1), reconnecting until
    cancelled: the broker queues alerts for it while it is away, whoever reconnects first. Each
    connection's messages are appended to `sessions`."""
    while True:
        try:
            async with Subscriber(url, topic, identifier=client_id, clean_session=False) as sub:
                sessions.append(sub.messages)
                up.set()
                await sub.wait_until(lambda _: False, 3600)  # raises MqttError when the broker goes
        except (aiomqtt.MqttError, TimeoutError):
            up.clear()
            await asyncio.sleep(0.1)


@pytest.mark.asyncio
async def test_broker_outage_mid_stream_loses_no_alert(persistent_broker: Broker, store: Store) -> None:
    """Alerts committed before and during a broker outage all arrive after it (duplicates allowed);
    flush() reports False while the broker is down; the outbox drains after the restart."""
    broker = persistent_broker
    prefix = unique_prefix()
    publisher = Publisher(
        settings(broker, prefix), store, version=VERSION, started=STARTED, backoff_cap_s=0.5
    )
    sessions: list[list[aiomqtt.Message]] = []
    up = asyncio.Event()
    subscriber = asyncio.create_task(
        persistent_subscriber(broker.url, f"{prefix}/alerts/#", f"{prefix}-subscriber", sessions, up)
    )

    def received() -> set[str]:
        return set().union(*(ids_of(messages) for messages in sessions))

    try:
        await asyncio.wait_for(up.wait(), 10)
        before = [alert(prefix, n) for n in range(3000)]
        during = [alert(prefix, n, "warning", "dark") for n in range(3000, 3500)]
        async with running(publisher):
            await wait_for(lambda: publisher.stats.connected, 10, "the connection")
            store.commit(before)
            publisher.wake()
            # Mid-stream: some alerts acknowledged, most not yet sent.
            await wait_for(lambda: publisher.stats.published > 0, 10, "the first acknowledgements")
            broker.stop()
            assert store.depth > 0, "the outage came too late to be mid-stream"
            for n in range(0, len(during), 100):  # the daemon keeps committing during the outage
                store.commit(during[n : n + 100])
                publisher.wake()
                await asyncio.sleep(0.05)
            assert not await publisher.flush(1.0)
            assert store.depth > 0
            assert not publisher.stats.connected
            broker.start()
            assert await publisher.flush(20)
            committed = {a for a, _, _ in before + during}
            await wait_for(lambda: received() >= committed, 10, "every alert at the subscriber")
        assert received() == committed
        assert len(sessions) >= 2  # the subscriber did live through the outage
        assert store.depth == 0
        assert publisher.stats.reconnects >= 1
        assert publisher.stats.failures >= 1
        assert publisher.stats.published >= len(committed)  # more if some were in flight at the stop
    finally:
        subscriber.cancel()
        with suppress(asyncio.CancelledError):
            await subscriber


@pytest.mark.asyncio
async def test_a_broker_that_stops_answering_times_out_and_is_reconnected(
    broker: Broker, store: Store
) -> None:
    """A hung broker (SIGSTOP: the TCP connection stays up, no PUBACK comes) makes the publish time out
    after publish_timeout_s; the publisher reconnects and delivers everything once the broker answers."""
    prefix = unique_prefix()
    publisher = Publisher(
        settings(broker, prefix, publish_timeout_s=0.5),
        store,
        version=VERSION,
        started=STARTED,
        backoff_cap_s=0.3,
    )
    outgoing = [alert(prefix, n) for n in range(50)]
    async with Subscriber(broker.url, f"{prefix}/alerts/#") as sub, running(publisher):
        await wait_for(lambda: publisher.stats.connected, 10, "the connection")
        broker.pause()
        try:
            store.commit(outgoing)
            publisher.wake()
            await wait_for(lambda: publisher.stats.failures >= 1, 5, "the publish timeout")
            assert store.depth == len(outgoing)  # nothing acknowledged, so nothing removed
            assert publisher.stats.last_error is not None and "timed out" in publisher.stats.last_error
        finally:
            broker.resume()
        assert await publisher.flush(10)
        messages = await sub.wait_until(lambda ms: ids_of(ms) >= {a for a, _, _ in outgoing}, 10)
    assert ids_of(messages) == {a for a, _, _ in outgoing}
    assert publisher.stats.reconnects >= 1


@pytest.mark.asyncio
async def test_credentials_never_appear_in_logs(
    broker: Broker, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither the configured password nor one given in the --mqtt URL appears in any log record,
    through connection, disconnection and failed reconnection attempts; the broker is named host:port."""
    prefix = unique_prefix()
    config = settings(broker, prefix, username="operator", password=SecretStr("cfg-Secret-71"))
    url = f"mqtt://urluser:url-Secret-93@{broker.host}:{broker.port}"
    publisher = Publisher(config, store, url=url, version=VERSION, started=STARTED, backoff_cap_s=0.3)
    caplog.set_level(logging.DEBUG)
    with capture_logs() as logs:
        async with running(publisher):
            await wait_for(lambda: publisher.stats.connected, 10, "the connection")
            broker.stop()
            await wait_for(lambda: publisher.stats.failures >= 2, 10, "failed reconnection attempts")
            broker.start()
            await wait_for(lambda: publisher.stats.connected, 10, "the reconnection")
    disconnected = [e for e in logs if e["event"] == "mqtt_disconnected"]
    assert disconnected, logs
    assert all(e["broker"] == f"{broker.host}:{broker.port}" for e in disconnected)
    assert all(e["error"] for e in disconnected)
    text = repr(logs) + caplog.text + repr(publisher.stats)
    for secret in ("cfg-Secret-71", "url-Secret-93"):
        assert secret not in text


def test_a_bad_broker_url_is_refused_without_echoing_it(store: Store) -> None:
    """An unsupported URL is a ConfigError that names the problem but not the password in it."""
    config = MqttSettings()
    with pytest.raises(ConfigError) as info:
        Publisher(config, store, url="http://user:pw-Secret-5@example.org", version=VERSION, started=STARTED)
    assert "pw-Secret-5" not in str(info.value)
    assert "mqtt://" in str(info.value)


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A TLS-only broker whose certificate names `localhost` (not 127.0.0.1), signed by a test CA."""
    executable = find_mosquitto()
    assert executable is not None, "mosquitto is not installed: run `make test`"
    directory = tmp_path_factory.mktemp("tls-broker")
    broker = Broker(executable, directory, tls=make_certificates(directory / "pki"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("host", "insecure", "delivered"),
    [
        ("localhost", False, True),  # the name in the certificate: verified
        ("127.0.0.1", False, False),  # not the name in the certificate: refused
        ("127.0.0.1", True, True),  # tls_insecure skips only the name check
    ],
)
async def test_mqtts_verifies_the_broker_against_ca_file(
    tls_broker: Broker, store: Store, host: str, insecure: bool, delivered: bool
) -> None:
    """mqtts:// connects with TLS, trusting settings.ca_file; a certificate for another host name is
    refused unless tls_insecure is set (and then the alert is delivered)."""
    prefix = unique_prefix()
    config = settings(
        tls_broker, prefix, ca_file=tls_broker.workdir / "pki" / "ca.pem", tls_insecure=insecure
    )
    url = f"mqtts://{host}:{tls_broker.port}"
    publisher = Publisher(config, store, url=url, version=VERSION, started=STARTED, backoff_cap_s=0.2)
    async with running(publisher):
        store.commit([alert(prefix, 1)])
        publisher.wake()
        assert await publisher.flush(5 if delivered else 1) is delivered
        if not delivered:
            assert publisher.stats.failures >= 1
            assert "certificate" in (publisher.stats.last_error or "").lower()


def test_an_unreadable_ca_file_is_a_config_error(tmp_path: Path, store: Store) -> None:
    """A CA file that cannot be loaded stops start-up with a ConfigError naming it, not a retry loop."""
    missing = tmp_path / "no-such-ca.pem"
    config = MqttSettings(url="mqtts://broker.example:8883", ca_file=missing)
    with pytest.raises(ConfigError, match=r"no-such-ca\.pem"):
        Publisher(config, store, version=VERSION, started=STARTED)


@pytest.mark.asyncio
async def test_announce_false_sends_only_alerts_beside_a_running_daemon(
    broker: Broker, tmp_path: Path
) -> None:
    """A second publisher with announce=False (replay --publish) on the same settings delivers its
    alerts, publishes no status or posture, and does not disconnect the daemon's publisher (its own
    client id)."""
    prefix = unique_prefix()
    config = settings(broker, prefix)
    with Store(tmp_path / "daemon") as daemon_store, Store(tmp_path / "replay") as replay_store:
        daemon = Publisher(config, daemon_store, version=VERSION, started=STARTED)
        daemon.set_posture({"level": "NORMAL", "since": STARTED, "reason": "start", "set_by": "config"})
        replay = Publisher(config, replay_store, version="replay", started="", announce=False)
        replay.set_posture({"level": "CRITICAL", "since": STARTED, "reason": "replay", "set_by": "x"})
        async with running(daemon):
            await wait_for(lambda: daemon.stats.connected, 10, "the daemon's connection")
            async with Subscriber(broker.url, f"{prefix}/#") as sub:
                await sub.wait_until(lambda ms: len(ms) >= 2, 5)  # the daemon's retained status, posture
                async with running(replay):
                    replay_store.commit([alert(prefix, n) for n in range(20)])
                    replay.wake()
                    assert await replay.flush(10)
                    await sub.wait_until(lambda ms: len(ids_of(ms[2:])) == 20, 5)
                await asyncio.sleep(0.3)  # anything the replay's close() might have published
                assert daemon.stats.connected
                assert daemon.stats.reconnects == 0
                assert daemon.stats.failures == 0
            extra = [m for m in sub.messages[2:] if "/alerts/" not in str(m.topic)]
            assert extra == []
