"""The AIS decoder monitor.decode against libais's expected decodes, pyais, and AIS's own conventions."""

from __future__ import annotations

import collections
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyais
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyais.bit_vector import bit_vector
from pyais.encode import encode_dict
from pyais.messages import MSG_CLASS, MessageType1, MessageType2, MessageType3, MessageType18

from monitor.decode import (
    _TYPE_OF_CHAR,
    POSITION_DTYPE,
    StaticReport,
    _decode_rare,
    decode_batch,
    decode_records,
)
from monitor.nmea import NmeaAssembler, RawMessage

DATA = Path(__file__).parent / "data"


def assemble(lines: list[bytes] | list[str]) -> list[RawMessage]:
    asm = NmeaAssembler(dedup_window_s=0, max_ahead_s=0, max_behind_s=0)
    raw = [line.encode() if isinstance(line, str) else line for line in lines]
    return asm.push_lines(raw)


def encoded(**fields: Any) -> RawMessage:
    """One message built by pyais's encoder (an implementation independent of ours)."""
    msgs = assemble(encode_dict(fields))
    assert len(msgs) == 1
    return msgs[0]


def one_record(msg: RawMessage) -> tuple[dict[str, Any] | None, collections.Counter[str]]:
    rejects: collections.Counter[str] = collections.Counter()
    recs = list(decode_records([msg], rejects))
    assert len(recs) + sum(rejects.values()) == 1
    return (recs[0] if recs else None), rejects


def libais_out_of_range(expected: dict[str, Any]) -> bool:
    """Whether libais's decode shows a value no AIS encoder may send (our out_of_range)."""
    lat, lon = expected.get("lat"), expected.get("lon")
    mmsi = expected["mmsi"]
    heading = expected.get("heading", 511)
    return (
        mmsi == 0
        or mmsi > 999_999_999
        or (lat is not None and abs(lat) > 90.001 and round(lat) != 91)
        or (lon is not None and abs(lon) > 180.001 and round(lon) != 181)
        or (expected["type"] in (1, 2, 3, 18, 19) and 360 <= heading < 511)
    )


def test_typeexamples_match_libais() -> None:
    """libais/typeexamples: types 1, 2, 3, 5, 18, 24, 27 decode to libais's values or are rejected
    exactly when libais's values are out of range."""
    lines = (DATA / "libais" / "typeexamples.nmea").read_bytes().splitlines()
    expected = [json.loads(line) for line in (DATA / "libais" / "typeexamples.json").read_text().splitlines()]
    msgs = assemble(lines)
    assert len(msgs) == len(expected)
    checked: collections.Counter[int] = collections.Counter()
    for msg, exp in zip(msgs, expected, strict=True):
        if exp["type"] not in (1, 2, 3, 5, 18, 19, 24, 27):
            continue
        rec, rejects = one_record(msg)
        if libais_out_of_range(exp):
            assert rec is None and rejects == {"out_of_range": 1}, exp
            checked[exp["type"]] += 1
            continue
        assert rec is not None, (exp, rejects)
        assert rec["type"] == exp["type"] and rec["mmsi"] == exp["mmsi"]
        if "lat" in exp:
            # libais stores float32: agreement to 1e-5 degrees (about a metre)
            assert rec["lat"] == pytest.approx(exp["lat"], abs=1e-5)
            assert rec["lon"] == pytest.approx(exp["lon"], abs=1e-5)
            assert rec["sog"] == pytest.approx(exp["speed"], abs=0.05)
            assert rec["cog"] == pytest.approx(exp["course"], abs=0.05)
        if "heading" in exp:
            assert rec["heading"] == (None if exp["heading"] == 511 else exp["heading"])
        if "status" in exp:
            assert rec["status"] == exp["status"]
        if "shipname" in exp:
            assert rec["name"] == (exp["shipname"] or None)
        if exp["type"] == 5:
            assert rec["callsign"] == exp["callsign"]
            assert rec["imo"] == int(exp["imo"])
            assert rec["ship_type"] == exp["shiptype"]
            assert rec["draught"] == pytest.approx(exp["draught"], abs=1e-6)
            assert rec["destination"] == exp["destination"]
        if exp["type"] == 24:
            assert rec["part"] == exp["part_num"]
        checked[exp["type"]] += 1
    assert set(checked) == {1, 2, 3, 5, 18, 24, 27}


