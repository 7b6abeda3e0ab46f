"""Live feeds: network sockets in, raw NMEA lines out to a sink, reconnecting for ever.

One coroutine per configured feed, `run_feed(settings, sink, stats)`, for the daemon's TaskGroup. It
runs until cancelled and never raises for a network problem: every failure is logged
(`feed_disconnected`), counted in `FeedStats`, and retried after a jittered, capped backoff, the same
loop as aiomqtt's reconnect (`uniform(0, min(cap, 1.5 ** attempt))`); the attempt count starts again
after a connection that delivered data, so a flapping receiver is not hammered and a healthy one that
drops once comes back within a second or so.

Feed types (FeedSettings.type):

- `tcp`: connect to a receiver serving NMEA over TCP (AIS-catcher, aisdispatcher, rtl-ais).
- `tcp_server`: listen; any number of receivers connect and push lines.
- `udp`: bind; each datagram holds one or more lines.
- `aisstream`: aisstream.io's websocket; JSON messages become NMEA lines (monitor.aisstream).
- `mqtt`: subscribe a topic on the [mqtt] broker; each payload holds one or more lines.
- `gpsd`: connect to gpsd (port 2947 by default), ask it with `?WATCH={"enable":true,"raw":1}` to pass
  the sentences of its devices through as they came, and read them; gpsd's own JSON replies (VERSION,
  DEVICES, WATCH) are not sentences and are left out, an ERROR reply is kept as the feed's last error.
- `http`: listen for HTTP POSTs, AIS-catcher's HTTP push (`-H http://HOST:PORT/`): each body a batch of
  its JSON messages (or, with `format = "nmea"`, NMEA lines). Answered 200, or 400 when nothing in the
  body could be used.
- `file`: a recording streamed as if live, paced by its own times (monitor.filefeed; `make live`). It
  ends at the end of the file (unless `loop`), and is not "reconnected": played again, its old times
  would lie behind the feed's clock.

`format = "aiscatcher_json"` (tcp, tcp_server, udp, mqtt, http): each line, datagram or payload is
AIS-catcher's JSON (JSON_NMEA or JSON_FULL); the sentences of its `nmea` array go on, behind a tag
block carrying its `rxuxtime`/`rxtime` (monitor.aiscatcher). Objects that give no sentence are counted
in `skipped` (`malformed`, `no_nmea`).

Lines go to the sink without their newline and without checks beyond length: validation is the
pipeline's job (monitor.nmea), done once for every feed alike. A line longer than MAX_LINE_BYTES (no
AIS sentence comes close) is discarded and counted in `errors`, without dropping the connection; a
receiver that sends junk keeps its good lines flowing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
import aiomqtt
import structlog
from aiohttp import web

from monitor.aio import honour_cancel
from monitor.aiscatcher import document_lines
from monitor.aisstream import AisStreamMessageError, Converter, subscription
from monitor.config import FeedSettings, MqttSettings
from monitor.errors import FeedError
from monitor.filefeed import loop_shift, play

__all__ = [
    "MAX_LINE_BYTES",
    "FeedStats",
    "LineSink",
    "backoff_delay",
    "feed_row",
    "run_feed",
]

LineSink = Callable[[str, list[bytes]], None]
"""(feed name, raw lines without newline); must not block: the daemon enqueues into a bounded queue."""

MAX_LINE_BYTES: Final = 1024  # an AIVDM sentence is at most 82 characters, a tag block adds some dozens
CONNECT_TIMEOUT_S: Final = 15.0  # connect / websocket handshake / MQTT CONNACK
CLOSE_TIMEOUT_S: Final = 1.0  # waiting for a socket to close before giving up on it
READ_CHUNK: Final = 65536
# A JSON line or payload (AIS-catcher's JSON_FULL of a type 5 is about 1 KB) and an HTTP push's body
# (a batch of them, every INTERVAL seconds).
MAX_JSON_BYTES: Final = 64 * 1024
MAX_HTTP_BODY: Final = 16 * 1024 * 1024
GPSD_PORT: Final = 2947
# Raw mode: gpsd passes each device's sentences through unchanged, AIVDM included (gpsd's "?WATCH"
# documentation); its JSON reports are not asked for.
GPSD_WATCH: Final = b'?WATCH={"enable":true,"raw":1};\n'
SKIP_LOG_INTERVAL_S: Final = 60.0  # skipped lines/messages are logged as counts at most this often
# TCP keepalive on client sockets: a receiver that vanished without a FIN (power cut, NAT timeout) is
# detected in about 90 s instead of the kernel's two hours. Silence alone is no reason to reconnect:
# a receiver in a quiet area may legitimately send nothing for minutes (that is `stalled()`).
_KEEPALIVE: Final = (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3))

log = structlog.get_logger(__name__)


def backoff_delay(attempt: int, cap_s: float) -> float:
    """Seconds to wait before reconnect attempt number `attempt` (0 = first retry): full jitter."""
    # min(attempt, 60) keeps 1.5 ** attempt a float (it overflows past ~1750) long after the cap rules.
    return random.uniform(0.0, min(cap_s, 1.5 ** min(attempt, 60)))


@dataclass
class FeedStats:
    """What one feed did since the daemon started; read by health checks and metrics."""

    name: str
    type: str
    connected: bool = False  # a connection is up (tcp_server: listening; udp: bound; file: playing)
    lines: int = 0  # lines handed to the sink
    bytes: int = 0  # bytes received from the network (websocket/MQTT payloads for those types)
    reconnects: int = 0  # retries after a failed or closed connection
    errors: int = 0  # network errors, discarded overlong lines, skipped aisstream messages
    # What was discarded before the pipeline, by reason (`line_too_long`: over MAX_LINE_BYTES; `malformed`
    # and others: unusable aisstream/MQTT messages); exported per feed in /metrics.
    skipped: dict[str, int] = field(default_factory=dict)
    last_line: float | None = None  # time.time() of the last line received
    bound_port: int | None = None  # tcp_server/udp: the port actually bound (settings.port 0 = any)
    last_error: str | None = None
    last_error_at: float | None = None  # time.time() of last_error
    started: float = field(default_factory=time.time)
    connected_since: float | None = None  # time.time() the current connection came up
    peers: int = 0  # tcp_server, http: receivers connected now (http: requests in progress)
    format: str = "nmea"
    # What the pipeline made of this feed's lines (counted by the daemon around each batch): rejected
    # lines by reason, duplicates of another receiver's sentences, `$` sentences other than AIS.
    rejects: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    other_sentences: int = 0

    def note_error(self, error: str) -> None:
        """Keep `error` as the feed's last error (shown by GET /api/feeds and the map page)."""
        self.last_error = error
        self.last_error_at = time.time()

    @property
    def failing(self) -> bool:
        """Down with an error: not connected (listening) and its last attempt ended in an error."""
        return not self.connected and self.last_error is not None

    def stalled(self, now: float, stall_s: float) -> bool:
        """Connected (or listening) but nothing received for `stall_s`.

        Silence counts from the last line, or from when the connection came up if that is later (a
        fresh connection gets its full grace period), or from the start when there was neither.
        A disconnected feed is not "stalled": `connected` already says what is wrong with it.
        """
        if not self.connected:
            return False
        since = self.connected_since if self.connected_since is not None else self.started
        if self.last_line is not None and self.last_line > since:
            since = self.last_line
        return now - since > stall_s


