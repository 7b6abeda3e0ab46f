"""Identity anomalies (issue 14): `identity_change` (name, call sign, IMO, ship type; flag when an IMO
number is heard under another MMSI) and `identity_conflict` (one MMSI heard from two places no ship could
link), replayed from simulated feeds on the real zone file.

The simulator keeps a plan's static data fixed, so a change of identity is two plans of one MMSI (one
ending as the other begins, or both at once), each simulated on its own and their lines merged in time
order. The truth is the plans (names, MMSIs, where each ship is when: `state_at`) and the feed itself
(the static reports as pyais decodes them), never the engine under test.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyais import decode as pyais_decode

from monitor.config import load_settings
from monitor.pipeline import Pipeline
from monitor.savedstate import StateError
from monitor.zones import load_zone_file
from tests.helpers import track_lines, write_zones
from tests.oracle import run_state, use_reference
from tests.scenarios import (
    ANCHORAGE,
    HOUR,
    LANE_EAST,
    LANE_WEST,
    MINUTE,
    OMAN_SEA,
    T0,
    haversine_km,
    iso,
    lines_of,
    offset,
    run_lines,
    scenario,
    seconds,
    select,
    zonefile,
)
from tools.simulate import VesselPlan, imo_with_check_digit, plan_reports, state_at

ROOT = Path(__file__).resolve().parents[1]
IMO_1 = imo_with_check_digit(907_472)
IMO_2 = imo_with_check_digit(917_618)
IDENTITY_KINDS = ("identity_change", "identity_conflict")


def _time(line: bytes) -> int:
    """The tag block's receive time (`c:`)."""
    return int(line.split(b"c:")[1].split(b"*")[0])


def merged(*plans: tuple[VesselPlan, float]) -> list[bytes]:
    """The lines of each (plan, duration) simulated on its own (the clock vessel with the first), merged in
    time order; the fragments of a message stay together (heapq.merge keeps equal times in input order)."""
    feeds = [lines_of(scenario(plan, duration_s=duration, clock=k == 0))
             for k, (plan, duration) in enumerate(plans)]
    return list(heapq.merge(*feeds, key=_time))


def identity(alerts: list[dict[str, Any]], mmsi: int | None = None) -> list[dict[str, Any]]:
    return [a for a in alerts if a["kind"] in IDENTITY_KINDS and (mmsi is None or a["mmsi"] == mmsi)]


def static_names(lines: list[bytes], mmsi: int) -> list[tuple[float, str]]:
    """(seconds after START, name) of every type 5 the first receiver logged from `mmsi`, decoded by pyais."""
    out: list[tuple[float, str]] = []
    pending: list[bytes] = []
    for line in lines:
        tag, _, sentence = line.rpartition(b"\\")
        if b"s:sim1" not in tag or not sentence.startswith(b"!AIVDM,2,"):
            continue
        pending.append(sentence)
        if sentence.startswith(b"!AIVDM,2,2,"):
            msg = pyais_decode(*[s.decode() for s in pending]).asdict()
            pending = []
            if msg["mmsi"] == mmsi:
                out.append((float(_time(tag) - T0), str(msg["shipname"]).strip()))
    return out


def anchored(mmsi: int, where: tuple[float, float], **fields: Any) -> VesselPlan:
    """A ship at anchor at `where` for the whole scenario."""
    return VesselPlan(mmsi, [where], 10.0, waits={0: math.inf}, anchored=frozenset({0}), **fields)


# ---- identity_change ------------------------------------------------------------------------------

RENAMED = 538_003_001


