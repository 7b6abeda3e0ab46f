"""kind = "cot": Cursor-on-Target 2.0 XML events for TAK Server and ATAK/WinTAK (CONTRACT "Other sinks").

Two streams of events, over UDP datagrams (one event each) or one TCP stream (events back to back, as TAK
Server's "streaming CoT" TCP input and ATAK's network inputs take them), reconnecting with backoff:

- one event per queued alert (uid `chokepoint-alert-{id}`), from this sink's durable queue like every sink
  (monitor.sinks.base), so an alert raised while the receiver is down is sent once it is back;
- every `interval_s`, one event per watched vessel with a position (uid `chokepoint-{mmsi}`, type
  `a-n-S-X-M`: a neutral, sea-surface, non-military merchant vessel; callsign its name, else "MMSI n"). These
  are a live picture, each superseding the last of its uid, so they are not queued: a round the receiver
  misses is simply replaced by the next. A vessel whose event would already be stale on the feed clock (last
  fix more than `stale_s` ago) is left out.

Times are the feed's (CONTRACT): `time` and `start` the alert's time or the vessel's last fix, `stale`
start + stale_s. `point` is the position; AIS reports no accuracy and no height, so `ce`, `hae` and `le`
are CoT's "unknown", 9999999. An alert without a position (a strait's traffic drop, a posture change) is
placed on its zone, else on the middle of the zones watched, with `ce` the radius that covers it.

The XML is built with the standard library: the PyPI CoT packages either stamp every event with the wall
clock (pytak's `cot_event`: its `time`, `start` and `stale` cannot be the feed's) or are thin pydantic
wrappers that add a dependency for ten lines of ElementTree. The tests check every event against the CoT
2.0 event schema (tests/data/cot/event.xsd) with the `xmlschema` validator.

Delivery over UDP means the datagram was handed to the kernel; over TCP that the bytes were written and
drained to the socket. Neither has an acknowledgement from the receiver: an event written just as a TCP
receiver goes away can be lost with the connection, which a webhook (2xx) or MQTT (PUBACK) would not lose.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import structlog

from monitor.alerts import iso_time
from monitor.sinks.base import DeliveryError, Sink
from monitor.sinks.settings import CotSinkSettings
from monitor.store import Store

if TYPE_CHECKING:
    from monitor.pipeline import Pipeline
    from monitor.zones import ZoneFile

__all__ = [
    "ALERT_TYPE", "UNKNOWN", "VESSEL_TYPE", "CotSink", "VesselFix", "alert_event", "vessel_event",
    "watched_fixes",
]

_log = structlog.get_logger("monitor.sinks")

VESSEL_TYPE: Final = "a-n-S-X-M"  # CONTRACT: atom, neutral, sea surface, non-military, merchant
# An alert is a report of something that happened at a place and time, not a thing that moves: a CoT "b"
# (bits) event, not an "a" (atom) that a TAK client would track and extrapolate as a second contact beside
# the vessel's own. Of the b types, b-m-p-s-m ("map point, spot, marker") is what ATAK and WinTAK draw as a
# coloured spot marker with its callsign as label and its remarks in the details pane, and what an operator
# can dismiss; we colour it by severity. Not b-a-o-* (TAK's emergency alerts): those sound an alarm on every
# device of the network and are meant for a team member in distress, not for an `info` zone entry.
ALERT_TYPE: Final = "b-m-p-s-m"
UNKNOWN: Final = "9999999.0"  # CoT's value for an unknown ce, hae or le
# ARGB colours as ATAK writes them (a signed 32-bit integer): info cyan, warning yellow, critical red.
_COLOURS: Final = {"info": -16711681, "warning": -256, "critical": -65536}
_REMARKS_MAX: Final = 600  # characters: an event stays well inside one UDP datagram (1,400 bytes)
_CALLSIGN_MAX: Final = 64
_TIMEOUT_S: Final = 10.0
_DECLARATION: Final = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'


@dataclass(frozen=True, slots=True)
class VesselFix:
    """A watched vessel's last trusted fix and identity, for its position event."""

    mmsi: int
    time: float
    lat: float
    lon: float
    sog: float  # knots; NaN when unknown
    cog: float  # degrees true; NaN when unknown
    name: str | None = None
    imo: int | None = None
    callsign: str | None = None
    ship_type: int | None = None
    flag: str | None = None
    watch: tuple[str, ...] = ()
    dark: bool = False


