"""aisstream.io: JSON messages re-encoded as NMEA (checked by decoding them with the project's own
pipeline and with pyais), and the websocket feed against a real aiohttp websocket server."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import math
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from pyais import decode as _pyais_decode
from pydantic import SecretStr
from structlog.testing import capture_logs

from monitor.aisstream import AisStreamMessageError, parse_time_utc, subscription, to_nmea
from monitor.config import FeedSettings
from monitor.decode import DecodedBatch, decode_batch
from monitor.livefeeds import FeedStats, run_feed
from monitor.nmea import NmeaAssembler

TIME_UTC = "2025-06-20 10:21:03.123456789 +0000 UTC"
# Milliseconds kept in the tag block (aisstream's sub-second times; issue 16).
T_EXPECTED = round(datetime(2025, 6, 20, 10, 21, 3, 123000, tzinfo=UTC).timestamp(), 3)

POSITION: dict[str, Any] = {
    "MessageType": "PositionReport",
    "MetaData": {"MMSI": 440123456, "ShipName": "HANA MARU", "latitude": 26.5667, "longitude": 56.25,
                 "time_utc": TIME_UTC},
    "Message": {"PositionReport": {
        "Cog": 301.5, "CommunicationState": 59916, "Latitude": 26.5667, "Longitude": 56.25, "MessageID": 1,
        "NavigationalStatus": 0, "PositionAccuracy": True, "Raim": False, "RateOfTurn": -5,
        "RepeatIndicator": 0, "Sog": 12.3, "Spare": 0, "SpecialManoeuvreIndicator": 0, "Timestamp": 3,
        "TrueHeading": 300, "UserID": 440123456, "Valid": True}},
}  # fmt: skip

CLASS_B: dict[str, Any] = {
    "MessageType": "StandardClassBPositionReport",
    "MetaData": {"MMSI": 538009876, "ShipName": "", "latitude": 25.1, "longitude": -55.2,
                 "time_utc": "2025-06-20 10:21:05.5 +0000 UTC"},
    "Message": {"StandardClassBPositionReport": {
        "AssignedMode": False, "ClassBBand": True, "ClassBDisplay": False, "ClassBDsc": True,
        "ClassBMsg22": True, "ClassBUnit": True, "Cog": 88.8, "CommunicationState": 393222,
        "CommunicationStateIsItdma": True, "Latitude": 25.1, "Longitude": -55.2, "MessageID": 18,
        "PositionAccuracy": False, "Raim": True, "RepeatIndicator": 0, "Sog": 6.5, "Spare1": 0,
        "Spare2": 0, "Timestamp": 41, "TrueHeading": 90, "UserID": 538009876, "Valid": True}},
}  # fmt: skip

STATIC: dict[str, Any] = {
    "MessageType": "ShipStaticData",
    "MetaData": {"MMSI": 440123456, "ShipName": "HANA MARU", "latitude": 26.5667, "longitude": 56.25,
                 "time_utc": TIME_UTC},
    "Message": {"ShipStaticData": {
        "AisVersion": 2, "CallSign": "DSAB1", "Destination": "RAS TANURA",
        "Dimension": {"A": 200, "B": 50, "C": 20, "D": 22}, "Dte": False,
        "Eta": {"Day": 21, "Hour": 4, "Minute": 30, "Month": 6}, "FixType": 1, "ImoNumber": 9123457,
        "MaximumStaticDraught": 14.2, "MessageID": 5, "Name": "HANA MARU", "RepeatIndicator": 0,
        "Spare": False, "Type": 80, "UserID": 440123456, "Valid": True}},
}  # fmt: skip


def pyais_decode(*sentences: bytes) -> Any:
    """pyais's decoding of the sentences (typed Any: pyais returns a union of every message class)."""
    return _pyais_decode(*sentences)


def pipeline(lines: list[bytes]) -> tuple[DecodedBatch, NmeaAssembler]:
    """Run lines through the daemon's own first two steps: NMEA assembly, then decoding."""
    assembler = NmeaAssembler()
    return decode_batch(assembler.push_lines(lines)), assembler


