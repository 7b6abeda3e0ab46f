"""Live feeds against real sockets on 127.0.0.1 (servers and clients run inside the test's event loop),
and against a real Mosquitto for the MQTT input."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import aiomqtt
import pytest
from structlog.testing import capture_logs

from monitor import livefeeds
from monitor.config import FeedSettings, MqttSettings
from monitor.livefeeds import MAX_LINE_BYTES, FeedStats, _LineSplitter, backoff_delay, run_feed
from tests.mqtt_helpers import Broker

# Two real sentences (decodable, valid checksums) and a third with a tag block.
L1 = b"!AIVDM,1,1,,A,15MgK45P3@G?fl0E`JbR0OwT0@MS,0*4E"
L2 = b"!AIVDM,1,1,,B,15Mj23P000G?q7fE`JbR0OwT0@Lj,0*6A"
L3 = b"\\s:rx1,c:1750000000*04\\!AIVDM,1,1,,A,13aEOK?P00PD2wVMdLDRhgvL289?,0*26"

CANCEL_LIMIT_S = 1.0  # a cancelled feed must have released its sockets by then


class Collector:
    """A LineSink recording (feed, line) pairs, with a way to wait until enough arrived."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.calls: list[tuple[str, list[bytes]]] = []
        self._changed = asyncio.Event()

    def __call__(self, name: str, lines: list[bytes]) -> None:
        self.calls.append((name, list(lines)))
        self.lines.extend(lines)
        self._changed.set()

    async def wait_for(self, n: int, timeout: float = 5.0) -> list[bytes]:
        async def until() -> None:
            while len(self.lines) < n:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)
        return self.lines


class LineServer:
    """A receiver serving NMEA over TCP: accepts clients, sends them bytes, can drop them and stop."""

    def __init__(self) -> None:
        self.writers: list[asyncio.StreamWriter] = []
        self.eofs = 0  # clients that closed their side
        self.accepted = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self, port: int = 0) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        self.accepted.set()
        with contextlib.suppress(OSError):
            await reader.read()  # the feed never writes: this returns when it closes the connection
        self.eofs += 1

    async def send(self, data: bytes) -> None:
        for writer in self.writers:
            writer.write(data)
            await writer.drain()

    async def drop_clients(self) -> None:
        for writer in self.writers:
            writer.close()
        self.writers.clear()

    async def stop(self) -> None:
        await self.drop_clients()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None


def settings(type_: str, port: int = 0, **kw: Any) -> FeedSettings:
    values: dict[str, Any] = {"name": "rx", "type": type_, "host": "127.0.0.1", "port": port}
    values.update({"reconnect_max_s": 0.2, **kw})
    return FeedSettings(**values)


@contextlib.asynccontextmanager
async def running(
    feed: FeedSettings, sink: Collector, stats: FeedStats, **kw: Any
) -> AsyncIterator[asyncio.Task[None]]:
    """Run the feed as a task; on exit cancel it and check it ended promptly by cancellation."""
    task = asyncio.create_task(run_feed(feed, sink, stats, **kw))
    try:
        yield task
    finally:
        assert not task.done(), "run_feed returned or raised on its own"
        task.cancel()
        started = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < CANCEL_LIMIT_S


