"""GNSS interference areas (issue 13): mass spoofing and jamming give one area each, with their truth from
the simulator's plans and the test's own geometry; a single faulty transponder, a pair of spoofed ships
and the real captures give none; the fast path's batch hook sees every report; the state survives a
restart mid-episode."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h3
import pytest
import shapely

from monitor import savedstate as S
from monitor.config import load_settings
from monitor.detectors.interference import EVAL_S, Interference
from monitor.pipeline import Pipeline
from monitor.savedstate import StateError
from monitor.zones import default_zone_path
from tests.helpers import nmea_checksum, position_lines, tagged
from tests.mqtt_helpers import Broker, Subscriber
from tests.oracle import use_reference
from tests.scenarios import (
    HOUR,
    INLAND,
    MINUTE,
    OMAN_SEA,
    T0,
    fixes,
    haversine_km,
    lines_of,
    offset,
    run_lines,
    scenario,
    seconds,
    select,
    zonefile,
)
from tests.test_service import Daemon
from tools.simulate import VesselPlan, encode_position, state_at

ROOT = Path(__file__).resolve().parents[1]
SPOOF_FROM, SPOOF_TO = 30 * MINUTE, 70 * MINUTE
DURATION = 4 * HOUR


def fleet(spoofed: int, others: int = 8, spoof_to: tuple[float, float] = INLAND) -> list[VesselPlan]:
    """Ships sailing slowly east in open water of the Gulf of Oman within 10 km of OMAN_SEA; the first
    `spoofed` of them report `spoof_to` from SPOOF_FROM to SPOOF_TO."""
    plans = []
    for k in range(spoofed + others):
        start = offset(OMAN_SEA, 360.0 * k / (spoofed + others), 4_000.0 + 500.0 * (k % 5))
        plans.append(VesselPlan(
            mmsi=538_100_000 + k, route=[start, offset(start, 90.0, 20_000.0)], speed_kn=2.0,
            report_interval_s=30.0, ship_type=70,
            spoofs=[(SPOOF_FROM, SPOOF_TO, *spoof_to)] if k < spoofed else []))
    return plans


def areas(alerts: Sequence[dict[str, Any]], kind: str = "interference") -> list[dict[str, Any]]:
    return select(alerts, kind)


def detector(p: Pipeline) -> Interference:
    return next(a for a in p.engine.aggregates if isinstance(a, Interference))


def run_pipeline(lines: Sequence[bytes], batch: int = 500, p: Pipeline | None = None
                 ) -> tuple[Pipeline, list[dict[str, Any]]]:
    p = p or Pipeline(load_settings(None, env={}), zonefile())
    alerts: list[dict[str, Any]] = []
    for i in range(0, len(lines), batch):
        alerts += [a.to_dict() for a in p.process_lines(lines[i: i + batch])]
    return p, alerts


# ---- spoofing ------------------------------------------------------------------------------------------
def test_mass_spoofing_to_one_inland_point_gives_one_area_with_its_target_and_count() -> None:
    """Five ships of thirteen spoofed onto one inland point for 40 min: one `spoofing` area, raised once,
    around where the ships really are, its target within 2 km of the point, its five vessels counted;
    the posture raised naming the area; cleared an hour after the last spoofed report."""
    plans = fleet(5)
    lines = lines_of(scenario(*plans, duration_s=DURATION))
    alerts = run_lines(lines)
    [area] = areas(alerts)
    d = area["details"]
    assert d["type"] == "spoofing" and area["mmsi"] is None and area["vessel"] is None
    assert haversine_km((d["target"]["lon"], d["target"]["lat"]), INLAND) < 2.0
    assert d["vessels_affected"] == 5
    assert d["vessels_heard"] >= 5 and d["ratio"] == round(5 / d["vessels_heard"], 3)
    assert SPOOF_FROM <= seconds(d["started"]) <= seconds(area["time"]) <= SPOOF_TO
    polygon = shapely.geometry.shape(d["area"])
    assert d["area"]["type"] == "Polygon"
    for plan in plans[:5]:  # where the spoofed ships last reported their true position, inside the area
        _, lon, lat = [f for f in fixes(lines, plan.mmsi) if f[0] < SPOOF_FROM][-1]
        assert polygon.covers(shapely.Point(lon, lat))
    assert polygon.covers(shapely.Point(area["position"]["lon"], area["position"]["lat"]))
    assert not polygon.covers(shapely.Point(*INLAND))  # counted where the ships are, not where shown
    # (The posture rises once: here at the fifth `on_land` itself, by the rule that counts them.)
    assert [a["details"]["to"] for a in select(alerts, "posture_change")] == ["ELEVATED", "NORMAL"]
    [cleared] = areas(alerts, "interference_cleared")
    c = cleared["details"]
    assert c["area_id"] == d["area_id"] and c["vessels_affected"] == 5 and c["ended"]
    # Quiet for an hour after the last sample: the first spoofed report in the 5-minute bucket of the
    # last one.
    spoofed = sorted(t for plan in plans[:5] for t, lon, lat in fixes(lines, plan.mmsi)
                     if haversine_km((lon, lat), INLAND) < 1.0)
    last = min(t for t in spoofed if t >= (T0 + spoofed[-1]) // 300 * 300 - T0)
    assert last + HOUR < seconds(cleared["time"]) <= last + HOUR + MINUTE


@pytest.mark.parametrize("spoofed", [1, 2])
def test_one_or_two_spoofed_ships_are_no_area(spoofed: int) -> None:
    """A single faulty transponder (or two ships) on land is never an area: `min_vessels` is 3."""
    alerts = run_lines(lines_of(scenario(*fleet(spoofed), duration_s=2 * HOUR)))
    assert len(select(alerts, "on_land")) == spoofed
    assert areas(alerts) == [] and areas(alerts, "interference_cleared") == []


def test_an_area_that_drifts_stays_one_episode() -> None:
    """The spoofed fleet sails on 10 kn for an hour and a half while spoofed (about 28 km, across cells):
    one area, one clearing."""
    plans = []
    for k in range(6):
        start = offset(OMAN_SEA, 60.0 * k, 3_000.0)
        plans.append(VesselPlan(mmsi=538_200_000 + k, route=[start, offset(start, 70.0, 60_000.0)],
                                speed_kn=10.0, report_interval_s=30.0,
                                spoofs=[(SPOOF_FROM, SPOOF_FROM + 90 * MINUTE, *INLAND)]))
    alerts = run_lines(lines_of(scenario(*plans, duration_s=DURATION)))
    [area] = areas(alerts)
    [cleared] = areas(alerts, "interference_cleared")
    assert cleared["details"]["area_id"] == area["details"]["area_id"]


def test_fast_path_and_reference_agree_and_the_batch_hook_sees_every_report() -> None:
    """The vessels heard per cell are the same on the fast path (which skips most fixes) and on the
    reference (every fix through the per-fix step), and equal the test's own count: per batch, each
    vessel's last report in its h3 cell, over the window."""
    plans = fleet(5)
    lines = lines_of(scenario(*plans, duration_s=2 * HOUR))
    fast, fast_alerts = run_pipeline(lines)
    ref, ref_alerts = run_pipeline(lines, p=use_reference(Pipeline(load_settings(None, env={}), zonefile())))
    assert fast_alerts == ref_alerts and areas(fast_alerts)
    assert detector(fast).heard == detector(ref).heard
    # The test's own count: each plan vessel's first report in every 15 minutes of the clock, placed where
    # it really was (a spoofed report at its last true one: the plan's spoofed point is far inland), the
    # latest in each cell, within the window of the last judgement.
    end = detector(fast).tick - EVAL_S
    cut = end - detector(fast).settings.window_s
    expected: dict[str, dict[int, float]] = {}
    for plan in plans:
        true: tuple[float, float] | None = None
        bucket = -1
        for t, lon, lat in fixes(lines, plan.mmsi):
            if haversine_km((lon, lat), INLAND) > 1.0:
                true = (lon, lat)
            if (T0 + t) // 900 != bucket:
                bucket = (T0 + t) // 900
                if true is not None and cut <= T0 + t < end:
                    cell = h3.latlng_to_cell(true[1], true[0], 5)
                    expected.setdefault(cell, {})[plan.mmsi] = T0 + t
    mine = {p.mmsi for p in plans}
    got = {c: {m: ti for m, ti in d.items() if m in mine and cut <= ti < end}
           for c, d in detector(fast).heard.items()}
    assert {c: d for c, d in got.items() if d} == expected