def sentence(line: bytes) -> bytes:
    """The AIVDM sentence of a line, without its tag block."""
    return line[line.index(b"!") :]


def tag_time(line: bytes) -> float:
    tag = line[1 : line.index(b"*")].decode()
    fields = dict(f.split(":", 1) for f in tag.split(","))
    assert fields["s"] == "aisstream"
    return float(fields["c"])


# -- to_nmea -----------------------------------------------------------------------------------------


def test_position_report_round_trips_through_the_pipeline() -> None:
    """A PositionReport becomes one tagged type 1 sentence that the pipeline decodes to the same MMSI,
    position, speed, course, heading and status, at the time of MetaData.time_utc."""
    lines = to_nmea(POSITION)
    assert len(lines) == 1
    assert tag_time(lines[0]) == T_EXPECTED
    batch, assembler = pipeline(lines)
    assert sum(assembler.rejects.values()) == 0 and not batch.rejects
    (row,) = batch.positions
    inner = POSITION["Message"]["PositionReport"]
    assert row["mmsi"] == inner["UserID"] and row["type"] == 1
    assert row["lat"] == pytest.approx(inner["Latitude"], abs=1e-6)
    assert row["lon"] == pytest.approx(inner["Longitude"], abs=1e-6)
    assert row["sog"] == pytest.approx(inner["Sog"])
    assert row["cog"] == pytest.approx(inner["Cog"])
    assert row["heading"] == inner["TrueHeading"] and row["status"] == inner["NavigationalStatus"]
    assert row["time"] == T_EXPECTED


def test_position_report_carries_every_field_pyais_sees() -> None:
    """Decoded independently with pyais, the type 1 sentence holds every field of the JSON message."""
    msg = pyais_decode(sentence(to_nmea(POSITION)[0]))
    inner = POSITION["Message"]["PositionReport"]
    assert msg.msg_type == 1 and msg.mmsi == inner["UserID"]
    assert msg.second == inner["Timestamp"]
    assert bool(msg.accuracy) is inner["PositionAccuracy"] and bool(msg.raim) is inner["Raim"]
    assert msg.radio == inner["CommunicationState"]
    assert int(msg.maneuver) == inner["SpecialManoeuvreIndicator"]
    # pyais converts the rate of turn to whole degrees a minute; the raw ROT_AIS byte must be kept.
    assert payload_bits(sentence(to_nmea(POSITION)[0]), 42, 8, signed=True) == inner["RateOfTurn"]


def payload_bits(line: bytes, offset: int, width: int, signed: bool = False) -> int:
    """Bits [offset, offset+width) of a sentence's armoured payload (ITU-R M.1371 six-bit armour)."""
    payload = line.split(b",")[5]
    bits = "".join(format(c - 48 if c - 48 < 40 else c - 56, "06b") for c in payload)
    value = int(bits[offset : offset + width], 2)
    return value - (1 << width) if signed and value >= 1 << (width - 1) else value


def test_message_id_2_and_3_keep_their_type() -> None:
    """A PositionReport says whether it was a type 1, 2 or 3; the sentence keeps that type."""
    for msg_id in (2, 3):
        message = copy.deepcopy(POSITION)
        message["Message"]["PositionReport"]["MessageID"] = msg_id
        assert pyais_decode(sentence(to_nmea(message)[0])).msg_type == msg_id


def test_not_available_values_stay_not_available() -> None:
    """lat 91, lon 181, sog 102.3, cog 360 and heading 511 are encoded as AIS's not-available values
    (pyais reads them back raw), and the pipeline reads them as missing, not as a position at 91N."""
    message = copy.deepcopy(POSITION)
    message["Message"]["PositionReport"].update(
        {"Latitude": 91, "Longitude": 181, "Sog": 102.3, "Cog": 360, "TrueHeading": 511, "Timestamp": 60}
    )
    lines = to_nmea(message)
    msg = pyais_decode(sentence(lines[0]))
    assert (msg.lat, msg.lon, msg.speed, msg.course, msg.heading, msg.second) == (
        91,
        181,
        102.3,
        360,
        511,
        60,
    )
    batch, _ = pipeline(lines)
    (row,) = batch.positions
    assert row["mmsi"] == 440123456
    assert all(math.isnan(row[key]) for key in ("lat", "lon", "sog", "cog", "heading"))


