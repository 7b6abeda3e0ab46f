"""The monitoring posture: NORMAL, ELEVATED, HIGH, CRITICAL.

The level in force is the higher of the operator's level (config, `replay --posture`, later MQTT/HTTP)
and the level raised by escalation rules. A rule raises the posture when alerts of its kinds come from
enough distinct vessels close together in time and space (GNSS interference puts many ships on land at
once), and lets it fall back after a quiet period. Every change is reported as a `posture_change` alert.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

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


@dataclass(slots=True)
class _RuleState:
    rule: EscalationRule
    events: deque[tuple[float, int, float, float]]  # (time, mmsi, lon, lat) of recent alerts of its kinds
    until: float | None = None  # while raised: when it falls back, unless a new cluster extends it
    reason: str = ""


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
        self._kinds = {k: [s for s in self._rules if k in s.rule.kinds] for r in settings.rules for k in r.kinds}
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

    def observe(self, kind: str, t: float, mmsi: int | None, lon: float, lat: float) -> PostureChange | None:
        """An alert of `kind` was raised: feed the rules that count it."""
        states = self._kinds.get(kind)
        if not states or mmsi is None:
            return None
        changed = False
        for st in states:
            rule = st.rule
            ev = st.events
            ev.append((t, mmsi, lon, lat))
            while ev and ev[0][0] < t - rule.window_s:
                ev.popleft()
            radius = rule.radius_km * 1000.0
            vessels = {m for (_, m, x, y) in ev if haversine_m(lon, lat, x, y) <= radius}
            if len(vessels) >= rule.min_vessels:
                kinds = "/".join(rule.kinds)
                st.reason = (
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
                st.events = deque(events)
        self._update(0.0)
        since = state["since"]
        self.since = since if isinstance(since, float) else self.since
