"""The map page with several chokepoints (issue 15): a daemon watching two zone files opens on the first
strait, offers each in a chooser, and shows the one chosen (or the one named in the address, so a desk can
bookmark each). Real daemon, real Chromium (tests/browser.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import PageDaemon, open_page, wait_until
from tests.helpers import T0, synthetic_zones, write_zones
from tests.mqtt_helpers import Broker
from tests.test_voyage import LAT, leg
from tests.test_zone_files_many import DX, DY, moved

# The straits' boxes (lon_min, lat_min, lon_max, lat_max), from tests/helpers.synthetic_zones.
FIRST = (56.0, 25.5, 57.0, 26.5)
SECOND = (FIRST[0] + DX, FIRST[1] + DY, FIRST[2] + DX, FIRST[3] + DY)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, mosquitto: Broker) -> Iterator[PageDaemon]:
    tmp = tmp_path_factory.mktemp("chokepoints")
    first = synthetic_zones()
    first["features"][1]["properties"]["name"] = "First strait"
    a = write_zones(tmp / "a.geojson", first)
    second = moved(synthetic_zones())
    second["features"][1]["properties"]["name"] = "Second strait"
    b = write_zones(tmp / "b.geojson", second)
    # (No clock guard: the voyage test's ship reports every 3 h at sea, each line hours ahead of the last.)
    d = PageDaemon(tmp, mosquitto.url, prefix=f"cp{uuid.uuid4().hex[:8]}",
                   extra=f'[zones]\nfile = "{a}"\nfiles = ["{b}"]\n[clock]\nmax_ahead_s = 0\n')
    try:
        d.start()
        yield d
    finally:
        d.stop()




def centre(pg: Any) -> tuple[float, float]:
    c = pg.evaluate("(() => { const c = window.chokepoint.view.map.getCenter(); return [c.lng, c.lat]; })()")
    return float(c[0]), float(c[1])


def inside(point: tuple[float, float], box: tuple[float, float, float, float]) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def test_the_page_opens_on_any_chokepoint(browser: Any, daemon: PageDaemon) -> None:
    code, zones = daemon.get("/api/zones")
    assert code == 200 and [f["properties"]["id"] for f in zones["features"]].count("b-strait") == 1
    context, pg, rec = open_page(browser, daemon.url)
    try:
        chooser = pg.locator("#chokepoint")
        wait_until(chooser.is_visible, 10, "the chokepoint chooser")
        options = pg.evaluate("[...document.querySelectorAll('#chokepoint option')]"
                              ".map(o => [o.value, o.text])")
        assert options == [["strait", "First strait"], ["b-strait", "Second strait"]]
        assert inside(centre(pg), FIRST), centre(pg)
        chooser.select_option("b-strait")
        wait_until(lambda: inside(centre(pg), SECOND), 5, "the map on the second strait")
        assert pg.evaluate("location.hash") == "#strait=b-strait"
        pg.click("#fit-all")
        pg.click("#fit-strait")  # back to the strait chosen, not the first
        wait_until(lambda: inside(centre(pg), SECOND), 5, "the map back on the second strait")
        assert rec.console_errors == [] and rec.page_errors == [] and rec.foreign() == []
    finally:
        context.close()
    context, pg, rec = open_page(browser, daemon.url + "#strait=b-strait")
    try:
        wait_until(lambda: inside(centre(pg), SECOND), 10, "the bookmarked strait")
        assert pg.locator("#chokepoint").input_value() == "b-strait"
    finally:
        context.close()


def test_a_watched_ships_voyage_shows_in_its_details_and_the_roster(browser: Any, daemon: PageDaemon) -> None:
    """A Korean tanker (the default roster) out through the first strait, across the sea reporting every 3
    h, out through the second about ten days later (the plan of tests/test_voyage.py): the vessel's details
    and its roster row say "First strait out → N d → Second strait out", N the days of the API's leg."""
    korean = 440_000_077
    out_a, t1, _ = leg(korean, (55.7, LAT), (60.0, LAT), T0, 12.0, 60)
    sea, t2, _ = leg(korean, (60.0, LAT), (100.5, LAT + DY), t1 + 3 * 3600, 12.0, 3 * 3600)
    in_b, _, _ = leg(korean, (100.5, LAT + DY), (103.0, LAT + DY), t2 + 3 * 3600, 12.0, 60)
    lines = [line for _, line in sorted(out_a + sea + in_b, key=lambda x: x[0])]
    before = daemon.metric("chokepoint_lines_total")
    daemon.send(lines)
    daemon.wait_processed(int(before) + len(lines), timeout=60)
    code, vessel = daemon.get(f"/api/vessels/{korean}")
    assert code == 200 and vessel["voyage"] is not None
    (days,) = [leg_["days"] for leg_ in vessel["voyage"]["legs"]]
    want = f"First strait out → {days:.1f} d → Second strait out"
    context, pg, rec = open_page(browser, daemon.url)
    try:
        pg.evaluate(f"window.chokepoint.model.select({korean})")
        details = pg.locator("#details")
        wait_until(lambda: want in details.inner_text(), 10, "the voyage in the vessel's details")
        pg.locator("#tab-roster").click()
        row = pg.locator("#panel-roster table.grid tbody tr", has_text=want)
        wait_until(lambda: row.count() == 1, 10, "the voyage in the roster")
        assert rec.console_errors == [] and rec.page_errors == [] and rec.foreign() == []
    finally:
        context.close()
