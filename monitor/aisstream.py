"""aisstream.io JSON messages turned back into NMEA lines, so they flow through the same pipeline.

aisstream.io (https://aisstream.io/documentation) delivers AIS messages over a websocket as JSON objects
that its servers decoded already::

    {"MessageType": "PositionReport",
     "MetaData": {"MMSI": 538001234, "ShipName": "...", "latitude": 26.5, "longitude": 56.3,
                  "time_utc": "2025-06-20 10:21:03.123456789 +0000 UTC"},
     "Message": {"PositionReport": {"UserID": 538001234, "Latitude": 26.5, "Longitude": 56.3, ...}}}

Rather than a second decoding path with its own validation and "not available" rules, each message is
re-encoded into the AIVDM sentence it came from, behind an NMEA 4.0 tag block `\\s:aisstream,c:<UNIX
seconds>*hh\\` carrying the receive time from `MetaData.time_utc` (to the millisecond: aisstream's
sub-second times are kept). De-duplication, decoding, the range checks and the detectors then treat
aisstream exactly like a local receiver.

Supported: `PositionReport` (types 1/2/3), `StandardClassBPositionReport` (type 18),
`ExtendedClassBPositionReport` (type 19, class B position with name and type), `ShipStaticData` (type 5,
two fragments), `StaticDataReport` (type 24: part A the class B ship's name, part B its call sign, type
and dimensions) and `LongRangeAisBroadcastMessage` (type 27, the satellite-friendly position). The
class A/B position reports use a small bit packer (every field of the message is carried, raw rate of
turn included); types 5, 19, 24 and 27 go through pyais's encoder, the project's reference.

`MetaData.ShipName` is aisstream's name for the MMSI, from the static reports it heard before. A vessel
whose own static report has not come on this connection yet gets it once, as a type 24 part A sentence
after its report (`Converter`), so a class B ship that sends its part A every six minutes has a name at
once; a vessel that sent its own name first is never given aisstream's.
Values AIS marks as not available (lat 91, lon 181, sog 102.3, cog 360, heading 511) are encoded as
such. A message of another type, or one whose fields are missing or cannot be represented in their
bit fields, raises `AisStreamMessageError`; the feed counts it and moves on.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from pyais.encode import encode_dict

from monitor.errors import MonitorError
from monitor.nmea import nmea_checksum

__all__ = [
    "MESSAGE_TYPES",
    "SOURCE",
    "AisStreamMessageError",
    "Converter",
    "parse_time_utc",
    "subscription",
    "to_nmea",
]

SOURCE: Final = "aisstream"  # the tag block's s: field: the pipeline sees aisstream as one receiver
# The types asked for in the subscription; everything else would be counted as unsupported.
MESSAGE_TYPES: Final[tuple[str, ...]] = (
    "PositionReport",
    "ShipStaticData",
    "StandardClassBPositionReport",
    "ExtendedClassBPositionReport",
    "StaticDataReport",
    "LongRangeAisBroadcastMessage",
)
# Static messages that carry the vessel's own name (after one, MetaData.ShipName is never used for it).
_NAMING: Final = frozenset({"ShipStaticData", "ExtendedClassBPositionReport"})
_MAX_NAMED: Final = 200_000  # MMSIs remembered by a Converter (about 20 MB at worst), then forgotten
# aisstream does not say which VHF channel a message was heard on; "A" keeps the sentence well formed
# for tools that insist on a channel letter (the pipeline ignores it except to key fragments).
_CHANNEL: Final = "A"

_SIXBIT_CHARS: Final = "".join(chr(v + 48) if v < 40 else chr(v + 56) for v in range(64))
# AIS six-bit text: what a name, call sign or destination can hold (pyais raises on anything else).
_TEXT_CHARS: Final = frozenset("@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_ !\"#$%&'()*+,-./0123456789:;<=>?")

# "2025-06-20 10:21:03.123456789 +0000 UTC" (Go's time.Time.String()), also ISO 8601 variants.
_TIME_RE: Final = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"\s*(?:(Z)|([+-])(\d{2}):?(\d{2}))?"
)

# Sequential message ids (0-9) of the two-fragment type 5 sentences. Module-wide, not per call: two
# type 5 messages in a row must not share an id, or the assembler could join fragments across them.
_SEQ_IDS = itertools.count()


class AisStreamMessageError(MonitorError, ValueError):
    """An aisstream message that cannot be turned into NMEA; `reason` is a stable counter key:
    `unsupported_type` (a MessageType other than MESSAGE_TYPES) or `malformed`."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


