"""The speed-ups change nothing: the zone grid agrees with exact point-in-polygon tests, and the engine's
fast path gives exactly the alerts of the reference per-fix path."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config import load_settings
from monitor.geofence import Geofence
from monitor.pipeline import Pipeline
from monitor.zones import default_zone_path, load_zone_file
from tests.helpers import track_lines, write_zones
from tests.oracle import run_state as oracle_run_state
from tests.oracle import use_reference
from tools.simulate import benchmark_lines

ROOT = Path(__file__).resolve().parents[1]
HORMUZ = load_zone_file(default_zone_path())


def test_grid_agrees_with_exact_tests_on_random_points_and_every_vertex() -> None:
    """The lazily classified grid gives the same zone masks as testing every candidate polygon, for
    random points over the whole zone file and for every vertex of every zone (points on boundaries)."""
    g = Geofence(HORMUZ)
    rng = np.random.default_rng(7)
    x = rng.uniform(46, 62, 50_000)
    y = rng.uniform(20, 32, 50_000)
    co = np.concatenate([shapely.get_coordinates(z.geometry) for z in g.zones])
    x, y = np.r_[x, co[:, 0]], np.r_[y, co[:, 1]]
    assert (g.membership_words(x, y) == g.membership_exact(x, y)).all()
    assert (g.membership_words(x, y) == g.membership_exact(x, y)).all()  # again, from classified cells


@settings(max_examples=50, deadline=None)
@given(pts=st.lists(st.tuples(st.floats(55.0, 58.0), st.floats(25.0, 27.5)), min_size=1, max_size=200),
       jitter=st.sampled_from([0.0, 1e-9, 1e-6, 1e-3]))
def test_grid_agrees_near_boundaries(pts: list[tuple[float, float]], jitter: float) -> None:
    """Points near zone boundaries (vertices nudged by tiny amounts) get the same masks either way."""
    g = Geofence(HORMUZ)
    x = np.array([p[0] for p in pts])
    y = np.array([p[1] for p in pts])
    co = shapely.get_coordinates(g.zones[len(pts) % len(g.zones)].geometry)[: len(pts)]
    x = np.r_[x, co[:, 0] + jitter]
    y = np.r_[y, co[:, 1] - jitter]
    assert (g.membership_words(x, y) == g.membership_exact(x, y)).all()


def replay(lines: list[bytes], fast: bool, batch: int, zones: Any = None) -> list[dict[str, Any]]:
    p = Pipeline(load_settings(None, env={}), zones or HORMUZ)
    if not fast:
        use_reference(p)
    out: list[dict[str, Any]] = []
    for i in range(0, len(lines), batch):
        out += [a.to_dict() for a in p.process_lines(lines[i : i + batch])]
    return out


def test_fast_path_equals_reference_on_the_sample() -> None:
    """The bundled sample (every alert kind, a posture escalation and fall-back) gives identical alerts on
    the fast path and the reference path, in large and small batches."""
    with gzip.open(ROOT / "examples" / "hormuz-sample.nmea.gz") as f:
        lines = f.read().splitlines()
    reference = replay(lines, fast=False, batch=8192)
    assert len({a["kind"] for a in reference}) == 14  # (interference and its clearing: issue 13)
    assert replay(lines, fast=True, batch=8192) == reference
    assert replay(lines, fast=True, batch=333) == reference


def test_fast_path_equals_reference_on_benchmark_traffic() -> None:
    """Dense traffic of 300 vessels over the Gulf: identical alerts on both paths."""
    lines = list(benchmark_lines(300, 30_000, seed=5))
    reference = replay(lines, fast=False, batch=4096)
    assert reference
    assert replay(lines, fast=True, batch=4096) == reference


fixes = st.lists(
    st.tuples(st.integers(0, 3), st.floats(55.3, 57.7), st.floats(25.4, 26.6), st.integers(0, 1200),
              st.floats(0.0, 25.0), st.floats(0.0, 359.9)),
    min_size=1, max_size=60,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(track=fixes, batch=st.integers(1, 9))
def test_fast_path_equals_reference_on_random_tracks(
    tmp_path: Path, track: list[tuple[int, float, float, int, float, float]], batch: int
) -> None:
    """Random reports of four vessels in the toy strait (jumps, land, gates, slow and wrong-way fixes,
    silences) give identical alerts on both paths, whatever the batch size."""
    zones = load_zone_file(write_zones(tmp_path / "z.geojson"))
    lines = track_lines(track)
    fast = replay(lines, fast=True, batch=batch, zones=zones)
    assert fast == replay(lines, fast=False, batch=batch, zones=zones)


def many_zones(tmp_path: Path) -> Any:
    """The toy strait plus 120 small ports on a grid: masks of two 64-bit words."""
    from tests.helpers import box, feature, synthetic_zones

    collection = synthetic_zones()
    for k in range(120):
        x = 55.3 + (k % 12) * 0.2
        y = 25.45 + (k // 12) * 0.11
        collection["features"].append(
            feature(f"p{k}", "port", {"type": "Polygon", "coordinates": box(x, y, x + 0.05, y + 0.04)}))
    return load_zone_file(write_zones(tmp_path / "many.geojson", collection))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(track=fixes, batch=st.integers(1, 9))
def test_fast_path_equals_reference_with_more_than_64_zones(
    tmp_path: Path, track: list[tuple[int, float, float, int, float, float]], batch: int
) -> None:
    """With more zones than one 64-bit word holds, both paths still give identical alerts."""
    zones = many_zones(tmp_path)
    assert len(zones.zones) > 100  # two 64-bit words per mask
    lines = track_lines(track)
    fast = replay(lines, fast=True, batch=batch, zones=zones)
    assert fast == replay(lines, fast=False, batch=batch, zones=zones)


@pytest.mark.parametrize("collide", [False, True])
def test_zone_sets_intern_rows_of_several_words(monkeypatch: pytest.MonkeyPatch, collide: bool) -> None:
    """Masks of three 64-bit words get one id per distinct mask, and the id gives the mask back; a key
    collision between unequal rows (forced here) falls back to comparing whole rows."""
    from monitor import geofence

    if collide:
        monkeypatch.setattr(geofence, "_row_keys", lambda words: np.zeros(len(words), dtype=np.uint64))
    sets = geofence.ZoneSets(3)
    rng = np.random.default_rng(3)
    pool = rng.integers(0, 2**63, size=(12, 3), dtype=np.uint64)
    pool[0] = 0
    pool[1, 2] = np.uint64(2**63 + 5)  # the top bit of the last word
    rows = pool[rng.integers(0, 12, 400)]
    ids = sets.intern_words(rows)
    as_int = [int(a) | int(b) << 64 | int(c) << 128 for a, b, c in rows.tolist()]
    assert [sets.masks[i] for i in ids.tolist()] == as_int
    assert len(set(ids.tolist())) == len(set(as_int))
    assert (sets.words[ids] == rows).all()
    assert sets.intern(0) == 0 and (sets.intern_words(rows) == ids).all()


def test_fast_path_equals_reference_across_a_reload_that_renumbers_zones(tmp_path: Path) -> None:
    """A reload mid-feed to a zone file with 70 ports put first (every zone's index moves, masks take
    two 64-bit words) and one port taken out: the vessels keep their state by zone id, and both paths
    go on giving identical alerts."""
    import json

    from tests.helpers import box, feature

    with gzip.open(ROOT / "examples" / "hormuz-sample.nmea.gz") as f:
        lines = f.read().splitlines()
    raw = json.loads(default_zone_path().read_text())
    extra = [feature(f"extra-{k}", "port", {"type": "Polygon", "coordinates": box(
        56.6 + (k % 10) * 0.03, 24.6 + (k // 10) * 0.03, 56.62 + (k % 10) * 0.03, 24.62 + (k // 10) * 0.03)})
        for k in range(70)]
    raw["features"] = extra + [f for f in raw["features"] if f["properties"]["id"] != "fujairah"]
    renumbered = load_zone_file(write_zones(tmp_path / "renumbered.geojson", raw))
    settings_ = load_settings(None, env={})
    half = len(lines) // 2

    def run(fast: bool) -> list[list[dict[str, Any]]]:
        p = Pipeline(settings_, HORMUZ)
        out: list[list[dict[str, Any]]] = []
        for zones, part in ((None, lines[:half]), (renumbered, lines[half:])):
            if zones is not None:
                p.reload(settings_, zones)
            if not fast:
                use_reference(p)
            out.append([])
            for i in range(0, len(part), 2048):
                out[-1] += [a.to_dict() for a in p.process_lines(part[i : i + 2048])]
        return out

    before, after = reference = run(False)
    assert len(before) > 50 and len(after) > 50
    # Vessels inside a zone at the reload are not announced again (their membership came across by id).
    heard_before = {b["mmsi"] for b in before}
    assert not [a for a in after if a["details"].get("first_seen") and a["mmsi"] in heard_before]
    assert run(True) == reference


def spoofing_zones(tmp_path: Path) -> Any:
    """The toy strait plus a port on the land (a fix there is trusted, not on_land)."""
    from tests.helpers import box, feature, synthetic_zones

    collection = synthetic_zones()
    collection["features"].append(
        feature("port-on-land", "port", {"type": "Polygon", "coordinates": box(58.4, 25.1, 58.5, 25.2)}))
    return load_zone_file(write_zones(tmp_path / "spoof.geojson", collection))


# Fixes of four vessels, each either at sea in the toy strait or spoofed onto its land (the port on the
# land included), seconds apart around the episode gap (900 s) and the dark limits.
spoofed_fixes = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.one_of(
            st.tuples(st.floats(55.3, 57.7), st.floats(25.4, 26.6)),  # at sea
            st.tuples(st.floats(58.05, 58.95), st.floats(25.02, 25.28)),  # on land (or in its port)
        ),
        st.sampled_from([0, 10, 60, 300, 899, 901, 2000, 4000]),
        st.floats(0.0, 25.0),
        st.floats(0.0, 359.9),
    ),
    min_size=1, max_size=80,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(track=spoofed_fixes, batch=st.integers(1, 12))
def test_fast_path_equals_reference_with_vessels_spoofed_onto_land(
    tmp_path: Path, track: list[tuple[int, tuple[float, float], int, float, float]], batch: int
) -> None:
    """Vessels that go on and off land (GNSS spoofing), in episodes that continue or lapse, some never with
    a trusted fix: identical alerts on both paths, whatever the batch size."""
    zones = spoofing_zones(tmp_path)
    lines = track_lines([(k, lon, lat, dt, sog, cog) for k, (lon, lat), dt, sog, cog in track])
    fast = replay(lines, fast=True, batch=batch, zones=zones)
    assert fast == replay(lines, fast=False, batch=batch, zones=zones)


# Slow vessels close together (loiter spells and encounters, which the fast path carries without the
# per-fix step while nothing can change), around the strait's west edge and its inner gate, and at the
# anchorage's edge; speeds around the 2 kn thresholds; an escalation rule on loiter and encounter raises
# the posture to CRITICAL (shorter limits) in the middle of batches and lets it fall back.
SITES = [(56.0, 26.25), (57.2, 25.6), (56.5, 25.8)]
slow_fixes = st.lists(
    st.tuples(
        st.integers(0, 5) | st.integers(0, 1),  # (often just two: long spells side by side)
        st.floats(-0.003, 0.003), st.floats(-0.003, 0.003),  # drift around the vessel's own place
        st.sampled_from([0, 10, 10, 10, 30, 60, 300, 601, 901]),
        st.sampled_from([0.3, 0.3, 1.5, 1.99, 2.0, 2.5, 8.0]),
        st.floats(0.0, 359.9),
    ),
    min_size=1, max_size=200,
)
places = st.lists(st.tuples(st.floats(-0.006, 0.006), st.floats(-0.006, 0.006)), min_size=6, max_size=6)


ESCALATING = """
[[posture.rules]]
name = "slow-cluster"
kinds = ["loiter", "encounter"]
min_vessels = 2
window_s = 3600
radius_km = 100
raise_to = "CRITICAL"
quiet_s = 1500
"""


def run_state(lines: list[bytes], fast: bool, batch: int, zones: Any, config: Path
              ) -> tuple[list[dict[str, Any]], dict[str, bytes | None]]:
    return oracle_run_state(load_settings(config, env={}), zones, lines, batch, fast)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(track=slow_fixes, where=places, batch=st.integers(1, 40))
def test_fast_path_equals_reference_with_slow_vessels_together(
    tmp_path: Path, track: list[tuple[int, float, float, int, float, float]],
    where: list[tuple[float, float]], batch: int
) -> None:
    """Loiter spells and encounters under way, carried by the fast path while nothing can change them,
    with the posture changing mid-batch: identical alerts and identical saved state on both paths."""
    zones = load_zone_file(write_zones(tmp_path / "z.geojson"))
    config = tmp_path / "escalating.toml"
    config.write_text(ESCALATING)
    lines = track_lines([
        (k, SITES[k // 2][0] + where[k][0] + dx, SITES[k // 2][1] + where[k][1] + dy, dt, sog, cog)
        for k, dx, dy, dt, sog, cog in track
    ])
    assert run_state(lines, True, batch, zones, config) == run_state(lines, False, batch, zones, config)


@pytest.mark.parametrize("batch", [1, 7, 64, 4096])
def test_a_vessel_arriving_beside_one_carried_quietly_meets_it(tmp_path: Path, batch: int) -> None:
    """Vessel A drifts alone, slow, in one grid cell (the fast path carries its fixes); B comes and stays
    within 60 m of it, slow, for longer than the encounter limit, then leaves: the encounter is raised,
    as the plan says, and both paths agree on alerts and saved state."""
    zones = load_zone_file(write_zones(tmp_path / "z.geojson"))
    config = tmp_path / "escalating.toml"
    config.write_text(ESCALATING)
    track = [(0, 56.505, 25.805, 10, 0.3, 0.0) for _ in range(200)]  # A alone for 2,000 s
    for _ in range(400):  # 4,000 s side by side (the limit: 3,600 s; 900 s once the rule raises CRITICAL)
        track += [(0, 56.505, 25.805, 10, 0.3, 0.0), (1, 56.5055, 25.8052, 0, 0.3, 0.0)]
    track += [(1, 56.6 + 0.001 * i, 25.9, 10, 9.0, 90.0) for i in range(30)]  # B leaves
    track += [(0, 56.505, 25.805, 10, 0.3, 0.0) for _ in range(50)]
    lines = track_lines(track)
    fast = run_state(lines, True, batch, zones, config)
    assert [a["kind"] for a in fast[0]].count("encounter") == 1
    assert fast == run_state(lines, False, batch, zones, config)


SPOOF_RAISES = """
[[posture.rules]]
name = "spoofing"
kinds = ["on_land"]
min_vessels = 2
window_s = 600
radius_km = 100
raise_to = "CRITICAL"
quiet_s = 7200
"""


@pytest.mark.parametrize("batch", [1, 50, 120, 4096])
def test_a_posture_raised_mid_batch_shortens_a_quiet_spell_at_once(tmp_path: Path, batch: int) -> None:
    """A loiters in the strait (its fixes carried by the fast path: the NORMAL limit, 3,600 s, is far).
    At 1,500 s two vessels report on land within one batch, the rule raises the posture to CRITICAL
    (strait limit 1,200 s), and A's next fix raises its loiter alert: not at 3,600 s."""
    zones = load_zone_file(write_zones(tmp_path / "z.geojson"))
    config = tmp_path / "spoof.toml"
    config.write_text(SPOOF_RAISES)
    track = [(0, 56.5, 25.8, 10, 0.3, 0.0) for _ in range(150)]
    track += [(2, 58.5, 25.1, 0, 9.0, 0.0), (3, 58.6, 25.15, 0, 9.0, 0.0)]
    track += [(0, 56.5, 25.8, 10, 0.3, 0.0) for _ in range(100)]
    lines = track_lines(track)
    alerts, state = run_state(lines, True, batch, zones, config)
    kinds = [a["kind"] for a in alerts]
    assert "posture_change" in kinds
    raised = next(a for a in alerts if a["kind"] == "posture_change")
    loiter = next(a for a in alerts if a["kind"] == "loiter")
    assert loiter["posture"] == "CRITICAL"
    assert 0 < _seconds(loiter["time"]) - _seconds(raised["time"]) <= 10  # A's next fix
    assert (alerts, state) == run_state(lines, False, batch, zones, config)


def _seconds(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()  # (Python 3.11 reads the Z)


@pytest.mark.parametrize("batch", [1, 4096])
def test_the_encounter_grid_keeps_only_occupied_cells(tmp_path: Path, batch: int) -> None:
    """A slow vessel drifting across 25 grid cells leaves one occupied cell behind it, not 25 (the grid
    is walked by every batch's pre-filter), on both paths."""
    from monitor.detectors.encounter import Encounter

    zones = load_zone_file(write_zones(tmp_path / "z.geojson"))
    lines = track_lines([(0, 56.3 + 0.005 * i, 25.8, 10, 1.0, 90.0) for i in range(50)])
    for fast in (True, False):
        p = Pipeline(load_settings(None, env={}), zones)
        if not fast:
            use_reference(p)
        for i in range(0, len(lines), batch):
            p.process_lines(lines[i : i + batch])
        encounter = next(d for d in p.engine.detectors if isinstance(d, Encounter))
        assert [len(members) for members in encounter.grid.values()] == [1]
