"""Runtime zones on the real daemon (`chokepoint-monitor run` in a subprocess): POST /api/zones with the
token, hazard_enter for a vessel crossing the new hazard from the next fix on, the zone kept across a
restart, DELETE only for runtime zones."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import shapely

from monitor.runtimezones import FILE_NAME
from tests.helpers import box, position_lines
from tests.mqtt_helpers import Broker
from tests.test_service import Daemon

AUTH = {"Authorization": "Bearer letmein", "Content-Type": "application/json"}
HAZARD = (56.5, 26.05, 56.6, 26.15)
FEATURE = {"type": "Feature", "properties": {"id": "mines", "name": "Mined area", "kind": "hazard"},
           "geometry": {"type": "Polygon", "coordinates": box(*HAZARD)}}


def post(d: Daemon, feature: object, headers: dict[str, str] = AUTH) -> tuple[int, object]:
    return d.request("POST", "/api/zones", json.dumps(feature).encode(), headers)


def runtime_ids(d: Daemon) -> list[str]:
    code, body = d.get("/api/zones")
    assert code == 200
    return [f["properties"]["id"] for f in body["features"] if f["properties"].get("runtime")]


def restart(d: Daemon) -> None:
    d.signal(signal.SIGTERM)
    assert d.wait() == 0
    d.start()


def test_a_hazard_posted_at_run_time_alerts_and_is_kept_across_a_restart(
    tmp_path: Path, broker: Broker, prefix: str, daemons: list[Daemon]
) -> None:
    d = Daemon(tmp_path, broker.url, prefix=prefix)
    daemons.append(d)
    d.start()
    # Refused: no token, a kind of the zone file's, a malformed expires; nothing changes.
    assert post(d, FEATURE, {"Content-Type": "application/json"})[0] == 401
    code, body = post(d, {**FEATURE, "properties": {**FEATURE["properties"], "kind": "port"}})
    assert code == 400 and "kind must be hazard or corridor" in body["error"]  # type: ignore[index]
    code, body = post(d, {**FEATURE, "properties": {**FEATURE["properties"], "expires": "tomorrow"}})
    assert code == 400 and body["error"].startswith("feature 'mines': 'expires' must be")  # type: ignore[index]
    assert runtime_ids(d) == []
    code, body = post(d, FEATURE)
    assert code == 201 and body["properties"]["runtime"] is True  # type: ignore[index]
    assert runtime_ids(d) == ["mines"]
    assert (d.state / FILE_NAME).exists()
    # A vessel heading west through the hazard, a minute between fixes, timed to end about now.
    t0 = int(time.time()) - 3600
    fixes = [(56.705 - 0.01 * k, 26.1, t0 + 60 * k) for k in range(25)]
    lines = [ln for lon, lat, t in fixes for ln in position_lines(538000007, lon, lat, t)]
    inside = shapely.box(*HAZARD)
    first = next(t for lon, lat, t in fixes if inside.contains(shapely.Point(lon, lat)))
    d.send(lines)
    d.wait_processed(len(lines))
    deadline = time.monotonic() + 10
    while not (alerts := d.get("/api/alerts?kind=hazard_enter")[1]["alerts"]):
        assert time.monotonic() < deadline, d.log_text()
        time.sleep(0.05)
    assert [(a["mmsi"], a["zone"]["id"], a["severity"], a["time"]) for a in alerts] == [
        (538000007, "mines", "warning", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(first)))]

    restart(d)
    assert runtime_ids(d) == ["mines"]
    assert d.request("DELETE", "/api/zones/port-a", headers=AUTH)[0] == 409
    assert d.request("DELETE", "/api/zones/nope", headers=AUTH)[0] == 404
    assert d.request("DELETE", "/api/zones/mines")[0] == 401
    assert d.request("DELETE", "/api/zones/mines", headers=AUTH)[0] == 204
    assert runtime_ids(d) == []
    restart(d)
    assert runtime_ids(d) == []
    assert any(e["event"] == "runtime_zone_deleted" for e in d.events())