@pytest.mark.parametrize("batch", [7, 500])
def test_a_renamed_vessel_raises_one_identity_change_per_changed_field(batch: int) -> None:
    """A ship at anchor is renamed after 2 h (name and call sign; IMO and type stay): one identity_change
    for the name and one for the call sign, at its first static report under the new name, `from` the
    old plan's values `to` the new; the repeats of the same static data before and after raise nothing."""
    rename_at = 2 * HOUR
    old = anchored(RENAMED, OMAN_SEA, name="OLD NAME", callsign="OLD1", imo=IMO_1, ship_type=80,
                   end_s=rename_at)
    new = anchored(RENAMED, OMAN_SEA, name="NEW NAME", callsign="NEW1", imo=IMO_1, ship_type=80,
                   start_s=rename_at, first_static_s=30)
    lines = merged((old, 5 * HOUR), (new, 5 * HOUR))
    statics = static_names(lines, RENAMED)
    assert len([n for _, n in statics if n == "OLD NAME"]) >= 10  # (many repeats before the change)
    first_new = next(t for t, n in statics if n == "NEW NAME")
    assert first_new == rename_at + 30
    alerts = identity(run_lines(lines, batch=batch))
    assert [(a["kind"], a["details"]["field"], a["details"]["from"], a["details"]["to"]) for a in alerts] == [
        ("identity_change", "name", "OLD NAME", "NEW NAME"),
        ("identity_change", "callsign", "OLD1", "NEW1"),
    ]
    assert {a["time"] for a in alerts} == {iso(first_new)}
    assert alerts[0]["vessel"]["name"] == "NEW NAME" and alerts[0]["id"] != alerts[1]["id"]
    assert alerts[0]["severity"] == "info" and alerts[0]["position"] is not None


def test_the_same_static_data_repeated_raises_nothing() -> None:
    """Negative control: the same ship, the same static data all along (two plans handing over as in the
    rename, for the same shape of feed): no identity alert."""
    first = anchored(RENAMED, OMAN_SEA, name="SAME NAME", callsign="SAME1", imo=IMO_1, ship_type=80,
                     end_s=2 * HOUR)
    second = anchored(RENAMED, OMAN_SEA, name="SAME NAME", callsign="SAME1", imo=IMO_1, ship_type=80,
                      start_s=2 * HOUR, first_static_s=30)
    assert identity(run_lines(merged((first, 5 * HOUR), (second, 5 * HOUR)))) == []


FLAPPING = 538_003_002


def flapping_lines(silent: tuple[float, float] | None) -> list[bytes]:
    """One position, two transponders: statics alternate between two names, 3 min apart (the second unit
    switched off during `silent`, if given)."""
    a = anchored(FLAPPING, ANCHORAGE, name="FLIP", callsign="FL1", imo=IMO_1, ship_type=70,
                 first_static_s=10)
    b = anchored(FLAPPING, ANCHORAGE, name="FLOP", callsign="FL1", imo=IMO_1, ship_type=70,
                 first_static_s=190, silences=[silent] if silent else [])
    return merged((a, 12 * HOUR), (b, 12 * HOUR))


def test_a_flapping_transponder_is_one_episode_per_spell() -> None:
    """Two names alternating every 3 minutes for 2 h, the second unit off for 8 h (longer than the 6 h
    identity_min_interval_s), then alternating again: two identity_change alerts (one per spell), each at
    the first change of its spell as the feed has it; with the interval set to 0, one per change heard."""
    silent = (2 * HOUR, 10 * HOUR)
    lines = flapping_lines(silent)
    names = static_names(lines, FLAPPING)
    changes = [t for (_, before), (t, after) in itertools.pairwise(names) if before != after]
    assert len(changes) > 60  # (it flaps: the rule must do the work)
    spells = [t for t in changes if t < silent[0]], [t for t in changes if t >= silent[1]]
    alerts = identity(run_lines(lines))
    assert [(a["details"]["field"], seconds(a["time"])) for a in alerts] == [
        ("name", spells[0][0]), ("name", spells[1][0])]
    every = identity(run_lines(lines, env={"MONITOR_DETECTORS__IDENTITY_MIN_INTERVAL_S": "0"}))
    assert len(every) == len(changes)


FLAG_KR = 440_123_456  # MID 440: Republic of Korea (ITU)
FLAG_KR2 = 441_654_321  # MID 441: Republic of Korea too
FLAG_PA = 352_001_234  # MID 352: Panama
BROKEN_IMO = IMO_2 // 10 * 10 + (IMO_2 + 1) % 10  # (its check digit off by one)