# Errors that mean "this connection is gone or never came up": logged and retried. Anything else is
# a bug and escapes to the daemon's TaskGroup (STYLE 4/6). asyncio.TimeoutError is OSError's
# TimeoutError on 3.11; EOFError covers asyncio.IncompleteReadError.
_NETWORK_ERRORS: Final = (OSError, EOFError, aiohttp.ClientError, aiomqtt.MqttError)


class _Disconnected(Exception):
    """A connection ended without an exception of its own (peer closed, server sent an error)."""


class _NotConfigured(Exception):
    """The feed cannot start until the operator fixes something (no aisstream API key)."""


class _Feed:
    """One feed's state shared by its connection attempts: stats, sink, skip counters."""

    def __init__(
        self,
        settings: FeedSettings,
        sink: LineSink,
        stats: FeedStats,
        mqtt: MqttSettings | None,
        bounding_boxes: list[tuple[float, float, float, float]] | None,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self.sink = sink
        self.stats = stats
        self.mqtt = mqtt if mqtt is not None else MqttSettings()
        self.bounding_boxes = bounding_boxes
        self.log = log.bind(feed=settings.name, feed_type=settings.type)
        self.json = settings.format == "aiscatcher_json"
        self._skipped: Counter[str] = Counter()
        self._skip_logged = 0.0

    def deliver(self, lines: list[bytes]) -> None:
        if not lines:
            return
        self.stats.lines += len(lines)
        self.stats.last_line = time.time()
        self.sink(self.name, lines)

    def block(self, data: bytes) -> list[bytes]:
        """The lines of one self-contained block (a datagram, an MQTT payload, an HTTP body), by format."""
        if not self.json:
            return _split_block(data, self)
        skipped: dict[str, int] = {}
        lines = document_lines(data, skipped)
        for reason, n in skipped.items():
            self.skipped(reason, n)
        keep = [line for line in lines if len(line) <= MAX_LINE_BYTES]
        self.skipped("line_too_long", len(lines) - len(keep))
        return keep

    def up(self, **where: Any) -> None:
        self.stats.connected = True
        self.stats.connected_since = time.time()
        self.log.info("feed_connected", **where)

    def skipped(self, reason: str, n: int = 1) -> None:
        """Count junk (overlong lines, unusable messages); log the counts at most once a minute."""
        if n <= 0:
            return
        self.stats.errors += n
        self.stats.skipped[reason] = self.stats.skipped.get(reason, 0) + n
        self._skipped[reason] += n
        now = time.monotonic()
        if now - self._skip_logged >= SKIP_LOG_INTERVAL_S:
            self.log.warning("feed_input_skipped", counts=dict(self._skipped))
            self._skipped.clear()
            self._skip_logged = now


async def run_feed(
    settings: FeedSettings,
    sink: LineSink,
    stats: FeedStats,
    *,
    mqtt: MqttSettings | None = None,
    bounding_boxes: list[tuple[float, float, float, float]] | None = None,
) -> None:
    """Run one live feed until cancelled, delivering its lines to `sink` and keeping `stats`.

    Never returns on its own and never raises except CancelledError (and programming errors): network
    errors are logged as `feed_disconnected` and retried after `backoff_delay(attempt,
    settings.reconnect_max_s)`. `mqtt` is the broker of an `mqtt` feed (default: MqttSettings());
    `bounding_boxes` (min_lon, min_lat, max_lon, max_lat) restrict an `aisstream` subscription.
    """
    feed = _Feed(settings, sink, stats, mqtt, bounding_boxes)
    stats.format = settings.format
    connect = _RUNNERS[settings.type]
    attempt = 0
    while True:
        honour_cancel()
        lines_before = stats.lines
        try:
            await connect(feed)
            error = "connection closed"  # a runner returns only when the peer ended it cleanly
        except _NotConfigured as exc:
            stats.errors += 1
            stats.note_error(str(exc))
            feed.log.error("feed_not_configured", error=str(exc), retry_in_s=settings.reconnect_max_s)
            # Nothing a quick retry could fix: look again (the environment, for tests) slowly.
            await asyncio.sleep(settings.reconnect_max_s)
            continue
        except _Disconnected as exc:
            error = str(exc)
        except _NETWORK_ERRORS as exc:
            stats.errors += 1
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        finally:
            stats.connected = False
            stats.connected_since = None
        stats.note_error(error)
        if stats.lines > lines_before:
            attempt = 0  # that connection worked: reconnect quickly
        delay = backoff_delay(attempt, settings.reconnect_max_s)
        attempt += 1
        stats.reconnects += 1
        feed.log.warning("feed_disconnected", error=error, retry_in_s=round(delay, 3), attempt=attempt)
        await asyncio.sleep(delay)


# -- line framing ------------------------------------------------------------------------------------


class _LineSplitter:
    """Splits a byte stream into lines (\\n or \\r\\n), discarding lines longer than `max_line`.

    An overlong line is dropped whole, including the rest of it still to come, and counted once in
    `overlong`; the bytes buffered for an incomplete line never exceed `max_line`.
    """

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self.max_line = max_line
        self.overlong = 0
        self._buf = b""
        self._discarding = False  # inside an overlong line: drop everything up to the next newline

    def feed(self, data: bytes) -> list[bytes]:
        parts = data.split(b"\n")
        if self._buf:
            parts[0] = self._buf + parts[0]
            self._buf = b""
        tail = parts.pop()
        out: list[bytes] = []
        for part in parts:
            if self._discarding:
                self._discarding = False  # the end of the overlong line: it was counted already
                continue
            line = part.rstrip(b"\r")
            if len(line) > self.max_line:
                self.overlong += 1
            elif line.strip():
                out.append(line)
        if not self._discarding:
            if len(tail) > self.max_line:
                self.overlong += 1
                self._discarding = True
            else:
                self._buf = tail
        return out


def _split_block(data: bytes, feed: _Feed) -> list[bytes]:
    """The lines of one self-contained block (a datagram, an MQTT payload); the last needs no newline."""
    out: list[bytes] = []
    overlong = 0
    for part in data.split(b"\n"):
        line = part.rstrip(b"\r")
        if len(line) > MAX_LINE_BYTES:
            overlong += 1
        elif line.strip():
            out.append(line)
    feed.skipped("line_too_long", overlong)
    return out


async def _pump(
    reader: asyncio.StreamReader, feed: _Feed, keep: Callable[[list[bytes]], list[bytes]] | None = None
) -> None:
    """Read lines from one TCP stream into the sink until the peer closes it; `keep` may sort out lines
    that are the protocol's, not data (gpsd's JSON replies)."""
    splitter = _LineSplitter(MAX_JSON_BYTES if feed.json else MAX_LINE_BYTES)
    while True:
        data = await reader.read(READ_CHUNK)
        if not data:
            return
        feed.stats.bytes += len(data)
        lines = splitter.feed(data)
        if splitter.overlong:
            feed.skipped("line_too_long", splitter.overlong)
            splitter.overlong = 0
        if keep is not None:
            lines = keep(lines)
        if feed.json:
            lines = [out for line in lines for out in feed.block(line)]
        feed.deliver(lines)


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    # Bounded: a peer that does not answer must not delay shutdown; the socket is closed either way.
    with contextlib.suppress(OSError, TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), CLOSE_TIMEOUT_S)


