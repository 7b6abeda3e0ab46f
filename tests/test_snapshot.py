"""`replay --snapshot FILE` (CONTRACT): at the end of the recording, the picture the daemon's API would serve
then, as one JSON object. That it equals the daemon's own answers is checked in tests/test_live.py (the
sample streamed to a real daemon); here: its shape, its agreement with the replay's own summary and the zone
file, the same picture from one or two processes, and a file that cannot be written refused up front."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.errors import EXIT_OK, EXIT_USAGE
from monitor.zones import default_zone_path, load_zone_file

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "hormuz-sample.nmea.gz"
KEYS = {"time", "posture", "vessels", "roster", "traffic", "interference", "zones"}


def snapshot(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[dict, str]:  # type: ignore[type-arg]
    out = tmp_path / f"snap{len(list(tmp_path.iterdir()))}.json"
    assert main(["replay", str(SAMPLE), "--snapshot", str(out), *extra]) == EXIT_OK
    _, err = capsys.readouterr()
    return json.loads(out.read_text()), err


def test_the_snapshot_holds_the_picture_at_the_recordings_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    picture, err = snapshot(tmp_path, capsys)
    assert set(picture) == KEYS
    vessels = int(next(line for line in err.splitlines() if "vessels" in line).split()[1])
    assert len(picture["vessels"]) == vessels > 0
    mmsis = [v["mmsi"] for v in picture["vessels"]]
    assert mmsis == sorted(mmsis)
    # The time is the recording's last: no vessel was heard after it, and some at it.
    heard = [v["last_heard"] for v in picture["vessels"] if v["last_heard"]]
    assert picture["time"] == max(heard)
    assert picture["posture"]["level"] in ("NORMAL", "ELEVATED", "HIGH", "CRITICAL")
    zone_ids = [z.id for z in load_zone_file(default_zone_path()).zones]
    assert [f["properties"]["id"] for f in picture["zones"]["features"]] == zone_ids
    assert picture["interference"]["type"] == "FeatureCollection"
    assert set(picture["traffic"]) >= {"period", "straits"}
    assert isinstance(picture["roster"], list)


def test_one_or_two_processes_give_the_same_snapshot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one, _ = snapshot(tmp_path, capsys, "--jobs", "1")
    two, _ = snapshot(tmp_path, capsys, "--jobs", "2")
    assert one == two


@pytest.mark.parametrize("where", ["missing/dir/snap.json", "."])
def test_a_snapshot_that_cannot_be_written_is_refused_before_the_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    """A folder that does not exist, or a directory as FILE: exit 2 with one line, and no alert written."""
    assert main(["replay", str(SAMPLE), "--snapshot", str(tmp_path / where)]) == EXIT_USAGE
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("chokepoint-monitor: --snapshot ") and err.count("\n") == 1
