"""The NMEA layer: checks, times, duplicates and fragment reassembly of monitor.nmea.NmeaAssembler."""

from __future__ import annotations

import functools
import itertools
import operator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.nmea import REJECT_REASONS, SIXBIT_ALPHABET, NmeaAssembler, nmea_checksum

DATA = Path(__file__).parent / "data"

# Real sentences from tests/data (pyais/ais_test_messages and libais/typeexamples.nmea).
POS = b"!AIVDM,1,1,,A,13HOI:0P0000VOHLCnHQKwvL05Ip,0*23"
POS2 = b"!AIVDM,1,1,,A,133sVfPP00PD>hRMDH@jNOvN20S8,0*7F"
TYPE5_1 = b"!AIVDM,2,1,1,A,55?MbV02;H;s<HtKR20EHE:0@T4@Dn2222222216L961O5Gf0NSQEp6ClRp8,0*1C"
TYPE5_2 = b"!AIVDM,2,2,1,A,88888888880,2*25"
USCG = (
    b"!AIVDM,1,1,,A,15N1u<PP1FJuvSRHOE6QIwwh0HQ6,0*30,d-080,S2118,t050056.00,T56.4837741,"
    b"r003669946,1325394060,1325394001"
)


def xor(data: bytes) -> int:
    return functools.reduce(operator.xor, data, 0)


def sentence(body: str) -> bytes:
    """`!body*hh` with a correct checksum."""
    return f"!{body}*{xor(body.encode()):02X}".encode()


def tag(fields: str) -> bytes:
    """A tag block with a correct checksum."""
    return f"\\{fields}*{xor(fields.encode()):02X}\\".encode()


def at(t: float, line: bytes, source: str = "rx1") -> bytes:
    return tag(f"s:{source},c:{t}") + line


def accounted(asm: NmeaAssembler) -> int:
    return (asm.assembled_lines + sum(asm.rejects.values()) + asm.duplicates + asm.other_sentences
            + asm.pending_lines)


def test_reject_reasons_each_counted_for_a_real_looking_line() -> None:
    """Every reason of REJECT_REASONS that the NMEA layer owns is counted for a line showing it."""
    cases = {
        "bad_checksum": [
            POS[:-2] + b"24",  # wrong checksum
            b"!AIVDM,1,1,,A,15N4cJ005Jrek0H@9nDW5608EP,013",  # no *hh at all (pyais/sample.ais)
        ],
        "truncated": [
            sentence("AIVDM,1,1,,B,,0"),  # empty payload (pyais/nmea_data_sample.txt has these)
            sentence("AIVDM,1,1,,A,13HOI:0P0000VOHLCnHQKwvL05Ip"),  # fill-bits field missing
            sentence("AIVDM,1,1,,A,13HOI:0P0000VOHL~nHQKwvL05Ip,0"),  # '~' is not six-bit armour
            sentence("AIVDM,1,1,,A,13HOI:0P0000VOHLCnHQKwvL05Ip,7"),  # fill bits above 5
            sentence("AIVDM,x,1,1,A,13HOI:0P0000VOHLCnHQKwvL05Ip,0"),  # fragment count not a number
        ],
        "unknown_sentence": [
            b"!AIALR,184353.07,001,A,V,AIS: general failure*1E",  # an AIS unit's alarm: no message
            b"IamNotAnAisMessage1111",
            b"# a comment",
        ],
        "bad_tag_block": [
            b"\\g:1-2-73874*A\\" + POS,  # one-digit tag checksum (pyais/sample.ais)
            tag("s:rx1,c:1418169601")[:-3] + b"00\\" + POS,  # wrong tag checksum
            b"\\s:rx1,c:1418169601*00" + POS,  # tag block never closed
            tag("s:rx1,c:soon") + POS,  # c: is not a number
            tag("s:rx1,c:1e20") + POS,  # beyond what a clock can say (it crashed time formatting once)
            tag("s:rx1,c:" + "9" * 30) + POS,  # (and this one an integer conversion)
            tag("s:rx1,c:nan") + POS,
            tag("s:rx1,c:-1750377600") + POS,
            tag("s:rx1,c:4102444800") + POS,  # 2100-01-01: past TIME_MAX
        ],
        "non_utf8": [POS[:20] + b"\xff\xfe" + POS[20:]],
        "bad_fragment": [
            sentence("AIVDM,0,1,,B,16UK7Fi0?w4tQF0l4Q@>401v1PS;,0"),  # count 0 (pyais/sample.ais)
            sentence("AIVDM,2,3,4,B,16UK7Fi0?w4tQF0l4Q@>401v1PS;,0"),  # number > count
            TYPE5_2,  # a second fragment whose first never came
        ],
    }
    for reason, lines in cases.items():
        asm = NmeaAssembler()
        assert asm.push_lines(lines) == [], reason
        assert asm.rejects == {reason: len(lines)}, (reason, asm.rejects)
        assert asm.lines == len(lines)
    # out_of_range is counted by the decoder; the others have tests of their own below.
    tested_elsewhere = {"out_of_range", "fragment_expired", "future_time", "past_time"}
    assert set(cases) | tested_elsewhere == set(REJECT_REASONS)


