"""The saved state's field checks (monitor.savedstate), one by one: every value read back from disk is
refused when its type or range is wrong, with a message naming the field, and passed through when right.

The bounds come from the module's contract, checked here against independent sources: 1970..2100 from
`datetime`, longitudes and latitudes from their definition, MMSIs as nine decimal digits.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from monitor import savedstate as S
from monitor.savedstate import BadValue, StateError


def test_the_time_range_is_1970_to_2100_utc() -> None:
    """T_MIN and T_MAX are 1970-01-01 and 2100-01-01 UTC; both ends are accepted, a second outside is not."""
    assert datetime(1970, 1, 1, tzinfo=UTC).timestamp() == S.T_MIN
    assert datetime(2100, 1, 1, tzinfo=UTC).timestamp() == S.T_MAX
    assert S.time(S.T_MIN, "t") == S.T_MIN
    assert S.time(int(S.T_MAX), "t") == S.T_MAX
    for wild in (S.T_MIN - 1, S.T_MAX + 1, 1e20, -math.inf, math.inf):
        with pytest.raises(BadValue, match=r"^last_t: time .* outside 1970\.\.2100$"):
            S.time(wild, "last_t")
    # NaN compares false with both bounds: it must not slip through the range test.
    with pytest.raises(BadValue, match="outside 1970"):
        S.time(math.nan, "last_t")


@pytest.mark.parametrize("value", ["1750000000", True, False, None, [1750000000], {"t": 1}])
def test_a_time_that_is_not_a_number_is_refused(value: Any) -> None:
    """Strings, booleans (an int subclass in Python), null, arrays and objects are not times."""
    with pytest.raises(BadValue, match=r"^seen: expected a number, got "):
        S.time(value, "seen")


def test_never_and_optional_times() -> None:
    """null reads as "never" (-inf) where a field allows it, as None where a time is optional; a present
    value is still range-checked."""
    assert S.time_or_never(None, "t") == -math.inf
    assert S.time_or_never(1_750_000_000, "t") == 1_750_000_000.0
    assert S.opt_time(None, "t") is None
    assert S.opt_time(1_750_000_000.5, "t") == 1_750_000_000.5
    with pytest.raises(BadValue, match="outside 1970"):
        S.time_or_never(-5, "t")
    with pytest.raises(BadValue, match="outside 1970"):
        S.opt_time(5e9, "t")


@pytest.mark.parametrize(
    ("check", "good", "bad"),
    [
        (S.lon, [-180, 0, 56.25, 180.0], [-180.0001, 180.5, 181]),  # 181: AIS "not available"
        (S.lat, [-90, 0, 26.5, 90.0], [-90.5, 91]),  # 91: AIS "not available"
        (S.metres, [0, 12.5, 1e8], [-0.1, 1e8 + 1]),
        (S.sog_or_nan, [0, 15.5, 1000], [-1, 1000.1]),
        (S.cog_or_nan, [0, 359.9, 360], [-0.1, 360.1]),
    ],
)
def test_ranged_values(check: Any, good: list[float], bad: list[float]) -> None:
    """A value inside the field's range is returned as a float; outside, refused with the range named."""
    for v in good:
        got = check(v, "f")
        assert got == v and type(got) is float
    for v in bad:
        with pytest.raises(BadValue, match=r"^f: .* outside "):
            check(v, "f")


def test_a_missing_position_value_is_nan_only_where_allowed() -> None:
    """null is a missing value (NaN in memory) for the nullable fields, and refused for the others."""
    for check in (S.lon_or_nan, S.lat_or_nan, S.sog_or_nan, S.cog_or_nan):
        assert math.isnan(check(None, "f"))
    for check in (S.lon, S.lat, S.metres):
        with pytest.raises(BadValue, match="expected a number, got NoneType"):
            check(None, "f")


def test_integers_are_exact_ints_in_range() -> None:
    """An integer field takes an int in its range (null only when nullable): not a float, not a bool."""
    level = S.integer(0, 3)
    assert level(0, "level") == 0 and level(3, "level") == 3
    for bad in (-1, 4, 2.0, True, "2", None):
        with pytest.raises(BadValue, match=r"^level: expected an integer in 0\.\.3, got "):
            level(bad, "level")
    assert S.integer(0, 3, nullable=True)(None, "level") is None


