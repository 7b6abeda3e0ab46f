"""The operator's map page (issue 11) in Debian's Chromium, against a real daemon fed the recorded sample.

Each test opens the page in a fresh browser context (so no token is remembered from another test) and
checks what an operator sees; the expected values come from the daemon's API at the time, never from
constants. Every test also checks that the page asked no host but 127.0.0.1 and logged no console error.
"""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import shape

from tests.browser import (
    TOKEN,
    PageDaemon,
    Recorder,
    open_page,
    sample_lines,
    wait_until,
)
from tests.helpers import position_lines, track
from tests.mqtt_helpers import Broker

REPO = Path(__file__).resolve().parents[1]
ZONES = REPO / "zones" / "hormuz.geojson"

pytestmark = pytest.mark.slow
AUTH_JSON = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
ROW_MMSIS = "rows => rows.map(r => r.dataset.mmsi)"
ROW_IDS = "rows => rows.map(r => r.dataset.id)"
ZONE_ID = "layer => layer.feature.properties.id"


# ---- fixtures ---------------------------------------------------------------------------------------



@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, mosquitto: Broker) -> Iterator[PageDaemon]:
    """One daemon for the module, with the packaged Hormuz zones, fed the whole recorded sample."""
    d = PageDaemon(tmp_path_factory.mktemp("page"), mosquitto.url, prefix=f"page{uuid.uuid4().hex[:8]}")
    try:
        d.start()
        lines = sample_lines()
        d.send(lines)
        d.wait_processed(len(lines), timeout=120)
        yield d
    finally:
        d.stop()


@pytest.fixture
def page(browser: Any, daemon: PageDaemon) -> Iterator[tuple[Any, Recorder]]:
    """The page, loaded; after the test, no foreign request and no console or page error."""
    context, pg, rec = open_page(browser, daemon.url)
    try:
        yield pg, rec
        assert rec.foreign() == [], f"requests left the host: {rec.foreign()[:10]}"
        assert rec.console_errors == [], rec.console_errors
        assert rec.page_errors == [], rec.page_errors
    finally:
        context.close()


# ---- helpers ----------------------------------------------------------------------------------------

def zone_point(zone_id: str) -> tuple[float, float]:
    """(lon, lat) of a point inside a zone of the packaged file."""
    for f in json.loads(ZONES.read_text())["features"]:
        if f["properties"]["id"] == zone_id:
            p = shape(f["geometry"]).representative_point()
            return p.x, p.y
    raise AssertionError(f"no zone {zone_id} in {ZONES}")


def feed_now(d: PageDaemon) -> int:
    """The newest fix time among the daemon's vessels (unix s): new lines are timed just after it."""
    times = [datetime.fromisoformat(v["time"]).timestamp() for v in d.all_vessels() if v["time"]]
    return int(max(times))


def new_mmsi() -> int:
    return 538_000_000 + uuid.uuid4().int % 999_999


def alerts_of(d: PageDaemon, mmsi: int) -> list[dict[str, Any]]:
    code, body = d.get("/api/alerts")
    assert code == 200, body
    return [a for a in body["alerts"] if a["mmsi"] == mmsi]


def answer_token_if_asked(pg: Any) -> None:
    """The page asks for the token the first time an action needs it (a fresh context has none)."""
    token_input = pg.locator("dialog[open] input[name=token]")
    try:
        token_input.wait_for(timeout=3000)
    except Exception:  # noqa: BLE001 - playwright's TimeoutError: the page did not ask (it had a token)
        return
    token_input.fill(TOKEN)
    pg.locator("dialog[open]:has(input[name=token]) button[type=submit]").click()


def submit_dialog(pg: Any, fields: dict[str, str]) -> None:
    dialog = pg.locator("dialog[open]").last
    for name, value in fields.items():
        el = dialog.locator(f"[name={name}]")
        if el.evaluate("e => e.tagName") == "SELECT":
            el.select_option(value)
        else:
            el.fill(value)
    dialog.locator("button[type=submit]").click()


def canvas_rgba(pg: Any, pane: str, x: float, y: float) -> list[int]:
    """The pixel a pane's canvas holds at a map container point (RGBA; alpha 0 where it drew nothing)."""
    return pg.evaluate("""([pane, x, y]) => {
        const map = window.chokepoint.view.map;
        const canvas = map.getPane(pane).querySelector("canvas");
        const box = canvas.getBoundingClientRect(), mapBox = map.getContainer().getBoundingClientRect();
        const sx = canvas.width / box.width, sy = canvas.height / box.height;
        const px = Math.round((mapBox.left + x - box.left) * sx);
        const py = Math.round((mapBox.top + y - box.top) * sy);
        let best = [0, 0, 0, 0];
        const data = canvas.getContext("2d").getImageData(px - 2, py - 2, 5, 5).data;
        for (let i = 0; i < data.length; i += 4) {
            if (data[i + 3] > best[3]) best = Array.from(data.slice(i, i + 4));
        }
        return best;
    }""", [pane, x, y])