def test_dollar_sentences_are_counted_apart_not_rejected() -> None:
    """A ship's own $GPRMC/$GPGGA (and a proprietary $P... sentence) beside its AIS are other_sentence:
    counted apart, never a reject, on the per-line and on the batched path alike; the AIS goes on."""
    others = [
        b"$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A",
        b"$GPGGA,184353.07,1929.045,S,02410.506,E,1,04,2.6,100.00,M,-33.9,M,,0000*6D",
        tag("s:rx1,c:1418169601") + b"$PGHP,1,2008,5,9,0,0,0,10,338,2,,1,09*17",
    ]
    for copies in (1, 40):  # 3 + 3 lines (per-line code), 120 + 120 lines (batched path)
        asm = NmeaAssembler(dedup_window_s=0)
        lines = (others + [POS] * 3) * copies
        out = asm.push_lines(lines)
        assert len(out) == 3 * copies
        assert asm.other_sentences == 3 * copies and not asm.rejects
        assert asm.lines == len(lines) == accounted(asm)


def test_blank_lines_and_whitespace() -> None:
    """Blank lines are not counted; CR/LF and surrounding spaces do not spoil a sentence."""
    asm = NmeaAssembler()
    out = asm.push_lines([b"", b"  \r\n", b"  " + POS + b"\r\n"])
    assert out == [(None, b"13HOI:0P0000VOHLCnHQKwvL05Ip", 0)]
    assert asm.lines == 1


def test_any_talker_and_vdo() -> None:
    """!ABVDM, !SAVDM, !BSVDO... are AIS sentences like !AIVDM."""
    body = POS[3 : POS.index(b"*")].decode()
    lines = [sentence(talker + body) for talker in ("AB", "SA", "BS")] + [sentence("AIVDO" + body[3:])]
    asm = NmeaAssembler(dedup_window_s=0)
    assert [m[1] for m in asm.push_lines(lines)] == [b"13HOI:0P0000VOHLCnHQKwvL05Ip"] * 4


def test_tag_block_time_seconds_and_milliseconds() -> None:
    """The tag block's c: is the receive time; values above 1e11 are milliseconds."""
    asm = NmeaAssembler()
    out = asm.push_lines([at(1418169601, POS), tag("c:1418169602500,s:x") + POS2])
    assert [m[0] for m in out] == [1418169601.0, 1418169602.5]


def test_uscg_trailing_time() -> None:
    """On USCG lines the last metadata field, a 10-digit integer, is the receive time."""
    asm = NmeaAssembler()
    out = asm.push_lines([USCG, POS + b",d-080,S2118,r003669946"])
    assert out[0] == (1325394001.0, b"15N1u<PP1FJuvSRHOE6QIwwh0HQ6", 0)
    assert out[1][0] == 1325394001.0  # no 10-digit last field: the last timed line's time


def test_typeexamples_times_come_from_the_uscg_metadata() -> None:
    """Every line of libais/typeexamples.nmea gets the time of its last metadata field."""
    lines = (DATA / "libais" / "typeexamples.nmea").read_bytes().splitlines()
    expected = [float(line.rsplit(b",", 1)[1]) for line in lines]
    out = NmeaAssembler(max_ahead_s=0).push_lines(lines)  # 0: no clock guard
    assert [m[0] for m in out] == expected
    # With the guard: the file is a collection, its times hours to days apart, so each line is a jump
    # of the clock; the jumps confirm one another and nothing is lost but the tail still held back
    # (unconfirmed) at the end of the input, counted as future_time.
    asm = NmeaAssembler()
    out = asm.push_lines(lines)
    assert [m[0] for m in out] == expected[: len(out)]
    held = len(expected) - len(out)
    assert 0 < held < asm.confirm_lines and asm.pending_lines == held
    asm.flush()
    assert asm.rejects == {"future_time": held} and asm.pending_lines == 0


