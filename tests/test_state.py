"""The saved state's format (monitor.savedstate): round trip, every value checked, no pickle; and the daemon
with a corrupt or old-format state database: moved aside, one error event, a fresh start, no restart loop."""

from __future__ import annotations

import functools
import gzip
import json
import marshal
import math
import pickle
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor import engine as engine_module
from monitor.config import load_settings
from monitor.engine import Engine, Vessel
from monitor.pipeline import Pipeline
from monitor.savedstate import OLD_FORMAT, STATE_VERSION, T_MAX, T_MIN, StateError
from monitor.store import DB_NAME, Store
from monitor.zones import default_zone_path, load_zone_file
from tests.helpers import write_zones
from tests.mqtt_helpers import Broker
from tests.test_service import Daemon, feed_lines

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "hormuz-sample.nmea.gz"
HORMUZ = load_zone_file(default_zone_path())


def sample_pipeline() -> Pipeline:
    p = Pipeline(load_settings(None, env={}), HORMUZ)
    p.engine.dirty = set()
    with gzip.open(SAMPLE) as f:
        p.process_lines(f.read().splitlines())
    return p


def saved(engine: Engine) -> dict[str, bytes]:
    return {k: v for k, v in engine.export_state(everything=True).items() if v is not None}


# ---- round trip --------------------------------------------------------------------------------------

def test_export_import_export_gives_the_same_state() -> None:
    """The sample's whole engine state (tracks, zones, transits under way, episodes, encounter pairs,
    posture) saved, restored into a new engine and saved again gives the same bytes; every row is JSON
    of this state version, never a pickle."""
    p = sample_pipeline()
    first = saved(p.engine)
    assert len(first) == len(p.engine.vessels) + 1
    for key, blob in first.items():
        value = json.loads(blob)
        assert (value[0] if key.startswith("v:") else value["version"]) == STATE_VERSION
    q = Pipeline(load_settings(None, env={}), HORMUZ)
    assert q.engine.import_state(first) == len(p.engine.vessels)
    assert saved(q.engine) == first
    assert q.engine.now == p.engine.now and q.engine.stale == p.engine.stale
    assert q.posture.state() == p.posture.state()
    assert any(v.transit for v in q.engine.vessels.values())  # the sample exercises the zone references


times = st.floats(T_MIN, T_MAX, allow_nan=False)
never_or_time = st.one_of(st.just(-math.inf), times)
opt_time = st.one_of(st.none(), times)
nan = st.just(math.nan)
lons = st.floats(-180, 180, allow_nan=False)
lats = st.floats(-90, 90, allow_nan=False)
text = st.one_of(st.none(), st.text(max_size=30))


@st.composite
def vessels(draw: st.DrawFn, n_zones: int, n_straits: int) -> Vessel:
    v = Vessel(draw(st.integers(1, 999_999_999)), [])
    v.name, v.callsign, v.destination = draw(text), draw(text), draw(text)
    v.imo = draw(st.one_of(st.none(), st.integers(0, 2**30)))
    v.ship_type = draw(st.one_of(st.none(), st.integers(0, 255)))
    v.draught = draw(st.one_of(st.none(), st.floats(0, 25.5)))
    for name in ("time", "heard", "land_start", "land_last", "jump_start", "jump_last", "ww_last", "slow_t"):
        setattr(v, name, draw(never_or_time))
    v.lon, v.lat = draw(st.one_of(nan, lons)), draw(st.one_of(nan, lats))
    v.sog, v.cog = draw(st.one_of(nan, st.floats(0, 102.2))), draw(st.one_of(nan, st.floats(0, 359.9)))
    v.dark, v.dark_strait, v.lo_alerted, v.ww_alerted = (draw(st.booleans()) for _ in range(4))
    v.jump_cands = tuple(draw(st.lists(st.tuples(times, lons, lats), max_size=3)))
    v.lo_t0, v.lo_fast, v.ww_since = draw(opt_time), draw(opt_time), draw(opt_time)
    v.lo_x, v.lo_y, v.slow_x, v.slow_y = draw(lons), draw(lats), draw(lons), draw(lats)
    v.lo_r = draw(st.floats(0, 1e6))
    v.cell = draw(st.one_of(st.none(), st.tuples(st.integers(-18000, 18000), st.integers(-9000, 9000))))
    zone = st.integers(0, n_zones - 1)
    v.member = sum(1 << z for z in draw(st.sets(zone)))
    v.last_s = sum(1 << z for z in draw(st.sets(zone)))
    v.pending = draw(st.dictionaries(zone, times, max_size=3))
    v.transit = draw(st.dictionaries(st.integers(0, n_straits - 1), st.tuples(st.integers(0, 1), times)))
    v.dark_zone = draw(st.one_of(st.none(), zone))
    return v