# ---- tests ------------------------------------------------------------------------------------------

def test_page_lists_and_draws_the_daemons_vessels_zones_and_alerts(page: tuple[Any, Recorder],
                                                                    daemon: PageDaemon) -> None:
    """The vessel list holds every vessel the API pages through, each vessel with a position is drawn on
    the map (a click on its pixel opens its details), every zone of /api/zones is drawn, the legend names
    each kind, and the alert list holds the API's alerts."""
    pg, _ = page
    vessels = daemon.all_vessels()
    assert len(vessels) >= 30  # the sample's 38, plus any a previous test added
    pg.locator("#tab-vessels").click()
    foot = pg.locator("#panel-vessels .panel-foot")
    wait_until(lambda: foot.inner_text() == "{0} of {0} vessels".format(len(daemon.all_vessels())), 10,
               "the vessel count")
    listed = {int(x) for x in pg.locator("#panel-vessels .vrow").evaluate_all(ROW_MMSIS)}
    assert listed <= {v["mmsi"] for v in vessels} and len(listed) >= min(len(vessels), 15)  # virtual list
    # Search by name narrows the list to that vessel.
    named = next(v for v in vessels if v["name"])
    pg.locator("#panel-vessels input[type=search]").fill(named["name"])
    assert str(named["mmsi"]) in pg.locator("#panel-vessels .vrow").evaluate_all(ROW_MMSIS)
    drawn = pg.evaluate("[...window.chokepoint.view.markers.keys()]")
    assert set(drawn) == {v["mmsi"] for v in vessels if v["position"]}
    # States from the API's fields: dark as the daemon says; a fix in a port (not on land) is in port.
    kinds = {f["properties"]["id"]: f["properties"]["kind"] for f in daemon.get("/api/zones")[1]["features"]}
    states = dict(pg.evaluate("[...window.chokepoint.model.vessels.values()].map(v => [v.mmsi, v.state])"))
    for v in daemon.all_vessels():
        in_kinds = {kinds.get(z) for z in v["zones"]}
        if v["dark"]:
            assert states[v["mmsi"]] == "dark", v
        elif "port" in in_kinds and "land" not in in_kinds:
            assert states[v["mmsi"]] in ("in_port", "spoofed"), v
    # A vessel alone on screen: its pixel is painted, and a real click there opens its details.
    pick = pg.evaluate("""() => {
        const view = window.chokepoint.view, map = view.map, size = map.getSize();
        const pts = [...view.markers.values()].map(m => [m.mmsi, map.latLngToContainerPoint(m.getLatLng())]);
        for (const [mmsi, p] of pts) {
            // Clear of the cards drawn over the map (tools top left, legend bottom left).
            const covered = [...document.querySelectorAll("#map-wrap .map-card:not([hidden])")].some(c => {
                const r = c.getBoundingClientRect(), m = map.getContainer().getBoundingClientRect();
                return p.x >= r.left - m.left - 12 && p.x <= r.right - m.left + 12
                    && p.y >= r.top - m.top - 12 && p.y <= r.bottom - m.top + 12;
            });
            if (covered || p.x < 60 || p.x > size.x - 20 || p.y < 20 || p.y > size.y - 40) continue;
            if (pts.every(([o, q]) => o === mmsi || p.distanceTo(q) > 20)) return [mmsi, p.x, p.y];
        }
        return null;
    }""")
    assert pick is not None, "no vessel stands alone in view"
    mmsi, x, y = pick
    assert canvas_rgba(pg, "vessels", x, y)[3] > 200
    box = pg.locator("#map").bounding_box()
    pg.mouse.click(box["x"] + x, box["y"] + y)
    pg.wait_for_selector(f"#details[data-mmsi='{mmsi}']", timeout=5000)
    # Its recent track as the daemon keeps it (a fix a minute) is drawn, every point of it.
    kept = daemon.get(f"/api/vessels/{mmsi}/track")[1]["track"]
    assert len(kept) > 1
    drawn = "window.chokepoint.view.track ? window.chokepoint.view.track.getLatLngs() : []"

    def all_drawn() -> bool:
        # (Within a thousandth of a minute of arc: the daemon keeps track points as float32, a metre, and
        # the page may draw the same fix from its own poll at full precision.)
        points = pg.evaluate(drawn)
        return all(any(abs(p["lat"] - q["lat"]) < 2e-5 and abs(p["lon"] - q["lng"]) < 2e-5 for q in points)
                   for p in kept)

    wait_until(all_drawn, 5, "the track drawn")
    zones = daemon.get("/api/zones")[1]["features"]
    drawn_zones = pg.evaluate(f"window.chokepoint.view.zoneLayer.getLayers().map({ZONE_ID})")
    assert sorted(drawn_zones) == sorted(f["properties"]["id"] for f in zones)
    legend = pg.locator("#legend").inner_text()
    for label in ("Land", "Territorial sea", "TSS lane", "Separation zone", "Transit gate", "Port",
                  "Anchorage", "Hazard", "Corridor", "Underway", "At anchor", "In port", "Dark", "Spoofed",
                  "Watchlisted"):
        assert label in legend
    ids = {a["id"] for a in daemon.get("/api/alerts")[1]["alerts"]}
    wait_until(lambda: set(pg.evaluate("[...window.chokepoint.model.alerts.keys()]")) >= ids, 10,
               "every alert")


