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
        seq = [a["kind"] for a in alerts if a["zone"] and a["zone"]["id"] == zid and a["kind"] in ("zone_enter", "zone_exit")]
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