@functools.cache
def hormuz_engine() -> Engine:
    return Pipeline(load_settings(None, env={}), HORMUZ).engine


def same(a: Any, b: Any) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_vessel_state_survives_the_round_trip(data: st.DataObject) -> None:
    """Property: every field of a vessel, drawn over its whole range (never-times, missing values, zone
    sets, transits, pending entries), comes back from its saved row exactly."""
    e = hormuz_engine()
    zones = e.geofence.zones
    straits = [s.zone.id for s in e.geofence.straits]
    v = data.draw(vessels(len(zones), len(straits)))
    blob = engine_module._vessel_state(v, zones, straits, {})
    w = engine_module._restore_vessel(f"v:{v.mmsi}", blob, e.geofence.index_of,
                                      {sid: i for i, sid in enumerate(straits)})
    more = ("member", "last_s", "pending", "transit", "dark_zone")
    for name in (*(n for n, _ in engine_module._FIELDS), *more):
        assert same(getattr(w, name), getattr(v, name)), name


def test_the_time_bounds_are_the_parsers() -> None:
    """A time the feed parser admits is one the state reader takes: the daemon never refuses its own state."""
    from monitor import nmea

    assert (T_MIN, T_MAX) == (nmea.TIME_MIN, nmea.TIME_MAX)


def test_the_engine_row_takes_unknown_keys_and_defaults_missing_ones() -> None:
    """Extensible: an engine row with a key this version does not know loads (the key is ignored), and one
    without the optional keys (an older writer) loads with their defaults."""
    p = sample_pipeline()
    state = saved(p.engine)
    g = json.loads(state["engine"])
    g["a_key_from_a_later_version"] = {"x": [1, 2]}
    q = Pipeline(load_settings(None, env={}), HORMUZ)
    q.engine.import_state({**state, "engine": json.dumps(g).encode()})
    assert q.engine.now == p.engine.now
    r = Pipeline(load_settings(None, env={}), HORMUZ)
    r.engine.import_state({"engine": json.dumps({"version": STATE_VERSION}).encode()})
    assert r.engine.now == -math.inf and r.engine.stale == 0


def test_a_vessel_row_takes_detectors_added_or_gone() -> None:
    """A detector's fields are saved under its name: a row without a detector's entry (saved before the
    detector existed) restores with the fields' defaults, an entry of a detector this version does not
    know is left alone, and an entry with more fields than this version knows is refused."""
    p = sample_pipeline()
    state = saved(p.engine)
    key = next(k for k in state if k.startswith("v:") and json.loads(state[k])[-6].get("loiter"))
    row = json.loads(state[key])
    detectors = row[-6]
    from monitor.detectors import AGGREGATES, DETECTORS

    assert set(detectors) == {d.name for d in (*DETECTORS, *AGGREGATES) if d.fields}
    assert {"dark", "loiter", "wrong_way", "traffic"} <= set(detectors)
    del detectors["loiter"]
    detectors["a_later_detector"] = [12.5, None]  # from a later version
    q = Pipeline(load_settings(None, env={}), HORMUZ)
    q.engine.import_state({**state, key: json.dumps(row).encode()})
    v = q.engine.get(int(key[2:]))
    assert v is not None and v.lo_t0 is None and v.lo_alerted is False and v.lo_r == 0.0
    detectors["wrong_way"] = [*detectors["wrong_way"], 1.0]
    r = Pipeline(load_settings(None, env={}), HORMUZ)
    with pytest.raises(StateError, match="wrong_way: 4 fields"):
        r.engine.import_state({**state, key: json.dumps(row).encode()})


