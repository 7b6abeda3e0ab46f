"""The benchmark suite of issue 5: throughput beside gpsd's C decoder, scaling, memory, live latency.

    .venv/bin/python bench/run.py [--quick] [--repeat N]
                                  [--only throughput,atsea,storm,vessels,zones,rss,latency]

(`make bench` runs it with no options.) Parts, each a separate process run on this machine:

  throughput  `chokepoint-monitor replay FEED --format jsonl` (every detector, the real zone file) and
              `gpsdecode -j < FEED` (gpsd's C decoder, decoding only) on the same simulator feed of 1M
              lines from 2,000 vessels, one after the other: msg/s, the ratio, each one's peak RSS.
  atsea       the same on bench/feedgen.py's at-sea feed (issue 10): 1M position reports from 2,000
              vessels on open water, each every 10 s, speeds spread over 0-16 kn (an eighth under 2 kn).
  storm       the same on its GNSS-storm feed: 1M position reports from 2,000 vessels, half of them
              spoofed onto land for the whole run.
  vessels     replay of 500k lines from 2k, 10k and 50k vessels: cost per message and peak RSS. Two
              costs, both in CPU time of the replay process (user + system, from wait4: other load on
              the machine moves it far less than wall time): "overall" = (CPU - start-up) / messages,
              the start-up measured by replaying the feed's first 200 lines, so it includes every
              vessel's first sighting (with 50k vessels that is one message in ten); "steady" = the
              CPU time of the feed's second half alone, per message, once the fleet is known
              (bench/steady.py: the same pipeline in one process, timed from within; best of 2 x N
              runs, taken in rounds over all the cases).
  zones       replay of one 500k-line, 2k-vessel feed against the real zone file and against copies with
              synthetic ports and anchorages added (bench/zonegen.py) up to 100, 250, 500 zones.
  rss         the 50k-vessel peak RSS (target < 500 MB); runs the 50k case alone if `vessels` is not run.
  latency     bench/latency.py: the daemon on a TCP feed at 20,000 lines/s, alerts through mosquitto;
              p50/p99 from a sentence's write to its alert's arrival, and whether the daemon keeps up.

--repeat N replays each case N times and keeps the best wall and CPU time, and takes the best of 2 x N
steady runs (default 3, 1 with --quick).
--quick shrinks every part (200k-line throughput, at-sea and storm feeds, 100k-line scaling, 5 s
latency). Feeds and zone files are cached under bench/out/. Prints one markdown table at the end and writes
it to bench/out/results.md (raw figures in bench/out/results.json). Speed is measured here, never in a test.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT / "bench"))

from zonegen import build_zone_file, real_zone_count

PARTS = ("throughput", "atsea", "storm", "vessels", "zones", "rss", "latency")
# Issue 10's goals for the ratio replay / gpsdecode -j (wall time) on bench/feedgen.py's feeds.
FEED_GOALS = {"atsea": 2.5, "storm": 2.0}
RSS_TARGET_MB = 500.0
LEGEND = (
    "µs/msg: throughput rows, wall time per message; vessels and zones rows, CPU time per message "
    "overall (start-up taken off, first sightings included) / steady (the feed's second half). "
    "Latency: from the write of a sentence to the TCP feed to the arrival of its alert's PUBLISH at a "
    "subscriber; its wall s is the send time and its msg/s the rate achieved. Peak RSS from wait4 "
    "(the daemon's: VmHWM)."
)
LATENCY_P99_TARGET_MS = 50.0


@dataclass
class Run:
    """One measured process."""

    wall_s: float
    peak_rss_mib: float
    cpu_s: float = 0.0  # user + system: unlike wall time, barely moved by other load on the machine
    messages: int = 0
    vessels: int = 0
    alerts: int = 0


@dataclass
class Row:
    part: str
    case: str
    messages: str = ""
    vessels: str = ""
    zones: str = ""
    wall_s: str = ""
    rate: str = ""
    us_per_msg: str = ""
    rss_mib: str = ""
    alerts: str = ""
    note: str = ""


# --------------------------------------------------------------------------------------------------
# Measuring


def run_measured(cmd: list[str], stdin: Path | None = None) -> tuple[float, float, float, str]:
    """Run cmd (stdout discarded); return (wall s, peak RSS MiB, user+system CPU s, stderr), the last
    three from wait4's rusage of the process."""
    errf = OUT / "stderr.txt"
    with open(errf, "wb") as ferr, (open(stdin, "rb") if stdin else open(os.devnull, "rb")) as fin:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=fin, stdout=subprocess.DEVNULL, stderr=ferr)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    err = errf.read_text(errors="replace")
    if code != 0:
        sys.exit(f"{' '.join(cmd)} failed ({code}): {err[-2000:]}")
    return wall, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime, err  # ru_maxrss: KiB on Linux