async def until(predicate: Any, timeout: float = 5.0) -> None:
    """Poll `predicate()` until it is true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# -- units -------------------------------------------------------------------------------------------


def test_splitter_joins_lines_across_chunks_and_strips_crlf() -> None:
    """A line split over several reads comes out whole; \\r\\n and \\n both end a line; blank lines vanish."""
    s = _LineSplitter()
    assert s.feed(L1[:10]) == []
    assert s.feed(L1[10:] + b"\r\n\r\n" + L2[:5]) == [L1]
    assert s.feed(L2[5:] + b"\n" + L3 + b"\n") == [L2, L3]
    assert s.overlong == 0


def test_splitter_discards_an_overlong_line_once_and_keeps_the_rest() -> None:
    """A line over MAX_LINE_BYTES, even spread over several chunks, is dropped and counted once; the
    lines around it survive and the buffered bytes never exceed the limit."""
    s = _LineSplitter()
    out = s.feed(L1 + b"\n" + b"x" * 700)
    out += s.feed(b"y" * 700)  # now over the limit with no newline yet
    assert len(s._buf) <= MAX_LINE_BYTES
    out += s.feed(b"z" * 5000)
    out += s.feed(b"tail\n" + L2 + b"\n")
    assert out == [L1, L2]
    assert s.overlong == 1
    out = s.feed(b"w" * (MAX_LINE_BYTES + 1) + b"\n" + L3 + b"\n")
    assert out == [L3]
    assert s.overlong == 2
    assert s.feed(b"v" * MAX_LINE_BYTES + b"\n") == [b"v" * MAX_LINE_BYTES]  # the limit itself is fine


def test_stalled_counts_from_the_last_line_or_the_connection() -> None:
    """stalled(): only while connected; silence counts from the later of the last line and the connection."""
    stats = FeedStats("rx", "tcp", started=1000.0)
    assert not stats.stalled(5000.0, 60)  # not connected: disconnected, not stalled
    stats.connected = True
    assert stats.stalled(1061.0, 60)  # connected since the start, nothing ever received
    assert not stats.stalled(1059.0, 60)
    stats.connected_since = 1050.0
    assert not stats.stalled(1100.0, 60)
    assert stats.stalled(1111.0, 60)
    stats.last_line = 1200.0
    assert not stats.stalled(1250.0, 60)
    assert stats.stalled(1261.0, 60)


def test_backoff_is_jittered_and_capped() -> None:
    """The retry delay is uniform in [0, min(cap, 1.5**attempt)]: spread out, never above the cap."""
    for attempt, cap, bound in ((0, 60.0, 1.0), (3, 60.0, 3.375), (20, 5.0, 5.0), (5000, 5.0, 5.0)):
        delays = [backoff_delay(attempt, cap) for _ in range(2000)]
        assert all(0.0 <= d <= bound for d in delays)
        assert max(delays) > 0.8 * bound and min(delays) < 0.2 * bound


# -- tcp ---------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_tcp_delivers_lines_and_counts_them() -> None:
    """A tcp feed connects to the receiver and hands every line, split however it arrives, to the sink."""
    server = LineServer()
    port = await server.start()
    sink = Collector()
    stats = FeedStats("rx", "tcp")
    try:
        async with running(settings("tcp", port), sink, stats):
            await asyncio.wait_for(server.accepted.wait(), 5)
            await until(lambda: stats.connected)
            payload = L1 + b"\r\n" + L2[:20]
            await server.send(payload)
            await asyncio.sleep(0.05)
            await server.send(L2[20:] + b"\n" + L3 + b"\n")
            assert await sink.wait_for(3) == [L1, L2, L3]
            assert {name for name, _ in sink.calls} == {"rx"}
            assert stats.lines == 3
            assert stats.bytes == len(L1) + len(L2) + len(L3) + 4
            assert stats.last_line is not None and abs(stats.last_line - time.time()) < 5
            assert stats.errors == 0 and stats.reconnects == 0
    finally:
        await server.stop()
    assert not stats.connected


@pytest.mark.asyncio
async def test_tcp_overlong_line_is_counted_and_the_connection_kept() -> None:
    """A line longer than 1 KiB is discarded and counted as an error; the connection stays up."""
    server = LineServer()
    port = await server.start()
    sink = Collector()
    stats = FeedStats("rx", "tcp")
    try:
        async with running(settings("tcp", port), sink, stats):
            await asyncio.wait_for(server.accepted.wait(), 5)
            await server.send(L1 + b"\n" + b"A" * 3000 + b"\n" + L2 + b"\n")
            assert await sink.wait_for(2) == [L1, L2]
            assert stats.errors == 1
            assert stats.reconnects == 0 and stats.connected
            assert len(server.writers) == 1
    finally:
        await server.stop()


@pytest.mark.asyncio
async def test_tcp_reconnects_after_the_receiver_closes_and_comes_back() -> None:
    """When the receiver drops the connection and stops listening, the feed retries (logging
    feed_disconnected) until the receiver listens again on the same port, then reads on."""
    server = LineServer()
    port = await server.start()
    sink = Collector()
    stats = FeedStats("rx", "tcp")
    with capture_logs() as logs:
        async with running(settings("tcp", port, reconnect_max_s=0.1), sink, stats):
            await asyncio.wait_for(server.accepted.wait(), 5)
            await server.send(L1 + b"\n")
            await sink.wait_for(1)
            await server.stop()  # connection closed and nothing listening: connects are refused
            await until(lambda: stats.reconnects >= 3)  # several refused attempts, the task alive
            assert not stats.connected
            server = LineServer()
            await server.start(port)
            try:
                await asyncio.wait_for(server.accepted.wait(), 5)
                await until(lambda: stats.connected)
                await server.send(L2 + b"\n")
                assert await sink.wait_for(2) == [L1, L2]
            finally:
                await server.stop()
    disconnects = [e for e in logs if e["event"] == "feed_disconnected"]
    assert disconnects and all(e["feed"] == "rx" and e["error"] for e in disconnects)
    assert any("closed by the receiver" in e["error"] for e in disconnects)
    assert any("Connect" in e["error"] for e in disconnects)  # ConnectionRefusedError while it was down
    assert all(0 <= e["retry_in_s"] <= 0.1 for e in disconnects)
    assert stats.errors >= 2  # the refused connects


@pytest.mark.asyncio
async def test_tcp_silent_receiver_is_stalled_but_not_fatal() -> None:
    """A receiver that accepts and then says nothing: the feed stays connected, reports stalled(), and
    recovers as soon as lines flow again."""
    server = LineServer()
    port = await server.start()
    sink = Collector()
    stats = FeedStats("rx", "tcp")
    try:
        async with running(settings("tcp", port, stall_s=0.2), sink, stats) as task:
            await asyncio.wait_for(server.accepted.wait(), 5)
            await until(lambda: stats.connected)
            assert not stats.stalled(time.time(), 0.2)
            await asyncio.sleep(0.35)
            assert stats.stalled(time.time(), 0.2)
            assert stats.connected and not task.done() and stats.reconnects == 0
            await server.send(L1 + b"\n")
            await sink.wait_for(1)
            assert not stats.stalled(time.time(), 0.2)
    finally:
        await server.stop()


@pytest.mark.asyncio
async def test_tcp_cancel_closes_the_connection() -> None:
    """Cancelling a tcp feed closes its socket at once: the receiver sees end-of-file."""
    server = LineServer()
    port = await server.start()
    sink = Collector()
    stats = FeedStats("rx", "tcp")
    try:
        async with running(settings("tcp", port), sink, stats):
            await asyncio.wait_for(server.accepted.wait(), 5)
            assert server.eofs == 0
        await until(lambda: server.eofs == 1, timeout=CANCEL_LIMIT_S)
        assert not stats.connected
    finally:
        await server.stop()


@pytest.mark.asyncio
async def test_tcp_unresolvable_host_is_retried_not_raised() -> None:
    """A host name that does not resolve is a network error like any other: logged, counted, retried."""
    sink = Collector()
    stats = FeedStats("rx", "tcp")
    feed = settings("tcp", 9, host="no-such-host.invalid", reconnect_max_s=0.05)
    async with running(feed, sink, stats):
        await until(lambda: stats.errors >= 2)
        assert stats.last_error and not stats.connected


# -- tcp_server --------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_tcp_server_accepts_two_receivers_at_once() -> None:
    """A tcp_server feed listens on a free port; two receivers connected together both deliver lines."""
    sink = Collector()
    stats = FeedStats("rx", "tcp_server")
    async with running(settings("tcp_server"), sink, stats):
        await until(lambda: stats.bound_port is not None and stats.connected)
        port = stats.bound_port
        assert port
        _, w1 = await asyncio.open_connection("127.0.0.1", port)
        _, w2 = await asyncio.open_connection("127.0.0.1", port)
        try:
            await until(lambda: stats.peers == 2)
            w1.write(L1 + b"\n" + L2[:10])
            w2.write(L3 + b"\r\n")
            await asyncio.gather(w1.drain(), w2.drain())
            await asyncio.sleep(0.05)
            w1.write(L2[10:] + b"\n")
            await w1.drain()
            lines = await sink.wait_for(3)
            assert sorted(lines) == sorted([L1, L2, L3])
            assert stats.lines == 3
        finally:
            w1.close()
            w2.close()
        await until(lambda: stats.peers == 0)
        assert stats.connected  # still listening with no receiver connected


@pytest.mark.asyncio
async def test_tcp_server_cancel_closes_listener_and_receivers() -> None:
    """Cancelling a tcp_server feed stops listening and closes the receivers' connections promptly."""
    sink = Collector()
    stats = FeedStats("rx", "tcp_server")
    async with running(settings("tcp_server"), sink, stats):
        await until(lambda: stats.connected)
        port = stats.bound_port
        assert port
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await until(lambda: stats.peers == 1)
    try:
        assert await asyncio.wait_for(reader.read(), CANCEL_LIMIT_S) == b""  # closed by the feed
    finally:
        writer.close()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    assert not stats.connected


