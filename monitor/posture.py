"""The monitoring posture: NORMAL, ELEVATED, HIGH, CRITICAL.

The level in force is the higher of the operator's level (config, `replay --posture`, MQTT/HTTP) and the
levels the escalation rules hold. A rule raises the posture when alerts of its kinds come from enough
distinct vessels close together in time and space (GNSS interference puts many ships on land at once):
the clusters are found by the escalation detector (monitor.detectors.escalation), which tells the posture
(`hold`); the posture lets a rule fall back after its quiet period (`tick`). Every change is reported as a
`posture_change` alert.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.config import LEVELS, EscalationRule, LevelSettings, PostureSettings


@dataclass(frozen=True, slots=True)
class PostureChange:
    """A change of the level in force, to be turned into a `posture_change` alert."""

    time: float
    from_level: str
    to_level: str
    reason: str
    set_by: str


@dataclass(slots=True)
class _Raised:
    """A rule's hold on the level: while raised, until when and why (its clusters are the escalation
    detector's: monitor.detectors.escalation)."""

    rule: EscalationRule
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
        self._rules = [_Raised(r) for r in settings.rules]  # in the order of `settings.rules`
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

    def update(self, t: float) -> PostureChange | None:
        """After rules were held (`hold`): the change of the level in force at `t`, if any."""
        return self._update(t)

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

    def is_raised(self, rule: int) -> bool:
        """Whether rule number `rule` (its place in `settings.rules`) holds the level."""
        return self._rules[rule].until is not None

    def hold(self, rule: int, t: float, reason: str) -> None:
        """A cluster of rule number `rule` (its place in `settings.rules`: names need not be unique) at
        `t`: it raises the level (with `reason`), or, raised already, holds it for another quiet period
        (its reason, with the count it rose on, stands). `update` then says whether the level in force
        changed."""
        st = self._rules[rule]
        if st.until is None:
            st.reason = reason
        st.until = t + st.rule.quiet_s

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
            "rules": {st.rule.name: (st.until, st.reason) for st in self._rules},
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
                st.until, st.reason = saved
        self._update(0.0)
        since = state["since"]
        self.since = since if isinstance(since, float) else self.since