def test_mmsi_is_nine_decimal_digits_at_most() -> None:
    """An MMSI is an int from 1 to 999999999."""
    assert S.mmsi(1, "m") == 1
    assert S.mmsi(int("9" * 9), "m") == 999_999_999
    for bad in (0, 10**9, -366123456, 366123456.0, "366123456", True):
        with pytest.raises(BadValue, match=r"^m: expected an MMSI"):
            S.mmsi(bad, "m")


def test_booleans_and_texts() -> None:
    """true/false only for a flag (not 0/1); a string of at most MAX_TEXT characters for a text, null for
    an optional text."""
    assert S.boolean(True, "b") is True and S.boolean(False, "b") is False
    for bad in (0, 1, "true", None):
        with pytest.raises(BadValue, match=r"^b: expected true or false"):
            S.boolean(bad, "b")
    assert S.text("", "name") == "" and S.text("x" * S.MAX_TEXT, "name") == "x" * S.MAX_TEXT
    for bad in ("x" * (S.MAX_TEXT + 1), 5, None, b"bytes"):
        with pytest.raises(BadValue, match=r"^name: expected a string of at most"):
            S.text(bad, "name")
    assert S.opt_text(None, "name") is None
    assert S.opt_text("EVER GIVEN", "name") == "EVER GIVEN"


def test_draught_is_optional_and_within_0_to_100_metres() -> None:
    """AIS message 5 carries the draught in decimetres up to 25.5 m; the state keeps 0..100 m or null."""
    assert S.opt_draught(None, "d") is None
    assert S.opt_draught(25.5, "d") == 25.5
    assert S.opt_draught(0, "d") == 0.0
    for bad in (-0.1, 100.5):
        with pytest.raises(BadValue, match=r"^d: .* outside 0\.\.100$"):
            S.opt_draught(bad, "d")
    with pytest.raises(BadValue, match="expected a number"):
        S.opt_draught("7.5", "d")


def test_arrays_and_objects_are_bounded() -> None:
    """An array of the wrong type or size, or longer than MAX_ITEMS, is refused; likewise an object."""
    assert S.items([1, 2], "a") == [1, 2]
    assert S.items([1, 2, 3], "a", 3) == [1, 2, 3]
    with pytest.raises(BadValue, match=r"^a: expected an array, got dict"):
        S.items({}, "a")
    with pytest.raises(BadValue, match=r"^a: expected 3 elements, got 2"):
        S.items([1, 2], "a", 3)
    with pytest.raises(BadValue, match=f"^a: more than {S.MAX_ITEMS} elements"):
        S.items([0] * (S.MAX_ITEMS + 1), "a")
    assert S.mapping({"k": 1}, "m") == {"k": 1}
    with pytest.raises(BadValue, match=r"^m: expected an object, got list"):
        S.mapping([], "m")
    with pytest.raises(BadValue, match=f"^m: more than {S.MAX_ITEMS} members"):
        S.mapping({str(i): i for i in range(S.MAX_ITEMS + 1)}, "m")


def test_zone_ids_are_strings() -> None:
    """A vessel's zone list is an array of strings."""
    assert S.zone_ids(["hormuz-tss", "port-a"], "zones") == ["hormuz-tss", "port-a"]
    with pytest.raises(BadValue, match=r"^zones: expected a string"):
        S.zone_ids(["ok", 7], "zones")


def test_an_encounter_cell_is_two_grid_integers_on_the_globe() -> None:
    """A cell is [x, y] in 0.01 degree steps: x within +-180 degrees, y within +-90 (plus one), or null."""
    assert S.cell(None, "c") is None
    assert S.cell([5625, 2650], "c") == (5625, 2650)
    assert S.cell([-18_001, 9_001], "c") == (-18_001, 9_001)
    for bad in ([18_002, 0], [0, -9_002], [1.5, 2], ["1", 2], [True, 2]):
        with pytest.raises(BadValue, match=r"^c: expected a grid cell"):
            S.cell(bad, "c")
    with pytest.raises(BadValue, match=r"^c: expected 2 elements"):
        S.cell([1, 2, 3], "c")