def test_untimed_lines_take_the_last_timed_lines_time() -> None:
    """Replay: a line without a time takes the last timed line's time, None before any."""
    asm = NmeaAssembler()
    out = asm.push_lines([POS, at(100, POS2), POS])
    out += asm.push_lines([TYPE5_1, TYPE5_2])
    assert [m[0] for m in out] == [None, 100.0, 100.0, 100.0]


def test_live_clock_gives_untimed_lines_the_wall_clock() -> None:
    """With a clock, untimed lines take its time while tag-block times still win."""
    asm = NmeaAssembler(clock=lambda: 5000.0)
    out = asm.push_lines([POS, at(100, POS2)])
    assert [m[0] for m in out] == [5000.0, 100.0]


def test_two_part_type5_reassembled() -> None:
    """Fragments with the same sequence id and channel are joined; the fill bits are the last one's."""
    asm = NmeaAssembler()
    out = asm.push_lines([TYPE5_1, POS, TYPE5_2])
    payload = TYPE5_1.split(b",")[5] + TYPE5_2.split(b",")[5]
    assert out == [(None, b"13HOI:0P0000VOHLCnHQKwvL05Ip", 0), (None, payload, 2)]
    assert asm.assembled_lines == 3 and asm.pending_lines == 0


def test_tagblock_grouped_type5_from_libais() -> None:
    """libais/tagblock.nmea: the g:-grouped 2-part type 5 is joined across an interleaved sentence."""
    lines = (DATA / "libais" / "tagblock.nmea").read_bytes().splitlines()
    asm = NmeaAssembler()
    out = asm.push_lines(lines)
    assert len(out) == 4 and not asm.rejects
    t, payload, fill = out[1]
    assert t == 1418169601.0
    assert payload == lines[0].split(b",")[-2] + lines[2].split(b",")[-2]
    assert fill == 2


def test_tag_group_lends_source_to_its_second_sentence() -> None:
    """pyais/sample.ais: a g:2-2 sentence without s: still meets its first part from the same station."""
    lines = (DATA / "pyais" / "sample.ais").read_bytes().splitlines()
    asm = NmeaAssembler(max_ahead_s=0, max_behind_s=0)  # a collection: its lines are years apart
    out = asm.push_lines(lines)
    type5 = [m for m in out if m[1].startswith(b"55Mw@A7J1adAL@")]
    assert len(type5) == 1 and type5[0][0] == 1428621738.0 and type5[0][2] == 2


def test_fragments_from_different_stations_are_not_joined() -> None:
    """The tag-block source is part of the fragment key."""
    asm = NmeaAssembler()
    out = asm.push_lines([at(10, TYPE5_1, "a"), at(11, TYPE5_2, "b")])
    assert out == [] and asm.rejects == {"bad_fragment": 1} and asm.pending_lines == 1


def test_stale_fragment_is_never_joined_to_a_later_message() -> None:
    """Part 1 at t=0 and part 2 with the same sequence id at t=30: nothing decoded, part 1 expired."""
    asm = NmeaAssembler(fragment_timeout_s=10)
    out = asm.push_lines([at(0, TYPE5_1)])
    out += asm.push_lines([at(30, TYPE5_2)])
    assert out == []
    assert asm.rejects["fragment_expired"] == 1
    assert asm.rejects["bad_fragment"] == 1  # the orphaned second part
    assert asm.pending_lines == 0


def test_stale_fragment_expires_within_one_batch() -> None:
    """Expiry is on the feed clock, also when both parts arrive in the same push_lines call."""
    asm = NmeaAssembler(fragment_timeout_s=10)
    assert asm.push_lines([at(0, TYPE5_1), at(11, POS), at(30, TYPE5_2)]) == [(11.0, POS.split(b",")[5], 0)]
    assert asm.rejects == {"fragment_expired": 1, "bad_fragment": 1}


def test_fragment_within_timeout_is_joined() -> None:
    """Part 2 ten seconds after part 1 (the limit) still completes the message, timed at part 1."""
    asm = NmeaAssembler(fragment_timeout_s=10)
    out = asm.push_lines([at(0, TYPE5_1), at(10, TYPE5_2)])
    assert len(out) == 1 and out[0][0] == 0.0