def watched_fixes(pipeline: Pipeline) -> list[VesselFix]:
    """Every watched vessel (on any watchlist) with a position, by MMSI."""
    engine = pipeline.engine
    out: list[VesselFix] = []
    for mmsi in sorted(m for m, v in engine.vessels.items() if v.watch):
        v = engine.get(mmsi)  # (up to date: the track may be ahead of the object)
        if v is None or not v.has_fix:
            continue
        out.append(VesselFix(mmsi=v.mmsi, time=v.time, lat=v.lat, lon=v.lon, sog=v.sog, cog=v.cog,
                             name=v.name, imo=v.imo, callsign=v.callsign, ship_type=v.ship_type,
                             flag=v.flag, watch=tuple(v.watch), dark=bool(v.dark)))
    return out


# ---- the events --------------------------------------------------------------------------------------

def _decimal(value: float, places: int = 7) -> str:
    """An xs:decimal: fixed notation, never an exponent, NaN or infinity."""
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    return f"{value:.{places}f}"


def _event(uid: str, kind: str, how: str, start: float, stale_s: float,
           point: tuple[float, float, str]) -> ET.Element:
    lat, lon, ce = point
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise ValueError(f"position out of range: {lat!r}, {lon!r}")
    stamp = iso_time(start)
    event = ET.Element("event", {
        "version": "2.0", "uid": uid, "type": kind, "how": how,
        "time": stamp, "start": stamp, "stale": iso_time(start + stale_s),
    })
    ET.SubElement(event, "point", {"lat": _decimal(lat), "lon": _decimal(lon), "hae": UNKNOWN, "ce": ce,
                                   "le": UNKNOWN})
    return event


def _bytes(event: ET.Element) -> bytes:
    # The framing TAK's streaming TCP wants (ATAK's takproto notes): the XML declaration, a newline, the
    # event, and nothing after `</event>`: the next event's declaration follows at once.
    body: bytes = ET.tostring(event, encoding="utf-8", xml_declaration=False)
    return _DECLARATION + b"\n" + body


