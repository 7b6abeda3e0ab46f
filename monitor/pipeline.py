"""The synchronous middle of the daemon: lines in, alerts out (STYLE 1).

    feed lines -> NmeaAssembler (tag blocks, checksums, fragments, duplicates)
               -> decode_batch (vectorized position reports, pyais for the rest)
               -> Engine (per-vessel state, static fusion, geofence, detectors, posture)
               -> alerts

Replay and the daemon run exactly this code; only where the lines come from and where alerts go differ.
No event loop here: it is tested directly and works on batches for speed.
"""

from __future__ import annotations

import time as _time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from monitor.alerts import Alert
from monitor.config import Settings
from monitor.decode import decode_batch
from monitor.engine import Engine
from monitor.geofence import Geofence
from monitor.nmea import NmeaAssembler
from monitor.posture import Posture
from monitor.zones import ZoneFile


@dataclass(slots=True)
class Summary:
    """What a run saw: printed at the end of a replay, exported as metrics by the daemon."""

    lines: int = 0
    rejects: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    messages: int = 0
    positions: int = 0
    statics: int = 0
    untimed: int = 0
    stale: int = 0
    vessels: int = 0
    alerts: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "rejected": sum(self.rejects.values()),
            "rejects": dict(sorted(self.rejects.items())),
            "duplicates": self.duplicates,
            "messages": self.messages,
            "positions": self.positions,
            "statics": self.statics,
            "untimed": self.untimed,
            "stale": self.stale,
            "vessels": self.vessels,
            "alerts": sum(self.alerts.values()),
            "alerts_by_kind": dict(sorted(self.alerts.items())),
        }


class Pipeline:
    """Lines in, alerts out, with the counts a summary or the metrics need."""

    def __init__(
        self,
        settings: Settings,
        zonefile: ZoneFile,
        *,
        posture: str | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Callable[[], float] = clock or _time.time
        self.assembler = NmeaAssembler(
            fragment_timeout_s=settings.decode.fragment_timeout_s,
            dedup_window_s=settings.decode.dedup_window_s,
            clock=clock,
        )
        self.geofence = Geofence(zonefile, hysteresis_m=settings.geofence.hysteresis_m)
        watchlists = {
            name: (frozenset(w.mids), frozenset(w.mmsis)) for name, w in settings.watchlists.items()
        }
        self.posture = Posture(settings.posture, operator_level=posture)
        self.engine = Engine(
            self.geofence,
            posture=self.posture,
            detectors=settings.detectors,
            watchlists=watchlists,
            min_dwell_s=settings.geofence.min_dwell_s,
            forget_after_s=settings.state.forget_after_s,
        )
        self.summary = Summary()
        self._seq = 0
        self._decode_rejects: Counter[str] = Counter()
        self.first_time: float | None = None  # the earliest and newest times seen on the feed clock
        self.feed_time: float | None = None

    def process_lines(self, lines: Sequence[bytes], source: bytes = b"") -> list[Alert]:
        """Run a batch of raw lines; `source` names the feed (for fragments of lines without a tag-block
        source). Returns the batch's alerts, time-ordered."""
        messages = self.assembler.push_lines(lines, source)
        batch = decode_batch(messages, seq_start=self._seq)
        self._seq += len(messages)
        self._decode_rejects.update(batch.rejects)
        alerts, untimed = self.engine.process(batch, self.clock)
        times = batch.positions["time"]
        if len(times) and not np.isnan(times).all():
            lo, hi = float(np.nanmin(times)), float(np.nanmax(times))
            self.first_time = lo if self.first_time is None else min(self.first_time, lo)
            self.feed_time = hi if self.feed_time is None else max(self.feed_time, hi)
        s = self.summary
        s.messages += len(messages) - sum(batch.rejects.values())
        s.positions += len(batch.positions)
        s.statics += len(batch.statics)
        s.untimed += untimed
        for a in alerts:
            s.alerts[a.kind] += 1
        return alerts

    def tick(self, now: float) -> list[Alert]:
        """Live: the wall clock reached `now` with no message; fire the timers due (dark, posture)."""
        alerts: list[Alert] = []
        self.engine.advance(now, alerts)
        self.engine.forget_silent()
        alerts.sort(key=lambda a: a.time)
        for a in alerts:
            self.summary.alerts[a.kind] += 1
        return alerts

    def set_posture(self, level: str, reason: str, set_by: str, t: float | None = None) -> list[Alert]:
        """The operator sets the posture (ValueError for an unknown level); returns posture_change alerts."""
        alerts = self.engine.set_posture(level, reason, set_by, t)
        for a in alerts:
            self.summary.alerts[a.kind] += 1
        return alerts

    def reload(self, settings: Settings, zonefile: ZoneFile) -> None:
        """Swap in a new configuration and zone file, keeping every vessel's state (zones by id)."""
        pending = None if self.engine.dirty is None else set(self.engine.dirty)  # (export clears it)
        saved = self.engine.export_state(everything=True)
        geofence = Geofence(zonefile, hysteresis_m=settings.geofence.hysteresis_m)
        posture = Posture(settings.posture)
        watchlists = {
            name: (frozenset(w.mids), frozenset(w.mmsis)) for name, w in settings.watchlists.items()
        }
        engine = Engine(
            geofence, posture=posture, detectors=settings.detectors, watchlists=watchlists,
            min_dwell_s=settings.geofence.min_dwell_s,
            forget_after_s=settings.state.forget_after_s,
        )
        engine.import_state({k: v for k, v in saved.items() if v is not None})
        engine.forgotten = self.engine.forgotten
        # Everything is saved again under the new zone file, and deletions still pending (forgotten
        # vessels) are not lost.
        engine.dirty = None if pending is None else set(engine.vessels) | pending
        self.settings, self.geofence, self.posture, self.engine = settings, geofence, posture, engine
        self.assembler.fragment_timeout_s = settings.decode.fragment_timeout_s
        self.assembler.dedup_window_s = settings.decode.dedup_window_s

    def finish(self) -> Summary:
        """Bring the summary up to date (counts kept by the assembler and the tracker)."""
        s = self.summary
        s.lines = self.assembler.lines
        s.rejects = self.assembler.rejects + self._decode_rejects
        s.duplicates = self.assembler.duplicates
        s.stale = self.engine.stale
        s.vessels = len(self.engine.vessels)
        return s
