"""NMEA layer: raw feed lines in, armoured AIS payloads (fragments joined) out.

The assembler is the first step of the pipeline and sees every line of every feed, so the per-line
work is kept to a few C-level bytes operations (strip, find, split, translate). The XOR checksums of
the sentence and of the tag block are the only byte-by-byte work; they are computed for the whole
batch at once with numpy (`np.bitwise_xor.reduceat`) instead of a Python loop per character.

Accounting (each non-blank line lands in exactly one bucket, see `NmeaAssembler.pending_lines`)::

    lines == assembled_lines + sum(rejects.values()) + duplicates + pending_lines

`rejects` counts lines: "fragment_expired" counts the fragment lines of groups that went stale (or were
replaced by a new first fragment, or were still incomplete at `flush()`), "bad_fragment" the fragment
lines that fit no group. Decoding problems of complete payloads (payload too short for its type,
out-of-range values) are counted later by `monitor.decode`.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable, Sequence

import numpy as np

REJECT_REASONS: tuple[str, ...] = (
    "bad_checksum",
    "truncated",
    "unknown_sentence",
    "bad_tag_block",
    "non_utf8",
    "out_of_range",
    "bad_fragment",
    "fragment_expired",
)

RawMessage = tuple[float | None, bytes, int]
"""(receive time in UNIX seconds on the feed clock or None, armoured payload, fill bits)."""

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

# Hex digit value for each byte; 255 marks a byte that is not a hex digit.
_HEX = np.full(256, 255, dtype=np.uint16)
for _i, _c in enumerate(b"0123456789ABCDEF"):
    _HEX[_c] = _i
for _i, _c in enumerate(b"abcdef"):
    _HEX[_c] = 10 + _i


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


def _close(t1: float | None, t2: float | None, window: float) -> bool:
    """Are two fragment times known and within the dedup window? Untimed lines are never duplicates."""
    if t1 is None or t2 is None:
        return False
    return abs(t1 - t2) <= window


class _Group:
    """The fragments received so far of one multi-sentence message."""

    __slots__ = ("time", "source", "last", "parts")

    def __init__(self, time: float | None, source: bytes, payload: bytes) -> None:
        self.time = time
        self.source = source
        self.last = 1
        self.parts = [payload]


# A line that passed the cheap structural checks and waits for the batched checksum verdict:
# (tag block or None, sentence body between '!' and '*', text after the checksum).
_Candidate = tuple[bytes | None, bytes, bytes]


class NmeaAssembler:
    """Turns feed lines into complete AIS payloads: checks, times, de-duplicates and joins fragments.

    Times: a tag block's `c:` (UNIX seconds, milliseconds above 1e11) or, on USCG-style lines, the
    last comma field of the receiver metadata when it is a 10-digit integer. A line without either
    takes `clock()` (read once per `push_lines` call) when a clock is given, otherwise the time of
    the last timed line (None before any).

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
    ) -> None:
        self.fragment_timeout_s = fragment_timeout_s
        self.dedup_window_s = dedup_window_s
        self._clock = clock
        self.rejects: collections.Counter[str] = collections.Counter()
        self.lines = 0
        self.duplicates = 0
        self.assembled_lines = 0  # lines that ended up in an emitted message
        self._pending_lines = 0
        self._last_time: float | None = None  # time of the last timed line (replay clock)
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

    @property
    def pending_lines(self) -> int:
        """Fragment lines held in incomplete groups, waiting for the rest of their message."""
        return self._pending_lines

    def push_lines(self, lines: Sequence[bytes], source: bytes = b"") -> list[RawMessage]:
        """Process a batch of lines; returns the messages completed by it, in input order."""
        candidates, hexes, tag_bodies, tag_hexes = self._scan(lines)
        if not candidates:
            return []
        sentence_ok = _checksums_ok([c[1] for c in candidates], hexes)
        tag_ok = _checksums_ok(tag_bodies, tag_hexes)
        out = self._assemble(candidates, sentence_ok, tag_ok, source)
        self._purge_seen()
        return out

    def flush(self) -> None:
        """End of input: count every still incomplete group as expired."""
        for group in self._pending.values():
            self._drop_group(group)
        self._pending.clear()
        self._deadlines.clear()

    # -- pass 1: structure ------------------------------------------------------------------------

    def _scan(
        self, lines: Sequence[bytes]
    ) -> tuple[list[_Candidate], list[bytes], list[bytes], list[bytes]]:
        """Strip, count and sort out lines that cannot be AIS sentences; collect the rest.

        Returns the candidates, their checksum digits, and the bodies and checksum digits of the
        candidates' tag blocks (in candidate order).
        """
        candidates: list[_Candidate] = []
        hexes: list[bytes] = []
        tag_bodies: list[bytes] = []
        tag_hexes: list[bytes] = []
        rejects = self.rejects
        n = 0
        for raw in lines:
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
            hexes.append(hexd)
        self.lines += n
        return candidates, hexes, tag_bodies, tag_hexes

    # -- pass 2: state (time, dedup, fragments) ---------------------------------------------------

    def _assemble(
        self, candidates: list[_Candidate], sentence_ok: list[bool], tag_ok: list[bool], source: bytes = b""
    ) -> list[RawMessage]:
        out: list[RawMessage] = []
        emit = out.append
        rejects = self.rejects
        seen = self._seen
        window = self.dedup_window_s
        dedup = window > 0
        fill_bits = _FILL_BITS
        alphabet = SIXBIT_ALPHABET
        clock_now: float | None = None
        ti = 0
        for i, (tag, body, rest) in enumerate(candidates):
            t: float | None = None
            src = source  # a line's own tag-block s: wins; else the feed it came from
            if tag is not None:
                good_tag = tag_ok[ti]
                ti += 1
                if not good_tag:
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
                if len(last) == 10 and last.isdigit():
                    t = float(last)
            if t is None:
                if self._clock is not None:
                    if clock_now is None:
                        clock_now = self._clock()
                    t = clock_now
                else:
                    t = self._last_time
            else:
                self._last_time = t
            if t is not None:
                max_t = self._max_time
                if max_t is None or t > max_t:
                    max_t = self._max_time = t
                deadline = self._deadlines.get(src)
                if deadline is not None and t > deadline:
                    self._expire_source(src, t)
                if dedup and single:
                    # The sentence after the talker id: fragment fields, payload, fill. Multi-sentence
                    # messages are de-duplicated whole, once assembled, below: their later fragments
                    # are often identical across vessels (a type 5's all-zero tail).
                    key = body[2:]
                    prev = seen.get(key)
                    if prev is not None:
                        # Entries below the cutoff count as forgotten whether or not a purge has
                        # removed them yet, so the outcome does not depend on how lines were batched.
                        if abs(t - prev) <= window and prev >= max_t - window:
                            self.duplicates += 1
                            continue
                        del seen[key]  # re-insert at the end to keep the dict in time order
                    seen[key] = t
                    self._since_purge += 1
                    if self._since_purge >= _PURGE_EVERY:
                        self._purge_seen()
            if single:
                self.assembled_lines += 1
                emit((t, payload, fill))
                continue
            gkey = (src, channel, seq, n_count)
            group = self._pending.get(gkey)
            if n_number == 1:
                if group is not None:
                    if dedup and group.parts[0] == payload and _close(group.time, t, window):
                        # The same first fragment again: a second receiver without a source of its
                        # own, interleaved with the first.
                        self.duplicates += 1
                        continue
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
                continue
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
                        continue
                rejects["bad_fragment"] += 1  # a continuation with no (live) start before it
                continue
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
                            if abs(gt - prev) <= window and prev >= max_t - window:
                                self.duplicates += n_count
                                continue
                            del seen[mkey]
                        seen[mkey] = gt
                self.assembled_lines += n_count
                emit((group.time, joined, fill))
        return out

    def _parse_tag(self, tag: bytes) -> tuple[float | None, bytes] | None:
        """(time, source) from a checksum-verified tag block; None when a field is malformed.

        A sentence of a tag-block group (`g:2-2-1604`) without its own `s:`/`c:` takes those of the
        group's first sentence, so its fragments still meet the first one's.
        """
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
                if t != t or t < 0 or t == float("inf"):
                    return None
            elif key == b"s:":
                src = field[2:]
            elif key == b"g:":
                group = field[2:]
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
            old: list[bytes] = []
            for key, t in seen.items():
                if t >= cutoff:
                    break
                old.append(key)
            for key in old:
                del seen[key]
        while len(seen) > _MAX_DEDUP_ENTRIES:
            del seen[next(iter(seen))]
