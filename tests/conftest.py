"""Shared fixtures: a real Mosquitto broker for the network tests (STYLE 11).

`mosquitto` (session): one broker on a free 127.0.0.1 port for the whole run, persistence off.
`broker` (function): the same broker, guaranteed running when the test starts (a previous test may
have stopped it to simulate an outage). Both yield a `tests.mqtt_helpers.Broker`: `.host`, `.port`,
`.url`, `.stop()`, `.start()` (same port). Retained messages live as long as the session's broker:
use a topic prefix unique to the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.mqtt_helpers import Broker, find_mosquitto


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