def test_posture_change_appears_live(page: tuple[Any, Recorder], daemon: PageDaemon) -> None:
    """A posture set through the API (by a script, another operator or a rule) shows in the top bar with
    its reason, without a reload."""
    pg, rec = page
    current = daemon.get("/api/posture")[1]["level"]
    level = "HIGH" if current != "HIGH" else "ELEVATED"
    reason = f"test {uuid.uuid4().hex[:8]}"
    code, body = daemon.request("PUT", "/api/posture",
                                json.dumps({"level": level, "reason": reason}).encode(), AUTH_JSON)
    assert code == 200, body
    wait_until(lambda: pg.locator("#posture-level").inner_text() == level
               and reason in pg.locator("#posture-reason").inner_text(), 15, "the new posture on the page")
    assert sum(u == daemon.url for u in rec.requests) == 1  # live: the page was not reloaded


def test_changing_the_posture_asks_for_the_token_once(page: tuple[Any, Recorder], daemon: PageDaemon) -> None:
    """The page's Change button asks for the token the first time, then keeps it for the tab."""
    pg, _ = page
    for level in ("ELEVATED", "NORMAL"):
        reason = f"page {uuid.uuid4().hex[:8]}"
        pg.locator("#posture-change").click()
        submit_dialog(pg, {"level": level, "reason": reason})
        if level == "ELEVATED":
            answer_token_if_asked(pg)
        else:
            assert pg.locator("dialog[open] input[name=token]").count() == 0
        wait_until(lambda lv=level, r=reason: (p := daemon.get("/api/posture")[1])["level"] == lv
                   and p["reason"] == r, 10, f"posture {level}")
        wait_until(lambda lv=level: pg.locator("#posture-level").inner_text() == lv, 10, "the top bar")
    assert pg.evaluate("sessionStorage.length") == 1


def send_first_sighting(daemon: PageDaemon, mmsi: int) -> int:
    """A new vessel in the inbound TSS lane: its first fix raises zone_enter (first_seen); the fix time."""
    lon, lat = zone_point("hormuz-tss-inbound")
    t = feed_now(daemon) + 30
    daemon.send(position_lines(mmsi, lon, lat, t, sog=12.0, cog=287.0))
    return t


def test_new_alert_appears_live(page: tuple[Any, Recorder], daemon: PageDaemon) -> None:
    """Alerts raised after the page loaded appear in the list over the live stream, newest first, and the
    new vessel appears on the map at the next poll."""
    pg, _ = page
    mmsi = new_mmsi()
    send_first_sighting(daemon, mmsi)
    wait_until(lambda: alerts_of(daemon, mmsi), 15, "the daemon's alert")
    want = {a["id"] for a in alerts_of(daemon, mmsi)}
    pg.wait_for_selector(f"#panel-alerts .alert[data-mmsi='{mmsi}']", timeout=10_000)
    shown = pg.locator(f"#panel-alerts .alert[data-mmsi='{mmsi}']").evaluate_all(ROW_IDS)
    assert set(shown) == want
    # Newest first: no alert above it is older.
    times = pg.evaluate("""() => [...document.querySelectorAll('#panel-alerts .alert')].slice(0, 5)
        .map(r => Date.parse(window.chokepoint.model.alerts.get(r.dataset.id).time))""")
    assert times == sorted(times, reverse=True)
    wait_until(lambda: pg.evaluate(f"window.chokepoint.view.markers.has({mmsi})"), 10,
               "the new vessel's marker")