def _summary_int(err: str, key: str) -> int:
    m = re.search(rf"^\s*{key}\s+(\d+)", err, re.MULTILINE)
    return int(m.group(1)) if m else 0


def replay(feed: Path, zones: Path | None = None, repeat: int = 1, jobs: int | None = None) -> Run:
    """`chokepoint-monitor replay FEED --format jsonl [--zones FILE] [--jobs N]`: the best wall time and the
    best CPU time of `repeat` runs. CPU time is both processes' with --jobs 2 (wait4 counts the children a
    process has waited for, and the replay waits for its ingest process)."""
    cli = str(Path(sys.executable).with_name("chokepoint-monitor"))
    cmd = [cli, "replay", str(feed), "--format", "jsonl", *(["--zones", str(zones)] if zones else []),
           *(["--jobs", str(jobs)] if jobs else [])]
    best: Run | None = None
    for _ in range(repeat):
        wall, rss, cpu, err = run_measured(cmd)
        run = Run(wall, rss, cpu, _summary_int(err, "messages"), _summary_int(err, "vessels"),
                  _summary_int(err, "alerts"))
        if run.messages == 0:  # (a replay that printed no summary measured nothing)
            sys.exit(f"{' '.join(cmd)}: no summary on stderr: {err[-2000:]}")
        if best is not None:
            run.wall_s, run.cpu_s = min(run.wall_s, best.wall_s), min(run.cpu_s, best.cpu_s)
            run.peak_rss_mib = max(run.peak_rss_mib, best.peak_rss_mib)
        best = run
    assert best is not None
    return best


def startup(feed: Path, zones: Path | None = None, lines: int = 200) -> float:
    """CPU seconds of a replay of the feed's first `lines` lines: the fixed cost (imports, zone file,
    geofence index), best of three so one slow start does not skew the per-message figure."""
    head = head_of(feed, lines)
    return replay(head, zones, 3, jobs=1).cpu_s


def head_of(feed: Path, lines: int) -> Path:
    """The feed's first `lines` lines (fewer by one if that would cut a two-sentence message), cached."""
    head = OUT / f"head{lines}-{feed.name}"
    if not head.exists():
        with open(feed, "rb") as src:
            chunk = [src.readline() for _ in range(lines)]
        while chunk and re.search(rb"!..VD[MO],2,1,", chunk[-1]):
            chunk.pop()
        head.write_bytes(b"".join(chunk))
    return head


def gpsdecode(feed: Path, repeat: int = 1) -> Run:
    exe = shutil.which("gpsdecode")
    if exe is None:
        sys.exit("gpsdecode not found: apt-get install gpsd-clients (make bench does it)")
    runs = [run_measured([exe, "-j"], stdin=feed) for _ in range(repeat)]
    return Run(min(r[0] for r in runs), max(r[1] for r in runs), min(r[2] for r in runs))


def count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for _ in f)


