"""`identity_change`: a vessel's static identity changes: its name, call sign, IMO number or ship type, or
its flag (the same IMO number heard under another MMSI, whose MID gives another flag: flag hopping).

Static reports (types 5, 19, 24) carry the identity, so the rule is in `on_static`, with no pre-filter
and nothing per fix. Each vessel keeps the identity in force (`id_ref`): a field takes the first value
heard without an alert (a value not available, None, is no change), and a report repeating it raises
nothing. A report that differs is one alert per field (`details`: `field`, `from`, `to`) and becomes the
identity in force.

Episodes: a field that changed again within `detectors.identity_min_interval_s` (6 h) of its last change
continues that change's episode: a transponder alternating two names (two units on one hull, a unit
switching between configurations) raises one alert, not one per report, and so does a name edited in
steps. Six hours: far above any static rate (type 5 every 6 min, type 24 every 6 min), so a flapping unit
stays one episode even when one of its two identities is heard only now and then, and far below how often
a real ship changes name, call sign, IMO number or type (a sale, a re-flagging: months or years).

Flag: an engine-wide index from IMO number to the MMSI it was last heard under (`by_imo`; only numbers
with a valid check digit, so the junk IMO numbers many units send, 0, 1234567, 9999999, never link ships).
A static report naming an IMO number last heard under another MMSI whose MID gives another flag raises
`field` `flag`, `from` the old MMSI's flag, `to` the new one's, with `previous_mmsi` and `imo`, on the new
MMSI. The same MID (a new MMSI under the same flag) is no change of flag and raises nothing. The index is
not saved: it is rebuilt from the vessels' IMO numbers at a restart (the one heard last wins), and an MMSI
forgotten (`state.forget_after_s`, 30 days) leaves it.

While `identity_conflict` has an episode open on the vessel (two ships sharing its MMSI), a static report
cannot be placed by its position (it has none): a report whose identity differs from the one in force is
taken as the other ship's. It raises no `identity_change`, and the vessel keeps the identity in force (the
engine's fusion of the report is undone for name, call sign, IMO and type; the other ship's name is kept
in `id_other`), so alerts about the vessel do not alternate between the two names. Draught, destination
and dimensions are not kept apart (the data does not say whose they are).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field as Setting

from monitor import savedstate as S
from monitor.detectors.base import Field, FixDetector, position
from monitor.detectors.identity_conflict import sharing
from monitor.mid import flag_of
from monitor.settings_base import Seconds, Section
from monitor.watchlists import imo_valid

if TYPE_CHECKING:
    from monitor.alerts import Alert
    from monitor.decode import StaticReport
    from monitor.engine import Engine, Vessel

# The identity fields of a static report, as the vessel and `id_ref` hold them; then the flag.
IDENTITY = ("name", "callsign", "imo", "ship_type")
FLAG = len(IDENTITY)  # (its index in `id_last`)
_NO_REF: tuple[Any, ...] = (None, None, None, None)
_NEVER: tuple[float | None, ...] = (None,) * (len(IDENTITY) + 1)
_IMO = S.integer(0, 2**30, nullable=True)
_TYPE = S.integer(0, 255, nullable=True)


def _ref(x: Any, what: str) -> tuple[Any, ...]:
    name, callsign, imo, ship_type = S.items(x, what, len(IDENTITY))
    return (S.opt_text(name, what), S.opt_text(callsign, what), _IMO(imo, what), _TYPE(ship_type, what))


def _last(x: Any, what: str) -> tuple[float | None, ...]:
    return tuple(S.opt_time(t, what) for t in S.items(x, what, len(_NEVER)))


class IdentitySettings(Section):
    """[detectors] key of `identity_change`."""

    # A change of a field this soon after its last change continues that episode (one alert).
    identity_min_interval_s: Seconds = Setting(default=21600.0, ge=0)


class IdentityChange(FixDetector):
    name = "identity_change"
    settings = IdentitySettings
    severity = {"identity_change": ("info", "info", "warning", "warning")}
    fields = (
        Field("id_ref", _NO_REF, _ref),  # (name, call sign, IMO, ship type) in force; None: none heard
        Field("id_last", _NEVER, _last),  # the last change of each of them, and of the flag (None: never)
        Field("id_other", None, S.opt_text, urgent=False),  # the other ship's name, in an identity conflict
    )

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.by_imo: dict[int, int] = {}  # IMO number -> the MMSI it was last heard under

    def on_fix(self, v: Vessel, t: float, lon: float, lat: float, sog: float, cog: float, s: int,
               alerts: list[Alert]) -> None:
        """(Positions carry no identity: nothing to do; the default pre-filter sends it none.)"""

    def on_static(self, v: Vessel, report: StaticReport, t: float, alerts: list[Alert]) -> None:
        ref = v.id_ref
        heard = (report.name, report.callsign, report.imo, report.ship_type)
        if heard != ref:
            self._fields(v, ref, heard, t, alerts)
        imo = report.imo
        if imo is not None and self.by_imo.get(imo) != v.mmsi and imo_valid(imo):
            previous = self.by_imo.get(imo)
            self.by_imo[imo] = v.mmsi
            if previous is not None:
                was = flag_of(previous)
                if was != v.flag:
                    self._change(v, t, FLAG, "flag", was, v.flag, alerts, previous_mmsi=previous, imo=imo)

    def _fields(self, v: Vessel, ref: tuple[Any, ...], heard: tuple[Any, ...], t: float,
                alerts: list[Alert]) -> None:
        new = list(ref)
        changed: list[int] = []
        for i, (was, now) in enumerate(zip(ref, heard, strict=True)):
            if now is None or now == was:
                continue  # (not available, or a repeat)
            if was is not None:
                changed.append(i)
            new[i] = now
        if changed and sharing(v, t, self.det.identity_conflict_end_s):
            # Two ships share the MMSI (monitor.detectors.identity_conflict): a report that differs from
            # the identity in force is taken as the other ship's, and the engine's fusion of it undone.
            for i in changed:
                new[i] = ref[i]
                setattr(v, IDENTITY[i], ref[i])
            if heard[0] is not None and heard[0] != ref[0]:
                v.id_other = heard[0]
            if 2 in changed:  # (the IMO number: the watchlists by IMO follow the identity in force)
                v.watch = self.e.watchlists.match(v.mmsi, v.imo)
            v._info = None
            changed = []
        if new != list(ref):
            v.id_ref = tuple(new)
        for i in changed:
            self._change(v, t, i, IDENTITY[i], ref[i], heard[i], alerts)

    def _change(self, v: Vessel, t: float, i: int, field: str, was: Any, now: Any, alerts: list[Alert],
                **extra: Any) -> None:
        """Field i changed from `was` to `now` at t: an alert, unless it continues an episode."""
        last = v.id_last
        before = last[i]
        v.id_last = (*last[:i], t, *last[i + 1:])
        if before is not None and t - before <= self.det.identity_min_interval_s:
            return  # (its episode goes on: a flapping transponder, a name edited in steps)
        e = self.e
        e.get(v.mmsi)  # (its track, up to date: the fast path may have moved it on in the table ...)
        e.catch_up(v)  # (... or skipped this batch's fixes so far)
        zone = e.area_of(v.last_s) if v.has_fix else None
        pos = position(v.lat, v.lon, v.sog, v.cog) if v.has_fix else None
        details: dict[str, Any] = {"field": field, "from": was, "to": now, **extra}
        e.alert("identity_change", v, t, zone, pos, details, t, alerts, key=f"{v.mmsi}:{field}")

    # ---- the IMO index (engine-wide, derived from the vessels) ---------------------------------------
    def forget(self, gone: set[int], vessels: list[Vessel]) -> None:
        for v in vessels:
            for imo in (v.imo, v.id_ref[2]):
                if imo is not None and self.by_imo.get(imo) == v.mmsi:
                    del self.by_imo[imo]

    def restored(self, vessels: list[Vessel]) -> None:
        self.by_imo.clear()
        for v in sorted(vessels, key=lambda v: v.heard):  # (the one heard last wins)
            if v.imo is not None and imo_valid(v.imo):
                self.by_imo[v.imo] = v.mmsi
