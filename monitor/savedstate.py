"""The saved state's format: versioned JSON, every value checked when it is read back.

Why not pickle or marshal (state version 1): unpickling runs whatever a crafted row asks for, and both
give a traceback on a truncated blob. A state row is now a compact JSON value whose first element (a
vessel's array) or `version` member (the engine's object) is STATE_VERSION; on load every field is
type- and range-checked and the first bad one raises StateError naming the key and the field. Nothing
here executes or imports anything named in the data.

Encoding: times are UNIX seconds (float), "never" (-inf in memory) is null; a missing position value
(NaN in memory) is null. Every time must be finite and lie in 1970..2100: the range the feed parser
admits (monitor.nmea.TIME_MIN/TIME_MAX), so the daemon never refuses a state it wrote itself, while a
wild value (1e20, NaN, a string) is refused.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, Final

from monitor.errors import MonitorError

__all__ = [
    "OLD_FORMAT",
    "STATE_VERSION",
    "T_MAX",
    "T_MIN",
    "BadValue",
    "StateError",
    "dumps",
    "loads",
]

STATE_VERSION: Final = 2
# The same bounds as monitor.nmea.TIME_MIN/TIME_MAX (a test keeps them equal): not imported, so the state
# format does not depend on the parser module.
T_MIN: Final = 0.0  # 1970-01-01T00:00:00Z
T_MAX: Final = 4_102_444_800.0  # 2100-01-01T00:00:00Z
MMSI_MAX: Final = 999_999_999
MAX_TEXT: Final = 1000  # the longest string any field may hold (names, reasons, zone ids)
MAX_ITEMS: Final = 100_000  # the longest list any field may hold
OLD_FORMAT: Final = (
    "saved by an older version in the pickle/marshal format (state version 1), which is not loaded"
)


class StateError(MonitorError):
    """A saved state row cannot be used: not this version's format, or a value of the wrong type or range.

    `key` is the state row ("engine", "v:<mmsi>"), `problem` what is wrong with it."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"state row {key!r}: {problem}")


class BadValue(ValueError):
    """One value failed its check (raised by the checkers; `checked` turns it into StateError)."""


def _constant(name: str) -> float:
    # The writer never writes NaN or Infinity (json.dumps would, for a float it was not told about):
    # read them as floats, and let the field's check refuse them.
    return float(name.replace("Infinity", "inf"))


_ENCODER: Final = json.JSONEncoder(separators=(",", ":"))  # built once: it is on the path of every save


def dumps(value: object) -> bytes:
    """Compact JSON, ASCII only."""
    return _ENCODER.encode(value).encode()


