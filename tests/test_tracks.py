"""Each vessel's recent track (Engine.track_of, GET /api/vessels/{mmsi}/track, the map page): real fixes of
the vessel, one every `http.track_interval_s` at most, the last `http.track_points` of them, kept across a
reload and through the compaction of the track table when other vessels are forgotten."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from monitor.config import load_settings
from monitor.pipeline import Pipeline
from monitor.zones import load_zone_file
from tests.helpers import T0, track_lines, write_zones
from tests.oracle import use_reference

A, B = 538000000, 538000001


def run(tmp_path: Path, lines: list[bytes], batch: int, *, fast: bool = True, points: int = 60,
        interval: float = 60.0) -> Pipeline:
    env = {"MONITOR_HTTP__TRACK_POINTS": str(points), "MONITOR_HTTP__TRACK_INTERVAL_S": str(interval)}
    p = Pipeline(load_settings(None, env=env), load_zone_file(write_zones(tmp_path / "z.geojson")),
                 keep_tracks=True)
    if not fast:
        use_reference(p)
    for i in range(0, len(lines), batch):
        p.process_lines(lines[i : i + batch])
    return p


def plan(n: int) -> list[tuple[int, float, float, int, float, float]]:
    """Vessel A every 10 s eastward (0.001 degree a fix), B alongside every 10 s."""
    out = []
    for i in range(n):
        out += [(0, 56.2 + 0.001 * i, 25.8, 10, 7.0, 90.0), (1, 56.2 + 0.001 * i, 25.9, 0, 7.0, 90.0)]
    return out


@pytest.mark.parametrize(("batch", "fast"), [(1, True), (7, True), (500, True), (7, False)])
def test_a_track_is_the_vessels_own_fixes_a_minute_apart(tmp_path: Path, batch: int, fast: bool) -> None:
    fixes = plan(300)  # 3,000 s
    track = run(tmp_path, track_lines(fixes), batch, fast=fast).engine.track_of(A)
    sent = {(T0 + 10 * (i + 1), round(56.2 + 0.001 * i, 4)) for i in range(300)}
    assert all((round(t), round(lon, 4)) in sent for t, lon, _ in track)  # (float32 keeps a metre)
    times = [t for t, _, _ in track]
    assert times == sorted(times)
    assert all(b - a >= 60 for a, b in itertools.pairwise(times[:-1]))  # (the last: the latest fix)
    assert times[-1] == T0 + 3000  # the latest fix ends it
    # One a minute at most, and at least one a minute and a batch (fixes are taken as batches end).
    batch_s = batch / 2 * 10
    assert 3000 / (60 + batch_s) - 2 <= len(track) <= 3000 / 60 + 2


def test_the_ring_keeps_the_last_points(tmp_path: Path) -> None:
    track = run(tmp_path, track_lines(plan(300)), 1, points=5).engine.track_of(A)
    assert len(track) == 6  # five kept, and the latest fix
    assert track[-1][0] == T0 + 3000 and track[0][0] >= T0 + 3000 - 6 * 60


def test_no_tracks_in_a_replay_or_with_none_asked(tmp_path: Path) -> None:
    p = run(tmp_path, track_lines(plan(50)), 7, points=0)
    assert p.engine.track_of(A) == [(T0 + 500, pytest.approx(56.249), pytest.approx(25.8))]
    assert p.engine.track_of(999) == []


def test_tracks_survive_a_reload_and_the_table_compaction(tmp_path: Path) -> None:
    lines = track_lines(plan(100))
    p = run(tmp_path, lines, 7)
    before_a, before_b = p.engine.track_of(A), p.engine.track_of(B)
    assert len(before_a) > 5
    p.reload(p.settings, load_zone_file(write_zones(tmp_path / "z2.geojson")))
    assert p.engine.track_of(A) == before_a and p.engine.track_of(B) == before_b
    p.engine._drop([A])  # (forgetting A moves B's row up the table)
    assert p.engine.track_of(B) == before_b and p.engine.track_of(A) == []