_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _clip(text: str, limit: int) -> str:
    """Free text for an attribute or element: without the characters XML 1.0 cannot carry, at most
    `limit` characters."""
    text = _NOT_XML.sub("", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def vessel_event(fix: VesselFix, stale_s: float) -> bytes:
    """The position event of one watched vessel: its last trusted fix, on the feed clock."""
    point = (fix.lat, fix.lon, UNKNOWN)
    event = _event(f"chokepoint-{fix.mmsi}", VESSEL_TYPE, "m-g", fix.time, stale_s, point)
    detail = ET.SubElement(event, "detail")
    ET.SubElement(detail, "contact", {"callsign": _clip(fix.name or f"MMSI {fix.mmsi}", _CALLSIGN_MAX)})
    if math.isfinite(fix.sog) and math.isfinite(fix.cog):
        # CoT's track: course in degrees true, speed in metres per second.
        ET.SubElement(detail, "track", {"course": _decimal(fix.cog, 1),
                                        "speed": _decimal(fix.sog * 1852.0 / 3600.0, 2)})
    facts = [f"MMSI {fix.mmsi}"]
    facts += [f"{label} {value}" for label, value in (("IMO", fix.imo), ("call sign", fix.callsign),
                                                    ("ship type", fix.ship_type), ("flag", fix.flag))
              if value is not None]
    if fix.watch:
        facts.append("watch " + ", ".join(fix.watch))
    if fix.dark:
        facts.append("DARK (no report within the posture's limit)")
    ET.SubElement(detail, "remarks").text = _clip("; ".join(facts), _REMARKS_MAX)
    return _bytes(event)


Locate = Callable[[str | None], tuple[float, float, str] | None]


def alert_event(alert: Mapping[str, Any], stale_s: float, locate: Locate | None = None) -> bytes:
    """The event of one alert (its CONTRACT object): at its position, else where `locate(zone_id)` puts it
    (the zone, else the area watched; with a `ce` covering it), else at 0, 0 with an unknown `ce`."""
    start = datetime.fromisoformat(str(alert["time"])).timestamp()
    position = alert.get("position")
    zone = alert.get("zone") or None
    vessel = alert.get("vessel") or {}
    if position and position.get("lat") is not None and position.get("lon") is not None:
        point, how = (float(position["lat"]), float(position["lon"]), UNKNOWN), "m-g"
    else:
        # m-c: "configured", the zone file's geometry, not a measurement.
        found = locate(zone["id"] if zone else None) if locate is not None else None
        point, how = found or (0.0, 0.0, UNKNOWN), "m-c"
    event = _event(f"chokepoint-alert-{alert['id']}", ALERT_TYPE, how, start, stale_s, point)
    severity = str(alert["severity"])
    mmsi = alert.get("mmsi")
    subject = vessel.get("name") or (f"MMSI {mmsi}" if mmsi is not None else None) \
        or (zone or {}).get("name") or str(alert.get("posture", ""))
    detail = ET.SubElement(event, "detail")
    ET.SubElement(detail, "contact", {"callsign": _clip(f"{alert['kind']}: {subject}", _CALLSIGN_MAX)})
    colour = str(_COLOURS.get(severity, _COLOURS["info"]))
    ET.SubElement(detail, "color", {"argb": colour})
    ET.SubElement(detail, "usericon", {"iconsetpath": f"COT_MAPPING_SPOTMAP/{ALERT_TYPE}/{colour}"})
    ET.SubElement(detail, "remarks").text = _clip(_remarks(alert), _REMARKS_MAX)
    # The alert's identity for a receiver that knows it (others ignore a detail they do not know).
    ET.SubElement(detail, "chokepoint", {k: _clip(str(v), 200) for k, v in (
        ("id", alert["id"]), ("kind", alert["kind"]), ("severity", severity),
        ("posture", alert.get("posture")), ("mmsi", mmsi), ("zone", zone["id"] if zone else None),
    ) if v is not None})
    return _bytes(event)


def _remarks(alert: Mapping[str, Any]) -> str:
    vessel = alert.get("vessel") or {}
    zone = alert.get("zone")
    severity = str(alert["severity"]).upper()
    parts = [f"{severity} {alert['kind']} at {alert['time']} (posture {alert.get('posture')})"]
    if alert.get("mmsi") is not None:
        who = [f"MMSI {alert['mmsi']}"] + [f"{k} {vessel[k]}" for k in ("name", "imo", "callsign", "flag")
                                           if vessel.get(k) is not None]
        if vessel.get("watch"):
            who.append("watch " + ", ".join(map(str, vessel["watch"])))
        parts.append(", ".join(who))
    if zone:
        parts.append(f"zone {zone.get('name') or zone.get('id')} ({zone.get('kind')})")
    details = alert.get("details") or {}
    facts = [f"{k}={_short(v)}" for k, v in details.items() if k != "area"]  # (a GeoJSON polygon)
    if facts:
        parts.append(", ".join(facts))
    return ". ".join(parts)


def _short(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return _clip(text, 80)


def zone_locator(zonefile: ZoneFile) -> Locate:
    """Where an alert without a position goes: the zone's representative point with the radius of its
    bounds, else the middle of all the zones with theirs (the area the daemon watches)."""
    cache: dict[str | None, tuple[float, float, str] | None] = {}

    def circle(bounds: tuple[float, float, float, float], lat: float, lon: float) -> tuple[float, float, str]:
        x1, y1, x2, y2 = bounds
        kx = 111_320.0 * math.cos(math.radians(lat))
        radius = 0.5 * math.hypot((x2 - x1) * kx, (y2 - y1) * 111_320.0)
        return lat, lon, _decimal(max(radius, 1.0), 1)

    def locate(zone_id: str | None) -> tuple[float, float, str] | None:
        if zone_id in cache:
            return cache[zone_id]
        found: tuple[float, float, str] | None = None
        try:
            zone = zonefile.by_id(zone_id) if zone_id is not None else None
        except KeyError:
            zone = None
        if zone is not None:
            p = zone.geometry.representative_point()
            found = circle(zone.geometry.bounds, p.y, p.x)
        elif zonefile.zones:
            bounds = [z.geometry.bounds for z in zonefile.zones]
            x1, y1 = min(b[0] for b in bounds), min(b[1] for b in bounds)
            x2, y2 = max(b[2] for b in bounds), max(b[3] for b in bounds)
            found = circle((x1, y1, x2, y2), (y1 + y2) / 2, (x1 + x2) / 2)
        cache[zone_id] = found
        return found

    return locate


# ---- the transports ----------------------------------------------------------------------------------

class _Udp:
    """Datagrams to host:port from one unconnected socket (an ICMP "unreachable" is no error here: UDP
    gives no delivery report, whatever the socket)."""

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._sock: socket.socket | None = None
        self._addr: Any = None

    async def send(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        if self._sock is None:
            infos = await loop.getaddrinfo(self._host, self._port, type=socket.SOCK_DGRAM)
            family, kind, proto, _, addr = infos[0]
            sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            self._sock, self._addr = sock, addr
        try:
            await asyncio.wait_for(loop.sock_sendto(self._sock, data, self._addr), _TIMEOUT_S)
        except BaseException:
            self.close()  # (resolved again next time: the host may have moved)
            raise

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def aclose(self) -> None:
        self.close()


class _Tcp:
    """One TCP connection, opened when there is something to send and again after it broke. What the
    receiver sends (TAK Server's pings) is read and dropped; its end of the stream closes ours, so the next
    event goes on a new connection rather than into a dead one."""

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._writer: asyncio.StreamWriter | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def send(self, data: bytes) -> None:
        writer = self._writer
        if writer is None or writer.is_closing():
            await self.aclose()
            connecting = asyncio.open_connection(self._host, self._port)
            reader, opened = await asyncio.wait_for(connecting, _TIMEOUT_S)
            self._writer = writer = opened
            self._watcher = asyncio.create_task(self._watch(reader, opened), name="cot-tcp-reader")
            _log.info("cot_connected", host=self._host, port=self._port)
        try:
            writer.write(data)
            await asyncio.wait_for(writer.drain(), _TIMEOUT_S)
        except BaseException:
            await self.aclose()
            raise
        if writer.is_closing():  # the receiver closed meanwhile: the bytes may not have reached it
            await self.aclose()
            raise DeliveryError("the receiver closed the connection")

    @staticmethod
    async def _watch(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with suppress(OSError):
            while await reader.read(65536):
                pass
        writer.close()

    async def aclose(self) -> None:
        watcher, writer = self._watcher, self._writer
        self._watcher = self._writer = None
        if watcher is not None:
            watcher.cancel()
            with suppress(asyncio.CancelledError):
                await watcher
        if writer is not None:
            writer.close()
            with suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)


class CotSink(Sink[CotSinkSettings, bytes]):
    """Alert events from the queue and vessel events every `interval_s`, on one transport."""

    def __init__(self, settings: CotSinkSettings, store: Store, *,
                 pipeline: Callable[[], Pipeline] | None = None, **kwargs: float) -> None:
        super().__init__(settings, store, **kwargs)
        self._pipeline = pipeline
        self._transport = (_Udp if settings.protocol == "udp" else _Tcp)(settings.host, settings.port)
        self._lock = asyncio.Lock()  # the alerts and the vessels share the transport
        self._zones: tuple[object, Locate] | None = None

    def _locate(self) -> Locate | None:
        if self._pipeline is None:
            return None
        zonefile = self._pipeline().geofence.zonefile
        if self._zones is None or self._zones[0] is not zonefile:  # (a reload or a runtime zone)
            self._zones = (zonefile, zone_locator(zonefile))
        return self._zones[1]

    def encode(self, payload: bytes) -> bytes:
        return alert_event(json.loads(payload), self.settings.stale_s, self._locate())

    async def send(self, message: bytes) -> None:
        async with self._lock:
            await self._transport.send(message)

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.deliver_queue(), name=f"sink:{self.name}:alerts")
                if self._pipeline is not None:
                    tasks.create_task(self._vessels(), name=f"sink:{self.name}:vessels")
        finally:
            await self.close()

    async def _vessels(self) -> None:
        """Every interval_s: one event per watched vessel with a fix not yet stale on the feed clock. A round
        that fails stops there (the next one comes at the next interval)."""
        loop = asyncio.get_running_loop()
        due = loop.time()
        stale_s = self.settings.stale_s
        while True:
            try:
                await self._vessel_round(stale_s)
            except Exception:  # noqa: BLE001 - a bug in one round must not stop the alerts or the daemon
                _log.exception("cot_vessel_round_failed", sink=self.name)
            due += self.settings.interval_s
            await asyncio.sleep(max(0.0, due - loop.time()))

    async def _vessel_round(self, stale_s: float) -> None:
        assert self._pipeline is not None
        pipeline = self._pipeline()
        now = pipeline.clock_time(time.time())
        for fix in watched_fixes(pipeline):
            if now is not None and fix.time + stale_s < now:
                continue
            try:
                message = vessel_event(fix, stale_s)
            except ValueError:
                continue  # (no usable position: nothing to show)
            try:
                await self.send(message)
            except (DeliveryError, OSError, TimeoutError) as exc:
                self._failed(exc, events="vessels")
                return
            self.stats.events += 1
            self._succeeded()

    async def close(self) -> None:
        await self._transport.aclose()
