"""What every per-fix detector is made of, and the small helpers they share.

A per-fix detector (`FixDetector`) owns, in its module:
- its alert kinds and their default severity at each posture level (`severity`);
- its per-vessel state (`fields`: name, value of a vessel without it, saved-state check), kept on the
  Vessel object; `open(v)` says whether a vessel has an episode open, so that every later fix of that
  vessel takes the per-fix step;
- its vectorized pre-filter (`prefilter`): over a whole batch, which fixes can change its state (the
  others only move the track);
- its exact per-fix logic (`on_fix`), on the trusted track, which raises its alerts through the engine.

The engine composes them: the Vessel's slots, the saved-state row, what "open" and "may change" mean for
the fast path, and the order of the per-fix step (`monitor.detectors.FIX_DETECTORS`). See
docs/detectors.md for how to add one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from pydantic import Field as Setting

from monitor.levels import PerLevel
from monitor.settings_base import Seconds, Section

if TYPE_CHECKING:
    from monitor.alerts import Alert
    from monitor.decode import StaticReport
    from monitor.engine import Engine, Vessel, _FastBatch

KNOT = 1852.0 / 3600.0  # metres per second


@dataclass(frozen=True, slots=True)
class Field:
    """One value a detector keeps per vessel: its name (a Vessel slot), the value of a vessel that has
    none yet, the check of monitor.savedstate that reads it back from saved state, and whether a change
    of it must be saved at once."""

    name: str
    default: Any
    check: Callable[[Any, str], Any]
    # True: a change of it is saved with the batch that made it (a crash must not lose it, or an alert
    # could repeat); False: it only moves on with the track, and is saved a little later with it.
    urgent: bool = True


@dataclass(frozen=True, slots=True)
class Masks:
    """Zone bit masks by kind, for the detectors' zone questions (from geofence.kind_mask)."""

    strait: int  # the strait, its TSS lanes and separation zone
    lane: int
    separation: int
    region: int
    land: int
    port: int
    harbour: int  # ports and anchorages
    tracked: int  # the kinds enter/exit alerts are raised for


class EpisodeSettings(Section):
    """[detectors] key every detector shares."""

    # One alert per episode: a condition absent for this long ends its episode; a later one is new.
    episode_gap_s: Seconds = Setting(default=900.0, gt=0)


class FixDetector:
    """The base of a detector run on each trusted fix of a vessel (see the module docstring)."""

    name: ClassVar[str]
    # Its alert kinds, each with its default severity at each posture level (NORMAL, ELEVATED, HIGH,
    # CRITICAL); `[posture.levels.LEVEL.severity]` in the configuration overrides them.
    severity: ClassVar[dict[str, PerLevel]]
    fields: ClassVar[tuple[Field, ...]] = ()
    # Its keys of the [detectors] section (thresholds that hold at every posture level), if any.
    settings: ClassVar[type[Section] | None] = None
    # A top-level section of the configuration it reads besides (CONTRACT names some: [corridor],
    # [traffic]), given to `configure` when the engine is built.
    section: ClassVar[str | None] = None
    # Whether its kinds are behaviour an escalation rule may count (the geofence's events are not).
    rule_kinds: ClassVar[bool] = True

    def __init__(self, engine: Engine) -> None:
        self.e = engine
        self.det = engine.det

    # True: an open episode does not send every later fix of the vessel through the per-fix step. Its
    # pre-filter then picks, among all fixes (those of vessels with an episode open included: the batch's
    # `quiet_vessels`), the ones that can change more than `carry` applies: an episode's spread, its last
    # position, a grid cell with no other vessel near.
    quiet: ClassVar[bool] = False

    def configure(self, section: Any) -> None:
        """Take the configuration's `section` (its settings object), at start and on a reload."""

    def open(self, v: Vessel) -> bool:
        """Has the vessel an episode of this detector open (unless `quiet`, every later fix then takes the
        per-fix step)?"""
        return False

    def carry(self, fb: _FastBatch, rows: NDArray[np.int64]) -> Iterable[Vessel]:
        """`quiet` detectors: apply the skipped trusted fixes `rows` (input order, any vessels: those this
        detector has nothing to do with are ignored) as `on_fix` would have; the pre-filter vouched that
        they change nothing else. Returns the vessels whose `open` may have changed. Called once per vessel
        and batch: for a vessel the per-fix step takes over mid-batch, with its rows before that."""
        return ()

    def prefilter(self, fb: _FastBatch) -> NDArray[np.bool_]:
        """For each fix of the batch: can it change this detector's state of its vessel? (A vessel with an
        open episode takes the per-fix step for all its fixes anyway.)"""
        return np.zeros(fb.n, dtype=bool)

    def on_fix(self, v: Vessel, t: float, lon: float, lat: float, sog: float, cog: float, s: int,
               alerts: list[Alert]) -> None:
        """One trusted fix of `v` in zones `s` (a bit mask, every kind); raise alerts into `alerts`."""
        raise NotImplementedError

    def on_static(self, v: Vessel, report: StaticReport, t: float, alerts: list[Alert]) -> None:
        """A static report (types 5, 19, 24) of `v` at `t`, already fused into `v` (its name, draught,
        ...): raise alerts into `alerts`. Every static report takes it, on both paths; on the fast path
        `v`'s track may lag the batch (Engine.get and Engine.catch_up bring it up to date)."""

    # ---- engine-wide state (optional) -----------------------------------------------------------------
    def after_batch(self) -> None:
        """After each batch: housekeeping of engine-wide state."""

    def forget(self, gone: set[int], vessels: list[Vessel]) -> None:
        """These vessels are forgotten (silence, the vessel cap): drop what this detector keeps of them."""

    def global_state(self) -> dict[str, Any]:
        """Engine-wide state to save, as JSON values under keys of the engine's saved row (unique across
        detectors); read back by `read_global`."""
        return {}

    @staticmethod
    def read_global(g: dict[str, Any]) -> Any:
        """Check this detector's keys of a saved engine row (monitor.savedstate checks; a missing key gets
        its default) and return them ready for `restore_global`; nothing is changed yet."""
        return None

    def restore_global(self, checked: Any) -> None:
        """Take back what `read_global` checked."""

    def restored(self, vessels: list[Vessel]) -> None:
        """The vessels were restored from saved state: rebuild what derives from their fields."""