def subscription(
    api_key: str, bounding_boxes: Sequence[tuple[float, float, float, float]] | None
) -> dict[str, Any]:
    """The subscription message aisstream expects within 3 s of connecting.

    `bounding_boxes` are (min_lon, min_lat, max_lon, max_lat), GeoJSON order like the zone file;
    aisstream wants [[lat, lon], [lat, lon]] corners. None or empty subscribes to the whole world.
    """
    boxes = [
        [[min_lat, min_lon], [max_lat, max_lon]]
        for min_lon, min_lat, max_lon, max_lat in bounding_boxes or ()
    ]
    if not boxes:
        boxes = [[[-90.0, -180.0], [90.0, 180.0]]]
    return {"APIKey": api_key, "BoundingBoxes": boxes, "FilterMessageTypes": list(MESSAGE_TYPES)}


def parse_time_utc(text: object) -> float | None:
    """UNIX seconds from aisstream's `time_utc` ("2025-06-20 10:21:03.123456789 +0000 UTC"), None if
    it cannot be read. Nanosecond fractions are cut to microseconds; no offset means UTC."""
    if not isinstance(text, str):
        return None
    match = _TIME_RE.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, frac, zulu, sign, off_h, off_m = match.groups()
    try:
        stamp = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC)
    except ValueError:
        return None
    seconds = stamp.timestamp()
    if frac:
        seconds += int(frac[:6].ljust(6, "0")) / 1e6
    if sign is not None and zulu is None:
        offset = int(off_h) * 3600 + int(off_m) * 60
        seconds -= offset if sign == "+" else -offset
    return seconds


class Converter:
    """`to_nmea` for one connection, with the `MetaData.ShipName` fallback: remembers which MMSIs have a
    name already (their own static report, or the fallback given once)."""

    def __init__(self) -> None:
        self._named: dict[int, None] = {}  # insertion-ordered: the oldest are forgotten first

    def to_nmea(self, message: Mapping[str, Any], *, now: float | None = None) -> list[bytes]:
        lines = to_nmea(message, now=now)
        kind = message.get("MessageType")
        meta = message.get("MetaData")
        mmsi = meta.get("MMSI") if isinstance(meta, Mapping) else None
        if not isinstance(mmsi, int) or isinstance(mmsi, bool) or not 0 < mmsi < (1 << 30):
            return lines
        named = self._named
        if kind in _NAMING or (kind == "StaticDataReport" and _part(message) == 0):
            named[mmsi] = None
        elif mmsi not in named:
            name = _text(meta, "ShipName", 20) if isinstance(meta, Mapping) else ""
            if name:
                data: dict[str, str | int | float | bytes | bool] = {
                    "type": 24, "mmsi": mmsi, "partno": 0, "shipname": name,
                }
                tag = lines[0][: lines[0].index(b"!")] if lines else b""
                lines = [*lines, tag + _encode(data)[0].encode("ascii")]
                named[mmsi] = None
        if len(named) > _MAX_NAMED:
            del named[next(iter(named))]
        return lines


def _part(message: Mapping[str, Any]) -> int | None:
    body = message.get("Message")
    inner = body.get("StaticDataReport") if isinstance(body, Mapping) else None
    if not isinstance(inner, Mapping):
        return None
    part = inner.get("PartNumber")
    return int(part) if isinstance(part, (bool, int)) else None


