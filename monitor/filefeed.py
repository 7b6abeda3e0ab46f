"""A recording streamed as if live: the `file` feed type (`[[feeds]] type = "file"`, `make live`).

The lines keep their own tag-block times (`c:`): nothing is re-stamped with this machine's clock. They
are handed to the daemon paced by those times, `speed` times real time: a line `dt` seconds after the
first timed line of the pass goes `dt / speed` seconds after it, measured from the start of the pass on
the monotonic clock (so delays never add up), and an untimed line goes with the timed line before it.

Why that is enough for the daemon's clocks and timers (README, Clocks): the feed has its own clock, set
by its first line (a recording from the past is taken as it is, as a lagging receiver is) and moved by
each line; between lines it moves on with the wall clock. At 60 times real time the lines move it 60 feed
seconds a second and the wall clock only one, so the lines lead, each ahead of the clock by `speed - 1`
times the wall time since the line before: far below `clock.max_ahead_s` (a 60-times stream would need a
gap of an hour in the recording, and that is then a jump the next lines confirm). The
`dark` timers and the posture rules run on that clock, so they fire at the feed's pace: a vessel silent
for 45 feed minutes is dark after 45 seconds of a 60-times stream, as it would be in a replay. When the
recording ends the clock moves on at the wall clock's pace for `clock.outage_s` and then stops: the end of
a recording is an outage, not a fleet gone dark.

`loop`: each pass again is shifted later by a whole number of days, the fewest that leave at least
LOOP_GAP_S between the end of one pass and the start of the next (the sample's 8 hours: one day). Its
`c:` times are rewritten (and the tag block's checksum with them): replayed with its old times, a second
pass would lie hours before the feed clock and be refused as `past_time`, and its alerts would reuse the
first pass's ids. The gap makes the restart an outage of the feed as the daemon defines it, not ships
jumping across the sea (`position_jump`) or gone dark: a vessel heard before it gets its full `dark` limit
again, and LOOP_GAP_S is long enough that no ship of the area needs 50 knots to be back where the
recording starts. The first lines of a pass are a confirmed jump of the feed clock (`clock.confirm_lines`
agreeing lines), which loses nothing. Whole days keep each pass's times of day, which the traffic
statistics are counted by.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from pathlib import Path
from typing import Final

from monitor.feeds import iter_batches
from monitor.nmea import nmea_checksum

__all__ = ["LOOP_GAP_S", "loop_shift", "play", "shift_time", "tag_time"]

LOOP_GAP_S: Final = 12 * 3600.0  # feed time between two passes: above any ship's crossing of the area
_DAY: Final = 86_400.0
_MS_ABOVE: Final = 1e11  # as the parser: larger c: values are milliseconds
_CHUNK: Final = 1024  # lines handed over at most at once when lines are due faster than they come
_READ_LINES: Final = 256  # lines read from the file at a time


def _tag(line: bytes) -> tuple[int, int] | None:
    """(index of `*`, index of the closing backslash) of the line's tag block, or None."""
    if line[:1] != b"\\":
        return None
    end = line.find(b"\\", 1)
    star = line.rfind(b"*", 1, end) if end > 0 else -1
    return (star, end) if star > 0 else None


def tag_time(line: bytes) -> float | None:
    """The `c:` time of the line's tag block in UNIX seconds, or None (no tag block, no c:, not a
    number). For pacing only: the pipeline checks every line, this one included, as it does any feed's."""
    where = _tag(line)
    if where is None:
        return None
    for field in line[1 : where[0]].split(b","):
        if field[:2] == b"c:":
            try:
                t = float(field[2:])
            except ValueError:
                return None
            if not math.isfinite(t):
                return None
            return t / 1000.0 if t > _MS_ABOVE else t
    return None


def shift_time(line: bytes, shift: float) -> bytes:
    """The line with its `c:` time `shift` seconds later and the tag block's checksum recomputed. A line
    without a c: time, or whose tag block's checksum is wrong (it stays as wrong as it was, for the
    pipeline to count), is returned unchanged."""
    where = _tag(line)
    if where is None or not shift:
        return line
    star, end = where
    body = line[1:star]
    try:
        if int(line[star + 1 : end], 16) != nmea_checksum(body):
            return line
    except ValueError:
        return line
    fields = body.split(b",")
    for i, field in enumerate(fields):
        if field[:2] != b"c:":
            continue
        try:
            t = float(field[2:])
        except ValueError:
            return line
        millis = t > _MS_ABOVE
        t += shift * 1000.0 if millis else shift
        text = f"{t:.0f}" if t == round(t) else f"{t:.3f}".rstrip("0")
        fields[i] = b"c:" + text.encode()
        new = b",".join(fields)
        return b"\\" + new + b"*" + f"{nmea_checksum(new):02X}".encode() + line[end:]
    return line


def loop_shift(first: float, last: float) -> float:
    """How much later each pass of a loop is than the one before: whole days, at least the recording's
    span plus LOOP_GAP_S."""
    return math.ceil((max(last - first, 0.0) + LOOP_GAP_S) / _DAY) * _DAY


async def play(
    path: Path, speed: float, deliver: Callable[[list[bytes]], None], *, shift: float = 0.0
) -> tuple[float, float] | None:
    """Hand the recording's lines to `deliver`, paced at `speed` times real time by their tag-block times,
    each time moved `shift` seconds later; the (first, last) time of the recording as written (before
    the shift), None without any timed line. Raises FeedError if the file cannot be read."""
    loop = asyncio.get_running_loop()
    start_wall: float | None = None
    start_t = 0.0
    first: float | None = None
    last = 0.0
    pending: list[bytes] = []
    # The file is read on the event loop: a few hundred lines at a time from a local file take
    # microseconds, far less than a batch of the pipeline, and the recording needs no thread.
    for batch in iter_batches([str(path)], batch_lines=_READ_LINES):
        for line in batch:
            t = tag_time(line)
            if t is not None:
                if first is None:
                    first = t
                    start_wall, start_t = loop.time(), t
                last = t
                assert start_wall is not None
                wait = start_wall + (t - start_t) / speed - loop.time()
                if wait > 0:
                    if pending:
                        deliver(pending)
                        pending = []
                    await asyncio.sleep(wait)
            pending.append(shift_time(line, shift))
            if len(pending) >= _CHUNK:
                deliver(pending)
                pending = []
                await asyncio.sleep(0)  # lines due all at once (a high speed): the pipeline gets its turn
    if pending:
        deliver(pending)
    return None if first is None else (first, last)
