"""`roster_overdue`: a roster vessel last seen inside the roster area has not reported for `roster.overdue_s`.

The roster is the vessels of the watchlists marked `roster = true` (CONTRACT "Watchlists", "Roster"): the
ships a desk keeps the picture of because its nationals are aboard. Korea's oceans ministry checks the
position of its ships near Hormuz every hour, so a ship silent for an hour (`roster.overdue_s`) in the
roster area (`roster.zones`, or every `region` zone) is overdue, whatever the posture: unlike `dark`,
neither the level nor the zone kind changes the limit, and a ship at anchor or in port is overdue too (it
is a person-safety check, not a behaviour). One alert per silence, at the moment the limit passes on the
feed clock; a report of any kind rearms it. As for `dark`, silence during an outage of the feed does not
count (README, Clocks: a vessel last heard before the outage gets its full limit again from the line
that ended it).

How it stays off the hot path: roster vessels are few. Each has one entry in a heap of deadlines, made
when the per-fix step first sees it (a vessel's first trusted fix always takes that step) or when a static
report makes it a roster vessel (by IMO number). An entry is checked only when it falls due: the vessel's
silence is recomputed from what was heard since (`catch_up`), and a vessel heard meanwhile simply waits
again, as `dark`'s timers do. A vessel with no entry (reported overdue, or silent outside the area) is
watched for its next report by one vectorized look at each batch's MMSIs (`RosterClock.on_batch`, only
while such vessels exist) and by `on_static`.

The heap is woken on the feed clock by the aggregate `RosterClock` of this module (the engine wakes
aggregates in time order with the `dark` deadlines); the per-vessel state is `ro_reported`, the last
report of the silence already reported, saved with the vessel, so a restart neither repeats nor loses
the alert; the heap is rebuilt from it (`restored`).
"""

from __future__ import annotations

import heapq
import math
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from pydantic import Field as Setting

from monitor import savedstate as S
from monitor.alerts import iso_time
from monitor.detectors.base import NEVER, AggregateDetector, Field, FixDetector, lowest, position
from monitor.errors import ConfigError
from monitor.settings_base import Seconds, Section

if TYPE_CHECKING:
    from monitor.alerts import Alert
    from monitor.decode import StaticReport
    from monitor.engine import Engine, Vessel, _FastBatch


class RosterSettings(Section):
    """[roster]: when a roster vessel is overdue, and where (CONTRACT "Roster")."""

    # Silent this long (feed clock) in the roster area: `roster_overdue`.
    overdue_s: Seconds = Setting(default=3600.0, gt=0)
    # The roster area: these zone ids; empty: every `region` zone of the zone file.
    zones: list[str] = Setting(default_factory=list)