def to_nmea(message: Mapping[str, Any], *, now: float | None = None) -> list[bytes]:
    """The NMEA lines (tag block included, no newline) for one aisstream message.

    The tag block's time is `MetaData.time_utc`, or `now` (default: the wall clock) when that is missing
    or unreadable. Raises AisStreamMessageError for unsupported types and malformed messages.
    """
    if not isinstance(message, Mapping):
        raise AisStreamMessageError("malformed", "not a JSON object")
    kind = message.get("MessageType")
    if not isinstance(kind, str):
        raise AisStreamMessageError("malformed", "no MessageType")
    if kind not in MESSAGE_TYPES:
        raise AisStreamMessageError("unsupported_type", kind)
    body = message.get("Message")
    inner = body.get(kind) if isinstance(body, Mapping) else None
    if not isinstance(inner, Mapping):
        raise AisStreamMessageError("malformed", f"{kind}: no Message.{kind} object")
    meta = message.get("MetaData")
    meta = meta if isinstance(meta, Mapping) else {}
    t = parse_time_utc(meta.get("time_utc"))
    if t is None:
        t = time.time() if now is None else now
    mmsi = _mmsi(inner, meta)
    if kind == "PositionReport":
        sentences = [_sentence(_class_a(inner, mmsi))]
    elif kind == "StandardClassBPositionReport":
        sentences = [_sentence(_class_b(inner, mmsi))]
    elif kind == "ExtendedClassBPositionReport":
        sentences = _extended_class_b(inner, mmsi)
    elif kind == "StaticDataReport":
        sentences = _static_data_report(inner, mmsi)
    elif kind == "LongRangeAisBroadcastMessage":
        sentences = _long_range(inner, mmsi)
    else:
        sentences = _static(inner, mmsi)
    tag = _tag_block(t)
    return [(tag + sentence).encode("ascii") for sentence in sentences]


# -- fields ------------------------------------------------------------------------------------------


def _number(obj: Mapping[str, Any], key: str, default: float | None = None) -> float:
    """A finite number from the message; `default` when the key is missing or null (None: required)."""
    value = obj.get(key)
    if value is None:
        if default is None:
            raise AisStreamMessageError("malformed", f"{key} missing")
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise AisStreamMessageError("malformed", f"{key}={value!r} is not a number")
    return float(value)


def _int(obj: Mapping[str, Any], key: str, lo: int, hi: int, default: int) -> int:
    """An integer field that must fit its bit field [lo, hi]; `default` when missing or null."""
    value = _number(obj, key, float(default))
    if value != int(value) or not lo <= value <= hi:
        raise AisStreamMessageError("malformed", f"{key}={value!r} not an integer in {lo}..{hi}")
    return int(value)


def _flag(obj: Mapping[str, Any], key: str, default: bool = False) -> int:
    value = obj.get(key)
    if value is None:
        return int(default)
    if isinstance(value, bool) or value in (0, 1):
        return int(value)
    raise AisStreamMessageError("malformed", f"{key}={value!r} is not a boolean")


def _mmsi(inner: Mapping[str, Any], meta: Mapping[str, Any]) -> int:
    # aisstream spells it UserID; "UserId" and MetaData.MMSI are accepted as fallbacks.
    for obj, key in ((inner, "UserID"), (inner, "UserId"), (meta, "MMSI")):
        if obj.get(key) is not None:
            # Any 30-bit value is encoded as sent; MMSI 0 or above 999999999 is then rejected by the
            # decoder as out_of_range, counted like the same junk from a local receiver.
            return _int(obj, key, 0, (1 << 30) - 1, 0)
    raise AisStreamMessageError("malformed", "no UserID")


def _scaled(obj: Mapping[str, Any], key: str, scale: float, lo: int, hi: int, default: float | None) -> int:
    """round(value * scale), refused when it does not fit [lo, hi] (it would wrap in the bit field)."""
    value = round(_number(obj, key, default) * scale)
    if not lo <= value <= hi:
        raise AisStreamMessageError("malformed", f"{key}={obj.get(key)!r} out of its field's range")
    return value


def _kinematics(inner: Mapping[str, Any]) -> tuple[int, int, int, int, int, int]:
    """(sog, lon, lat, cog, heading, second) as raw field values; missing ones are "not available"."""
    sog = _scaled(inner, "Sog", 10.0, 0, 1023, 102.3)  # 1023 = not available
    lon = _scaled(inner, "Longitude", 600_000.0, -(1 << 27), (1 << 27) - 1, None)  # 181 = n/a fits
    lat = _scaled(inner, "Latitude", 600_000.0, -(1 << 26), (1 << 26) - 1, None)  # 91 = n/a fits
    cog = _scaled(inner, "Cog", 10.0, 0, 4095, 360.0)  # 3600 = not available
    heading = _int(inner, "TrueHeading", 0, 511, 511)  # 511 = not available
    second = _int(inner, "Timestamp", 0, 63, 60)  # 60 = not available
    return sog, lon, lat, cog, heading, second


