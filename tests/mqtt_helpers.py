"""A real Mosquitto for tests (STYLE 11) and a subscriber that gathers messages.

`Broker` runs Debian's mosquitto on 127.0.0.1 with a generated config; `stop()`/`start()` simulate an
outage on the same port. `collect()` and `Subscriber` gather messages from it.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

import aiomqtt

__all__ = ["Broker", "Subscriber", "collect", "find_mosquitto", "free_port", "make_certificates"]

_DEBIAN_PATH = "/usr/sbin/mosquitto"  # not on a normal user's PATH


def find_mosquitto() -> str | None:
    """The mosquitto executable, or None if it is not installed."""
    if os.access(_DEBIAN_PATH, os.X_OK):
        return _DEBIAN_PATH
    return shutil.which("mosquitto")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Broker:
    """One mosquitto process on 127.0.0.1:`port`, restartable on the same port.

    persistent=False (the shared test broker): nothing survives a restart. persistent=True: mosquitto
    saves retained messages, persistent sessions and their queued QoS 1 messages on stop (SIGTERM) and
    loads them on start, like a production broker.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        executable: str,
        workdir: Path,
        *,
        port: int | None = None,
        persistent: bool = False,
        tls: tuple[Path, Path, Path] | None = None,
    ) -> None:
        """tls: (cafile, certfile, keyfile) makes the listener TLS-only (then `url` is mqtts://)."""
        self.executable = executable
        self.workdir = workdir
        self.port = port if port is not None else free_port()
        self.url = f"{'mqtts' if tls else 'mqtt'}://{self.host}:{self.port}"
        self.persistent = persistent
        self.log_path = workdir / "mosquitto.log"
        self._process: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            f"persistence {'true' if self.persistent else 'false'}",
            # Run as whoever runs the tests: started as root, mosquitto would otherwise switch to the
            # `mosquitto` user, which cannot write the persistence files in our temporary directory.
            f"user {getpass.getuser()}",
            # No Nagle towards subscribers, as a broker tuned for alerting would be set up.
            "set_tcp_nodelay true",
            "log_dest stdout",
            "log_type all",
        ]
        if tls is not None:
            cafile, certfile, keyfile = tls
            lines += [f"cafile {cafile}", f"certfile {certfile}", f"keyfile {keyfile}"]
        if self.persistent:
            # Queue without limit for offline persistent subscribers (the default, 1000, would drop
            # messages during an outage test and blame the publisher for the broker's policy).
            lines += [f"persistence_location {workdir}/", "max_queued_messages 0"]
        self.config_path.write_text("\n".join(lines) + "\n")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start mosquitto (again, on the same port) and wait until it accepts connections.
        A paused broker is resumed."""
        if self.running:
            self.resume()
            return
        log = self.log_path.open("ab")
        try:
            self._process = subprocess.Popen(
                [self.executable, "-c", str(self.config_path)], stdout=log, stderr=subprocess.STDOUT
            )
        finally:
            log.close()  # the child has its own copy of the descriptor
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"mosquitto exited with code {self._process.returncode}:\n{self.log_tail()}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"mosquitto did not listen on port {self.port}:\n{self.log_tail()}"
                    ) from None
                time.sleep(0.02)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop mosquitto (SIGTERM, like systemctl stop: a persistent broker saves its state) and wait."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGCONT)  # a paused broker cannot act on SIGTERM
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def pause(self) -> None:
        """Freeze mosquitto (SIGSTOP): connections stay open but nothing is answered, like a hung
        broker or a network that silently drops packets."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Undo pause() (SIGCONT)."""
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class Subscriber:
    """A subscriber that is subscribed (SUBACK received) once `async with` has entered.

    Messages are gathered in the background into `messages`; `wait_until()` waits for a condition on
    them. Each message's `qos` is the QoS it was delivered with and `retain` whether it was retained.
    """

    def __init__(
        self,
        url: str,
        topic_filter: str,
        *,
        qos: int = 1,
        identifier: str | None = None,
        clean_session: bool = True,
    ) -> None:
        self.messages: list[aiomqtt.Message] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        parts = urlsplit(url)
        self._client = aiomqtt.Client(
            parts.hostname or "127.0.0.1",
            parts.port or 1883,
            identifier=identifier,
            clean_session=clean_session,
            timeout=5,
            queue_type=self._recording_queue(),
        )
        self._topic_filter = topic_filter
        self._qos = qos

    def _recording_queue(self) -> type[asyncio.Queue[aiomqtt.Message]]:
        """A queue class for aiomqtt that records each message the moment paho hands it over (just
        before paho sends the PUBACK). aiomqtt's message iterator gives up on messages still queued
        when the connection drops, although they were acknowledged; recording here loses none."""
        subscriber = self

        class Recording(asyncio.Queue[aiomqtt.Message]):
            def put_nowait(self, item: aiomqtt.Message) -> None:
                subscriber.messages.append(item)
                subscriber._changed.set()

        return Recording

    async def __aenter__(self) -> Self:
        await self._client.__aenter__()
        await self._client.subscribe(self._topic_filter, qos=self._qos)
        self._task = asyncio.create_task(self._gather(), name="test-subscriber")
        self._task.add_done_callback(lambda _: self._changed.set())  # wake wait_until() on disconnect
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, aiomqtt.MqttError):
                pass
        try:
            await self._client.__aexit__(exc_type, exc, tb)
        except aiomqtt.MqttError:
            pass  # the broker went away under us: nothing to disconnect from

    async def _gather(self) -> None:
        # Messages are recorded by the queue; iterating only notices the end of the connection.
        async for _ in self._client.messages:
            pass

    async def wait_until(
        self, until: Callable[[list[aiomqtt.Message]], bool], timeout: float
    ) -> list[aiomqtt.Message]:
        """Wait until `until(messages)` holds; TimeoutError (listing what arrived) after `timeout` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not until(self.messages):
            remaining = deadline - loop.time()
            if self._task is not None and self._task.done() and not self._task.cancelled():
                error = self._task.exception()
                raise aiomqtt.MqttError(f"subscriber on {self._topic_filter!r} disconnected") from error
            if remaining <= 0:
                got = [(str(m.topic), m.payload) for m in self.messages][:20]
                raise TimeoutError(
                    f"on {self._topic_filter!r} after {timeout} s, condition not met;"
                    f" {len(self.messages)} messages, the first: {got}"
                )
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass
        return list(self.messages)


async def collect(
    url: str,
    topic_filter: str,
    *,
    until: Callable[[list[aiomqtt.Message]], bool],
    timeout: float,
    qos: int = 1,
    ready: asyncio.Event | None = None,
) -> list[aiomqtt.Message]:
    """Subscribe to `topic_filter` on the broker at `url` and gather messages until `until(messages)`
    holds (returns them) or `timeout` seconds pass (raises TimeoutError naming what arrived).

    `ready` is set once the subscription is acknowledged: run collect() as a task and await `ready`
    before publishing, or the first messages could be published before anyone listens.
    """
    async with Subscriber(url, topic_filter, qos=qos) as subscriber:
        if ready is not None:
            ready.set()
        return await subscriber.wait_until(until, timeout)


def make_certificates(directory: Path, *, server_name: str = "localhost") -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for `server_name` (DNS name only) signed by it, made
    with the openssl command line; returns (ca.pem, server.pem, server.key)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl is not installed (Debian package openssl): the TLS tests need it")
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    cert, key, csr = directory / "server.pem", directory / "server.key", directory / "server.csr"
    extensions = directory / "server.ext"
    extensions.write_text(f"subjectAltName=DNS:{server_name}\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for command in (
        ["req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=chokepoint test CA"],
        ["req", *ec, "-keyout", key, "-out", csr, "-subj", f"/CN={server_name}"],
        [
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            ca,
            "-CAkey",
            ca_key,
            "-CAcreateserial",
            "-out",
            cert,
            "-days",
            "2",
            "-extfile",
            extensions,
        ],
    ):
        subprocess.run([openssl, *map(str, command)], check=True, capture_output=True, timeout=60)
    key.chmod(0o644)  # mosquitto may read it as another user
    return ca, cert, key
