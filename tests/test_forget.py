"""Vessels silent for state.forget_after_s are forgotten: memory and saved state stay bounded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config import load_settings
from monitor.pipeline import Pipeline
from monitor.zones import load_zone_file
from tests.helpers import T0, position_lines, static_lines, track_lines, write_zones
from tests.oracle import use_reference

A, B = 538000001, 538000002
PORT = (55.55, 25.95)  # inside port-a of the toy zone file
SEA = (55.0, 26.5)  # in the gulf region, in no tracked zone


def pipeline(tmp_path: Path, forget_after_s: float) -> Pipeline:
    zones = load_zone_file(write_zones(tmp_path / "z.geojson"))
    return Pipeline(load_settings(None, env={"MONITOR_STATE__FORGET_AFTER_S": str(forget_after_s)}), zones)


def run(p: Pipeline, lines: list[bytes]) -> list[dict[str, Any]]:
    return [a.to_dict() for a in p.process_lines(lines)]


def keep_clock(p: Pipeline, start: float, end: float) -> list[dict[str, Any]]:
    """Vessel B reports every 10 minutes from start to end: the feed clock moves on."""
    out = []
    t = start
    while t <= end:
        out += run(p, position_lines(B, *SEA, t))
        t += 600
    return out


@pytest.mark.parametrize("static_later", [False, True])
def test_a_silent_vessel_is_forgotten_and_is_new_when_heard_again(tmp_path: Path, static_later: bool) -> None:
    """A vessel in a port falls silent; once it has been silent for the setting (two hours here), at the
    next hourly look, it is gone from the engine, its saved state is deleted with the next save, and the
    counter counts it. Heard again, it is a new vessel: zone_enter with first_seen. A static report keeps
    a vessel known as a position does."""
    p = pipeline(tmp_path, 7200)
    p.engine.dirty = set()  # the daemon's mode: changes are tracked for saving
    first = run(p, position_lines(A, *PORT, T0))
    assert [(a["kind"], a["details"]) for a in first] == [("zone_enter", {"first_seen": True})]
    p.engine.export_state()  # saved
    # Looks at T0 + 3600, + 7200, + 10800: silent since T0 (or T0 + 4000) for more than two hours?
    keep_clock(p, T0 + 600, T0 + 3600)
    if static_later:
        run(p, static_lines(A, T0 + 4000, "QUIET ONE"))  # heard again, without a position
    keep_clock(p, T0 + 4200, T0 + 10_800)
    if static_later:
        assert A in p.engine.vessels and p.engine.forgotten == 0
        keep_clock(p, T0 + 11_400, T0 + 14_400)
    assert A not in p.engine.vessels and B in p.engine.vessels
    assert p.engine.forgotten == 1
    assert p.engine.export_state()[f"v:{A}"] is None  # its saved state is deleted
    keep_clock(p, p.engine.now + 600, T0 + 5 * 3600 - 600)  # (a line 2 h ahead alone would be held back)
    again = run(p, position_lines(A, *PORT, T0 + 5 * 3600))
    assert [(a["kind"], a["details"]) for a in again] == [("zone_enter", {"first_seen": True})]
    assert A in p.engine.vessels


def test_never_forget_with_zero(tmp_path: Path) -> None:
    """forget_after_s = 0 keeps every vessel: heard again after hours in the same port, no new alert."""
    p = pipeline(tmp_path, 0)
    run(p, position_lines(A, *PORT, T0))
    keep_clock(p, T0 + 600, T0 + 6 * 3600)
    assert A in p.engine.vessels and p.engine.forgotten == 0
    assert run(p, position_lines(A, *PORT, T0 + 6 * 3600 + 60)) == []


fixes = st.lists(
    st.tuples(st.integers(0, 5), st.floats(55.3, 57.7), st.floats(25.4, 26.6), st.integers(0, 1500),
              st.floats(0.0, 25.0), st.floats(0.0, 359.9)),
    min_size=1, max_size=60,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(track=fixes, batch=st.integers(1, 9))
def test_forgetting_keeps_the_fast_path_equal_to_the_reference(
    tmp_path: Path, track: list[tuple[int, float, float, int, float, float]], batch: int
) -> None:
    """Six vessels with silences longer than a short forget_after_s (forgotten, their table rows
    compacted, heard again as new): identical alerts on the fast path and the reference path."""
    lines = track_lines(track)

    def replay(fast: bool) -> tuple[list[dict[str, Any]], int]:
        p = pipeline(tmp_path, 900)
        if not fast:
            use_reference(p)
        out: list[dict[str, Any]] = []
        for i in range(0, len(lines), batch):
            out += run(p, lines[i : i + batch])
        return out, p.engine.forgotten

    assert replay(True) == replay(False)


def test_a_reload_keeps_a_pending_deletion(tmp_path: Path) -> None:
    """A vessel forgotten just before a reload (its deletion not saved yet) still has its saved state
    deleted with the new engine's next save."""
    p = pipeline(tmp_path, 7200)
    p.engine.dirty = set()
    run(p, position_lines(A, *PORT, T0))
    p.engine.export_state()
    keep_clock(p, T0 + 600, T0 + 10_800)
    assert A not in p.engine.vessels
    p.reload(p.settings, load_zone_file(tmp_path / "z.geojson"))
    assert p.engine.export_state()[f"v:{A}"] is None