# Bumped whenever tools/simulate.py's benchmark feed changes, so that no stale cached feed is measured.
FEED_VERSION = 2


def make_feed(vessels: int, messages: int, seed: int = 1) -> Path:
    """The simulator's benchmark feed (tools.simulate.benchmark_lines), cached under bench/out/."""
    feed = OUT / f"feed-v{FEED_VERSION}-{vessels}v-{messages}m-s{seed}.nmea"
    if not feed.exists():
        print(f"writing {feed.name} ...", file=sys.stderr, flush=True)
        tmp = feed.with_suffix(".tmp")
        subprocess.run(
            [sys.executable, "tools/simulate.py", "--vessels", str(vessels), "--messages", str(messages),
             "--seed", str(seed), str(tmp)],
            check=True, cwd=ROOT,
        )
        tmp.rename(feed)
    return feed


# Bumped whenever bench/feedgen.py's feeds change, so that no stale cached feed is measured.
FEEDGEN_VERSION = 1


def make_generated_feed(kind: str, vessels: int, messages: int, seed: int = 1) -> Path:
    """bench/feedgen.py's `atsea` or `storm` feed, cached under bench/out/. Written by a separate process:
    a child inherits its parent's peak RSS through fork and exec (wait4's ru_maxrss keeps the larger), so
    the generator's 300 MB in this process would show as every measured process's peak."""
    feed = OUT / f"{kind}-v{FEEDGEN_VERSION}-{vessels}v-{messages}m-s{seed}.nmea"
    if not feed.exists():
        print(f"writing {feed.name} ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, str(ROOT / "bench" / "feedgen.py"), kind, str(feed), "--vessels",
                        str(vessels), "--messages", str(messages), "--seed", str(seed)], check=True, cwd=ROOT)
    return feed


def make_zones(total: int) -> Path:
    """The real zone file plus synthetic zones to `total` features, checked with `zones check`."""
    path = OUT / f"zones-{total}.geojson"
    if not path.exists():
        build_zone_file(total, path)
        cli = str(Path(sys.executable).with_name("chokepoint-monitor"))
        r = subprocess.run([cli, "zones", "check", str(path)], capture_output=True, text=True, check=False)
        if r.returncode != 0:
            path.unlink()
            sys.exit(f"generated zone file failed `zones check`: {r.stdout}{r.stderr}")
    return path


# --------------------------------------------------------------------------------------------------
# Parts