# ---- saved state ---------------------------------------------------------------------------------------
def test_a_restart_mid_episode_neither_repeats_nor_loses_the_area(tmp_path: Path) -> None:
    """The state saved while the area is open and restored into a new engine: the rest of the feed gives
    no second `interference`, the same clearing as one run, and the area is served at once."""
    lines = lines_of(scenario(*fleet(5), duration_s=DURATION))
    _, whole = run_pipeline(lines)
    cut = next(i for i, ln in enumerate(lines)
               if float(ln.split(b"c:")[1].split(b"*")[0]) >= T0 + SPOOF_FROM + 30 * MINUTE)
    first, first_alerts = run_pipeline(lines[:cut])
    assert len(areas(first_alerts)) == 1 and detector(first).areas()["features"]
    saved = {k: v for k, v in first.engine.export_state(everything=True).items() if v is not None}
    second = Pipeline(load_settings(None, env={}), zonefile())
    second.engine.import_state(saved)
    assert detector(second).areas() == detector(first).areas()
    _, second_alerts = run_pipeline(lines[cut:], p=second)
    kinds = ("interference", "interference_cleared")
    assert [a["id"] for a in first_alerts + second_alerts if a["kind"] in kinds] == [
        a["id"] for a in whole if a["kind"] in kinds]


