"""Time as data: each feed's clock, lines off it, receivers whose clocks lag or lead, a receiver that stops.

The truth here is the golden replay of the sample (made before the clock rules existed) and counts computed
from the test's own lines; the daemon-level cases are in test_clock_live.py.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.alerts import Alert
from monitor.clock import ACCEPT, CONFIRM, HOLD, FeedClock
from monitor.config import load_settings
from monitor.pipeline import Pipeline
from monitor.zones import load_zone_file
from tests.helpers import nmea_checksum, position_lines, write_zones

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "hormuz-sample.nmea.gz"
GOLDEN = ROOT / "tests" / "golden" / "hormuz-sample.alerts.jsonl"
DAY = 86_400


def retimed(line: bytes, t: str) -> bytes:
    """The line with its tag block's c: replaced by `t` (text) and the tag checksum made right again."""
    m = re.match(rb"\\(.*?)\*[0-9A-F]{2}\\(.*)", line)
    assert m is not None, line
    # A function, not a template: the drawn text may hold backslashes.
    body = re.sub(rb"c:[^,*]*", lambda _: b"c:" + t.encode(), m.group(1)).decode()
    return f"\\{body}*{nmea_checksum(body)}\\".encode() + m.group(2)


def tag_time(line: bytes) -> float:
    m = re.search(rb"c:(\d+)", line)
    assert m is not None
    return float(m.group(1))


# ---- the feed clock on its own -----------------------------------------------------------------------------


def clock(**kw: float) -> FeedClock:
    args = {"max_ahead_s": 3600.0, "max_behind_s": 21_600.0, "confirm_lines": 3} | kw
    return FeedClock(**args)  # type: ignore[arg-type]


def test_one_wild_line_is_held_then_refused() -> None:
    c = clock()
    assert c.check(1000.0, None) == ACCEPT
    assert c.check(1000.0 + 3 * DAY, None) == HOLD
    c.held.append("wild")
    assert c.check(1010.0, None) == ACCEPT  # the feed goes on from its clock: the held line was wrong
    assert (c.dropped, c.dropped_reason, c.held, c.now) == (1, "future_time", [], 1010.0)


def test_a_real_jump_is_confirmed_and_nothing_is_lost() -> None:
    c = clock()
    c.check(1000.0, None)
    for k in range(2):
        assert c.check(1000.0 + 2 * 3600 + k, None) == HOLD
        c.held.append(k)
    assert c.check(1000.0 + 2 * 3600 + 5, None) == CONFIRM
    assert c.held == [0, 1] and c.dropped == 0 and c.now == 1000.0 + 2 * 3600 + 5 and c.jumps == 1


def test_far_past_line_is_refused_and_backward_jump_confirmed() -> None:
    c = clock()
    c.check(100_000.0, None)
    assert c.check(100_000.0 - 2 * DAY, None) == HOLD
    c.held.append("old")
    assert c.check(100_010.0, None) == ACCEPT and c.dropped_reason == "past_time"
    for k in range(3):  # files replayed out of order: the clock goes back once three lines agree
        verdict = c.check(50_000.0 + k, None)
        if verdict == HOLD:
            c.held.append(k)
    assert verdict == CONFIRM and c.now == 50_002.0


def test_live_first_line_far_ahead_of_the_wall_clock_needs_confirming() -> None:
    c = clock()
    wall = 1_750_000_000.0
    assert c.check(wall + 3 * DAY, wall) == HOLD
    c.held.append(0)
    assert c.check(wall - 3000, wall) == ACCEPT  # a lagging receiver is taken as it is
    assert c.dropped == 1
    # Between lines the live clock moves on with the wall clock.
    assert c.reference(wall + 100) == wall - 3000 + 100
    assert c.fill(wall + 100) == wall - 3000 + 100


def test_zero_turns_the_guard_off() -> None:
    c = clock(max_ahead_s=0, max_behind_s=0)
    for t in (1.0, 1e9, 2.0, 3e9):
        assert c.check(t, None) == ACCEPT