def _set_keepalive(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in _KEEPALIVE:
            option = getattr(socket, name, None)  # Linux names; other systems keep their defaults
            if option is not None:
                sock.setsockopt(socket.IPPROTO_TCP, option, value)


# -- tcp ---------------------------------------------------------------------------------------------


async def _run_tcp(feed: _Feed) -> None:
    host, port = feed.settings.host, feed.settings.port
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT_S)
    try:
        honour_cancel()
        _set_keepalive(writer)
        feed.up(host=host, port=port)
        await _pump(reader, feed)
        raise _Disconnected("closed by the receiver")
    finally:
        await _close_writer(writer)


# -- tcp_server --------------------------------------------------------------------------------------


async def _run_tcp_server(feed: _Feed) -> None:
    handlers: set[asyncio.Task[Any]] = set()
    writers: set[asyncio.StreamWriter] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            handlers.add(task)
        writers.add(writer)
        peer = writer.get_extra_info("peername")
        peer_text = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        feed.stats.peers += 1
        feed.log.info("receiver_connected", peer=peer_text)
        error: str | None = None
        try:
            _set_keepalive(writer)
            await _pump(reader, feed)
        except _NETWORK_ERRORS as exc:
            feed.stats.errors += 1
            error = f"{type(exc).__name__}: {exc}"
        finally:
            feed.stats.peers -= 1
            writers.discard(writer)
            if task is not None:
                handlers.discard(task)
            feed.log.info("receiver_disconnected", peer=peer_text, error=error)
            await _close_writer(writer)

    settings = feed.settings
    server = await asyncio.start_server(handle, settings.host, settings.port, reuse_address=True)
    try:
        sockets = server.sockets
        # With a host that resolves to several addresses and port 0, each socket gets its own port;
        # the first one is reported.
        feed.stats.bound_port = sockets[0].getsockname()[1] if sockets else None
        feed.up(host=settings.host, port=feed.stats.bound_port, listening=True)
        await server.serve_forever()
    finally:
        server.close()
        # Python 3.11's Server.close() leaves accepted connections open: close them and end their
        # handlers, so a cancelled feed releases every socket before it returns.
        for writer in list(writers):
            writer.transport.abort()
        for task in list(handlers):
            task.cancel()
        if handlers:
            await asyncio.wait(list(handlers), timeout=CLOSE_TIMEOUT_S)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), CLOSE_TIMEOUT_S)
        feed.stats.peers = 0


