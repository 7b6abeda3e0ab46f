"""Property tests of geofence invariants over random tracks in the toy strait (hypothesis)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import shapely
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.config import load_settings
from monitor.pipeline import Pipeline
from monitor.zones import load_zone_file
from tests.helpers import T0, position_lines, synthetic_zones, write_zones

fixes = st.lists(
    st.tuples(
        st.floats(55.3, 57.7),  # lon
        st.floats(25.4, 26.6),  # lat
        st.integers(1, 900),  # seconds since the previous fix
    ),
    min_size=1,
    max_size=30,
)


def lines_for(track: list[tuple[float, float, int]]) -> tuple[list[bytes], list[tuple[float, float]]]:
    out: list[bytes] = []
    pts: list[tuple[float, float]] = []
    t = T0
    for lon, lat, dt in track:
        t += dt
        out += position_lines(538000001, lon, lat, t, sog=10.0, cog=90.0)
        # What the decoder sees: positions at AIS resolution (1/10000 minute).
        pts.append((round(lon * 600000) / 600000, round(lat * 600000) / 600000))
    return out, pts


# Random tracks hop about faster than ships sail: the jump detector would rightly distrust them, so it
# is switched off here to test the geofence alone.
NO_JUMPS = {"MONITOR_DETECTORS__JUMP_SPEED_KN": "1e9"}


def replay(tmp: Path, lines: list[bytes], batch: int, env: dict[str, str]) -> list[dict[str, Any]]:
    zf = load_zone_file(tmp / "z.geojson")
    p = Pipeline(load_settings(None, env={**NO_JUMPS, **env}), zf)
    alerts: list[dict[str, Any]] = []
    for i in range(0, len(lines), batch):
        alerts += [a.to_dict() for a in p.process_lines(lines[i : i + batch])]
    return alerts


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(track=fixes)
def test_enters_and_exits_alternate_and_end_consistent(
    tmp_path: Path, track: list[tuple[float, float, int]]
) -> None:
    """Per zone, enter and exit alternate starting with enter; a track ending inside a zone ends entered."""
    write_zones(tmp_path / "z.geojson")
    lines, pts = lines_for(track)
    alerts = replay(tmp_path, lines, batch=len(lines), env={"MONITOR_GEOFENCE__HYSTERESIS_M": "0"})
    zones = {
        f["properties"]["id"]: shapely.geometry.shape(f["geometry"]) for f in synthetic_zones()["features"]
    }
    for zid in ("strait", "lane-in", "port-a", "anch"):
        seq = [
            a["kind"]
            for a in alerts
            if a["zone"] and a["zone"]["id"] == zid and a["kind"] in ("zone_enter", "zone_exit")
        ]
        assert all(k == ("zone_enter" if i % 2 == 0 else "zone_exit") for i, k in enumerate(seq)), (zid, seq)
        inside_at_end = shapely.intersects_xy(zones[zid], *pts[-1])
        assert (len(seq) % 2 == 1) == bool(inside_at_end), (zid, seq, pts[-1])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(track=fixes, batch=st.integers(1, 7))
def test_batching_never_changes_alerts(
    tmp_path: Path, track: list[tuple[float, float, int]], batch: int
) -> None:
    """The same lines in batches of any size give exactly the same alerts, ids and order included."""
    write_zones(tmp_path / "z.geojson")
    lines, _ = lines_for(track)
    whole = replay(tmp_path, lines, batch=len(lines), env={})
    assert replay(tmp_path, lines, batch=batch, env={}) == whole
    assert len({a["id"] for a in whole}) == len(whole)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(track=fixes)
@example(track=[(57.0, 26.0, 1), (55.5, 26.0, 1)])  # starts on the outer gate, leaves it inward
@example(track=[(56.0, 26.0, 1), (57.5, 26.0, 1)])  # starts on the inner gate, leaves it outward
def test_transits_need_both_gates(tmp_path: Path, track: list[tuple[float, float, int]]) -> None:
    """An inbound transit needs the track to go from east of the outer gate to west of the inner gate
    (and outbound the reverse), with the transit's time between those fixes. A fix exactly on a gate
    counts as on the side the next move leaves it for (gates are half-open: a fix on the gate is
    crossed once, by the move that leaves it)."""
    write_zones(tmp_path / "z.geojson")
    lines, pts = lines_for(track)
    alerts = replay(tmp_path, lines, batch=len(lines), env={})
    xs = [x for x, _ in pts]
    for a in alerts:
        if a["kind"] != "transit":
            continue
        if a["details"]["direction"] == "inbound":
            assert any(x >= 57.0 for x in xs) and any(x <= 56.0 for x in xs)
            first_east = next(i for i, x in enumerate(xs) if x >= 57.0)
            assert any(x <= 56.0 for x in xs[first_east:])
        else:
            first_west = next(i for i, x in enumerate(xs) if x <= 56.0)
            assert any(x >= 57.0 for x in xs[first_west:])
        assert a["details"]["duration_s"] > 0


@settings(max_examples=300, deadline=None)
@given(
    moves=st.lists(
        st.tuples(st.floats(55.3, 57.7), st.floats(25.4, 26.6), st.floats(55.3, 57.7), st.floats(25.4, 26.6)),
        min_size=1,
        max_size=40,
    ),
    on_gate=st.booleans(),
)
def test_the_gate_prefilter_never_hides_a_crossing(tmp_path_factory: Any,
                                                   moves: list[tuple[float, float, float, float]],
                                                   on_gate: bool) -> None:
    """The batch pre-filter of the fast path (Geofence.may_cross_gates) is True for every move in which the
    exact per-move test (gate_crossings) finds a crossing, ends exactly on a gate's vertices included."""
    import numpy as np

    from monitor.geofence import Geofence

    tmp = tmp_path_factory.mktemp("gates")
    gf = Geofence(load_zone_file(write_zones(tmp / "z.geojson")), hysteresis_m=150.0)
    if on_gate:  # start or end moves exactly on gate vertices, where rounding matters most
        verts = [(ax, ay) for s in gf.straits for g in s.gates for ax, ay, _, _, _ in g.edges]
        moves = [(*verts[k % len(verts)], x2, y2) if k % 2 else (x1, y1, *verts[k % len(verts)])
                 for k, (x1, y1, x2, y2) in enumerate(moves)]
    a = np.asarray(moves, dtype=np.float64)
    near = gf.may_cross_gates(a[:, 0], a[:, 1], a[:, 2], a[:, 3])
    for (x1, y1, x2, y2), flagged in zip(moves, near.tolist(), strict=True):
        if gf.gate_crossings(x1, y1, x2, y2):
            assert flagged