def test_new_first_part_replaces_incomplete_group() -> None:
    """A new part 1 with the same key abandons the old incomplete group, counted expired."""
    asm = NmeaAssembler()
    other_part1 = sentence("AIVDM,2,1,1,A,55?MbV02;H;s<HtKR20EHE:0@T4@Dn2222222216L961O5Gf0NSQEp6ClRp9,0")
    out = asm.push_lines([at(0, other_part1), at(1, TYPE5_1), at(2, TYPE5_2)])
    assert len(out) == 1 and out[0][1].startswith(TYPE5_1.split(b",")[5])
    assert asm.rejects == {"fragment_expired": 1}


def test_stale_groups_are_swept_when_the_clock_moves_on() -> None:
    """An incomplete group is expired once the feed clock passes its timeout, even with no key reuse."""
    asm = NmeaAssembler(fragment_timeout_s=10)
    asm.push_lines([at(0, TYPE5_1)])
    assert asm.pending_lines == 1
    asm.push_lines([at(20, POS)])
    assert asm.pending_lines == 0 and asm.rejects == {"fragment_expired": 1}


def test_flush_expires_what_is_left() -> None:
    """flush() at the end of a replay counts incomplete groups as expired."""
    asm = NmeaAssembler()
    asm.push_lines([TYPE5_1])
    asm.flush()
    assert asm.pending_lines == 0 and asm.rejects == {"fragment_expired": 1}


def test_duplicates_dropped_within_window_and_not_after() -> None:
    """The same sentence heard by two receivers within the window is dropped; later it is new again."""
    asm = NmeaAssembler(dedup_window_s=10)
    out = asm.push_lines(
        [
            at(100, POS, "a"),
            at(103, POS, "b"),  # duplicate: another station, 3 s later
            POS + b",d-080,S2118",  # other metadata, no time of its own (103): still the same sentence
        ]
    )
    assert len(out) == 1 and asm.duplicates == 2
    # 11 s after the first sighting the window is over: the same sentence is a new report
    out = asm.push_lines([at(111, POS, "a"), at(125, POS, "a")])
    assert [m[0] for m in out] == [111.0, 125.0] and asm.duplicates == 2


def test_duplicates_across_large_batches_and_receivers() -> None:
    """Batches large enough for the batched path: a second receiver's copies arriving one and two
    batches later (within the window) are dropped, whether their lines take the batched path (a tag
    block) or the per-line one (USCG-style metadata, its time at the end), and a two-part message's
    copy too; the same sentences after the window are new again."""
    t0 = 1_750_000_000
    asm = NmeaAssembler(dedup_window_s=10)
    bodies = [f"AIVDM,1,1,,A,13HOI:0P{k:06d},0" for k in range(300)]
    first = asm.push_lines([at(t0, sentence(b)) for b in bodies] + [at(t0, TYPE5_1), at(t0, TYPE5_2)])
    assert len(first) == 301 and asm.duplicates == 0
    # 4 and 6 s later, the second receiver's copies, in two batches and two layouts.
    second = asm.push_lines([at(t0 + 4, sentence(b), "rx2") for b in bodies[:150]]
                            + [at(t0 + 4, TYPE5_1, "rx2"), at(t0 + 4, TYPE5_2, "rx2")])
    third = asm.push_lines([sentence(b) + f",d-080,S2118,r003669946,{t0 + 6}".encode() for b in bodies[150:]]
                           + [at(t0 + 6, POS)])
    assert second == [] and [m[0] for m in third] == [t0 + 6]
    assert asm.duplicates == 300 + 2
    # Past the window: new again (and one copy of it within the window is a duplicate once more).
    later = asm.push_lines(
        [at(t0 + 20, sentence(b)) for b in bodies] + [at(t0 + 21, sentence(bodies[0]), "rx2")]
    )
    assert len(later) == 300 and asm.duplicates == 300 + 2 + 1


def test_duplicate_fragments_do_not_break_reassembly() -> None:
    """A fragment repeated by a second receiver is dropped, and the message is emitted once."""
    asm = NmeaAssembler()
    out = asm.push_lines([at(0, TYPE5_1, "a"), at(0, TYPE5_1, "b"), at(0, TYPE5_2, "a"), at(1, TYPE5_2, "b")])
    assert len(out) == 1 and asm.duplicates == 2 and not asm.rejects