def test_tagblock_type5_not_available_values_are_none() -> None:
    """libais/tagblock.json's type 5 has imo 0, ship type 0, draught 0 and no destination: all None."""
    lines = (DATA / "libais" / "tagblock.nmea").read_bytes().splitlines()
    expected = [json.loads(line) for line in (DATA / "libais" / "tagblock.json").read_text().splitlines()]
    recs = list(decode_records(assemble(lines)))
    assert [(r["type"], r["mmsi"]) for r in recs] == [(e["type"], e["mmsi"]) for e in expected]
    rec, exp = recs[1], expected[1]
    assert (exp["imo"], exp["shiptype"], exp["draught"], exp["destination"]) == ("0", 0, 0.0, "")
    assert rec["imo"] is None and rec["ship_type"] is None and rec["draught"] is None
    assert rec["destination"] is None
    assert rec["name"] == exp["shipname"] and rec["callsign"] == exp["callsign"]
    assert rec["time"] == exp["tagblock_timestamp"].replace(".000000", "")


def test_not_available_values_become_nan_and_none() -> None:
    """lat 91, lon 181, sog 102.3, cog 360, heading 511 are kept as NaN rows and None in records."""
    msg = encoded(msg_type=1, mmsi=211234560, lat=91, lon=181, speed=102.3, course=360, heading=511, status=5)
    batch = decode_batch([msg])
    assert not batch.rejects and len(batch.positions) == 1
    row = batch.positions[0]
    for key in ("lat", "lon", "sog", "cog", "heading"):
        assert math.isnan(row[key]), key
    assert row["status"] == 5 and row["mmsi"] == 211234560
    rec, _ = one_record(msg)
    assert rec is not None
    assert [rec[k] for k in ("lat", "lon", "sog", "cog", "heading")] == [None] * 5


def test_time_nan_when_unknown_and_iso_when_known() -> None:
    """A message without a time has NaN time in rows and null in records; a known one is ISO 8601 Z."""
    msg = encoded(msg_type=18, mmsi=211234560, lat=26.5, lon=56.25, speed=10, course=45, heading=44)
    assert math.isnan(decode_batch([msg]).positions[0]["time"])
    rec, _ = one_record(msg)
    assert rec is not None and rec["time"] is None
    rec, _ = one_record((1750000000.25, msg[1], msg[2]))
    assert rec is not None and rec["time"] == "2025-06-15T15:06:40.250Z"


@pytest.mark.parametrize(
    "fields",
    [
        {"msg_type": 1, "mmsi": 0, "lat": 26.5, "lon": 56.25},
        {"msg_type": 1, "mmsi": 211234560, "lat": 95.0, "lon": 56.25},
        {"msg_type": 3, "mmsi": 211234560, "lat": -90.5, "lon": 56.25},
        {"msg_type": 1, "mmsi": 211234560, "lat": 26.5, "lon": -190.0},
        {"msg_type": 2, "mmsi": 211234560, "lat": 26.5, "lon": 56.25, "course": 360.1},
        {"msg_type": 18, "mmsi": 211234560, "lat": 26.5, "lon": 56.25, "course": 409.5},
        {"msg_type": 1, "mmsi": 211234560, "lat": 26.5, "lon": 56.25, "heading": 360},
        {"msg_type": 18, "mmsi": 211234560, "lat": 26.5, "lon": 56.25, "heading": 510},
        {"msg_type": 19, "mmsi": 211234560, "lat": 95.0, "lon": 56.25, "shipname": "X"},
        {"msg_type": 27, "mmsi": 211234560, "lat": 26.5, "lon": 190.0},
        {"msg_type": 5, "mmsi": 0, "shipname": "NOBODY"},
    ],
)
def test_out_of_range_values_are_rejected(fields: dict[str, Any]) -> None:
    """Values no AIS encoder may send drop the message, counted as out_of_range, in both entry points."""
    msg = encoded(**fields)
    batch = decode_batch([msg])
    assert len(batch.positions) == 0 and batch.statics == [] and batch.other == 0
    assert batch.rejects == {"out_of_range": 1}
    rec, rejects = one_record(msg)
    assert rec is None and rejects == {"out_of_range": 1}


