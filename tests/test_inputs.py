"""Issue 16's inputs, with sample lines of each format: AIS-catcher's JSON (JSON_NMEA and JSON_FULL, one
object per line or payload, and its HTTP push) over UDP, TCP, MQTT (a real Mosquitto) and HTTP; a real
gpsd (Debian's `gpsd`, started by a fixture on free ports, reading NMEA from UDP) read in its raw
?WATCH mode; aisstream's class B static reports, type 19 and 27 positions and MetaData names.

The samples are written here from the formats' public documentation (AIS-catcher's JSON output and HTTP
push pages, aisstream's message models), around sentences the project's tests already decode."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import pytest
from structlog.testing import capture_logs

from monitor.aiscatcher import document_lines, message_lines, parse_rxtime
from monitor.aisstream import Converter, to_nmea
from monitor.config import FeedSettings, MqttSettings, Settings
from monitor.decode import decode_batch
from monitor.livefeeds import FeedStats, feed_row, run_feed
from monitor.nmea import NmeaAssembler, RawMessage
from monitor.pipeline import Pipeline
from monitor.views import vessel_dict
from monitor.zones import load_zone_file
from tests.helpers import nmea_checksum, static_lines, track, write_zones
from tests.mqtt_helpers import Broker, free_port

T0 = 1_750_000_000


def nmea_form() -> list[bytes]:
    """A receiver's NMEA (tag-blocked, time-ordered): two class A tracks, a class B one, a type 5 pair."""
    lines = track(538000101, [(56.0, 26.2), (56.3, 26.3)], T0, interval_s=60, speed_kn=12)
    lines += track(440000202, [(56.5, 26.0), (56.2, 26.1)], T0 + 20, interval_s=60, speed_kn=10)
    lines += track(538000303, [(56.1, 25.9), (56.15, 25.95)], T0 + 7, interval_s=30, speed_kn=6, msg_type=18)
    lines += static_lines(538000101, T0 + 45, "CATCHER ONE", callsign="V7CC1", imo=9_000_001)
    lines.sort(key=tag_time)
    return lines


def tag_time(line: bytes) -> int:
    return int(line.split(b"c:", 1)[1].split(b"*", 1)[0].split(b",", 1)[0])


def sentence_of(line: bytes) -> str:
    return line[line.index(b"!"):].decode()


def catcher_messages(lines: list[bytes], *, full: bool = False, rxtime: bool = False) -> list[dict[str, Any]]:
    """The NMEA form as AIS-catcher writes it in JSON: one object per message (both fragments of a type 5
    in one `nmea` array), `rxuxtime` (or only `rxtime`), JSON_FULL with decoded fields besides."""
    out: list[dict[str, Any]] = []
    pending: list[str] = []
    for line in lines:
        sentence = sentence_of(line)
        fields = sentence.split(",")
        pending.append(sentence)
        if fields[1] != fields[2]:
            continue  # a first fragment: the message goes out with its last one
        t = tag_time(line)
        obj: dict[str, Any] = {"class": "AIS", "device": "AIS-catcher", "channel": fields[4]}
        obj["rxtime"] = datetime.fromtimestamp(t, UTC).strftime("%Y%m%d%H%M%S")
        if not rxtime:
            obj["rxuxtime"] = t
        obj.update({"signalpower": -41.5, "ppm": 0.4, "mmsi": 0, "type": 0, "nmea": pending})
        if full:  # (JSON_FULL's decoded fields: never read, the sentences are)
            obj.update({"scaled": True, "repeat": 0, "status": 0, "status_text": "Under way using engine",
                        "speed": 12.0, "accuracy": False, "lon": 56.1, "lat": 26.2, "course": 71.0})
        out.append(obj)
        pending = []
    return out


def json_lines(messages: list[dict[str, Any]]) -> list[bytes]:
    return [json.dumps(m, separators=(",", ":")).encode() for m in messages]


def messages_of(lines: list[bytes]) -> list[RawMessage]:
    """What the NMEA layer completes from the lines: (time, payload, fill) per message."""
    return list(NmeaAssembler(dedup_window_s=0).push_lines(lines))


