"""Real receivers for the sinks' tests (STYLE 11): a webhook server (aiohttp) that can refuse connections or
answer 5xx for a while, and UDP and TCP listeners that take Cursor-on-Target events and check each one
against the CoT 2.0 event schema (tests/data/cot/event.xsd, with the `xmlschema` validator).

They run on threads of their own, so a test may block (a daemon subprocess's helpers poll with
time.sleep) without the receivers stalling, which would turn into timeouts and duplicate deliveries.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path
from typing import Any

import xmlschema
from aiohttp import web

from tests.mqtt_helpers import free_port

SCHEMA = Path(__file__).resolve().parent / "data" / "cot" / "event.xsd"


@cache
def _schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SCHEMA))


def parse_cot(data: bytes) -> ET.Element:
    """One CoT event, validated against the CoT 2.0 event schema (raises if it is not valid)."""
    text = data.decode("utf-8")
    _schema().validate(text)
    return ET.fromstring(text)


def split_events(stream: bytes) -> tuple[list[bytes], bytes]:
    """The complete events at the head of a TCP stream (each ends with `</event>`), and the rest."""
    out = []
    while (end := stream.find(b"</event>")) >= 0:
        out.append(stream[: end + len(b"</event>")].strip())
        stream = stream[end + len(b"</event>") :]
    return out, stream


class WebhookReceiver:
    """An HTTP server on 127.0.0.1:`port` on its own thread. Before `start()` nothing listens (the
    connection is refused); while time.monotonic() < `fail_until` it answers 503. Every request answered
    2xx is kept in `received`: (body as JSON, headers)."""

    def __init__(self, token: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.token = token
        self.fail_until = 0.0
        self.received: list[tuple[dict[str, Any], dict[str, str]]] = []
        self.refused = 0  # requests answered 5xx (or 401 for a wrong token)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="webhook-receiver", daemon=True)
        self._thread.start()
        self._runner: web.AppRunner | None = None

    def ids(self) -> list[str]:
        return [body["id"] for body, _ in self.received]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.token is not None and request.headers.get("Authorization") != f"Bearer {self.token}":
            self.refused += 1
            return web.Response(status=401)
        if time.monotonic() < self.fail_until:
            self.refused += 1
            return web.Response(status=503, text="down for maintenance")
        self.received.append((json.loads(body), dict(request.headers)))
        return web.Response(status=204)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start(self) -> None:
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


class CotListener:
    """A UDP or TCP listener on 127.0.0.1 taking CoT events on its own thread; each event is checked
    against the schema as it arrives: `events` the valid ones (parsed), `invalid` the others (with why)."""

    def __init__(self, protocol: str, port: int = 0) -> None:
        self.protocol = protocol
        kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
        self._sock = socket.socket(socket.AF_INET, kind)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self.port: int = self._sock.getsockname()[1]
        if protocol == "tcp":
            self._sock.listen()
        self._sock.settimeout(0.2)
        self.events: list[ET.Element] = []
        self.invalid: list[tuple[bytes, str]] = []
        self.connections = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._udp if protocol == "udp" else self._tcp,
                                        name=f"cot-{protocol}", daemon=True)
        self._thread.start()

    def _take(self, data: bytes) -> None:
        try:
            event = parse_cot(data)
        except Exception as exc:  # noqa: BLE001 - any failure to parse or validate is the finding
            with self._lock:
                self.invalid.append((data, repr(exc)))
            return
        with self._lock:
            self.events.append(event)

    def _udp(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(65535)
            except TimeoutError:
                continue
            self._take(data)

    def _tcp(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            threading.Thread(target=self._stream, args=(conn,), daemon=True).start()

    def _stream(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        rest = b""
        with conn:
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                events, rest = split_events(rest + data)
                for event in events:
                    self._take(event)

    def uids(self, prefix: str = "") -> list[str]:
        with self._lock:
            return [e.get("uid", "") for e in self.events if e.get("uid", "").startswith(prefix)]

    def of_uid(self, uid: str) -> list[ET.Element]:
        with self._lock:
            return [e for e in self.events if e.get("uid") == uid]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()


def wait_for(condition: Any, timeout: float, what: str = "condition") -> None:
    """Poll `condition()` every 50 ms until it is true; AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