def test_limits_themselves_are_accepted() -> None:
    """lat ±90, lon ±180, cog 359.9 and heading 359 are valid and decoded as such."""
    msgs = [
        encoded(msg_type=1, mmsi=211234560, lat=90, lon=180, course=359.9, heading=359),
        encoded(msg_type=18, mmsi=999_999_999, lat=-90, lon=-180, course=0, heading=0),
    ]
    pos = decode_batch(msgs).positions
    assert pos["lat"].tolist() == [90, -90] and pos["lon"].tolist() == [180, -180]
    assert pos["cog"].tolist() == [pytest.approx(359.9), 0] and pos["heading"].tolist() == [359, 0]


def test_truncated_and_unknown_types() -> None:
    """Too short for its type → truncated; types 0 and 28-63 → unknown_sentence."""
    good = encoded(msg_type=1, mmsi=211234560, lat=26.5, lon=56.25)
    type5 = assemble(list((DATA / "pyais" / "ais_test_messages").read_text().splitlines()))
    type5 = [m for m in type5 if m[1][:1] == b"5"]
    assert len(type5) == 1
    msgs: list[RawMessage] = [
        (None, good[1][:27], 0),  # 162 bits of a 168-bit report
        (None, good[1], 2),  # 166 bits
        (None, type5[0][1][:60], 0),  # type 5 cut off at 360 bits
        (None, b"0" + good[1][1:], 0),  # type 0
        (None, b"L" + good[1][1:], 0),  # type 28
        (None, b"w" + good[1][1:], 0),  # type 63
        (None, b"1", 0),  # 6 bits: not even an MMSI
    ]
    batch = decode_batch(msgs)
    assert batch.rejects == {"truncated": 4, "unknown_sentence": 3}
    assert len(batch.positions) == 0 and batch.statics == [] and batch.other == 0


def test_seq_interleaves_positions_and_statics_in_input_order() -> None:
    """seq is the input index plus seq_start; type 19 gives a position and a static report."""
    msgs = [
        encoded(
            msg_type=5,
            mmsi=211234560,
            shipname="FIRST",
            callsign="DABC",
            imo=9123456,
            ship_type=80,
            draught=7.5,
            destination="BANDAR ABBAS",
        ),
        encoded(
            msg_type=1, mmsi=211234560, lat=26.5, lon=56.25, speed=12.3, course=90.5, heading=91, status=0
        ),
        encoded(
            msg_type=19,
            mmsi=440123450,
            lat=26.1,
            lon=56.7,
            speed=3.2,
            course=180.0,
            heading=179,
            shipname="KOREAN STAR",
            ship_type=70,
        ),
        encoded(msg_type=4, mmsi=4123456, lat=26.0, lon=56.0),
        encoded(msg_type=27, mmsi=636012345, lat=26.25, lon=56.5, speed=14, course=270, status=0),
        encoded(msg_type=24, mmsi=440123451, partno=0, shipname="PART A"),
        encoded(msg_type=24, mmsi=440123451, partno=1, callsign="D7AB", ship_type=36),
        encoded(msg_type=18, mmsi=440123451, lat=26.2, lon=56.2, speed=5.5, course=10.0, heading=511),
    ]
    batch = decode_batch(msgs, seq_start=100)
    assert batch.positions.dtype == POSITION_DTYPE
    assert batch.positions["seq"].tolist() == [101, 102, 104, 107]
    assert batch.positions["type"].tolist() == [1, 19, 27, 18]
    assert batch.positions["status"].tolist() == [0, -1, 0, -1]
    assert batch.positions["mmsi"].tolist() == [211234560, 440123450, 636012345, 440123451]
    # type 27 carries 1/10 minute positions and whole knots and degrees
    row27 = batch.positions[2]
    assert (row27["lat"], row27["lon"], row27["sog"], row27["cog"]) == (26.25, 56.5, 14.0, 270.0)
    assert math.isnan(row27["heading"])
    row19 = batch.positions[1]
    assert (row19["sog"], row19["cog"], row19["heading"]) == (3.2, 180.0, 179.0)
    assert [s.seq for s in batch.statics] == [100, 102, 105, 106]
    s5 = batch.statics[0]
    assert isinstance(s5, StaticReport) and math.isnan(s5.time) and s5.part is None
    assert (s5.name, s5.callsign, s5.imo, s5.ship_type, s5.draught, s5.destination) == (
        "FIRST",
        "DABC",
        9123456,
        80,
        7.5,
        "BANDAR ABBAS",
    )
    s19 = batch.statics[1]
    assert (s19.type, s19.mmsi, s19.name, s19.ship_type, s19.callsign) == (
        19,
        440123450,
        "KOREAN STAR",
        70,
        None,
    )
    a, b = batch.statics[2], batch.statics[3]
    assert (a.part, a.name, a.callsign) == (0, "PART A", None)
    assert (b.part, b.name, b.callsign, b.ship_type) == (1, None, "D7AB", 36)
    assert batch.other == 1  # the type 4 base station report
    recs = list(decode_records(msgs))
    assert [r["type"] for r in recs] == [5, 1, 19, 4, 27, 24, 24, 18]
    assert recs[3]["lat"] == 26.0 and recs[3]["lon"] == 56.0
    assert recs[4]["status"] == 0 and "heading" not in recs[4]
    assert "status" not in recs[7]