# -- AIS-catcher JSON, the conversion ----------------------------------------------------------------


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("rxtime", [False, True])
def test_catcher_json_gives_the_messages_of_its_nmea_form(full: bool, rxtime: bool) -> None:
    """JSON_NMEA and JSON_FULL objects, timed by rxuxtime or by rxtime alone, complete exactly the
    messages (time, payload, fill) of the NMEA form they came from, type 5 fragments joined."""
    nmea = nmea_form()
    skipped: dict[str, int] = {}
    lines = [out for obj in json_lines(catcher_messages(nmea, full=full, rxtime=rxtime))
             for out in document_lines(obj, skipped)]
    assert not skipped
    assert all(line.startswith(b"\\c:") for line in lines)
    assert messages_of(lines) == messages_of(nmea)
    batch = decode_batch(NmeaAssembler().push_lines(lines))
    assert [(s.mmsi, s.name) for s in batch.statics] == [(538000101, "CATCHER ONE")]
    assert {int(m) for m in batch.positions["mmsi"]} == {538000101, 440000202, 538000303}


def test_rxtime_is_utc_and_untimed_objects_give_bare_sentences() -> None:
    """`rxtime` is UTC (YYYYMMDDhhmmss); `rxuxtime` wins over it, milliseconds kept; an object with
    neither gives its sentences untimed (live, they take the wall clock) and a tag block is kept."""
    assert parse_rxtime("20250615123001") == datetime(2025, 6, 15, 12, 30, 1, tzinfo=UTC).timestamp()
    for junk in ("2025-06-15", "20251315123001", 20250615123001, None):
        assert parse_rxtime(junk) is None
    pos = "!AIVDM,1,1,,A,15MgK45P3@G?fl0E`JbR0OwT0@MS,0*4E"
    (line,) = message_lines({"rxtime": "20250615123001", "rxuxtime": 1750000000.25, "nmea": [pos]})
    assert line.startswith(b"\\c:1750000000.25*") and messages_of([line])[0][0] == 1750000000.25
    assert message_lines({"nmea": [pos]}) == [pos.encode()]
    tagged = "\\s:rx9,c:1750000001*00\\" + pos  # (its own tag block, checked later by the NMEA layer)
    assert message_lines({"rxuxtime": 1750000000, "nmea": [tagged]}) == [tagged.encode()]


def test_http_push_batches_and_junk_counted_by_reason() -> None:
    """An HTTP push (`msgs` around the objects) gives every message's sentences; objects without
    sentences (`no_nmea`) and unparsable JSON (`malformed`) are counted and the rest goes on."""
    nmea = nmea_form()
    push = {"protocol": "jsonaiscatcher", "encodetime": "20250615123001", "stationid": "test-rx",
            "receiver": {"description": "AIS-catcher v0.60"}, "device": {"product": "RTL-SDR"},
            "msgs": catcher_messages(nmea, full=True)}
    skipped: dict[str, int] = {}
    lines = document_lines(json.dumps(push, indent=2).encode(), skipped)  # (pretty-printed, as documented)
    assert not skipped and messages_of(lines) == messages_of(nmea)
    block = b"\n".join([b'{"class":"AIS","mmsi":1,"type":1}', b"{not json",
                        json_lines(catcher_messages(nmea))[0], b'{"nmea":[1,2]}'])
    assert len(document_lines(block, skipped)) == 1
    assert skipped == {"no_nmea": 1, "malformed": 2}


# -- AIS-catcher JSON over the feeds -----------------------------------------------------------------


class Collector:
    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.changed = asyncio.Event()

    def __call__(self, name: str, lines: list[bytes]) -> None:
        self.lines += lines
        self.changed.set()

    async def wait_for(self, n: int, timeout: float = 10.0) -> list[bytes]:
        async def until() -> None:
            while len(self.lines) < n:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(until(), timeout)
        return self.lines


@contextlib.asynccontextmanager
async def running(settings: FeedSettings, sink: Collector, stats: FeedStats,
                  mqtt: MqttSettings | None = None) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(run_feed(settings, sink, stats, mqtt=mqtt))
    try:
        deadline = time.monotonic() + 10
        while not stats.connected:
            assert time.monotonic() < deadline, stats.last_error
            await asyncio.sleep(0.02)
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def expected_lines() -> tuple[list[bytes], list[RawMessage]]:
    nmea = nmea_form()
    return json_lines(catcher_messages(nmea, full=True)), messages_of(nmea)