@pytest.mark.asyncio
async def test_tcp_server_port_in_use_is_retried() -> None:
    """A tcp_server whose port is taken keeps retrying (errors counted) and listens once it is free."""
    blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = blocker.sockets[0].getsockname()[1]
    sink = Collector()
    stats = FeedStats("rx", "tcp_server")
    try:
        async with running(settings("tcp_server", port, reconnect_max_s=0.05), sink, stats):
            await until(lambda: stats.errors >= 2)
            assert not stats.connected
            blocker.close()
            await blocker.wait_closed()
            await until(lambda: stats.connected and stats.bound_port == port)
    finally:
        blocker.close()


# -- udp ---------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_udp_datagram_with_three_lines_gives_three_lines() -> None:
    """A udp feed binds a free port; one datagram holding three lines yields those three lines."""
    sink = Collector()
    stats = FeedStats("rx", "udp")
    async with running(settings("udp"), sink, stats):
        await until(lambda: stats.connected and stats.bound_port is not None)
        port = stats.bound_port
        assert port
        datagram = L1 + b"\r\n" + L2 + b"\n" + L3  # the last line needs no newline in a datagram
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(datagram, ("127.0.0.1", port))
            s.sendto(b"B" * 2000 + b"\n" + L1, ("127.0.0.1", port))  # one overlong line, one good
        assert await sink.wait_for(4) == [L1, L2, L3, L1]
        assert sink.calls[0][1] == [L1, L2, L3]
        assert stats.bytes == len(datagram) + 2001 + len(L1)
        assert stats.errors == 1


