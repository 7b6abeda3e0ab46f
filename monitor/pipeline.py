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
from typing import Any, ClassVar

import numpy as np
import structlog

from monitor.alerts import Alert
from monitor.config import Settings
from monitor.decode import DecodedBatch, decode_batch
from monitor.engine import Engine
from monitor.geofence import Geofence
from monitor.nmea import NmeaAssembler
from monitor.posture import Posture
from monitor.watchlists import Watchlists
from monitor.zones import ZoneFile


@dataclass(slots=True)
class Summary:
    """What a run saw: printed at the end of a replay, exported as metrics by the daemon."""

    lines: int = 0
    rejects: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    other_sentences: int = 0  # `$` sentences (a ship's own $GPRMC): not AIS, not rejected either
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
            "other_sentences": self.other_sentences,
            "messages": self.messages,
            "positions": self.positions,
            "statics": self.statics,
            "untimed": self.untimed,
            "stale": self.stale,
            "vessels": self.vessels,
            "alerts": sum(self.alerts.values()),
            "alerts_by_kind": dict(sorted(self.alerts.items())),
        }


@dataclass(slots=True)
class Decoded:
    """One batch of lines after the assembler and the decoder: what the engine takes."""

    batch: DecodedBatch
    messages: int  # messages the assembler made of the lines (decoded or rejected by the decoder)
    lines: int  # the batch's lines, for the internal_error count
    source: bytes  # the feed


@dataclass(slots=True)
class IngestCounts:
    """What the assembler and the decoder counted over a whole run (the summary's input side)."""

    lines: int
    rejects: Counter[str]
    duplicates: int
    other_sentences: int


log = structlog.get_logger(__name__)