@pytest.mark.asyncio
async def test_catcher_json_over_udp() -> None:
    """A udp feed with format aiscatcher_json: one JSON object per datagram (AIS-catcher's -u ... JSON
    on), the NMEA form's messages out; a datagram of junk is counted, not delivered."""
    objects, want = expected_lines()
    sink, stats = Collector(), FeedStats("catcher", "udp")
    settings = FeedSettings(name="catcher", type="udp", format="aiscatcher_json")
    async with running(settings, sink, stats):
        assert stats.bound_port
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"{junk", ("127.0.0.1", stats.bound_port))
            for obj in objects:
                sock.sendto(obj + b"\n", ("127.0.0.1", stats.bound_port))
                await asyncio.sleep(0)  # (a datagram socket's buffer is not unbounded)
        await sink.wait_for(len(want) + 1)  # (+1: the type 5's second fragment)
    assert messages_of(sink.lines) == want
    assert stats.skipped == {"malformed": 1} and stats.format == "aiscatcher_json"


@pytest.mark.asyncio
async def test_catcher_json_over_tcp_split_anywhere() -> None:
    """A tcp feed with format aiscatcher_json reads AIS-catcher's JSON stream (one object per line), cut
    into chunks at arbitrary points, into the NMEA form's messages."""
    objects, want = expected_lines()
    stream = b"".join(obj + b"\r\n" for obj in objects)
    writers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        for i in range(0, len(stream), 777):
            writer.write(stream[i:i + 777])
            await writer.drain()
        await reader.read()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sink, stats = Collector(), FeedStats("catcher", "tcp")
    try:
        settings = FeedSettings(name="catcher", type="tcp", port=port, format="aiscatcher_json")
        async with running(settings, sink, stats):
            await sink.wait_for(len(want) + 1)
    finally:
        for w in writers:
            w.close()
        server.close()
    assert messages_of(sink.lines) == want and not stats.skipped


@pytest.mark.asyncio
async def test_catcher_json_over_mqtt(broker: Broker, prefix: str) -> None:
    """An mqtt feed with format aiscatcher_json on AIS-catcher's default topic layout (`ais/data`): each
    payload one JSON object, the NMEA form's messages out (a real Mosquitto)."""
    objects, want = expected_lines()
    topic = f"{prefix}/ais/data"
    sink, stats = Collector(), FeedStats("catcher", "mqtt")
    settings = FeedSettings(name="catcher", type="mqtt", topic=topic, format="aiscatcher_json")
    async with running(settings, sink, stats, mqtt=MqttSettings(url=broker.url)):
        await asyncio.sleep(0.2)  # (subscribed once connected; a moment for the SUBACK)
        async with aiomqtt.Client(broker.host, broker.port) as client:
            for obj in objects:
                await client.publish(topic, obj, qos=1)
        await sink.wait_for(len(want) + 1)
    assert messages_of(sink.lines) == want and not stats.skipped


@pytest.mark.asyncio
async def test_catcher_http_push() -> None:
    """An http feed takes AIS-catcher's HTTP push (-H http://HOST:PORT/path): POSTed batches give the
    NMEA form's messages, answered 200; a body with nothing usable is a 400, counted."""
    nmea = nmea_form()
    messages = catcher_messages(nmea, full=True)
    sink, stats = Collector(), FeedStats("push", "http")
    settings = FeedSettings(name="push", type="http", format="aiscatcher_json")
    async with running(settings, sink, stats), aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{stats.bound_port}/ais/post"
        for i in range(0, len(messages), 25):
            push = {"protocol": "jsonaiscatcher", "encodetime": "20250615123001", "msgs": messages[i:i + 25]}
            async with session.post(url, json=push) as resp:
                assert resp.status == 200
        async with session.post(url, data=b"{nope") as resp:
            assert resp.status == 400
        await sink.wait_for(len(messages_of(nmea)) + 1)
    assert messages_of(sink.lines) == messages_of(nmea)
    assert stats.skipped == {"malformed": 1}
    row = feed_row(stats, stalled=False)
    assert row["format"] == "aiscatcher_json" and row["skipped"] == {"malformed": 1}