def test_missing_optional_fields_are_not_available() -> None:
    """A PositionReport with only UserID, Latitude and Longitude gets not-available speed, course and
    heading rather than zeros (a vessel at 0 kn heading north would be a false fact)."""
    message = {
        "MessageType": "PositionReport",
        "MetaData": {"time_utc": TIME_UTC},
        "Message": {"PositionReport": {"UserID": 538001234, "Latitude": 26.1, "Longitude": 56.9}},
    }
    line = sentence(to_nmea(message)[0])
    msg = pyais_decode(line)
    assert (msg.mmsi, msg.lat, msg.lon) == (538001234, 26.1, 56.9)
    assert (msg.speed, msg.course, msg.heading, int(msg.status), msg.second) == (102.3, 360, 511, 15, 60)
    assert payload_bits(line, 42, 8, signed=True) == -128  # rate of turn not available


def test_class_b_report_round_trips() -> None:
    """A StandardClassBPositionReport becomes a type 18 with the same MMSI, position, speed, course,
    heading and class B flags."""
    lines = to_nmea(CLASS_B)
    inner = CLASS_B["Message"]["StandardClassBPositionReport"]
    assert tag_time(lines[0]) == datetime(2025, 6, 20, 10, 21, 5, 500000, tzinfo=UTC).timestamp()
    batch, _ = pipeline(lines)
    (row,) = batch.positions
    assert row["type"] == 18 and row["mmsi"] == inner["UserID"]
    assert (row["lat"], row["lon"]) == (pytest.approx(25.1), pytest.approx(-55.2))
    assert (row["sog"], row["cog"], row["heading"]) == (pytest.approx(6.5), pytest.approx(88.8), 90)
    msg = pyais_decode(sentence(lines[0]))
    assert (msg.cs, msg.display, msg.dsc, msg.band, msg.msg22, msg.assigned, msg.raim) == (
        True, False, True, True, True, False, True
    )  # fmt: skip
    assert msg.second == 41
    assert msg.radio == (1 << 19) | inner["CommunicationState"]  # ITDMA selector flag, then the state


def test_ship_static_data_becomes_a_two_fragment_type_5() -> None:
    """ShipStaticData becomes a type 5 in two fragments sharing a sequence id, each behind the tag
    block; the pipeline joins them into the same name, call sign, IMO, type, draught and destination."""
    lines = to_nmea(STATIC)
    assert len(lines) == 2
    fields = [sentence(line).split(b",") for line in lines]
    assert [f[1:3] for f in fields] == [[b"2", b"1"], [b"2", b"2"]]
    assert fields[0][3] == fields[1][3] and fields[0][3].isdigit()
    assert all(tag_time(line) == T_EXPECTED for line in lines)
    batch, assembler = pipeline(lines)
    assert sum(assembler.rejects.values()) == 0
    (report,) = batch.statics
    inner = STATIC["Message"]["ShipStaticData"]
    assert report.type == 5 and report.mmsi == inner["UserID"] and report.time == T_EXPECTED
    assert (report.name, report.callsign, report.imo) == (
        inner["Name"],
        inner["CallSign"],
        inner["ImoNumber"],
    )
    assert (report.ship_type, report.draught, report.destination) == (80, 14.2, "RAS TANURA")
    msg = pyais_decode(*[sentence(line) for line in lines])
    assert (msg.to_bow, msg.to_stern, msg.to_port, msg.to_starboard) == (200, 50, 20, 22)
    assert (msg.month, msg.day, msg.hour, msg.minute) == (6, 21, 4, 30)


