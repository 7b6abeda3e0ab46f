"""Traffic statistics and the traffic alerts (issue 12, the transit half): a simulated 10-day recording
whose truth is the simulator's plans (tools.simulate.traffic_scenario), `stats` on it, the drop and the
recovery, restarts, the live daemon's GET /api/traffic, the retained MQTT topic and the counting rule."""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.alerts import Alert, iso_time
from monitor.config import load_settings
from monitor.detectors.traffic import CLASSES, Traffic, TrafficSettings, ship_class, traffic_stats
from monitor.errors import ConfigError
from monitor.pipeline import Pipeline
from monitor.savedstate import StateError
from monitor.zones import default_zone_path, load_zone_file
from tests.mqtt_helpers import Broker, Subscriber
from tests.test_service import Daemon
from tools.simulate import TrafficTruth, generate, traffic_scenario, write_feed

HORMUZ = load_zone_file(default_zone_path())
DAY = 86_400.0
COLLAPSE = 7


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrafficTruth, float]:
    """The 10-day recording (one collapse day), its truth, and its start (UNIX time)."""
    scenario, truth = traffic_scenario(days=10, collapse_day=COLLAPSE)
    path = tmp_path_factory.mktemp("traffic") / "traffic.nmea.gz"
    write_feed(path, generate(scenario))
    return path, truth, scenario.start.timestamp()


def lines_of(path: Path) -> list[bytes]:
    with gzip.open(path) as f:
        return f.read().splitlines()


def run(lines: list[bytes], p: Pipeline | None = None, seed: bool = True) -> tuple[Pipeline, list[Alert]]:
    p = p or Pipeline(load_settings(None, env={}), HORMUZ)
    if seed:
        p.seed_clock(lines[:4096])
    alerts = [a for i in range(0, len(lines), 4096) for a in p.process_lines(lines[i : i + 4096])]
    return p, alerts


def stats_cli(path: Path, *args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "monitor", "stats", str(path), *args],
                       capture_output=True, timeout=120, check=True)
    return r.stdout.decode()


def test_stats_per_day_counts_equal_the_simulators_truth(
        recording: tuple[Path, TrafficTruth, float]) -> None:
    """`stats --format json`: one row per UTC day of the recording, each day's transits by direction and
    class, tankers laden and ballast, exactly what the plans make (a recrossing within 48 h once, a vessel
    that turned back never)."""
    path, truth, start = recording
    stats = json.loads(stats_cli(path, "--format", "json"))
    assert stats["period"] == "day" and set(stats) >= {"straits", "ports", "anchorages"}
    rows = stats["straits"]["strait-of-hormuz"]
    assert [r["start"] for r in rows] == [iso_time(start + d * DAY) for d in range(len(truth.days))]
    for row, want in zip(rows, truth.days, strict=True):
        assert row["transits"] == want["total"], row["start"]
        assert row["by_direction"] == {"inbound": want["inbound"], "outbound": want["outbound"]}
        assert row["by_class"] == {c: want[c] for c in CLASSES}
        assert row["tankers"] == {"laden": want["laden"], "ballast": want["ballast"]}
    # The baseline: none before 7 days of history, then the median of the previous seven.
    assert [r["baseline"] for r in rows[:7]] == [None] * 7
    assert rows[COLLAPSE]["baseline"] == 10.0 and rows[COLLAPSE]["ratio"] == 0.2