@settings(max_examples=300, deadline=None)
@given(
    start=st.floats(1e9, 2e9),
    steps=st.lists(
        st.one_of(st.floats(-30, 30), st.sampled_from([3 * DAY, -DAY, 7200.0, -30_000.0, 4000.0])),
        max_size=40,
    ),
    cut=st.integers(0, 40),
    live=st.booleans(),
)
def test_run_check_equals_line_by_line(start: float, steps: list[float], cut: int, live: bool) -> None:
    """`accepts_run` (numpy, a whole run) takes a run exactly when `check` would take every line of it, and
    leaves the clock as `check` would."""
    times = list(np.cumsum([start, *steps]))
    wall = start + 5.0 if live else None
    a, b = clock(), clock()
    for c in (a, b):
        for t in times[:cut]:
            if c.check(t, wall) == HOLD:
                c.held.append(t)
        c.dropped = 0  # (the assembler counts and zeroes it after each check)
    run = np.asarray(times[cut:], dtype=np.float64)
    verdicts = []
    if not a.accepts_run(run, wall):
        verdicts = None
    for t in run.tolist():
        v = b.check(t, wall)
        if v == HOLD:
            b.held.append(t)
        if verdicts is not None:
            verdicts.append(v)
    if verdicts is not None:
        assert all(v == ACCEPT for v in verdicts) and not b.dropped
        assert (a.now, a.last, a.wall_at, a.held) == (b.now, b.last, b.wall_at, b.held)
    else:
        assert len(run) == 0 or a.now is None or a.held or any(
            not (p - a.max_behind_s <= t <= p + a.max_ahead_s)
            for p, t in zip(np.maximum.accumulate(np.r_[a.reference(wall), run[:-1]]), run, strict=True)
        )


# ---- one wild line in the sample: the replay's alerts do not change ----------------------------------------


@pytest.fixture(scope="module")
def sample_lines() -> list[bytes]:
    return gzip.decompress(SAMPLE.read_bytes()).splitlines()


def replay(path: Path, tmp: Path) -> tuple[list[dict[str, object]], str]:
    r = subprocess.run([sys.executable, "-m", "monitor", "replay", str(path), "--format", "jsonl"],
                       capture_output=True, timeout=300, check=True)
    return [json.loads(x) for x in r.stdout.decode().splitlines()], r.stderr.decode()


@pytest.mark.parametrize(
    ("where", "value", "reason"),
    [
        (0.5, "+3d", "future_time"),  # the case: one line three days ahead, mid-recording
        (0.0, "+3d", "future_time"),  # the very first line
        (1e-5, "+3d", "future_time"),  # one of the first lines
        (1.0, "+3d", "future_time"),  # the last line: still held when the input ends, then refused
        (0.3, "4102444800", "bad_tag_block"),  # 2100: beyond any clock (it forgot every vessel once)
        (0.3, "4102444799", "future_time"),  # just before 2100
        (0.6, "-2y", "past_time"),  # far in the past
        (0.6, "1e20", "bad_tag_block"),  # it crashed the replay once (time formatting)
        (0.6, "9" * 30, "bad_tag_block"),  # (and this one an integer conversion)
    ],
)
def test_one_wild_line_changes_no_alert_of_the_sample(tmp_path: Path, sample_lines: list[bytes], where: float,
                                                    value: str, reason: str) -> None:
    timed = [i for i, ln in enumerate(sample_lines) if ln.startswith(b"\\") and b"c:" in ln]
    i = timed[min(len(timed) - 1, int(where * len(timed)))]
    t = tag_time(sample_lines[i])
    text = {"+3d": str(int(t + 3 * DAY)), "-2y": str(int(t - 730 * DAY))}.get(value, value)
    poisoned = [*sample_lines[: i + 1], retimed(sample_lines[i], text), *sample_lines[i + 1:]]
    path = tmp_path / "poisoned.nmea"
    path.write_bytes(b"\n".join(poisoned) + b"\n")
    alerts, err = replay(path, tmp_path)
    golden = [json.loads(x) for x in GOLDEN.read_text().splitlines()]
    assert alerts == golden
    rejected = re.search(r"lines rejected\s+(\d+) \((.*)\)", err)
    assert rejected is not None
    counts = {k: int(n) for k, n in (p.split() for p in rejected.group(2).split(", "))}
    # (The sample's 37 $GPGGA lines are other_sentence, not rejects.)
    base = {"bad_checksum": 75, "bad_tag_block": 37, "non_utf8": 37, "unknown_sentence": 37}
    assert counts == dict(Counter(base) + Counter({reason: 1}))