def test_consecutive_static_messages_use_different_sequence_ids() -> None:
    """Two type 5 messages in a row never share a sequence id, so their fragments cannot be mixed up;
    both assemble."""
    other = copy.deepcopy(STATIC)
    other["Message"]["ShipStaticData"].update({"UserID": 440765432, "Name": "SECOND"})
    first, second = to_nmea(STATIC), to_nmea(other)
    assert sentence(first[0]).split(b",")[3] != sentence(second[0]).split(b",")[3]
    batch, _ = pipeline(first + second)
    assert [(r.mmsi, r.name) for r in batch.statics] == [(440123456, "HANA MARU"), (440765432, "SECOND")]


def test_static_text_and_sizes_are_made_sendable() -> None:
    """Lower case is raised, characters AIS cannot send become '?', long text is cut; dimensions and
    draught beyond their fields saturate at AIS's 'that or more' values instead of wrapping."""
    message = copy.deepcopy(STATIC)
    message["Message"]["ShipStaticData"].update(
        {"Name": "öland express number twenty-two", "Destination": "jebel ali~",
         "Dimension": {"A": 600, "B": 10, "C": 70, "D": 3}, "MaximumStaticDraught": 30.0}
    )  # fmt: skip
    msg = pyais_decode(*[sentence(line) for line in to_nmea(message)])
    assert msg.shipname == "?LAND EXPRESS NUMBER"
    assert msg.destination == "JEBEL ALI?"
    assert (msg.to_bow, msg.to_stern, msg.to_port, msg.to_starboard) == (511, 10, 63, 3)
    assert msg.draught == 25.5


def test_unreadable_time_falls_back_to_the_wall_clock() -> None:
    """Without a readable MetaData.time_utc the tag block carries the time the message arrived."""
    for meta in ({"time_utc": "yesterday"}, {}, {"time_utc": 12}):
        message = copy.deepcopy(POSITION)
        message["MetaData"] = meta
        assert tag_time(to_nmea(message, now=1_760_000_000.7)[0]) == 1_760_000_000.7
        before = math.floor(time.time())
        stamped = tag_time(to_nmea(message)[0])
        assert before <= stamped <= time.time() + 0.001  # (milliseconds, rounded)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-06-20 10:21:03.123456789 +0000 UTC", datetime(2025, 6, 20, 10, 21, 3, 123456, tzinfo=UTC)),
        ("2025-06-20 10:21:03 +0000 UTC", datetime(2025, 6, 20, 10, 21, 3, tzinfo=UTC)),
        ("2025-06-20 14:21:03.5 +0400 +04", datetime(2025, 6, 20, 10, 21, 3, 500000, tzinfo=UTC)),
        ("2025-06-20T10:21:03Z", datetime(2025, 6, 20, 10, 21, 3, tzinfo=UTC)),
        ("2025-06-20 10:21:03.25", datetime(2025, 6, 20, 10, 21, 3, 250000, tzinfo=UTC)),
    ],
)
def test_parse_time_utc(text: str, expected: datetime) -> None:
    """aisstream's Go-style time strings (nanoseconds, numeric offset, zone name) and ISO variants."""
    assert parse_time_utc(text) == pytest.approx(expected.timestamp(), abs=1e-6)


@pytest.mark.parametrize("text", ["", "2025-13-40 10:21:03 +0000 UTC", "10:21:03", None, 1750000000])
def test_parse_time_utc_refuses_junk(text: Any) -> None:
    """What is not a date and time gives None (the caller then uses the wall clock)."""
    assert parse_time_utc(text) is None


