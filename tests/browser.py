"""The operator's page in a real browser: Debian's Chromium driven by Playwright, against a real daemon.

Shared by tests/test_page.py, `make screenshot` and bench/page.py. Playwright drives the system browser
(`chromium`, a Debian package `make debs` installs): it cannot download its own here, and a browser test
that skips when the browser is missing would pass on the machine that needs it most, so a missing
browser is a failure naming the fix.
"""

from __future__ import annotations

import gzip
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.test_service import Daemon

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "hormuz-sample.nmea.gz"
TOKEN = "letmein"  # the token of the test daemon's config
VIEWPORT = {"width": 1280, "height": 800}
# Headless, and nothing that phones home: no QUIC, no component or sync updates, no background requests.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def find_chromium() -> str | None:
    """Debian's chromium: /usr/bin/chromium, or `chromium` on PATH."""
    for candidate in ("/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def missing_chromium_message() -> str:
    return ("chromium is not installed (looked for /usr/bin/chromium and on PATH): run `make test` or "
            "`make debs`, which install Debian's chromium package (Playwright cannot download its own "
            "browser here; never run `playwright install`)")


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (a Playwright Browser); AssertionError if the browser is missing."""
    from playwright.sync_api import sync_playwright

    executable = find_chromium()
    if executable is None:
        raise AssertionError(missing_chromium_message())
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def sample_lines() -> list[bytes]:
    with gzip.open(SAMPLE) as f:
        return [line.rstrip(b"\r\n") for line in f]


def line_time(line: bytes) -> int:
    """The tag block's `c:` receive time of a line (the sample's lines all carry one)."""
    return int(line.split(b"c:", 1)[1].split(b"*", 1)[0].split(b",", 1)[0])


class PageDaemon(Daemon):
    """tests.test_service.Daemon with the packaged Hormuz zone file (no [zones] section: the default) and
    its TCP feed, HTTP port and token, for the page."""

    def __init__(self, tmp: Path, broker_url: str, *, prefix: str, extra: str = "") -> None:
        super().__init__(tmp, broker_url, prefix=prefix)
        self.config.write_text(
            f'[mqtt]\nurl = "{broker_url}"\nprefix = "{prefix}"\n'
            f'[state]\ndirectory = "{self.state}"\n'
            f'[http]\nport = {self.http_port}\ntoken = "{TOKEN}"\n'
            f'[logging]\nformat = "json"\n'
            f'[service]\nshutdown_timeout_s = 5.0\n'
            f'[[feeds]]\nname = "rx"\ntype = "tcp_server"\nport = {self.feed_port}\n' + extra
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/"

    def all_vessels(self) -> list[dict[str, Any]]:
        """Every vessel, following the pages as the page does."""
        out: list[dict[str, Any]] = []
        after = 0
        while True:
            code, body = self.get(f"/api/vessels?after={after}&limit=1000")
            assert code == 200, body
            out += body["vessels"]
            if body["next"] is None:
                return out
            after = body["next"]


@dataclass
class Recorder:
    """Everything a page did that a test checks: every request URL, console errors, uncaught errors."""

    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    # 404s the page expects: endpoints of capabilities this daemon may not have yet (the panel says
    # "not available yet"). Chromium logs every failed load as a console error.
    optional_paths: tuple[str, ...] = ("/api/roster", "/api/interference", "/api/traffic")

    def attach(self, page: Any) -> None:
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))

    def _console(self, msg: Any) -> None:
        if msg.type != "error":
            return
        where = (msg.location or {}).get("url", "")
        if "404" in msg.text and urlsplit(where).path in self.optional_paths:
            return
        self.console_errors.append(f"{msg.text} ({where})")

    def foreign(self) -> list[str]:
        """Requests to any host but 127.0.0.1 (data: URLs carry no host and leave nothing)."""
        return [u for u in self.requests if not u.startswith("data:") and urlsplit(u).hostname != "127.0.0.1"]


def open_page(browser: Any, url: str) -> tuple[Any, Any, Recorder]:
    """A fresh context and page at 1280x800, recorded, loaded until its first picture is complete."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    rec = Recorder()
    rec.attach(page)
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    return context, page, rec


def wait_until(predicate: Any, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)