def _class_a(inner: Mapping[str, Any], mmsi: int) -> list[tuple[int, int]]:
    """ITU-R M.1371 message 1/2/3: 168 bits."""
    msg_type = _int(inner, "MessageID", 1, 3, 1)
    sog, lon, lat, cog, heading, second = _kinematics(inner)
    rot = inner.get("RateOfTurn")
    # aisstream passes the raw ROT_AIS byte; anything else cannot be re-encoded faithfully, and the
    # pipeline does not use it, so it becomes -128 (not available) instead of rejecting the fix.
    raw_rot = rot if isinstance(rot, int) and not isinstance(rot, bool) and -128 <= rot <= 127 else -128
    return [
        (msg_type, 6),
        (_int(inner, "RepeatIndicator", 0, 3, 0), 2),
        (mmsi, 30),
        (_int(inner, "NavigationalStatus", 0, 15, 15), 4),
        (raw_rot, 8),
        (sog, 10),
        (_flag(inner, "PositionAccuracy"), 1),
        (lon, 28),
        (lat, 27),
        (cog, 12),
        (heading, 9),
        (second, 6),
        (_int(inner, "SpecialManoeuvreIndicator", 0, 3, 0), 2),
        (0, 3),  # spare
        (_flag(inner, "Raim"), 1),
        (_int(inner, "CommunicationState", 0, (1 << 19) - 1, 0), 19),
    ]


def _class_b(inner: Mapping[str, Any], mmsi: int) -> list[tuple[int, int]]:
    """ITU-R M.1371 message 18: 168 bits."""
    _int(inner, "MessageID", 18, 18, 18)  # a PositionReport body under the class B key is malformed
    sog, lon, lat, cog, heading, second = _kinematics(inner)
    return [
        (18, 6),
        (_int(inner, "RepeatIndicator", 0, 3, 0), 2),
        (mmsi, 30),
        (_int(inner, "Spare1", 0, 255, 0), 8),
        (sog, 10),
        (_flag(inner, "PositionAccuracy"), 1),
        (lon, 28),
        (lat, 27),
        (cog, 12),
        (heading, 9),
        (second, 6),
        (_int(inner, "Spare2", 0, 3, 0), 2),
        (_flag(inner, "ClassBUnit", default=True), 1),  # most class B sets are carrier-sense units
        (_flag(inner, "ClassBDisplay"), 1),
        (_flag(inner, "ClassBDsc"), 1),
        (_flag(inner, "ClassBBand"), 1),
        (_flag(inner, "ClassBMsg22"), 1),
        (_flag(inner, "AssignedMode"), 1),
        (_flag(inner, "Raim"), 1),
        (_flag(inner, "CommunicationStateIsItdma"), 1),
        (_int(inner, "CommunicationState", 0, (1 << 19) - 1, 0), 19),
    ]


def _text(obj: Mapping[str, Any], key: str, width: int) -> str:
    """Six-bit text: upper case, characters AIS cannot send become '?', cut to `width` characters."""
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise AisStreamMessageError("malformed", f"{key}={value!r} is not text")
    text = value.upper().rstrip("@ ")
    return "".join(c if c in _TEXT_CHARS else "?" for c in text)[:width]


def _clamped(obj: Mapping[str, Any], key: str, hi: int) -> int:
    # Dimensions saturate in AIS: 511 m (bow/stern) and 63 m (port/starboard) mean "that or more".
    value = _number(obj, key, 0.0)
    if value < 0:
        raise AisStreamMessageError("malformed", f"{key}={value!r} is negative")
    return min(round(value), hi)


def _dimensions(obj: Mapping[str, Any]) -> dict[str, str | int | float | bytes | bool]:
    dimension = obj.get("Dimension")
    dimension = dimension if isinstance(dimension, Mapping) else {}
    return {
        "to_bow": _clamped(dimension, "A", 511),
        "to_stern": _clamped(dimension, "B", 511),
        "to_port": _clamped(dimension, "C", 63),
        "to_starboard": _clamped(dimension, "D", 63),
    }