# ---- every value checked --------------------------------------------------------------------------------

class RunsCode:
    """Unpickling this creates the file `path`: what a crafted version-1 row could do."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


def tampered(state: dict[str, bytes], case: str, marker: Path) -> tuple[str, bytes]:
    """(key, blob) of a bad row of the kind `case` names, made from a good saved state."""
    key = next(k for k in sorted(state) if k.startswith("v:"))
    row = json.loads(state[key])
    g = json.loads(state["engine"])
    if case == "truncated":
        return key, state[key][: len(state[key]) // 2]
    if case == "garbage":
        return key, bytes(range(256))[7:90]
    if case == "wrong-type":
        row[2] = 42  # the name
        return key, json.dumps(row).encode()
    if case == "time-out-of-range":
        row[8] = 1e20
        return key, json.dumps(row).encode()
    if case == "nan-time":
        return key, json.dumps(row).replace(json.dumps(row[13]), "NaN", 1).encode()
    if case == "mmsi-zero":
        return "engine", json.dumps({**g, "pairs": [[0, 5, T_MIN, T_MIN, False, 1.0]]}).encode()
    if case == "other-version":
        row[0] = STATE_VERSION + 1
        return key, json.dumps(row).encode()
    if case == "wrong-shape":
        return key, json.dumps(row[:-1]).encode()
    if case == "deep":
        return "engine", b"[" * 100_000 + b"]" * 100_000
    if case == "old-pickle":
        return "engine", pickle.dumps({"now": 0.0, "posture": RunsCode(marker)}, protocol=5)
    if case == "old-marshal":  # a version-1 vessel row
        return key, marshal.dumps((1, (int(key[2:]), None), {}, [], [], {}, None))
    raise AssertionError(case)


CASES = ["truncated", "garbage", "wrong-type", "time-out-of-range", "nan-time", "mmsi-zero", "other-version",
         "wrong-shape", "deep", "old-pickle", "old-marshal"]


@pytest.mark.parametrize("case", CASES)
def test_a_bad_row_is_refused_and_changes_nothing(tmp_path: Path, case: str) -> None:
    """Each kind of bad row raises StateError naming the row, and the engine is left exactly as it was
    (all rows are checked before any is applied); a pickle is never unpickled: the file its payload
    would create does not appear, and the error says it is the old format."""
    state = saved(sample_pipeline().engine)
    marker = tmp_path / "pwned"
    key, blob = tampered(state, case, marker)
    q = Pipeline(load_settings(None, env={}), HORMUZ)
    with pytest.raises(StateError) as info:
        q.engine.import_state({**state, key: blob})
    assert info.value.key == key and "\n" not in str(info.value)
    assert q.engine.vessels == {} and q.engine.now == -math.inf
    assert not marker.exists()
    if case.startswith("old-"):
        assert info.value.problem == OLD_FORMAT


# ---- the daemon with a bad state database ----------------------------------------------------------------

def write_state(directory: Path) -> None:
    """A real saved state (three ships of the service tests) and one queued alert, as the daemon writes."""
    p = Pipeline(load_settings(None, env={}), load_zone_file(write_zones(directory.parent / "z.geojson")))
    p.engine.dirty = set()
    p.process_lines(feed_lines())
    with Store(directory) as store:
        store.commit([("queued-1", "t/alerts/info/transit", b'{"id":"queued-1"}')], saved(p.engine))


def set_row(directory: Path, key: str, blob: bytes, user_version: int | None = None) -> None:
    db = sqlite3.connect(directory / DB_NAME)
    with db:
        db.execute("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (key, blob))
        if user_version is not None:
            db.execute(f"PRAGMA user_version = {user_version}")
    db.close()


@pytest.mark.parametrize("case", ["truncated", "garbage", "wrong-type", "old-pickle", "not-sqlite"])
def test_a_corrupt_state_database_is_moved_aside_and_the_daemon_starts_fresh(
    tmp_path: Path, broker: Broker, case: str
) -> None:
    """The real daemon on a state database with a bad row (or a file that is not SQLite): it starts and is
    ready, logs exactly one error event naming the file and the problem (state_old_format for a version-1
    pickle row, whose payload does not run), the file is moved aside as monitor.db.corrupt-<time> and the
    queued alert carried over; a second start is clean: no error, no loop."""
    d = Daemon(tmp_path, broker.url, prefix=f"corrupt-{case}")
    marker = tmp_path / "pwned"
    if case == "not-sqlite":
        d.state.mkdir()
        (d.state / DB_NAME).write_bytes(b"\x00garbage, not SQLite\xff" * 512)
    else:
        write_state(d.state)
        state = Store(d.state).load_state()
        key, blob = tampered(state, case, marker)
        set_row(d.state, key, blob, user_version=1 if case == "old-pickle" else None)
    try:
        d.start()
        errors = [e for e in d.events() if e.get("level") == "error" or e.get("log_level") == "error"]
        want = "state_old_format" if case == "old-pickle" else "state_corrupt"
        assert [e["event"] for e in errors] == [want], d.log_text()
        assert errors[0]["file"] == str(d.state / DB_NAME) and errors[0]["problem"]
        if case == "old-pickle":
            assert "pickle" in errors[0]["problem"]
        assert errors[0]["alerts_kept"] == (0 if case == "not-sqlite" else 1)
        moved_to = Path(errors[0]["moved_to"])
        assert moved_to.parent == d.state and moved_to.name.startswith(f"{DB_NAME}.corrupt-")
        assert moved_to.exists()
        assert {p.name for p in d.state.glob(f"{DB_NAME}.corrupt-*")} <= {
            moved_to.name + suffix for suffix in ("", "-wal", "-shm")}
        assert "Traceback" not in d.log_text()
        assert not marker.exists()
        assert d.get("/readyz")[1]["state_restored_vessels"] == 0
        d.signal(signal.SIGTERM)
        assert d.wait() == 0
        seen = len(d.events())
        d.start()
        again = d.events()[seen:]
        assert not [e for e in again if e.get("level") == "error" or e.get("log_level") == "error"], again
        assert any(e["event"] == "started" for e in again)
        assert {p.name for p in d.state.glob(f"{DB_NAME}.corrupt-*")} <= {  # nothing moved again
            moved_to.name + suffix for suffix in ("", "-wal", "-shm")}
    finally:
        d.kill()


def test_a_state_directory_that_cannot_be_created_exits_1_with_one_line(tmp_path: Path) -> None:
    """An I/O problem at start (the state directory lies under a regular file) exits 1, so systemd's
    Restart=on-failure retries (not 3, which it treats as permanent), with one line naming the path."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cfg = tmp_path / "m.toml"
    cfg.write_text(f'[state]\ndirectory = "{blocker / "state"}"\n[http]\nenabled = false\n'
                   '[mqtt]\nurl = "mqtt://127.0.0.1:1"\n')
    r = subprocess.run([sys.executable, "-m", "monitor", "run", "--config", str(cfg)], capture_output=True,
                       timeout=60)
    assert r.returncode == 1
    lines = r.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and str(blocker / "state") in lines[0] and "Traceback" not in lines[0], lines