def test_saved_interference_state_is_checked() -> None:
    """A bad saved value is refused naming it; a state saved before the detector existed restores with
    nothing."""
    lines = lines_of(scenario(*fleet(5), duration_s=HOUR))
    p, _ = run_pipeline(lines)
    saved = {k: v for k, v in p.engine.export_state(everything=True).items() if v is not None}
    g = json.loads(saved["engine"])
    x = g["interference"]
    assert x["episodes"]
    ep = x["episodes"][0]
    for bad in ({"heard": {"nope": []}}, {"hits": {"spoofing": {"8543a883fffffff": [[0, 1.0]]}}},
                {"episodes": [{**ep, "type": "rain"}]}, {"spoofed": [[538100000, 1e12, 0.0, 0.0]]},
                {"episodes": [{**ep, "target": [500.0, 0.0]}]}, {"tick": "soon"}):
        row = {**g, "interference": {**x, **bad}}
        q = Pipeline(load_settings(None, env={}), zonefile())
        with pytest.raises(StateError, match="interference"):
            q.engine.import_state({**saved, "engine": json.dumps(row).encode()})
    q = Pipeline(load_settings(None, env={}), zonefile())
    q.engine.import_state({**saved, "engine": json.dumps({k: v for k, v in g.items()
                                                          if k != "interference"}).encode()})
    assert detector(q).areas() == {"type": "FeatureCollection", "features": []}


# ---- jamming -------------------------------------------------------------------------------------------
JAM_CENTRE = OMAN_SEA
JAM_RADIUS_KM = 15.0
JAM_FROM, JAM_TO = 40 * MINUTE, 100 * MINUTE


def _line(payload: str, t: float) -> bytes:
    body = f"AIVDM,1,1,,A,{payload},0"
    return tagged(f"!{body}*{nmea_checksum(body)}", t, "sim1")