def test_acknowledge_round_trip(page: tuple[Any, Recorder], daemon: PageDaemon) -> None:
    """Ack on an alert posts {by, note} with the token; the alert is marked acked on the page and in
    /api/alerts, with who acknowledged it."""
    pg, _ = page
    row = pg.locator("#panel-alerts .alert").filter(has=pg.locator("button[data-action=ack]:enabled")).first
    alert_id = row.get_attribute("data-id")
    who = f"officer-{uuid.uuid4().hex[:6]}"
    row.locator("button[data-action=ack]").click()
    submit_dialog(pg, {"by": who, "note": "seen on the watch"})
    answer_token_if_asked(pg)
    pg.wait_for_selector(f"#panel-alerts .alert[data-id='{alert_id}'] .mark.acked", timeout=10_000)
    listed = {a["id"]: a for a in daemon.get("/api/alerts")[1]["alerts"]}
    assert listed[alert_id]["ack"]["by"] == who and listed[alert_id]["ack"]["note"] == "seen on the watch"


def test_snooze_round_trip(page: tuple[Any, Recorder], daemon: PageDaemon) -> None:
    """Snooze on a vessel's alert posts a snooze (listed by GET /api/snoozes); that vessel's later alerts
    arrive marked snoozed, and the page shows the mark."""
    pg, _ = page
    mmsi = new_mmsi()
    t = send_first_sighting(daemon, mmsi)
    rows = pg.locator(f"#panel-alerts .alert[data-mmsi='{mmsi}']")
    rows.first.wait_for(timeout=15_000)
    # Every alert of the first fix (lane, strait, ...) on the page before the snooze: they were raised
    # before it and are not snoozed; only the later ones must be.
    first_ids = {a["id"] for a in alerts_of(daemon, mmsi)}
    wait_until(lambda: set(rows.evaluate_all(ROW_IDS)) == first_ids, 10, "the first fix's alerts")
    row = rows.first
    reason = f"known survey vessel {uuid.uuid4().hex[:6]}"
    row.locator("button[data-action=snooze]").click()
    submit_dialog(pg, {"kind": "*", "hours": "4", "reason": reason})
    answer_token_if_asked(pg)
    pg.wait_for_selector(f"#panel-alerts .alert[data-mmsi='{mmsi}'] .mark.snoozed", timeout=10_000)
    code, body = daemon.get("/api/snoozes")
    assert code == 200, body
    snoozes = body["snoozes"] if isinstance(body, dict) else body
    assert any(s["mmsi"] == mmsi and s["kind"] == "*" and s["reason"] == reason for s in snoozes)
    # The vessel sails out of the lane into the separation zone: zone_exit and zone_enter, both snoozed.
    lines = track(mmsi, [zone_point("hormuz-tss-inbound"), zone_point("hormuz-tss-separation")], t + 30,
                  interval_s=30, speed_kn=12)
    daemon.send(lines)
    wait_until(lambda: {a["id"] for a in alerts_of(daemon, mmsi)} - first_ids, 20, "a later alert")
    later = [a for a in alerts_of(daemon, mmsi) if a["id"] not in first_ids]
    assert later and all(a["snoozed"] is True for a in later)
    for a in later:
        pg.wait_for_selector(f"#panel-alerts .alert[data-id='{a['id']}'] .mark.snoozed", timeout=10_000)


def post_hazard(daemon: PageDaemon, zone_id: str, lon: float, lat: float,
                expires: str | None) -> tuple[int, Any]:
    d = 0.03
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d],
            [lon - d, lat - d]]
    props: dict[str, Any] = {"id": zone_id, "name": f"Test hazard {zone_id}", "kind": "hazard"}
    if expires:
        props["expires"] = expires
    feature = {"type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": [ring]}}
    return daemon.request("POST", "/api/zones", json.dumps(feature).encode(),
                          AUTH_JSON)


