"""Feed clocks: what time a feed's lines say it is, guarded against single wild lines.

Every feed (a live feed by its name, a replay as one recording) has its own clock, so a receiver whose
clock runs behind or ahead of the wall clock, or a recording streamed live, is judged on its own time.
The rules (README, "Clocks"):

- A feed's clock is the newest time among its accepted lines. Live, it also moves on with the wall
  clock between lines: `reference(wall)` is the clock plus the wall time elapsed since it last moved.
- A timed line more than `max_ahead_s` ahead of its feed's clock, or more than `max_behind_s` behind it,
  is held back, not used. If the lines after it go on from the feed's clock, it was a wild line (a
  receiver's glitch, an attacker's datagram): it is refused and counted `future_time` or `past_time`, and
  it has moved nothing, not the timers, not the de-duplication memory.
- If instead `confirm_lines` such lines in a row agree with each other (each ahead of the clock and not
  before the previous one by more than `max_behind_s`; or each behind the clock and within `max_ahead_s`
  of the previous), the clock really jumped (a gap in a recording, a receiver reset, files replayed out
  of order): the clock moves to them and the held lines go on, in order, so nothing is lost. Lines still
  held when the input ends are refused.
- Live, a feed's first line sets its clock, unless it is more than `max_ahead_s` ahead of the wall clock:
  that too needs confirming. A lagging receiver or a recording streamed live is taken as it is. In a
  replay, the median time of the first batch (`seed`) sets it, so a wild first line is caught too.

The checks are a few comparisons per line; a run of lines is checked at once with numpy
(`accepts_run`), and only a run that holds a refused line goes line by line (`check`), with exactly the
same outcome.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

ACCEPT = 0  # the line's time is good: use the line
HOLD = 1  # hold the line back (FeedClock.held) until the lines after it tell
CONFIRM = 2  # the held lines were a real jump: use them (FeedClock.held, in order), then this line


class FeedClock:
    """One feed's clock, and the lines it holds back while a jump is unconfirmed."""

    __slots__ = (
        "confirm_lines",
        "dropped",
        "dropped_reason",
        "held",
        "jumps",
        "last",
        "max_ahead_s",
        "max_behind_s",
        "now",
        "run_reason",
        "run_t",
        "wall_at",
    )

    def __init__(self, *, max_ahead_s: float, max_behind_s: float, confirm_lines: int) -> None:
        self.max_ahead_s = max_ahead_s if max_ahead_s > 0 else math.inf  # 0: no guard
        self.max_behind_s = max_behind_s if max_behind_s > 0 else math.inf
        self.confirm_lines = confirm_lines
        self.now: float | None = None  # the feed clock when it last moved (None: no line yet)
        self.wall_at: float | None = None  # the wall clock at that moment (live only)
        self.last: float | None = None  # the time of the last accepted line (replay fills untimed lines)
        self.jumps = 0  # confirmed jumps of this clock
        self.held: list[Any] = []  # the caller's items for the lines of the unconfirmed run
        self.run_t = 0.0  # the time of the run's last line
        self.run_reason = ""  # future_time or past_time
        self.dropped = 0  # held lines refused by the last check (the caller counts them, then zeroes this)
        self.dropped_reason = ""

    def reference(self, wall: float | None) -> float | None:
        """The feed's time now: its clock, moved on by the wall time since (live); None before a line."""
        now = self.now
        if now is None or wall is None or self.wall_at is None:
            return now
        elapsed = wall - self.wall_at
        return now + elapsed if elapsed > 0 else now

    def check(self, t: float, wall: float | None) -> int:
        """Judge one timed line: ACCEPT, HOLD (the caller appends its item to `held`) or CONFIRM. A line
        that shows the held ones wrong sets `dropped`."""
        ref = self.reference(wall)
        if ref is None:
            if wall is not None and t > wall + self.max_ahead_s:
                return self._suspect(t, wall, "future_time")
        elif t > ref + self.max_ahead_s:
            return self._suspect(t, wall, "future_time")
        elif t < ref - self.max_behind_s:
            return self._suspect(t, wall, "past_time")
        if self.held:
            self._drop()
        self._accept(t, ref, wall)
        return ACCEPT

    def accepts_run(self, ts: NDArray[np.float64], wall: float | None) -> bool:
        """Accept a run of timed lines at once when `check` would accept every one of them (and then move
        the clock as it would have); False, changing nothing, when the run needs `check` line by line."""
        ref = self.reference(wall)
        if ref is None or self.held or len(ts) == 0:
            return False
        prior = np.empty_like(ts)
        prior[0] = ref
        if len(ts) > 1:
            np.maximum(np.maximum.accumulate(ts[:-1]), ref, out=prior[1:])
        if not ((ts <= prior + self.max_ahead_s) & (ts >= prior - self.max_behind_s)).all():
            return False
        top = float(ts.max())
        self.last = float(ts[-1])
        if top > ref:
            self.now, self.wall_at = top, wall
        return True

    def seed(self, t: float) -> None:
        """Set a clock that no line has set yet (a replay's first batch's median time)."""
        if self.now is None:
            self.now = t

    def fill(self, wall: float | None) -> float | None:
        """The time an untimed line takes: live, the feed clock now (the wall clock before any timed
        line); in a replay, the last timed line's (None before one)."""
        if wall is None:
            return self.last
        ref = self.reference(wall)
        return wall if ref is None else ref

    def end(self) -> None:
        """The input ended: lines still held are refused (`dropped`)."""
        if self.held:
            self._drop()

    def _accept(self, t: float, ref: float | None, wall: float | None) -> None:
        self.last = t
        if ref is None or t > ref:
            self.now, self.wall_at = t, wall

    def _drop(self) -> None:
        self.dropped += len(self.held)
        self.dropped_reason = self.run_reason
        self.held = []

    def _suspect(self, t: float, wall: float | None, reason: str) -> int:
        """A line off the clock: one more of the held run if it agrees with it, else the first of a new
        run (the old one refused); the run's `confirm_lines`-th line moves the clock."""
        if self.held and (
            reason != self.run_reason
            or (
                t < self.run_t - self.max_behind_s
                if reason == "future_time"
                else abs(t - self.run_t) > self.max_ahead_s
            )
        ):
            self._drop()
        self.run_reason = reason
        self.run_t = t
        if len(self.held) + 1 < self.confirm_lines:
            return HOLD
        self.jumps += 1
        self.now = None
        self._accept(t, None, wall)
        return CONFIRM