class Pipeline:
    """Lines in, alerts out, with the counts a summary or the metrics need."""

    # The test suite sets this, so a bug fails its test instead of being counted and logged.
    raise_internal_errors: ClassVar[bool] = False

    def __init__(
        self,
        settings: Settings,
        zonefile: ZoneFile,
        *,
        posture: str | None = None,
        clock: Callable[[], float] | None = None,
        keep_tracks: bool = False,
    ) -> None:
        self.settings = settings
        # Recent tracks (http.track_points) are kept for the daemon's API and map page, not in a replay.
        self.keep_tracks = keep_tracks
        self.clock: Callable[[], float] = clock or _time.time
        self.assembler = NmeaAssembler(
            fragment_timeout_s=settings.decode.fragment_timeout_s,
            dedup_window_s=settings.decode.dedup_window_s,
            clock=clock,
            max_ahead_s=settings.clock.max_ahead_s,
            max_behind_s=settings.clock.max_behind_s,
            confirm_lines=settings.clock.confirm_lines,
        )
        self.geofence = Geofence(zonefile, hysteresis_m=settings.geofence.hysteresis_m)
        self.posture = Posture(settings.posture, operator_level=posture)
        self.engine = _engine(settings, self.geofence, self.posture, keep_tracks)
        self.summary = Summary()
        self._seq = 0
        self._decode_rejects: Counter[str] = Counter()
        self._engine_rejects: Counter[str] = Counter()  # (internal errors of the engine's half)
        # The counts of an ingest run in another process (monitor/ingestproc.py), handed over at its end.
        self.ingested: IngestCounts | None = None
        self.first_time: float | None = None  # the earliest and newest times seen on the feed clock
        self.feed_time: float | None = None

    def process_lines(self, lines: Sequence[bytes], source: bytes = b"") -> list[Alert]:
        """Run a batch of raw lines; `source` names the feed (its clock, and the source of fragments of
        lines without a tag-block one). Returns the batch's alerts, time-ordered.

        No line can stop the daemon or a replay: every value is checked where it is parsed, and the
        property tests push arbitrary bytes through here. Should a bug still raise, the batch is
        counted as `internal_error` and logged with its traceback, and the run goes on."""
        decoded = self.ingest(lines, source)
        return [] if decoded is None else self.digest(decoded)

    def ingest(self, lines: Sequence[bytes], source: bytes = b"") -> Decoded | None:
        """The first half of `process_lines`: lines to decoded messages (the assembler's and the decoder's
        state only, so a replay can run it in another process: monitor/ingestproc.py). None when a bug
        raised (counted as `internal_error`, as `process_lines` says)."""
        try:
            messages = self.assembler.push_lines(lines, source)
            batch = decode_batch(messages, seq_start=self._seq)
            self._seq += len(messages)
            self._decode_rejects.update(batch.rejects)
            return Decoded(batch, len(messages), len(lines), source)
        except Exception:
            if self.raise_internal_errors:
                raise
            self._decode_rejects["internal_error"] += len(lines)
            log.exception("batch_failed", lines=len(lines), feed=source.decode(errors="replace"))
            return None

    def digest(self, decoded: Decoded) -> list[Alert]:
        """The second half: decoded messages through the engine; the batch's alerts, time-ordered."""
        try:
            return self._digest(decoded)
        except Exception:
            if self.raise_internal_errors:
                raise
            self._engine_rejects["internal_error"] += decoded.lines
            log.exception("batch_failed", lines=decoded.lines, feed=decoded.source.decode(errors="replace"))
            return []

    def seed_clock(self, lines: Sequence[bytes], source: bytes = b"") -> None:
        """A recording's first batch, before it is processed: its median time sets the feed clock (see
        NmeaAssembler.seed_clock)."""
        self.assembler.seed_clock(lines, source)

    def _digest(self, decoded: Decoded) -> list[Alert]:
        batch = decoded.batch
        alerts, untimed = self.engine.process(batch, self.clock)
        times = batch.positions["time"]
        if len(times) and not np.isnan(times).all():
            lo, hi = float(np.nanmin(times)), float(np.nanmax(times))
            self.first_time = lo if self.first_time is None else min(self.first_time, lo)
            self.feed_time = hi if self.feed_time is None else max(self.feed_time, hi)
        s = self.summary
        s.messages += decoded.messages - sum(batch.rejects.values())
        s.positions += len(batch.positions)
        s.statics += len(batch.statics)
        s.untimed += untimed
        for a in alerts:
            s.alerts[a.kind] += 1
        return alerts

    def clock_time(self, wall: float) -> float | None:
        """Live: the time on the feeds' clocks at wall-clock time `wall`: each feed's clock moved on by the
        wall time since its last line, for at most clock.outage_s (then the feed is down and its clock
        stops); the newest of them. None before any timed line."""
        outage = self.settings.clock.outage_s
        newest: float | None = None
        for feed in self.assembler.clocks.values():
            if feed.now is None:
                continue
            elapsed = 0.0 if feed.wall_at is None else min(max(wall - feed.wall_at, 0.0), outage)
            t = feed.now + elapsed
            if newest is None or t > newest:
                newest = t
        return newest

    def tick(self, wall: float) -> list[Alert]:
        """Live: the wall clock reached `wall` with no message; fire the timers due (dark, posture) on the
        feeds' clocks (`clock_time`), never on the wall clock itself: a receiver whose clock lags, or a
        recording streamed live, is judged on its own time."""
        alerts: list[Alert] = []
        now = self.clock_time(wall)
        if now is None:
            return alerts
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
        engine = _engine(settings, geofence, posture, self.keep_tracks)
        engine.import_state({k: v for k, v in saved.items() if v is not None})
        engine.adopt_history(self.engine)
        engine.forgotten = self.engine.forgotten
        engine.evicted = self.engine.evicted
        # Everything is saved again under the new zone file, and deletions still pending (forgotten
        # vessels) are not lost.
        engine.dirty = None if pending is None else set(engine.vessels) | pending
        self.settings, self.geofence, self.posture, self.engine = settings, geofence, posture, engine
        self.assembler.fragment_timeout_s = settings.decode.fragment_timeout_s
        self.assembler.dedup_window_s = settings.decode.dedup_window_s
        # (Feed clocks keep their limits until the daemon restarts: they judge lines already seen.)

    def rejects(self) -> Counter[str]:
        """The lines and messages refused so far, by reason (live: the metrics and /api/feeds)."""
        return self.assembler.rejects + self._decode_rejects + self._engine_rejects

    def ingest_counts(self) -> IngestCounts:
        """End of input on the ingest side: the lines the feed clocks still hold back are refused, and the
        counts of the whole run."""
        self.assembler.end_clocks()
        a = self.assembler
        return IngestCounts(a.lines, a.rejects + self._decode_rejects, a.duplicates, a.other_sentences)

    def finish(self) -> Summary:
        """Bring the summary up to date (counts kept by the assembler and the tracker)."""
        counts = self.ingested if self.ingested is not None else self.ingest_counts()
        s = self.summary
        s.lines = counts.lines
        s.rejects = counts.rejects + self._engine_rejects
        s.duplicates = counts.duplicates
        s.other_sentences = counts.other_sentences
        s.stale = self.engine.stale
        s.vessels = len(self.engine.vessels)
        return s


def _engine(settings: Settings, geofence: Geofence, posture: Posture, keep_tracks: bool = False) -> Engine:
    """The engine the configuration describes (at start, and on a reload)."""
    watchlists = Watchlists(settings.watchlists)
    engine = Engine(
        geofence,
        posture=posture,
        detectors=settings.detectors,
        watchlists=watchlists,
        min_dwell_s=settings.geofence.min_dwell_s,
        forget_after_s=settings.state.forget_after_s,
        outage_s=settings.clock.outage_s,
        max_vessels=settings.state.max_vessels,
        history_points=settings.http.track_points if keep_tracks else 0,
        history_interval_s=settings.http.track_interval_s,
    )
    # Sections of their own (CONTRACT names [corridor] and [traffic]), beside the [detectors] keys.
    for part in engine.parts():
        if part.section is not None:
            part.configure(getattr(settings, part.section))
    return engine