def _with(kind: str, **changes: Any) -> dict[str, Any]:
    base = {"PositionReport": POSITION, "StandardClassBPositionReport": CLASS_B, "ShipStaticData": STATIC}
    message = copy.deepcopy(base[kind])
    message["Message"][kind].update(changes)
    return message


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (
            {"MessageType": "AidsToNavigationReport", "Message": {"AidsToNavigationReport": {}}},
            "unsupported_type",
        ),
        ({"MessageType": "UnknownMessage", "Message": {}}, "unsupported_type"),
        ([1, 2, 3], "malformed"),
        ({"Message": {"PositionReport": {}}}, "malformed"),
        ({"MessageType": "PositionReport", "Message": {}}, "malformed"),
        ({"MessageType": "PositionReport", "Message": {"PositionReport": "x"}}, "malformed"),
        (
            {"MessageType": "PositionReport", "Message": {"PositionReport": {"Latitude": 1, "Longitude": 2}}},
            "malformed",
        ),
        (_with("PositionReport", Latitude="26.5"), "malformed"),
        (_with("PositionReport", Latitude=None), "malformed"),
        (_with("PositionReport", Latitude=200.0), "malformed"),
        (_with("PositionReport", Longitude=math.inf), "malformed"),
        (_with("PositionReport", Sog=150.0), "malformed"),
        (_with("PositionReport", Sog=-1.0), "malformed"),
        (_with("PositionReport", TrueHeading=512), "malformed"),
        (_with("PositionReport", TrueHeading=12.5), "malformed"),
        (_with("PositionReport", MessageID=5), "malformed"),
        (_with("PositionReport", UserID="440123456"), "malformed"),
        (_with("PositionReport", UserID=1 << 30), "malformed"),
        (_with("PositionReport", Raim="yes"), "malformed"),
        (_with("StandardClassBPositionReport", MessageID=1), "malformed"),
        (_with("ShipStaticData", Name=12), "malformed"),
        (_with("ShipStaticData", MaximumStaticDraught=-2.0), "malformed"),
        (_with("ShipStaticData", Eta={"Month": 99}), "malformed"),
    ],
)
def test_unusable_messages_raise_with_a_reason(message: Any, reason: str) -> None:
    """Unknown message types and messages whose fields are missing, of the wrong type or outside what
    their bit fields can hold raise AisStreamMessageError with a countable reason, never garbage."""
    with pytest.raises(AisStreamMessageError) as info:
        to_nmea(message)
    assert info.value.reason == reason


def test_out_of_range_but_encodable_values_reach_the_decoder() -> None:
    """Values that fit the bit fields but no real vessel sends (lat 95, MMSI 0) are encoded as they
    came, so the pipeline counts them as out_of_range like the same junk from a local receiver."""
    batch, _ = pipeline(
        to_nmea(_with("PositionReport", Latitude=95.0)) + to_nmea(_with("PositionReport", UserID=0))
    )
    assert len(batch.positions) == 0
    assert batch.rejects["out_of_range"] == 2


def test_subscription_turns_lon_lat_bounds_into_aisstream_corners() -> None:
    """Zone bounds (min_lon, min_lat, max_lon, max_lat) become [[lat, lon], [lat, lon]] corners; no
    bounds subscribe to the whole world; the message types are the three to_nmea handles."""
    sub = subscription("k", [(54.0, 24.0, 60.5, 27.5), (-10.0, -5.0, 10.0, 5.0)])
    assert sub == {
        "APIKey": "k",
        "BoundingBoxes": [[[24.0, 54.0], [27.5, 60.5]], [[-5.0, -10.0], [5.0, 10.0]]],
        "FilterMessageTypes": ["PositionReport", "ShipStaticData", "StandardClassBPositionReport",
                               "ExtendedClassBPositionReport", "StaticDataReport",
                               "LongRangeAisBroadcastMessage"],
    }
    assert subscription("k", None)["BoundingBoxes"] == [[[-90.0, -180.0], [90.0, 180.0]]]
    assert json.loads(json.dumps(sub)) == sub  # plain JSON


# -- the websocket feed ------------------------------------------------------------------------------