@pytest.mark.parametrize(("new_mmsi", "old_imo", "imo", "expected"), [
    (FLAG_PA, IMO_2, IMO_2, [("KR", "PA")]),  # flag hopping: the same ship, a Panamanian MMSI
    (FLAG_KR2, IMO_2, IMO_2, []),  # a new MMSI of the same flag: no change of flag
    (FLAG_PA, IMO_2, IMO_1, []),  # another ship (its own IMO number)
    (FLAG_PA, BROKEN_IMO, BROKEN_IMO, []),  # a number failing its check digit links nothing
])
def test_the_same_imo_under_another_mmsi_is_a_change_of_flag(
    new_mmsi: int, old_imo: int, imo: int, expected: list[tuple[str, str]]
) -> None:
    """A Korean ship goes silent and 20 minutes later its IMO number is heard under a Panamanian MMSI:
    one identity_change on the new MMSI, field `flag`, KR to PA (ITU MIDs 440 and 352), naming the old
    MMSI. Negative controls: a new MMSI of the same flag, another IMO number, a broken IMO number."""
    old = VesselPlan(FLAG_KR, [OMAN_SEA, (57.6, 25.1)], 12.0, name="HANBADA", imo=old_imo, ship_type=80,
                     end_s=HOUR)
    new = VesselPlan(new_mmsi, [(57.6, 25.1), (57.8, 24.9)], 12.0, name="HANBADA", imo=imo, ship_type=80,
                     start_s=HOUR + 20 * MINUTE)
    alerts = identity(run_lines(merged((old, 3 * HOUR), (new, 3 * HOUR))))
    assert [(a["details"]["from"], a["details"]["to"]) for a in alerts] == expected
    for a in alerts:
        assert a["mmsi"] == new_mmsi and a["details"]["field"] == "flag"
        assert a["details"]["previous_mmsi"] == FLAG_KR and a["details"]["imo"] == imo
        assert a["vessel"]["flag"] == "PA"


def test_the_imo_index_is_rebuilt_after_a_restart() -> None:
    """The Korean ship's state saved and restored into a new pipeline (as the daemon does across a
    restart) before its IMO number is heard under the Panamanian MMSI: the change of flag is still raised,
    once; and a bad saved identity is refused naming its field."""
    old = VesselPlan(FLAG_KR, [OMAN_SEA, (57.6, 25.1)], 12.0, name="HANBADA", imo=IMO_2, ship_type=80,
                     end_s=HOUR)
    new = VesselPlan(FLAG_PA, [(57.6, 25.1), (57.8, 24.9)], 12.0, name="HANBADA", imo=IMO_2, ship_type=80,
                     start_s=HOUR + 20 * MINUTE)
    lines = merged((old, 3 * HOUR), (new, 3 * HOUR))
    cut = next(i for i, line in enumerate(lines) if _time(line) - T0 >= HOUR + 10 * MINUTE)
    p, before = replay(lines[:cut])
    assert identity(before) == []
    saved = {k: v for k, v in p.engine.export_state(everything=True).items() if v is not None}
    q = Pipeline(load_settings(None, env={}), zonefile())
    q.engine.import_state(saved)
    after: list[dict[str, Any]] = []
    for i in range(cut, len(lines), 500):
        after += [x.to_dict() for x in q.process_lines(lines[i : i + 500])]
    assert [(a["mmsi"], a["details"]["field"], a["details"]["from"], a["details"]["to"])
            for a in identity(after)] == [(FLAG_PA, "flag", "KR", "PA")]
    row = json.loads(saved[f"v:{FLAG_KR}"])
    row[-6]["identity_change"][0] = ["HANBADA", None, "not an IMO", 80]
    r = Pipeline(load_settings(None, env={}), zonefile())
    with pytest.raises(StateError, match=r"identity_change\.id_ref"):
        r.engine.import_state({**saved, f"v:{FLAG_KR}": json.dumps(row).encode()})


# ---- identity_conflict --------------------------------------------------------------------------------

SHARED = 538_003_003


def sharing(a_until: float = 4 * HOUR, b_until: float = 90 * MINUTE) -> tuple[VesselPlan, VesselPlan]:
    """Two ships with one MMSI: A in the inbound lane westward (for 1.8 h), B in the Gulf of Oman, 165 km
    apart, both under way (10 s reports), B from 5 min on; A's static data first."""
    a = VesselPlan(SHARED, [LANE_EAST, LANE_WEST, (56.2, 26.5)], 12.0, name="ALPHA", callsign="AAAA1",
                   imo=IMO_1, ship_type=80, first_static_s=600, end_s=a_until)
    b = VesselPlan(SHARED, [OMAN_SEA, (57.5, 25.0), (57.9, 24.9)], 10.0, name="BRAVO", callsign="BBBB2",
                   imo=IMO_2, ship_type=70, start_s=5 * MINUTE, first_static_s=900, end_s=b_until)
    return a, b