def test_dedup_memory_is_bounded_by_the_window() -> None:
    """Entries older than the window are forgotten as the feed clock advances."""
    asm = NmeaAssembler(dedup_window_s=10)
    for k in range(50):
        body = f"AIVDM,1,1,,A,13HOI:0P0000VOHLCnHQKwvL{k:02d}p,0"
        asm.push_lines([at(k * 100, sentence(body))])
    assert len(asm._seen) <= 2


def test_real_captures_conserve_lines() -> None:
    """On every capture in tests/data, each non-blank line is in exactly one bucket."""
    for path in sorted((DATA / "libais").glob("*.nmea")) + sorted((DATA / "pyais").iterdir()):
        asm = NmeaAssembler()
        lines = path.read_bytes().splitlines()
        asm.push_lines(lines)
        assert asm.lines == sum(1 for line in lines if line.strip()), path
        assert asm.lines == accounted(asm), path


# -- property tests ---------------------------------------------------------------------------------

_AIS_LIKE = st.sampled_from(
    [POS, POS2, TYPE5_1, TYPE5_2, USCG, at(5, POS), at(50, TYPE5_1), at(52, TYPE5_2), b"", b"#"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=120), _AIS_LIKE, _AIS_LIKE.map(lambda b: b[:-3])), max_size=40))
def test_push_lines_never_raises_and_conserves_lines(lines: list[bytes]) -> None:
    """Any bytes: no exception, and lines == assembled + rejects + duplicates + pending, also after flush."""
    asm = NmeaAssembler()
    half = len(lines) // 2
    out = asm.push_lines(lines[:half]) + asm.push_lines(lines[half:])
    assert asm.lines == sum(1 for line in lines if line.strip())
    assert asm.lines == accounted(asm)
    assert set(asm.rejects) <= set(REJECT_REASONS)
    assert len(out) <= asm.assembled_lines
    asm.flush()
    assert asm.pending_lines == 0 and asm.lines == accounted(asm)


@settings(max_examples=300, deadline=None)
@given(
    payload=st.binary(min_size=1, max_size=82).map(lambda b: bytes(SIXBIT_ALPHABET[x % 64] for x in b)),
    fill=st.integers(0, 5),
    talker=st.sampled_from(["AI", "AB", "SA", "BS"]),
    kind=st.sampled_from(["VDM", "VDO"]),
    channel=st.sampled_from(["", "A", "B", "1", "2"]),
    t=st.one_of(st.none(), st.integers(0, 4_000_000_000)),
)
def test_valid_sentence_always_gives_one_message(
    payload: bytes, fill: int, talker: str, kind: str, channel: str, t: int | None
) -> None:
    """A well-formed sentence with its checksum recomputed yields exactly that payload, fill and time."""
    line = sentence(f"{talker}{kind},1,1,,{channel},{payload.decode()},{fill}")
    if t is not None:
        line = at(t, line)
    asm = NmeaAssembler()
    assert asm.push_lines([line]) == [(None if t is None else float(t), payload, fill)]
    assert not asm.rejects


_TIMED = st.builds(
    at,
    st.integers(0, 40),
    st.sampled_from([POS, POS2, TYPE5_1, TYPE5_2, USCG]),
    st.sampled_from(["a", "b"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_TIMED, _AIS_LIKE), max_size=30))
def test_batching_does_not_change_the_outcome(lines: list[bytes]) -> None:
    """One line per call or all lines in one call: same messages, rejects, duplicates and pending."""
    whole = NmeaAssembler()
    out_whole = whole.push_lines(lines)
    single = NmeaAssembler()
    out_single = [m for line in lines for m in single.push_lines([line])]
    assert out_single == out_whole
    assert (single.rejects, single.duplicates, single.pending_lines) == (
        whole.rejects,
        whole.duplicates,
        whole.pending_lines,
    )


def test_satellite_bursts_do_not_expire_other_stations_fragments() -> None:
    """Fragments expire on their own receiver's clock: a later time from another station does not
    expire them (libais/tagblock.nmea fed one line at a time, as a live feed would)."""
    asm = NmeaAssembler()
    lines = (DATA / "libais" / "tagblock.nmea").read_bytes().splitlines()
    out = [m for line in lines for m in asm.push_lines([line])]
    assert len(out) == 4 and not asm.rejects


def _tb(body: str) -> bytes:
    c = 0
    for ch in body.encode():
        c ^= ch
    return f"\\{body}*{c:02X}\\".encode()


def _sentence(body: str) -> bytes:
    c = 0
    for ch in body.encode():
        c ^= ch
    return f"!{body}*{c:02X}".encode()


