"""`draught_change`: a vessel's reported draught moves by `traffic.draught_step_m` (1 m) or more outside a
port call: cargo loaded or discharged at sea.

The draught comes only in static reports (type 5), so this detector has no per-fix logic and no
pre-filter: it takes every static report (`on_static`). Each vessel keeps a reference draught: the first
one heard, then the one in force after each change it reported, or reported during a port call. A
report outside a call that differs from the reference by at least the step is one alert (`from` the
reference, `to` the new draught) and becomes the reference; smaller differences leave the reference as
it is, so a draught edited down in small steps still adds up. Inside a port call
(monitor.detectors.port_call: from arrival until leaving is certain), and for
`detectors.draught_after_call_s` (1 h) after a port call's departure (crews often enter the new draught
as they sail), a change only moves the reference.

`during_dark`: the vessel went `dark` and reappeared between the last report of the old draught and this
one (monitor.detectors.dark keeps when it last reappeared): the ship-to-ship pattern of sanctions
evasion; such an alert is at least `warning`. `last_port`: the zone id of its last port call, or null.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field as Setting

from monitor import savedstate as S
from monitor.alerts import severity_max
from monitor.detectors.base import NEVER, Field, FixDetector, position
from monitor.settings_base import Seconds, Section

if TYPE_CHECKING:
    from monitor.alerts import Alert
    from monitor.config import TrafficSettings
    from monitor.decode import StaticReport
    from monitor.engine import Engine, Vessel


class DraughtChangeSettings(Section):
    """[detectors] keys of `draught_change`."""

    # A change reported this long after a port call's departure belongs to that call.
    draught_after_call_s: Seconds = Setting(default=3600.0, ge=0)


class DraughtChange(FixDetector):
    name = "draught_change"
    section = "traffic"  # (draught_step_m)
    settings = DraughtChangeSettings
    severity = {"draught_change": ("info", "info", "warning", "warning")}
    fields = (
        Field("dc_ref", None, S.opt_draught),  # the reference draught (None: none heard yet)
        Field("dc_seen", NEVER, S.time_or_never, urgent=False),  # its last static report with a draught
    )

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.step_m = 1.0

    def configure(self, traffic: TrafficSettings) -> None:
        """Take the [traffic] key it reads."""
        self.step_m = traffic.draught_step_m

    def on_fix(self, v: Vessel, t: float, lon: float, lat: float, sog: float, cog: float, s: int,
               alerts: list[Alert]) -> None:
        """(Positions carry no draught: nothing to do; the default pre-filter sends it none.)"""

    def on_static(self, v: Vessel, report: StaticReport, t: float, alerts: list[Alert]) -> None:
        draught = report.draught
        if draught is None:  # (type 24, or "not available")
            return
        ref, seen = v.dc_ref, v.dc_seen
        v.dc_seen = max(seen, t)
        if ref is None or v.pc_zone is not None or t - v.pc_left <= self.det.draught_after_call_s:
            v.dc_ref = draught
            return
        if abs(draught - ref) < self.step_m - 1e-9:  # (draughts are tenths of a metre: no float dust)
            return
        v.dc_ref = draught
        e = self.e
        e.get(v.mmsi)  # (its track, up to date: the fast path may have moved it on in the table ...)
        e.catch_up(v)  # (... or skipped this batch's fixes so far)
        during_dark = v.dark_back > seen
        details: dict[str, Any] = {
            "from": ref, "to": draught, "during_dark": during_dark, "last_port": v.pc_port,
        }
        zone = e.area_of(v.last_s) if v.has_fix else None
        pos = position(v.lat, v.lon, v.sog, v.cog) if v.has_fix else None
        at = len(alerts)
        e.alert("draught_change", v, t, zone, pos, details, t, alerts)
        if during_dark:  # (the ship-to-ship pattern: never just `info`)
            alerts[at].severity = severity_max(alerts[at].severity, "warning")