def replay(lines: list[bytes], *, fast: bool = True, batch: int = 500, follows: VesselPlan | None = None,
           env: dict[str, str] | None = None) -> tuple[Pipeline, list[dict[str, Any]]]:
    """Replay in batches; with `follows`, check after every batch that the vessel's trusted track lies on
    that plan (its position at its time)."""
    p = Pipeline(load_settings(None, env=env or {}), zonefile(), keep_tracks=True)
    if not fast:
        use_reference(p)
    alerts: list[dict[str, Any]] = []
    for i in range(0, len(lines), batch):
        alerts += [a.to_dict() for a in p.process_lines(lines[i : i + batch])]
        v = p.engine.get(SHARED)
        if follows is not None and v is not None and v.has_fix:
            assert near(follows, v.time - T0, v.lon, v.lat), (v.time - T0, v.lon, v.lat)
    return p, alerts


def flips(lines: list[bytes], a: VesselPlan, env: dict[str, str] | None = None) -> int:
    """How often the trusted track moved between A's plan and elsewhere, sampled after every 5 lines."""
    p = Pipeline(load_settings(None, env=env or {}), zonefile())
    on_a: list[bool] = []
    for i in range(0, len(lines), 5):
        p.process_lines(lines[i : i + 5])
        v = p.engine.get(SHARED)
        if v is not None and v.has_fix:
            on_a.append(near(a, v.time - T0, v.lon, v.lat))
    return sum(x != y for x, y in itertools.pairwise(on_a))


def near(plan: VesselPlan, t: float, lon: float, lat: float, km: float = 0.5) -> bool:
    state = state_at(plan, t)
    return state is not None and haversine_km((state.lon, state.lat), (lon, lat)) <= km


@pytest.mark.parametrize("batch", [7, 500])
def test_two_ships_sharing_an_mmsi_give_one_conflict_and_no_jump_storm(batch: int) -> None:
    """A and B report from 165 km apart, alternating, for almost 3 h: one identity_conflict (at B's third
    fix, each of its runs interrupted by A's), its distance and other position those of the plans, and
    one position_jump (B's first fix: nothing could tell it from a jump then), not one per alternation.
    The trusted track follows A throughout (its history and every zone alert lie on A's plan), and the
    vessel keeps A's name though B's static data is heard too (noted as the other's)."""
    a, b = sharing()
    lines = merged((a, 4 * HOUR), (b, 4 * HOUR))
    b_fixes = plan_reports(scenario(b, duration_s=4 * HOUR, clock=False), SHARED)
    assert len(b_fixes) > 400  # (a long alternation: a storm would show)
    p, alerts = replay(lines, batch=batch, follows=a)
    mine = select(alerts, mmsi=SHARED)
    [conflict] = select(mine, "identity_conflict")
    jumps = select(mine, "position_jump")
    assert len(jumps) == 1 and seconds(jumps[0]["time"]) == b_fixes[0]
    t = seconds(conflict["time"])
    assert t == b_fixes[2]
    other = conflict["details"]["other_position"]
    assert near(b, t, other["lon"], other["lat"], km=0.05)
    assert near(a, t, conflict["position"]["lon"], conflict["position"]["lat"])
    sa, sb = state_at(a, t), state_at(b, t)
    assert sa is not None and sb is not None
    assert conflict["details"]["distance_km"] == pytest.approx(
        haversine_km((sa.lon, sa.lat), (sb.lon, sb.lat)), abs=0.5)
    assert conflict["severity"] == "warning"
    for alert in mine:
        if alert["kind"] not in ("position_jump", "identity_conflict") and alert["position"]:
            when = seconds(alert["details"]["last_seen"] if alert["kind"] == "dark" else alert["time"])
            assert near(a, when, alert["position"]["lon"], alert["position"]["lat"]), alert
    track = p.engine.track_of(SHARED)  # (besides the check after every batch: replay(follows=a))
    assert track and all(near(a, pt - T0, lon, lat) for pt, lon, lat in track)
    assert identity(mine) == [conflict]  # (B's static data raised no identity_change)
    v = p.engine.get(SHARED)
    assert v is not None and (v.name, v.callsign, v.imo, v.id_other) == ("ALPHA", "AAAA1", IMO_1, "BRAVO")


