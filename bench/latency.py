"""Live latency benchmark: sentence on the daemon's TCP feed -> alert PUBLISH at a subscriber.

    .venv/bin/python bench/latency.py [--rate 20000] [--duration 20] [--new-per-s 100] [--warmup 3]

Starts Debian's mosquitto on a free port of 127.0.0.1 and `chokepoint-monitor run` with a generated
config (tcp_server feed, that broker, a temporary state directory, HTTP on a free port, the real zone
file), subscribes to `{prefix}/alerts/#`, and pushes a synthetic feed at a sustained `--rate` lines/s for
`--warmup` + `--duration` seconds, in chunks every few milliseconds, each chunk's tag block carrying the
current wall time in milliseconds (so the daemon's live timers see a live feed).

The feed: a background fleet moving at 12 kn on open water, away from every tracked zone, reporting every
two seconds (no alerts); and, after the warm-up, `--new-per-s` vessels a second first seen inside a port
or an anchorage. Each such vessel sends exactly one sentence, and every alert it gets (`zone_enter` with
`first_seen`, one per zone it lies in) carries that sentence's MMSI and its tag-block time to the
millisecond; the sender records when it wrote that sentence to the socket. So each alert maps to exactly
one sentence, and latency = (the alert's arrival at the subscriber) - (the sentence's write), both on
CLOCK_MONOTONIC. The sender is a separate process so its pacing does not delay the subscriber's clock.

Whether the daemon keeps up: /metrics is scraped twice a second for chokepoint_processing_lag_seconds,
chokepoint_input_queue_lines, chokepoint_lines_total and chokepoint_input_dropped_total.
Everything listens on 127.0.0.1 only and the run stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiomqtt
import shapely

from monitor.nmea import nmea_checksum
from monitor.zones import load_zone_file
from tests.mqtt_helpers import Broker, find_mosquitto, free_port
from tools.simulate import encode_position

ZONE_FILE = ROOT / "zones" / "hormuz.geojson"
# Zone kinds that raise zone_enter (CONTRACT: not region, gate, land).
TRACKED = frozenset({"strait", "tss_lane", "separation_zone", "port", "anchorage", "territorial_sea"})
BACKGROUND_INTERVAL_S = 2.0  # a class A ship above 23 kn reports every 2 s
BACKGROUND_SPEED_KN = 12.0
CHUNK_S = 0.005  # the sender writes what is due every 5 ms
METRES_PER_DEG = 111_195.0


@dataclass
class LatencyResult:
    """What one live run measured (times in milliseconds unless named otherwise)."""

    rate: float  # lines/s asked for
    duration_s: float  # measured window (after the warm-up)
    warmup_s: float
    lines_sent: int
    send_rate: float  # lines/s achieved over the whole send
    max_send_behind_ms: float  # the worst moment the sender was behind its schedule
    first_seen_vessels: int  # sentences that must each raise at least one alert
    expected_alerts: int  # zone_enter alerts those sentences must raise (one per tracked zone)
    alerts: int  # alerts mapped to their sentence
    vessels_alerted: int  # first-seen vessels with at least one alert received
    unmapped_alerts: int  # alerts received that map to no sentence of the plan (should be 0)
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    lag_start_s: float  # chokepoint_processing_lag_seconds, median over the first quarter of the window
    lag_end_s: float  # ... over the last quarter
    lag_max_s: float
    queue_end_lines: float  # chokepoint_input_queue_lines when the sender stopped
    processed_at_end: float  # chokepoint_lines_total when the sender stopped
    processed_final: float  # ... after the drain
    dropped: float  # chokepoint_input_dropped_total
    daemon_peak_rss_mib: float  # VmHWM of the daemon process
    daemon_cpu_s: float  # user+system CPU of the daemon over the whole run
    keeps_up: bool
    samples: list[tuple[float, float, float, float]] = field(default_factory=list)  # (t, lag, queue, lines)

    @property
    def p99_ok(self) -> bool:
        return self.p99_ms < 50.0


# --------------------------------------------------------------------------------------------------
# The feed plan


@dataclass
class Plan:
    sentences: list[bytes]  # one per slot, "!AIVDM...*CS\n", without tag block
    probes: list[tuple[int, int]]  # (slot, mmsi) of the first-seen sentences, slot order
    expected_alerts: int


def _tag(ms: int) -> bytes:
    body = f"s:bench,c:{ms}"
    return f"\\{body}*{nmea_checksum(body.encode('ascii')):02X}\\".encode("ascii")


def _sentence(payload: str, channel: str) -> bytes:
    body = f"AIVDM,1,1,,{channel},{payload},0"
    return f"!{body}*{nmea_checksum(body.encode('ascii')):02X}\n".encode("ascii")


def _sample_points(
    rng: random.Random, area: Any, n: int, avoid: Any | None = None
) -> list[tuple[float, float]]:
    """n random points of `area` (prepared) outside `avoid` (prepared), by rejection in batches."""
    x0, y0, x1, y1 = area.bounds
    out: list[tuple[float, float]] = []
    while len(out) < n:
        xs = [rng.uniform(x0, x1) for _ in range(4096)]
        ys = [rng.uniform(y0, y1) for _ in range(4096)]
        inside = shapely.contains_xy(area, xs, ys)
        if avoid is not None:
            inside &= ~shapely.intersects_xy(avoid, xs, ys)
        out += [(x, y) for x, y, ok in zip(xs, ys, inside.tolist(), strict=True) if ok]
    return out[:n]


def make_plan(rate: int, warmup_s: float, duration_s: float, new_per_s: int, seed: int = 5) -> Plan:
    """Slots at `rate` lines/s: background reports round-robin, first-seen probes spread evenly after the
    warm-up (see module doc). Positions of moving vessels follow each slot's scheduled time."""
    rng = random.Random(seed)
    zf = load_zone_file(ZONE_FILE)
    regions = shapely.union_all([z.geometry for z in zf.zones if z.kind == "region"])
    # Open water: 2 km (far more than 25 s at 12 kn) from every zone other than the regions.
    others = shapely.union_all([z.geometry.buffer(0.02) for z in zf.zones if z.kind != "region"])
    harbours = [z.geometry.buffer(-0.003) for z in zf.zones if z.kind in ("port", "anchorage")]
    harbours = [h for h in harbours if not h.is_empty]
    shapely.prepare(regions)
    shapely.prepare(others)
    tracked = [z.geometry for z in zf.zones if z.kind in TRACKED]
    for g in tracked:
        shapely.prepare(g)

    total = round(rate * (warmup_s + duration_s))
    fleet = round(rate * BACKGROUND_INTERVAL_S)
    spots = _sample_points(rng, regions, fleet, others)
    speed_deg = BACKGROUND_SPEED_KN * 1852.0 / 3600.0 / METRES_PER_DEG
    courses = [rng.uniform(0.0, 360.0) for _ in range(fleet)]
    epoch = int(time.time())
    sentences: list[bytes] = []
    for slot in range(total):
        i = slot % fleet
        t = slot / rate
        lon0, lat0 = spots[i]
        c = math.radians(courses[i])
        lat = lat0 + speed_deg * t * math.cos(c)
        lon = lon0 + speed_deg * t * math.sin(c) / math.cos(math.radians(lat0))
        payload = encode_position(
            1, 538_000_000 + i, lon, lat, BACKGROUND_SPEED_KN, courses[i], round(courses[i]) % 360,
            (epoch + int(t)) % 60,
        )
        sentences.append(_sentence(payload, "AB"[slot & 1]))

    # Probes: vessels first seen inside a port or an anchorage, evenly over the measured window.
    n_probes = round(new_per_s * duration_s)
    first = round(rate * warmup_s)
    span = total - first
    probes: list[tuple[int, int]] = []
    expected = 0
    per_harbour = math.ceil(n_probes / len(harbours))
    points = []
    for harbour in harbours:
        shapely.prepare(harbour)
        points.append(_sample_points(rng, harbour, per_harbour))
    for k in range(n_probes):
        lon, lat = points[k % len(harbours)][k // len(harbours)]
        mmsi = 636_000_000 + k
        slot = first + int((k + 0.5) * span / n_probes)
        second = (epoch + int(slot / rate)) % 60
        sentences[slot] = _sentence(encode_position(1, mmsi, lon, lat, 0.0, 0.0, 0, second, status=1), "A")
        probes.append((slot, mmsi))
        expected += sum(bool(shapely.contains_xy(g, lon, lat)) for g in tracked)
    return Plan(sentences, probes, expected)


# --------------------------------------------------------------------------------------------------
# The sender (a child process)


def _sender(conn: multiprocessing.connection.Connection, port: int, rate: int, warmup_s: float,
            duration_s: float, new_per_s: int) -> None:
    """Build the plan, say ready, wait for go, then send it paced; send back what was sent when."""
    plan = make_plan(rate, warmup_s, duration_s, new_per_s)
    conn.send(("ready", len(plan.sentences), len(plan.probes), plan.expected_alerts))
    conn.recv()  # go
    sentences = plan.sentences
    probe_slots = [slot for slot, _ in plan.probes]
    probe_mmsi = [mmsi for _, mmsi in plan.probes]
    records: list[tuple[int, int, float]] = []  # (mmsi, tag ms, monotonic time of the write)
    total = len(sentences)
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sent = 0
    next_probe = 0
    last_ms = 0
    behind = 0.0
    start = time.monotonic()
    tick = 0
    while sent < total:
        now = time.monotonic()
        due = min(total, int((now - start) * rate) + 1)
        if due > sent:
            behind = max(behind, now - start - sent / rate)
            ms = max(int(time.time() * 1000), last_ms + 1)  # one tag time per chunk, strictly rising
            last_ms = ms
            tag = _tag(ms)
            data = b"".join([tag + s for s in sentences[sent:due]])
            t_write = time.monotonic()
            sock.sendall(data)
            while next_probe < len(probe_slots) and probe_slots[next_probe] < due:
                records.append((probe_mmsi[next_probe], ms, t_write))
                next_probe += 1
            sent = due
        tick += 1
        pause = start + tick * CHUNK_S - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    elapsed = time.monotonic() - start
    sock.close()
    conn.send(("done", sent, elapsed, behind, records))
    conn.close()


# --------------------------------------------------------------------------------------------------
# The run


def _write_config(tmp: Path, broker_url: str, prefix: str, feed_port: int, http_port: int) -> Path:
    config = tmp / "monitor.toml"
    config.write_text(
        f'[zones]\nfile = "{ZONE_FILE}"\n'
        f'[mqtt]\nurl = "{broker_url}"\nprefix = "{prefix}"\n'
        f'[state]\ndirectory = "{tmp / "state"}"\n'
        f'[http]\nport = {http_port}\n'
        f'[logging]\nformat = "json"\n'
        f'[[feeds]]\nname = "bench"\ntype = "tcp_server"\nport = {feed_port}\n'
    )
    return config


def _metrics(http_port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
    return out


def _proc_status(pid: int) -> dict[str, int]:
    """VmHWM (kB) from /proc/PID/status, and user+system CPU ticks from /proc/PID/stat."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                out["hwm_kb"] = int(line.split()[1])
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        out["cpu_ticks"] = int(fields[11]) + int(fields[12])
    except OSError:
        pass
    return out


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def _alert_ms(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1000)


def _measure(args: argparse.Namespace, tmp: Path, log: IO[bytes]) -> LatencyResult:
    """Start the broker, the daemon and the sender, run the measurement, stop all three."""
    mosquitto = find_mosquitto()
    if mosquitto is None:
        raise SystemExit("mosquitto is not installed: apt-get install mosquitto (make debs does it)")
    broker = Broker(mosquitto, tmp / "broker")
    broker.start()
    feed_port, http_port = free_port(), free_port()
    prefix = f"bench{os.getpid()}"
    config = _write_config(tmp, broker.url, prefix, feed_port, http_port)
    cli = str(Path(sys.executable).with_name("chokepoint-monitor"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONITOR_", "NOTIFY_", "WATCHDOG"))}
    daemon = subprocess.Popen([cli, "run", "--config", str(config)], stdout=subprocess.DEVNULL, stderr=log,
                              env=env)
    # fork, before any event loop or thread exists here: the child only builds lists and writes a socket.
    ctx = multiprocessing.get_context("fork")
    parent_conn, child_conn = ctx.Pipe()
    sender = ctx.Process(target=_sender, name="bench-sender", daemon=True,
                         args=(child_conn, feed_port, args.rate, args.warmup, args.duration, args.new_per_s))
    sender.start()
    try:
        _wait_ready(daemon, http_port)
        return asyncio.run(_run(args, broker, daemon, http_port, prefix, parent_conn))
    finally:
        if sender.is_alive():
            sender.terminate()
        sender.join(5)
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(20)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        broker.stop()


def _wait_ready(daemon: subprocess.Popen[bytes], http_port: int, timeout: float = 60.0) -> None:
    """Until /readyz answers 200; RuntimeError if the daemon exits or takes longer than `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        if daemon.poll() is not None:
            raise RuntimeError(
                f"the daemon exited with code {daemon.returncode} (bench/out/latency-daemon.log)"
            )
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the daemon did not become ready in {timeout:.0f} s")
        time.sleep(0.1)


async def _run(args: argparse.Namespace, broker: Broker, daemon: subprocess.Popen[bytes], http_port: int,
               prefix: str, conn: multiprocessing.connection.Connection) -> LatencyResult:
    loop = asyncio.get_running_loop()
    # The plan is built in the sender while the daemon starts.
    _, _, n_probes, expected_alerts = await loop.run_in_executor(None, conn.recv)
    received: list[tuple[float, bytes]] = []

    class Recording(asyncio.Queue[aiomqtt.Message]):
        # Called by paho as the PUBLISH is read off the socket: the arrival time, not when we get to it.
        def put_nowait(self, item: aiomqtt.Message) -> None:
            received.append((time.monotonic(), bytes(item.payload)))

    samples: list[tuple[float, float, float, float]] = []
    dropped = 0.0
    async with aiomqtt.Client(broker.host, broker.port, queue_type=Recording, timeout=10) as client:
        await client.subscribe(f"{prefix}/alerts/#", qos=1)
        drain = asyncio.create_task(_consume(client))
        t0 = time.monotonic()
        conn.send("go")
        done = loop.run_in_executor(None, conn.recv)
        while not done.done():
            m = await asyncio.to_thread(_metrics, http_port)
            samples.append((time.monotonic() - t0, m.get("chokepoint_processing_lag_seconds", math.nan),
                            m.get("chokepoint_input_queue_lines", math.nan),
                            m.get("chokepoint_lines_total", 0.0)))
            await asyncio.wait([done], timeout=0.5)
            if time.monotonic() - t0 > args.warmup + args.duration + 60:
                raise RuntimeError("the sender did not finish in time")
        _, sent, elapsed, behind, records = done.result()
        at_end = await asyncio.to_thread(_metrics, http_port)
        samples.append((time.monotonic() - t0, at_end.get("chokepoint_processing_lag_seconds", math.nan),
                        at_end.get("chokepoint_input_queue_lines", math.nan),
                        at_end.get("chokepoint_lines_total", 0.0)))
        by_key = {(mmsi, ms): t for mmsi, ms, t in records}
        probe_mmsis = {mmsi for mmsi, _, _ in records}
        # Drain: wait (bounded) until every probe vessel has its alert and the daemon has read every line.
        until = time.monotonic() + 30
        final = at_end
        while time.monotonic() < until:
            final = await asyncio.to_thread(_metrics, http_port)
            got = {json.loads(p).get("mmsi") for _, p in received}
            if probe_mmsis <= got and final.get("chokepoint_lines_total", 0.0) >= sent:
                break
            await asyncio.sleep(0.25)
        await asyncio.sleep(0.5)  # a last alert of a vessel in two zones may be in flight
        dropped = final.get("chokepoint_input_dropped_total", 0.0)
        status = _proc_status(daemon.pid)
        drain.cancel()
        await asyncio.gather(drain, return_exceptions=True)

    latencies: list[float] = []
    unmapped = 0
    alerted: set[int] = set()
    for t_recv, payload in received:
        alert = json.loads(payload)
        key = (alert.get("mmsi"), _alert_ms(alert["time"]))
        t_write = by_key.get(key)
        if t_write is None or alert.get("kind") != "zone_enter":
            unmapped += 1
            continue
        latencies.append((t_recv - t_write) * 1000.0)
        alerted.add(key[0])
    if not latencies:
        raise RuntimeError(f"no alert mapped to a sentence ({len(received)} received)")
    window = [s for s in samples if args.warmup <= s[0] <= args.warmup + args.duration]
    quarter = max(1, len(window) // 4)
    lags = [s[1] for s in window if not math.isnan(s[1])]
    lag_start = statistics.median([s[1] for s in window[:quarter]]) if window else math.nan
    lag_end = statistics.median([s[1] for s in window[-quarter:]]) if window else math.nan
    queue_end = at_end.get("chokepoint_input_queue_lines", math.nan)
    processed_end = at_end.get("chokepoint_lines_total", 0.0)
    send_rate = sent / elapsed
    # Keeping up: the sender held the rate, nothing was dropped, at the end of the send less than a
    # quarter second of lines was waiting, the lag did not grow, and every line was processed.
    keeps_up = (
        send_rate >= 0.98 * args.rate
        and dropped == 0
        and queue_end <= 0.25 * args.rate
        and lag_end <= max(0.1, 2 * lag_start)
        and final.get("chokepoint_lines_total", 0.0) >= sent
    )
    ticks = os.sysconf("SC_CLK_TCK")
    return LatencyResult(
        rate=args.rate, duration_s=args.duration, warmup_s=args.warmup, lines_sent=sent,
        send_rate=send_rate, max_send_behind_ms=behind * 1000.0, first_seen_vessels=n_probes,
        expected_alerts=expected_alerts, alerts=len(latencies), vessels_alerted=len(alerted),
        unmapped_alerts=unmapped, p50_ms=_percentile(latencies, 50), p90_ms=_percentile(latencies, 90),
        p99_ms=_percentile(latencies, 99), max_ms=max(latencies), lag_start_s=lag_start, lag_end_s=lag_end,
        lag_max_s=max(lags) if lags else math.nan, queue_end_lines=queue_end, processed_at_end=processed_end,
        processed_final=final.get("chokepoint_lines_total", 0.0), dropped=dropped,
        daemon_peak_rss_mib=status.get("hwm_kb", 0) / 1024.0, daemon_cpu_s=status.get("cpu_ticks", 0) / ticks,
        keeps_up=keeps_up, samples=samples,
    )


async def _consume(client: aiomqtt.Client) -> None:
    # Messages are recorded by the queue class; iterating only keeps aiomqtt's reader going.
    async for _ in client.messages:
        pass


def run_latency(rate: int = 20_000, duration: float = 20.0, warmup: float = 3.0, new_per_s: int = 100,
                out_dir: Path | None = None) -> LatencyResult:
    """Run the live benchmark once (see module doc) and return what it measured."""
    args = argparse.Namespace(rate=rate, duration=duration, warmup=warmup, new_per_s=new_per_s)
    out_dir = out_dir or ROOT / "bench" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp, \
            open(out_dir / "latency-daemon.log", "wb") as log:
        return _measure(args, Path(tmp), log)


def describe(r: LatencyResult) -> str:
    """A few lines for the console."""
    lines = [
        (f"sent {r.lines_sent:,} lines at {r.send_rate:,.0f}/s (asked {r.rate:,.0f}/s; "
         f"sender at most {r.max_send_behind_ms:.1f} ms behind schedule)"),
        (f"alerts: {r.alerts} mapped to their sentence (expected {r.expected_alerts}), "
         f"{r.vessels_alerted}/{r.first_seen_vessels} first-seen vessels, {r.unmapped_alerts} unmapped"),
        f"latency ms: p50 {r.p50_ms:.1f}  p90 {r.p90_ms:.1f}  p99 {r.p99_ms:.1f}  max {r.max_ms:.1f}",
        (f"lag s: start {r.lag_start_s:.3f}  end {r.lag_end_s:.3f}  max {r.lag_max_s:.3f}; queue at end "
         f"{r.queue_end_lines:.0f} lines; processed {r.processed_at_end:,.0f} at end of send, "
         f"{r.processed_final:,.0f} after drain; dropped {r.dropped:.0f}"),
        (f"daemon: peak RSS {r.daemon_peak_rss_mib:.0f} MiB, CPU {r.daemon_cpu_s:.1f} s; "
         f"keeps up: {r.keeps_up}"),
    ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, default=20_000, help="lines per second (default 20000)")
    ap.add_argument("--duration", type=float, default=20.0, help="measured seconds after the warm-up")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds of background traffic first")
    ap.add_argument("--new-per-s", type=int, default=100, help="first-seen vessels per second")
    ap.add_argument("--json", type=Path, help="also write the result as JSON here")
    a = ap.parse_args()
    r = run_latency(a.rate, a.duration, a.warmup, a.new_per_s)
    print(describe(r))
    if a.json:
        a.json.write_text(json.dumps(asdict(r), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
