"""The map page with several chokepoints (issue 15): a daemon watching two zone files opens on the first
strait, offers each in a chooser, and shows the one chosen (or the one named in the address, so a desk can
bookmark each). Real daemon, real Chromium (tests/browser.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import PageDaemon, open_page, wait_until
from tests.helpers import synthetic_zones, write_zones
from tests.mqtt_helpers import Broker
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
    d = PageDaemon(tmp, mosquitto.url, prefix=f"cp{uuid.uuid4().hex[:8]}",
                   extra=f'[zones]\nfile = "{a}"\nfiles = ["{b}"]\n')
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