# -- udp ---------------------------------------------------------------------------------------------


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, feed: _Feed, lost: asyncio.Future[Exception | None]) -> None:
        self.feed = feed
        self.lost = lost

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.feed.stats.bytes += len(data)
        self.feed.deliver(self.feed.block(data))

    def error_received(self, exc: Exception) -> None:
        # ICMP errors on an unconnected socket: nothing to reconnect, just note them.
        self.feed.stats.errors += 1
        self.feed.stats.note_error(f"{type(exc).__name__}: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)


async def _run_udp(feed: _Feed) -> None:
    loop = asyncio.get_running_loop()
    lost: asyncio.Future[Exception | None] = loop.create_future()
    settings = feed.settings
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _UdpProtocol(feed, lost), local_addr=(settings.host, settings.port)
    )
    try:
        sockname = transport.get_extra_info("sockname")
        feed.stats.bound_port = sockname[1] if isinstance(sockname, tuple) else None
        feed.up(host=settings.host, port=feed.stats.bound_port, listening=True)
        exc = await lost
        raise _Disconnected(f"socket closed: {exc}" if exc else "socket closed")
    finally:
        transport.close()


# -- aisstream ---------------------------------------------------------------------------------------


def _api_key(feed: _Feed) -> str:
    return feed.settings.api_key.get_secret_value() or os.environ.get("AISSTREAM_API_KEY", "")


