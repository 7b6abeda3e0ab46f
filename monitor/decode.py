"""AIS decoder: complete armoured payloads in, position rows and static reports out.

Position reports of types 1, 2, 3 and 18 are most of any feed, so they are decoded for the whole batch
at once with numpy: a 256-entry table de-armours the first 28 characters (168 bits) of every payload,
and each field is assembled from the six-bit values with shifts. The rarer types (4, 5, 9, 11, 19, 21,
24, 27, ...) go one by one through pyais's bit decoder, the reference implementation of the project.

Validation follows the AIS "not available" conventions: lat 91, lon 181, sog 102.3, cog 360 and
heading 511 become NaN (None in records) and the message is kept; values no encoder may produce
(MMSI 0 or above 999999999, |lat| > 90, |lon| > 180, cog 360.1-409.5, heading 360-510) drop the message
as "out_of_range". A payload whose length does not fit its type (shorter than the type needs, or a
type 27 longer than one slot) is "truncated"; types 0 and 28-63 and type 24 parts 2 and 3 are
"unknown_sentence" (REJECT_REASONS has no separate reason for them).
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
import itertools
import math
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import numpy as np

from monitor.nmea import Messages, RawMessage

POSITION_DTYPE = np.dtype(
    [
        ("seq", "i8"),
        ("time", "f8"),
        ("mmsi", "i8"),
        ("type", "i1"),
        ("lat", "f8"),
        ("lon", "f8"),
        ("sog", "f8"),
        ("cog", "f8"),
        ("heading", "f8"),
        ("status", "i2"),
        ("accuracy", "?"),
        # GNSS quality as the transponder reports it, for spotting jamming (issue 13): a ship whose
        # receiver lost its fix still transmits, with these showing it. Small integers keep rows compact.
        ("second", "i1"),  # UTC second of the fix 0-59; 60 not available, 61 manual input, 62 dead
        # reckoning, 63 positioning system inoperative; -1 for a type without it (27)
        ("raim", "?"),  # RAIM in use (every position type has the flag)
        ("sync_state", "i1"),  # radio status: 0 UTC direct, 1 UTC indirect, 2 synchronised to a base
        # station, 3 to another station's slots; -1 where there is none (19, 27, class B "CS" units)
    ]
)


@dataclass(slots=True)
class StaticReport:
    """Voyage and identity data of one vessel (types 5, 19 and 24); unknown values are None."""

    seq: int
    time: float
    mmsi: int
    type: int
    name: str | None = None
    callsign: str | None = None
    imo: int | None = None
    ship_type: int | None = None
    draught: float | None = None
    destination: str | None = None
    part: int | None = None  # type 24: 0 = part A (name), 1 = part B (call sign, ship type)
    length: int | None = None  # metres, bow to stern (types 5, 19 and 24 part B; 0 is "not available")


@dataclass(slots=True)
class DecodedBatch:
    """What one batch of messages decoded to; `seq` links rows and reports back to input order."""

    positions: np.ndarray  # POSITION_DTYPE, ordered by seq
    statics: list[StaticReport]  # ordered by seq
    other: int  # messages decoded fine but of types that carry neither
    rejects: collections.Counter[str]


# Six-bit value of each armour character; 255 marks a byte outside the alphabet.
_SIXBIT = np.full(256, 255, dtype=np.uint8)
_SIXBIT[48:88] = np.arange(0, 40, dtype=np.uint8)
_SIXBIT[96:120] = np.arange(40, 64, dtype=np.uint8)

# Message type from the first payload character (types above 27 are not defined by ITU-R M.1371).
_TYPE_OF_CHAR: dict[int, int] = {c: int(_SIXBIT[c]) for c in range(256) if _SIXBIT[c] != 255}
_VECTOR_FIRST = frozenset(c for c, t in _TYPE_OF_CHAR.items() if t in (1, 2, 3, 18))

# Fewest bits a message of each type must have (ITU-R M.1371 lengths, with gpsd's tolerance for
# the shorter variants seen on the air). Type 5 is often sent with 420 instead of 424 bits (DTE and
# spare left out). Types not listed need the 38 bits up to and including the MMSI.
_MIN_BITS: dict[int, int] = {
    4: 168, 5: 420, 6: 88, 7: 72, 8: 56, 9: 168, 10: 72, 11: 168, 12: 72, 13: 72, 14: 40, 15: 88,
    16: 96, 17: 80, 19: 312, 20: 72, 21: 272, 22: 168, 23: 160, 25: 40, 26: 60, 27: 96,
}  # fmt: skip
# A type 27 longer than one slot is no long-range report but a misread (gpsd drops these too).
_MAX_BITS_27 = 168
_MIN_BITS_24 = (160, 168)  # part A, part B

_NaN = float("nan")
# Per first payload byte: a vectorized position type (1, 2, 3, 18)?
_IS_VECTOR_FIRST = np.zeros(256, dtype=bool)
_IS_VECTOR_FIRST[list(_VECTOR_FIRST)] = True
# Per first payload byte: the message type, 0 outside the alphabet (as `_TYPE_OF_CHAR.get(c, 0)`).
_TYPE_OF_BYTE = np.zeros(256, dtype=np.int64)
for _c, _t in _TYPE_OF_CHAR.items():
    _TYPE_OF_BYTE[_c] = _t
# Six-bit value -> its text character's byte, as pyais reads text ('@' for 0, then 'A'..'_', ' '..'?').
_TEXT_BYTE = np.array([v + 64 if v < 32 else v for v in range(64)], dtype=np.uint8)
@functools.cache
def _ship_types_5() -> list[int]:
    """Type 5's ship type as pyais reports it: its ShipType enum maps unknown codes to reserved members.
    (pyais is imported on first use, here and in _decode_rare: its import is a tenth of a second, a
    twentieth of a replay of a million lines that needs neither.)"""
    from pyais.constants import ShipType

    return [int(ShipType(v)) for v in range(256)]
_TYPE5_BITS = 422  # type 5 fields up to the destination's end: from here on, decoded in bulk
_GATHER = 71  # characters gathered per static message (a type 5's 422 bits)
_COLUMNS = np.arange(_GATHER)
_SIXBIT_TABLE = bytes(_SIXBIT.tolist())  # for bytes.translate: de-armours at C speed
_FIRST = operator.itemgetter(0)
_SECOND = operator.itemgetter(1)
_THIRD = operator.itemgetter(2)
_LAT_NA = 54_600_000  # 91 degrees in 1/10000 minute
_LON_NA = 108_600_000  # 181 degrees
_LAT_MAX = 54_000_000
_LON_MAX = 108_000_000


def _clean(text: str | None) -> str | None:
    """Six-bit text without its '@' padding and trailing spaces; empty means not available."""
    if text is None:
        return None
    text = text.rstrip("@ ")
    return text or None


def _nonzero(value: int | float | None) -> Any:
    """AIS uses 0 for 'not available' in IMO number, ship type and draught."""
    return value or None


# -- vectorized types 1, 2, 3, 18 ------------------------------------------------------------------


def _field(six: np.ndarray, offset: int, width: int, signed: bool = False) -> np.ndarray:
    """Bits [offset, offset+width) of every row; `six` holds one row of six-bit values per character."""
    first = offset // 6
    last = (offset + width - 1) // 6
    acc: np.ndarray = six[first].astype(np.int64)
    for c in range(first + 1, last + 1):
        acc <<= 6
        acc |= six[c]
    acc >>= 6 * (last + 1) - (offset + width)
    acc &= (1 << width) - 1
    if signed:
        acc[acc >= 1 << (width - 1)] -= 1 << width
    return acc


def _decode_positions(
    payloads: list[bytes], seqs: np.ndarray, times: np.ndarray, rejects: collections.Counter[str]
) -> np.ndarray:
    """Decode type 1/2/3/18 payloads of at least 168 bits; returns the valid rows as POSITION_DTYPE."""
    n = len(payloads)
    chars = np.frombuffer(b"".join([p[:28] for p in payloads]), dtype=np.uint8).reshape(n, 28)
    return _decode_position_chars(chars, seqs, times, rejects)


def _decode_position_chars(
    chars: np.ndarray, seqs: np.ndarray, times: np.ndarray, rejects: collections.Counter[str]
) -> np.ndarray:
    """`_decode_positions` on the first 28 payload characters, one row per message."""
    six = np.ascontiguousarray(
        np.take(_SIXBIT, chars[:, :28]).T
    )  # (28, n): each character position contiguous
    return _decode_position_six(six, seqs, times, rejects)


def _after_mmsi(six: np.ndarray, earlier: int) -> tuple[np.ndarray, ...]:
    """sog, accuracy, lon, lat, cog, heading and time stamp second of a position report, `earlier` bits
    before their place in types 1-3."""
    return (
        _field(six, 50 - earlier, 10),
        _field(six, 60 - earlier, 1),
        _field(six, 61 - earlier, 28, True),
        _field(six, 89 - earlier, 27, True),
        _field(six, 116 - earlier, 12),
        _field(six, 128 - earlier, 9),
        _field(six, 137 - earlier, 6),
    )


def _decode_position_six(
    six: np.ndarray, seqs: np.ndarray, times: np.ndarray, rejects: collections.Counter[str]
) -> np.ndarray:
    """`_decode_positions` on the six-bit values of the first 28 characters, one column per message."""
    n = six.shape[1]
    msg_type = six[0].astype(np.int8)
    class_b = msg_type == 18
    mmsi = _field(six, 8, 30)
    # Fields after the MMSI sit 4 bits earlier in type 18 than in types 1-3: all rows are read as
    # types 1-3, then the type 18 rows again at their own offsets.
    out = np.empty(n, dtype=POSITION_DTYPE)
    sog, accuracy, lon, lat, cog, heading, second = _after_mmsi(six, 0)
    status = _field(six, 38, 4)
    # The radio field starts at bit 149 in types 1-3 (19 bits of SOTDMA or ITDMA state) and at 148 in
    # type 18 (a SOTDMA/ITDMA selector bit, then the same 19 bits): either way its sync state, the
    # state's first two bits, is bits 149-150.
    sync_state = _field(six, 149, 2)
    raim = _field(six, 148, 1)
    b_rows = np.flatnonzero(class_b)
    if len(b_rows):
        six_b = six[:, b_rows]
        for column, value in zip(
            (sog, accuracy, lon, lat, cog, heading, second), _after_mmsi(six_b, 4), strict=True
        ):
            column[b_rows] = value
        status[b_rows] = -1
        raim[b_rows] = _field(six_b, 147, 1)
        # A class B "CS" unit (flag bit 141 set) sends a fixed default radio state (ITU-R M.1371 fills
        # it with 1100000000000000110), not a synchronisation: no sync state.
        sync_state[b_rows[_field(six_b, 141, 1) == 1]] = -1

    bad = (
        (mmsi == 0)
        | (mmsi > 999_999_999)
        | ((np.abs(lat) > _LAT_MAX) & (lat != _LAT_NA))
        | ((np.abs(lon) > _LON_MAX) & (lon != _LON_NA))
        | (cog > 3600)
        | ((heading >= 360) & (heading != 511))
    )
    n_bad = int(bad.sum())
    if n_bad:
        rejects["out_of_range"] += n_bad
    out["seq"] = seqs
    out["time"] = times
    out["mmsi"] = mmsi
    out["type"] = msg_type
    out["lat"] = np.where(lat == _LAT_NA, np.nan, lat / 600_000.0)
    out["lon"] = np.where(lon == _LON_NA, np.nan, lon / 600_000.0)
    out["sog"] = np.where(sog == 1023, np.nan, sog / 10.0)
    out["cog"] = np.where(cog == 3600, np.nan, cog / 10.0)
    out["heading"] = np.where(heading == 511, np.nan, heading.astype(np.float64))
    out["status"] = status
    out["accuracy"] = accuracy.astype(bool)
    out["second"] = second
    out["raim"] = raim
    out["sync_state"] = sync_state
    return out[~bad] if n_bad else out


# -- per-message types through pyais ---------------------------------------------------------------


def _na(value: float | None, na: float) -> float | None:
    return None if value is None or value == na else float(value)


class _Type24PartB(Protocol):
    """The fields read from a type 24 part B. pyais gives a MessageType24PartB, or (since 3.3.1, for an
    auxiliary craft's 98XXXYYYY MMSI) a MessageType24PartBAuxiliaryCraft, a class of its own outside
    pyais's message union; both have these."""

    partno: int
    callsign: str | None
    ship_type: int


def _decode_rare(msg_type: int, payload: bytes, fill: int) -> dict[str, Any] | str:
    """Decode one message of a type not handled by the vectorized path.

    Returns a record (CONTRACT decode keys, None for not available) or the reject reason.
    """
    from pyais.bit_vector import bit_vector
    from pyais.messages import (
        MSG_CLASS,
        MessageType4,
        MessageType5,
        MessageType9,
        MessageType19,
        MessageType21,
        MessageType24PartA,
        MessageType27,
    )

    bits = len(payload) * 6 - fill
    if msg_type == 0 or msg_type > 27:
        return "unknown_sentence"
    if bits < 38:
        return "truncated"
    bv = bit_vector(payload, fill)
    if msg_type == 24:
        part = bv.get(38, 2)
        if part > 1:
            return "unknown_sentence"
        if bits < _MIN_BITS_24[part]:
            return "truncated"
    elif (
        msg_type in (1, 2, 3, 18)
        or bits < _MIN_BITS.get(msg_type, 38)
        or (msg_type == 27 and bits > _MAX_BITS_27)
    ):
        return "truncated"  # position reports of 168 bits or more all take the vectorized path
    try:
        msg = MSG_CLASS[msg_type].from_vector(bv)
    except Exception:  # noqa: BLE001 - one bad payload must never stop the batch; counted below
        return "truncated"
    mmsi = int(msg.mmsi)
    if mmsi == 0 or mmsi > 999_999_999:
        return "out_of_range"
    rec: dict[str, Any] = {"type": msg_type, "mmsi": mmsi}
    # Each branch narrows pyais's message union by its class (MSG_CLASS[msg_type] decided it above), so
    # every field read is one that class has. Type 11 is a MessageType4; type 17's position is a DGNSS
    # reference, not a vessel, and is not read.
    if isinstance(msg, (MessageType4, MessageType9, MessageType19, MessageType21, MessageType27)):
        lat = float(msg.lat)
        lon = float(msg.lon)
        if (abs(lat) > 90 and lat != 91) or (abs(lon) > 180 and lon != 181):
            return "out_of_range"
        rec["lat"] = None if lat == 91 else lat
        rec["lon"] = None if lon == 181 else lon
    if isinstance(msg, MessageType19):
        cog = float(msg.course)
        heading = int(msg.heading)
        if cog > 360 or (360 <= heading < 511):
            return "out_of_range"
        rec["sog"] = _na(msg.speed, 102.3)
        rec["cog"] = _na(cog, 360.0)
        rec["heading"] = None if heading == 511 else float(heading)
        rec["name"] = _clean(msg.shipname)
        rec["ship_type"] = _nonzero(int(msg.ship_type))
        rec["length"] = _nonzero(int(msg.to_bow) + int(msg.to_stern))
        rec["second"] = int(msg.second)
        rec["raim"] = bool(msg.raim)
    elif isinstance(msg, MessageType9):
        cog = float(msg.course)
        if cog > 360:
            return "out_of_range"
        rec["sog"] = _na(msg.speed, 1023.0)
        rec["cog"] = _na(cog, 360.0)
    elif isinstance(msg, MessageType27):
        cog = float(msg.course)
        if 360 <= cog < 511:
            return "out_of_range"
        rec["sog"] = _na(msg.speed, 63.0)
        rec["cog"] = _na(cog, 511.0)
        rec["status"] = int(msg.status)
        rec["raim"] = bool(msg.raim)
    elif isinstance(msg, MessageType5):
        rec["name"] = _clean(msg.shipname)
        rec["callsign"] = _clean(msg.callsign)
        rec["imo"] = _nonzero(msg.imo)
        rec["ship_type"] = _nonzero(int(msg.ship_type))
        rec["length"] = _nonzero(int(msg.to_bow) + int(msg.to_stern))
        rec["draught"] = _nonzero(msg.draught)
        rec["destination"] = _clean(msg.destination)
    elif isinstance(msg, MessageType24PartA):
        rec["part"] = int(msg.partno)
        rec["name"] = _clean(msg.shipname)
    elif msg_type == 24:  # part B: part > 1 was refused above
        part_b = cast(_Type24PartB, msg)
        rec["part"] = int(part_b.partno)
        rec["callsign"] = _clean(part_b.callsign)
        rec["ship_type"] = _nonzero(int(part_b.ship_type))
        # (An auxiliary craft's part B carries its mothership's MMSI where others have dimensions.)
        rec["length"] = _nonzero(int(getattr(part_b, "to_bow", 0)) + int(getattr(part_b, "to_stern", 0)))
    elif isinstance(msg, MessageType21):
        rec["name"] = _clean((msg.name or "") + (msg.name_ext or ""))
    return rec


_STATIC_KEYS = ("name", "callsign", "imo", "ship_type", "draught", "destination", "part", "length")


def _split(
    messages: Sequence[RawMessage],
) -> tuple[list[int], list[bytes], list[float], list[int], collections.Counter[str]]:
    """Indices, payloads and times of the vectorizable messages; indices of the rest."""
    vec_idx: list[int] = []
    vec_payloads: list[bytes] = []
    vec_times: list[float] = []
    rare_idx: list[int] = []
    rejects: collections.Counter[str] = collections.Counter()
    first_ok = _VECTOR_FIRST
    for i, (t, payload, fill) in enumerate(messages):
        if payload and payload[0] in first_ok and len(payload) * 6 - fill >= 168:
            vec_idx.append(i)
            vec_payloads.append(payload)
            vec_times.append(_NaN if t is None else t)
        else:
            rare_idx.append(i)
    return vec_idx, vec_payloads, vec_times, rare_idx, rejects


def _text(six: np.ndarray, offset: int, chars: int) -> list[str | None]:
    """Six-bit text of `chars` characters from bit `offset` of every row, cleaned as pyais's `get_str`
    and then `_clean` do; the field lies wholly inside every payload."""
    codes = np.empty((six.shape[1], chars + 1), dtype=np.uint8)
    for j in range(chars):
        codes[:, j] = np.take(_TEXT_BYTE, _field(six, offset + 6 * j, 6))
    codes[:, chars] = 0x0A  # one text per line, so str methods cut and clean them all at C speed
    rows = codes.tobytes().decode("ascii").split("\n")[:-1]
    # get_str's rstrip("@").strip() then _clean's rstrip("@ "): the text has no whitespace but ' '.
    cleaned = map(str.lstrip, map(str.rstrip, rows, itertools.repeat("@ ")), itertools.repeat(" "))
    return [text or None for text in cleaned]


def _lengths(six: np.ndarray, offset: int) -> list[int | None]:
    """Bow-to-stern lengths from the 9-bit `to_bow` at `offset` and `to_stern` after it (None for 0)."""
    total = _field(six, offset, 9) + _field(six, offset + 9, 9)
    return [v or None for v in total.tolist()]


def _bulk_statics(
    chars: np.ndarray,
    msg_type: int,
    part: int,
    seqs: list[int],
    times: list[Any],
    statics: list[StaticReport],
    rejects: collections.Counter[str],
) -> None:
    """Static reports of one kind in bulk (type 5 of at least 422 bits, type 24 part A of 160, part B of
    168): the values pyais gives them (see `_decode_rare`), appended to `statics` unordered."""
    six = np.ascontiguousarray(np.take(_SIXBIT, chars).T)
    mmsi = _field(six, 8, 30)
    good = (mmsi != 0) & (mmsi <= 999_999_999)
    n_bad = len(good) - int(good.sum())
    if n_bad:
        rejects["out_of_range"] += n_bad
        keep = np.flatnonzero(good)
        six = np.ascontiguousarray(six[:, keep])
        mmsi = mmsi[keep]
        picked = keep.tolist()
        seqs = [seqs[k] for k in picked]
        times = [times[k] for k in picked]
    if not len(mmsi):
        return
    mmsis = mmsi.tolist()
    none = itertools.repeat(None)
    # The reports are built by map() over the columns; 0 means "not available" (None) in IMO number,
    # ship type and draught, as `_nonzero` has it.
    if msg_type == 5:
        imo = [v or None for v in _field(six, 40, 30).tolist()]
        callsign = _text(six, 70, 7)
        name = _text(six, 112, 20)
        ship_types = _ship_types_5()
        ship = [ship_types[v] or None for v in _field(six, 232, 8).tolist()]
        draught = [v or None for v in (_field(six, 294, 8) / 10.0).tolist()]  # float(raw) / 10.0
        destination = _text(six, 302, 20)
        length = _lengths(six, 240)
        statics.extend(
            map(StaticReport, seqs, times, mmsis, itertools.repeat(5), name, callsign, imo, ship, draught,
                destination, none, length)
        )  # fmt: skip
    elif part == 0:
        name = _text(six, 40, 20)
        statics.extend(
            map(StaticReport, seqs, times, mmsis, itertools.repeat(24), name, none, none, none, none, none,
                itertools.repeat(0))
        )  # fmt: skip
    else:
        ship = [v or None for v in _field(six, 40, 8).tolist()]
        callsign = _text(six, 90, 7)
        # An auxiliary craft (MMSI 98XXXYYYY) sends its mothership's MMSI there, not dimensions.
        aux = ((mmsi >= 980_000_000) & (mmsi <= 989_999_999)).tolist()
        length = [None if a else n for a, n in zip(aux, _lengths(six, 132), strict=True)]
        statics.extend(
            map(StaticReport, seqs, times, mmsis, itertools.repeat(24), none, callsign, none, ship, none,
                none, itertools.repeat(1), length)
        )  # fmt: skip


def decode_batch(messages: Sequence[RawMessage], seq_start: int = 0) -> DecodedBatch:
    """Decode a batch; `seq` of every row and report is its index in `messages` plus `seq_start`."""
    rejects: collections.Counter[str] = collections.Counter()
    statics: list[StaticReport] = []
    n = len(messages)
    if n == 0:
        return DecodedBatch(np.empty(0, dtype=POSITION_DTYPE), statics, 0, rejects)
    # One pass over the joined payloads sorts the batch: position reports and the common static
    # reports are decoded in bulk, the rest one by one.
    if isinstance(messages, Messages):  # (push_lines's columns, as they are)
        times_column: Sequence[float | None] = messages.times
        payloads = messages.payloads
        fills = np.fromiter(messages.fills, dtype=np.int64, count=n)
    else:
        times_column = list(map(_FIRST, messages))
        payloads = list(map(_SECOND, messages))
        fills = np.fromiter(map(_THIRD, messages), dtype=np.int64, count=n)
    # The payloads joined by newlines (never in a payload from NmeaAssembler): their starts and lengths
    # come from the separators, found with numpy, rather than from a len() per payload.
    text = b"\n".join(payloads)
    joined = np.frombuffer(text + bytes(_GATHER), dtype=np.uint8)
    starts = np.zeros(n, dtype=np.int64)
    separators = np.flatnonzero(joined[: len(text)] == 0x0A)
    if len(separators) == n - 1:
        starts[1:] = separators + 1
        lengths = np.empty(n, dtype=np.int64)
        lengths[:-1] = separators - starts[:-1]
        lengths[-1] = len(text) - starts[-1]
    else:  # a payload holding a newline: count them one by one
        lengths = np.fromiter(map(len, payloads), dtype=np.int64, count=n)
        joined = np.frombuffer(b"".join(payloads) + bytes(_GATHER), dtype=np.uint8)
        np.cumsum(lengths[:-1], out=starts[1:])
    first = np.where(lengths > 0, joined[starts], 0)
    bits = lengths * 6 - fills
    vec = _IS_VECTOR_FIRST[first] & (bits >= 168)
    types = _TYPE_OF_BYTE[first]
    vec_idx = np.flatnonzero(vec)
    if len(vec_idx):
        try:
            times = np.fromiter(times_column, dtype=np.float64, count=n)
        except TypeError:  # None among them: NaN
            times = np.array(times_column, dtype=np.float64)
        if (lengths[vec_idx] == 28).all():  # the usual 168-bit reports: their bytes joined are the matrix
            picked = (
                operator.itemgetter(*vec_idx.tolist())(payloads)
                if len(vec_idx) > 1
                else (payloads[vec_idx[0]],)
            )
            values = np.frombuffer(b"".join(picked).translate(_SIXBIT_TABLE), dtype=np.uint8)
            six = values.reshape(-1, 28).T.copy()  # (28, n): each character position contiguous
            positions = _decode_position_six(six, vec_idx + seq_start, times[vec_idx], rejects)
        else:
            chars = np.take(joined, starts[vec_idx][:, None] + _COLUMNS[:28])
            positions = _decode_position_chars(chars, vec_idx + seq_start, times[vec_idx], rejects)
    else:
        positions = np.empty(0, dtype=POSITION_DTYPE)
    bulk = ~vec & (((types == 5) & (bits >= _TYPE5_BITS)) | ((types == 24) & (bits >= 160)))
    part = np.zeros(n, dtype=np.int64)
    if bulk.any():
        part[bulk] = (_SIXBIT[joined[starts[bulk] + 6]] >> 2) & 3  # type 24's bits 38-39
        bulk &= (types == 5) | (part == 0) | ((part == 1) & (bits >= 168))
    for kind, sel in ((5, types == 5), (0, (types == 24) & (part == 0)), (1, (types == 24) & (part == 1))):
        idx = np.flatnonzero(bulk & sel)
        if len(idx):
            rows = np.take(joined, starts[idx][:, None] + _COLUMNS[: _GATHER if kind == 5 else 28])
            picked = idx.tolist()
            ts = [_NaN if (t := times_column[i]) is None else t for i in picked]
            _bulk_statics(
                rows, 5 if kind == 5 else 24, kind, [i + seq_start for i in picked], ts, statics, rejects
            )
    sorted_statics = len(statics) == 0
    rare_idx = np.flatnonzero(~vec & ~bulk).tolist()
    rare_rows: list[tuple[Any, ...]] = []
    other = 0
    for i in rare_idx:
        t, payload, fill = messages[i]
        msg_type = _TYPE_OF_CHAR.get(payload[0], 0) if payload else 0
        rec = _decode_rare(msg_type, payload, fill)
        if isinstance(rec, str):
            rejects[rec] += 1
            continue
        seq = i + seq_start
        time = _NaN if t is None else t
        if msg_type in (19, 27):
            rare_rows.append(_position_row(seq, time, rec))
        if msg_type in (5, 19, 24):
            statics.append(
                StaticReport(seq, time, rec["mmsi"], msg_type, **{k: rec.get(k) for k in _STATIC_KEYS})
            )
        elif msg_type != 27:
            other += 1
    if not sorted_statics:
        statics.sort(key=_SEQ)
    if rare_rows:
        extra = np.array(rare_rows, dtype=POSITION_DTYPE)
        at = np.searchsorted(positions["seq"], extra["seq"])
        positions = np.insert(positions, at, extra)
    return DecodedBatch(positions=positions, statics=statics, other=other, rejects=rejects)


_SEQ = operator.attrgetter("seq")


def _position_row(seq: int, time: float, rec: dict[str, Any]) -> tuple[Any, ...]:
    def f(key: str) -> float:
        value = rec.get(key)
        return _NaN if value is None else float(value)

    return (
        seq,
        time,
        rec["mmsi"],
        rec["type"],
        f("lat"),
        f("lon"),
        f("sog"),
        f("cog"),
        f("heading"),
        rec.get("status", -1),
        False,
        rec.get("second", -1),  # type 27 has no time stamp
        rec["raim"],
        -1,  # types 19 and 27 carry no radio status
    )


# -- records for `chokepoint-monitor decode` -------------------------------------------------------


def _iso(t: float | None) -> str | None:
    """ISO 8601 UTC with 'Z'; milliseconds only when the time has a fraction."""
    if t is None or math.isnan(t):
        return None
    stamp = dt.datetime.fromtimestamp(t, dt.UTC)
    if stamp.microsecond:
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _r(value: float | None, digits: int) -> float | None:
    return None if value is None or value != value else round(value, digits)


_RECORD_CHUNK = 65536


def decode_records(
    messages: Sequence[RawMessage], rejects: collections.Counter[str] | None = None
) -> Iterator[dict[str, Any]]:
    """One dict per decoded message, in input order; rejected messages are counted in `rejects`.

    Keys: `type`, `mmsi`, `time` and, where the type has them, `lat`, `lon` (6 decimals), `sog`,
    `cog` (1 decimal), `heading`, `status`, `name`, `callsign`, `imo`, `ship_type`, `draught`,
    `destination`, `second` (raw, 60-63 included), `raim`, `sync_state` (None for a class B "CS"
    unit), and `part` for type 24; None where AIS says not available.
    """
    for start in range(0, len(messages), _RECORD_CHUNK):
        chunk = messages[start : start + _RECORD_CHUNK]
        vec_idx, vec_payloads, vec_times, _, counts = _split(chunk)
        vec_rows: dict[int, Any] = {}
        if vec_idx:
            rows = _decode_positions(
                vec_payloads,
                np.asarray(vec_idx, dtype=np.int64),
                np.asarray(vec_times, dtype=np.float64),
                counts,
            )
            vec_rows = {int(s): r for s, r in zip(rows["seq"].tolist(), rows.tolist(), strict=True)}
        vec_set = set(vec_idx)
        for i, (t, payload, fill) in enumerate(chunk):
            if i in vec_set:
                row = vec_rows.get(i)
                if row is None:
                    continue  # rejected, already counted
                _, _, mmsi, msg_type, lat, lon, sog, cog, heading, status, _, second, raim, sync = row
                rec: dict[str, Any] = {"type": msg_type, "mmsi": mmsi}
                rec.update(lat=lat, lon=lon, sog=sog, cog=cog)
                rec["heading"] = None if heading != heading else heading
                if msg_type != 18:
                    rec["status"] = status
                # `second` stays raw like gpsdecode's: 60-63 say why there is no time stamp.
                rec.update(second=second, raim=raim, sync_state=None if sync < 0 else sync)
            else:
                msg_type = _TYPE_OF_CHAR.get(payload[0], 0) if payload else 0
                result = _decode_rare(msg_type, payload, fill)
                if isinstance(result, str):
                    counts[result] += 1
                    continue
                rec = result
                rec.pop("length", None)  # (the engine's, for traffic statistics; not a decode key)
            rec["time"] = _iso(t)
            if "lat" in rec:
                rec["lat"] = _r(rec["lat"], 6)
                rec["lon"] = _r(rec["lon"], 6)
            if "sog" in rec:
                rec["sog"] = _r(rec["sog"], 1)
                rec["cog"] = _r(rec["cog"], 1)
            if rec.get("heading") is not None:
                rec["heading"] = int(rec["heading"])
            yield rec
        if rejects is not None:
            rejects.update(counts)