def jamming_lines(plans: Sequence[VesselPlan], jam: bool = True, no_gnss: Sequence[int] = (),
                  no_time: Sequence[int] = ()) -> tuple[list[bytes], set[int]]:
    """Every plan vessel reports each minute; from JAM_FROM to JAM_TO those within JAM_RADIUS_KM of
    JAM_CENTRE (by their plan) report time stamp 63 and no position (lat 91, lon 181). `no_gnss`: MMSIs
    that do so all the time (a transponder with no GNSS); `no_time`: MMSIs that always send time stamp 60
    with their position. Returns the lines and the vessels jammed."""
    lines: list[bytes] = []
    jammed: set[int] = set()
    for t in range(0, int(DURATION), 60):
        for plan in plans:
            s = state_at(plan, t)
            assert s is not None
            inside = haversine_km((s.lon, s.lat), JAM_CENTRE) <= JAM_RADIUS_KM
            if plan.mmsi in no_gnss or (jam and inside and JAM_FROM <= t < JAM_TO):
                if plan.mmsi not in no_gnss:
                    jammed.add(plan.mmsi)
                payload = encode_position(1, plan.mmsi, 181.0, 91.0, s.sog_kn, s.cog_deg, 511, 63)
            elif plan.mmsi in no_time:
                payload = encode_position(1, plan.mmsi, s.lon, s.lat, s.sog_kn, s.cog_deg, s.heading, 60)
            else:
                payload = encode_position(1, plan.mmsi, s.lon, s.lat, s.sog_kn, s.cog_deg, s.heading, t % 60)
            lines.append(_line(payload, T0 + t))
    return lines, jammed


def jam_fleet() -> list[VesselPlan]:
    """Eight ships within 10 km of the centre, twelve more 40 to 80 km from it, all slow."""
    plans = []
    for k in range(20):
        near = k < 8
        start = offset(JAM_CENTRE, 360.0 * k / (8 if near else 12),
                       (3_000.0 + 800.0 * k) if near else 40_000.0 + 3_000.0 * (k % 12))
        plans.append(VesselPlan(mmsi=538_300_000 + k, route=[start, offset(start, 180.0, 10_000.0)],
                                speed_kn=1.0))
    return plans


def test_jamming_in_a_circle_gives_one_jamming_area_around_it_cleared_after() -> None:
    """Ships in a 15 km circle report time stamp 63 and no position for an hour, traffic outside it is
    normal: one `jamming` area holding the circle's centre, counting the ships the plans put inside,
    cleared an hour after the jamming ends; no target."""
    plans = jam_fleet()
    lines, jammed = jamming_lines(plans)
    assert len(jammed) >= 5
    alerts = run_lines(lines)
    [area] = areas(alerts)
    d = area["details"]
    assert d["type"] == "jamming" and "target" not in d
    assert d["vessels_affected"] == len(jammed)
    assert shapely.geometry.shape(d["area"]).covers(shapely.Point(*JAM_CENTRE))
    assert JAM_FROM <= seconds(area["time"]) <= JAM_FROM + 5 * MINUTE
    [up] = [a for a in select(alerts, "posture_change") if a["details"]["to"] == "ELEVATED"]
    assert d["area_id"] in up["details"]["reason"] and up["details"]["set_by"] == "rule:interference-area"
    [cleared] = areas(alerts, "interference_cleared")
    assert cleared["details"]["area_id"] == d["area_id"]
    # Quiet for an hour after the last sample (the first jammed report of the last 5-minute bucket:
    # every minute is reported, the buckets start at whole 5 minutes of the clock).
    last = (T0 + JAM_TO - MINUTE) // 300 * 300 - T0
    assert last + HOUR < seconds(cleared["time"]) <= last + HOUR + MINUTE


def test_a_transponder_without_gnss_is_no_jamming() -> None:
    """One ship that never has a position (and two more that never give a time stamp: the decoder's
    second 60) among clean traffic: no area; such transponders are faulty, not jammed."""
    plans = jam_fleet()
    lines, _ = jamming_lines(plans, jam=False, no_gnss=[plans[0].mmsi],
                             no_time=[plans[1].mmsi, plans[2].mmsi])
    alerts = run_lines(lines)
    assert areas(alerts) == []