class AggregateDetector:
    """A detector of state per area (a strait, a zone, an area, a grid cell) rather than per vessel: fed
    every alert about a vessel the engine raises (`observe`; posture changes are not fed back), woken on
    the feed clock when it asks (`next_due`, `wake`, in time order with the dark deadlines),
    its state saved with the engine's (`global_state`, `read_global`, `restore_global`, as for a
    FixDetector). Alerts it raises itself (a traffic drop, an interference area) go into `alerts`."""

    name: ClassVar[str]
    severity: ClassVar[dict[str, PerLevel]] = {}
    # Its keys of [detectors], if any: FixDetector's `settings` (aggregates keep their configured section
    # in `self.settings`).
    detector_settings: ClassVar[type[Section] | None] = None
    section: ClassVar[str | None] = None  # as FixDetector's
    # Per-vessel fields it keeps on the Vessel (as a FixDetector's, saved in the vessel's row under its
    # name), if any.
    fields: ClassVar[tuple[Field, ...]] = ()
    # Those of its kinds an escalation rule may count (it feeds the posture's rules itself: its alerts are
    # about no vessel).
    counted_by_rules: ClassVar[tuple[str, ...]] = ()

    def __init__(self, engine: Engine) -> None:
        self.e = engine

    def configure(self, section: Any) -> None:
        """Take the configuration's `section` (its settings object), at start and on a reload."""

    def observe(self, alert: Alert, alerts: list[Alert]) -> None:
        """An alert was raised (it is already in `alerts`)."""

    def on_batch(self, fb: _FastBatch) -> None:
        """Every report of a batch at once (vectorized), before any of its alerts: what a count needs of
        the reports the fast path skips (the vessels heard per interference cell). Called once per batch,
        after `fb.flags()`; the default does nothing."""

    def next_due(self) -> float:
        """When it wants waking, on the feed clock (math.inf: not)."""
        return math.inf

    def wake(self, t: float, alerts: list[Alert]) -> None:
        """The engine's clock reached `t`, its `next_due`: it must move `next_due` on."""

    def global_state(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def read_global(g: dict[str, Any]) -> Any:
        return None

    def restore_global(self, checked: Any) -> None:
        """Take back what `read_global` checked."""


TRUST = 0  # a trusted fix: it moves the track
DISTRUST = 1  # reported, and no evidence for anything else: the track stays where it was
REANCHOR = 2  # trusted, but the track before it was wrong: the move to it is no path


class TrustDetector(FixDetector):
    """A detector that judges a fix before the geofence: whether it may move the trusted track."""

    def judge(self, v: Vessel, t: float, lon: float, lat: float, sog: float, cog: float, s: int,
              alerts: list[Alert]) -> int:
        """TRUST, DISTRUST (the per-fix step ends here) or REANCHOR (the judging of the fix ends here too);
        raise alerts into `alerts`."""
        raise NotImplementedError


def bits(mask: int) -> Iterable[int]:
    """The zone indices of a mask, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def lowest(mask: int) -> int:
    """The lowest zone index of a non-empty mask."""
    return (mask & -mask).bit_length() - 1


def position(lat: float, lon: float, sog: float, cog: float) -> dict[str, float | None]:
    """An alert's `position` object (AIS resolution, nulls for values not available)."""
    return {
        "lat": round(lat, 6),
        "lon": round(lon, 6),
        "sog": None if sog != sog else round(sog, 1),
        "cog": None if cog != cog else round(cog, 1),
    }


def angle_off(a: float, b: float) -> float:
    """The unsigned difference of two bearings, 0..180 degrees."""
    return abs((a - b + 180.0) % 360.0 - 180.0)


NEVER = -math.inf