@pytest.mark.asyncio
async def test_udp_cancel_releases_the_port() -> None:
    """Cancelling a udp feed closes its socket: the port can be bound again straight away."""
    port = free_udp_port()
    sink = Collector()
    stats = FeedStats("rx", "udp")
    async with running(settings("udp", port), sink, stats):
        await until(lambda: stats.bound_port == port)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", port))  # raises EADDRINUSE if the feed's socket were still open


# -- mqtt --------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_mqtt_feed_delivers_the_lines_of_each_payload(broker: Broker) -> None:
    """An mqtt feed subscribes its topic on the broker; a payload holding two lines yields two lines,
    a payload with one yields one; other topics are ignored."""
    sink = Collector()
    stats = FeedStats("rx", "mqtt")
    feed = settings("mqtt", topic="test/livefeeds/nmea")
    async with running(feed, sink, stats, mqtt=MqttSettings(url=broker.url)):
        await until(lambda: stats.connected)
        async with aiomqtt.Client(broker.host, broker.port, identifier="livefeeds-test-publisher") as pub:
            await pub.publish("test/livefeeds/other", L3, qos=1)
            await pub.publish("test/livefeeds/nmea", L1 + b"\r\n" + L2 + b"\n", qos=1)
            await pub.publish("test/livefeeds/nmea", L3, qos=1)
        assert await sink.wait_for(3) == [L1, L2, L3]
        await asyncio.sleep(0.05)
        assert len(sink.lines) == 3
        assert stats.lines == 3
        assert stats.bytes == len(L1) + len(L2) + 3 + len(L3)


@pytest.mark.asyncio
async def test_mqtt_feed_resubscribes_after_a_broker_restart(broker: Broker) -> None:
    """When the broker goes away the mqtt feed logs, retries, and once the broker is back on the same
    port subscribes again: lines published after the restart arrive."""
    sink = Collector()
    stats = FeedStats("rx", "mqtt")
    feed = settings("mqtt", topic="test/livefeeds/restart", reconnect_max_s=0.1)
    async with running(feed, sink, stats, mqtt=MqttSettings(url=broker.url)):
        await until(lambda: stats.connected)
        broker.stop()
        await until(lambda: not stats.connected)
        await until(lambda: stats.reconnects >= 2)  # refused while the broker is down
        broker.start()
        await until(lambda: stats.connected, timeout=10)
        async with aiomqtt.Client(broker.host, broker.port, identifier="livefeeds-test-publisher2") as pub:
            await pub.publish("test/livefeeds/restart", L1, qos=1)
        assert await sink.wait_for(1) == [L1]


@pytest.mark.asyncio
async def test_mqtt_feed_retries_while_the_broker_is_unreachable() -> None:
    """With no broker listening, an mqtt feed logs and retries instead of raising."""
    sink = Collector()
    stats = FeedStats("rx", "mqtt")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # bound but not listening: connections are refused
        mqtt = MqttSettings(url=f"mqtt://127.0.0.1:{dead}")
        async with running(settings("mqtt", reconnect_max_s=0.05), sink, stats, mqtt=mqtt):
            await until(lambda: stats.errors >= 2)
            assert not stats.connected and stats.last_error


def test_runner_for_every_feed_type() -> None:
    """Every type FeedSettings accepts has a runner (a new type without one would KeyError at start)."""
    from typing import get_args

    from monitor.config import FeedType

    assert set(get_args(FeedType)) == set(livefeeds._RUNNERS)