def test_bursts_of_the_other_ship_do_not_move_the_trusted_track() -> None:
    """Each ship's reports are lost for 3 minutes every 10 minutes, A's and B's 5 minutes apart: each
    comes in runs of 18 (longer than the 3 that re-anchor a track) while the other is not heard. The
    trusted track stays on A all along, with one identity_conflict and one position_jump. Control: with
    the conflict rule off (identity_conflict_runs out of reach) the same feed moves the track back and
    forth between the two ships."""
    a, b = sharing()
    a = replace(a, silences=[(k * 600.0 + 1200.0, k * 600.0 + 1380.0) for k in range(9)])
    b = replace(b, silences=[(k * 600.0 + 1500.0, k * 600.0 + 1680.0) for k in range(7)])
    lines = merged((a, 4 * HOUR), (b, 4 * HOUR))
    _, alerts = replay(lines, batch=5, follows=a)
    mine = select(alerts, mmsi=SHARED)
    assert len(select(mine, "identity_conflict")) == 1 and len(select(mine, "position_jump")) == 1
    assert flips(lines, a) == 0
    assert flips(lines, a, env={"MONITOR_DETECTORS__IDENTITY_CONFLICT_RUNS": "1000000"}) >= 10


def test_a_rarely_heard_other_ship_still_makes_one_conflict() -> None:
    """B heard only every 20 minutes (beyond the 15 min episode gap, so each of its fixes would be a new
    position_jump): its third fix opens the episode; the two runs before it are the only position_jumps
    (identity_conflict_runs - 1), where the rule off gives one per fix of B."""
    a, b = sharing()
    b = replace(b, report_interval_s=20 * MINUTE)
    lines = merged((a, 4 * HOUR), (b, 4 * HOUR))
    b_fixes = plan_reports(scenario(b, duration_s=4 * HOUR, clock=False), SHARED)
    a_fixes = plan_reports(scenario(a, duration_s=4 * HOUR, clock=False), SHARED)
    while_a = [t for t in b_fixes if t <= a_fixes[-1]]
    assert len(while_a) >= 5
    _, alerts = replay(lines, follows=a)
    mine = select(alerts, mmsi=SHARED)
    assert [seconds(x["time"]) for x in select(mine, "identity_conflict")] == [b_fixes[2]]
    assert [seconds(x["time"]) for x in select(mine, "position_jump")] == b_fixes[:2]
    off = run_lines(lines, env={"MONITOR_DETECTORS__IDENTITY_CONFLICT_RUNS": "1000000"})
    assert len(select(off, "position_jump", SHARED)) == len(while_a)


def test_after_the_other_ship_has_gone_a_rename_is_an_identity_change_again() -> None:
    """A at anchor (10 s reports) shares its MMSI with B, under way in the lane for 25 minutes: B's static
    data, heard during the episode, is kept apart (no identity_change, A's name stays). Two hours after
    B's last fix (the episode is over) A is renamed: one identity_change, at its first static report
    under the new name."""
    a = anchored(SHARED, OMAN_SEA, name="ALPHA", callsign="AAAA1", imo=IMO_1, ship_type=80,
                 report_interval_s=10.0, first_static_s=30, end_s=3 * HOUR)
    renamed = anchored(SHARED, OMAN_SEA, name="ALPHA NEW", callsign="AAAA1", imo=IMO_1, ship_type=80,
                       report_interval_s=10.0, first_static_s=30, start_s=3 * HOUR)
    b = VesselPlan(SHARED, [LANE_EAST, LANE_WEST], 12.0, name="BRAVO", callsign="BBBB2", imo=IMO_2,
                   ship_type=70, start_s=5 * MINUTE, first_static_s=10 * MINUTE, end_s=30 * MINUTE)
    lines = merged((a, 4 * HOUR), (renamed, 4 * HOUR), (b, 4 * HOUR))
    assert [n for _, n in static_names(lines, SHARED)].count("BRAVO") >= 2
    p, alerts = replay(lines)
    mine = identity(alerts, SHARED)
    assert [(x["kind"], x["details"].get("field")) for x in mine] == [
        ("identity_conflict", None), ("identity_change", "name")]
    assert seconds(mine[1]["time"]) == 3 * HOUR + 30
    assert (mine[1]["details"]["from"], mine[1]["details"]["to"]) == ("ALPHA", "ALPHA NEW")
    v = p.engine.get(SHARED)
    assert v is not None and v.id_other == "BRAVO"


