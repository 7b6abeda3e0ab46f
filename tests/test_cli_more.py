"""The command line's remaining promises: bad option values refused with one line and exit 2 before any
input is read, a reader that goes away (`| head`) is not an error, and the summary reports stale fixes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.errors import EXIT_OK, EXIT_USAGE
from tests.helpers import T0, position_lines, write_lines, write_zones

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "hormuz-sample.nmea.gz"


@pytest.fixture
def feed(tmp_path: Path) -> Path:
    """One vessel: fixes at T0 and T0+60, then one at T0+30 that arrives late."""
    lines = (
        position_lines(538000001, 56.0, 26.0, T0)
        + position_lines(538000001, 56.01, 26.0, T0 + 60)
        + position_lines(538000001, 56.005, 26.0, T0 + 30)
    )
    return write_lines(tmp_path / "feed.nmea", lines)


@pytest.mark.parametrize("speed", ["0", "-2"])
def test_a_speed_that_is_not_positive_is_refused(feed: Path, speed: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """--speed 0 or below would never advance (or run backwards): exit 2 with one line, no alerts."""
    assert main(["replay", str(feed), "--speed", speed]) == EXIT_USAGE
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "chokepoint-monitor: --speed must be a positive number\n"


@pytest.mark.parametrize("url", ["http://localhost:1883", "mqtt://", "mqtt://host:port", "localhost:1883",
                                 "mqtt://host:1883/topic"])
def test_a_broker_url_that_is_not_mqtt_is_refused(tmp_path: Path, feed: Path, url: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """--mqtt takes mqtt://host[:port] or mqtts://host[:port]; anything else exits 2 naming the value,
    before any line is read (no alerts, no summary)."""
    zones = write_zones(tmp_path / "z.geojson")
    assert main(["replay", str(feed), "--zones", str(zones), "--mqtt", url]) == EXIT_USAGE
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (f"chokepoint-monitor: --mqtt {url}: expected mqtt://host[:port] or mqtts://host[:port]\n")


@pytest.mark.parametrize("url", ["mqtt://localhost", "mqtts://broker.example:8883", "mqtt://10.0.0.1:1883/"])
def test_a_well_formed_broker_url_is_accepted_without_publishing(
    tmp_path: Path, feed: Path, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --publish a valid --mqtt is only checked: the replay runs and never connects."""
    zones = write_zones(tmp_path / "z.geojson")
    assert main(["replay", str(feed), "--zones", str(zones), "--mqtt", url, "--format", "text"]) == EXIT_OK
    assert "summary:" in capsys.readouterr().out


def test_summary_counts_a_fix_older_than_the_vessels_last(tmp_path: Path, feed: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A fix older than the vessel's last one is ignored, and the summary says how many were."""
    zones = write_zones(tmp_path / "z.geojson")
    assert main(["replay", str(feed), "--zones", str(zones), "--format", "text"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "  messages          3 (3 positions, 0 static)\n" in out
    assert "  stale fixes       1 (older than the vessel's last fix, ignored)\n" in out


def test_a_summary_without_stale_fixes_has_no_such_line(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """In time order there is nothing stale, and the line is left out."""
    zones = write_zones(tmp_path / "z.geojson")
    feed = write_lines(tmp_path / "ok.nmea", position_lines(538000001, 56.0, 26.0, T0)
                       + position_lines(538000001, 56.01, 26.0, T0 + 60))
    assert main(["replay", str(feed), "--zones", str(zones), "--format", "text"]) == EXIT_OK
    assert "stale" not in capsys.readouterr().out


@pytest.mark.parametrize("command", ["decode", "replay"])
def test_a_reader_that_goes_away_is_not_an_error(command: str) -> None:
    """`chokepoint-monitor decode FEED | head -1`: when the reader closes the pipe early the command stops
    quietly with exit 0 (no traceback, no "Broken pipe" message), like other Unix filters. (The sample's
    output, about 100 KB of alerts and 14 MB of decoded messages, is more than a pipe holds: the command
    is still writing when the reader goes.)"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    args = [sys.executable, "-m", "monitor", command, str(SAMPLE)]
    producer = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert producer.stdout is not None and producer.stderr is not None
    first = producer.stdout.readline()
    producer.stdout.close()  # what `head -1` does after its line
    err = producer.stderr.read()
    producer.stderr.close()
    assert producer.wait(timeout=120) == 0, err
    assert first.startswith(b"{") and err == b""
