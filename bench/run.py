"""Benchmark: replay throughput and peak RSS beside gpsd's C decoder on the same file.

    .venv/bin/python bench/run.py [--vessels 2000] [--messages 1000000] [--seed 1]

Writes a synthetic feed with the package's simulator (cached under bench/out/), then runs, one after the
other on the same machine:
  - `chokepoint-monitor replay FEED --format jsonl` (the whole pipeline, real zone file) and
  - `gpsdecode -j < FEED` (gpsd's C decoder, decoding only),
and prints messages/s, the ratio, and each process's peak RSS. Speed is measured here, never in a test.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"


def run_measured(cmd: list[str], stdin: Path | None = None) -> tuple[float, int, str]:
    """Run cmd, return (wall seconds, peak RSS in MiB, stderr)."""
    fin = open(stdin, "rb") if stdin else subprocess.DEVNULL  # noqa: SIM115
    errf = OUT / "stderr.txt"
    with open(errf, "wb") as ferr:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=fin, stdout=subprocess.DEVNULL, stderr=ferr)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    if stdin:
        fin.close()  # type: ignore[union-attr]
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = errf.read_text(errors="replace")
    if proc.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({proc.returncode}): {err[-2000:]}")
    return wall, usage.ru_maxrss // 1024, err


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vessels", type=int, default=2000)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    feed = OUT / f"feed-{args.vessels}v-{args.messages}m-s{args.seed}.nmea"
    if not feed.exists():
        print(f"writing {feed.name} ...", file=sys.stderr)
        subprocess.run(
            [sys.executable, "-m", "monitor.simulate", "--vessels", str(args.vessels), "--messages",
             str(args.messages), "--seed", str(args.seed), str(feed)],
            check=True,
        )
    gpsdecode = shutil.which("gpsdecode")
    if gpsdecode is None:
        sys.exit("gpsdecode not found: apt-get install gpsd-clients (make bench does it)")
    cli = str(Path(sys.executable).with_name("chokepoint-monitor"))

    ours_s, ours_rss, err = run_measured([cli, "replay", str(feed), "--format", "jsonl"])
    m = re.search(r"messages\s+(\d+)", err)
    messages = int(m.group(1)) if m else args.messages
    alerts = re.search(r"alerts\s+(\d+)", err)
    gps_s, gps_rss, _ = run_measured([gpsdecode, "-j"], stdin=feed)
    lines = sum(1 for _ in open(feed, "rb"))

    ours_rate = messages / ours_s
    gps_rate = messages / gps_s
    print(f"feed: {feed.name}: {lines} lines, {messages} messages, {args.vessels} vessels")
    print(f"{'':28} {'seconds':>8} {'msg/s':>10} {'peak RSS MiB':>13}")
    print(f"{'chokepoint-monitor replay':28} {ours_s:8.2f} {ours_rate:10,.0f} {ours_rss:13}")
    print(f"{'gpsdecode -j':28} {gps_s:8.2f} {gps_rate:10,.0f} {gps_rss:13}")
    print(f"ratio replay/gpsdecode: {ours_rate / gps_rate:.2f}  (alerts: {alerts.group(1) if alerts else '?'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