def _f(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def part_throughput(messages: int, repeat: int, raw: dict[str, object]) -> list[Row]:
    vessels = 2000
    feed = make_feed(vessels, messages)
    ours, theirs, lines, ratio = versus_gpsdecode("throughput", feed, repeat, raw)
    ours_rate = ours.messages / ours.wall_s
    gps_rate = ours.messages / theirs.wall_s
    verdict = "target met" if ratio >= 1 else "below target"
    if ratio >= 2:
        verdict = "stretch met"
    return [
        Row("throughput", f"chokepoint-monitor replay ({lines:,} lines)", _f(ours.messages), _f(vessels),
            str(real_zone_count()), _f(ours.wall_s, 2), _f(ours_rate),
            _f(ours.wall_s / ours.messages * 1e6, 2), _f(ours.peak_rss_mib), _f(ours.alerts),
            "every detector, real zone file"),
        Row("throughput", "gpsdecode -j, same file", _f(ours.messages), _f(vessels), "", _f(theirs.wall_s, 2),
            _f(gps_rate), _f(theirs.wall_s / ours.messages * 1e6, 2), _f(theirs.peak_rss_mib), "",
            "decoding only"),
        Row("throughput", "ratio replay / gpsdecode",
            note=f"**{ratio:.2f}** (target ≥ 1, stretch ≥ 2): {verdict}; {ONE_PROCESS['throughput']}"),
    ]


# The notes' second half: the ratio by CPU time (both of the replay's processes counted) and the replay in
# one process (`--jobs 1`), so neither the second core nor its cost is hidden behind the headline.
ONE_PROCESS: dict[str, str] = {}


def versus_gpsdecode(part: str, feed: Path, repeat: int, raw: dict[str, object]
                     ) -> tuple[Run, Run, int, float]:
    """Replay (as a user runs it: two processes where two CPUs are free) and gpsdecode -j on the same feed,
    `repeat` times each, one after the other, then the replay in one process; the figures go into
    raw[part], the notes' second half into ONE_PROCESS[part]. Returns (replay, gpsdecode, lines, ratio by
    wall time)."""
    ours = replay(feed, repeat=repeat)
    theirs = gpsdecode(feed, repeat)
    single = replay(feed, repeat=repeat, jobs=1)
    lines = count_lines(feed)
    ratio = theirs.wall_s / ours.wall_s
    cpu_ratio = theirs.cpu_s / ours.cpu_s
    single_ratio = theirs.wall_s / single.wall_s
    raw[part] = {"feed": feed.name, "lines": lines, "replay": asdict(ours), "gpsdecode": asdict(theirs),
                 "replay_one_process": asdict(single), "ratio": ratio, "cpu_ratio": cpu_ratio,
                 "one_process_ratio": single_ratio}
    ONE_PROCESS[part] = (f"by CPU time {cpu_ratio:.2f} ({ours.cpu_s:.2f} s vs {theirs.cpu_s:.2f} s); "
                         f"in one process (--jobs 1) {single_ratio:.2f} ({single.wall_s:.2f} s)")
    print(f"{part}: {feed.name}: replay {ours.wall_s:.2f} s, gpsdecode -j {theirs.wall_s:.2f} s, "
          f"ratio {ratio:.2f}; one process {single.wall_s:.2f} s, ratio {single_ratio:.2f}",
          file=sys.stderr, flush=True)
    return ours, theirs, lines, ratio


def part_generated(kind: str, messages: int, repeat: int, raw: dict[str, object]) -> list[Row]:
    """Issue 10's at-sea or GNSS-storm feed (bench/feedgen.py), replayed beside gpsdecode -j."""
    vessels = 2000
    feed = make_generated_feed(kind, vessels, messages)
    ours, theirs, lines, ratio = versus_gpsdecode(kind, feed, repeat, raw)
    goal = FEED_GOALS[kind]
    what = ("all at sea, 0-16 kn (an eighth under 2 kn)" if kind == "atsea"
            else "half spoofed onto land all run, half at sea")
    return [
        Row(kind, f"chokepoint-monitor replay ({lines:,} lines)", _f(ours.messages), _f(vessels),
            str(real_zone_count()), _f(ours.wall_s, 2), _f(ours.messages / ours.wall_s),
            _f(ours.wall_s / ours.messages * 1e6, 2), _f(ours.peak_rss_mib), _f(ours.alerts),
            f"{what}; every detector, real zone file"),
        Row(kind, "gpsdecode -j, same file", _f(ours.messages), _f(vessels), "", _f(theirs.wall_s, 2),
            _f(ours.messages / theirs.wall_s), _f(theirs.wall_s / ours.messages * 1e6, 2),
            _f(theirs.peak_rss_mib), "", "decoding only"),
        Row(kind, "ratio replay / gpsdecode", note=f"**{ratio:.2f}** (goal ≥ {goal:g}, issue 10): "
            f"{'goal met' if ratio >= goal else 'below goal'}; {ONE_PROCESS[kind]}"),
    ]


@dataclass
class Scaling:
    """One scaling case: the whole feed replayed, the start-up cost, and the steady runs."""

    run: Run
    startup_s: float
    steady: list[float]  # µs per message of the feed's second half, one per run of bench/steady.py

    @property
    def net_us(self) -> float:
        """Per message over the whole feed, start-up taken off: includes every vessel's first sighting."""
        return max(0.0, self.run.cpu_s - self.startup_s) / self.run.messages * 1e6

    @property
    def steady_us(self) -> float:
        """Per message of the feed's second half, the fleet known by then: the best of the runs."""
        return min(self.steady)

    @property
    def extra_s(self) -> float:
        """What the whole feed cost beyond start-up and the steady cost of its messages: first sightings
        and warm-up (zone-grid cells classified on first use, memories filling)."""
        return self.run.cpu_s - self.startup_s - self.steady_us * 1e-6 * self.run.messages


# bench/steady.py with the de-duplication memory off: shows what of the growth with the fleet is that
# memory's (it holds every sentence of the last 10 s: 5,000 at 2,000 vessels, 55,000 at 50,000).
NO_DEDUP = {"MONITOR_DECODE__DEDUP_WINDOW_S": "0"}


def steady_run(feed: Path, zones: Path | None, env: dict[str, str] | None = None) -> float:
    """One run of bench/steady.py: CPU µs per message over the feed's second half."""
    cmd = [sys.executable, str(ROOT / "bench" / "steady.py"), str(feed)] + (["--zones", str(zones)] if zones else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT,
                         env={**os.environ, **(env or {})}).stdout
    return float(json.loads(out.splitlines()[-1])["us_per_msg"])


def measure_cases(cases: list[tuple[Path, Path | None]], repeat: int,
                  extra: list[tuple[Path, Path | None, dict[str, str]]] = ()) -> tuple[list[Scaling], list[float]]:
    """Every case replayed whole (best of `repeat`), then the steady runs in rounds over all the cases
    (so that the machine's drift over the minutes touches every case alike), 2 × `repeat` rounds; `extra`
    cases (with environment overrides) get steady runs only, in the same rounds (their best returned)."""
    # One process: these parts measure the CPU cost per message, which is the daemon's (one process).
    runs = [(replay(feed, zones, repeat, jobs=1), startup(feed, zones)) for feed, zones in cases]
    steady: list[list[float]] = [[] for _ in cases]
    more: list[list[float]] = [[] for _ in extra]
    for _ in range(2 * repeat):
        for i, (feed, zones) in enumerate(cases):
            steady[i].append(steady_run(feed, zones))
        for i, (feed, zones, env) in enumerate(extra):
            more[i].append(steady_run(feed, zones, env))
    return [Scaling(run, start, st) for (run, start), st in zip(runs, steady)], [min(m) for m in more]


def _scaling_row(part: str, case: str, m: Scaling, base: Scaling | None, zones: int, vessels: int,
                 base_vessels: int = 0) -> Row:
    growth = "" if base is None else (
        f"×{m.steady_us / base.steady_us:.2f} steady, ×{m.net_us / base.net_us:.2f} overall, of the first; ")
    run = m.run
    first = ""
    if part == "vessels" and base is not None and vessels > base_vessels:
        # The extra cost beyond the first case's, per vessel more: what meeting a vessel costs.
        first = f"first sighting {(m.extra_s - base.extra_s) / (vessels - base_vessels) * 1e6:.0f} µs a vessel; "
    return Row(part, case, _f(run.messages), _f(vessels), str(zones), _f(run.wall_s, 2),
               _f(run.messages / run.wall_s), f"{m.net_us:.2f} / {m.steady_us:.2f}", _f(run.peak_rss_mib),
               _f(run.alerts), f"{growth}{first}start-up {m.startup_s:.2f} s")


def part_vessels(messages: int, fleets: tuple[int, ...], repeat: int, raw: dict[str, object]) -> list[Row]:
    rows: list[Row] = []
    base: Scaling | None = None
    results = {}
    feeds = [make_feed(vessels, messages) for vessels in fleets]
    plain_cases = [(feed, None, NO_DEDUP) for feed in feeds]
    measured, plain = measure_cases([(feed, None) for feed in feeds], repeat, plain_cases)
    for vessels, m in zip(fleets, measured):
        rows.append(_scaling_row("vessels", f"{vessels:,} vessels", m, base, real_zone_count(), vessels, fleets[0]))
        base = base or m
        results[vessels] = {"run": asdict(m.run), "steady_runs_us": m.steady, "startup_s": m.startup_s,
                            "net_us_per_msg": m.net_us, "steady_us_per_msg": m.steady_us}
        print(f"vessels: {vessels}: {m.run.wall_s:.2f} s, {m.net_us:.2f} us/msg net, {m.steady_us:.2f} steady, "
              f"{m.run.peak_rss_mib:.0f} MiB", file=sys.stderr, flush=True)
    raw["vessels"] = results
    raw["vessels_without_dedup_steady_us"] = dict(zip(fleets, plain))
    rows.append(Row("vessels", "steady, de-duplication off", "", "", "", note=", ".join(
        f"{v:,} vessels {us:.2f}" + ("" if i == 0 else f" (×{us / plain[0]:.2f})")
        for i, (v, us) in enumerate(zip(fleets, plain))) + " µs/msg steady with MONITOR_DECODE__DEDUP_WINDOW_S=0 "
        "(no memory of the last 10 s of sentences)"))
    return rows


def rss_row(raw: dict[str, object]) -> Row:
    vessels = raw["vessels"]
    assert isinstance(vessels, dict)
    fleet = max(vessels)
    run = vessels[fleet]["run"]
    mb = run["peak_rss_mib"] * 1024 * 1024 / 1e6
    ok = "target met" if mb < RSS_TARGET_MB else "over target"
    return Row("rss", f"peak RSS, {run['vessels'] or fleet:,} vessels tracked", _f(run["messages"]), _f(fleet), "",
               rss_mib=_f(run["peak_rss_mib"]),
               note=f"**{mb:,.0f} MB** (target < {RSS_TARGET_MB:.0f} MB): {ok}")


def part_zones(messages: int, totals: tuple[int, ...], repeat: int, raw: dict[str, object]) -> list[Row]:
    feed = make_feed(2000, messages)
    rows: list[Row] = []
    base: Scaling | None = None
    results = {}
    files = [None if total <= real_zone_count() else make_zones(total) for total in totals]
    measured, _ = measure_cases([(feed, zones) for zones in files], repeat)
    for total, zones, m in zip(totals, files, measured):
        count = real_zone_count() if zones is None else total
        label = f"{count} zones" + (" (real file)" if zones is None else f" (+{count - real_zone_count()} synthetic)")
        rows.append(_scaling_row("zones", label, m, base, count, 2000))
        base = base or m
        results[count] = {"run": asdict(m.run), "steady_runs_us": m.steady, "startup_s": m.startup_s,
                          "net_us_per_msg": m.net_us, "steady_us_per_msg": m.steady_us}
        print(f"zones: {count}: {m.run.wall_s:.2f} s, {m.net_us:.2f} us/msg net, {m.steady_us:.2f} steady",
              file=sys.stderr, flush=True)
    raw["zones"] = results
    return rows


def part_latency(quick: bool, raw: dict[str, object]) -> list[Row]:
    from latency import describe, run_latency

    r = run_latency(duration=5.0 if quick else 20.0, warmup=2.0 if quick else 3.0)
    print(describe(r), file=sys.stderr, flush=True)
    raw["latency"] = {k: v for k, v in asdict(r).items() if k != "samples"} | {"samples": r.samples}
    p99 = "target met" if r.p99_ms < LATENCY_P99_TARGET_MS else "over target"
    case = f"{r.rate:,.0f} lines/s for {r.warmup_s:g}+{r.duration_s:g} s, TCP feed → mosquitto"
    return [
        Row("latency", case, _f(r.lines_sent), "", str(real_zone_count()), _f(r.lines_sent / r.send_rate, 1),
            _f(r.send_rate), "", _f(r.daemon_peak_rss_mib), _f(r.alerts),
            f"p50 {r.p50_ms:.1f} ms, **p99 {r.p99_ms:.1f} ms** (target < 50 ms): {p99}; max {r.max_ms:.1f} ms; "
            f"{r.vessels_alerted}/{r.first_seen_vessels} first-seen vessels alerted, {r.unmapped_alerts} unmapped"),
        Row("latency", "keeping up at that rate", note=(
            f"lag {r.lag_start_s * 1000:.0f} ms at start → {r.lag_end_s * 1000:.0f} ms at end "
            f"(max {r.lag_max_s * 1000:.0f}); queue at end {r.queue_end_lines:,.0f} lines; processed "
            f"{r.processed_at_end:,.0f} of {r.lines_sent:,} when the send ended; dropped {r.dropped:,.0f}: "
            f"**{'keeps up' if r.keeps_up else 'falls behind'}**")),
    ]


# --------------------------------------------------------------------------------------------------
# Report


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, {platform.system()}"


def commit() -> str:
    r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT,
                       check=False)
    return r.stdout.strip() or "unknown"