def test_hazard_posted_through_the_api_appears_on_the_map(page: tuple[Any, Recorder],
                                                          daemon: PageDaemon) -> None:
    """A hazard zone added with POST /api/zones (a script, or another operator's page) is drawn in the
    hazard style without a reload; deleted with DELETE it goes away."""
    pg, _ = page
    zone_id = f"hazard-test-{uuid.uuid4().hex[:6]}"
    lon, lat = zone_point("strait-of-hormuz")
    expires = (datetime.fromtimestamp(feed_now(daemon), UTC) + timedelta(hours=2)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    code, body = post_hazard(daemon, zone_id, lon, lat, expires)
    assert code in (200, 201), body
    has = f"window.chokepoint.view.zoneLayer.getLayers().some(l => l.feature.properties.id === '{zone_id}')"
    wait_until(lambda: pg.evaluate(has), 20, "the hazard on the map")
    pg.evaluate(f"window.chokepoint.view.map.setView([{lat}, {lon}], 11, {{animate: false}})")
    pg.wait_for_timeout(300)
    x, y = pg.evaluate("ll => (p => [p.x, p.y])(chokepoint.view.map.latLngToContainerPoint(ll))", [lat, lon])
    r, g, b, a = canvas_rgba(pg, "zones", x, y)
    assert a > 0 and r > g + 80 and r > b + 80, (r, g, b, a)  # the hazard's red
    code, body = daemon.request("DELETE", f"/api/zones/{zone_id}", None, {"Authorization": f"Bearer {TOKEN}"})
    assert code in (200, 204), body
    wait_until(lambda: not pg.evaluate(has), 20, "the hazard gone from the map")


def test_drawing_and_deleting_a_hazard_on_the_page(page: tuple[Any, Recorder], daemon: PageDaemon) -> None:
    """Draw hazard: the corners clicked on the map become a hazard Feature posted with the token (it is
    then listed by /api/zones around the clicked area); its popup's Delete removes it."""
    pg, _ = page
    lon, lat = zone_point("strait-of-hormuz")
    pg.evaluate(f"window.chokepoint.view.map.setView([{lat}, {lon}], 10, {{animate: false}})")
    box = pg.locator("#map").bounding_box()
    cx, cy = box["x"] + box["width"] / 2 - 120, box["y"] + box["height"] / 2
    pg.locator("#draw-hazard").click()
    for dx, dy in ((-40, -40), (40, -40), (40, 40), (-40, 40)):
        pg.mouse.click(cx + dx, cy + dy)
    pg.locator("#draw-finish").click()
    name = f"Debris {uuid.uuid4().hex[:6]}"
    dialog = pg.locator("dialog[open]").last
    zone_id = dialog.locator("[name=id]").input_value()
    submit_dialog(pg, {"name": name, "expires": "6"})
    answer_token_if_asked(pg)
    centre = pg.evaluate("p => (ll => [ll.lng, ll.lat])(chokepoint.view.map.containerPointToLatLng(p))",
                         [cx - box["x"], cy - box["y"]])

    def posted() -> dict[str, Any] | None:
        features = daemon.get("/api/zones")[1]["features"]
        return next((f for f in features if f["properties"]["id"] == zone_id), None)

    wait_until(lambda: posted() is not None, 10, "the drawn hazard in /api/zones")
    feature = posted()
    assert feature is not None
    assert feature["properties"]["kind"] == "hazard" and feature["properties"]["name"] == name
    assert feature["properties"].get("expires")
    poly = shape(feature["geometry"])
    assert poly.contains(shape({"type": "Point", "coordinates": centre}))
    # Delete from the map: click inside it, then the popup's button, then confirm.
    has = f"window.chokepoint.view.zoneLayer.getLayers().some(l => l.feature.properties.id === '{zone_id}')"
    wait_until(lambda: pg.evaluate(has), 10, "the drawn hazard on the map")
    pg.mouse.click(cx + 5, cy + 5)
    pg.locator("button[data-action=delete-zone]").click()
    submit_dialog(pg, {})
    answer_token_if_asked(pg)
    wait_until(lambda: posted() is None, 10, "the hazard deleted")
    wait_until(lambda: not pg.evaluate(has), 15, "the hazard gone from the map")


def test_panels_of_endpoints_yet_to_come_say_so_or_show_data(page: tuple[Any, Recorder],
                                                            daemon: PageDaemon) -> None:
    """Roster, interference and traffic: "not available yet" where the daemon answers 404, their data
    (a table or an empty-state line, no error) where it answers."""
    pg, _ = page
    for panel, path in (("roster", "/api/roster"), ("interference", "/api/interference"),
                        ("traffic", "/api/traffic")):
        pg.locator(f"#tab-{panel}").click()
        code, _ = daemon.get(path)
        body = pg.locator(f"#panel-{panel} .panel-body")
        if code == 404:
            wait_until(lambda b=body: "not available yet" in b.inner_text(), 10, f"{panel}: not available")
        else:
            assert code == 200
            wait_until(lambda b=body: b.locator("table, .empty").count() > 0
                       and "not available" not in b.inner_text() and "error" not in b.inner_text(), 10, panel)


def test_roster_panel_shows_the_rosters_rows(page: tuple[Any, Recorder], daemon: PageDaemon) -> None:
    """The roster panel (GET /api/roster) shows one row per roster row of the API, the sample's Korean ships
    (the default roster), each with its name, state, zone and nearest safe haven; a click on a row selects
    its vessel (truth: the API's own rows)."""
    pg, _ = page
    code, rows = daemon.get("/api/roster")
    assert code == 200 and len(rows) >= 3  # the sample's three Korean-flagged transits at least
    pg.locator("#tab-roster").click()
    shown = pg.locator("#panel-roster table.grid tbody tr")
    wait_until(lambda: shown.count() == len(daemon.get("/api/roster")[1]), 10, "the roster's rows")
    rows = daemon.get("/api/roster")[1]
    for k, row in enumerate(rows):
        text = shown.nth(k).inner_text()
        assert (row["name"] or "(no name)") in text and row["state"].replace("_", " ") in text
        if row["zone"] is not None:
            assert row["zone"]["name"] in text
        if row["nearest_safe_haven"] is not None:
            assert row["nearest_safe_haven"]["name"] in text
    shown.nth(0).click()
    wait_until(lambda: pg.evaluate("window.chokepoint.model.selected") == rows[0]["mmsi"], 5,
               "the vessel selected")


def test_page_routes_serve_files_of_the_page_only(daemon: PageDaemon) -> None:
    """GET / is the page with a same-origin-only Content-Security-Policy; /page/ serves the page's files
    and nothing outside its directory, nor its dotfiles."""
    conn = http.client.HTTPConnection("127.0.0.1", daemon.http_port, timeout=5)
    try:
        conn.request("GET", "/")
        r = conn.getresponse()
        body = r.read().decode()
        assert r.status == 200 and "text/html" in r.headers["Content-Type"] and "/page/main.js" in body
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
        for path, status in (("/page/main.js", 200), ("/page/vendor/leaflet/leaflet.js", 200),
                             ("/page/vendor/leaflet/LICENSE", 200), ("/page/../http.py", 404),
                             ("/page/%2e%2e/http.py", 404), ("/page/.hidden", 404), ("/page/nope.js", 404)):
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            assert r.status == status, path
    finally:
        conn.close()


def test_every_file_of_the_page_ships_in_the_wheel() -> None:
    """pyproject's package-data for `monitor` matches every file under monitor/page/ (a new panel
    directory or vendored library must be added there, or the installed daemon serves a broken page)."""
    import tomllib

    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = setuptools["package-data"]["monitor"]
    package = REPO / "monitor"
    shipped = {p for pattern in patterns for p in package.glob(pattern) if p.is_file()}
    files = {p for p in (package / "page").rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert files - shipped == set()


def test_traffic_panel_draws_transits_by_class_as_bars(page: tuple[Any, Recorder],
                                                      daemon: PageDaemon) -> None:
    """The traffic panel's chart: a strait's periods as bars stacked by class, one bar segment per class
    with transits, their heights in proportion to /api/traffic's counts (truth: the API's own numbers)."""
    pg, _ = page
    code, body = daemon.get("/api/traffic")
    assert code == 200
    rows = body["straits"]["strait-of-hormuz"]
    pg.locator("#tab-traffic").click()
    chart = pg.locator('#panel-traffic [data-chart="strait-of-hormuz"]')
    wait_until(lambda: chart.locator("rect[data-class]").count() > 0, 10, "the traffic chart")
    shown = rows[-14:]
    want = sum(1 for r in shown for n in r["by_class"].values() if n)
    assert chart.locator("rect[data-class]").count() == want
    heights: dict[str, float] = {}
    for i in range(want):
        rect = chart.locator("rect[data-class]").nth(i)
        cls = rect.get_attribute("data-class")
        assert cls is not None
        heights[cls] = heights.get(cls, 0.0) + float(rect.get_attribute("height") or 0)
    counts = {c: sum(r["by_class"][c] for r in shown) for c in heights}
    per_transit = [heights[c] / counts[c] for c in heights]
    assert max(per_transit) - min(per_transit) < 0.2  # every class drawn to the same scale (0.1 px steps)