# ---- the cap on vessels (state.max_vessels) ----------------------------------------------------------------


@pytest.mark.parametrize("fast", [True, False])
def test_a_flood_of_junk_mmsis_is_evicted_first_and_the_fleet_kept(tmp_path: Path, fast: bool) -> None:
    """60 ships report every minute for ten minutes; then 1,200 junk MMSIs, each heard once, flood in,
    among further reports of the ships. With a cap of 1,100, the vessels kept never exceed it, every real
    ship is still known with its state, and the ones dropped are junk only."""
    zones = load_zone_file(write_zones(tmp_path / "z.geojson"))
    p = Pipeline(load_settings(None, env={"MONITOR_STATE__MAX_VESSELS": "1100"}), zones)
    if not fast:
        use_reference(p)
    fleet = [538_300_000 + k for k in range(60)]
    junk = [412_000_000 + 7 * k for k in range(1200)]  # (past the table's first 1024 rows)
    for minute in range(10):
        p.process_lines([ln for j, m in enumerate(fleet) for ln in position_lines(m, 55.0 + 0.01 * j, 26.5,
                                                                                   T0 + 60 * minute)])
    for minute in range(10, 30):
        t = T0 + 60 * minute
        lines = [ln for j, m in enumerate(fleet) for ln in position_lines(m, 55.0 + 0.01 * j, 26.5, t)]
        lines += [ln for m in junk[60 * (minute - 10): 60 * (minute - 9)]
                  for ln in position_lines(m, 55.5, 26.6, T0 + 60 * minute + 1)]
        p.process_lines(lines)
        assert len(p.engine.vessels) <= 1100
    assert set(fleet) <= set(p.engine.vessels)
    assert p.engine.evicted == 60 + 1200 - len(p.engine.vessels)
    assert "internal_error" not in p.finish().rejects
    assert all(p.engine.get(m).heard == T0 + 60 * 29 for m in fleet)  # type: ignore[union-attr]


def test_without_junk_the_longest_silent_go_first(tmp_path: Path) -> None:
    """Every vessel heard more than once: past the cap, those silent longest are dropped (a tenth below
    it)."""
    zones = load_zone_file(write_zones(tmp_path / "z.geojson"))
    p = Pipeline(load_settings(None, env={"MONITOR_STATE__MAX_VESSELS": "20"}), zones)
    for k in range(21):  # vessel k reports twice, at minute k and k + 0.5
        m = 538_400_000 + k
        t = T0 + 60 * k
        p.process_lines(position_lines(m, 55.0, 26.5, t) + position_lines(m, 55.0, 26.5, t + 30))
    assert len(p.engine.vessels) == 18 and p.engine.evicted == 3
    assert set(p.engine.vessels) == {538_400_000 + k for k in range(3, 21)}
