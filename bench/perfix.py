"""How many fixes of a feed take the engine's per-fix Python step, and what that step costs.

    .venv/bin/python bench/perfix.py FEED [--zones FILE]

Runs what `chokepoint-monitor replay --format jsonl` runs (8192-line batches, default configuration and
any `MONITOR_*` overrides, every alert serialized) in this process, with the engine's per-fix step
(`Engine._report`: one call per fix the vectorized flags did not skip) wrapped to count its calls, the
speeds they carry, and the time spent inside them. Prints one JSON line: positions, per_fix, share,
slow_share (of the per-fix calls, those under 2 kn: loiter and encounter candidates), per_fix_s and
total_s (perf_counter; the wrapper adds about 0.2 µs a call, so the times are for proportions only).

This reaches into a private name of monitor/engine.py on purpose (a diagnosis, not a measurement of
speed): if the engine's refactor renames the step, it says so and stops.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

from monitor.config import load_settings
from monitor.engine import Engine
from monitor.feeds import iter_batches
from monitor.pipeline import Pipeline
from monitor.zones import default_zone_path, load_zone_file

SLOW_KN = 2.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("feed", type=Path)
    ap.add_argument("--zones", type=Path, help="zone file (default: the bundled Hormuz file)")
    args = ap.parse_args()
    step = getattr(Engine, "_report", None)
    if step is None:
        sys.exit("bench/perfix.py: monitor.engine.Engine has no _report (the per-fix step) any more")
    calls = slow = 0
    inside = 0.0

    def counted(self: Engine, v: Any, t: float, lon: float, lat: float, sog: float, *rest: Any) -> Any:
        nonlocal calls, slow, inside
        calls += 1
        slow += sog < SLOW_KN
        t0 = time.perf_counter()
        try:
            return step(self, v, t, lon, lat, sog, *rest)
        finally:
            inside += time.perf_counter() - t0

    Engine._report = counted  # type: ignore[method-assign]
    pipeline = Pipeline(load_settings(None), load_zone_file(args.zones or default_zone_path()))
    gc.freeze()  # as the replay command does
    gc.set_threshold(100_000, 50, 100)
    t0 = time.perf_counter()
    for lines in iter_batches([str(args.feed)], 8192):
        "".join(a.to_json() + "\n" for a in pipeline.process_lines(lines))
    total = time.perf_counter() - t0
    positions = pipeline.finish().positions
    print(json.dumps({"feed": args.feed.name, "positions": positions, "per_fix": calls,
                      "share": calls / max(1, positions), "slow_share": slow / max(1, calls),
                      "per_fix_s": round(inside, 3), "total_s": round(total, 3)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