def test_format_is_refused_for_feeds_that_cannot_carry_it() -> None:
    """format = "aiscatcher_json" only where a feed's lines or payloads are AIS-catcher's (not gpsd,
    aisstream or file): a mistake is refused when the configuration is read."""
    for kind in ("gpsd", "aisstream"):
        with pytest.raises(ValueError, match="format 'aiscatcher_json' is for feeds of type"):
            FeedSettings(name="x", type=kind, format="aiscatcher_json")
    assert FeedSettings(name="x", type="gpsd").format == "nmea"


# -- gpsd ----------------------------------------------------------------------------------------------


class Gpsd:
    """Debian's gpsd in the foreground (-N), not waiting for clients (-n), read-only (-b), its control
    port a free one (-S), reading NMEA from a UDP source on another free port."""

    def __init__(self, executable: str, tmp: Path) -> None:
        self.executable = executable
        self.port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            self.udp_port = sock.getsockname()[1]
        self.log = tmp / "gpsd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [self.executable, "-N", "-n", "-b", "-S", str(self.port), f"udp://127.0.0.1:{self.udp_port}"],
                stdout=log, stderr=log,
            )
        deadline = time.monotonic() + 10
        while True:
            assert self.proc.poll() is None, self.log.read_text(errors="replace")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            assert time.monotonic() < deadline, "gpsd did not listen: " + self.log.read_text(errors="replace")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def send(self, lines: list[bytes]) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for line in lines:
                sock.sendto(line + b"\r\n", ("127.0.0.1", self.udp_port))


@pytest.fixture
def gpsd(tmp_path: Path) -> Iterator[Gpsd]:
    """A real gpsd on free ports (fails, never skips, when gpsd is missing: `make test` installs it)."""
    executable = shutil.which("gpsd") or ("/usr/sbin/gpsd" if Path("/usr/sbin/gpsd").is_file() else None)
    if executable is None:
        pytest.fail("gpsd is not installed (looked for /usr/sbin/gpsd and on PATH): run `make test` or "
                    "`make debs`, which install Debian's gpsd package")
    daemon = Gpsd(executable, tmp_path)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


async def _gpsd_feed_until(gpsd: Gpsd, sink: Collector, lines: list[bytes], n: int) -> None:
    """Send `lines` to gpsd's UDP source until the sink holds n lines (gpsd opens its source on its own
    schedule: the first datagrams may come before it listens)."""
    deadline = time.monotonic() + 15
    while len(sink.lines) < n:
        assert time.monotonic() < deadline, f"only {len(sink.lines)} of {n} lines came through gpsd"
        gpsd.send(lines)
        with contextlib.suppress(TimeoutError):
            await sink.wait_for(n, timeout=0.5)


@pytest.mark.asyncio
async def test_gpsd_started_by_a_fixture_is_read_directly(gpsd: Gpsd) -> None:
    """A gpsd feed sends ?WATCH in raw mode and reads the AIS sentences gpsd passes through unchanged
    (its JSON replies left out); a ship's own $GPRMC comes too and is counted apart by the NMEA layer,
    never rejected."""
    body = "GPRMC,123519,A,2630.000,N,05615.000,E,012.0,071.0,150625,,,A"
    own = f"${body}*{nmea_checksum(body)}".encode()  # (gpsd drops a sentence whose checksum fails)
    ais = [sentence_of(line).encode() for line in nmea_form()[:20]]
    sink, stats = Collector(), FeedStats("gps", "gpsd")
    settings = FeedSettings(name="gps", type="gpsd", port=gpsd.port, reconnect_max_s=0.5)
    async with running(settings, sink, stats):
        await _gpsd_feed_until(gpsd, sink, [*ais, own], len(ais) + 1)
    assert not any(line.startswith(b"{") for line in sink.lines)
    assert set(sink.lines) == {*ais, own}
    asm = NmeaAssembler(dedup_window_s=0)
    out = asm.push_lines(sink.lines)
    assert not asm.rejects and asm.other_sentences == sink.lines.count(own)
    assert {payload for _, payload, _ in out} == {payload for _, payload, _ in messages_of(nmea_form()[:20])}