def _pyais_position(line: str) -> dict[str, Any] | None:
    msg = pyais.decode(line)
    if not isinstance(msg, (MessageType1, MessageType2, MessageType3, MessageType18)):
        return None
    exp = msg.asdict()
    # pyais reads the radio field as SOTDMA or ITDMA state (type 18: by its selector bit); both begin
    # with the sync state. A class B "CS" unit's radio field is a fixed filler, not a state: none.
    cs_unit = isinstance(msg, MessageType18) and bool(msg.cs)
    state = msg.get_communication_state()["sync_state"]
    assert state is not None  # SOTDMA and ITDMA states both have one
    exp["sync_state"] = -1 if cs_unit else int(state)
    return exp


def test_vectorized_positions_equal_pyais_on_real_captures() -> None:
    """Every 168-bit type 1/2/3/18 report of pyais/nmea_data_sample.txt and libais/test.aivdm decodes
    as pyais.decode does, and exactly the reports pyais shows out of range are rejected."""
    compared = 0
    seen_gnss: dict[bool, collections.Counter[tuple[bool, bool, int]]] = {
        False: collections.Counter(),
        True: collections.Counter(),
    }
    for path in (DATA / "pyais" / "nmea_data_sample.txt", DATA / "libais" / "test.aivdm"):
        for text in path.read_text().splitlines():
            if not text.startswith("!AIVDM,1,1,"):
                continue
            msgs = assemble([text])
            if len(msgs) != 1 or len(msgs[0][1]) < 28 or msgs[0][1][:1] not in (b"1", b"2", b"3", b"B"):
                continue
            sentence = text.split(",")[:7]
            exp = _pyais_position(
                ",".join(sentence[:6]) + "," + sentence[6][:1] + "*" + text.split("*")[1][:2]
            )
            assert exp is not None
            batch = decode_batch(msgs)
            bad = (
                exp["mmsi"] == 0
                or (abs(exp["lat"]) > 90 and exp["lat"] != 91)
                or (abs(exp["lon"]) > 180 and exp["lon"] != 181)
                or exp["course"] > 360
                or 360 <= exp["heading"] < 511
            )
            if bad:
                assert batch.rejects == {"out_of_range": 1}, text
                continue
            assert len(batch.positions) == 1, (text, batch.rejects)
            row = batch.positions[0]

            def nan_if(value: float, na: float) -> float:
                return math.nan if value == na else float(value)

            assert row["type"] == exp["msg_type"] and row["mmsi"] == exp["mmsi"]
            np.testing.assert_allclose(
                [row["lat"], row["lon"]], [nan_if(exp["lat"], 91), nan_if(exp["lon"], 181)], atol=1e-6
            )
            np.testing.assert_allclose(
                [row["sog"], row["cog"], row["heading"]],
                [nan_if(exp["speed"], 102.3), nan_if(exp["course"], 360), nan_if(exp["heading"], 511)],
                atol=1e-9,
            )
            assert row["accuracy"] == exp["accuracy"]
            assert row["status"] == (-1 if exp["msg_type"] == 18 else int(exp["status"]))
            assert (row["second"], row["raim"], row["sync_state"]) == (
                exp["second"],
                exp["raim"],
                exp["sync_state"],
            ), text
            seen_gnss[exp["msg_type"] == 18].update([(exp["second"] >= 60, exp["raim"], exp["sync_state"])])
            compared += 1
    assert compared > 700
    # The captures exercise every kind of value: time stamps present and missing, RAIM on and off, each
    # sync state but 2; class B both from SOTDMA units and from "CS" units.
    assert {k[0] for k in seen_gnss[False]} == {False, True}, seen_gnss
    assert {k[1] for k in seen_gnss[False]} == {False, True}, seen_gnss
    assert {k[2] for k in seen_gnss[False]} >= {0, 1, 3}, seen_gnss  # (no 2 in them: see the test below)
    assert {k[2] for k in seen_gnss[True]} >= {-1, 0}, seen_gnss


