"""What the operator does to alerts: acknowledge them, and snooze a vessel's alerts for a while.

Plain synchronous code (STYLE 1), tested without a daemon: the checks of an acknowledgement and of a
snooze, and the one rule that decides which alerts reach the sinks (`Snoozes.publishable`). The daemon
(monitor.service) keeps both in its SQLite store and calls these; the HTTP API (monitor.http) only turns
requests into calls and `Refused` into a 400.

Snoozes and the feed clock: a snooze holds back the alerts of one vessel (`mmsi`) and one `kind` (or
`"*"`, every kind) whose time is before `until`. Alerts carry the feed's clock (README, Clocks), so the
rule compares `until` with the alert's own time, never with this machine's clock: the operator snoozes
what the alerts say ("until 14:00", as the alerts read), the same alert is judged the same whether it is
raised at once, after a restart or from alerts held through a disk fault, and a recording streamed at
60 times real time (`make live`) or a receiver whose clock lags is silenced for the stretch of its own
time the operator chose. For the same reason "in the past" and "expired" are judged against the feed
clock now (the wall clock before any feed has a time).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from monitor.alerts import Alert, iso_time
from monitor.detectors import KINDS
from monitor.errors import MonitorError

__all__ = [
    "ANY_KIND",
    "MAX_SNOOZE_S",
    "NotWritable",
    "Refused",
    "Snooze",
    "Snoozes",
    "parse_ack",
    "parse_snooze",
]

ANY_KIND: Final = "*"  # a snooze of every kind of alert about the vessel
# A snooze longer than this is refused: a typo in the year (2062 for 2026) must not silence a vessel for
# decades. Thirty days is beyond any watch's "we know about this one" and shows up in GET /api/snoozes.
MAX_SNOOZE_S: Final = 30 * 86_400.0
MAX_TEXT_CHARS: Final = 500  # a note or a reason, as a posture change's reason
MAX_BY_CHARS: Final = 100  # who acknowledged: a name or a call sign
_TIME_MAX: Final = 4_102_444_800.0  # 2100-01-01, the latest time the feed parser admits
# Kinds a snooze can name: those about one vessel. A posture change or a traffic alert has no MMSI and
# would never match, so a snooze of one is a mistake worth refusing.
_NO_VESSEL: Final = frozenset({"posture_change", "traffic_drop", "traffic_recovery", "interference",
                               "interference_cleared"})


class Refused(ValueError):
    """An operator's request that is not valid; `parameter` names the field."""

    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.parameter = parameter


class NotWritable(MonitorError):
    """The state database cannot be written now (disk full, read-only, I/O error): nothing changed."""


def snooze_kinds() -> tuple[str, ...]:
    """The kinds a snooze may name, `*` first."""
    return (ANY_KIND, *(k for k in KINDS if k not in _NO_VESSEL))


def _fields(body: Mapping[str, Any], known: Sequence[str], required: Sequence[str]) -> None:
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise Refused(f"unknown field {unknown[0]!r} (known: {', '.join(known)})", unknown[0])
    for name in required:
        if name not in body:
            raise Refused(f"{name} is required", name)


def _text(body: Mapping[str, Any], name: str, limit: int, *, empty: bool) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or len(value) > limit or (not empty and not value.strip()):
        what = "a string" if empty else "a non-empty string"
        raise Refused(f"{name} must be {what} of at most {limit} characters", name)
    return value


def parse_ack(body: Mapping[str, Any]) -> tuple[str, str]:
    """(by, note) of a body `{"by": str, "note": str optional}`; Refused names what is wrong."""
    _fields(body, ("by", "note"), ("by",))
    return _text(body, "by", MAX_BY_CHARS, empty=False), _text(body, "note", MAX_TEXT_CHARS, empty=True)


def _parse_until(value: object) -> float:
    """ISO 8601 UTC: with `Z` or an offset (a time without one is refused: it would silently be read in
    some zone the operator did not mean)."""
    if not isinstance(value, str) or len(value) > 40:
        raise Refused("until must be an ISO 8601 UTC time such as 2026-12-04T18:00:00Z", "until")
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise Refused(f"until must be an ISO 8601 UTC time such as 2026-12-04T18:00:00Z, got {value!r}",
                      "until") from None
    if dt.tzinfo is None:
        raise Refused(f"until must say its zone (Z for UTC), got {value!r}", "until")
    t = dt.astimezone(UTC).timestamp()
    if not math.isfinite(t) or not 0.0 <= t < _TIME_MAX:
        raise Refused(f"until must lie between 1970 and 2100, got {value!r}", "until")
    return t


