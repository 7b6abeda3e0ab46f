"""The command line as users script it: output streams, formats, exit codes, default zone file."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import main
from tests.helpers import T0, position_lines, track, write_lines, write_zones

ROOT = Path(__file__).resolve().parents[1]


def cli(
    *args: str, cwd: Path | None = None, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        env=full_env,
        timeout=120,
    )


@pytest.fixture
def feed(tmp_path: Path) -> Path:
    lines = track(538000001, [(57.5, 26.1), (55.7, 26.1)], T0, interval_s=60, speed_kn=15)
    lines.insert(3, b"!AIVDM,1,1,,A,garbage,0*00")  # one bad checksum
    lines.insert(5, b"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47")
    return write_lines(tmp_path / "feed.nmea", lines)


def test_replay_jsonl_stdout_is_only_alerts(tmp_path: Path, feed: Path) -> None:
    """With --format jsonl stdout carries one alert object per line and nothing else; summary on stderr."""
    zones = write_zones(tmp_path / "z.geojson")
    r = cli("replay", str(feed), "--zones", str(zones), "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    alerts = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert alerts and all(a["schema"] == 1 and "id" in a for a in alerts)
    assert [a["kind"] for a in alerts].count("transit") == 1
    err = r.stderr.decode()
    assert "lines rejected    2 (bad_checksum 1, unknown_sentence 1)" in err
    assert "transit 1" in err


def test_replay_reads_gzip_and_stdin(tmp_path: Path, feed: Path) -> None:
    """A .gz feed and `-` (stdin) give the same alerts as the plain file."""
    zones = write_zones(tmp_path / "z.geojson")
    gz = tmp_path / "feed.nmea.gz"
    gz.write_bytes(gzip.compress(feed.read_bytes()))
    plain = cli("replay", str(feed), "--zones", str(zones)).stdout
    assert plain
    assert cli("replay", str(gz), "--zones", str(zones)).stdout == plain
    assert cli("replay", "-", "--zones", str(zones), stdin=feed.read_bytes()).stdout == plain


def test_replay_text_format_prints_alerts_then_summary(tmp_path: Path, feed: Path) -> None:
    """--format text prints readable alert lines, then the summary."""
    zones = write_zones(tmp_path / "z.geojson")
    r = cli("replay", str(feed), "--zones", str(zones), "--format", "text")
    out = r.stdout.decode()
    assert r.returncode == 0
    assert "transit" in out and "direction=inbound" in out
    assert out.index("summary:") > out.index("transit")


def test_default_zone_file_found_from_any_directory(tmp_path: Path) -> None:
    """Without --zones the packaged Hormuz zone file is used, whatever the working directory."""
    feed = write_lines(tmp_path / "f.nmea", position_lines(538000001, 56.45, 25.15, T0))  # off Fujairah
    r = cli("replay", str(feed), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    zones = {json.loads(line)["zone"]["id"] for line in r.stdout.decode().splitlines()}
    assert "fujairah-anchorage" in zones


def test_missing_feed_exits_1_with_one_line(tmp_path: Path) -> None:
    """A missing feed: exit non-zero with one clear line naming the file."""
    r = cli("replay", str(tmp_path / "nope.nmea"))
    assert r.returncode == 1
    assert r.stderr.decode().strip().splitlines() == [
        f"chokepoint-monitor: {tmp_path / 'nope.nmea'}: no such file"
    ]


def test_bad_zone_file_exits_3_naming_feature(tmp_path: Path, feed: Path) -> None:
    """An invalid zone file: exit 3, naming the file, the feature id and the problem."""
    bad = tmp_path / "bad.geojson"
    bad.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"id": "lane", "name": "x", "kind": "tss_lane"},
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [[[56, 26], [57, 26], [57, 27], [56, 26]]],
                        },
                    }
                ],
            }
        )
    )
    r = cli("replay", str(feed), "--zones", str(bad))
    assert r.returncode == 3
    err = r.stderr.decode().strip()
    assert len(err.splitlines()) == 1 and str(bad) in err and "lane" in err and "bearing" in err
    r = cli("zones", "check", str(bad))
    assert r.returncode == 3 and "bearing" in r.stderr.decode()


def test_bad_config_exits_3(tmp_path: Path, feed: Path) -> None:
    """An invalid config file (unknown key) or environment override: exit 3 with one line."""
    cfg = tmp_path / "m.toml"
    cfg.write_text("[geofence]\nhysteresis_metres = 5\n")
    r = cli("replay", str(feed), "--config", str(cfg))
    assert r.returncode == 3
    assert str(cfg) in r.stderr.decode() and "hysteresis_metres" in r.stderr.decode()
    r = cli("replay", str(feed), env={"MONITOR_GEOFENCE__HYSTERESIS_M": "-1"})
    assert r.returncode == 3 and "MONITOR_GEOFENCE__HYSTERESIS_M" in r.stderr.decode()


def test_zones_check_passes_shipped_file() -> None:
    """`zones check` accepts the shipped Hormuz zone file."""
    r = cli("zones", "check", str(ROOT / "zones" / "hormuz.geojson"))
    assert r.returncode == 0, r.stderr
    assert "OK" in r.stdout.decode()


def test_decode_prints_contract_keys(tmp_path: Path) -> None:
    """`decode` prints one JSON object per message with CONTRACT keys; not-available values are null."""
    lines = position_lines(538000001, 56.5, 26.5, T0, sog=12.3, cog=101.0)
    lines += [b"!AIVDM,1,1,,A,15M67FC000G?ufbE`FepT@3n00Sa,0*5C"]  # real-looking, lat/lon valid
    f = write_lines(tmp_path / "d.nmea", lines)
    r = cli("decode", str(f))
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert recs[0]["mmsi"] == 538000001 and recs[0]["type"] == 1
    assert recs[0]["lat"] == pytest.approx(26.5, abs=1e-5) and recs[0]["sog"] == 12.3
    assert recs[0]["time"] == "2025-06-15T15:06:40Z"
    assert {"type", "mmsi", "time", "lat", "lon", "sog", "cog", "heading", "status"} <= set(recs[0])


def test_speed_paces_the_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--speed X replays at X times real time: 60 s of feed at 60x takes about a second, same alerts."""
    import time

    zones = write_zones(tmp_path / "z.geojson")
    lines = track(538000001, [(57.02, 26.1), (56.98, 26.1)], T0, interval_s=5, speed_kn=15)[:13]
    f = write_lines(tmp_path / "p.nmea", lines)
    assert main(["replay", str(f), "--zones", str(zones)]) == 0
    fast = capsys.readouterr().out
    t0 = time.monotonic()
    assert main(["replay", str(f), "--zones", str(zones), "--speed", "60"]) == 0
    took = time.monotonic() - t0
    assert capsys.readouterr().out == fast
    assert 0.8 <= took < 5.0
