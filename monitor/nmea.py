"""NMEA layer: raw feed lines in, armoured AIS payloads (fragments joined) out.

The assembler is the first step of the pipeline and sees every line of every feed, so the per-line
work is kept to a few C-level bytes operations (strip, find, split, translate). The XOR checksums of
the sentence and of the tag block are the only byte-by-byte work; they are computed for the whole
batch at once with numpy (`np.bitwise_xor.reduceat`) instead of a Python loop per character.

Accounting (each non-blank line lands in exactly one bucket, see `NmeaAssembler.pending_lines`)::

    lines == assembled_lines + sum(rejects.values()) + duplicates + other_sentences + pending_lines

`other_sentences` counts `$` sentences (a ship's own `$GPRMC`, `$GPGGA`, ...) that a feed carries beside
its AIS: not AIS, but not junk either, so they are counted apart and never as `unknown_sentence`.

`rejects` counts lines: "fragment_expired" counts the fragment lines of groups that went stale (or were
replaced by a new first fragment, or were still incomplete at `flush()`), "bad_fragment" the fragment
lines that fit no group. Decoding problems of complete payloads (payload too short for its type,
out-of-range values) are counted later by `monitor.decode`.
"""

from __future__ import annotations

import collections
import itertools
import math
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import cast, overload

import numpy as np

from monitor.clock import CONFIRM, HOLD, FeedClock

REJECT_REASONS: tuple[str, ...] = (
    "bad_checksum",
    "truncated",
    "unknown_sentence",
    "bad_tag_block",
    "non_utf8",
    "out_of_range",
    "bad_fragment",
    "fragment_expired",
    "future_time",
    "past_time",
)

# The times a tag block may carry: from the epoch to 2100 (a later one is a broken clock or an attack).
# Checked where a time is parsed (a tag block's c:, a USCG line's trailing field), so no later step
# (time formatting, timers, the dedup memory) ever sees a wild value. Old but possible times (a receiver
# that lost its clock says 1970) are left to the feed clock's past_time rule.
TIME_MIN = 0.0
TIME_MAX = 4_102_444_800.0  # 2100-01-01T00:00:00Z

RawMessage = tuple[float | None, bytes, int]
"""(receive time in UNIX seconds on the feed clock or None, armoured payload, fill bits)."""


class Messages(Sequence[RawMessage]):
    """The messages a push_lines call completed, in order, kept as three columns (time, payload, fill).

    Why columns: the decoder reads columns, and the fast path completes runs of thousands of lines at
    once; as tuples, every message was packed here and unpacked there (a tenth of a replay's time). A run
    goes in with three list extends (`add_columns`); one message with `append`. It reads as a sequence of
    RawMessage tuples, and equals any sequence of the same tuples."""

    __slots__ = ("fills", "payloads", "times")

    def __init__(self) -> None:
        self.times: list[float | None] = []
        self.payloads: list[bytes] = []
        self.fills: list[int] = []

    def append(self, message: RawMessage) -> None:
        t, payload, fill = message
        self.times.append(t)
        self.payloads.append(payload)
        self.fills.append(fill)

    def extend(self, messages: Iterable[RawMessage]) -> None:
        for message in messages:
            self.append(message)

    def add_columns(self, times: Sequence[float | None], payloads: Sequence[bytes], fills: Sequence[int]
                    ) -> None:
        self.times += times
        self.payloads += payloads
        self.fills += fills

    def __len__(self) -> int:
        return len(self.payloads)

    @overload
    def __getitem__(self, index: int) -> RawMessage: ...

    @overload
    def __getitem__(self, index: slice) -> Messages: ...

    def __getitem__(self, index: int | slice) -> RawMessage | Messages:
        if isinstance(index, slice):
            part = Messages()
            part.add_columns(self.times[index], self.payloads[index], self.fills[index])
            return part
        return self.times[index], self.payloads[index], self.fills[index]

    def __iter__(self) -> Iterator[RawMessage]:
        return zip(self.times, self.payloads, self.fills)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and len(other) == len(self) and all(map(operator.eq, self, other))

    __hash__ = None  # type: ignore[assignment]  # (mutable, like a list)

    def __add__(self, other: Iterable[RawMessage]) -> Messages:
        result = self[:]
        result.extend(other)
        return result

    def __repr__(self) -> str:
        return f"Messages({list(self)!r})"


# The 64 characters of the AIS six-bit armour ('0'..'W' and '`'..'w'); `bytes.translate` deletes
# them, so anything left over is a character outside the alphabet.
SIXBIT_ALPHABET: bytes = bytes(range(48, 88)) + bytes(range(96, 120))

_FILL_BITS: dict[bytes, int] = {str(i).encode(): i for i in range(6)}
_MAX_FRAGMENTS = 9  # one decimal digit in the sentence, as NMEA 0183 allows
_MAX_PENDING_GROUPS = 4096  # bound on incomplete groups when the feed has no clock to expire them
_MAX_DEDUP_ENTRIES = 1_000_000  # hard bound on the dedup memory, whatever the feed's clock does
_MAX_TAG_GROUPS = 4096  # tag-block groups (g:) remembered to lend their s:/c: to later sentences
_MAX_COMPLETED = 1024  # completed multi-sentence groups remembered for duplicate fragments
_PURGE_EVERY = 4096  # accepted sentences between two purges of the dedup memory
_FAST_MIN_LINES = 64  # batches from this many lines take the batched path
_MAX_TAG_CACHE = 4096  # distinct tag blocks remembered by the batched path
_PURGE_CHUNK = 1024  # dedup entries looked at per step of a purge
_HELD = -1.0  # what `_stamp` gives for a line its feed clock holds back (no real time is negative)

# Hex digit value for each byte; 255 marks a byte that is not a hex digit.
_HEX = np.full(256, 255, dtype=np.uint16)
for _i, _c in enumerate(b"0123456789ABCDEF"):
    _HEX[_c] = _i
for _i, _c in enumerate(b"abcdef"):
    _HEX[_c] = 10 + _i


# ASCII letters (a talker id), for lookups over a batch.
_ALPHA = np.zeros(256, dtype=bool)
_ALPHA[65:91] = True
_ALPHA[97:123] = True
_NAN = float("nan")


def nmea_checksum(data: bytes) -> int:
    """XOR of all bytes (the NMEA 0183 checksum of what lies between the start character and `*`).

    For one sentence or tag block; `_checksums_ok` checks a whole batch at once. The simulator
    (tools/simulate.py) and the aisstream.io converter build their sentences with it.
    """
    # Folding the bytes as one integer is about five times faster than a byte loop.
    n = len(data)
    if n == 0:
        return 0
    value = int.from_bytes(data, "big")
    width = 1
    while width < n:
        width *= 2
    while width > 1:
        width //= 2
        bits = width * 8
        value = (value >> bits) ^ (value & ((1 << bits) - 1))
    return value