def parse_snooze(body: Mapping[str, Any], now: float) -> tuple[int, str, float, str]:
    """(mmsi, kind, until, reason) of a body `{"mmsi", "kind", "until", "reason"}`, `now` the feed clock;
    Refused names what is wrong (until not after now, or more than MAX_SNOOZE_S after it)."""
    _fields(body, ("mmsi", "kind", "until", "reason"), ("mmsi", "kind", "until", "reason"))
    mmsi = body["mmsi"]
    if not isinstance(mmsi, int) or isinstance(mmsi, bool) or not 1 <= mmsi <= 999_999_999:
        raise Refused("mmsi must be an integer from 1 to 999999999", "mmsi")
    kind = body["kind"]
    kinds = snooze_kinds()
    if kind not in kinds:
        raise Refused(f"kind must be an alert kind about a vessel or \"*\" for all: {', '.join(kinds)}; "
                      f"got {str(kind)[:40]!r}", "kind")
    until = _parse_until(body["until"])
    if until <= now:
        raise Refused(f"until {body['until']} is not after the feed clock now, {iso_time(now)}", "until")
    if until - now > MAX_SNOOZE_S:
        raise Refused(f"until must be at most {MAX_SNOOZE_S / 86_400:g} days after the feed clock now, "
                      f"{iso_time(now)}", "until")
    reason = _text(body, "reason", MAX_TEXT_CHARS, empty=False)
    return mmsi, str(kind), until, reason


@dataclass(frozen=True, slots=True)
class Snooze:
    """One snooze: alerts about `mmsi` of `kind` (or any kind) timed before `until` (feed clock) are kept
    and listed but not published."""

    id: int
    mmsi: int
    kind: str
    until: float
    reason: str
    created: str  # wall clock, ISO 8601 UTC: when the operator asked

    def matches(self, alert: Alert) -> bool:
        return (alert.mmsi == self.mmsi and (self.kind == ANY_KIND or alert.kind == self.kind)
                and alert.time < self.until)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "mmsi": self.mmsi, "kind": self.kind, "until": iso_time(self.until),
                "reason": self.reason, "created": self.created}


class Snoozes:
    """The snoozes in force, by vessel. The daemon's one copy in memory; the store keeps them on disk."""

    def __init__(self, snoozes: Iterable[Snooze] = ()) -> None:
        self._by_id: dict[int, Snooze] = {}
        self._by_mmsi: dict[int, list[Snooze]] = {}
        for s in snoozes:
            self.add(s)

    def add(self, snooze: Snooze) -> None:
        self._by_id[snooze.id] = snooze
        self._by_mmsi.setdefault(snooze.mmsi, []).append(snooze)

    def remove(self, ident: int) -> Snooze | None:
        snooze = self._by_id.pop(ident, None)
        if snooze is not None:
            rest = [s for s in self._by_mmsi[snooze.mmsi] if s.id != ident]
            if rest:
                self._by_mmsi[snooze.mmsi] = rest
            else:
                del self._by_mmsi[snooze.mmsi]
        return snooze

    def get(self, ident: int) -> Snooze | None:
        return self._by_id.get(ident)

    def active(self, now: float) -> list[Snooze]:
        """The snoozes not expired at `now` (feed clock), by id."""
        return [s for _, s in sorted(self._by_id.items()) if s.until > now]

    def expired(self, now: float) -> list[int]:
        """Ids of the snoozes that ended by `now` (feed clock): they match no alert any more."""
        return [i for i, s in self._by_id.items() if s.until <= now]

    def snoozed(self, alert: Alert) -> bool:
        """Whether a snooze holds this alert back from the sinks."""
        if alert.mmsi is None:
            return False
        return any(s.matches(alert) for s in self._by_mmsi.get(alert.mmsi, ()))

    def publishable(self, alerts: Sequence[Alert]) -> list[Alert]:
        """THE rule of every sink (MQTT's outbox today; webhook and CoT queues to come): the alerts to
        send, in order; snoozed ones are kept and listed by the daemon but go to no sink."""
        if not self._by_mmsi:
            return list(alerts)
        return [a for a in alerts if not self.snoozed(a)]

    def __len__(self) -> int:
        return len(self._by_id)