def test_rare_types_equal_pyais_on_test_aivdm() -> None:
    """Types 5, 19 and 24 of libais/test.aivdm give the names, call signs and ship types pyais gives."""
    lines = (DATA / "libais" / "test.aivdm").read_bytes().splitlines()
    msgs = assemble(lines)
    seen: collections.Counter[int] = collections.Counter()
    rejects: collections.Counter[str] = collections.Counter()
    for msg in msgs:
        ais_type = msg[1][0] - 48
        if ais_type not in (5, 19, 24):
            continue
        recs = list(decode_records([msg], rejects))
        exp = MSG_CLASS[ais_type].from_vector(bit_vector(msg[1], msg[2])).asdict(enum_as_int=True)
        if not recs:
            continue
        rec = recs[0]
        assert rec["mmsi"] == exp["mmsi"]
        if "shipname" in exp:
            assert rec["name"] == (exp["shipname"] or None)
        if exp.get("callsign") is not None:
            assert rec["callsign"] == (exp["callsign"] or None)
        if exp.get("ship_type") is not None:
            assert rec["ship_type"] == (exp["ship_type"] or None)
        seen[ais_type] += 1
    assert set(seen) == {5, 19, 24}


# -- bulk static reports against pyais, message by message ---------------------------------------------

_ARMOUR = b"0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVW`abcdefghijklmnopqrstuvw"


@st.composite
def _static_like(draw: st.DrawFn) -> RawMessage:
    """A random payload of type 5 or 24 (either part, or an undefined part 2/3), of lengths around the
    limits of the bulk decoder; six-bit text fields get random characters."""
    first = draw(st.sampled_from(b"5H"))
    length = draw(st.sampled_from([6, 26, 27, 28, 29, 70, 71, 72, 80]))
    body = draw(st.lists(st.sampled_from(_ARMOUR), min_size=length - 1, max_size=length - 1))
    t = draw(st.one_of(st.none(), st.floats(0, 2e9)))
    return (t, bytes([first, *body]), draw(st.integers(0, 5)))


@settings(max_examples=300, deadline=None)
@given(st.lists(_static_like(), max_size=30), st.integers(0, 1000))
def test_bulk_statics_equal_pyais_one_by_one(msgs: list[RawMessage], seq_start: int) -> None:
    """Types 5 and 24 decoded in bulk give exactly the static reports, rejects and order that pyais gives
    message by message (through `_decode_rare`, the reference), whatever the bits."""
    expected: list[StaticReport] = []
    expected_rejects: collections.Counter[str] = collections.Counter()
    for i, (t, payload, fill) in enumerate(msgs):
        msg_type = _TYPE_OF_CHAR[payload[0]]
        rec = _decode_rare(msg_type, payload, fill)
        if isinstance(rec, str):
            expected_rejects[rec] += 1
            continue
        keys = ("name", "callsign", "imo", "ship_type", "draught", "destination", "part", "length")
        time = math.nan if t is None else t
        expected.append(
            StaticReport(i + seq_start, time, rec["mmsi"], msg_type, **{k: rec.get(k) for k in keys})
        )
    batch = decode_batch(msgs, seq_start)
    assert repr(batch.statics) == repr(expected)  # repr: equal NaN times compare equal
    assert batch.rejects == expected_rejects
    assert len(batch.positions) == 0 and batch.other == 0