def table(rows: list[Row]) -> str:
    head = ["part", "case", "messages", "vessels", "zones", "wall s", "msg/s", "µs/msg", "peak RSS MiB",
            "alerts", "result"]
    # Scaling rows give two costs per message: overall (start-up off) / steady (the feed's second half).
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(["---", "---", *["---:"] * 8, "---"]) + "|"]
    for r in rows:
        cells = [r.part, r.case, r.messages, r.vessels, r.zones, r.wall_s, r.rate, r.us_per_msg, r.rss_mib,
                 r.alerts, r.note]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a smaller run of every part (under 2 minutes)")
    ap.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts: {','.join(PARTS)}")
    ap.add_argument("--repeat", type=int, help="runs per case, best time kept (default 3; 1 with --quick)")
    args = ap.parse_args()
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown or not parts:
        ap.error(f"--only: unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    OUT.mkdir(parents=True, exist_ok=True)
    # The package byte-compiled first, as pip does when it installs the wheel: a checkout run with
    # PYTHONDONTWRITEBYTECODE set would otherwise compile its modules at every start (60 ms a replay).
    compileall.compile_dir(str(ROOT / "monitor"), quiet=1)
    quick = args.quick
    throughput_msgs = 200_000 if quick else 1_000_000
    scaling_msgs = 100_000 if quick else 500_000
    fleets = (2_000, 10_000, 50_000)
    zone_totals = (real_zone_count(), 100, 250, 500)

    started = time.perf_counter()
    raw: dict[str, object] = {}
    rows: list[Row] = []
    if "throughput" in parts:
        rows += part_throughput(throughput_msgs, args.repeat, raw)
    for kind in FEED_GOALS:
        if kind in parts:
            rows += part_generated(kind, throughput_msgs, args.repeat, raw)
    if "vessels" in parts:
        rows += part_vessels(scaling_msgs, fleets, args.repeat, raw)
    if "rss" in parts:
        if "vessels" not in raw:
            part_vessels(scaling_msgs, fleets[-1:], args.repeat, raw)
        rows.append(rss_row(raw))
    if "zones" in parts:
        rows += part_zones(scaling_msgs, zone_totals, args.repeat, raw)
    if "latency" in parts:
        rows += part_latency(quick, raw)

    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = (f"{stamp}, commit {commit()}, {machine()}; "
              f"{'--quick' if quick else 'full run'}, parts: {', '.join(parts)}, "
              f"{time.perf_counter() - started:.0f} s")
    text = f"{header}\n\n{table(rows)}\n\n{LEGEND}\n"
    (OUT / "results.md").write_text(text)
    (OUT / "results.json").write_text(json.dumps({"header": header, "results": raw}, indent=1, default=str))
    print()
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
