"""Memory under a flood of junk MMSIs (issue 9): each heard once, as a cheap attack or a broken feed makes.

    .venv/bin/python bench/flood.py [--junk 1000000] [--fleet 2000] [--max-vessels N]

A fleet of `--fleet` ships reports every minute while `--junk` distinct MMSIs, each heard once, pour in
(60 a second of feed time, like a spoofing transmitter walking through MMSIs), through the whole replay
pipeline with the bundled zone file and the default configuration (`state.max_vessels`, 200,000, unless
`--max-vessels`). Prints one JSON line: vessels kept, vessels evicted, whether every fleet ship is still
known, the peak RSS of this process (VmHWM) and the wall time. The unit's MemoryMax is 1 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from monitor.config import load_settings
from monitor.nmea import nmea_checksum
from monitor.pipeline import Pipeline
from monitor.zones import default_zone_path, load_zone_file
from tools.simulate import encode_position


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def line(mmsi: int, lon: float, lat: float, t: int) -> bytes:
    sentence = f"AIVDM,1,1,,A,{encode_position(1, mmsi, lon, lat, 10.0, 90.0, 90, t % 60)},0".encode()
    tag = f"s:rx1,c:{t}".encode()
    return b"\\%s*%02X\\!%s*%02X" % (tag, nmea_checksum(tag), sentence, nmea_checksum(sentence))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--junk", type=int, default=1_000_000)
    ap.add_argument("--fleet", type=int, default=2000)
    ap.add_argument("--max-vessels", type=int, default=None)
    args = ap.parse_args()
    env = dict(os.environ)
    if args.max_vessels is not None:
        env["MONITOR_STATE__MAX_VESSELS"] = str(args.max_vessels)
    p = Pipeline(load_settings(None, env=env), load_zone_file(default_zone_path()))
    t0 = 1_750_000_000
    fleet = [538_000_000 + k for k in range(args.fleet)]
    started = time.perf_counter()
    junk_next = 0
    second = 0
    while junk_next < args.junk:
        t = t0 + second
        lines = []
        # A sixtieth of the fleet reports each second (each ship once a minute) ...
        lines.extend(
            line(fleet[k], 56.0 + (k % 100) * 0.01, 26.0 + (k // 100) * 0.01, t)
            for k in range(second % 60, args.fleet, 60)
        )
        # ... and 60 junk MMSIs, each never heard again.
        for _ in range(60):
            if junk_next >= args.junk:
                break
            lines.append(line(200_000_000 + junk_next, 56.5, 26.3, t))
            junk_next += 1
        p.process_lines(lines)
        second += 1
    elapsed = time.perf_counter() - started
    e = p.engine
    print(json.dumps({
        "junk": args.junk,
        "fleet": args.fleet,
        "max_vessels": e.max_vessels,
        "vessels": len(e.vessels),
        "evicted": e.evicted,
        "fleet_kept": all(m in e.vessels for m in fleet),
        "peak_rss_mb": round(vm_hwm_mb(), 1),
        "wall_s": round(elapsed, 1),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
