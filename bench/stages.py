"""Benchmark: time the replay pipeline's stages separately on one feed file.

    .venv/bin/python bench/stages.py [FEED] [--lines N] [--batch 8192] [--repeat 3] [--no-engine]

FEED defaults to the file bench/run.py writes (bench/out/feed-2000v-1000000m-s1.nmea). The lines are read
into memory first and cut into batches as `replay` cuts them; then, each stage on its own and timed with
`time.perf_counter` (best of --repeat runs, fresh state every run, since other work on the machine only
ever adds time):
  - assemble: NmeaAssembler.push_lines (replay's settings: default dedup window and fragment timeout),
  - decode:   decode_batch on the messages of each batch,
  - engine:   Engine.process on the decoded batches (a Pipeline with default settings and zone file).
Prints microseconds per input line for each stage, and assemble + decode together.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from monitor.decode import DecodedBatch, decode_batch
from monitor.nmea import NmeaAssembler, RawMessage

DEFAULT_FEED = ROOT / "bench" / "out" / "feed-2000v-1000000m-s1.nmea"


def read_batches(path: Path, n_lines: int | None, batch: int) -> list[list[bytes]]:
    """The feed's lines as replay reads them (newline stripped), in batches of `batch` lines."""
    lines: list[bytes] = []
    with open(path, "rb") as f:
        for line in f:
            lines.append(line.rstrip(b"\r\n"))
            if n_lines is not None and len(lines) >= n_lines:
                break
    return [lines[i : i + batch] for i in range(0, len(lines), batch)]


def time_assemble(batches: list[list[bytes]]) -> tuple[float, list[list[RawMessage]]]:
    from monitor.config import load_settings

    decode = load_settings(None, env={}).decode
    asm = NmeaAssembler(fragment_timeout_s=decode.fragment_timeout_s, dedup_window_s=decode.dedup_window_s)
    t0 = time.perf_counter()
    out: list[list[RawMessage]] = [asm.push_lines(lines) for lines in batches]
    asm.flush()
    return time.perf_counter() - t0, out


def time_decode(messages: list[list[RawMessage]]) -> tuple[float, list[DecodedBatch]]:
    out: list[DecodedBatch] = []
    seq = 0
    t0 = time.perf_counter()
    for msgs in messages:
        out.append(decode_batch(msgs, seq_start=seq))
        seq += len(msgs)
    return time.perf_counter() - t0, out


def time_engine(decoded: list[DecodedBatch]) -> float:
    from monitor.config import load_settings
    from monitor.pipeline import Pipeline
    from monitor.zones import default_zone_path, load_zone_file

    pipeline = Pipeline(load_settings(None, env={}), load_zone_file(default_zone_path()))
    engine = pipeline.engine
    t0 = time.perf_counter()
    for batch in decoded:
        engine.process(batch, pipeline.clock)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("feed", nargs="?", type=Path, default=DEFAULT_FEED)
    ap.add_argument("--lines", type=int, default=None, help="only the first N lines of the feed")
    ap.add_argument("--batch", type=int, default=8192, help="lines per batch (replay uses 8192)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per stage; the best is printed")
    ap.add_argument("--no-engine", action="store_true", help="time assemble and decode only")
    args = ap.parse_args()
    if not args.feed.exists():
        sys.exit(f"{args.feed}: not found (bench/run.py writes it)")
    batches = read_batches(args.feed, args.lines, args.batch)
    n = sum(map(len, batches))
    best: dict[str, float] = {}
    messages: list[list[RawMessage]] = []
    decoded: list[DecodedBatch] = []
    for _ in range(args.repeat):
        s, messages = time_assemble(batches)
        best["assemble"] = min(best.get("assemble", s), s)
    for _ in range(args.repeat):
        s, decoded = time_decode(messages)
        best["decode"] = min(best.get("decode", s), s)
    if not args.no_engine:
        for _ in range(args.repeat):
            s = time_engine(decoded)
            best["engine"] = min(best.get("engine", s), s)
    n_msgs = sum(map(len, messages))
    print(
        f"feed: {args.feed.name}: {n} lines, {n_msgs} messages, batches of {args.batch}, "
        f"best of {args.repeat}"
    )
    for stage, s in best.items():
        print(f"  {stage:18} {s * 1e6 / n:7.3f} µs/line  ({s:.3f} s)")
    both = best["assemble"] + best["decode"]
    print(f"  {'assemble+decode':18} {both * 1e6 / n:7.3f} µs/line  ({n / both:,.0f} lines/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
