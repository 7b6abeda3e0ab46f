"""`identity_conflict`: one MMSI heard from two places no ship could link: two ships sharing an identity
(a cloned MMSI, a transponder moved to another hull, a misconfigured unit).

A trust detector, judging each fix before `position_jump`, that keeps a second track per vessel, the
shadow (`ic_shadow`: the other ship's last fix). Why: two ships under one MMSI make the reports alternate
between two places. `position_jump` alone reports the other ship's fixes as jumps and, whenever a few of
them come in a row (a burst of one, a gap in reception of the other), re-anchors the trusted track on it,
then back on the first ship when that one is heard again: the track moves back and forth, with zone
events at every move.

What opens an episode: runs of fixes away from the trusted track, each run interrupted by fixes on the
track, and each within reach of the last run (`_fits`: within `jump_min_distance_m` of it, or reached at
no more than `jump_speed_kn` and at a speed the fix's own SOG accounts for). The fix that starts the
`detectors.identity_conflict_runs`th (3) run raises the one `identity_conflict`: `position` the trusted
track's (where the ship the monitor follows is), `details` `distance_km` between the two, `other_position`
(this fix) and `other_time`. A single bad fix, glitches scattered around a ship (their implied speed is
not the one the ship reports) and a spoofed spell (consecutive fixes, no track fix between them: a run
that never alternates, re-anchored by position_jump) open nothing. What it cannot tell apart: spoofing
that flickers between a ship's true place and one false place at sea, fix after fix, looks like a second
ship (spoofed positions on land are `on_land`'s and never get here).

position_jump alerts: the other ship's first run has raised one (nothing could tell it from a jump then);
its next runs come within that jump's episode (`episode_gap_s`), unless it is heard less often than that,
when each run before the episode opens is a jump episode of its own. Once open, no more: every fix is
routed. On the trusted track it is trusted (it moves the track); off it and fitting the shadow, it moves the
shadow and nothing else (DISTRUST: no position_jump, no zone event, no evidence for loiter or encounter);
fitting neither, it goes on to position_jump (a real jump of one of them). So the trusted track keeps
following the ship it followed when the episode opened.

The episode ends once the other track has been silent for `detectors.identity_conflict_end_s` (1 h): the
next fix away from the track starts afresh (a new episode needs the runs again, and raises a new alert).
If instead the ship of the trusted track falls silent that long while the other goes on, the other is the
vessel from then on: its next fix re-anchors the track (no path between the two, as for a re-anchored
jump) and the episode ends. A suspected shadow (runs not yet enough) lapses after the same silence.

Static reports carry no position, so they cannot be routed: monitor.detectors.identity keeps the identity
in force while an episode is open, and notes the other ship's name.

Off the hot path: a fix changes this detector's state only if it is a jump (the pre-filter: position_jump's
mask) or ends a run of position_jump's candidates (then position_jump's episode is open: the vessel takes
the per-fix step anyway). A fix on the trusted track changes nothing, with or without an episode open, so
there is no `open`; a lapsed shadow is cleared only by the next jump. In the per-fix step, a vessel with
neither a shadow nor candidates costs one test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field as Setting

from monitor import savedstate as S
from monitor.alerts import iso_time
from monitor.detectors.base import DISTRUST, KNOT, REANCHOR, TRUST, Field, TrustDetector, position
from monitor.geo import haversine_m
from monitor.settings_base import Seconds, Section

if TYPE_CHECKING:
    from monitor.alerts import Alert
    from monitor.engine import Vessel, _FastBatch


def _shadow(x: Any, what: str) -> tuple[float, ...]:
    """[time, lon, lat] of the other track's last fix, or [] for none."""
    found = S.fixes([] if x == [] else [x], what)
    return found[0] if found else ()


# A ship's move between two fixes of its track is at most this share of its reported speed over ground,
# plus this many knots (turns only shorten it; GNSS noise and a speed change between fixes lengthen it).
SOG_FACTOR = 1.25
SOG_SLACK_KN = 3.0


def sharing(v: Vessel, t: float, end_s: float) -> bool:
    """Has the vessel an episode open at t (the other ship heard within `end_s`)? (An episode whose other
    track has gone silent is only closed by the next fix away from the track.)"""
    return v.ic_since is not None and bool(v.ic_shadow) and t - v.ic_shadow[0] <= end_s


class IdentityConflictSettings(Section):
    """[detectors] keys of `identity_conflict`."""

    # Runs of fixes away from the trusted track, alternating with it and each within reach of the last, that
    # make two ships: the first fix of this run opens the episode.
    identity_conflict_runs: int = Setting(default=3, ge=2)
    # The episode ends when one of the two tracks has been silent this long (the other ship has gone).
    identity_conflict_end_s: Seconds = Setting(default=3600.0, gt=0)