# ---- live: a receiver whose clock lags or leads, a recording streamed live, a receiver that stops ----------


def live_pipeline(tmp: Path, wall: list[float], toml: str = "") -> Pipeline:
    config = tmp / "monitor.toml"
    config.write_text(toml)
    zones = load_zone_file(write_zones(tmp / "zones.geojson"))
    return Pipeline(load_settings(config, env={}), zones, clock=lambda: wall[0])


FLEET = [538_100_000 + k for k in range(20)]


def fleet_lines(t: float, k: int, skip: set[int] | frozenset[int] = frozenset()) -> list[bytes]:
    """The 20 ships of the fleet (less `skip`), each reporting at feed time t, in the toy strait."""
    return [
        ln
        for j, m in enumerate(FLEET)
        if m not in skip
        for ln in position_lines(m, 56.2 + 0.01 * j + 0.001 * k, 26.1, t)
    ]


def run_live(p: Pipeline, wall: list[float], start_wall: float, offset: float, minutes: int,
             silent: set[int] | None = None, stop_after: int | None = None) -> list[Alert]:
    """Each wall-clock minute the fleet reports (feed time = wall + offset), and the daemon's ticker ticks
    every 10 s between; from minute `stop_after` on, the receiver delivers nothing; ships in `silent`
    stop after the first minute."""
    alerts: list[Alert] = []
    for k in range(minutes):
        wall[0] = start_wall + 60 * k
        if stop_after is None or k < stop_after:
            lines = fleet_lines(wall[0] + offset, k, silent if silent and k > 0 else frozenset())
            alerts += p.process_lines(lines, source=b"rx")
        for s in range(10, 60, 10):
            wall[0] = start_wall + 60 * k + s
            alerts += p.tick(wall[0])
    return alerts


@pytest.mark.parametrize("offset", [-50 * 60, -365 * DAY, 50 * 60, 0])
def test_a_receiver_whose_clock_lags_or_leads_raises_no_storm(tmp_path: Path, offset: float) -> None:
    """Tag-block times 50 minutes behind the wall clock (the issue's storm: every tick darkened every
    ship), a year behind (a recording streamed live), 50 minutes ahead, or right: 40 minutes of a fleet
    reporting every minute give no dark and no reappeared."""
    wall = [1_780_000_000.0]
    p = live_pipeline(tmp_path, wall)
    alerts = run_live(p, wall, wall[0], offset, 40)
    kinds = Counter(a.kind for a in alerts)
    assert kinds["dark"] == 0 and kinds["reappeared"] == 0, kinds
    assert len(p.engine.vessels) == len(FLEET)
    assert p.finish().rejects.get("future_time", 0) == 0


@pytest.mark.parametrize("offset", [-50 * 60, 0])
def test_a_ship_that_falls_silent_is_dark_on_its_feeds_clock(tmp_path: Path, offset: float) -> None:
    """One ship stops reporting while the rest go on: `dark` exactly at its last report + the strait's
    limit (45 min at NORMAL), on the feed's clock, whatever the receiver's offset to the wall clock."""
    wall = [1_780_000_000.0]
    p = live_pipeline(tmp_path, wall)
    quiet = FLEET[3]
    alerts = run_live(p, wall, wall[0], offset, 60, silent={quiet})
    dark = [a for a in alerts if a.kind == "dark"]
    assert [a.mmsi for a in dark] == [quiet]
    last_seen = 1_780_000_000.0 + offset
    assert dark[0].time == last_seen + 2700
    assert "reappeared" not in {a.kind for a in alerts}