def loads(key: str, blob: bytes) -> Any:
    """Parse one row; StateError for anything but JSON (an old pickle/marshal row named as such)."""
    head = blob[:1]
    if head not in (b"[", b"{"):
        if head == b"\x80" or head in (b"(", b")", b"\xa8", b"\xa9"):
            # A pickle (protocol 2+) or a marshal tuple: what version 1 wrote. Never unpickled.
            raise StateError(key, OLD_FORMAT)
        raise StateError(key, f"not a JSON state value (starts with {blob[:8]!r})")
    try:
        return json.loads(blob, parse_constant=_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise StateError(key, f"not valid JSON: {exc}") from exc


# ---- checkers: each takes the raw JSON value and the field's name, returns the value to use -----------

def _number(x: Any, what: str) -> float:
    if type(x) is float or type(x) is int:  # (bool is a subclass of int: refused)
        return float(x)
    raise BadValue(f"{what}: expected a number, got {type(x).__name__}")


def time(x: Any, what: str) -> float:
    """A finite time in 1970..2100."""
    t = _number(x, what)
    if not T_MIN <= t <= T_MAX:
        raise BadValue(f"{what}: time {t!r} outside 1970..2100")
    return t


def time_or_never(x: Any, what: str) -> float:
    """A time, or null for never (-inf)."""
    return -math.inf if x is None else time(x, what)


def opt_time(x: Any, what: str) -> float | None:
    return None if x is None else time(x, what)


def _ranged(lo: float, hi: float, nullable: bool) -> Callable[[Any, str], Any]:
    def check(x: Any, what: str) -> Any:
        if x is None and nullable:
            return math.nan
        v = _number(x, what)
        if not lo <= v <= hi:
            raise BadValue(f"{what}: {v!r} outside {lo:g}..{hi:g}")
        return v

    return check


lon = _ranged(-180.0, 180.0, False)
lat = _ranged(-90.0, 90.0, False)
lon_or_nan = _ranged(-180.0, 180.0, True)
lat_or_nan = _ranged(-90.0, 90.0, True)
sog_or_nan = _ranged(0.0, 1000.0, True)
cog_or_nan = _ranged(0.0, 360.0, True)
metres = _ranged(0.0, 1e8, False)


def integer(lo: int, hi: int, nullable: bool = False) -> Callable[[Any, str], int | None]:
    def check(x: Any, what: str) -> int | None:
        if x is None and nullable:
            return None
        if type(x) is not int or not lo <= x <= hi:
            raise BadValue(f"{what}: expected an integer in {lo}..{hi}, got {x!r:.40}")
        return x

    return check


def mmsi(x: Any, what: str) -> int:
    if type(x) is not int or not 1 <= x <= MMSI_MAX:
        raise BadValue(f"{what}: expected an MMSI (1..{MMSI_MAX}), got {x!r:.40}")
    return x


def boolean(x: Any, what: str) -> bool:
    if type(x) is not bool:
        raise BadValue(f"{what}: expected true or false, got {x!r:.40}")
    return x


def text(x: Any, what: str) -> str:
    if type(x) is not str or len(x) > MAX_TEXT:
        raise BadValue(f"{what}: expected a string of at most {MAX_TEXT} characters, got {type(x).__name__}")
    return x


def opt_text(x: Any, what: str) -> str | None:
    return None if x is None else text(x, what)


def opt_draught(x: Any, what: str) -> float | None:
    if x is None:
        return None
    v = _number(x, what)
    if not 0.0 <= v <= 100.0:
        raise BadValue(f"{what}: {v!r} outside 0..100")
    return v


def items(x: Any, what: str, size: int | None = None) -> list[Any]:
    """A JSON array (of exactly `size` elements if given, else at most MAX_ITEMS)."""
    if type(x) is not list:
        raise BadValue(f"{what}: expected an array, got {type(x).__name__}")
    if size is not None and len(x) != size:
        raise BadValue(f"{what}: expected {size} elements, got {len(x)}")
    if len(x) > MAX_ITEMS:
        raise BadValue(f"{what}: more than {MAX_ITEMS} elements")
    return x


def mapping(x: Any, what: str) -> dict[str, Any]:
    if type(x) is not dict:
        raise BadValue(f"{what}: expected an object, got {type(x).__name__}")
    if len(x) > MAX_ITEMS:
        raise BadValue(f"{what}: more than {MAX_ITEMS} members")
    return x


def zone_ids(x: Any, what: str) -> list[str]:
    return [text(z, what) for z in items(x, what)]


def cell(x: Any, what: str) -> tuple[int, int] | None:
    """An encounter grid cell (0.01 degree): [x, y] or null."""
    if x is None:
        return None
    cx, cy = items(x, what, 2)
    if type(cx) is not int or type(cy) is not int or not (-18_001 <= cx <= 18_001 and -9_001 <= cy <= 9_001):
        raise BadValue(f"{what}: expected a grid cell [x, y], got {x!r:.60}")
    return (cx, cy)


def fixes(x: Any, what: str) -> list[tuple[float, float, float]]:
    """[[time, lon, lat], ...]: position-jump candidates."""
    triples = (items(f, what, 3) for f in items(x, what))
    return [(time(t, what), lon(x_, what), lat(y, what)) for t, x_, y in triples]


def checked(key: str, check: Callable[[], Any]) -> Any:
    """Run `check`; a failed check, or a value of the wrong shape met while unpacking, is a StateError."""
    try:
        return check()
    except BadValue as exc:
        raise StateError(key, str(exc)) from None
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise StateError(key, f"malformed: {exc}") from None
