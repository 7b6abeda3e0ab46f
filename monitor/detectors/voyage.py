"""Voyages of watched vessels: their transits of every strait the daemon watches, linked in order.

A tanker bound for Korea leaves the Gulf outbound through Hormuz and passes Malacca eastbound some ten
days later; Europe's traffic passes Bab el-Mandeb. With several chokepoints loaded (issue 15), a desk
follows a watched vessel from one to the next: `/api/vessels/{mmsi}` and the roster show its voyage, the
transits in order and the time between chokepoints.

Between chokepoints the vessel is at sea outside every region, where `dark` otherwise never watches it. A
watched vessel whose last transit is younger than `detectors.voyage_route_s` is on its route there, and
`dark` judges its silence against the route (`dark_route_s` of the level in force, longer than a region's:
AIS at sea comes from satellite passes, and gaps of hours are normal), with `details.route` saying from
which strait (monitor.detectors.dark).

Only watched vessels keep a voyage (a watchlist match: the desk's own list, by IMO or MMSI, or a flag);
the last `MAX_TRANSITS` transits are kept, saved with the vessel's row, each with the MMSI it was made
under: a ship that changes MMSI keeps its voyage by IMO number (the first transit under the new MMSI
takes the old one's voyage on).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field as Setting

from monitor import savedstate as S
from monitor.alerts import iso_time
from monitor.detectors.base import AggregateDetector, Field
from monitor.settings_base import Seconds, Section

if TYPE_CHECKING:
    from monitor.alerts import Alert
    from monitor.engine import Vessel

MAX_TRANSITS = 16

# One transit: (strait id, direction, entered, completed, the MMSI it was made under), times on the feed
# clock.
Transit = tuple[str, str, float, float, int]


def _transits(x: Any, what: str) -> tuple[Transit, ...]:
    out = []
    for item in S.items(x, what):
        strait, direction, entered, completed, mmsi = S.items(item, what, 5)
        if direction not in ("inbound", "outbound"):
            raise S.BadValue(f"{what}: direction {direction!r:.20}")
        out.append((S.text(strait, what), direction, S.time(entered, what), S.time(completed, what),
                    S.mmsi(mmsi, what)))
    return tuple(out[-MAX_TRANSITS:])


class VoyageSettings(Section):
    """[detectors] key of `voyage`."""

    # How long after its last transit a watched vessel at sea outside every region is still on its route
    # (and `dark` watches it there): about twice the sailing time between neighbouring chokepoints.
    voyage_route_s: Seconds = Setting(default=30 * 86_400.0, gt=0)


class Voyage(AggregateDetector):
    name = "voyage"
    detector_settings = VoyageSettings
    fields = (Field("voyage", (), _transits),)

    def observe(self, alert: Alert, alerts: list[Alert]) -> None:
        if alert.kind != "transit" or alert.mmsi is None or alert.zone is None:
            return
        v = self.e.vessels[alert.mmsi]
        if not v.watch:
            return
        entered = alert.time - float(alert.details["duration_s"])
        transit = (str(alert.zone["id"]), str(alert.details["direction"]), entered, float(alert.time), v.mmsi)
        earlier = v.voyage or self._under_another_mmsi(v)
        v.voyage = (*earlier[-(MAX_TRANSITS - 1):], transit)
        self.e.changed(v)

    def _under_another_mmsi(self, v: Vessel) -> tuple[Transit, ...]:
        """A ship that changed MMSI (flag hopping, a new transponder) keeps its voyage: by IMO number, the
        voyage of the vessel it was, the one with the latest transit. (A scan of every vessel, done only
        at a watched vessel's first transit under an MMSI.)"""
        if v.imo is None:
            return ()
        best: tuple[Transit, ...] = ()
        for other in self.e.vessels.values():
            if other.imo == v.imo and other is not v and other.voyage and (
                    not best or other.voyage[-1][3] > best[-1][3]):
                best = other.voyage
        return best

    def route(self, v: Vessel, t: float) -> Transit | None:
        """The transit a watched vessel at sea is on its route from, at `t`: its last one, if recent."""
        if not v.voyage or not v.watch:
            return None
        last = v.voyage[-1]
        return last if t - last[3] <= self.e.det.voyage_route_s else None

    def describe(self, v: Vessel) -> dict[str, Any] | None:
        """The voyage as the API shows it (null for a vessel with no transit kept): `transits` in order,
        `legs` between consecutive transits of different straits with the days between them, and
        `on_route` (the transit it is on its route from) while that holds."""
        if not v.voyage:
            return None
        transits = [{"strait": s, "direction": d, "entered": iso_time(t0), "completed": iso_time(t1),
                     "mmsi": mmsi} for s, d, t0, t1, mmsi in v.voyage]
        legs = [
            {"from": a[0], "from_direction": a[1], "to": b[0], "to_direction": b[1],
             "left": iso_time(a[3]), "arrived": iso_time(b[2]), "days": round((b[2] - a[3]) / 86_400.0, 2)}
            for a, b in zip(v.voyage, v.voyage[1:])
            if a[0] != b[0]
        ]
        route = self.route(v, max(v.heard, self.e.now))
        return {"transits": transits, "legs": legs,
                "on_route": None if route is None else transits[-1]}
