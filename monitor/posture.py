"""The monitoring posture: NORMAL, ELEVATED, HIGH, CRITICAL.

The level in force is the higher of the operator's level (config, `replay --posture`, later MQTT/HTTP)
and the level raised by escalation rules. A rule raises the posture when alerts of its kinds come from
enough distinct vessels close together in time and space (GNSS interference puts many ships on land at
once), and lets it fall back after a quiet period. Every change is reported as a `posture_change` alert.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from monitor.config import LEVELS, EscalationRule, LevelSettings, PostureSettings
from monitor.geo import haversine_m


@dataclass(frozen=True, slots=True)
class PostureChange:
    """A change of the level in force, to be turned into a `posture_change` alert."""

    time: float
    from_level: str
    to_level: str
    reason: str
    set_by: str


_Event = tuple[float, int, float, float]  # (time, mmsi, lon, lat) of an alert a rule counts


@dataclass(slots=True)
class _RuleState:
    rule: EscalationRule
    events: deque[_Event]  # the rule's recent events, oldest first
    until: float | None = None  # while raised: when it falls back, unless a new cluster extends it
    reason: str = ""
    # The same events in a grid of cells one radius wide (degrees), so a cluster is looked for among the
    # events of the neighbouring cells, not all of them: a GNSS storm with thousands of ships on land at
    # once made that quadratic (minutes of a stalled loop for 20,000 ships).
    cells: dict[tuple[int, int], deque[_Event]] = field(default_factory=dict)

    def add(self, e: _Event) -> None:
        self.events.append(e)
        self.cells.setdefault(self._cell(e[2], e[3]), deque()).append(e)

    def expire(self, before: float) -> None:
        ev = self.events
        while ev and ev[0][0] < before:
            e = ev.popleft()
            key = self._cell(e[2], e[3])
            cell = self.cells[key]
            cell.remove(e)  # (the oldest of its cell but for events a little out of time order)
            if not cell:
                del self.cells[key]

    def _cell(self, lon: float, lat: float) -> tuple[int, int]:
        size = self.rule.radius_km / 111.32
        return math.floor(lon / size), math.floor(lat / size)

    def vessels_near(self, lon: float, lat: float, enough: int | None) -> set[int]:
        """The vessels with an event within the rule's radius of (lon, lat); with `enough`, the search may
        stop once that many are found."""
        radius = self.rule.radius_km * 1000.0
        size = self.rule.radius_km / 111.32  # degrees of latitude in one radius
        widest = min(89.9, abs(lat) + size)
        dlon = min(180.0, size / math.cos(math.radians(widest)))
        x0, x1 = math.floor((lon - dlon) / size), math.floor((lon + dlon) / size)
        y0, y1 = math.floor((lat - size) / size), math.floor((lat + size) / size)
        if (x1 - x0 + 1) * (y1 - y0 + 1) > len(self.cells):
            groups: list[deque[_Event]] = list(self.cells.values())  # (near a pole: fewer cells than that)
        else:
            near = ((x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1))
            groups = [c for key in near if (c := self.cells.get(key))]
        found: set[int] = set()
        for cell in groups:
            for _, m, x, y in cell:
                if m not in found and haversine_m(lon, lat, x, y) <= radius:
                    found.add(m)
                    if enough is not None and len(found) >= enough:
                        return found
        return found


def rank(level: str) -> int:
    return LEVELS.index(level)


class Posture:
    """Keeps the operator's level and the rules' levels, and says when the level in force changes."""

    def __init__(self, settings: PostureSettings, operator_level: str | None = None) -> None:
        self.settings = settings
        level = (operator_level or settings.level).upper()
        if level not in LEVELS:
            raise ValueError(f"unknown posture level {level!r} (levels: {', '.join(LEVELS)})")
        self.operator_level = level
        self.operator_reason = "configured"
        self.operator_set_by = "config"
        self.since: float | None = None
        self._rules = [_RuleState(r, deque()) for r in settings.rules]
        self._kinds = {
            k: [s for s in self._rules if k in s.rule.kinds] for r in settings.rules for k in r.kinds
        }
        self.level = self.operator_level
        self.reason = self.operator_reason
        self.set_by = self.operator_set_by
        self.limits: LevelSettings = settings.levels.of(self.level)
        # The earliest time a raised rule falls back; None when no rule is raised.
        self.next_deadline: float | None = None

    def _effective(self) -> tuple[str, str, str]:
        level, reason, set_by = self.operator_level, self.operator_reason, self.operator_set_by
        for st in self._rules:
            if st.until is not None and rank(st.rule.raise_to) > rank(level):
                level, reason, set_by = st.rule.raise_to, st.reason, f"rule:{st.rule.name}"
        return level, reason, set_by

    def _update(self, t: float) -> PostureChange | None:
        deadlines = [st.until for st in self._rules if st.until is not None]
        self.next_deadline = min(deadlines) if deadlines else None
        level, reason, set_by = self._effective()
        if level == self.level:
            return None
        change = PostureChange(t, self.level, level, reason, set_by)
        self.level, self.reason, self.set_by, self.since = level, reason, set_by, t
        self.limits = self.settings.levels.of(level)
        return change

    def set_operator(self, level: str, reason: str, set_by: str, t: float) -> PostureChange | None:
        """The operator sets the level; returns the change of the level in force, if any."""
        level = level.upper()
        if level not in LEVELS:
            raise ValueError(f"unknown posture level {level!r} (levels: {', '.join(LEVELS)})")
        self.operator_level, self.operator_reason, self.operator_set_by = level, reason, set_by
        return self._update(t)

    def observe(self, kind: str, t: float, mmsi: int | None, lon: float, lat: float,
                reason: str | None = None) -> PostureChange | None:
        """An alert of `kind` was raised: feed the rules that count it. `reason`: what raised the posture,
        for an alert about no vessel (a traffic drop), instead of counting vessels."""
        states = self._kinds.get(kind)
        if not states or mmsi is None:
            return None
        changed = False
        for st in states:
            rule = st.rule
            st.add((t, mmsi, lon, lat))
            st.expire(t - rule.window_s)
            # While the rule is raised, a cluster only extends it (its reason, with the count it rose
            # on, stands): enough vessels found, the search stops.
            vessels = st.vessels_near(lon, lat, rule.min_vessels if st.until is not None else None)
            if len(vessels) >= rule.min_vessels:
                if st.until is None:
                    kinds = "/".join(rule.kinds)
                    st.reason = reason or (
                        f"{len(vessels)} vessels with {kinds} within {rule.window_s / 60:g} min and "
                        f"{rule.radius_km:g} km"
                    )
                st.until = t + rule.quiet_s
                changed = True
        return self._update(t) if changed else None

    def tick(self, t: float) -> list[PostureChange]:
        """The clock reached `t`: raised rules whose quiet period has passed fall back, each at its time."""
        changes: list[PostureChange] = []
        while self.next_deadline is not None and self.next_deadline <= t:
            when = self.next_deadline
            expired = [st for st in self._rules if st.until is not None and st.until <= when]
            for st in expired:
                st.until = None
                st.reason = ""
            change = self._update(when)
            if change is not None:
                rule = expired[0].rule
                changes.append(
                    PostureChange(
                        when, change.from_level, change.to_level,
                        f"quiet: no {'/'.join(rule.kinds)} cluster for {rule.quiet_s / 60:g} min",
                        "rule:" + ",".join(st.rule.name for st in expired),
                    )
                )
        return changes

    # ---- state that survives a restart -------------------------------------------------------------------
    def state(self) -> dict[str, object]:
        return {
            "operator": (self.operator_level, self.operator_reason, self.operator_set_by),
            "since": self.since,
            "rules": {st.rule.name: (list(st.events), st.until, st.reason) for st in self._rules},
        }

    def restore(self, state: dict[str, object]) -> None:
        """Restore the runtime state. A level an operator commanded (over MQTT or HTTP) outlives a restart;
        one that came from the configuration yields to the configuration now in force. Rules are matched
        by name."""
        operator = state["operator"]
        assert isinstance(operator, tuple)
        if operator[2] != "config":
            self.operator_level, self.operator_reason, self.operator_set_by = operator
        rules = state["rules"]
        assert isinstance(rules, dict)
        for st in self._rules:
            saved = rules.get(st.rule.name)
            if saved is not None:
                events, st.until, st.reason = saved
                st.events, st.cells = deque(), {}
                for e in events:
                    st.add(e)
        self._update(0.0)
        since = state["since"]
        self.since = since if isinstance(since, float) else self.since