# ---- real captures -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["libais/typeexamples.nmea", "libais/tagblock.nmea", "libais/test.aivdm",
                                  "pyais/nmea_data_sample.txt", "pyais/sample.ais", "pyais/mixed.txt",
                                  "pyais/ais_test_messages", "pyais/timestamped.ais"])
def test_real_captures_raise_no_area(name: str) -> None:
    """Clean real traffic (other decoders' test captures; 18 of pyais's 164 vessels sync indirectly all
    the time, 7 never give a time stamp) raises no interference area."""
    lines = (ROOT / "tests" / "data" / name).read_bytes().splitlines()
    alerts = run_lines(lines, env={"MONITOR_CLOCK__MAX_AHEAD_S": "0"})
    assert areas(alerts) == []


def test_the_api_feature_collection_carries_the_running_details() -> None:
    """areas(): a Feature per open area, its geometry the area, its properties the alert's details."""
    p, alerts = run_pipeline(lines_of(scenario(*fleet(5), duration_s=SPOOF_TO)))
    [area] = areas(alerts)
    fc = detector(p).areas()
    [f] = fc["features"]
    assert f["geometry"] == f["properties"]["area"]
    assert f["properties"]["area_id"] == area["details"]["area_id"]
    assert f["properties"]["vessels_affected"] == 5 and math.isfinite(f["properties"]["ratio"])


# ---- the live daemon -----------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_the_live_daemon_serves_publishes_and_counts_the_active_area(tmp_path: Path,
                                                                           broker: Broker) -> None:
    """The spoofed fleet sent to a running daemon, stopped while the area is open: GET /api/interference
    is a FeatureCollection of that area (properties the alert's details, counts running), the retained
    {prefix}/interference holds the same, and the Prometheus gauges count it and its vessels."""
    lines = lines_of(scenario(*fleet(5), duration_s=SPOOF_TO))
    prefix = f"interference-{time.monotonic_ns()}"
    d = Daemon(tmp_path, broker.url, prefix=prefix)
    d.config.write_text(d.config.read_text().replace(f'file = "{d.zones}"',
                                                     f'file = "{default_zone_path()}"'))
    try:
        d.start()
        d.send(lines)
        d.wait_processed(len(lines), timeout=60)
        code, body = d.get("/api/interference")
        assert code == 200 and body["type"] == "FeatureCollection"
        [f] = body["features"]
        assert f["properties"]["type"] == "spoofing" and f["properties"]["vessels_affected"] == 5
        target = f["properties"]["target"]
        assert haversine_km((target["lon"], target["lat"]), INLAND) < 2.0
        async with Subscriber(broker.url, f"{prefix}/interference") as sub:
            await sub.wait_until(lambda ms: any(
                json.loads(m.payload)["features"] for m in ms), 30)  # type: ignore[arg-type]
        async with Subscriber(broker.url, f"{prefix}/interference") as sub:  # a late one: the retained
            got = await sub.wait_until(lambda ms: len(ms) > 0, 10)
        payload = json.loads(got[-1].payload)  # type: ignore[arg-type]
        assert got[-1].retain and payload["features"][0]["id"] == f["id"]
        _, text = d.get("/metrics")
        assert 'chokepoint_interference_areas{type="spoofing"} 1.0' in text
        assert 'chokepoint_interference_areas{type="jamming"} 0.0' in text
        assert 'chokepoint_interference_vessels_affected{type="spoofing"} 5.0' in text
    finally:
        d.stop()


# ---- the judgement, on the detector's tables -------------------------------------------------------------
def _fresh() -> Interference:
    return detector(Pipeline(load_settings(None, env={}), zonefile()))