async def _run_aisstream(feed: _Feed) -> None:
    key = _api_key(feed)
    if not key:
        raise _NotConfigured("no aisstream API key: set api_key in the feed or AISSTREAM_API_KEY")
    timeout = aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT_S, sock_connect=CONNECT_TIMEOUT_S)
    # heartbeat: a ping every 30 s and a close when its pong does not come, so a dead connection is
    # noticed even when the bounding boxes are quiet.
    ws_timeout = aiohttp.ClientWSTimeout(ws_close=CLOSE_TIMEOUT_S)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.ws_connect(feed.settings.url, heartbeat=30.0, timeout=ws_timeout) as ws,
    ):
        # aisstream closes a connection that has not subscribed within 3 s: send it first thing.
        await ws.send_str(json.dumps(subscription(key, feed.bounding_boxes)))
        feed.up(url=feed.settings.url)
        converter = Converter()  # (which vessels have a name: MetaData.ShipName as a fallback)
        async for msg in ws:
            if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                _aisstream_message(feed, msg.data, converter)
            elif msg.type == aiohttp.WSMsgType.ERROR:
                exc = ws.exception()
                raise _Disconnected(f"websocket error: {exc}")
        raise _Disconnected(f"closed by aisstream (code {ws.close_code})")


def _aisstream_message(feed: _Feed, data: str | bytes, converter: Converter) -> None:
    feed.stats.bytes += len(data)
    try:
        message = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        feed.skipped("malformed")
        return
    if isinstance(message, dict) and "error" in message and "MessageType" not in message:
        # aisstream reports a refused subscription (bad key, bad boxes) this way, then closes.
        feed.stats.errors += 1
        feed.log.error("aisstream_error", error=str(message["error"]))
        # aisstream closes the connection next: its reason, not the close, is the feed's last error.
        raise _Disconnected(f"aisstream: {str(message['error'])[:200]}")
    try:
        lines = converter.to_nmea(message)
    except AisStreamMessageError as exc:
        feed.skipped(exc.reason)
        return
    feed.deliver(lines)