def test_batch_rows_do_not_depend_on_the_other_payloads() -> None:
    """A batch mixing 168-bit reports with longer ones (extra bits after the report), other types, known
    and unknown times, decodes each report exactly as a batch of that one message alone."""
    base = [
        encoded(msg_type=1, mmsi=211234560, lat=26.5, lon=56.25, speed=12.3, course=90.5, heading=91),
        encoded(msg_type=18, mmsi=440123451, lat=26.2, lon=56.2, speed=5.5, course=10.0, heading=511),
        encoded(msg_type=5, mmsi=211234561, shipname="LONG ONE", destination="DUBAI"),
    ]
    longer = [(t, payload + b"0w", fill) for t, payload, fill in base[:2]]  # 180 bits
    msgs = [base[0], longer[0], base[2], base[1], longer[1], base[0]]
    timed = [(1750000000.0 + i, payload, fill) for i, (_, payload, fill) in enumerate(msgs)]
    # a newline inside a payload (no NMEA line carries one, but a caller may build anything)
    odd = (1750000009.5, base[0][1][:10] + b"\n" + base[0][1][11:], 0)
    for batch_msgs in (msgs, timed, timed[:3] + msgs[3:], [*timed, odd]):
        batch = decode_batch(batch_msgs, seq_start=7)
        alone = [decode_batch([m], seq_start=7 + i) for i, m in enumerate(batch_msgs)]
        expected = np.concatenate([a.positions for a in alone])
        assert len(batch.positions) == len(batch_msgs) - 1
        assert repr(batch.positions.tolist()) == repr(expected.tolist())
        assert [s.seq for s in batch.statics] == [9]
        assert batch.rejects == sum((a.rejects for a in alone), collections.Counter())


# -- GNSS quality fields (issue 13) against pyais ---------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(b"123B"), st.lists(st.sampled_from(_ARMOUR), min_size=27, max_size=27)),
        min_size=1,
        max_size=20,
    )
)
def test_gnss_fields_equal_pyais_whatever_the_bits(payloads: list[tuple[int, list[int]]]) -> None:
    """Time stamp second, RAIM flag and sync state of random 168-bit type 1/2/3/18 reports, decoded in
    bulk, are pyais's values message by message (sync state -1 for a class B "CS" unit)."""
    msgs = [(None, bytes([first, *body]), 0) for first, body in payloads]
    batch = decode_batch(msgs)
    rows = {int(r["seq"]): r for r in batch.positions}
    for i, (_, payload, _) in enumerate(msgs):
        msg = MSG_CLASS[_TYPE_OF_CHAR[payload[0]]].from_vector(bit_vector(payload, 0))
        assert isinstance(msg, (MessageType1, MessageType2, MessageType3, MessageType18))
        if i not in rows:
            continue  # out of range: the other tests check which
        state = msg.get_communication_state()["sync_state"]
        cs_unit = isinstance(msg, MessageType18) and bool(msg.cs)
        expected = (msg.second, bool(msg.raim), -1 if cs_unit else state)
        assert (rows[i]["second"], rows[i]["raim"], rows[i]["sync_state"]) == expected, payload


def test_gnss_fields_of_every_position_type_in_records() -> None:
    """`decode` prints second, raim and sync_state for types 1-3 and 18 (sync_state null for a class B
    "CS" unit, whose radio field is a filler), second and raim for type 19, raim for type 27; the batch
    rows carry -1 where a type has no such field."""
    msgs = [
        encoded(msg_type=2, mmsi=211234560, second=63, raim=1, radio=2 << 17),
        encoded(msg_type=18, mmsi=440123451, second=62, cs=0, radio=(1 << 19) | (2 << 17)),
        encoded(msg_type=18, mmsi=440123452, second=60, cs=1, raim=1, radio=0b1100000000000000110),
        encoded(msg_type=19, mmsi=440123450, second=61, raim=1, shipname="X"),
        encoded(msg_type=27, mmsi=636012345, raim=1, status=0),
    ]
    rows = decode_batch(msgs).positions
    assert rows[["second", "raim", "sync_state"]].tolist() == [
        (63, True, 2),
        (62, False, 2),
        (60, True, -1),
        (61, True, -1),
        (-1, True, -1),
    ]
    recs = list(decode_records(msgs))
    gnss = [{k: r[k] for k in ("second", "raim", "sync_state") if k in r} for r in recs]
    assert gnss == [
        {"second": 63, "raim": True, "sync_state": 2},
        {"second": 62, "raim": False, "sync_state": 2},
        {"second": 60, "raim": True, "sync_state": None},
        {"second": 61, "raim": True},
        {"raim": True},
    ]