def _affect(det: Interference, cell: str, first_mmsi: int, n: int, t: float,
            spoofed: tuple[float, float] | None = None) -> None:
    """n vessels heard and spoofed in `cell` at t (shown at `spoofed`, lon/lat)."""
    for m in range(first_mmsi, first_mmsi + n):
        det.heard.setdefault(cell, {})[m] = t
        det.hits["spoofing"].setdefault(cell, {})[m] = t
        if spoofed is not None:
            det.spoofed.setdefault(m, []).append((t, *spoofed))


def test_two_areas_that_meet_merge_into_the_older_and_a_split_one_stays_one() -> None:
    """Two areas two cells apart; the cell between them turns hot: one cluster, the older area takes
    the younger's vessels and cells, the younger is cleared `merged_into` the older. Then the middle cell
    goes quiet: both parts stay the one older area (its polygon then the hull of its parts)."""
    det = _fresh()
    t0 = T0 + 10 * HOUR
    a = h3.latlng_to_cell(OMAN_SEA[1], OMAN_SEA[0], 5)
    b = min(h3.grid_ring(a, 2))
    middle = next(c for c in h3.grid_ring(a, 1) if h3.grid_distance(c, b) == 1)
    _affect(det, a, 1_000, 4, t0, INLAND)
    alerts: list[Any] = []
    det.wake(t0, alerts)
    assert alerts == []  # a judgement counts only what happened before it
    det.wake(t0 + MINUTE, alerts)
    _affect(det, b, 2_000, 4, t0 + MINUTE, INLAND)
    det.wake(t0 + 2 * MINUTE, alerts)
    older, younger = [x.details["area_id"] for x in alerts if x.kind == "interference"]
    _affect(det, middle, 3_000, 4, t0 + 2 * MINUTE)
    det.wake(t0 + 3 * MINUTE, alerts)
    [merged] = [x for x in alerts if x.kind == "interference_cleared"]
    assert merged.details["area_id"] == younger and merged.details["merged_into"] == older
    assert list(det.episodes) == [older] and det.episodes[older].cells == {a, b, middle}
    assert len(det.episodes[older].affected) == 12
    del det.hits["spoofing"][middle]
    det.wake(t0 + 4 * MINUTE, alerts)
    ep = det.episodes[older]
    assert ep.cells == {a, b} and ep.now[0] == 8
    hull = shapely.geometry.shape(det.geometry(ep))
    assert hull.geom_type == "Polygon" and hull.covers(shapely.Point(*reversed(h3.cell_to_latlng(middle))))
    assert len([x for x in alerts if x.kind == "interference"]) == 2  # no new area for the split
    # Busy traffic heard in its cells: below the share, but its vessels were seen within the hour, so
    # the area stays open (its posture fed) until it has been quiet for clear_after_s.
    for cell in (a, b):
        for m in range(200):
            det.heard[cell][5_000 + m] = t0 + 4 * MINUTE
    det.wake(t0 + 5 * MINUTE, alerts)
    assert older in det.episodes and not [x for x in alerts if x.details.get("area_id") == older
                                          and x.kind == "interference_cleared"]
    det.wake(t0 + HOUR + 2 * MINUTE, alerts)
    assert [x.details["area_id"] for x in alerts if x.kind == "interference_cleared"] == [younger, older]


def test_after_a_restart_a_cell_whose_counts_were_not_saved_gives_no_verdict_for_a_window() -> None:
    """Heard counts are saved only near evidence: after a restart, evidence in a cell whose counts were
    not saved (a few reports would look like a high share) waits a window before it can make an area."""
    det = _fresh()
    t0 = T0 + 10 * HOUR
    det.e.now = t0
    far = h3.latlng_to_cell(25.0, 58.5, 5)
    for m in range(50):
        det.heard.setdefault(far, {})[9_000 + m] = t0  # a busy cell, nothing affected there
    state = det.global_state()
    assert state["interference"]["heard"] == {}
    again = _fresh()
    again.e.now = t0
    again.restore_global(Interference.read_global(json.loads(json.dumps(state))))
    _affect(again, far, 1_000, 3, t0 + MINUTE, INLAND)
    alerts: list[Any] = []
    again.wake(t0 + 2 * MINUTE, alerts)
    assert alerts == []
    _affect(again, far, 1_000, 3, t0 + HOUR + 2 * MINUTE, INLAND)
    again.wake(t0 + HOUR + 3 * MINUTE, alerts)
    assert [x.kind for x in alerts if x.kind != "posture_change"] == ["interference"]


