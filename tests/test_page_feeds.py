"""The map page's feeds indicator and panel (issue 16): a real daemon with one feed delivering and one
failing (a receiver that refuses connections), in real Chromium (tests/browser.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import (
    PageDaemon,
    open_page,
    sample_lines,
    wait_until,
)
from tests.mqtt_helpers import Broker, free_port


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, mosquitto: Broker) -> Iterator[PageDaemon]:
    """A daemon whose TCP feed `rx` got a few sample lines and whose feed `far` cannot connect."""
    extra = f'[[feeds]]\nname = "far"\ntype = "tcp"\nport = {free_port()}\nreconnect_max_s = 0.5\n'
    d = PageDaemon(tmp_path_factory.mktemp("feeds"), mosquitto.url, prefix=f"fd{uuid.uuid4().hex[:8]}",
                   extra=extra)
    try:
        d.start()
        lines = sample_lines()[:200]
        d.send(lines)
        d.wait_processed(len(lines))
        yield d
    finally:
        d.stop()




def test_feeds_indicator_and_panel_show_each_feeds_state_and_last_error(browser: Any,
                                                                        daemon: PageDaemon) -> None:
    """The top bar says how many feeds are up (amber when one fails, its error in the tooltip); a click
    opens the Feeds panel: a row per feed with its state, line count and last error."""
    context, pg, rec = open_page(browser, daemon.url)
    try:
        indicator = pg.locator("#feeds")
        wait_until(lambda: indicator.get_attribute("data-state") == "warn", 15, "the feeds indicator amber")
        assert indicator.inner_text() == "feeds 1/2"
        title = indicator.get_attribute("title") or ""
        assert "far (tcp): failing" in title and "Connect" in title
        indicator.click()
        panel = pg.locator("#panel-feeds")
        wait_until(panel.is_visible, 5, "the feeds panel")
        far = pg.locator("#panel-feeds tr[data-feed=far]")
        wait_until(lambda: far.count() == 1, 10, "the failing feed's row")
        assert far.get_attribute("data-state") == "failing" and "Connect" in far.inner_text()
        rx = pg.locator("#panel-feeds tr[data-feed=rx]")
        assert rx.get_attribute("data-state") == "connected" and "200" in rx.inner_text()
        assert rec.console_errors == [] and rec.page_errors == [] and rec.foreign() == []
    finally:
        context.close()