# -- mqtt --------------------------------------------------------------------------------------------


def _broker(settings: MqttSettings) -> tuple[str, int, bool]:
    """(host, port, tls) from mqtt://host[:port] or mqtts://host[:port] (validated by MqttSettings)."""
    parts = urlsplit(settings.url)
    tls = parts.scheme == "mqtts"
    return parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883), tls


def _client_id(feed: _Feed) -> str:
    # Never the publisher's own client id: a broker disconnects the older of two clients sharing one,
    # and the two would kick each other off in turn.
    base = feed.mqtt.client_id or f"chokepoint-monitor-{socket.gethostname()}"
    return f"{base}-feed-{feed.name}"


async def _run_mqtt(feed: _Feed) -> None:
    settings = feed.mqtt
    host, port, tls = _broker(settings)
    tls_params = None
    if tls:
        tls_params = aiomqtt.TLSParameters(ca_certs=str(settings.ca_file) if settings.ca_file else None)
    client = aiomqtt.Client(
        host,
        port,
        username=settings.username or None,
        password=settings.password.get_secret_value() or None,
        identifier=_client_id(feed),
        keepalive=settings.keepalive_s,
        timeout=CONNECT_TIMEOUT_S,
        tls_params=tls_params,
        tls_insecure=settings.tls_insecure if tls else None,
    )
    async with client:
        # QoS 0: the session is clean, so nothing would be kept across a reconnect anyway, and a
        # position report retransmitted late is worth less than the next one.
        await client.subscribe(feed.settings.topic, qos=0)
        honour_cancel()
        feed.up(broker=f"{host}:{port}", topic=feed.settings.topic)
        async for message in client.messages:
            payload = message.payload  # bytes: paho hands every received payload over as bytes
            feed.stats.bytes += len(payload)
            feed.deliver(feed.block(payload))
    raise _Disconnected("broker connection ended")


# -- file --------------------------------------------------------------------------------------------


async def _run_file(feed: _Feed) -> None:
    settings = feed.settings
    path = settings.path
    assert path is not None  # (FeedSettings requires it for this type)

    def deliver(lines: list[bytes]) -> None:
        feed.stats.bytes += sum(map(len, lines)) + len(lines)  # (the lines as read, newlines included)
        feed.deliver(lines)

    feed.up(path=str(path), speed=settings.speed, loop=settings.loop)
    shift = 0.0
    passes = 0
    while True:
        try:
            span = await play(path, settings.speed, deliver, shift=shift)
        except FeedError as exc:  # (a gzip file cut short: logged and retried like a dropped connection)
            raise _Disconnected(str(exc)) from exc
        passes += 1
        if not settings.loop or span is None:  # (without a timed line there is no pace to keep)
            break
        shift += loop_shift(*span)
    feed.stats.connected = False
    feed.stats.connected_since = None
    feed.log.info("feed_finished", path=str(path), passes=passes)
    await asyncio.Event().wait()  # the feed has ended; it waits here until the daemon stops


# -- gpsd --------------------------------------------------------------------------------------------