TYPE5_A = (
    "AIVDM,2,1,0,A,56@7AC`0?IciSW?@001<Tn1HE=<Dj3W?@000001?FP`@@40Hth@AH2Q@@000,0",
    "AIVDM,2,2,0,A,00000000000,2",
)
TYPE5_B = (
    "AIVDM,2,1,0,A,570l:`H0?LmMS7;GH01<Tn1HE=<Dj37;GH00001DFP`@@40HtL0AH2Q@@000,0",
    "AIVDM,2,2,0,A,00000000000,2",
)


def test_identical_tails_of_different_messages_are_not_duplicates() -> None:
    """Two vessels' type 5 messages share an identical second fragment (the all-zero tail) and reuse the
    sequence id within the window: both are assembled, nothing is counted duplicate or expired."""
    a = NmeaAssembler()
    lines = [_tb("s:rx1,c:1750000000") + _sentence(b) for b in TYPE5_A]
    lines += [_tb("s:rx1,c:1750000001") + _sentence(b) for b in TYPE5_B]
    msgs = a.push_lines(lines)
    assert len(msgs) == 2 and msgs[0][1] != msgs[1][1]
    assert a.duplicates == 0 and not a.rejects


def test_multipart_message_from_two_receivers_is_processed_once() -> None:
    """The same two-part message heard by two receivers (distinct tag-block sources) is emitted once and
    its second copy's two lines are counted as duplicates."""
    a = NmeaAssembler()
    lines = [_tb("s:rx1,c:1750000000") + _sentence(b) for b in TYPE5_A]
    lines += [_tb("s:rx2,c:1750000002") + _sentence(b) for b in TYPE5_A]
    assert len(a.push_lines(lines)) == 1
    assert a.duplicates == 2 and not a.rejects


def test_interleaved_untagged_receivers_multipart_is_processed_once() -> None:
    """Two receivers merged without tag-block sources, fragments interleaved (A1 B1 A2 B2): one message,
    two duplicates, no expired or bad fragments."""
    a = NmeaAssembler()
    first, second = (_tb("c:1750000000") + _sentence(b) for b in TYPE5_A)
    assert len(a.push_lines([first, first, second, second])) == 1
    assert a.duplicates == 2 and not a.rejects


# -- the batched path against the per-line path -------------------------------------------------------

_SINGLES = [POS, POS2, sentence("AIVDM,1,1,,,13HOI:0P0000VOHLCnHQKwvL05Ip,0"), sentence("ABVDO,1,1,,1,B5,4")]
_PARTS = [TYPE5_1, TYPE5_2, sentence(TYPE5_A[0]), sentence(TYPE5_A[1]), sentence(TYPE5_B[0])]
_ODD = [  # well-formed looking, but a '*' where the checksum does not start
    sentence("AIVDM,1,1,,*,13HOI:0P0000VOHLCnHQKwvL05Ip,0"),
    sentence("AIVDM,1,1,*,A,13HOI:0P0000VOHLCnHQKwvL05Ip,0"),
    sentence("AIVDM,1,1,,A,13HOI:0P00*0VOHLCnHQKwvL05Ip,0"),
    sentence("AIVDM,1,1,7,B,13HOI:0P0000VOHLCnHQKwvL05Ip,0"),  # a sequence id on a single sentence
]
_TAGS = [
    "s:rx1,c:{t}",
    "c:{t},s:rx2",
    "c:{t}",
    "s:rx1",
    "c:{t}000,s:ms",  # milliseconds
    "s:rx1,c:{t},n:42",  # a field the assembler does not use
    "g:1-2-7,s:rx1,c:{t}",  # g: groups keep state: the per-line code handles them
    "g:2-2-7",
    "s:rx1,c:1e9",  # a float the batched path does not parse itself
    "s:rx1,c:x{t}",  # malformed
    "s:,c:{t}",  # an empty source: the feed's
    "s:r*x,c:{t}",  # odd bytes in the source
    "x:1,s:rx1,c:{t}",
    "s:rx1,c:0{t}",
    "s:rx1,c:{t}.5",
]


