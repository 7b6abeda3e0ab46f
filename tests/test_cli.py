"""The command line as users script it: output streams, formats, exit codes, default zone file."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyais
import pytest
from pyais.messages import MessageType1

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
    assert "lines rejected    1 (bad_checksum 1)" in err  # ($GPGGA is no reject: other_sentence)
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
    # GNSS quality (issue 13), as pyais reads the report (after its tag block): second, RAIM, sync state
    report = pyais.decode(lines[0].rsplit(b"\\", 1)[-1])
    assert isinstance(report, MessageType1)
    expected = (report.second, report.raim, report.get_communication_state()["sync_state"])
    assert (recs[0]["second"], recs[0]["raim"], recs[0]["sync_state"]) == expected


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


def _broken_three(tmp_path: Path) -> Path:
    """The toy zone file with three features broken in three ways."""
    from tests.helpers import synthetic_zones

    document = synthetic_zones()
    by_id = {f["properties"]["id"]: f for f in document["features"]}
    triangle = [[[57, 25.5], [57.1, 25.5], [57, 26], [57, 25.5]]]
    by_id["outer"]["geometry"] = {"type": "Polygon", "coordinates": triangle}  # a gate must be a line
    del by_id["lane-in"]["properties"]["bearing"]
    by_id["port-a"]["properties"]["country"] = "ARE"
    return write_zones(tmp_path / "three.geojson", document)


def test_zones_check_lists_every_problem_one_line_each(tmp_path: Path) -> None:
    """`zones check` on a file with three broken features exits 3 and prints each problem on its own line
    (`FILE: feature 'id': problem`), then how many there were."""
    bad = _broken_three(tmp_path)
    r = cli("zones", "check", str(bad))
    assert r.returncode == 3
    err = r.stderr.decode().splitlines()
    named = [line.split(": ")[1] for line in err[:-1]]
    assert named == ["feature 'outer'", "feature 'lane-in'", "feature 'port-a'"]
    assert all(line.startswith(f"{bad}: ") for line in err)
    assert err[-1] == f"{bad}: invalid zone file: 3 problems"
    assert r.stdout.decode().startswith(f"{bad}: INVALID, 8 features")


def test_zones_check_prints_counts_and_bounding_box(capsys: pytest.CaptureFixture[str]) -> None:
    """`zones check` prints the zones by kind and the bounding box, as numbers and as degrees E/N, taken
    here from the file's coordinates directly."""
    import shapely
    from shapely.geometry import shape

    path = ROOT / "zones" / "hormuz.geojson"
    features = json.loads(path.read_text())["features"]
    coordinates = shapely.get_coordinates([shape(f["geometry"]) for f in features])
    (lon_min, lat_min), (lon_max, lat_max) = coordinates.min(axis=0), coordinates.max(axis=0)
    assert main(["zones", "check", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    ports = sum(f["properties"]["kind"] == "port" for f in features)
    assert out[0].startswith(f"{path}: OK, {len(features)} zones (") and f"{ports} port" in out[0]
    assert out[1] == (
        f"  bounding box: lon min {lon_min:.4f} max {lon_max:.4f}, lat min {lat_min:.4f} max {lat_max:.4f}"
        f" ({lon_min:.2f}°E to {lon_max:.2f}°E, {lat_min:.2f}°N to {lat_max:.2f}°N)"
    )


def test_zones_check_shows_where_a_swapped_file_lies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The shipped file written [lat, lon]: exit 3, the whole-file problem first, and the bounding box shows
    it lying at the real file's latitudes as longitudes (Eastern Europe)."""

    def swap(c: Any) -> Any:
        return [c[1], c[0]] if isinstance(c[0], int | float) else [swap(part) for part in c]

    document = json.loads((ROOT / "zones" / "hormuz.geojson").read_text())
    for f in document["features"]:
        f["geometry"]["coordinates"] = swap(f["geometry"]["coordinates"])
    path = write_zones(tmp_path / "swapped.geojson", document)
    assert main(["zones", "check", str(path)]) == 3
    captured = capsys.readouterr()
    assert captured.err.splitlines()[0].startswith(f"{path}: whole file: coordinates look written [lat, lon]")
    assert f"{path}: feature 'strait-of-hormuz': looks like lat/lon swapped" in captured.err
    assert "(21.00°E to 31.00°E, 47.00°N to 61.80°N)" in captured.out