class FakeAisStream:
    """An aiohttp websocket server playing aisstream: records each connection's subscription (and how
    long it took to arrive), then sends that connection's scripted frames and, if told, closes."""

    def __init__(self, scripts: list[list[str | bytes]], close_after: bool = True) -> None:
        self.scripts = scripts
        self.close_after = close_after
        self.subscriptions: list[dict[str, Any]] = []
        self.delays: list[float] = []
        self.connections = 0
        self.closed = asyncio.Event()  # set when a connection's handler ends
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        index = self.connections
        self.connections += 1
        opened = time.monotonic()
        try:
            first = await ws.receive(timeout=3.0)  # aisstream's own deadline
            assert first.type == WSMsgType.TEXT
            self.delays.append(time.monotonic() - opened)
            self.subscriptions.append(json.loads(first.data))
            for frame in self.scripts[min(index, len(self.scripts) - 1)]:
                if isinstance(frame, bytes):
                    await ws.send_bytes(frame)
                else:
                    await ws.send_str(frame)
            if not self.close_after:
                async for _ in ws:  # hold the connection until the client goes
                    pass
        finally:
            await ws.close()
            self.closed.set()
        return ws

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/v0/stream", self.handler)
        self.runner = web.AppRunner(app, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"ws://127.0.0.1:{port}/v0/stream"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@contextlib.asynccontextmanager
async def fake(scripts: list[list[str | bytes]], close_after: bool = True) -> AsyncIterator[FakeAisStream]:
    server = FakeAisStream(scripts, close_after)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class Sink:
    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.names: set[str] = set()

    def __call__(self, name: str, lines: list[bytes]) -> None:
        self.names.add(name)
        self.lines.extend(lines)


async def until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def feed_settings(url: str, key: str = "test-key", reconnect_max_s: float = 0.1) -> FeedSettings:
    return FeedSettings(
        name="ais", type="aisstream", url=url, api_key=SecretStr(key), reconnect_max_s=reconnect_max_s
    )


async def stop(task: asyncio.Task[None]) -> None:
    assert not task.done()
    task.cancel()
    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 1.0


BOXES = [(54.0, 24.0, 60.5, 27.5)]


@pytest.mark.asyncio
async def test_feed_subscribes_then_delivers_decodable_lines() -> None:
    """The feed sends the subscription (API key, bounding boxes as lat/lon corners, message types) within
    3 s of connecting; the position, class B and static messages it then receives arrive as NMEA lines
    that decode to the same vessels; an unknown type and malformed JSON are counted and skipped."""
    frames: list[str | bytes] = [
        json.dumps(POSITION),
        json.dumps({"MessageType": "AidsToNavigationReport", "Message": {"AidsToNavigationReport": {}}}),
        "{not json",
        json.dumps(CLASS_B).encode(),  # aisstream sends binary frames too
        json.dumps(STATIC),
    ]
    sink = Sink()
    stats = FeedStats("ais", "aisstream")
    async with fake([frames], close_after=False) as server:
        task = asyncio.create_task(run_feed(feed_settings(server.url), sink, stats, bounding_boxes=BOXES))
        try:
            await until(lambda: len(sink.lines) >= 5)
            assert stats.connected
        finally:
            await stop(task)
    (sub,) = server.subscriptions
    assert server.delays[0] < 3.0
    assert sub["APIKey"] == "test-key"
    assert sub["BoundingBoxes"] == [[[24.0, 54.0], [27.5, 60.5]]]
    assert sorted(sub["FilterMessageTypes"]) == [
        "ExtendedClassBPositionReport",
        "LongRangeAisBroadcastMessage",
        "PositionReport",
        "ShipStaticData",
        "StandardClassBPositionReport",
        "StaticDataReport",
    ]
    # (5: the position, then its MetaData.ShipName as a type 24 part A, the class B report, type 5's two)
    assert sink.names == {"ais"} and len(sink.lines) == 5
    batch, assembler = pipeline(sink.lines)
    assert sum(assembler.rejects.values()) == 0
    got = {(int(r["mmsi"]), int(r["type"])): r for r in batch.positions}
    assert set(got) == {(440123456, 1), (538009876, 18)}
    assert (got[440123456, 1]["lat"], got[440123456, 1]["lon"]) == (
        pytest.approx(26.5667),
        pytest.approx(56.25),
    )
    assert (got[440123456, 1]["sog"], got[440123456, 1]["cog"]) == (pytest.approx(12.3), pytest.approx(301.5))
    assert (got[538009876, 18]["lat"], got[538009876, 18]["lon"]) == (
        pytest.approx(25.1),
        pytest.approx(-55.2),
    )
    assert [(s.type, s.mmsi, s.name) for s in batch.statics] == [
        (24, 440123456, "HANA MARU"), (5, 440123456, "HANA MARU")]
    assert stats.lines == 5 and stats.errors == 2
    assert stats.bytes == sum(len(f) for f in frames)


@pytest.mark.asyncio
async def test_feed_reconnects_after_the_server_closes() -> None:
    """When aisstream closes the connection, the feed reconnects, subscribes again and reads on."""
    first = copy.deepcopy(POSITION)
    first["MetaData"]["ShipName"] = ""  # (one line per message: no name fallback)
    second = _with("PositionReport", UserID=538001111)
    sink = Sink()
    stats = FeedStats("ais", "aisstream")
    with capture_logs() as logs:
        async with fake([[json.dumps(first)], [json.dumps(second)]], close_after=True) as server:
            task = asyncio.create_task(run_feed(feed_settings(server.url), sink, stats, bounding_boxes=BOXES))
            try:
                await until(lambda: len(sink.lines) >= 2)
            finally:
                await stop(task)
    assert server.connections >= 2 and len(server.subscriptions) >= 2
    assert all(s["APIKey"] == "test-key" for s in server.subscriptions)
    batch, _ = pipeline(sink.lines)
    assert [int(m) for m in batch.positions["mmsi"][:2]] == [440123456, 538001111]
    assert stats.reconnects >= 1
    assert any(e["event"] == "feed_disconnected" and e["feed"] == "ais" for e in logs)


@pytest.mark.asyncio
async def test_missing_api_key_is_logged_and_retried_without_crashing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no api_key and no AISSTREAM_API_KEY the feed logs an error, does not connect and keeps
    running; once the variable is set it connects and subscribes with that key."""
    monkeypatch.delenv("AISSTREAM_API_KEY", raising=False)
    sink = Sink()
    stats = FeedStats("ais", "aisstream")
    with capture_logs() as logs:
        async with fake([[json.dumps(POSITION)]], close_after=False) as server:
            task = asyncio.create_task(run_feed(feed_settings(server.url, key=""), sink, stats))
            try:
                await until(lambda: stats.errors >= 2)
                assert server.connections == 0 and not stats.connected
                assert stats.last_error and "API key" in stats.last_error
                monkeypatch.setenv("AISSTREAM_API_KEY", "from-env")
                await until(lambda: len(sink.lines) >= 1)
            finally:
                await stop(task)
    assert server.subscriptions[0]["APIKey"] == "from-env"
    assert any(e["event"] == "feed_not_configured" and e["log_level"] == "error" for e in logs)


@pytest.mark.asyncio
async def test_server_error_message_is_logged() -> None:
    """aisstream's {"error": ...} reply (a refused key) is logged as aisstream_error and kept as
    last_error."""
    sink = Sink()
    stats = FeedStats("ais", "aisstream")
    with capture_logs() as logs:
        async with fake([[json.dumps({"error": "Api Key Is Not Valid"})]], close_after=True) as server:
            task = asyncio.create_task(run_feed(feed_settings(server.url, reconnect_max_s=5.0), sink, stats))
            try:
                await until(lambda: any(e["event"] == "aisstream_error" for e in logs))
                await until(lambda: stats.failing)  # (down, its reason kept: /readyz and /api/feeds)
            finally:
                await stop(task)
    assert server.connections >= 1 and not sink.lines
    assert next(e["error"] for e in logs if e["event"] == "aisstream_error") == "Api Key Is Not Valid"
    assert stats.errors >= 1 and stats.last_error == "aisstream: Api Key Is Not Valid"


@pytest.mark.asyncio
async def test_unreachable_server_is_retried() -> None:
    """A websocket URL nobody listens on: connection errors are counted and retried, never raised."""
    sink = Sink()
    stats = FeedStats("ais", "aisstream")
    async with fake([[]]) as server:
        url = server.url
    task = asyncio.create_task(run_feed(feed_settings(url, reconnect_max_s=0.05), sink, stats))
    try:
        await until(lambda: stats.errors >= 2)
        assert not stats.connected and stats.reconnects >= 2
    finally:
        await stop(task)