@st.composite
def _feed_line(draw: st.DrawFn) -> bytes:
    """A line of a mixed feed: common single sentences in all shapes, fragments, USCG, and damage."""
    kind = draw(st.integers(0, 9))
    if kind <= 4:
        line = draw(st.sampled_from(_SINGLES))
        if kind <= 1:  # a fresh payload, so the de-duplication memory fills up
            channel = draw(st.sampled_from(["A", "B", ""]))
            body = f"AIVDM,1,1,,{channel},13HOI:0P0{draw(st.integers(0, 99)):02d},0"
            line = sentence(body)
    elif kind <= 6:
        line = draw(st.sampled_from(_PARTS))
    elif kind == 7:
        line = USCG if draw(st.booleans()) else POS + b",r003669946"
    else:
        line = draw(st.sampled_from(_SINGLES + _PARTS + _ODD))
    if draw(st.integers(0, 3)):
        fields = draw(st.sampled_from(_TAGS)).format(t=draw(st.integers(1_750_000_000, 1_750_000_040)))
        block = tag(fields)
        if draw(st.integers(0, 9)) == 0:  # a wrong tag-block checksum
            block = block[:-3] + f"{(int(block[-3:-1], 16) + 1) % 256:02X}".encode() + b"\\"
        line = block + line
    damage = draw(st.integers(0, 12))
    if damage == 1:  # one byte changed
        i = draw(st.integers(0, len(line) - 1))
        line = line[:i] + bytes([draw(st.sampled_from(b"\\*!,0A~ \x00\n\xc3\xff"))]) + line[i + 1 :]
    elif damage == 2:  # cut short
        line = line[: draw(st.integers(0, len(line)))]
    elif damage == 3:  # padded, as a feed with CR LF or stray blanks gives them
        line = b" " + line + b"\r"
    elif damage == 4:
        line = b""
    return line


@st.composite
def _receiver_line(draw: st.DrawFn) -> bytes:
    """A line as one receiver sends them: every line with the same plain tag block (s:rx1, whole
    seconds), single sentences and fragments, now and then a damaged one."""
    line = draw(st.sampled_from(_SINGLES + _PARTS + _ODD))
    if draw(st.booleans()):
        body = f"AIVDM,1,1,,{draw(st.sampled_from(['A', 'B', '']))},13HOI:0P0{draw(st.integers(0, 99)):02d},0"
        line = sentence(body)
    t = draw(st.integers(1_750_000_000, 1_750_000_030))
    if draw(st.integers(0, 7)) == 0:  # now and then a line far off the feed's clock: held, then refused
        t += draw(st.sampled_from([3 * 86_400, 7_200, -86_400, -30_000, 4_000]))  # or confirmed as a jump
    line = at(t, line)
    if draw(st.integers(0, 9)) == 0:
        i = draw(st.integers(0, len(line) - 1))
        line = line[:i] + bytes([draw(st.sampled_from(b"*,0A~w"))]) + line[i + 1 :]
    return line


@settings(max_examples=400, deadline=None)
@given(
    lines=st.one_of(st.lists(_feed_line(), max_size=60), st.lists(_receiver_line(), max_size=60)),
    cuts=st.lists(st.integers(0, 60), max_size=3),
    window=st.sampled_from([0.0, 3.0, 10.0]),
    timeout=st.sampled_from([2.0, 10.0]),
    clock=st.booleans(),
    purge_every=st.sampled_from([2, 5, 4096]),
    max_entries=st.sampled_from([3, 8, 1_000_000]),
)
def test_batched_path_equals_line_by_line_path(
    lines: list[bytes],
    cuts: list[int],
    window: float,
    timeout: float,
    clock: bool,
    purge_every: int,
    max_entries: int,
) -> None:
    """On any mix of tagged, untagged, single, multi-sentence, USCG and damaged lines, cut into any
    batches, the batched (numpy) path and the per-line path give the same messages in the same order,
    the same counts, the same pending fragments and the same de-duplication memory (keys, times, order),
    also with purges of that memory in the middle of a batch and with its hard bound on entries reached."""
    from unittest import mock

    from monitor import nmea

    def run(fast_min: int) -> tuple[object, ...]:
        asm = NmeaAssembler(
            dedup_window_s=window,
            fragment_timeout_s=timeout,
            clock=(lambda: 1_750_000_020.0) if clock else None,
        )
        asm._fast_min_lines = fast_min
        out = []
        bounds = [0, *sorted(c for c in cuts if c <= len(lines)), len(lines)]
        with (
            mock.patch.object(nmea, "_PURGE_EVERY", purge_every),
            mock.patch.object(nmea, "_MAX_DEDUP_ENTRIES", max_entries),
        ):
            for lo, hi in itertools.pairwise(bounds):
                out += asm.push_lines(lines[lo:hi], b"feed")
        state = (
            asm.lines,
            asm.assembled_lines,
            asm.duplicates,
            dict(asm.rejects),
            asm.pending_lines,
            list(asm._seen.items()),
            asm._deadlines,
            asm._max_time,
            [(k, c.now, c.wall_at, c.last, c.held, c.jumps) for k, c in asm.clocks.items()],
        )
        asm.flush()
        return out, state, dict(asm.rejects)

    batched, line_by_line = run(1), run(10**9)
    assert repr(batched) == repr(line_by_line)  # repr: NaN-free, and tells None from 0.0 and -0.0


