"""monitor.posture.Posture with the escalation rules' clusters (monitor.detectors.escalation.EscalationRules)
on their own: the operator's level, rules raising it, later clusters extending it, the fall-back after the
quiet period, several rules at once, the radius and window of a cluster, and levels refused."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.config import EscalationRule, PostureSettings, load_settings
from monitor.detectors.escalation import EscalationRules
from monitor.posture import Posture, PostureChange

P = (56.00, 25.00)  # where the clusters happen (lon, lat)
NEAR = (56.05, 25.05)  # about 7 km from P
FAR = (56.60, 25.00)  # about 60 km from P, beyond the default 50 km radius


_RULES: dict[int, tuple[Posture, EscalationRules]] = {}


def observe(posture: Posture, kind: str, t: float, mmsi: int | None, lon: float, lat: float,
            reason: str | None = None) -> PostureChange | None:
    """An alert counted by the posture's rules (one EscalationRules per posture, as the engine keeps one
    escalation detector)."""
    held = _RULES.get(id(posture))
    if held is None or held[0] is not posture:
        held = _RULES[id(posture)] = (posture, EscalationRules(posture))
    return held[1].count(kind, t, mmsi, lon, lat, reason)


def defaults() -> PostureSettings:
    return load_settings(None, env={}).posture


def cluster(
    posture: Posture,
    n: int,
    t0: float,
    *,
    kind: str = "on_land",
    first_mmsi: int = 1,
    where: tuple[float, float] = P,
    step_s: float = 10.0,
) -> list[PostureChange]:
    """`n` distinct vessels raise `kind` at `where`, `step_s` apart from t0; the changes returned."""
    changes = []
    for i in range(n):
        change = observe(posture, kind, t0 + i * step_s, first_mmsi + i, *where)
        if change is not None:
            changes.append(change)
    return changes


def test_starts_at_the_configured_level_or_the_operators() -> None:
    """Without an operator level the configured one holds, with its limits; an operator level given at
    start replaces it."""
    p = Posture(defaults())
    assert (p.level, p.set_by, p.next_deadline) == ("NORMAL", "config", None)
    assert p.limits.dark_strait_s == 2700
    high = Posture(defaults(), "HIGH")
    assert high.level == "HIGH" and high.limits.dark_strait_s == 1200
    assert high.limits.severity["dark"] == "critical"


def test_operator_changes_are_reported_once_each() -> None:
    """Setting a new level reports one change (from, to, reason, set_by, time) and switches the limits;
    setting the level in force again reports nothing; case does not matter."""
    p = Posture(defaults())
    change = p.set_operator("high", "exercise", "operator:mqtt", 100.0)
    assert change == PostureChange(100.0, "NORMAL", "HIGH", "exercise", "operator:mqtt")
    assert (p.level, p.since, p.reason, p.set_by) == ("HIGH", 100.0, "exercise", "operator:mqtt")
    assert p.limits.loiter_strait_s == 1800
    assert p.set_operator("HIGH", "again", "operator:http", 200.0) is None
    back = p.set_operator("NORMAL", "exercise over", "operator:mqtt", 300.0)
    assert back is not None and (back.from_level, back.to_level) == ("HIGH", "NORMAL")
    assert p.limits.loiter_strait_s == 3600


def test_unknown_level_is_refused_and_changes_nothing() -> None:
    """An unknown level is a ValueError naming the levels; the level in force stays."""
    p = Posture(defaults())
    with pytest.raises(ValueError, match=r"SEVERE.*NORMAL, ELEVATED, HIGH, CRITICAL"):
        p.set_operator("SEVERE", "typo", "operator:mqtt", 10.0)
    assert p.level == "NORMAL" and p.operator_level == "NORMAL"


def test_operator_level_at_start_is_checked_like_set_operator() -> None:
    """The operator level given at start follows set_operator's rules: case-insensitive, and an unknown
    level is a ValueError."""
    assert Posture(defaults(), "high").level == "HIGH"
    with pytest.raises(ValueError, match="SEVERE"):
        Posture(defaults(), "SEVERE")


def test_rule_raises_at_the_fifth_distinct_vessel() -> None:
    """The default rule counts on_land/position_jump from distinct vessels: four vessels, or one vessel
    many times, or other kinds, raise nothing; the fifth vessel raises ELEVATED by rule, with the count in
    the reason and a fall-back two hours after that alert."""
    p = Posture(defaults())
    assert cluster(p, 4, 0.0) == []
    for k in range(5):  # the same vessel again and again is not a cluster
        assert observe(p, "position_jump", 50.0 + k, 1, *P) is None
    for kind in ("dark", "loiter", "zone_enter", "encounter"):
        assert observe(p, kind, 60.0, 99, *P) is None
    assert observe(p, "on_land", 70.0, None, *P) is None  # an alert about no vessel counts for none
    change = observe(p, "position_jump", 100.0, 5, *P)
    assert change is not None
    assert (change.time, change.from_level, change.to_level) == (100.0, "NORMAL", "ELEVATED")
    assert change.set_by == "rule:gnss-interference"
    assert change.reason.startswith("5 vessels") and "on_land" in change.reason
    assert (p.level, p.set_by) == ("ELEVATED", "rule:gnss-interference")
    assert p.limits.dark_strait_s == 1800
    assert p.next_deadline == 100.0 + 7200.0
    assert observe(p, "on_land", 110.0, 6, *P) is None  # already raised: no second change


def test_later_cluster_alerts_extend_the_raise() -> None:
    """Each further alert that still makes a cluster moves the fall-back to two hours after it; a lone
    alert long after the cluster (outside its window) does not."""
    p = Posture(defaults())
    assert len(cluster(p, 5, 0.0)) == 1  # raised at t=40
    assert observe(p, "on_land", 1000.0, 6, *P) is None
    assert p.next_deadline == 1000.0 + 7200.0
    assert observe(p, "on_land", 1000.0 + 1900.0, 7, *P) is None  # 31+ minutes after the others: alone
    assert p.next_deadline == 1000.0 + 7200.0
    assert p.tick(40.0 + 7200.0) == []  # the first deadline was moved on
    assert p.level == "ELEVATED"


def test_fall_back_happens_at_the_deadline_even_when_ticked_late() -> None:
    """A raised rule falls back exactly quiet_s after the last cluster alert: nothing before, and the
    change is timed at the deadline even when the clock is ticked past it."""
    p = Posture(defaults())
    cluster(p, 5, 0.0)
    deadline = 40.0 + 7200.0
    assert p.tick(deadline - 1.0) == []
    changes = p.tick(deadline + 500.0)
    assert len(changes) == 1
    back = changes[0]
    assert (back.time, back.from_level, back.to_level) == (deadline, "ELEVATED", "NORMAL")
    assert back.set_by == "rule:gnss-interference" and back.reason.startswith("quiet")
    assert (p.level, p.next_deadline, p.since) == ("NORMAL", None, deadline)
    assert p.limits.dark_strait_s == 2700
    assert p.tick(deadline + 10_000.0) == []


def test_operator_level_and_rules_combine_to_the_higher() -> None:
    """The level in force is the higher of the operator's and the rules': a rule below the operator's
    level changes nothing; lowering the operator's level under a raised rule leaves the rule's level;
    the rule's fall-back then returns to the operator's level, and none happens while the operator is
    higher."""
    p = Posture(defaults(), "HIGH")
    assert cluster(p, 5, 0.0) == []
    assert p.level == "HIGH"
    change = p.set_operator("NORMAL", "stand down", "operator:mqtt", 100.0)
    assert change is not None and (change.to_level, change.set_by) == ("ELEVATED", "rule:gnss-interference")
    up = p.set_operator("CRITICAL", "incident", "operator:mqtt", 200.0)
    assert up is not None and up.to_level == "CRITICAL"
    assert p.tick(40.0 + 7200.0) == []  # the rule fell back, but CRITICAL is the operator's
    assert p.level == "CRITICAL" and p.next_deadline is None
    down = p.set_operator("NORMAL", "all clear", "operator:mqtt", 9000.0)
    assert down is not None and (down.from_level, down.to_level) == ("CRITICAL", "NORMAL")


def test_two_rules_of_one_name_each_raise_their_own_level() -> None:
    """Rule names need not be unique (the default's name twice, say): each rule holds its own level and
    quiet period. A cluster of the first rule's kind raises its HIGH for its 2 h, not the second rule's
    ELEVATED for 30 min."""
    settings = PostureSettings(rules=[
        EscalationRule(name="r", raise_to="HIGH"),
        EscalationRule(name="r", kinds=["dark"], min_vessels=3, quiet_s=1800),
    ])
    p = Posture(settings)
    assert [c.to_level for c in cluster(p, 5, 0.0)] == ["HIGH"]
    assert p.next_deadline == 40.0 + 7200


def test_several_rules_the_highest_raised_level_holds() -> None:
    """Two rules: a dark wave raises HIGH over the GNSS rule's ELEVATED; when the dark wave's quiet period
    ends the level steps down to ELEVATED (the GNSS rule still raised), then to NORMAL."""
    settings = PostureSettings(
        rules=[
            EscalationRule(),
            EscalationRule(
                name="dark-wave",
                kinds=["dark"],
                min_vessels=3,
                window_s=600,
                radius_km=20,
                raise_to="HIGH",
                quiet_s=1800,
            ),
        ]
    )
    p = Posture(settings)
    assert [c.to_level for c in cluster(p, 5, 0.0)] == ["ELEVATED"]  # GNSS rule until 40 + 7200
    waves = cluster(p, 3, 100.0, kind="dark", first_mmsi=50)  # dark-wave until 120 + 1800
    assert [(c.from_level, c.to_level, c.set_by) for c in waves] == [("ELEVATED", "HIGH", "rule:dark-wave")]
    assert p.next_deadline == 120.0 + 1800.0
    steps = p.tick(10_000.0)
    assert [(c.time, c.from_level, c.to_level, c.set_by) for c in steps] == [
        (1920.0, "HIGH", "ELEVATED", "rule:dark-wave"),
        (7240.0, "ELEVATED", "NORMAL", "rule:gnss-interference"),
    ]


def test_rules_falling_back_together_are_one_change_naming_both() -> None:
    """Two rules whose quiet periods end at the same moment fall back in one change naming both."""
    settings = PostureSettings(
        rules=[
            EscalationRule(name="a", min_vessels=2, quiet_s=1000),
            EscalationRule(name="b", kinds=["on_land"], min_vessels=2, raise_to="HIGH", quiet_s=1000),
        ]
    )
    p = Posture(settings)
    changes = cluster(p, 2, 0.0)
    assert [c.to_level for c in changes] == ["HIGH"]
    back = p.tick(2000.0)
    assert len(back) == 1 and back[0].to_level == "NORMAL" and back[0].time == 1010.0
    assert back[0].set_by == "rule:a,b"


def test_vessels_beyond_the_radius_do_not_make_a_cluster() -> None:
    """Four vessels at one spot and a fifth 60 km away (radius 50 km) raise nothing; a fifth 7 km away
    does."""
    p = Posture(defaults())
    cluster(p, 4, 0.0)
    assert observe(p, "on_land", 50.0, 5, *FAR) is None
    assert p.level == "NORMAL"
    assert observe(p, "on_land", 60.0, 6, *NEAR) is not None


def test_alerts_older_than_the_window_do_not_count() -> None:
    """Five vessels whose alerts span more than the 30-minute window raise nothing; the same five
    within it do."""
    p = Posture(defaults())
    assert cluster(p, 5, 0.0, step_s=460.0) == []  # first to fifth: 1840 s
    q = Posture(defaults())
    assert len(cluster(q, 5, 0.0, step_s=440.0)) == 1  # 1760 s


def test_rules_can_be_turned_off() -> None:
    """With `rules = []` no cluster raises the posture."""
    p = Posture(PostureSettings(rules=[]))
    assert cluster(p, 50, 0.0) == []
    assert p.level == "NORMAL" and p.next_deadline is None


@settings(max_examples=200, deadline=None)
# Across the antimeridian: 793 km from 173 E to 179.875 W (a draw found the grid missing it).
@example(events=[(1, 0.0, 0.0), (2, -179.875, 0.0)], near=(173.0, 0.0), radius_km=800.0, clustered=False)
@given(
    events=st.lists(
        st.tuples(st.integers(1, 12), st.floats(-179.9, 179.9), st.floats(-89.9, 89.9)),
        min_size=1,
        max_size=40,
    ),
    near=st.tuples(st.floats(-179.9, 179.9), st.floats(-89.9, 89.9)),
    radius_km=st.sampled_from([0.5, 50.0, 800.0]),
    clustered=st.booleans(),
)
def test_the_cluster_grid_finds_exactly_the_vessels_within_the_radius(
    events: list[tuple[int, float, float]], near: tuple[float, float], radius_km: float, clustered: bool
) -> None:
    """The rule's grid of cells gives the same vessels as a scan of every event with the haversine
    distance (the rule as it was written first), anywhere on the globe; asked for `enough`, it stops
    at that many or finds them all."""
    from monitor.detectors.escalation import _Cluster
    from monitor.geo import haversine_m

    rule = EscalationRule(name="r", kinds=["on_land"], radius_km=radius_km)
    state = _Cluster(rule, 0)
    if clustered:  # most events close to the point asked about, as in a GNSS storm
        events = [(m, near[0] + (x % 1.0) * radius_km / 200, near[1] + (y % 1.0) * radius_km / 200)
                  for m, x, y in events]
        events = [(m, max(-179.9, min(179.9, x)), max(-89.9, min(89.9, y))) for m, x, y in events]
    for k, (m, x, y) in enumerate(events):
        state.add((float(k), m, x, y))
    want = {m for m, x, y in events if haversine_m(near[0], near[1], x, y) <= radius_km * 1000.0}
    assert state.vessels_near(near[0], near[1], None) == want
    some = state.vessels_near(near[0], near[1], 3)
    assert some <= want and (len(some) >= 3 or some == want)
    state.expire(len(events) / 2)
    kept = [e for k, e in enumerate(events) if k >= len(events) / 2]
    assert sum(len(c) for c in state.cells.values()) == len(state.events) == len(kept)


def test_a_state_saved_with_the_clusters_in_the_posture_restores() -> None:
    """Before the clusters moved to the escalation detector, the saved posture kept each rule as [events,
    until, reason]: such a state restores with the rule still raised, until the same time, and its events
    back in the detector's clusters (a sixth vessel then extends, not raises again)."""
    import json

    from monitor.detectors.escalation import Escalation
    from monitor.pipeline import Pipeline
    from monitor.zones import default_zone_path, load_zone_file
    from tests.helpers import T0, position_lines

    settings = load_settings(None, env={})
    zones = load_zone_file(default_zone_path())
    first = Pipeline(settings, zones)
    inland = (56.30, 27.40)  # Iran, inland of Bandar Abbas: on land, in no port
    for k in range(5):
        first.process_lines(position_lines(538000100 + k, inland[0] + k * 0.001, inland[1], T0 + 10 * k))
    assert first.posture.level == "ELEVATED"
    saved = first.engine.export_state(everything=True)
    g = json.loads(saved["engine"])
    clusters = g.pop("escalation")
    g["posture"]["rules"] = {name: [clusters.get(name, []), until, reason]
                             for name, (until, reason) in g["posture"]["rules"].items()}
    legacy = {**saved, "engine": json.dumps(g).encode()}
    again = Pipeline(settings, zones)
    again.engine.import_state(legacy)
    assert (again.posture.level, again.posture.next_deadline) == ("ELEVATED", first.posture.next_deadline)
    clusters_then = first.engine.aggregate(Escalation).rules.state()
    assert any(clusters_then.values())
    assert again.engine.aggregate(Escalation).rules.state() == clusters_then
    assert again.posture.state() == first.posture.state()