def test_a_receiver_that_stops_is_an_outage_not_a_fleet_gone_dark(tmp_path: Path) -> None:
    """The receiver delivers nothing for three hours, then comes back: no ship is reported dark for the
    receiver's silence (its clock stops after clock.outage_s), none reappears; a ship that does not come
    back with the others is dark a full limit after the feed came back."""
    wall = [1_780_000_000.0]
    p = live_pipeline(tmp_path, wall)
    alerts = run_live(p, wall, wall[0], 0, 20)  # 20 minutes of reports
    alerts += run_live(p, wall, wall[0] + 20 * 60, 0, 180, stop_after=0)  # three hours of nothing
    assert Counter(a.kind for a in alerts)["dark"] == 0
    back = wall[0] + 60
    quiet = FLEET[7]
    alerts += run_live(p, wall, back, 0, 60, silent={quiet})  # back: all report once, then one is silent
    kinds = Counter(a.kind for a in alerts)
    assert kinds["reappeared"] == 0
    dark = [a for a in alerts if a.kind == "dark"]
    assert [a.mmsi for a in dark] == [quiet]
    assert dark[0].time == back + 2700


def test_a_recording_gap_is_an_outage_in_replay_too(tmp_path: Path) -> None:
    """A recording with a two-hour hole (nothing at all): the ships seen before it and after it are not
    dark across it, and the jump of the clock is taken without losing a line."""
    p = Pipeline(load_settings(None, env={}), load_zone_file(write_zones(tmp_path / "z.geojson")))
    t0 = 1_750_000_000
    lines = [ln for k in range(20) for ln in fleet_lines(t0 + 60 * k, k)]
    lines += [ln for k in range(20) for ln in fleet_lines(t0 + 20 * 60 + 7200 + 60 * k, 20 + k)]
    alerts = p.process_lines(lines)
    kinds = Counter(a.kind for a in alerts)
    assert kinds["dark"] == 0 and kinds["reappeared"] == 0
    s = p.finish()
    assert sum(s.rejects.values()) == 0 and s.positions == len(lines)


# ---- no line can stop the pipeline -------------------------------------------------------------------------

_TAG_VALUES = st.one_of(
    st.integers(-10**30, 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        ["1e20", "9" * 30, "nan", "inf", "-0", "0x10", "1_750_000_000", "", "1.7e9", "4102444800"]
    ),
    st.text(max_size=12),
)


@st.composite
def _hostile_line(draw: st.DrawFn) -> bytes:
    base = position_lines(538_000_001, 56.3, 26.1, 1_750_000_000 + draw(st.integers(0, 600)))[0]
    kind = draw(st.integers(0, 3))
    if kind == 0:  # any tag-block time, checksum right
        return retimed(base, draw(_TAG_VALUES))
    if kind == 1:  # any bytes at all
        return draw(st.binary(max_size=120))
    if kind == 2:  # a real line with some bytes changed
        line = bytearray(base)
        for _ in range(draw(st.integers(1, 4))):
            line[draw(st.integers(0, len(line) - 1))] = draw(st.integers(0, 255))
        return bytes(line)
    return base


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(_hostile_line(), max_size=80), live=st.booleans(), batch=st.sampled_from([1, 7, 1000]))
def test_arbitrary_lines_never_raise_and_every_line_is_accounted(tmp_path_factory: pytest.TempPathFactory,
                                                                 lines: list[bytes], live: bool,
                                                                 batch: int) -> None:
    """Arbitrary bytes and arbitrary tag-block time values through the whole line path (assembler, decoder,
    engine, ticks), replayed and live: no exception reaches the per-batch safety net
    (`internal_error`), and every non-blank line is read, rejected, a duplicate or still held."""
    tmp = tmp_path_factory.mktemp("hostile")
    wall = [1_750_000_300.0]
    zones = load_zone_file(write_zones(tmp / "z.geojson"))
    p = Pipeline(load_settings(None, env={}), zones, clock=(lambda: wall[0]) if live else None)
    for lo in range(0, len(lines), batch):
        p.process_lines(lines[lo:lo + batch], source=b"rx")
        if live:
            wall[0] += 1
            p.tick(wall[0])
    asm = p.assembler
    accounted = (asm.assembled_lines + sum(asm.rejects.values()) + asm.duplicates + asm.other_sentences
                 + asm.pending_lines)
    summary = p.finish()
    assert "internal_error" not in summary.rejects
    assert asm.lines == accounted