def test_the_conflict_path_is_the_same_on_the_fast_path_and_the_reference() -> None:
    """Identical alerts and identical saved state on both paths, in small and large batches."""
    a, b = sharing(a_until=HOUR, b_until=3 * HOUR)
    lines = merged((a, 4 * HOUR), (b, 4 * HOUR))
    for batch in (3, 256):
        fast, fast_alerts = replay(lines, batch=batch)
        ref, ref_alerts = replay(lines, fast=False, batch=batch)
        assert fast_alerts == ref_alerts
        assert fast.engine.export_state(everything=True) == ref.engine.export_state(everything=True)


def test_when_the_ship_followed_leaves_the_other_becomes_the_vessel() -> None:
    """A falls silent after 1 h, B goes on for 3 h: after A has been silent for identity_conflict_end_s
    (1 h), B's next fix re-anchors the track on B (no position_jump for it) and the episode ends: one
    identity_conflict, one position_jump in all, and the track follows B from then on."""
    a, b = sharing(a_until=HOUR, b_until=3 * HOUR)
    lines = merged((a, 4 * HOUR), (b, 4 * HOUR))
    a_last = plan_reports(scenario(a, duration_s=4 * HOUR, clock=False), SHARED)[-1]
    p, alerts = replay(lines)
    mine = select(alerts, mmsi=SHARED)
    assert len(select(mine, "identity_conflict")) == 1 and len(select(mine, "position_jump")) == 1
    track = p.engine.track_of(SHARED)
    later = [(pt - T0, lon, lat) for pt, lon, lat in track if pt - T0 > a_last + HOUR]
    assert later and all(near(b, pt, lon, lat) for pt, lon, lat in later)
    v = p.engine.get(SHARED)
    assert v is not None and v.ic_since is None


def test_a_conflict_survives_a_restart_without_a_second_alert() -> None:
    """The state saved in the middle of the episode and restored into a new pipeline: the episode goes on
    (the other track, its start): no second identity_conflict and no position_jump after the restart."""
    a, b = sharing()
    lines = merged((a, 4 * HOUR), (b, 4 * HOUR))
    half = len(lines) // 2
    p, first = replay(lines[:half])
    assert len(select(first, "identity_conflict")) == 1
    saved = {k: v for k, v in p.engine.export_state(everything=True).items() if v is not None}
    q = Pipeline(load_settings(None, env={}), zonefile())
    q.engine.import_state(saved)
    after: list[dict[str, Any]] = []
    for i in range(half, len(lines), 500):
        after += [x.to_dict() for x in q.process_lines(lines[i : i + 500])]
    assert not [x for x in after if x["kind"] in ("identity_conflict", "position_jump", "identity_change")]


SPOOFED = 538_003_004


def jumping(spoofs: list[tuple[float, float, float, float]]) -> list[bytes]:
    plan = VesselPlan(SPOOFED, [LANE_EAST, LANE_WEST], 12.0, name="STEADY", imo=IMO_1, spoofs=spoofs)
    return lines_of(scenario(plan, duration_s=HOUR))


