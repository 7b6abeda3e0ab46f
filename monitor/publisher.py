"""MQTT publisher: sends the durable outbox to the broker at least once, keeps the retained status and
posture up to date, and receives operator posture commands.

At-least-once: the outbox (monitor.store) is the only queue. A row leaves it only after the broker's
PUBACK: aiomqtt's `publish(qos=1)` returns when paho marks the message published, which for QoS > 0
happens only in its PUBACK handler. A row sent but not acknowledged when the connection dies stays in
the outbox and is sent again on the next connection; each connection uses a fresh client, so paho's own
in-memory resend queue is never used (it would be lost on a crash anyway, and would only add duplicates).
Subscribers de-duplicate on the alert id.

Status: `{prefix}/status` is retained. "online" is published on every connection; the last will says
"offline" if the connection dies. A clean DISCONNECT never fires the will, so:
- `close()` publishes "offline" itself, then disconnects cleanly;
- any other end of a connection (an error, a timeout, run() cancelled without close()) drops the socket
  WITHOUT a DISCONNECT packet, so the broker publishes the will and the retained status never claims
  "online" for a daemon that is gone.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import ssl
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import aiomqtt
import structlog

from monitor.aio import honour_cancel
from monitor.config import MqttSettings
from monitor.errors import ConfigError
from monitor.store import Store

__all__ = ["BACKOFF_BASE", "Publisher", "PublisherStats"]

_log = structlog.get_logger(__name__)

BACKOFF_BASE: Final = 1.5  # STYLE 7: sleep uniform(0, min(cap, 1.5 ** attempt))
# Rows sent concurrently per round. paho keeps up to this many QoS 1 messages in flight, and aiomqtt
# warns above `pending_calls_threshold` pending calls, so all three move together.
_WINDOW: Final = 128
_TRANSIENT: Final = (aiomqtt.MqttError, OSError, TimeoutError)


@dataclass
class PublisherStats:
    """Counters for /metrics and health; `connected` is the live state."""

    connected: bool = False
    published: int = 0  # alerts acknowledged by the broker (PUBACK) and removed from the outbox
    reconnects: int = 0  # connections established after a previous one was lost
    failures: int = 0  # connection attempts that failed plus connections that ended in an error
    commands_ok: int = 0  # posture/set commands valid and applied
    commands_bad: int = 0  # posture/set commands refused (invalid, retained, or the handler failed)
    last_error: str | None = None


@dataclass(frozen=True)
class _Broker:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None

    @property
    def address(self) -> str:
        """host:port, for logs: never the credentials, never the full URL."""
        return f"{self.host}:{self.port}"


def _parse_url(url: str, settings: MqttSettings) -> _Broker:
    """mqtt://host[:port] or mqtts://host[:port]; user:password@ in the URL overrides the settings."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError("--mqtt", f"invalid broker URL: {exc}") from None  # `from None`: no URL echo
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname or parts.path not in ("", "/"):
        # Name the scheme and host only: the URL may carry a password.
        raise ConfigError(
            "--mqtt",
            f"broker URL must be mqtt://host[:port] or mqtts://host[:port], not a {parts.scheme!r} URL",
        )
    tls = parts.scheme == "mqtts"
    username = unquote(parts.username) if parts.username else settings.username or None
    if parts.password is not None:
        password: str | None = unquote(parts.password)
    else:
        password = settings.password.get_secret_value() or None
    return _Broker(parts.hostname, port or (8883 if tls else 1883), tls, username, password)


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