@pytest.mark.asyncio
async def test_gpsd_feed_reconnects_after_gpsd_restarts(gpsd: Gpsd) -> None:
    """gpsd stopped: the feed is down with its error kept (failing), and retries with backoff; gpsd
    back on the same port: the feed reconnects, asks for raw mode again and reads on."""
    ais = [sentence_of(line).encode() for line in nmea_form()[:3]]
    sink, stats = Collector(), FeedStats("gps", "gpsd")
    settings = FeedSettings(name="gps", type="gpsd", port=gpsd.port, reconnect_max_s=0.5)
    with capture_logs() as logs:
        async with running(settings, sink, stats):
            await _gpsd_feed_until(gpsd, sink, ais, 1)
            gpsd.stop()
            deadline = time.monotonic() + 10
            while not stats.failing:
                assert time.monotonic() < deadline, "the feed never noticed gpsd stopping"
                await asyncio.sleep(0.05)
            assert feed_row(stats, stalled=False)["state"] == "failing"
            assert stats.last_error and stats.last_error_at
            gpsd.start()
            seen = len(sink.lines)
            await _gpsd_feed_until(gpsd, sink, ais, seen + 1)
    assert stats.reconnects >= 1 and stats.connected is False  # (cancelled at the end)
    assert any(e["event"] == "feed_disconnected" for e in logs)


@pytest.mark.asyncio
async def test_gpsd_feed_asks_for_raw_mode_and_keeps_an_error_reply() -> None:
    """Against a scripted gpsd: the feed's first words are the raw ?WATCH; gpsd's JSON replies are not
    delivered, its ERROR reply is kept as the feed's last error, the sentence after it is delivered."""
    heard: list[bytes] = []
    writers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        heard.append(await reader.readline())
        writer.write(b'{"class":"VERSION","release":"3.22","proto_major":3,"proto_minor":14}\r\n'
                     b'{"class":"ERROR","message":"unrecognized request"}\r\n'
                     b"!AIVDM,1,1,,A,15MgK45P3@G?fl0E`JbR0OwT0@MS,0*4E\r\n")
        await writer.drain()
        await reader.read()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    sink, stats = Collector(), FeedStats("gps", "gpsd")
    try:
        settings = FeedSettings(name="gps", type="gpsd", port=server.sockets[0].getsockname()[1])
        async with running(settings, sink, stats):
            await sink.wait_for(1)
    finally:
        for w in writers:
            w.close()
            with contextlib.suppress(OSError):
                await w.wait_closed()
        server.close()
    assert heard == [b'?WATCH={"enable":true,"raw":1};\n']
    assert sink.lines == [b"!AIVDM,1,1,,A,15MgK45P3@G?fl0E`JbR0OwT0@MS,0*4E"]
    assert stats.last_error == "gpsd: unrecognized request" and stats.errors == 1


# -- aisstream: class B names, types 19 and 27 ------------------------------------------------------------


def _aisstream(kind: str, mmsi: int, body: dict[str, Any], *, name: str = "",
               when: str = "2025-06-15 12:00:00.250 +0000 UTC") -> dict[str, Any]:
    return {"MessageType": kind,
            "MetaData": {"MMSI": mmsi, "ShipName": name, "latitude": 10.3, "longitude": 10.2,
                         "time_utc": when},
            "Message": {kind: {"UserID": mmsi, "Valid": True, **body}}}


def _class_b_position(mmsi: int, lon: float, lat: float, **more: Any) -> dict[str, Any]:
    return _aisstream("StandardClassBPositionReport", mmsi, {
        "MessageID": 18, "Sog": 5.5, "Cog": 45.0, "TrueHeading": 44, "Timestamp": 10, "Latitude": lat,
        "Longitude": lon, "ClassBUnit": True, "CommunicationStateIsItdma": True}, **more)


def _pipeline(tmp_path: Path) -> Pipeline:
    # (The positions below lie outside the test zones: these tests are about identity, not alerts.)
    return Pipeline(Settings(), load_zone_file(write_zones(tmp_path / "zones.geojson")))