def _checksums_ok(bodies: list[bytes], hexes: list[bytes]) -> list[bool]:
    """Check `XOR(body) == int(hex, 16)` for every pair at once.

    Every body is non-empty and every hex exactly two bytes (the caller guarantees it): reduceat
    returns the element itself for an empty segment, which would be wrong.
    """
    if not bodies:
        return []
    data = np.frombuffer(b"".join(bodies), dtype=np.uint8)
    lengths = np.fromiter(map(len, bodies), dtype=np.int64, count=len(bodies))
    starts = np.zeros(len(bodies), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    xor = np.bitwise_xor.reduceat(data, starts)
    digits = _HEX[np.frombuffer(b"".join(hexes), dtype=np.uint8)].reshape(-1, 2)
    expected = digits[:, 0] * 16 + digits[:, 1]  # above 255 when a digit is not hex: never equal
    ok: list[bool] = (xor.astype(np.uint16) == expected).tolist()
    return ok


def _tag_fields(tag: bytes) -> tuple[float | None, bytes, bytes | None] | None:
    """(c: time, s: source, g: group or None) of a tag block's body; None when a field is malformed."""
    t: float | None = None
    src = b""
    group: bytes | None = None
    for field in tag.split(b","):
        key = field[:2]
        if key == b"c:":
            try:
                t = float(field[2:])
            except ValueError:
                return None
            if t > 1e11:  # milliseconds since the epoch
                t /= 1000.0
            if not TIME_MIN <= t < TIME_MAX:  # (NaN fails too)
                return None
        elif key == b"s:":
            src = field[2:]
        elif key == b"g:":
            group = field[2:]
    return t, src, group


def _median_tag_time(lines: Sequence[bytes]) -> float | None:
    """The median c: time of the lines' tag blocks (checksums unchecked: one bad line cannot move a
    median), None without any."""
    times = []
    for raw in lines:
        line = raw.lstrip()
        if line[:1] == b"\\":
            end = line.find(b"\\", 1)
            star = line.rfind(b"*", 1, end)
            fields = _tag_fields(line[1:star]) if end > 0 and star > 0 else None
            if fields is not None and fields[0] is not None:
                times.append(fields[0])
    return sorted(times)[(len(times) - 1) // 2] if times else None  # (a time one of the lines has)


def _simple_tag(piece: bytes) -> tuple[float | None, bytes] | None:
    """(time, source) of a tag block `body*hh` whose checksum holds and which has no g: field.

    None for any other tag block: those go through the general per-line code, which counts the bad
    ones and keeps the state of g: groups.
    """
    star = len(piece) - 3
    if star < 1 or piece[star] != 0x2A or _HEX[piece[star + 1]] > 15 or _HEX[piece[star + 2]] > 15:
        return None
    body = piece[:star]
    if nmea_checksum(body) != int(piece[star + 1 :], 16):
        return None
    fields = _tag_fields(body)
    if fields is None or fields[2] is not None:
        return None
    return fields[0], fields[1]


def _tag_verdicts(candidates: Sequence[_Candidate], tag_ok: list[bool]) -> list[bool | None]:
    """The tag-block checksum verdicts (in order of the candidates that have one) spread out to one per
    candidate, None for a candidate without a tag block."""
    it = iter(tag_ok)
    return [None if c[0] is None else next(it) for c in candidates]


def _seen_lately(prev: float, t: float, window: float, clock: float) -> bool:
    """The de-duplication rule, in one place: a sentence remembered at feed time `prev` makes the same
    sentence at `t` a duplicate when the two are within `window` of each other and the memory has not
    forgotten it yet (it forgets what is older than `window` before `clock`, the newest time seen: so
    the outcome never depends on when a purge happened to run, nor on how lines were batched)."""
    return abs(t - prev) <= window and prev >= clock - window


def _close(t1: float | None, t2: float | None, window: float) -> bool:
    """Are two fragment times known and within the dedup window? Untimed lines are never duplicates."""
    if t1 is None or t2 is None:
        return False
    return abs(t1 - t2) <= window


class _Group:
    """The fragments received so far of one multi-sentence message."""

    __slots__ = ("last", "parts", "source", "time")

    def __init__(self, time: float | None, source: bytes, payload: bytes) -> None:
        self.time = time
        self.source = source
        self.last = 1
        self.parts = [payload]


# A line that passed the cheap structural checks and waits for the batched checksum verdict:
# (tag block or None, sentence body between '!' and '*', text after the checksum).
_Candidate = tuple[bytes | None, bytes, bytes]


class _FastLines:
    """What `_fast_scan` found: the common lines' numbers and, for each, its sentence after the talker
    id (the de-duplication key), payload, fill bits, own time (NaN: none) and tag-block id (-2: none)."""

    __slots__ = ("buf", "fills", "keys", "lines", "multi", "own", "payloads", "src_hi", "src_lo", "tag_ids")

    def __init__(
        self,
        lines: np.ndarray,
        keys: tuple[bytes, ...],
        payloads: tuple[bytes, ...],
        fills: tuple[int, ...],
        own: np.ndarray,
        tag_ids: tuple[int, ...],
        multi: list[int],
        buf: bytes,
        src_lo: np.ndarray,
        src_hi: np.ndarray,
    ) -> None:
        self.lines = lines
        self.keys = keys
        self.payloads = payloads
        self.fills = fills
        self.own = own
        self.tag_ids = tag_ids
        self.multi = multi  # which of them are fragments of multi-sentence messages
        self.buf = buf  # the joined batch, where buf[src_lo[k]:src_hi[k]] is a plain tag block's s:
        self.src_lo = src_lo
        self.src_hi = src_hi


class _Run:
    """A push_lines call's fast lines, with what their runs look up."""

    __slots__ = ("lazy_purge", "scan", "source", "tag_sources", "untimed_before")

    def __init__(
        self, scan: _FastLines, untimed_before: list[int], source: bytes, tag_sources: list[bytes]
    ) -> None:
        self.scan = scan
        self.untimed_before = untimed_before  # untimed_before[k]: fast lines before k without a time
        self.source = source
        self.tag_sources = tag_sources
        self.lazy_purge = False  # may the fast runs leave out purges in the middle of the batch?

    def source_of(self, k: int) -> bytes:
        """Fast line k's source for fragment expiry: its tag block's s:, else the feed's."""
        scan = self.scan
        tag_id = scan.tag_ids[k]
        if tag_id >= 0:
            return self.tag_sources[tag_id] or self.source
        if tag_id == -3:
            return scan.buf[scan.src_lo.item(k) : scan.src_hi.item(k)] or self.source
        return self.source


class NmeaAssembler:
    """Turns feed lines into complete AIS payloads: checks, times, de-duplicates and joins fragments.

    Times: a tag block's `c:` (UNIX seconds, milliseconds above 1e11) or, on USCG-style lines, the
    last comma field of the receiver metadata when it is a 10-digit integer, each within TIME_MIN and
    TIME_MAX. Each feed (`push_lines`'s `source`) has its own `FeedClock`, which refuses a line far
    ahead of or behind the feed's clock (`future_time`, `past_time`; see monitor.clock). A line
    without a time takes its feed's clock, moved on by `clock()` (the wall clock, read once per
    `push_lines` call) when live, otherwise the time of the feed's last timed line (None before any).

    Fragments: a multi-sentence message is keyed by (tag-block source, channel, sequence id, fragment
    count). Its group expires, counted "fragment_expired", when a later line from the same source
    carries a time more than `fragment_timeout_s` after the group's first fragment, or when a new first
    fragment arrives with the same key; a stale group is never joined to a later fragment.

    Duplicates: the same sentence text after the talker id seen again within `dedup_window_s` on the
    feed clock is dropped. Lines whose time is unknown (a replay without timestamps) are never treated
    as duplicates: without a clock, a repeated identical report cannot be told from a copy.
    `dedup_window_s <= 0` turns de-duplication off.
    """

    def __init__(
        self,
        *,
        fragment_timeout_s: float = 10.0,
        dedup_window_s: float = 10.0,
        clock: Callable[[], float] | None = None,
        max_ahead_s: float = 3600.0,
        max_behind_s: float = 21600.0,
        confirm_lines: int = 3,
    ) -> None:
        self.fragment_timeout_s = fragment_timeout_s
        self.dedup_window_s = dedup_window_s
        self._clock = clock
        self.max_ahead_s = max_ahead_s
        self.max_behind_s = max_behind_s
        self.confirm_lines = confirm_lines
        self.clocks: dict[bytes, FeedClock] = {}  # one per feed (push_lines's source)
        self._feed = self._new_clock()  # the clock of the feed whose lines are being pushed (set by it)
        self.rejects: collections.Counter[str] = collections.Counter()
        self.lines = 0
        self.duplicates = 0
        self.other_sentences = 0  # `$` sentences: not AIS, not rejected either
        self.assembled_lines = 0  # lines that ended up in an emitted message
        self._pending_lines = 0
        self._max_time: float | None = None  # latest time seen, drives the dedup memory
        # Per tag-block source (b"" without one), the earliest time at which one of its pending groups
        # goes stale. Fragments expire on their own receiver's clock: satellite receivers forward in
        # bursts whose times run behind other stations', and collected captures jump back and forth.
        self._deadlines: dict[bytes, float] = {}
        self._seen: dict[bytes, float] = {}  # dedup memory, in (roughly) time order
        self._since_purge = 0
        self._pending: dict[tuple[bytes, bytes, bytes, int], _Group] = {}
        self._tag_groups: dict[bytes, tuple[bytes, float | None]] = {}
        # Groups completed lately, so a second receiver's copy of a fragment is known as a duplicate.
        self._completed: dict[tuple[bytes, bytes, bytes, int], tuple[float | None, list[bytes]]] = {}
        self._clock_now: float | None = None  # the clock, read at most once per push_lines call
        # Batches this short go through the per-line code only: the batched path's fixed cost (a few
        # dozen numpy calls) is more than it saves on them. Both paths give the same results.
        self._fast_min_lines = _FAST_MIN_LINES
        # Tag blocks `body*hh` seen lately -> index into _tag_times/_tag_sources, or -1 for one the
        # batched path leaves to the per-line code (bad checksum, malformed, g: group). A feed's
        # consecutive lines mostly share their tag block, so this saves parsing it again and again.
        self._tag_ids: dict[bytes, int] = {}
        self._tag_times: list[float] = []  # NaN: no c: field
        self._tag_sources: list[bytes] = []
        self._tag_cache: dict[bytes, tuple[float | None, bytes, bytes | None]] = {}  # g:-less tag blocks

    @property
    def pending_lines(self) -> int:
        """Fragment lines held in incomplete groups, waiting for the rest of their message, and lines
        their feed clock holds back (see FeedClock)."""
        return self._pending_lines + sum(len(c.held) for c in self.clocks.values())

    def feed_clock(self, source: bytes) -> FeedClock:
        """The clock of feed `source` (made on first use)."""
        feed = self.clocks.get(source)
        if feed is None:
            feed = self.clocks[source] = self._new_clock()
        return feed

    def _new_clock(self) -> FeedClock:
        return FeedClock(max_ahead_s=self.max_ahead_s, max_behind_s=self.max_behind_s,
                         confirm_lines=self.confirm_lines)

    def seed_clock(self, lines: Sequence[bytes], source: bytes = b"") -> None:
        """Before a recording's first batch: set the feed's clock to the batch's median tag-block time, so
        even its first line is judged (a wild first line would otherwise set the clock and hold back
        the lines after it). Only a clock no line has set yet is seeded."""
        seed = _median_tag_time(lines)
        if seed is not None:
            self.feed_clock(source).seed(seed)

    def push_lines(self, lines: Sequence[bytes], source: bytes = b"") -> Messages:
        """Process a batch of lines; returns the messages completed by it, in input order."""
        self._clock_now = None
        self._feed = self.feed_clock(source)
        scan = self._fast_scan(lines) if len(lines) >= self._fast_min_lines else None
        out = self._push_slow(lines, source) if scan is None else self._push_fast(lines, source, scan)
        if out is not None:
            self._purge_seen()
            return out
        return Messages()

    def _push_slow(self, lines: Sequence[bytes], source: bytes) -> Messages | None:
        """Every line through the general per-line code; None when no line was a candidate."""
        candidates, _, hexes, tag_bodies, tag_hexes = self._scan(lines)
        if not candidates:
            return None
        sentence_ok = _checksums_ok([c[1] for c in candidates], hexes)
        tag_ok = _tag_verdicts(candidates, _checksums_ok(tag_bodies, tag_hexes))
        return self._assemble(candidates, sentence_ok, tag_ok, source)

    def _now(self) -> float:
        """The live clock's time, read once per push_lines call (only when a line needs it)."""
        if self._clock_now is None:
            assert self._clock is not None
            self._clock_now = self._clock()
        return self._clock_now

    def end_clocks(self) -> None:
        """End of input: the lines the feed clocks still hold back are refused (counted)."""
        for feed in self.clocks.values():
            feed.end()
            if feed.dropped:
                self._count_dropped(feed)

    def _wall(self) -> float | None:
        """The wall clock when live (read once per push_lines call), None in a replay."""
        return None if self._clock is None else self._now()

    def flush(self) -> None:
        """End of input: count every still incomplete group as expired, every line still held back by
        its feed clock as refused."""
        self.end_clocks()
        for group in self._pending.values():
            self._drop_group(group)
        self._pending.clear()
        self._deadlines.clear()

    # -- pass 1: structure ------------------------------------------------------------------------

    def _scan(
        self, lines: Sequence[bytes], numbers: Sequence[int] | None = None
    ) -> tuple[list[_Candidate], list[int], list[bytes], list[bytes], list[bytes]]:
        """Strip, count and sort out lines that cannot be AIS sentences; collect the rest.

        Returns the candidates, their line numbers (`numbers[i]` for `lines[i]`, default i), their
        checksum digits, and the bodies and checksum digits of the candidates' tag blocks (in
        candidate order).
        """
        candidates: list[_Candidate] = []
        where: list[int] = []
        hexes: list[bytes] = []
        tag_bodies: list[bytes] = []
        tag_hexes: list[bytes] = []
        rejects = self.rejects
        n = 0
        for i, raw in enumerate(lines):
            line = raw.strip()
            if not line:
                continue
            n += 1
            if not line.isascii():
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError:
                    rejects["non_utf8"] += 1
                    continue
            tag: bytes | None = None
            if line[0] == 0x5C:  # a backslash opens an NMEA 4.0 tag block
                end = line.find(b"\\", 1)
                star = line.rfind(b"*", 1, end)
                if end < 0 or star < 0 or end - star != 3 or star == 1:
                    rejects["bad_tag_block"] += 1
                    continue
                tag = line[1:star]
                tag_bodies.append(tag)
                tag_hexes.append(line[star + 1 : end])
                line = line[end + 1 :]
            if line[:1] != b"!" or line[3:6] not in (b"VDM", b"VDO") or not line[1:3].isalpha():
                # (Only here, off the batched path: its scan leaves every line not `!..VDM` to this code.)
                if line[:1] == b"$":
                    self.other_sentences += 1
                else:
                    rejects["unknown_sentence"] += 1
                if tag is not None:  # keep the tag-block lists aligned with the candidates
                    tag_bodies.pop()
                    tag_hexes.pop()
                continue
            star = line.find(b"*")
            hexd = line[star + 1 : star + 3]
            if star < 0 or len(hexd) != 2:
                rejects["bad_checksum"] += 1
                if tag is not None:
                    tag_bodies.pop()
                    tag_hexes.pop()
                continue
            candidates.append((tag, line[1:star], line[star + 3 :]))
            where.append(i if numbers is None else numbers[i])
            hexes.append(hexd)
        self.lines += n
        return candidates, where, hexes, tag_bodies, tag_hexes

    # -- batched path ------------------------------------------------------------------------------

    def _fast_scan(self, lines: Sequence[bytes]) -> _FastLines | None:
        """Find, with numpy over the joined batch, the lines of the common shape: an optional tag block
        with only s:/c: fields (and others that carry nothing for us) and a good checksum, then a
        single-sentence `!xxVDM,1,1,,C,payload,f*hh` (or VDO, channel empty or one character) whose
        checksum holds, payload in the six-bit alphabet, fill 0-5, nothing after the checksum.

        Every other line (blank, padded, multi-sentence, USCG metadata, g: tag groups, anything
        malformed or non-ASCII) is left to the general per-line code. None when the batch as a whole
        does not lend itself (a line holding a newline or a NUL byte).
        """
        n = len(lines)
        buf = b"\n".join(lines)
        if b"\0" in buf:
            return None
        size = len(buf)
        a = np.frombuffer(buf, dtype=np.uint8)
        nl = np.flatnonzero(a == 10)
        if len(nl) != n - 1:
            return None
        starts = np.empty(n, dtype=np.int64)
        starts[0] = 0
        starts[1:] = nl + 1
        ends = np.empty(n, dtype=np.int64)
        ends[:-1] = nl
        ends[-1] = size
        # Zero padding, so fixed offsets past a line's end (or past a missing separator, at `far`) stay
        # inside the array; this copy later receives the split markers.
        pad = np.zeros(size + 64, dtype=np.uint8)
        pad[:size] = a
        far = size + 40
        tagged = pad[starts] == 0x5C
        bsl = np.append(np.flatnonzero(a == 0x5C), far)
        closing = bsl[np.searchsorted(bsl, starts + 1)]  # the backslash closing the tag block
        hexv = _HEX
        tag_hex_ok = (
            (closing < ends)
            & (closing - 3 >= starts + 2)
            & (pad[closing - 3] == 0x2A)
            & (hexv[pad[closing - 2]] < 16)
            & (hexv[pad[closing - 1]] < 16)
        )
        ok = (tagged & tag_hex_ok) | (pad[starts] == 0x21)
        ss = np.where(tagged, np.minimum(closing + 1, size), starts)  # the sentence's '!'
        ok &= pad[ss] == 0x21
        ok &= _ALPHA[pad[ss + 1]] & _ALPHA[pad[ss + 2]]
        ok &= (pad[ss + 3] == 0x56) & (pad[ss + 4] == 0x44) & ((pad[ss + 5] == 0x4D) | (pad[ss + 5] == 0x4F))
        ok &= (pad[ss + 6] == 0x2C) & (pad[ss + 8] == 0x2C) & (pad[ss + 10] == 0x2C)
        # Fragment count and number: one digit each, 1 <= number <= count (else left to the per-line
        # code, which tells a bad fragment from a truncated sentence).
        count, number = pad[ss + 7], pad[ss + 9]
        ok &= (number >= 0x31) & (number <= count) & (count <= 0x39)
        multi = count != 0x31
        # Sequence id and channel: empty or one character each.
        seq_one = (pad[ss + 11] != 0x2C) & (pad[ss + 12] == 0x2C)
        ok &= seq_one | (pad[ss + 11] == 0x2C)
        cpos = ss + 12 + seq_one
        channel_one = (pad[cpos] != 0x2C) & (pad[cpos + 1] == 0x2C)
        ok &= channel_one | (pad[cpos] == 0x2C)
        ok &= (pad[ss + 11] != 0x2A) & (pad[cpos] != 0x2A)
        pstart = cpos + 1 + channel_one
        # The checksum ends the line (nothing after it), and its '*' is the sentence's first: the
        # characters before it are fixed ones, the two above, and payload ones (checked below).
        sstar = ends - 3
        ok &= (pad[sstar] == 0x2A) & (sstar - 2 > pstart)
        ok &= (pad[sstar - 2] == 0x2C) & (pad[sstar - 1] >= 0x30) & (pad[sstar - 1] <= 0x35)
        ok &= (hexv[pad[sstar + 1]] < 16) & (hexv[pad[sstar + 2]] < 16)
        if not buf.isascii():
            high = np.flatnonzero(a >= 0x80)
            ok[np.searchsorted(starts, high, side="right") - 1] = False
        cand = np.flatnonzero(ok)
        # The usual tag block, `s:<source>,c:<10 digits>`, is read here with numpy; the others are
        # parsed from their text (and cached) below.
        plain = np.zeros(n, dtype=bool)
        plain_t = np.zeros(n, dtype=np.float64)
        tag_lo = ss + 1  # the checksummed body of a plain tag block (else an empty segment)
        tag_hi = ss + 1
        if len(cand):
            ct = cand[tagged[cand]]
            if len(ct):
                body, tstar = starts[ct] + 1, closing[ct] - 3
                p = (tstar - 13 >= body + 2) & (pad[body] == 0x73) & (pad[body + 1] == 0x3A)
                p &= (pad[tstar - 13] == 0x2C) & (pad[tstar - 12] == 0x63) & (pad[tstar - 11] == 0x3A)
                value = np.zeros(len(ct), dtype=np.int64)
                for j in range(10, 0, -1):
                    digit = pad[tstar - j].astype(np.int64) - 0x30
                    p &= (digit >= 0) & (digit <= 9)
                    value = value * 10 + digit
                # No comma before the one ahead of `c:` (the source holds none): one pass over the buffer
                # for every line's segment at once.
                segments = np.empty(2 * len(ct), dtype=np.int64)
                segments[0::2] = body
                segments[1::2] = np.clip(tstar - 13, 0, size - 1)
                p &= ~np.logical_or.reduceat(a == 0x2C, segments)[0::2]
                p &= (value >= TIME_MIN) & (value < TIME_MAX)  # else the per-line code refuses it
                plain[ct] = p
                plain_t[ct] = value  # below 1e11: seconds, as float() of the digits gives
                tag_lo[ct[p]] = body[p]
                tag_hi[ct[p]] = tstar[p]
            # The checksums of the sentences and of the plain tag blocks, over segments of the buffer.
            bounds = np.empty(4 * len(cand), dtype=np.int64)
            bounds[0::4] = tag_lo[cand]
            bounds[1::4] = tag_hi[cand]
            bounds[2::4] = ss[cand] + 1
            bounds[3::4] = sstar[cand]
            xor = np.bitwise_xor.reduceat(a, bounds)
            expected = hexv[pad[sstar[cand] + 1]] * 16 + hexv[pad[sstar[cand] + 2]]
            bad = xor[2::4] != expected
            cp = plain[cand]
            tag_expected = hexv[pad[closing[cand] - 2]] * 16 + hexv[pad[closing[cand] - 1]]
            bad |= cp & (xor[0::4] != tag_expected)
            ok[cand[bad]] = False
        fast = np.flatnonzero(ok)
        nf = len(fast)
        if nf == 0:
            return _FastLines(fast, (), (), (), np.empty(0, dtype=np.float64), (), [], buf, fast, fast)
        # Cut the pieces out in one split at NUL markers: the tag block `body*hh` after the opening
        # backslash up to the closing one (unless plain), and the sentence after its talker id up to
        # its '*'.
        fplain = plain[fast]
        ftag = tagged[fast] & ~fplain
        fs, fss, fstar = starts[fast], ss[fast], sstar[fast]
        at = fss - fs  # where the sentence starts in its line
        pieces: list[bytes] = []
        first = at  # (replaced below where tag blocks are cut out of the split)
        if not ftag.any() and (at == at[0]).all():
            # The usual batch: every tag block plain and of one length (one source, whole seconds), so
            # the key and the payload sit at the same place from either end of each line: slices at
            # C speed, straight from the lines.
            mine = (
                lines
                if nf == n
                else (operator.itemgetter(*fast.tolist())(lines) if nf > 1 else (lines[fast[0]],))
            )
            keys = list(map(operator.itemgetter(slice(int(at[0]) + 3, -3)), mine))
            payload_at = pstart[fast] - fs
            usual = int(np.bincount(payload_at).argmax())
            payloads = list(map(operator.itemgetter(slice(usual, -5)), mine))
            others = np.flatnonzero(payload_at != usual)
            for k, p in zip(others.tolist(), payload_at[others].tolist(), strict=True):
                payloads[k] = mine[k][p:-5]
        else:
            # Else cut the pieces out in one split at NUL markers: the tag block `body*hh` after the
            # opening backslash up to the closing one (unless plain), and the sentence after its
            # talker id up to its '*'.
            pad[fs[ftag]] = 0
            pad[closing[fast][ftag]] = 0
            pad[fss + 2] = 0
            pad[fstar] = 0
            pieces = pad[:size].tobytes().split(b"\0")
            n_marks = 2 + 2 * ftag.astype(np.int64)
            first = np.cumsum(n_marks) - n_marks
            keys = list(map(pieces.__getitem__, (first + 1 + 2 * ftag).tolist()))
            # The payload starts 11 bytes into the key when the sequence id is empty and the channel
            # one character (",1,1,,A,"): cut them all so, then redo the others.
            key_at = pstart[fast] - fss - 3
            payloads = list(map(operator.itemgetter(slice(11, -2)), keys))
            for k, p in zip(
                np.flatnonzero(key_at != 11).tolist(), key_at[key_at != 11].tolist(), strict=True
            ):
                payloads[k] = keys[k][p:-2]
        fills = (pad[fstar - 1] - 0x30).tolist()
        # Payload characters outside the six-bit alphabet: rare, so one look at all payloads at once.
        keep = np.ones(nf, dtype=bool)
        if b"".join(payloads).translate(None, SIXBIT_ALPHABET):
            keep[[bool(p.translate(None, SIXBIT_ALPHABET)) for p in payloads]] = False
        # Tag blocks: cached (time, source) by their text, parsed only when new.
        tag_id = np.full(nf, -2, dtype=np.int64)  # -2: no tag block, -3: a plain one
        tag_id[fplain] = -3
        if ftag.any():
            ids = self._tag_ids
            if len(ids) > _MAX_TAG_CACHE:
                ids.clear()
                self._tag_times.clear()
                self._tag_sources.clear()
            tag_pieces = list(map(pieces.__getitem__, (first[ftag] + 1).tolist()))
            looked = list(map(ids.get, tag_pieces))
            if None in looked:
                for piece in set(
                    itertools.compress(tag_pieces, map(operator.is_, looked, itertools.repeat(None)))
                ):
                    parsed = _simple_tag(piece)
                    if parsed is None:
                        ids[piece] = -1
                    else:
                        ids[piece] = len(self._tag_times)
                        self._tag_times.append(_NAN if parsed[0] is None else parsed[0])
                        self._tag_sources.append(parsed[1])
                looked = list(map(ids.__getitem__, tag_pieces))
            tag_id[ftag] = cast("list[int]", looked)
        keep &= tag_id != -1
        own = np.where(fplain, plain_t[fast], _NAN)
        has = tag_id >= 0
        if has.any():
            own[has] = np.asarray(self._tag_times, dtype=np.float64)[tag_id[has]]
        src_lo = fs + 3  # a plain tag block's source: buf[src_lo:src_hi]
        src_hi = closing[fast] - 16
        if not keep.all():
            sel = np.flatnonzero(keep)
            ok[fast[~keep]] = False
            fast, tag_id, own, src_lo, src_hi = fast[sel], tag_id[sel], own[sel], src_lo[sel], src_hi[sel]
            picked = sel.tolist()
            keys = [keys[i] for i in picked]
            payloads = [payloads[i] for i in picked]
            fills = [fills[i] for i in picked]
        # Tuples, not lists: the collector stops tracking a tuple of bytes and ints the first time it
        # sees one, where a list would be walked again at every collection while the batch is processed.
        return _FastLines(
            fast,
            tuple(keys),
            tuple(payloads),
            tuple(fills),
            own,
            tuple(tag_id.tolist()),
            np.flatnonzero(multi[fast]).tolist(),
            buf,
            src_lo,
            src_hi,
        )

    def _push_fast(self, lines: Sequence[bytes], source: bytes, scan: _FastLines) -> Messages | None:
        """The batched path: runs of common lines in bulk, the lines between them one by one, in order."""
        fast = scan.lines
        nf = len(fast)
        self.lines += nf
        slow = np.ones(len(lines), dtype=bool)
        slow[fast] = False
        slow_at = np.flatnonzero(slow)
        candidates: list[_Candidate] = []
        where: list[int] = []
        sentence_ok: list[bool] = []
        tag_ok: list[bool | None] = []
        if len(slow_at):
            numbers = slow_at.tolist()
            candidates, where, hexes, tag_bodies, tag_hexes = self._scan([lines[i] for i in numbers], numbers)
            sentence_ok = _checksums_ok([c[1] for c in candidates], hexes)
            tag_ok = _tag_verdicts(candidates, _checksums_ok(tag_bodies, tag_hexes))
        if not candidates and nf == 0:
            return None
        out = Messages()
        # Where each slow candidate falls among the fast lines: the runs between them go in bulk.
        cuts = np.searchsorted(fast, np.asarray(where, dtype=np.int64)).tolist() if candidates else []
        untimed = np.isnan(scan.own)
        untimed_before = np.zeros(nf + 1, dtype=np.int64)
        np.cumsum(untimed, out=untimed_before[1:])
        run = _Run(scan, untimed_before.tolist(), source, self._tag_sources)
        # Purges in the middle of a batch change nothing that shows while the memory cannot reach its
        # hard bound within the batch (each line adds at most one entry): an entry they drop is older
        # than the window, so a later line finds it "forgotten" either way, and the purge at the end
        # of the batch leaves the same memory. So the fast runs leave them out then; near the bound
        # they go in chunks that end where a purge is due, as line by line.
        run.lazy_purge = len(self._seen) + len(lines) < _MAX_DEDUP_ENTRIES
        # The lines taken one at a time, in line order: the slow candidates (events -1 - i) and the
        # fast fragments of multi-sentence messages (events k, their index among the fast lines).
        events = sorted(
            itertools.chain(
                zip(where, range(-1, -1 - len(candidates), -1)),
                zip(fast[scan.multi].tolist(), scan.multi),
            )
        )
        done = 0  # fast lines before this one are processed
        e = 0
        n_events = len(events)
        while e < n_events:
            event = events[e][1]
            if event >= 0:
                if event > done:
                    self._fast_run(run, done, event, out)
                self._fast_fragment(run, event, out)
                done = event + 1
                e += 1
                continue
            i = -1 - event
            cut = cuts[i]
            if cut > done:
                self._fast_run(run, done, cut, out)
                done = cut
            j = i + 1  # the slow candidates right after it, with no fast line between, go along
            while e + 1 < n_events and events[e + 1][1] == -1 - j and cuts[j] == cut:
                j += 1
                e += 1
            self._assemble(candidates[i:j], sentence_ok[i:j], tag_ok[i:j], source, out)
            e += 1
        if done < nf:
            self._fast_run(run, done, nf, out)
        return out

    def _fast_fragment(self, run: _Run, k: int, out: Messages) -> None:
        """Fast line k, a well-formed fragment of a multi-sentence message: as in `_assemble`."""
        scan = run.scan
        _, count, number, seq, channel, _, _ = scan.keys[k].split(b",")
        own = float(scan.own[k])
        src = run.source_of(k)
        t = self._stamp(None if math.isnan(own) else own, src, None, out)
        if t == _HELD:
            return
        self._fragment(t, src, channel, seq, int(count), int(number), scan.payloads[k], scan.fills[k], out)

    def _fast_run(self, run: _Run, lo: int, hi: int, out: Messages) -> None:
        """Fast lines lo..hi-1 (single-sentence, well formed, in order, nothing else between them)."""
        scan = run.scan
        n = hi - lo
        n_untimed = run.untimed_before[hi] - run.untimed_before[lo]
        if n_untimed == 0:
            own = scan.own[lo:hi]
            if not self._feed.accepts_run(own, self._wall()):
                self._run_one_by_one(run, lo, hi, out)  # a refused line in the run: exactly, line by line
                return
            ts: list[float] = own.tolist()
        elif n_untimed == n:
            fill_t = self._feed.fill(self._wall())
            if fill_t is None:  # no time at all yet: no expiry, no de-duplication
                self.assembled_lines += n
                out.add_columns([None] * n, scan.payloads[lo:hi], scan.fills[lo:hi])
                return
            ts = [fill_t] * n
        else:
            self._run_one_by_one(run, lo, hi, out)
            return
        keys = scan.keys[lo:hi]
        window = self.dedup_window_s
        run_max = max(ts)
        prev_max = self._max_time
        deadlines = self._deadlines
        if deadlines and min(deadlines.values()) < run_max:
            # Some source's pending fragments may go stale here: check line by line, as they come
            # (only the lines past the earliest deadline can expire anything).
            lowest = min(deadlines.values())
            for k, t in enumerate(ts, lo):
                if t > lowest:
                    src = run.source_of(k)
                    deadline = deadlines.get(src)
                    if deadline is not None and t > deadline:
                        self._expire_source(src, t)
                        if not deadlines:
                            break
                        lowest = min(deadlines.values())
        payloads = scan.payloads[lo:hi]
        fills = scan.fills[lo:hi]
        if window <= 0:
            self._max_time = run_max if prev_max is None or run_max > prev_max else prev_max
            self.assembled_lines += n
            out.add_columns(ts, payloads, fills)
            return
        seen = self._seen
        maxes: list[float] | None = None  # running feed-clock maximum, line by line, when needed
        dropped: list[int] = []
        pos = 0
        bounded = run.lazy_purge
        while pos < n:
            end = n if bounded else min(n, pos + _PURGE_EVERY - self._since_purge)
            chunk = keys[pos:end] if pos or end < n else keys
            accepted = end - pos
            # Usually none of the sentences is in the memory: one C-level pass tells.
            all_new = seen.keys().isdisjoint(chunk)
            prevs: list[float | None] = [] if all_new else list(map(seen.get, chunk))
            one_by_one = False
            if all_new:
                before = len(seen)
                seen.update(zip(chunk, ts[pos:end] if pos or end < n else ts))
                if len(seen) - before != accepted:
                    # A sentence repeated within the chunk: all its keys were new, so taking them out
                    # again restores the memory as it was; then line by line.
                    collections.deque(map(seen.pop, chunk, itertools.repeat(None)), maxlen=0)
                    one_by_one = True
            elif len(set(chunk)) != accepted:
                one_by_one = True
            if (one_by_one or not all_new) and maxes is None:
                maxes = (
                    list(itertools.accumulate(ts, max, initial=prev_max))[1:]
                    if prev_max is not None
                    else list(itertools.accumulate(ts, max))
                )
            if one_by_one:
                assert maxes is not None
                self._dedup_one_by_one(keys, ts, maxes, pos, end, dropped)
                pos = end
                continue
            if not all_new:
                assert maxes is not None
                dup_here: list[int] = []
                for k, prev in enumerate(prevs, pos):
                    if prev is None:
                        continue
                    t = ts[k]
                    if _seen_lately(prev, t, window, maxes[k]):
                        dup_here.append(k)
                    else:
                        # Moved to the end below, to keep the memory in time order (a purge may
                        # already have removed it).
                        seen.pop(keys[k], None)
                if dup_here:
                    accepted -= len(dup_here)
                    skip = set(dup_here)
                    seen.update((keys[k], ts[k]) for k in range(pos, end) if k not in skip)
                    dropped += dup_here
                else:
                    seen.update(zip(chunk, ts[pos:end]))
            self._since_purge += accepted
            if self._since_purge >= _PURGE_EVERY and not bounded:
                # The purge comes right after the chunk's last line, on the clock as it stood there.
                if maxes is None:
                    last = max(ts[:end])
                    self._max_time = last if prev_max is None or last > prev_max else prev_max
                else:
                    self._max_time = maxes[end - 1]
                self._purge_seen()
            pos = end
        self._max_time = run_max if prev_max is None or run_max > prev_max else prev_max
        if dropped:
            self.duplicates += len(dropped)
            skip = set(dropped)
            kept = [k for k in range(n) if k not in skip]
            self.assembled_lines += len(kept)
            out.extend((ts[k], payloads[k], fills[k]) for k in kept)
        else:
            self.assembled_lines += n
            out.add_columns(ts, payloads, fills)

    def _dedup_one_by_one(
        self,
        keys: Sequence[bytes],
        ts: list[float],
        maxes: list[float],
        pos: int,
        end: int,
        dropped: list[int],
    ) -> None:
        """De-duplicate keys[pos:end] line by line (the steps of `_assemble`), appending the indices of
        duplicates to `dropped`; `maxes[k]` is the feed clock's maximum at line k."""
        seen = self._seen
        window = self.dedup_window_s
        for k in range(pos, end):
            key = keys[k]
            t = ts[k]
            prev = seen.get(key)
            if prev is not None:
                if _seen_lately(prev, t, window, maxes[k]):
                    dropped.append(k)
                    continue
                del seen[key]
            seen[key] = t
            self._since_purge += 1
            if self._since_purge >= _PURGE_EVERY:
                self._max_time = maxes[k]
                self._purge_seen()

    def _stamp(
        self, t: float | None, src: bytes, item: tuple[bytes, bytes, bytes, int] | None, out: Messages
    ) -> float | None:
        """A line's time: its own, else its feed's clock (see FeedClock.fill). A timed line the feed clock
        holds back gives _HELD: `item` (source, dedup key, payload, fill bits of a single sentence; None
        for a fragment, which is not kept) waits in the clock's `held`, and goes on to `out` if the
        clock confirms the jump. A timed line moves the feed clock on and expires its source's stale
        fragment groups."""
        if t is None:
            t = self._feed.fill(self._wall())
        else:
            feed = self._feed
            verdict = feed.check(t, self._wall())
            if feed.dropped:
                self._count_dropped(feed)
            if verdict == HOLD:
                feed.held.append((t, item))
                return _HELD
            if verdict == CONFIRM:
                self._release(feed, out)
        if t is not None:
            self._moved_to(t, src)
        return t

    def _moved_to(self, t: float, src: bytes) -> None:
        """An accepted line's time moves the de-duplication clock and expires stale fragment groups."""
        if self._max_time is None or t > self._max_time:
            self._max_time = t
        deadline = self._deadlines.get(src)
        if deadline is not None and t > deadline:
            self._expire_source(src, t)

    def _release(self, feed: FeedClock, out: Messages) -> None:
        """The lines a feed clock held back were a real jump: on they go, in order, as they would have."""
        held, feed.held = feed.held, []
        for t, item in held:
            if item is None:  # a fragment: its group was not kept waiting
                self.rejects[feed.run_reason] += 1
                continue
            src, key, payload, fill = item
            self._moved_to(t, src)
            self._single(t, key, payload, fill, out)

    def _single(self, t: float | None, key: bytes, payload: bytes, fill: int, out: Messages) -> None:
        """A single-sentence message with its time: into `out`, unless it is a duplicate (`key`: the sentence
        after the talker id). Untimed lines are never duplicates."""
        if t is not None and self.dedup_window_s > 0 and self._duplicate(key, t):
            return
        self.assembled_lines += 1
        out.append((t, payload, fill))

    def _count_dropped(self, feed: FeedClock) -> None:
        """Count the held lines a feed clock has just refused."""
        self.rejects[feed.dropped_reason] += feed.dropped
        feed.dropped = 0

    def _duplicate(self, key: bytes, t: float) -> bool:
        """Was this sentence seen within the dedup window? If not, remember it (in time order)."""
        seen = self._seen
        prev = seen.get(key)
        if prev is not None:
            window = self.dedup_window_s
            # _max_time is not None here: every caller has just passed t through _moved_to, which sets it.
            if _seen_lately(prev, t, window, self._max_time):  # type: ignore[arg-type]
                self.duplicates += 1
                return True
            del seen[key]  # re-insert at the end to keep the dict in time order
        seen[key] = t
        self._since_purge += 1
        if self._since_purge >= _PURGE_EVERY:
            self._purge_seen()
        return False

    def _run_one_by_one(self, run: _Run, lo: int, hi: int, out: Messages) -> None:
        """Fast lines lo..hi-1 line by line: the same steps as a single sentence in `_assemble`."""
        scan = run.scan
        own = scan.own[lo:hi].tolist()
        for k in range(lo, hi):
            src = run.source_of(k)
            t = self._stamp(
                None if math.isnan(own[k - lo]) else own[k - lo], src, (src, scan.keys[k], scan.payloads[k],
                                                                        scan.fills[k]), out
            )
            if t != _HELD:
                self._single(t, scan.keys[k], scan.payloads[k], scan.fills[k], out)

    # -- pass 2: state (time, dedup, fragments) ---------------------------------------------------

    def _assemble(
        self,
        candidates: Sequence[_Candidate],
        sentence_ok: Sequence[bool],
        tag_ok: Sequence[bool | None],
        source: bytes = b"",
        out: Messages | None = None,
    ) -> Messages:
        """The lines' state in order: tag groups, times, expiry, de-duplication and reassembly.

        `tag_ok[i]` is the checksum verdict of candidate i's tag block (None without one). Messages
        are appended to `out` (a new list by default), which is returned.
        """
        if out is None:
            out = Messages()
        rejects = self.rejects
        fill_bits = _FILL_BITS
        alphabet = SIXBIT_ALPHABET
        for i, (tag, body, rest) in enumerate(candidates):
            t: float | None = None
            src = source  # a line's own tag-block s: wins; else the feed it came from
            if tag is not None:
                if not tag_ok[i]:
                    rejects["bad_tag_block"] += 1
                    continue
                parsed = self._parse_tag(tag)
                if parsed is None:
                    rejects["bad_tag_block"] += 1
                    continue
                t, tag_src = parsed
                if tag_src:
                    src = tag_src
            if not sentence_ok[i]:
                rejects["bad_checksum"] += 1
                continue
            fields = body.split(b",")
            if len(fields) != 7:
                rejects["truncated"] += 1
                continue
            _, count, number, seq, channel, payload, fill_txt = fields
            fill = fill_bits.get(fill_txt)
            if fill is None or not payload or payload.translate(None, alphabet):
                rejects["truncated"] += 1
                continue
            single = count == b"1" and number == b"1"
            if not single:
                if not (count.isdigit() and number.isdigit()):
                    rejects["truncated"] += 1
                    continue
                n_count = int(count)
                n_number = int(number)
                if not (1 <= n_number <= n_count <= _MAX_FRAGMENTS):
                    rejects["bad_fragment"] += 1
                    continue
            # The sentence is well formed: give it a time.
            if t is None and rest[:1] == b",":
                last = rest[rest.rfind(b",") + 1 :]
                if len(last) == 10 and last.isdigit() and TIME_MIN <= float(last) < TIME_MAX:
                    t = float(last)
            t = self._stamp(t, src, (src, body[2:], payload, fill) if single else None, out)
            if t == _HELD:
                continue
            # The sentence after the talker id (fragment fields, payload, fill). Multi-sentence
            # messages are de-duplicated whole, once assembled: their later fragments are often
            # identical across vessels (a type 5's all-zero tail).
            if single:
                self._single(t, body[2:], payload, fill, out)
                continue
            self._fragment(t, src, channel, seq, n_count, n_number, payload, fill, out)
        return out

    def _fragment(
        self,
        t: float | None,
        src: bytes,
        channel: bytes,
        seq: bytes,
        n_count: int,
        n_number: int,
        payload: bytes,
        fill: int,
        out: Messages,
    ) -> None:
        """One well-formed fragment of a multi-sentence message, its time known (or None): join it to its
        group, and append the message to `out` when it completes it."""
        window = self.dedup_window_s
        dedup = window > 0
        seen = self._seen
        rejects = self.rejects
        gkey = (src, channel, seq, n_count)
        group = self._pending.get(gkey)
        if n_number == 1:
            if group is not None:
                if dedup and group.parts[0] == payload and _close(group.time, t, window):
                    # The same first fragment again: a second receiver without a source of its
                    # own, interleaved with the first.
                    self.duplicates += 1
                    return
                # A new message reuses the key: the old one is abandoned.
                self._drop_group(group)
                del self._pending[gkey]
            elif len(self._pending) >= _MAX_PENDING_GROUPS:
                oldest = next(iter(self._pending))
                self._drop_group(self._pending.pop(oldest))
            self._pending[gkey] = _Group(t, src, payload)
            self._pending_lines += 1
            if t is not None and t + self.fragment_timeout_s < self._deadlines.get(src, math.inf):
                self._deadlines[src] = t + self.fragment_timeout_s
            return
        if group is None or n_number != group.last + 1:
            if dedup:
                # A repeat of a fragment already held, or of one of a message completed moments
                # ago, from a second receiver interleaved with the first.
                parts = group.parts if group is not None else None
                if parts is None:
                    done = self._completed.get(gkey)
                    if done is not None and _close(done[0], t, window):
                        parts = done[1]
                if parts is not None and n_number <= len(parts) and parts[n_number - 1] == payload:
                    self.duplicates += 1
                    return
            rejects["bad_fragment"] += 1  # a continuation with no (live) start before it
            return
        group.parts.append(payload)
        group.last = n_number
        self._pending_lines += 1
        if n_number == n_count:
            del self._pending[gkey]
            self._pending_lines -= n_count
            joined = b"".join(group.parts)
            if dedup:
                completed = self._completed
                completed.pop(gkey, None)
                completed[gkey] = (group.time, group.parts)
                if len(completed) > _MAX_COMPLETED:
                    del completed[next(iter(completed))]
                gt = group.time
                max_t = self._max_time
                if gt is not None and max_t is not None:
                    mkey = b"M" + joined  # the whole message, from whichever receiver
                    prev = seen.get(mkey)
                    if prev is not None:
                        if _seen_lately(prev, gt, window, max_t):
                            self.duplicates += n_count
                            return
                        del seen[mkey]
                    seen[mkey] = gt
            self.assembled_lines += n_count
            out.append((group.time, joined, fill))

    def _parse_tag(self, tag: bytes) -> tuple[float | None, bytes] | None:
        """(time, source) from a checksum-verified tag block; None when a field is malformed.

        A sentence of a tag-block group (`g:2-2-1604`) without its own `s:`/`c:` takes those of the
        group's first sentence, so its fragments still meet the first one's.
        """
        fields = self._tag_cache.get(tag)
        if fields is None:
            fields = _tag_fields(tag)
            if fields is None:
                return None
            if fields[2] is None:  # the same text always means the same time and source
                if len(self._tag_cache) >= _MAX_TAG_CACHE:
                    self._tag_cache.clear()
                self._tag_cache[tag] = fields
        t, src, group = fields
        if group is not None:
            parts = group.split(b"-")
            if len(parts) != 3 or not all(p.isdigit() for p in parts):
                return None
            number, total, gid = parts
            if number == b"1":
                self._tag_groups[gid] = (src, t)
                if len(self._tag_groups) > _MAX_TAG_GROUPS:
                    del self._tag_groups[next(iter(self._tag_groups))]
            else:
                first = self._tag_groups.get(gid)
                if first is not None:
                    if not src:
                        src = first[0]
                    if t is None:
                        t = first[1]
                    if number == total:
                        del self._tag_groups[gid]
        return t, src

    def _expire_source(self, source: bytes, now: float) -> None:
        """Drop the groups of `source` older than the timeout at `now`, a time that source sent."""
        limit = self.fragment_timeout_s
        pending = self._pending
        stale = [
            k
            for k, g in pending.items()
            if g.source == source and g.time is not None and now - g.time > limit
        ]
        for k in stale:
            self._drop_group(pending.pop(k))
        times = [g.time for g in pending.values() if g.source == source and g.time is not None]
        if times:
            self._deadlines[source] = min(times) + limit
        else:
            del self._deadlines[source]

    def _drop_group(self, group: _Group) -> None:
        n = len(group.parts)
        self.rejects["fragment_expired"] += n
        self._pending_lines -= n

    def _purge_seen(self) -> None:
        """Forget dedup entries older than the window; the dict is in insertion (time) order."""
        self._since_purge = 0
        seen = self._seen
        if not seen:
            return
        if self._max_time is not None:
            cutoff = self._max_time - self.dedup_window_s
            # The leading entries older than the cutoff, counted in chunks of the values with numpy
            # (a Python loop over them cost about as much as the rest of the batched path).
            count = 0
            values = iter(seen.values())
            step = _PURGE_CHUNK
            while True:
                chunk = np.fromiter(itertools.islice(values, step), dtype=np.float64)
                below = chunk < cutoff
                if len(chunk) == 0 or not below.all():
                    count += int(np.argmin(below)) if len(chunk) else 0
                    break
                count += len(chunk)
                step *= 4  # a long run of old entries: larger steps
            if count > len(seen) - count:  # fewer stay than go: build the dict again from them
                survivors = list(itertools.islice(seen.items(), count, None))
                seen.clear()
                seen.update(survivors)
            elif count:
                old = list(itertools.islice(seen, count))
                collections.deque(map(seen.__delitem__, old), maxlen=0)
        while len(seen) > _MAX_DEDUP_ENTRIES:
            del seen[next(iter(seen))]