class Publisher:
    """Publishes the store's outbox to MQTT; see the module docstring for the guarantees."""

    def __init__(
        self,
        settings: MqttSettings,
        store: Store,
        *,
        url: str | None = None,
        version: str,
        started: str,
        on_command: Callable[[bytes], bool] | None = None,
        client_id: str | None = None,
        announce: bool = True,
        backoff_cap_s: float = 30.0,
    ) -> None:
        """`url` overrides settings.url (the --mqtt option). `on_command` gets each raw
        {prefix}/posture/set payload and returns True if it was valid and applied.

        announce=False (`replay --publish`): only alerts are sent. No status, no last will, no posture,
        no command subscription, so the daemon's retained status and posture are left alone; and the
        default client id gets a `-publish-<pid>` suffix, because a second connection with the daemon's
        id would make the broker disconnect the daemon. `client_id` overrides the id in every case.
        Raises ConfigError for a bad URL or CA file.
        """
        self._settings = settings
        self._store = store
        self._broker = _parse_url(url if url is not None else settings.url, settings)
        self._announce = announce
        default_id = settings.client_id or f"chokepoint-monitor-{socket.gethostname()}"
        if not announce:
            default_id = f"{default_id}-publish-{os.getpid()}"
        self._client_id = client_id or default_id
        self._on_command = on_command
        self._backoff_cap = backoff_cap_s
        self._timeout = settings.publish_timeout_s
        prefix = settings.prefix.rstrip("/")
        self._status_topic = f"{prefix}/status"
        self._posture_topic = f"{prefix}/posture"
        self._command_topic = f"{prefix}/posture/set"
        self._online = _json({"state": "online", "version": version, "started": started})
        self._offline = _json({"state": "offline", "version": version, "started": started})
        # Loaded once here (blocking file I/O, and a bad CA file is a start-up error, not a retry loop).
        self._tls = self._tls_context() if self._broker.tls else None
        self.stats = PublisherStats()
        self._posture: bytes | None = None
        self._posture_dirty = False
        # Other retained messages (the traffic per strait): topic -> latest payload, and the payload last
        # acknowledged on this connection (a payload replaced while its publish was under way is sent next).
        self._retained: dict[str, bytes] = {}
        self._retained_sent: dict[str, bytes] = {}
        self._wake = asyncio.Event()  # new rows or a new posture
        self._acked = asyncio.Event()  # the outbox shrank: flush() re-checks
        self._stop = asyncio.Event()  # close(): leave cleanly, do not reconnect
        self._finished = asyncio.Event()
        self._running = False
        self._ever_connected = False

    def _tls_context(self) -> ssl.SSLContext:
        ca_file = self._settings.ca_file
        try:
            context = ssl.create_default_context(cafile=str(ca_file) if ca_file is not None else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(str(ca_file), f"cannot load the CA bundle: {exc}") from exc
        if self._settings.tls_insecure:
            # Only the host name check is skipped; the chain must still verify against the CA.
            # (aiomqtt is told too, see _client(): else paho would check the name itself.)
            context.check_hostname = False
        context.sslsocket_class = _ClosingSSLSocket
        return context

    # -- called by the daemon --------------------------------------------------------------------

    def wake(self) -> None:
        """New rows were committed to the store: send them."""
        self._wake.set()

    def set_posture(self, payload: dict[str, Any]) -> None:
        """The retained {prefix}/posture message: published now if connected, and after every reconnect."""
        self._posture = _json(payload)
        self._posture_dirty = True
        self._wake.set()

    def set_retained(self, topic: str, payload: dict[str, Any]) -> None:
        """A retained message (QoS 1) kept up to date like the posture: the latest payload of the topic is
        published when connected, and again after every reconnect; older ones not yet sent are skipped."""
        self._retained[topic] = _json(payload)
        self._wake.set()

    async def flush(self, timeout: float) -> bool:
        """Wait until every queued alert was acknowledged, or `timeout` seconds; True if the outbox is
        empty."""
        self._wake.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._store.depth > 0:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._acked.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._acked.wait(), remaining)
        return True

    async def close(self) -> None:
        """Stop run(): if connected, publish the retained "offline" status and disconnect cleanly."""
        self._stop.set()
        if not self._running:
            return
        try:
            # run() publishes "offline" (one publish timeout) and disconnects; allow both plus margin.
            await asyncio.wait_for(self._finished.wait(), 2 * self._timeout + 1)
        except TimeoutError:
            _log.warning("mqtt_close_timeout", broker=self._broker.address)

    # -- the connection loop ---------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, publish, reconnect with jittered capped backoff; until cancelled or close()d."""
        if self._running:
            raise RuntimeError("Publisher.run() is already running")
        self._running = True
        self._finished.clear()
        attempt = 0
        try:
            while not self._stop.is_set():
                honour_cancel()
                error, was_connected = await self._connection()
                if error is None:
                    return  # close(): left cleanly
                if was_connected:
                    attempt = 0  # reset on success: the connection was up
                attempt += 1
                delay = random.uniform(0, min(self._backoff_cap, BACKOFF_BASE**attempt))
                self.stats.failures += 1
                self.stats.last_error = _describe(error)
                _log.warning(
                    "mqtt_disconnected",
                    broker=self._broker.address,
                    error=self.stats.last_error,
                    connected=was_connected,
                    retry_in_s=round(delay, 2),
                )
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
        finally:
            self.stats.connected = False
            self._running = False
            self._finished.set()

    async def _connection(self) -> tuple[BaseException | None, bool]:
        """One connection: (None, True) after a clean close, or (the error, whether it had connected)."""
        client = self._client()
        try:
            await client.__aenter__()
        except _TRANSIENT as exc:
            _abort(client)
            return exc, False
        except BaseException:
            _abort(client)
            raise
        clean = False
        try:
            error = await self._session(client)
            clean = error is None
            return error, True
        finally:
            self.stats.connected = False
            if clean:
                with suppress(*_TRANSIENT):
                    await client.__aexit__(None, None, None)
            else:
                _abort(client)

    def _client(self) -> aiomqtt.Client:
        broker = self._broker
        client = aiomqtt.Client(
            broker.host,
            broker.port,
            username=broker.username,
            password=broker.password,
            identifier=self._client_id,
            # Our outbox is the session: nothing to keep on the broker between connections.
            clean_session=True,
            will=aiomqtt.Will(self._status_topic, self._offline, qos=1, retain=True)
            if self._announce
            else None,
            keepalive=self._settings.keepalive_s,
            timeout=self._timeout,
            tls_context=self._tls,
            # paho checks the host name itself unless told the check is off (tls_insecure_set).
            tls_insecure=self._settings.tls_insecure if self._tls is not None else None,
            max_inflight_messages=_WINDOW,
            # Nagle's algorithm off on the broker connection. paho leaves it on, and with several small
            # PUBLISH packets in flight Nagle waits for the broker's delayed ACK: up to 40 ms an alert.
            # (mqtt:// and mqtts:// URLs are always TCP.)
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )
        client.pending_calls_threshold = _WINDOW + 8
        return client

    async def _session(self, client: aiomqtt.Client) -> BaseException | None:
        """Run a connected client until close() (returns None) or a transient error (returns it)."""
        error: BaseException | None = None
        try:
            if self._announce:
                await client.publish(
                    self._status_topic, self._online, qos=1, retain=True, timeout=self._timeout
                )
                await client.subscribe(self._command_topic, qos=1, timeout=self._timeout)
            honour_cancel()
            if self._ever_connected:
                self.stats.reconnects += 1
            self._ever_connected = True
            self.stats.connected = True
            self._posture_dirty = self._posture is not None
            self._retained_sent = {}
            _log.info("mqtt_connected", broker=self._broker.address, client_id=self._client_id)
            # Commands are handled while alerts are being sent: a long backlog must not delay an
            # operator's posture change. If either task fails, the TaskGroup cancels the other.
            async with asyncio.TaskGroup() as tasks:
                drain = tasks.create_task(self._drain(client), name="mqtt-outbox")
                commands = tasks.create_task(self._commands(client), name="mqtt-commands")
                await self._stop.wait()
                drain.cancel()
                commands.cancel()
            if self._announce:
                await client.publish(
                    self._status_topic, self._offline, qos=1, retain=True, timeout=self._timeout
                )
        except* _TRANSIENT as group:
            error = _first(group)
        return error

    async def _drain(self, client: aiomqtt.Client) -> None:
        """Send the posture when it changed, then every queued row in order; sleep until wake()."""
        while True:
            honour_cancel()
            self._wake.clear()  # before reading: a wake() from here on is not lost
            if self._posture_dirty and self._posture is not None and self._announce:
                self._posture_dirty = False
                try:
                    await client.publish(
                        self._posture_topic, self._posture, qos=1, retain=True, timeout=self._timeout
                    )
                except BaseException:
                    self._posture_dirty = True
                    raise
            for topic, payload in list(self._retained.items()):
                if self._retained_sent.get(topic) is not payload:
                    await client.publish(topic, payload, qos=1, retain=True, timeout=self._timeout)
                    self._retained_sent[topic] = payload
            rows = self._store.pending(limit=_WINDOW)
            if rows:
                await self._send(client, rows)
            else:
                await self._wake.wait()

    async def _send(self, client: aiomqtt.Client, rows: list[tuple[int, str, bytes]]) -> None:
        """Publish `rows` concurrently (paho writes them in this order) and ack each one after its PUBACK."""
        acked: list[int] = []

        async def one(rowid: int, topic: str, payload: bytes) -> None:
            await client.publish(topic, payload, qos=1, timeout=self._timeout)
            acked.append(rowid)

        try:
            async with asyncio.TaskGroup() as tasks:
                for rowid, topic, payload in rows:
                    tasks.create_task(one(rowid, topic, payload))
        finally:
            # Also when the round failed or was cancelled: rows the broker did acknowledge are not
            # sent again, which keeps duplicates after an outage to the few really in flight.
            if acked:
                self._store.ack(acked)
                self.stats.published += len(acked)
                self._acked.set()

    async def _commands(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            if not message.topic.matches(self._command_topic):
                continue
            payload = message.payload
            raw = payload if isinstance(payload, bytes) else str(payload).encode()
            if not raw:
                # An empty message is how an operator clears a retained command; the broker forwards it
                # to current subscribers. It is not a command: neither applied nor counted.
                continue
            if message.retain:
                # A retained command is stale: it would be re-applied on every reconnect and silently
                # undo any later change made over HTTP or by an escalation rule.
                self.stats.commands_bad += 1
                _log.warning("posture_command_ignored", reason="retained", topic=self._command_topic)
                continue
            try:
                ok = self._on_command(raw) if self._on_command is not None else False
            except Exception:  # noqa: BLE001 - contain a handler bug per message (STYLE 4)
                ok = False
                _log.exception("posture_command_failed", topic=self._command_topic)
            if ok:
                self.stats.commands_ok += 1
            else:
                self.stats.commands_bad += 1


class _ClosingSSLSocket(ssl.SSLSocket):
    """Closes itself when the TLS handshake fails. paho drops the socket on the floor in that case
    (it is not yet its `_sock`), leaving it to the garbage collector, with a ResourceWarning, once per
    reconnect attempt against a broker whose certificate is refused."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def _first(error: BaseException) -> BaseException:
    """The first leaf of a (nested) exception group: the error that ended the connection."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


def _describe(error: BaseException) -> str:
    """The error for logs and stats: type and message (aiomqtt's messages carry no credentials)."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _abort(client: aiomqtt.Client) -> None:
    """Drop the connection without a DISCONNECT packet, so the broker publishes the last will.

    shutdown() sends the FIN at once; closing through paho's `_sock_close` also unregisters the socket
    from the event loop (aiomqtt's on_socket_close callback), so no stale reader stays behind for a
    reused file descriptor. Both are private: aiomqtt 2 / paho 2 have no public "abort".
    """
    paho = client._client
    sock = paho.socket()
    if sock is None:
        return
    if isinstance(sock, socket.socket):  # TCP or TLS (SSLSocket); not a websocket wrapper
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    paho._sock_close()