def _degrees(obj: Mapping[str, Any], key: str, limit: float) -> float:
    """A longitude/latitude in degrees; `limit` + 1 (181, 91) is AIS's "not available" and passes."""
    value = _number(obj, key)
    if not -limit <= value <= limit + 1:
        raise AisStreamMessageError("malformed", f"{key}={value!r} out of its field's range")
    return value


def _extended_class_b(inner: Mapping[str, Any], mmsi: int) -> list[str]:
    """ITU-R M.1371 message 19 (312 bits, one sentence), via pyais."""
    _int(inner, "MessageID", 19, 19, 19)
    sog = _number(inner, "Sog", 102.3)
    cog = _number(inner, "Cog", 360.0)
    if not 0 <= sog <= 102.3 or not 0 <= cog <= 409.5:
        raise AisStreamMessageError("malformed", f"Sog={sog!r} or Cog={cog!r} out of its field's range")
    data: dict[str, str | int | float | bytes | bool] = {
        "type": 19,
        "repeat": _int(inner, "RepeatIndicator", 0, 3, 0),
        "mmsi": mmsi,
        "reserved_1": _int(inner, "Spare1", 0, 255, 0),
        "speed": sog,
        "accuracy": bool(_flag(inner, "PositionAccuracy")),
        "lon": _degrees(inner, "Longitude", 180.0),
        "lat": _degrees(inner, "Latitude", 90.0),
        "course": cog,
        "heading": _int(inner, "TrueHeading", 0, 511, 511),
        "second": _int(inner, "Timestamp", 0, 63, 60),
        "reserved_2": _int(inner, "Spare2", 0, 15, 0),
        "shipname": _text(inner, "Name", 20),
        "ship_type": _int(inner, "Type", 0, 255, 0),
        **_dimensions(inner),
        "epfd": _int(inner, "FixType", 0, 15, 0),
        "raim": bool(_flag(inner, "Raim")),
        "dte": bool(_flag(inner, "Dte")),
        "assigned": bool(_flag(inner, "AssignedMode")),
    }
    return _encode(data)


def _static_data_report(inner: Mapping[str, Any], mmsi: int) -> list[str]:
    """ITU-R M.1371 message 24: part A (`PartNumber` false) the name, part B the call sign, ship type,
    vendor and dimensions; via pyais. aisstream fills both ReportA and ReportB, `Valid` on the one sent."""
    _int(inner, "MessageID", 24, 24, 24)
    part = _flag(inner, "PartNumber")
    data: dict[str, str | int | float | bytes | bool] = {
        "type": 24, "repeat": _int(inner, "RepeatIndicator", 0, 3, 0), "mmsi": mmsi, "partno": part,
    }
    report = inner.get("ReportB" if part else "ReportA")
    if not isinstance(report, Mapping):
        raise AisStreamMessageError("malformed", f"StaticDataReport part {'AB'[part]} without its Report")
    if part == 0:
        data["shipname"] = _text(report, "Name", 20)
    else:
        data.update({
            "ship_type": _int(report, "ShipType", 0, 255, 0),
            "vendorid": _text(report, "VendorIDName", 3),
            "model": _int(report, "VenderIDModel", 0, 15, 0),
            "serial": _int(report, "VenderIDSerial", 0, (1 << 20) - 1, 0),
            "callsign": _text(report, "CallSign", 7),
            **_dimensions(report),
        })
    return _encode(data)


def _long_range(inner: Mapping[str, Any], mmsi: int) -> list[str]:
    """ITU-R M.1371 message 27 (96 bits): 1/10 minute positions, whole knots and degrees; via pyais."""
    _int(inner, "MessageID", 27, 27, 27)
    sog = _number(inner, "Sog", 63.0)
    cog = _number(inner, "Cog", 511.0)
    if not 0 <= sog <= 63 or not 0 <= cog <= 511:
        raise AisStreamMessageError("malformed", f"Sog={sog!r} or Cog={cog!r} out of its field's range")
    data: dict[str, str | int | float | bytes | bool] = {
        "type": 27,
        "repeat": _int(inner, "RepeatIndicator", 0, 3, 0),
        "mmsi": mmsi,
        "accuracy": bool(_flag(inner, "PositionAccuracy")),
        "raim": bool(_flag(inner, "Raim")),
        "status": _int(inner, "NavigationalStatus", 0, 15, 15),
        "lon": _degrees(inner, "Longitude", 180.0),
        "lat": _degrees(inner, "Latitude", 90.0),
        "speed": round(sog),
        "course": round(cog),
        "gnss": bool(_flag(inner, "PositionLatency")),
    }
    return _encode(data)