def test_a_restored_clock_ahead_of_the_wall_clock_is_refused(tmp_path: Path) -> None:
    """State saved after a wild line had moved the clock three days ahead (as before the clock rules, or
    with the guard off): at restore the clock goes back to the newest plausible time, the vessel heard
    only in the future is dropped, and a real `dark` after it is reported again (it never was)."""
    zones = load_zone_file(write_zones(tmp_path / "z.geojson"))
    unguarded = load_settings(None, env={"MONITOR_CLOCK__MAX_AHEAD_S": "0"})
    t0 = 1_750_000_000
    first = Pipeline(unguarded, zones)
    first.engine.dirty = set()
    first.process_lines([ln for k in range(5) for ln in position_lines(FLEET[0], 56.3, 26.1, t0 + 60 * k)])
    first.process_lines(position_lines(FLEET[1], 56.4, 26.1, t0 + 3 * DAY))  # the wild line
    assert first.engine.now == t0 + 3 * DAY
    saved = {k: v for k, v in first.engine.export_state(everything=True).items() if v is not None}
    wall = [t0 + 300.0]
    second = Pipeline(load_settings(None, env={}), zones, clock=lambda: wall[0])
    second.engine.import_state(saved)
    assert second.engine.refuse_clock_beyond(wall[0] + 3600) == (t0 + 3 * DAY, 1)
    assert set(second.engine.vessels) == {FLEET[0]} and second.engine.now == t0 + 240
    # The feed goes on (another ship), FLEET[0] stays silent: dark at its last report + 45 min.
    alerts = []
    for k in range(1, 60):
        wall[0] = t0 + 240 + 60 * k
        alerts += second.process_lines(position_lines(FLEET[2], 56.5, 26.1, wall[0]), source=b"rx")
    dark = [a for a in alerts if a.kind == "dark"]
    assert [(a.mmsi, a.time) for a in dark] == [(FLEET[0], t0 + 240 + 2700)]
    assert second.engine.refuse_clock_beyond(wall[0] + 3600) is None


def test_a_bug_in_one_batch_is_counted_and_the_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The per-batch safety net (with the test suite's raising turned off): a batch whose processing raises
    is counted as `internal_error` (its lines), and the next batch is processed as usual."""
    monkeypatch.setattr(Pipeline, "raise_internal_errors", False)
    p = Pipeline(load_settings(None, env={}), load_zone_file(write_zones(tmp_path / "z.geojson")))
    real = p.engine.process
    calls = [0]

    def flaky(*args: object, **kw: object) -> object:
        calls[0] += 1
        if calls[0] == 1:
            raise ZeroDivisionError("a bug")
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(p.engine, "process", flaky)
    assert p.process_lines(fleet_lines(1_750_000_000, 0)) == []
    alerts = p.process_lines(fleet_lines(1_750_000_060, 1))
    assert {a.kind for a in alerts} == {"zone_enter"}
    assert p.finish().rejects == {"internal_error": len(FLEET)}