class IdentityConflict(TrustDetector):
    name = "identity_conflict"
    settings = IdentityConflictSettings
    severity = {"identity_conflict": ("warning", "warning", "critical", "critical")}
    fields = (
        Field("ic_shadow", (), _shadow),  # (time, lon, lat): the other track's last fix; (): none
        Field("ic_runs", 0, S.integer(0, 1_000_000)),  # its runs so far, alternating with the track
        Field("ic_since", None, S.opt_time),  # the episode's start (None: no episode open)
    )

    # (No `open`: a fix on the trusted track changes nothing here, with or without an episode open, and
    # every other one is a jump, which the pre-filter picks.)

    def prefilter(self, fb: _FastBatch) -> NDArray[np.bool_]:
        # A fix impossible from the track: position_jump's mask, with a margin for numpy's last bit.
        det = self.det
        d = fb.dist * (1.0 + 1e-9)
        dt = fb.t_a - fb.prev_t
        result: NDArray[np.bool_] = (d > det.jump_min_distance_m) & (
            (dt <= 0) | (d > dt * det.jump_speed_kn * KNOT))
        return result

    def _fits(self, shadow: tuple[float, ...], t: float, lon: float, lat: float, sog: float) -> bool:
        """Does the fix continue the other track? Within `jump_min_distance_m` of its last fix, or reached
        from there at no more than `jump_speed_kn` and (when the fix gives its speed) at a speed the fix's
        own speed over ground accounts for: GNSS glitches scattered around a ship are not a track."""
        det = self.det
        st, sx, sy = shadow
        d = haversine_m(sx, sy, lon, lat)
        if d <= det.jump_min_distance_m:
            return True
        if t <= st:
            return False
        knots = d / (t - st) / KNOT
        return knots <= det.jump_speed_kn and (sog != sog or knots <= SOG_FACTOR * sog + SOG_SLACK_KN)

    def judge(self, v: Vessel, t: float, lon: float, lat: float, sog: float, cog: float, s: int,
              alerts: list[Alert]) -> int:
        shadow = v.ic_shadow
        if (not shadow and not v.jump_cands) or not v.has_fix:
            # Nearly every fix: no other track, no run away from the track (a first jump is position_jump's
            # alone, and starts its run of candidates).
            return TRUST
        det = self.det
        d = haversine_m(v.lon, v.lat, lon, lat)
        dt = t - v.time
        if d <= det.jump_min_distance_m or (dt > 0 and d / dt <= det.jump_speed_kn * KNOT):
            if not shadow:  # position_jump's run ends on the track again: it may be another ship's first
                v.ic_shadow, v.ic_runs = v.jump_cands[-1], 1
            return TRUST
        if shadow and t - shadow[0] > det.identity_conflict_end_s:
            # The other track has been silent too long: the episode, or the suspicion, is over.
            v.ic_shadow, v.ic_runs, v.ic_since = (), 0, None
            shadow = ()
        if not shadow or not self._fits(shadow, t, lon, lat, sog):
            if v.ic_since is None:  # (a fix off both tracks in an episode is a jump of one of them)
                v.ic_shadow, v.ic_runs = (t, lon, lat), 1  # it may start another track
            return TRUST  # (position_jump judges it)
        if v.ic_since is not None:
            if t - v.time > det.identity_conflict_end_s:
                # The ship the track followed has gone silent; the other goes on: it is the vessel now.
                v.ic_shadow, v.ic_runs, v.ic_since = (), 0, None
                v.jump_cands = ()  # (the track moves: position_jump's run is void)
                return REANCHOR
            v.ic_shadow = (t, lon, lat)
            return DISTRUST
        # A new run when the track was heard since the other track's last fix.
        runs = v.ic_runs + (v.time > shadow[0])
        v.ic_shadow, v.ic_runs = (t, lon, lat), runs
        if runs < det.identity_conflict_runs:
            return TRUST  # (not yet: position_jump judges it, re-anchoring on a run that lasts)
        v.ic_since = t
        v.jump_cands = ()  # (its run is the other ship's, not a re-anchor in the making)
        details = {
            "distance_km": round(d / 1000.0, 3),
            "other_position": position(lat, lon, sog, cog),
            "other_time": iso_time(t),
        }
        self.e.alert("identity_conflict", v, t, self.e.area_of(v.last_s),
                     position(v.lat, v.lon, v.sog, v.cog), details, t, alerts)
        return DISTRUST