def test_aisstream_class_b_ships_get_names(tmp_path: Path) -> None:
    """aisstream's StaticDataReport (type 24) names a class B ship: part A its name, part B its call sign
    and ship type; the pipeline shows them on the vessel heard by its type 18 reports."""
    mmsi = 538007777
    messages = [
        _class_b_position(mmsi, 10.2, 10.3),
        _aisstream("StaticDataReport", mmsi, {"MessageID": 24, "PartNumber": False,
                                              "ReportA": {"Valid": True, "Name": "BLUE HERON"},
                                              "ReportB": {"Valid": False}}),
        _aisstream("StaticDataReport", mmsi, {"MessageID": 24, "PartNumber": True,
                                              "ReportA": {"Valid": False, "Name": ""},
                                              "ReportB": {"Valid": True, "ShipType": 37, "CallSign": "V7BH1",
                                                          "VendorIDName": "SRT", "VenderIDModel": 1,
                                                          "VenderIDSerial": 4242,
                                                          "Dimension": {"A": 8, "B": 4, "C": 2, "D": 2},
                                                          "FixType": 1}}),
    ]
    p = _pipeline(tmp_path)
    for m in messages:
        p.process_lines(to_nmea(m), source=b"ais")
    assert not p.rejects()
    v = vessel_dict(p, mmsi)
    assert v is not None and (v["name"], v["callsign"], v["ship_type"]) == ("BLUE HERON", "V7BH1", 37)
    assert v["position"]["lat"] == pytest.approx(10.3) and v["time"] == "2025-06-15T12:00:00.250Z"


def test_aisstream_metadata_name_is_a_fallback(tmp_path: Path) -> None:
    """A vessel whose own static report has not come yet gets aisstream's MetaData.ShipName once (a
    type 24 part A after its report); one that named itself first is never renamed by it."""
    conv = Converter()
    first = conv.to_nmea(_class_b_position(538001001, 10.2, 10.3, name="SEA SPRITE          "))
    again = conv.to_nmea(_class_b_position(538001001, 10.21, 10.31, name="SEA SPRITE",
                                           when="2025-06-15 12:00:30 +0000 UTC"))
    assert (len(first), len(again)) == (2, 1)
    own = _aisstream("StaticDataReport", 538001002, {"MessageID": 24, "PartNumber": False,
                                                     "ReportA": {"Valid": True, "Name": "OWN NAME"}})
    named_first = [*conv.to_nmea(own), *conv.to_nmea(_class_b_position(538001002, 10.3, 10.2, name="OTHER"))]
    p = _pipeline(tmp_path)
    p.process_lines([*first, *again, *named_first], source=b"ais")
    assert not p.rejects()
    assert (vessel_dict(p, 538001001) or {})["name"] == "SEA SPRITE"
    assert (vessel_dict(p, 538001002) or {})["name"] == "OWN NAME"


def test_aisstream_types_19_and_27_are_positions(tmp_path: Path) -> None:
    """ExtendedClassBPositionReport (type 19: position, name, ship type) and LongRangeAisBroadcastMessage
    (type 27, 1/10 minute positions) move their vessels; sub-second times are kept."""
    p = _pipeline(tmp_path)
    t19 = _aisstream("ExtendedClassBPositionReport", 538002001, {
        "MessageID": 19, "Sog": 7.4, "Cog": 120.5, "TrueHeading": 121, "Timestamp": 12, "Latitude": 10.25,
        "Longitude": 10.4, "Name": "EXTENDED B", "Type": 36, "Dimension": {"A": 6, "B": 6, "C": 2, "D": 2},
        "FixType": 1, "Raim": False, "Dte": True, "AssignedMode": False})
    t27 = _aisstream("LongRangeAisBroadcastMessage", 538002002, {
        "MessageID": 27, "PositionAccuracy": False, "Raim": False, "NavigationalStatus": 0,
        "Longitude": 10.5, "Latitude": 10.1, "Sog": 11, "Cog": 250, "PositionLatency": False},
        when="2025-06-15 12:00:01.5 +0000 UTC")
    for m in (t19, t27):
        p.process_lines(to_nmea(m), source=b"ais")
    assert not p.rejects()
    v19, v27 = vessel_dict(p, 538002001), vessel_dict(p, 538002002)
    assert v19 is not None and v19["name"] == "EXTENDED B" and v19["ship_type"] == 36
    assert v19["position"]["sog"] == pytest.approx(7.4) and v19["position"]["lon"] == pytest.approx(10.4)
    assert v27 is not None and v27["position"]["lat"] == pytest.approx(10.1, abs=1e-3)
    assert v27["time"] == "2025-06-15T12:00:01.500Z"