def _encode(data: dict[str, str | int | float | bytes | bool]) -> list[str]:
    sentences: list[str] = encode_dict(data, talker_id="AI", sentence_type="VDM", radio_channel=_CHANNEL)
    return sentences


def _static(inner: Mapping[str, Any], mmsi: int) -> list[str]:
    """ITU-R M.1371 message 5, two sentences with a sequence id, via pyais."""
    dimension = inner.get("Dimension")
    dimension = dimension if isinstance(dimension, Mapping) else {}
    eta = inner.get("Eta")
    eta = eta if isinstance(eta, Mapping) else {}
    imo = _number(inner, "ImoNumber", 0.0)
    draught = _number(inner, "MaximumStaticDraught", 0.0)
    if draught < 0:
        raise AisStreamMessageError("malformed", f"MaximumStaticDraught={draught!r} is negative")
    data: dict[str, str | int | float | bytes | bool] = {
        "type": 5,
        "repeat": _int(inner, "RepeatIndicator", 0, 3, 0),
        "mmsi": mmsi,
        "ais_version": _int(inner, "AisVersion", 0, 3, 0),
        # 0 is "not available"; a value that does not fit 30 bits is no IMO number either.
        "imo": int(imo) if imo == int(imo) and 0 <= imo < (1 << 30) else 0,
        "callsign": _text(inner, "CallSign", 7),
        "shipname": _text(inner, "Name", 20),
        "ship_type": _int(inner, "Type", 0, 255, 0),
        "to_bow": _clamped(dimension, "A", 511),
        "to_stern": _clamped(dimension, "B", 511),
        "to_port": _clamped(dimension, "C", 63),
        "to_starboard": _clamped(dimension, "D", 63),
        "epfd": _int(inner, "FixType", 0, 15, 0),
        # 0/0/24/60 is AIS's "ETA not available".
        "month": _int(eta, "Month", 0, 15, 0),
        "day": _int(eta, "Day", 0, 31, 0),
        "hour": _int(eta, "Hour", 0, 31, 24),
        "minute": _int(eta, "Minute", 0, 63, 60),
        "draught": min(round(draught, 1), 25.5),  # 25.5 m means 25.5 m or more
        "destination": _text(inner, "Destination", 20),
        "dte": bool(_flag(inner, "Dte")),
    }
    seq_id = next(_SEQ_IDS) % 10
    sentences: list[str] = encode_dict(
        data, talker_id="AI", sentence_type="VDM", radio_channel=_CHANNEL, seq_id=seq_id
    )
    return sentences


# -- sentences ---------------------------------------------------------------------------------------


def _armor(fields: Sequence[tuple[int, int]]) -> tuple[str, int]:
    """Pack (value, width) fields MSB first (negative values as two's complement) and armour them."""
    bits = 0
    n = 0
    for value, width in fields:
        bits = (bits << width) | (value & ((1 << width) - 1))
        n += width
    fill = -n % 6
    bits <<= fill
    n += fill
    return "".join([_SIXBIT_CHARS[(bits >> shift) & 63] for shift in range(n - 6, -1, -6)]), fill


def _sentence(fields: Sequence[tuple[int, int]]) -> str:
    payload, fill = _armor(fields)
    body = f"AIVDM,1,1,,{_CHANNEL},{payload},{fill}"
    return f"!{body}*{nmea_checksum(body.encode('ascii')):02X}"


def _tag_block(t: float) -> str:
    # NMEA 4.0's c: is whole UNIX seconds; aisstream's times are finer, and the milliseconds are kept
    # (the NMEA layer reads a decimal c:). Whole seconds are written as such.
    t = round(t, 3)
    whole = math.floor(t)
    text = str(whole) if t == whole else f"{t:.3f}".rstrip("0").rstrip(".")
    body = f"s:{SOURCE},c:{text}"
    return f"\\{body}*{nmea_checksum(body.encode('ascii')):02X}\\"