def test_pending_samples_and_a_jamming_area_survive_a_restart() -> None:
    """Samples not applied yet (heard, spoofed, jammed) and an open jamming area (no target) are saved and
    read back as they were; a bad pending sample is refused naming it."""
    det = _fresh()
    det.pending = [(T0 + 1.0, 0, 1_001, 57.3, 25.3, True), (T0 + 2.0, 1, 1_002, 57.3, 25.3, (56.0, 25.0)),
                   (T0 + 3.0, 2, 1_003, 57.3, 25.3, False), (T0 + 4.0, 0, 1_004, math.nan, math.nan, False)]
    cell = h3.latlng_to_cell(25.3, 57.3, 5)
    for m in range(1_000, 1_004):
        det.hits["jamming"].setdefault(cell, {})[m] = T0
        det.heard.setdefault(cell, {})[m] = T0
    alerts: list[Any] = []
    det.wake(T0 + MINUTE, alerts)
    [area] = [x for x in alerts if x.kind == "interference"]
    assert area.details["type"] == "jamming" and "target" not in area.details
    det.pending = [(T0 + 90.0, 0, 1_001, 57.3, 25.3, True), (T0 + 91.0, 1, 1_002, 57.3, 25.3, (56.0, 25.0)),
                   (T0 + 92.0, 2, 1_003, 57.3, 25.3, False), (T0 + 93.0, 0, 1_004, math.nan, math.nan, False)]
    state = json.loads(json.dumps(det.global_state()))
    again = _fresh()
    again.restore_global(Interference.read_global(state))
    assert again.pending == det.pending[:3]  # (one placed nowhere is not worth saving)
    assert again.areas() == det.areas()
    for bad in ([T0, 7, 1_001, 57.3, 25.3, True], [T0, 1, 1_001, 57.3, 25.3, None],
                [T0, 2, 1_001, 57.3, 25.3, [1, 2]]):
        with pytest.raises(StateError, match=r"interference\.pending"):
            S.checked("engine", lambda b=bad: Interference.read_global(
                {"interference": {**state["interference"], "pending": [b]}}))


def test_a_spoofed_area_with_its_points_expired_has_no_target() -> None:
    """The target is found among the spoofed positions in the window: none left, none given."""
    det = _fresh()
    det.spoofed = {1: [(T0 - 2 * HOUR, *INLAND)], 2: [(T0 + MINUTE, *INLAND)]}  # too old, too new
    assert det._target({1, 2, 3}, T0, T0 - HOUR) is None


def test_jump_spoofing_offshore_gives_an_area_targeted_at_the_sea_point() -> None:
    """Five ships shown 60 km away on open water (position jumps, no land): one spoofing area, counted
    where the ships were, its target within 2 km of the spoofed point."""
    point = offset(OMAN_SEA, 135.0, 60_000.0)
    alerts = run_lines(lines_of(scenario(*fleet(5, spoof_to=point), duration_s=2 * HOUR)))
    assert len(select(alerts, "position_jump")) >= 5 and not select(alerts, "on_land")
    [area] = areas(alerts)
    target = area["details"]["target"]
    assert haversine_km((target["lon"], target["lat"]), point) < 2.0


def test_a_vessel_first_heard_on_land_is_counted_nowhere() -> None:
    """A vessel whose very first fix is spoofed has no trusted position: its alert counts in no cell."""
    p = Pipeline(load_settings(None, env={}), zonefile())
    det = detector(p)
    alerts = [a.to_dict() for a in p.process_lines(position_lines(538_400_000, *INLAND, T0))]
    assert select(alerts, "on_land") and det.hits["spoofing"] == {}