def test_position_jump_candidates_are_time_lon_lat_triples() -> None:
    """Each candidate fix is [time, lon, lat], each part checked like its field."""
    t = 1_750_000_000
    assert S.fixes([[t, 56.2, 26.5], [t + 10, -5.5, 36.0]], "jump") == [(t, 56.2, 26.5), (t + 10, -5.5, 36.0)]
    assert S.fixes([], "jump") == []
    with pytest.raises(BadValue, match=r"^jump: expected 3 elements"):
        S.fixes([[t, 56.2]], "jump")
    with pytest.raises(BadValue, match=r"outside -90\.\.90"):
        S.fixes([[t, 56.2, 91]], "jump")
    with pytest.raises(BadValue, match="outside 1970"):
        S.fixes([[-1, 56.2, 26.5]], "jump")


def test_checked_turns_any_bad_shape_into_a_state_error_naming_the_row() -> None:
    """A failed check, and any wrong shape met while unpacking (a missing key, a short array, a wrong
    type), becomes one StateError naming the row; the underlying exception is not chained (it is data,
    not a bug)."""
    with pytest.raises(StateError, match=r"^state row 'v:366123456': last_t: expected a number") as err:
        S.checked("v:366123456", lambda: S.time("soon", "last_t"))
    assert err.value.key == "v:366123456" and err.value.__cause__ is None
    row: dict[str, Any] = {}
    with pytest.raises(StateError, match=r"^state row 'engine': malformed: 'posture'") as err:
        S.checked("engine", lambda: row["posture"])
    assert err.value.problem == "malformed: 'posture'"
    pair = [1, 2]
    with pytest.raises(StateError, match="malformed"):
        S.checked("v:1", lambda: pair[len(pair)])
    with pytest.raises(StateError, match="malformed"):
        S.checked("v:1", lambda: int("north"))
    assert S.checked("v:1", lambda: 42) == 42


def test_loads_refuses_what_is_not_json_and_names_old_formats() -> None:
    """Only a JSON array or object is read; a pickle or marshal blob (what state version 1 wrote) is named
    as such and never unpickled; other bytes, invalid JSON and absurd nesting are StateErrors."""
    import marshal
    import pickle

    assert S.loads("v:1", b'[2,{"a":null}]') == [2, {"a": None}]
    for blob in (pickle.dumps({"x": 1}, protocol=2), pickle.dumps([1], protocol=5), marshal.dumps((1, 2))):
        with pytest.raises(StateError, match="pickle/marshal") as err:
            S.loads("v:1", blob)
        assert err.value.problem == S.OLD_FORMAT
    with pytest.raises(StateError, match="not a JSON state value"):
        S.loads("v:1", b"hello")
    with pytest.raises(StateError, match="not a JSON state value"):
        S.loads("v:1", b"")
    with pytest.raises(StateError, match="not valid JSON"):
        S.loads("v:1", b"[1, 2")
    with pytest.raises(StateError, match="not valid JSON"):
        S.loads("v:1", b"[\xff\xfe]")
    with pytest.raises(StateError, match="not valid JSON"):
        S.loads("v:1", b"[" * 100_000 + b"]" * 100_000)


def test_nan_and_infinity_in_a_row_are_read_and_then_refused_by_the_field() -> None:
    """The writer never writes NaN or Infinity; if a row holds them they parse as floats, and the time
    check refuses them instead of the parser crashing."""
    t, lo, hi = S.loads("v:1", b"[NaN,-Infinity,Infinity]")
    assert math.isnan(t) and lo == -math.inf and hi == math.inf
    for v in (t, lo, hi):
        with pytest.raises(BadValue, match="outside 1970"):
            S.time(v, "t")


def test_dumps_is_compact_ascii_json_that_loads_reads_back() -> None:
    """dumps writes compact ASCII JSON (non-ASCII names escaped) that loads returns unchanged."""
    value = [2, {"name": "ŞEHİT", "t": 1_750_000_000.5, "zones": ["a"], "never": None}]
    blob = S.dumps(value)
    assert blob.isascii() and b" " not in blob
    assert S.loads("v:1", blob) == value
