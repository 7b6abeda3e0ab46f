"""The steady cost per message of one feed: the replay pipeline's CPU time over the feed's second half.

    .venv/bin/python bench/steady.py FEED [--zones FILE]

Runs what `chokepoint-monitor replay --format jsonl` runs (8192-line batches through the whole pipeline,
every alert serialized to JSON) in this process, with the default configuration and, as the command,
any `MONITOR_*` overrides (`MONITOR_DECODE__DEDUP_WINDOW_S=0` turns de-duplication off, say). The first
half of the feed brings the fleet in (first sightings, lazily classified zone-grid cells); the second half is
timed alone with the process's CPU clock, which is far steadier on a shared machine than the
difference of two whole replays. Prints one JSON line: messages, cpu_s, us_per_msg, alerts.

`--without NAME` (repeatable) leaves that detector out of the engine (an aggregate such as `traffic`, or a
per-fix one such as `identity_conflict`; not `zones` or `dark`, which the engine itself leans on): the
difference of a run with and one without is the detector's own cost per message.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from pathlib import Path
from typing import Any

from monitor.config import load_settings
from monitor.feeds import iter_batches
from monitor.pipeline import Pipeline
from monitor.zones import default_zone_path, load_zone_file


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("feed", type=Path)
    ap.add_argument("--zones", type=Path, help="zone file (default: the bundled Hormuz file)")
    ap.add_argument("--without", action="append", default=[], metavar="NAME",
                    help="leave this aggregate detector out (e.g. traffic)")
    args = ap.parse_args()
    pipeline = Pipeline(load_settings(None), load_zone_file(args.zones or default_zone_path()))
    engine = pipeline.engine
    removable = {a.name for a in engine.aggregates} | {d.name for d in engine.detectors} - {"zones", "dark"}
    unknown = set(args.without) - removable
    if unknown:
        ap.error(f"--without: no detector {', '.join(sorted(unknown))} that can be left out")
    engine.aggregates = [a for a in engine.aggregates if a.name not in args.without]
    _leave_out(engine, set(args.without))
    gc.freeze()  # as the replay command does
    gc.set_threshold(100_000, 50, 100)
    batches = list(iter_batches([str(args.feed)], 8192))
    half = len(batches) // 2
    for lines in batches[:half]:
        for a in pipeline.process_lines(lines):
            a.to_json()
    before = pipeline.finish().messages
    alerts = 0
    t0 = time.process_time()
    for lines in batches[half:]:
        out = pipeline.process_lines(lines)
        alerts += len(out)
        "".join(a.to_json() + "\n" for a in out)
    cpu = time.process_time() - t0
    messages = pipeline.finish().messages - before
    print(json.dumps({"messages": messages, "cpu_s": cpu, "us_per_msg": cpu / max(1, messages) * 1e6,
                      "alerts": alerts}))
    return 0


def _leave_out(engine: object, names: set[str]) -> None:
    """Per-fix detectors out of the engine's lists (those it builds from `detectors` once, at start)."""
    e: Any = engine
    keep = [d for d in e.detectors if d.name not in names]
    if len(keep) == len(e.detectors):
        return
    kept = {id(d) for d in keep}
    e.detectors = keep
    for name in ("trust_detectors", "fix_detectors", "_static_hooks", "_loud", "_quiet"):
        setattr(e, name, [d for d in getattr(e, name) if id(d) in kept])


if __name__ == "__main__":
    raise SystemExit(main())