class RosterOverdue(FixDetector):
    name = "roster_overdue"
    section = "roster"
    severity = {"roster_overdue": ("warning", "warning", "critical", "critical")}
    fields = (
        # The last report (its `heard` time) of the silence already reported: equal to `heard` while the
        # vessel is overdue and silent, older once it has reported again (never: none reported).
        Field("ro_reported", NEVER, S.time_or_never),
    )

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.overdue_s = RosterSettings().overdue_s
        self.area = engine.masks.region  # bit mask of the roster area's zones
        self.timers: list[tuple[float, int]] = []  # (deadline, mmsi), a heap; checked when due
        self.queued: set[int] = set()  # vessels with an entry in the heap
        self.waiting: set[int] = set()  # roster vessels with none: the next report of any kind rearms them
        self._waiting_arr: NDArray[np.int64] | None = None  # (sorted, for the batch look; None: rebuild)

    def configure(self, settings: RosterSettings) -> None:
        """Take the [roster] section; a zone id the zone file lacks is refused (exit 3)."""
        self.overdue_s = settings.overdue_s
        if settings.zones:
            index = self.e.geofence.index_of
            unknown = [z for z in settings.zones if z not in index]
            if unknown:
                known = ", ".join(z.id for z in self.e.geofence.zones if z.kind == "region")
                problem = f"no zone {unknown[0]!r} in the zone file (regions: {known})"
                raise ConfigError("roster.zones", problem)
            self.area = 0
            for z in settings.zones:
                self.area |= 1 << index[z]
        else:
            self.area = self.e.masks.region

    def on_roster(self, v: Vessel) -> bool:
        roster = self.e.watchlists.roster
        return bool(roster) and not roster.isdisjoint(v.watch)

    # ---- anything heard ------------------------------------------------------------------------------
    def on_fix(self, v: Vessel, t: float, lon: float, lat: float, sog: float, cog: float, s: int,
               alerts: list[Alert]) -> None:
        if v.mmsi not in self.queued and self.on_roster(v):
            self.arm(v, v.heard)

    def on_static(self, v: Vessel, report: StaticReport, t: float, alerts: list[Alert]) -> None:
        # (A static report may be what makes it a roster vessel: the IMO number of a listed ship.)
        if v.mmsi not in self.queued and self.on_roster(v):
            self.arm(v, v.heard)

    def arm(self, v: Vessel, heard: float) -> None:
        """Give the vessel an entry at `heard` (its last report, or earlier: an entry early is only checked
        early) plus the limit."""
        since = max(self.e.dark.listening_since, heard)
        heapq.heappush(self.timers, (since + self.overdue_s, v.mmsi))
        self.queued.add(v.mmsi)
        if v.mmsi in self.waiting:
            self.waiting.discard(v.mmsi)
            self._waiting_arr = None

    def heard_in(self, fb: _FastBatch) -> None:
        """The batch's reports from vessels without an entry (before any is processed): rearm them, at the
        time of their first report in the batch (early is safe: the entry is checked against `heard` when
        due, and waits again)."""
        if not self.waiting or not fb.n:
            return
        if self._waiting_arr is None:
            self._waiting_arr = np.array(sorted(self.waiting), dtype=np.int64)
        hit = np.isin(fb.mmsi_a, self._waiting_arr)
        if not hit.any():
            return
        t = fb.t_a[hit]
        t = np.where(np.isnan(t), self.e.now, t)  # (a report without a time: the clock, or later)
        for mmsi, heard in zip(fb.mmsi_a[hit].tolist(), t.tolist(), strict=True):
            v = self.e.vessels.get(mmsi)
            if v is not None and mmsi not in self.queued:
                self.arm(v, heard)

    # ---- the timers ------------------------------------------------------------------------------------
    def next_due(self) -> float:
        return self.timers[0][0] if self.timers else math.inf

    def fire_next(self, when: float, alerts: list[Alert]) -> None:
        """The earliest entry is due at `when`: the vessel is overdue, or, heard since, waits again."""
        _, mmsi = heapq.heappop(self.timers)
        self.queued.discard(mmsi)
        v = self.e.get(mmsi)
        if v is None or not self.on_roster(v):
            return
        self.e.catch_up(v)  # reports the fast path skipped so far count as heard
        deadline = max(self.e.dark.listening_since, v.heard) + self.overdue_s
        if deadline > when:  # heard since the entry was made: wait again
            heapq.heappush(self.timers, (deadline, mmsi))
            self.queued.add(mmsi)
            return
        self.waiting.add(mmsi)
        self._waiting_arr = None
        area = v.last_s & self.area if v.has_fix else 0
        if not area or v.ro_reported == v.heard:
            return  # silent outside the roster area, or this silence is reported already
        self.e.changed(v)
        v.ro_reported = v.heard
        details = {"last_seen": iso_time(v.heard), "silent_s": round(deadline - v.heard, 1)}
        pos = position(v.lat, v.lon, v.sog, v.cog)
        self.e.alert("roster_overdue", v, deadline, lowest(area), pos, details, v.heard, alerts, watched=True)

    # ---- engine-wide state -----------------------------------------------------------------------------
    def forget(self, gone: set[int], vessels: list[Vessel]) -> None:
        if any(m in gone for _, m in self.timers):
            self.timers = [e for e in self.timers if e[1] not in gone]
            heapq.heapify(self.timers)
        self.queued -= gone
        if not self.waiting.isdisjoint(gone):
            self.waiting -= gone
            self._waiting_arr = None

    def restored(self, vessels: list[Vessel]) -> None:
        """Rebuild the heap from the restored vessels: an entry for each roster vessel, except one whose
        silence was reported already (it waits for its next report)."""
        self.timers, self.queued, self.waiting, self._waiting_arr = [], set(), set(), None
        for v in vessels:
            if v.heard == -math.inf or not self.on_roster(v):
                continue
            if v.ro_reported == v.heard:
                self.waiting.add(v.mmsi)
            else:
                self.arm(v, v.heard)


class RosterClock(AggregateDetector):
    """Wakes `RosterOverdue`'s deadlines on the feed clock (aggregates are woken in time order with the
    `dark` deadlines) and shows it each batch's reports (to rearm the vessels it waits to hear from)."""

    name = "roster_clock"

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.roster = next(d for d in engine.detectors if isinstance(d, RosterOverdue))

    def on_batch(self, fb: _FastBatch) -> None:
        self.roster.heard_in(fb)

    def next_due(self) -> float:
        return self.roster.next_due()

    def wake(self, t: float, alerts: list[Alert]) -> None:
        self.roster.fire_next(t, alerts)