def test_stats_csv_is_the_json_rows_flattened(recording: tuple[Path, TrafficTruth, float]) -> None:
    """`--format csv`: one header line, then the JSON's rows (every strait period, zeros included)."""
    path, truth, _ = recording
    text = stats_cli(path, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert text.splitlines()[0].startswith("area,id,start,transits,inbound,outbound,tanker,cargo,passenger,"
                                          "other,unknown,laden,ballast,baseline,ratio")
    straits = [r for r in rows if r["area"] == "strait"]
    assert [int(r["transits"]) for r in straits] == [d["total"] for d in truth.days]
    assert [int(r["tanker"]) for r in straits] == [d["tanker"] for d in truth.days]


def test_stats_by_hour_has_a_row_for_every_hour(recording: tuple[Path, TrafficTruth, float]) -> None:
    """`--by hour`: a row for every UTC hour from the recording's first to its last, the empty ones as
    zeros; their sum per day is the day's count."""
    path, truth, start = recording
    rows = json.loads(stats_cli(path, "--by", "hour", "--format", "json"))["straits"]["strait-of-hormuz"]
    last_report = max(float(line.split(b"c:")[1].split(b"*")[0]) for line in lines_of(path)[-50:])
    assert len(rows) == math.floor((last_report - start) / 3600) + 1
    by_day = Counter()
    for r in rows:
        by_day[r["start"][:10]] += r["transits"]
    assert [by_day[iso_time(start + d * DAY)[:10]] for d in range(10)] == [d["total"] for d in truth.days]


def test_one_drop_on_the_collapse_day_and_one_recovery_after(
        recording: tuple[Path, TrafficTruth, float]) -> None:
    """Exactly one traffic_drop, on the collapse day (as soon as it is certain, before the day ends), and
    one traffic_recovery when the next day closes back at its baseline; the drop raises the posture to
    ELEVATED (the default rule) and it falls back after the recovery."""
    path, truth, start = recording
    _, alerts = run(lines_of(path))
    drops = [a for a in alerts if a.kind == "traffic_drop"]
    recoveries = [a for a in alerts if a.kind == "traffic_recovery"]
    assert len(drops) == 1 and len(recoveries) == 1
    drop, recovery = drops[0], recoveries[0]
    collapse = start + COLLAPSE * DAY
    assert collapse < drop.time < collapse + DAY  # within the day, before it closed
    assert drop.mmsi is None and drop.vessel is None and drop.zone is not None
    assert drop.zone["id"] == "strait-of-hormuz"
    assert drop.details["period"] == iso_time(collapse)
    assert drop.details["count"] == truth.days[COLLAPSE]["total"] and drop.details["baseline"] == 10.0
    assert drop.details["by_class"]["tanker"] == {"count": 1, "baseline": 4.0, "ratio": 0.25}
    assert drop.details["by_direction"] == {"inbound": 1, "outbound": 1}
    assert recovery.time == collapse + 2 * DAY and recovery.details["period"] == iso_time(collapse + DAY)
    assert recovery.details["ratio"] == 1.0
    changes = [a for a in alerts if a.kind == "posture_change"]
    assert [(c.details["to"], c.time) for c in changes] == [("ELEVATED", drop.time),
                                                            ("NORMAL", collapse + 2 * DAY)]
    assert changes[0].details["set_by"] == "rule:traffic-drop"
    assert changes[0].details["reason"] == ("traffic drop in Strait of Hormuz: 2 transits (1 tankers) in the "
                                            f"day from {iso_time(collapse)}, baseline 10 (tankers 4)")


def test_a_turn_back_is_no_transit_and_a_recrossing_counts_once(
        recording: tuple[Path, TrafficTruth, float]) -> None:
    """The vessel that crossed the outer gate and went back out made no transit; the one that crossed in
    and back out the next day made two transits, counted once (truth: the first day only)."""
    path, truth, _ = recording
    p, alerts = run(lines_of(path))
    transits = Counter(a.mmsi for a in alerts if a.kind == "transit")
    assert all(transits[m] == 0 for m in truth.turned_back)
    assert all(transits[m] == 2 for m in truth.recrossed)
    rows = traffic_stats(p.engine)["straits"]["strait-of-hormuz"]
    assert sum(r["transits"] for r in rows) == sum(transits.values()) - len(truth.recrossed)


def test_without_enough_history_no_traffic_alert(tmp_path: Path) -> None:
    """The same collapse on day 3: fewer than `baseline_periods` closed days before it, so no alert."""
    scenario, _ = traffic_scenario(days=5, collapse_day=3)
    path = tmp_path / "short.nmea"
    write_feed(path, generate(scenario))
    _, alerts = run(path.read_bytes().splitlines())
    assert not [a for a in alerts if a.kind.startswith("traffic_")]


def test_a_restart_mid_day_neither_loses_nor_double_counts(
        recording: tuple[Path, TrafficTruth, float]) -> None:
    """The state saved in the middle of day 3 (vessels mid-passage) and restored into a new engine: the
    rest of the recording then gives the same statistics and the same traffic alerts as one run."""
    path, _, start = recording
    lines = lines_of(path)
    cut_time = start + 3 * DAY + 9 * 3600
    cut = next(i for i, ln in enumerate(lines) if float(ln.split(b"c:")[1].split(b"*")[0]) >= cut_time)
    whole, whole_alerts = run(lines)
    first, first_alerts = run(lines[:cut])
    assert 0 < traffic_stats(first.engine)["straits"]["strait-of-hormuz"][-1]["transits"] < 10
    saved = {k: v for k, v in first.engine.export_state(everything=True).items() if v is not None}
    second = Pipeline(load_settings(None, env={}), HORMUZ)
    second.engine.import_state(saved)
    second, second_alerts = run(lines[cut:], second, seed=False)
    assert traffic_stats(second.engine) == traffic_stats(whole.engine)
    kinds = ("traffic_drop", "traffic_recovery")
    assert [a.id for a in first_alerts + second_alerts if a.kind in kinds] == [
        a.id for a in whole_alerts if a.kind in kinds]
    t2 = next(a for a in second.engine.aggregates if isinstance(a, Traffic))
    tw = next(a for a in whole.engine.aggregates if isinstance(a, Traffic))
    assert t2.totals == tw.totals


def test_saved_traffic_state_is_checked(recording: tuple[Path, TrafficTruth, float]) -> None:
    """A saved traffic state with a bad value is refused naming it; another period length (the config
    changed) starts the counts again but keeps whom it counted; a strait the zone file lost is dropped."""
    path, _, _ = recording
    p, _ = run(lines_of(path)[:3000])
    saved = {k: v for k, v in p.engine.export_state(everything=True).items() if v is not None}
    g = json.loads(saved["engine"])
    for bad in ({"period": "week"}, {"start": 1e20}, {"straits": {"strait-of-hormuz": {"current": [1]}}},
                {"straits": {"strait-of-hormuz": {"counted": [[0, 1.0]]}}},
                {"totals": {"strait-of-hormuz": [-1] * 10}}):
        row = {**g, "traffic": {**g["traffic"], **bad}}
        q = Pipeline(load_settings(None, env={}), HORMUZ)
        with pytest.raises(StateError, match="traffic"):
            q.engine.import_state({**saved, "engine": json.dumps(row).encode()})
    traffic = g["traffic"]
    hormuz = traffic["straits"]["strait-of-hormuz"]
    row = {**g, "traffic": {**traffic, "period": "hour",
                            "straits": {**traffic["straits"], "gone-strait": hormuz},
                            "totals": {**traffic["totals"], "gone-strait": [0] * 10}}}
    q = Pipeline(load_settings(None, env={}), HORMUZ)
    q.engine.import_state({**saved, "engine": json.dumps(row).encode()})
    t = next(a for a in q.engine.aggregates if isinstance(a, Traffic))
    assert t.start is None and t.straits["strait-of-hormuz"].current == [0] * 10
    assert t.straits["strait-of-hormuz"].counted == {int(m): c for m, c in hormuz["counted"]}
    assert "gone-strait" not in t.straits
    # A state saved before the traffic detector existed restores with nothing counted.
    q = Pipeline(load_settings(None, env={}), HORMUZ)
    before = {k: v for k, v in g.items() if k != "traffic"}
    q.engine.import_state({**saved, "engine": json.dumps(before).encode()})
    assert next(a for a in q.engine.aggregates if isinstance(a, Traffic)).start is None


# ---- the counting rule, against a reference written here ---------------------------------------------

_ENGINE = Pipeline(load_settings(None, env={}), HORMUZ).engine
_STRAIT = _ENGINE.geofence.straits[0]

transit_events = st.lists(
    st.tuples(
        st.integers(0, 4),  # which vessel
        st.floats(0, 6 * DAY, allow_nan=False),  # when it completes, after the first day's start
        st.sampled_from(["inbound", "outbound"]),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(transit_events, st.lists(st.sampled_from([None, 30, 65, 75, 84]), min_size=5, max_size=5))
def test_each_transit_counts_once_per_window_in_the_period_it_completes(
        events: list[tuple[int, float, str]], types: list[int | None]) -> None:
    """Any transits of a few vessels over six days, fed in time order: each period's counts by class and
    direction are those of the rule written independently here (a vessel's transit within 48 h of its last
    counted one is not counted; it counts in the UTC day of its completion)."""
    day0 = 1_772_000_000.0 // DAY * DAY
    traffic = Traffic(_ENGINE)
    traffic.configure(TrafficSettings(baseline_periods=60))  # (no alert: only the counting is under test)
    mmsis = [538_200_000 + i for i in range(5)]
    for mmsi, ship_type in zip(mmsis, types, strict=True):
        _ENGINE.vessel(mmsi).ship_type = ship_type
    alerts: list[Alert] = []
    for i, t, direction in sorted(events, key=lambda e: e[1]):
        when = day0 + t
        while traffic.next_due() <= when:
            traffic.wake(traffic.next_due(), alerts)
        traffic.observe(_transit(mmsis[i], when, direction), alerts)
    # The reference.
    want: dict[float, Counter[str]] = {}
    last: dict[int, float] = {}
    for i, t, direction in sorted(events, key=lambda e: e[1]):
        when = day0 + t  # (the time as reported: a float sum)
        if i in last and when - last[i] < 2 * DAY:
            continue
        last[i] = when
        day = want.setdefault(math.floor(when / DAY) * DAY, Counter())
        day["total"] += 1
        day[direction] += 1
        day[ship_class(types[i])] += 1
    got = {row["start"]: row for row in traffic.rows(traffic.straits[_STRAIT.zone.id])}
    assert {iso_time(d) for d in want} <= set(got)
    for day_start, counts in want.items():
        row = got[iso_time(day_start)]
        assert row["transits"] == counts["total"]
        assert row["by_direction"] == {d: counts[d] for d in ("inbound", "outbound")}
        assert row["by_class"] == {c: counts[c] for c in CLASSES}
    assert sum(r["transits"] for r in got.values()) == sum(c["total"] for c in want.values())
    assert not alerts


def _transit(mmsi: int, t: float, direction: str) -> Alert:
    v = _ENGINE.vessels[mmsi]
    return Alert(id=f"t-{mmsi}-{t}", kind="transit", severity="info", posture="NORMAL", time=t, mmsi=mmsi,
                 vessel=v.info(), zone=_ENGINE.geofence.zone_dicts[_STRAIT.index], position=None,
                 details={"direction": direction, "duration_s": 3600.0})


def test_a_late_transit_amends_its_closed_period_and_one_older_than_kept_is_dropped() -> None:
    """A transit reported after its period closed (a receiver relaying late) still counts in that period's
    row; one from before the oldest period kept counts nowhere (and is not remembered either)."""
    traffic = Traffic(_ENGINE)
    traffic.keep = 3
    traffic.straits = {}
    traffic._build()
    day0 = 1_772_000_000.0 // DAY * DAY
    alerts: list[Alert] = []
    traffic.observe(_transit(538_200_001, day0 + 100.0, "inbound"), alerts)
    for k in range(1, 5):
        traffic.wake(day0 + k * DAY, alerts)
    traffic.observe(_transit(538_200_002, day0 + 3 * DAY + 5.0, "outbound"), alerts)  # the day before
    traffic.observe(_transit(538_200_003, day0 + 50.0, "outbound"), alerts)  # day 0: no longer kept
    rows = traffic.rows(traffic.straits[_STRAIT.zone.id])
    assert [r["transits"] for r in rows] == [0, 0, 1, 0]
    assert 538_200_003 not in traffic.straits[_STRAIT.zone.id].counted


def test_a_drop_is_not_called_early_while_vessels_under_way_could_still_make_it() -> None:
    """Near the day's end, 2 transits against a threshold of 5, but 3 vessels past their first gate could
    each still complete one: the drop is not certain before the day closes, and is raised when it does."""
    traffic = Traffic(_ENGINE)
    day0 = 1_780_000_000.0 // DAY * DAY
    alerts: list[Alert] = []
    mmsi = 538_300_000

    def transit(t: float) -> None:
        nonlocal mmsi
        mmsi += 1
        _ENGINE.vessel(mmsi).ship_type = 80 if mmsi % 2 else 70
        while traffic.next_due() <= t:
            traffic.wake(traffic.next_due(), alerts)
        traffic.observe(_transit(mmsi, t, "inbound"), alerts)

    for day in range(7):
        for k in range(10):
            transit(day0 + day * DAY + 3600.0 * (k + 1))
    transit(day0 + 7 * DAY + 3600.0)
    transit(day0 + 7 * DAY + 7200.0)
    under_way = [538_399_001, 538_399_002, 538_399_003]
    for m in under_way:
        _ENGINE.vessel(m).transit = {_STRAIT.index: (0, day0 + 7 * DAY + 80_000.0)}
    try:
        check = traffic.next_due()
        assert day0 + 7 * DAY + 20 * 3600 < check < day0 + 8 * DAY
        traffic.wake(check, alerts)
        assert alerts == []  # 2 + 3 could still reach 5
        traffic.wake(traffic.next_due(), alerts)
    finally:
        for m in under_way:
            _ENGINE.vessels[m].transit = {}
    drops = [a for a in alerts if a.kind != "posture_change"]
    assert [(a.kind, a.time, a.details["count"]) for a in drops] == [("traffic_drop", day0 + 8 * DAY, 2)]


def test_laden_or_ballast_from_draught_length_and_deepest_draught() -> None:
    """CONTRACT: laden at 0.7 of the reference draught, the deepest heard or 0.065 x length, whichever is
    deeper; without a draught, neither."""
    traffic = Traffic(_ENGINE)
    assert traffic.laden(20.0, 20.0, 330) is True  # 20 / 21.45
    assert traffic.laden(14.0, 14.0, 330) is False  # 14 / 21.45 = 0.65
    assert traffic.laden(14.0, 21.0, None) is False  # heard deeper before
    assert traffic.laden(14.0, None, None) is True  # nothing else known: its own draught is the reference
    assert traffic.laden(None, 20.0, 330) is None


def test_ship_classes_are_contracts() -> None:
    assert [ship_class(t) for t in (None, 0, 30, 60, 69, 70, 79, 80, 89, 90)] == [
        "unknown", "other", "other", "passenger", "passenger", "cargo", "cargo", "tanker", "tanker", "other"]


def test_traffic_settings_are_checked(tmp_path: Path) -> None:
    """[traffic] keys are validated: a recovery ratio below the drop ratio would flap; `rules = []` still
    turns every escalation rule off, the traffic one included."""
    config = tmp_path / "monitor.toml"
    config.write_text("[traffic]\ndrop_ratio = 0.6\nrecovery_ratio = 0.5\n")
    with pytest.raises(ConfigError, match="recovery_ratio"):
        load_settings(config, env={})
    config.write_text('[traffic]\nperiod = "week"\n')
    with pytest.raises(ConfigError, match=r"traffic\.period"):
        load_settings(config, env={})
    config.write_text("[posture]\nrules = []\n")
    assert load_settings(config, env={}).posture.rules == []
    rules = load_settings(None, env={}).posture.rules
    assert [r.name for r in rules] == ["gnss-interference", "traffic-drop", "interference-area"]


# ---- the live daemon ------------------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_the_live_daemon_serves_the_same_counts_as_stats(
        tmp_path: Path, broker: Broker, recording: tuple[Path, TrafficTruth, float]) -> None:
    """The recording sent to a running daemon over TCP: GET /api/traffic equals `stats --format json` of
    the same feed, the retained {prefix}/traffic/STRAIT holds its current and previous days, and the
    Prometheus counters count the transits by direction and class."""
    path, truth, _ = recording
    prefix = f"traffic-{time.monotonic_ns()}"
    d = Daemon(tmp_path, broker.url, prefix=prefix)
    hormuz = f'file = "{default_zone_path()}"'
    d.config.write_text(d.config.read_text().replace(f'file = "{d.zones}"', hormuz))
    want = json.loads(stats_cli(path, "--format", "json"))
    lines = lines_of(path)
    try:
        d.start()
        d.send(lines)
        d.wait_processed(len(lines), timeout=60)
        code, body = d.get("/api/traffic")
        assert code == 200
        assert body["straits"] == want["straits"] and body["period"] == "day"
        rows = want["straits"]["strait-of-hormuz"]
        async with Subscriber(broker.url, f"{prefix}/traffic/#") as sub:
            await sub.wait_until(lambda ms: any(
                json.loads(m.payload)["current"] == rows[-1] for m in ms), 30)  # type: ignore[arg-type]
        async with Subscriber(broker.url, f"{prefix}/traffic/#") as sub:  # a late subscriber: the retained
            got = await sub.wait_until(lambda ms: len(ms) > 0, 10)
        message = got[-1]
        assert str(message.topic) == f"{prefix}/traffic/strait-of-hormuz" and message.retain
        payload = json.loads(message.payload)  # type: ignore[arg-type]
        assert payload["previous"] == rows[-2] and payload["period"] == "day"
        _, text = d.get("/metrics")
        tankers_in = sum(day["laden"] for day in truth.days)  # (tankers go in laden)
        assert (f'chokepoint_transits_total{{class="tanker",direction="inbound",strait="strait-of-hormuz"}} '
                f"{float(tankers_in)}") in text
    finally:
        d.stop()


def test_the_recording_is_small_and_fast(recording: tuple[Path, TrafficTruth, float]) -> None:
    """The 10-day recording stays small enough to replay in well under a few seconds (a test fixture)."""
    path, _, _ = recording
    lines = lines_of(path)
    started = time.perf_counter()
    run(lines)
    assert len(lines) < 50_000 and time.perf_counter() - started < 5.0


def test_stats_of_a_missing_feed_exits_1_naming_it(tmp_path: Path) -> None:
    """`stats` shares `replay`'s start-up checks: a feed that cannot be read is one line and exit 1."""
    r = subprocess.run([sys.executable, "-m", "monitor", "stats", str(tmp_path / "nope.nmea")],
                       capture_output=True, timeout=60)
    assert r.returncode == 1 and b"nope.nmea" in r.stderr and r.stdout == b""


def test_a_daemon_restarted_mid_day_serves_the_same_counts(
        tmp_path: Path, broker: Broker, recording: tuple[Path, TrafficTruth, float]) -> None:
    """The daemon stopped (SIGTERM) in the middle of day 3 and started again on its state directory: fed the
    rest, it serves what `stats` gives for the whole recording, nothing lost nor counted twice."""
    path, _, start = recording
    d = Daemon(tmp_path, broker.url, prefix=f"traffic-{time.monotonic_ns()}")
    hormuz = f'file = "{default_zone_path()}"'
    d.config.write_text(d.config.read_text().replace(f'file = "{d.zones}"', hormuz))
    want = json.loads(stats_cli(path, "--format", "json"))
    lines = lines_of(path)
    cut_time = start + 3 * DAY + 9 * 3600
    cut = next(i for i, ln in enumerate(lines) if float(ln.split(b"c:")[1].split(b"*")[0]) >= cut_time)
    try:
        d.start()
        d.send(lines[:cut])
        d.wait_processed(cut, timeout=60)
        _, before = d.get("/api/traffic")
        assert 0 < before["straits"]["strait-of-hormuz"][-1]["transits"] < 10
        d.stop()
        d.start()
        d.send(lines[cut:])
        d.wait_processed(len(lines) - cut, timeout=60)
        code, body = d.get("/api/traffic")
        assert code == 200 and body["straits"] == want["straits"]
    finally:
        d.stop()


def test_the_simulator_writes_the_traffic_recording(tmp_path: Path,
                                                    recording: tuple[Path, TrafficTruth, float]) -> None:
    """`python tools/simulate.py --traffic 10 OUT` writes this recording (what the README's example shows)."""
    from tools import simulate

    out = tmp_path / "traffic.nmea.gz"
    assert simulate.main(["--traffic", "10", str(out)]) == 0
    assert lines_of(out) == lines_of(recording[0])
    with pytest.raises(SystemExit):
        simulate.main(["--traffic", "10", "--sample", str(out)])