def test_batched_path_evicts_at_the_bound_as_line_by_line() -> None:
    """With the dedup memory at its hard bound, entries are evicted at the same lines on both paths, so a
    sentence repeated after its entry was evicted is not a duplicate on either (bound 3, purge every 2)."""
    from unittest import mock

    from monitor import nmea

    bodies = [f"AIVDM,1,1,,A,13HOI:0P0{k:02d},0" for k in range(5)]
    # The first part of a type 5 in between, so the repeat is not in the same run of single sentences.
    lines = [at(100, sentence(b)) for b in bodies] + [at(100, TYPE5_1), at(101, sentence(bodies[0]))]
    results = []
    for fast_min in (1, 10**9):
        asm = NmeaAssembler(dedup_window_s=10)
        asm._fast_min_lines = fast_min
        with mock.patch.object(nmea, "_PURGE_EVERY", 2), mock.patch.object(nmea, "_MAX_DEDUP_ENTRIES", 3):
            out = asm.push_lines(lines)
        results.append((out, asm.duplicates, list(asm._seen.items())))
    assert results[0] == results[1]
    assert len(results[0][0]) == 6 and results[0][1] == 0  # the first sentence's entry was evicted


@settings(max_examples=200, deadline=None)
@given(
    times=st.lists(st.integers(0, 50), max_size=80),
    now=st.integers(0, 60),
    window=st.sampled_from([1.0, 10.0]),
    chunk=st.sampled_from([1, 2, 3, 1024]),
    bound=st.sampled_from([5, 1_000_000]),
)
def test_purge_forgets_the_leading_old_entries(
    times: list[int], now: int, window: float, chunk: int, bound: int
) -> None:
    """A purge drops the entries from the front of the memory up to the first one within the window of
    the newest time (entries are in insertion order, roughly time order, not sorted), then the oldest
    ones beyond the hard bound: the same as a plain loop over the entries, whatever the chunk size."""
    from unittest import mock

    from monitor import nmea

    asm = NmeaAssembler(dedup_window_s=window)
    asm._seen.update((f"k{i}".encode(), float(t)) for i, t in enumerate(times))
    asm._max_time = float(now)
    expected = list(asm._seen.items())
    while expected and expected[0][1] < now - window:
        expected.pop(0)
    expected = expected[max(0, len(expected) - bound) :]
    with mock.patch.object(nmea, "_PURGE_CHUNK", chunk), mock.patch.object(nmea, "_MAX_DEDUP_ENTRIES", bound):
        asm._purge_seen()
    assert list(asm._seen.items()) == expected


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_nmea_checksum_is_the_xor_of_all_bytes(data: bytes) -> None:
    """`nmea_checksum` (folded as one integer, for speed) equals the XOR of the bytes taken one by one."""
    assert nmea_checksum(data) == xor(data)


def test_messages_read_as_the_tuples_they_hold() -> None:
    """push_lines's columns (Messages) read, compare, slice and add as a list of RawMessage tuples."""
    from monitor.nmea import Messages

    tuples = [(1.0, b"13HOI", 0), (None, b"55Nab", 2), (3.0, b"B6CdC", 0)]
    m = Messages()
    m.append(tuples[0])
    m.add_columns([tuples[1][0]], [tuples[1][1]], [tuples[1][2]])
    m.extend(tuples[2:])
    assert m == tuples and list(m) == tuples and len(m) == 3
    assert m[1] == tuples[1] and m[-1] == tuples[2]
    assert m[1:] == tuples[1:] and isinstance(m[1:], Messages)
    assert m + tuples[:1] == tuples + tuples[:1]
    assert m != tuples[:2] and m != [*tuples[:2], (3.0, b"B6CdC", 1)] and m != "not messages"
    assert repr(m) == f"Messages({tuples!r})"
    with pytest.raises(TypeError):
        hash(m)  # (mutable, as a list)