async def _run_gpsd(feed: _Feed) -> None:
    host, port = feed.settings.host, feed.settings.port or GPSD_PORT
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT_S)
    try:
        honour_cancel()
        _set_keepalive(writer)
        writer.write(GPSD_WATCH)
        await writer.drain()
        feed.up(host=host, port=port)
        await _pump(reader, feed, keep=lambda lines: _gpsd_sentences(feed, lines))
        raise _Disconnected("closed by gpsd")
    finally:
        await _close_writer(writer)


def _gpsd_sentences(feed: _Feed, lines: list[bytes]) -> list[bytes]:
    """The device sentences among gpsd's lines; its JSON replies are protocol, an ERROR one is noted."""
    out = []
    for line in lines:
        if not line.startswith(b"{"):
            out.append(line)
            continue
        try:
            reply = json.loads(line)
        except ValueError:
            continue
        if isinstance(reply, dict) and reply.get("class") == "ERROR":
            feed.stats.errors += 1
            feed.stats.note_error(f"gpsd: {str(reply.get('message'))[:200]}")
            feed.log.warning("gpsd_error", error=str(reply.get("message"))[:200])
    return out


# -- http (AIS-catcher's HTTP push) ---------------------------------------------------------------------


async def _run_http(feed: _Feed) -> None:
    async def receive(request: web.Request) -> web.Response:
        feed.stats.peers += 1
        try:
            body = await request.read()  # (over MAX_HTTP_BODY: aiohttp answers 413)
        finally:
            feed.stats.peers -= 1
        feed.stats.bytes += len(body)
        lines = feed.block(body)
        feed.deliver(lines)
        if not lines and body.strip():
            return web.json_response({"error": "no usable message in the body", "status": 400}, status=400)
        return web.json_response({"lines": len(lines)})

    app = web.Application(client_max_size=MAX_HTTP_BODY)
    app.router.add_post("/{path:.*}", receive)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    try:
        site = web.TCPSite(runner, feed.settings.host, feed.settings.port, reuse_address=True)
        await site.start()
        feed.stats.bound_port = int(runner.addresses[0][1]) if runner.addresses else None
        feed.up(host=feed.settings.host, port=feed.stats.bound_port, listening=True)
        await asyncio.Event().wait()  # serves until the feed is cancelled
    finally:
        await runner.cleanup()
        feed.stats.peers = 0


_RUNNERS: Final[dict[str, Callable[[_Feed], Awaitable[None]]]] = {
    "tcp": _run_tcp,
    "tcp_server": _run_tcp_server,
    "udp": _run_udp,
    "aisstream": _run_aisstream,
    "mqtt": _run_mqtt,
    "file": _run_file,
    "gpsd": _run_gpsd,
    "http": _run_http,
}


def feed_row(stats: FeedStats, *, stalled: bool) -> dict[str, Any]:
    """One feed as GET /api/feeds shows it: state, counts, last error (times ISO 8601 UTC)."""
    if stats.connected:
        state = "stalled" if stalled else "connected"
    elif stats.failing:
        state = "failing"
    elif stats.type == "file" and stats.lines:
        state = "finished"
    else:
        state = "connecting"
    return {
        "name": stats.name,
        "type": stats.type,
        "format": stats.format,
        "state": state,
        "connected": stats.connected,
        "stalled": stalled,
        "lines": stats.lines,
        "bytes": stats.bytes,
        "rejected": sum(stats.rejects.values()),
        "rejects": dict(sorted(stats.rejects.items())),
        "duplicates": stats.duplicates,
        "other_sentences": stats.other_sentences,
        "skipped": dict(sorted(stats.skipped.items())),
        "reconnects": stats.reconnects,
        "errors": stats.errors,
        "last_line": _iso(stats.last_line),
        "last_error": stats.last_error,
        "last_error_at": _iso(stats.last_error_at),
        "connected_since": _iso(stats.connected_since),
        "port": stats.bound_port,
        "peers": stats.peers,
    }


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"
