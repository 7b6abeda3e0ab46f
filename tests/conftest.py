"""Shared fixtures: a real Mosquitto broker for the network tests (STYLE 11), and Chromium for the page's.

`mosquitto` (session): one broker on a free 127.0.0.1 port for the whole run, persistence off.
`broker` (function): the same broker, guaranteed running when the test starts (a previous test may
have stopped it to simulate an outage). Both yield a `tests.mqtt_helpers.Broker`: `.host`, `.port`,
`.url`, `.stop()`, `.start()` (same port). Retained messages live as long as the session's broker:
use a topic prefix unique to the test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import settings

from monitor.pipeline import Pipeline
from tests.mqtt_helpers import Broker, find_mosquitto

if TYPE_CHECKING:
    from tests.test_service import Daemon

# `.ci/run` sets HYPOTHESIS_PROFILE=ci: the property tests draw the same examples on every CI run, so a
# landing never hangs on a rare draw; local runs keep exploring new ones (and the .hypothesis database
# replays any failure found until it is fixed).
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """The session's Mosquitto broker on 127.0.0.1 (fails, never skips, when mosquitto is missing)."""
    executable = find_mosquitto()
    if executable is None:
        pytest.fail(
            "mosquitto is not installed (looked for /usr/sbin/mosquitto and on PATH): "
            "run `make test`, which installs Debian's mosquitto package",
            pytrace=False,
        )
    broker = Broker(executable, tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def broker(mosquitto: Broker) -> Broker:
    """The session broker, running at the start of this test (restarted if a test stopped it)."""
    mosquitto.start()
    return mosquitto


@pytest.fixture(autouse=True)
def _bugs_fail_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process pipelines raise what their per-batch safety net would count as `internal_error`, so a
    bug fails the test that meets it (the daemons the tests start as subprocesses keep the net)."""
    monkeypatch.setattr(Pipeline, "raise_internal_errors", True)


@pytest.fixture
def prefix() -> str:
    """A topic prefix of its own for each test that talks to the broker."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    """Daemons a test starts (tests.test_service.Daemon), stopped when it ends, pass or fail."""
    made: list[Daemon] = []
    yield made
    for d in made:
        d.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (tests/browser.py) for a module of page tests; fails (never skips) when the
    chromium package is missing."""
    from tests.browser import chromium, find_chromium, missing_chromium_message

    if find_chromium() is None:
        pytest.fail(missing_chromium_message(), pytrace=False)
    with chromium() as b:
        yield b