def test_a_genuine_single_jump_is_a_position_jump_not_a_conflict() -> None:
    """Negative control: one fix thrown 80 km off (a GNSS glitch), then the track again: one
    position_jump and no identity_conflict; two such glitches to the same place, 20 minutes apart (beyond
    the episode gap), neither; a spoofed spell (a minute of fixes at one false place, no true fix between
    them) neither."""
    far = offset(LANE_WEST, 180.0, 80_000.0)
    plan = VesselPlan(SPOOFED, [LANE_EAST, LANE_WEST], 12.0)
    times = plan_reports(scenario(plan, duration_s=HOUR), SPOOFED)
    one = [(times[30], times[30] + 1, *far)]
    alerts = select(run_lines(jumping(one)), mmsi=SPOOFED)
    assert [seconds(a["time"]) for a in select(alerts, "position_jump")] == [times[30]]
    assert select(alerts, "identity_conflict") == []
    k = next(i for i, t in enumerate(times) if t >= times[30] + 20 * MINUTE)
    two = [*one, (times[k], times[k] + 1, *far)]
    alerts = select(run_lines(jumping(two)), mmsi=SPOOFED)
    assert len(select(alerts, "position_jump")) == 2 and select(alerts, "identity_conflict") == []
    spell = [(times[30], times[36], *far)]
    alerts = select(run_lines(jumping(spell)), mmsi=SPOOFED)
    assert select(alerts, "position_jump") and select(alerts, "identity_conflict") == []


# ---- real captures ------------------------------------------------------------------------------------

CAPTURES = ["libais/typeexamples.nmea", "libais/tagblock.nmea", "libais/test.aivdm",
            "pyais/nmea_data_sample.txt", "pyais/sample.ais", "pyais/mixed.txt", "pyais/ais_test_messages",
            "pyais/timestamped.ais"]


@pytest.mark.parametrize("name", CAPTURES)
def test_real_captures_raise_no_identity_alert(name: str) -> None:
    """Other decoders' real captures (repeated type 5s, type 24 parts A and B of one ship, each carrying
    half of its identity) raise no identity alert: a repeat, or a part filling in what the other lacks,
    is no change."""
    lines = (ROOT / "tests" / "data" / name).read_bytes().splitlines()
    assert identity(run_lines(lines, env={"MONITOR_CLOCK__MAX_AHEAD_S": "0"})) == []


# ---- the fast path ----------------------------------------------------------------------------------

# Runs of fixes of vessel 0, alternating between two places in the toy strait (two ships 90 km apart) or
# at a glitch spot, and of vessel 1 at the first place, each moved a few hundred metres: runs long and
# short, silences around the episode gap and identity_conflict_end_s, fixes in the same second.
runs_of_fixes = st.lists(
    st.tuples(
        st.sampled_from([0, 0, 0, 1]),  # the vessel
        st.integers(1, 5),  # fixes in the run
        st.sampled_from([False, False, False, False, True]),  # vessel 0: at the glitch spot
        st.floats(-0.003, 0.003), st.floats(-0.003, 0.003),
        st.sampled_from([0, 1, 10, 10, 10, 10, 60, 300, 901, 3700]),  # seconds between its fixes
        st.sampled_from([0.0, 8.0, 12.0, 40.0]),
    ),
    min_size=1, max_size=40,
)
PLACES = [(56.3, 26.3), (56.9, 25.7), (55.5, 26.8)]


def alternating(runs: list[tuple[int, int, bool, float, float, int, float]]) -> list[bytes]:
    fixes: list[tuple[int, float, float, int, float, float]] = []
    side = 0
    for k, n, glitch, dx, dy, dt, sog in runs:
        place = PLACES[0] if k == 1 else PLACES[2] if glitch else PLACES[side]
        if k == 0 and not glitch:
            side ^= 1
        fixes += [(k, place[0] + dx, place[1] + dy, dt, sog, 90.0)] * n
    return track_lines(fixes)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(runs=runs_of_fixes, batch=st.integers(1, 30))
def test_fast_path_equals_reference_with_two_ships_on_one_mmsi(
    tmp_path: Path, runs: list[tuple[int, int, bool, float, float, int, float]], batch: int
) -> None:
    """Random alternations of one MMSI between two places and a glitch spot, with another vessel beside:
    identical alerts and identical saved state on the fast path and the reference, whatever the batch."""
    zones = load_zone_file(write_zones(tmp_path / "z.geojson"))
    lines = alternating(runs)

    settings = load_settings(None, env={})
    assert run_state(settings, zones, lines, batch, True) == run_state(settings, zones, lines, batch, False)
