"""The HTTP API under an MMSI flood (issue 9, items 3 and 7).

    .venv/bin/python bench/http_flood.py [--vessels 100000] [--clients 20] [--duration 20] [--limit N]
                                         [--only handler,daemon]

Two parts:

`handler`: in this process, the daemon's Service (real zone file, real pipeline) hears `--vessels` distinct
MMSIs, then GET /api/vessels handlers are driven step by step (each step is what runs between two
yields to the event loop), for the default page, the largest page, filters that match often and
rarely, and for comparison the unbounded list the API served before pagination (every vessel built,
sorted and serialised in one go). Reported: the handler's total time, its longest step (how long it
holds the loop at once) and the body size.

`daemon`: `chokepoint-monitor run` with a tcp_server feed, HTTP on a free port and its default
settings; a sender pushes `--vessels` distinct MMSIs (wall-clock tag blocks), then `--clients`
concurrent clients (a separate process) page through /api/vessels (pages of `--limit`, default the
daemon's) without pause for `--duration` s
while this process polls /healthz every 50 ms. Reported: /healthz latency (p50, p99, max), the
requests served, the daemon's RSS (peak sampled VmRSS and VmHWM). Then 50 sockets send half a request
head and trickle header bytes: reported is how long until the daemon closed each (http.idle_timeout_s).
Targets: /healthz under 100 ms, RSS under 1 GB. Everything listens on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import multiprocessing.connection
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import shapely
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from monitor.config import Settings
from monitor.http import HttpApi, _dumps
from monitor.nmea import nmea_checksum
from monitor.service import Service
from monitor.zones import load_zone_file
from tools.simulate import encode_position

ZONE_FILE = ROOT / "zones" / "hormuz.geojson"
KOREAN_SHARE = 0.01  # MID 440: the default `korea` watchlist, for a filter that matches rarely
IN_REGION_SHARE = 0.2  # vessels placed in a region zone (open water), for a zone filter
_NEXT_RE = re.compile(rb'"next":(null|[0-9]+)\}$')


# ---- the flood -------------------------------------------------------------------------------------

def flood_lines(n: int, seed: int = 11) -> tuple[list[bytes], str]:
    """One position report each from n distinct MMSIs, tagged with the wall clock (ms) at call time; and
    the id of the region zone that IN_REGION_SHARE of them lie in (open water, no other zone)."""
    rng = random.Random(seed)
    zf = load_zone_file(ZONE_FILE)
    region = max((z for z in zf.zones if z.kind == "region"), key=lambda z: z.geometry.area)
    others = shapely.union_all([z.geometry.buffer(0.02) for z in zf.zones if z.kind != "region"])
    shapely.prepare(region.geometry)
    shapely.prepare(others)
    x1, y1, x2, y2 = region.geometry.bounds
    spots: list[tuple[float, float]] = []
    while len(spots) < 200:
        x, y = rng.uniform(x1, x2), rng.uniform(y1, y2)
        if shapely.contains_xy(region.geometry, x, y) and not shapely.contains_xy(others, x, y):
            spots.append((x, y))
    mmsis: set[int] = set()
    while len(mmsis) < n:
        if rng.random() < KOREAN_SHARE:
            mid = 440
        else:
            mid = rng.randrange(201, 775)
            if mid in (440, 441):
                continue
        mmsis.add(mid * 1_000_000 + rng.randrange(1_000_000))
    ms = int(time.time() * 1000)
    tag_body = f"s:flood,c:{ms}"
    tag = f"\\{tag_body}*{nmea_checksum(tag_body.encode()):02X}\\"
    lines = []
    for mmsi in mmsis:
        if rng.random() < IN_REGION_SHARE:
            lon, lat = spots[rng.randrange(len(spots))]
        else:  # the Arabian Sea, outside every zone
            lon, lat = rng.uniform(61.0, 64.0), rng.uniform(14.0, 18.0)
        payload = encode_position(1, mmsi, lon, lat, 10.0, 90.0, 90, ms // 1000 % 60)
        body = f"AIVDM,1,1,,A,{payload},0"
        lines.append(f"{tag}!{body}*{nmea_checksum(body.encode()):02X}".encode())
    return lines, region.id


# ---- part 1: the handler, in process ---------------------------------------------------------------

def drive(coro: Coroutine[Any, Any, web.Response]) -> tuple[web.Response, float, float]:
    """Run a handler coroutine to completion without an event loop, timing each step between two
    yields; return (response, total seconds, longest step). The handler awaits only asyncio.sleep(0)."""
    steps: list[float] = []
    while True:
        t = time.perf_counter()
        try:
            coro.send(None)
        except StopIteration as stop:
            steps.append(time.perf_counter() - t)
            return stop.value, sum(steps), max(steps)
        steps.append(time.perf_counter() - t)


def part_handler(n: int) -> list[dict[str, Any]]:
    settings = Settings()
    service = Service(settings, load_zone_file(ZONE_FILE), config_path=None)
    lines, region = flood_lines(n)
    t = time.perf_counter()
    for k in range(0, len(lines), 5000):
        service.pipeline.process_lines(lines[k : k + 5000], source=b"flood")
    heard = len(service.pipeline.engine.vessels)
    print(f"handler: {heard:,} vessels heard in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    api = HttpApi(settings.http, service)
    rows: list[dict[str, Any]] = []

    def case(name: str, query: str, call: Callable[[], tuple[int, float, float, Any]]) -> None:
        best = None
        for _ in range(3):
            size, total, longest, extra = call()
            if best is None or total < best[1]:
                best = (size, total, longest, extra)
        assert best is not None
        size, total, longest, extra = best
        rows.append({"case": name, "query": query, "total_ms": total * 1000,
                     "longest_step_ms": longest * 1000, "body_bytes": size, **extra})

    def paged(query: str) -> Callable[[], tuple[int, float, float, Any]]:
        def run() -> tuple[int, float, float, Any]:
            request = make_mocked_request("GET", "/api/vessels" + query)
            resp, total, longest = drive(api._vessels(request))
            body = resp.body
            assert isinstance(body, bytes)
            doc = json.loads(body)
            return len(body), total, longest, {"count": doc["count"], "next": doc["next"]}
        return run

    def unbounded() -> tuple[int, float, float, Any]:
        # What GET /api/vessels did before pagination: every vessel built, sorted and serialised at once.
        t = time.perf_counter()
        out = sorted(service.vessels(), key=lambda v: int(v["mmsi"]))
        body = _dumps({"vessels": out, "count": len(out), "total": len(out)}).encode()
        total = time.perf_counter() - t
        return len(body), total, total, {"count": len(out), "next": None}

    engine = service.pipeline.engine
    t = time.perf_counter()
    engine._tracks.remove([])  # the sorted index rebuilt whole, as after a forget or an eviction
    engine.mmsis_in_order()
    rebuild_ms = (time.perf_counter() - t) * 1000
    mid = sorted(service.pipeline.engine.vessels)[n // 2]
    case("default page (500)", "", paged(""))
    case("default page from the middle", f"?after={mid}", paged(f"?after={mid}"))
    case("largest page (5000)", "?limit=5000", paged("?limit=5000"))
    case("zone filter (20 % match)", f"?zone={region}", paged(f"?zone={region}"))
    case("watch filter (1 % match)", "?watch=korea", paged("?watch=korea"))
    case("type filter (no match)", "?type=80-89", paged("?type=80-89"))
    case("unbounded list (before)", "", unbounded)
    for r in rows:
        print(f"handler: {r['case']:<30} {r['query']:<22} total {r['total_ms']:8.1f} ms  longest step "
              f"{r['longest_step_ms']:7.2f} ms  body {r['body_bytes'] / 1e6:6.2f} MB  count {r['count']}",
              file=sys.stderr)
    print(f"handler: full rebuild of the MMSI order: {rebuild_ms:.1f} ms", file=sys.stderr)
    return [*rows, {"case": "mmsi order rebuild", "total_ms": rebuild_ms}]


# ---- part 2: the daemon ----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def get(port: int, path: str, timeout: float = 60.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def metric(port: int, name: str) -> float:
    _, body = get(port, "/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return float("nan")


def rss_kb(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = int(line.split()[1])
    return out


def _clients(port: int, clients: int, duration: float, limit: int | None,
             conn: multiprocessing.connection.Connection) -> None:
    """The flood of readers (a child process): each client pages through the vessels, following `next`
    and starting over at the end, as fast as the daemon answers."""
    import aiohttp

    async def one(session: aiohttp.ClientSession, stop: float, counts: list[int], errors: list[str]) -> None:
        after = None
        while time.monotonic() < stop:
            query = "&".join(([f"limit={limit}"] if limit else []) + ([f"after={after}"] if after else []))
            url = f"http://127.0.0.1:{port}/api/vessels" + (f"?{query}" if query else "")
            try:
                async with session.get(url) as resp:
                    body = await resp.read()
                    if resp.status != 200:
                        errors.append(f"{resp.status}")
                        continue
            except aiohttp.ClientError as exc:
                errors.append(type(exc).__name__)
                continue
            m = _NEXT_RE.search(body[-40:])
            after = None if m is None or m.group(1) == b"null" else int(m.group(1))
            counts[0] += 1
            counts[1] += len(body)

    async def main() -> tuple[int, int, list[str]]:
        counts = [0, 0]
        errors: list[str] = []
        stop = time.monotonic() + duration
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:
            await asyncio.gather(*(one(session, stop, counts, errors) for _ in range(clients)))
        return counts[0], counts[1], errors

    conn.recv()  # go
    conn.send(asyncio.run(main()))


def _slow_headers(port: int, sockets: int, limit_s: float) -> list[float]:
    """Seconds until the daemon closed each of `sockets` connections that sent half a request head and
    then one header byte every 0.5 s (inf: still open after limit_s)."""
    conns = []
    t0 = time.monotonic()
    for _ in range(sockets):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        s.setblocking(False)
        conns.append(s)
    closed: dict[int, float] = {}
    next_byte = time.monotonic() + 0.5
    while len(closed) < sockets and time.monotonic() - t0 < limit_s:
        time.sleep(0.02)
        trickle = time.monotonic() >= next_byte
        if trickle:
            next_byte += 0.5
        for i, s in enumerate(conns):
            if i in closed:
                continue
            try:
                if s.recv(4096) == b"":
                    closed[i] = time.monotonic() - t0
                    continue
            except BlockingIOError:
                pass
            except OSError:
                closed[i] = time.monotonic() - t0
                continue
            if trickle:
                try:
                    s.send(b"a")
                except OSError:
                    closed[i] = time.monotonic() - t0
    for s in conns:
        s.close()
    return [closed.get(i, float("inf")) for i in range(sockets)]


def part_daemon(n: int, clients: int, duration: float, limit: int | None, tmp: Path) -> dict[str, Any]:
    feed_port, http_port = free_port(), free_port()
    config = tmp / "monitor.toml"
    config.write_text(
        f'[zones]\nfile = "{ZONE_FILE}"\n'
        f'[mqtt]\nurl = "mqtt://127.0.0.1:{free_port()}"\n'  # no broker: alerts wait in the outbox
        f'[state]\ndirectory = "{tmp / "state"}"\n'
        f'[http]\nport = {http_port}\n'
        f'[logging]\nformat = "json"\nlevel = "warning"\n'
        f'[[feeds]]\nname = "flood"\ntype = "tcp_server"\nport = {feed_port}\n'
    )
    cli = str(Path(sys.executable).with_name("chokepoint-monitor"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONITOR_", "NOTIFY_", "WATCHDOG"))}
    log = (tmp / "daemon.log").open("wb")
    daemon = subprocess.Popen([cli, "run", "--config", str(config)], stdout=subprocess.DEVNULL, stderr=log,
                              env=env)
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    flood = ctx.Process(target=_clients, args=(http_port, clients, duration, limit, child), daemon=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if daemon.poll() is not None:
                raise RuntimeError(f"the daemon exited with {daemon.returncode}: see {tmp / 'daemon.log'}")
            try:
                if get(http_port, "/readyz", 2)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the daemon did not become ready")
            time.sleep(0.1)
        lines, _region = flood_lines(n)
        t = time.monotonic()
        with socket.create_connection(("127.0.0.1", feed_port)) as s:
            for k in range(0, len(lines), 10_000):
                s.sendall(b"\n".join(lines[k : k + 10_000]) + b"\n")
                time.sleep(0.05)  # the input queue holds 200,000 lines: no need to race it
            while metric(http_port, "chokepoint_vessels") < n and time.monotonic() - t < 120:
                time.sleep(0.25)
        vessels = metric(http_port, "chokepoint_vessels")
        heard_s = time.monotonic() - t
        _, text = get(http_port, "/metrics")
        counters = ("chokepoint_rejected_total", "chokepoint_input_dropped_total", "chokepoint_lines_total")
        lost = [ln for ln in text.decode().splitlines() if ln.startswith(counters)]
        print(f"daemon: {'; '.join(lost)}", file=sys.stderr)
        print(f"daemon: {vessels:,.0f} vessels tracked after {heard_s:.1f} s; RSS {rss_kb(daemon.pid)}",
              file=sys.stderr)
        get(http_port, "/healthz")
        idle = []
        for _ in range(20):
            t = time.perf_counter()
            get(http_port, "/healthz")
            idle.append((time.perf_counter() - t) * 1000)
        flood.start()
        parent.send("go")
        lat: list[float] = []
        peak_rss = 0
        stop = time.monotonic() + duration
        while time.monotonic() < stop:
            t = time.perf_counter()
            status, _ = get(http_port, "/healthz")
            lat.append((time.perf_counter() - t) * 1000 if status == 200 else float("inf"))
            peak_rss = max(peak_rss, rss_kb(daemon.pid).get("VmRSS", 0))
            time.sleep(0.05)
        requests, body_bytes, errors = parent.recv()
        flood.join(30)
        mem = rss_kb(daemon.pid)
        lat.sort()
        result = {
            "vessels": vessels, "clients": clients, "duration_s": duration, "requests": requests,
            "requests_per_s": requests / duration, "mb_served": body_bytes / 1e6,
            "client_errors": len(errors), "healthz_idle_p50_ms": statistics.median(idle),
            "healthz_polls": len(lat), "healthz_p50_ms": statistics.median(lat),
            "healthz_p99_ms": lat[max(0, round(0.99 * len(lat)) - 1)],
            "healthz_max_ms": lat[-1], "healthz_over_100ms": sum(x > 100 for x in lat),
            "healthz_slowest_ms": lat[-5:], "rss_peak_sampled_mib": peak_rss / 1024,
            "vm_hwm_mib": mem.get("VmHWM", 0) / 1024,
        }
        print(f"daemon: {clients} clients for {duration:.0f} s: {requests:,} pages "
              f"({requests / duration:.0f}/s, {body_bytes / 1e6:.0f} MB, {len(errors)} errors); "
              f"/healthz over {len(lat)} polls p50 {result['healthz_p50_ms']:.1f} ms, "
              f"p99 {result['healthz_p99_ms']:.1f} ms, max {result['healthz_max_ms']:.1f} ms, "
              f"{result['healthz_over_100ms']} over 100 ms "
              f"(idle p50 {result['healthz_idle_p50_ms']:.1f} ms); "
              f"RSS peak {result['rss_peak_sampled_mib']:.0f} MiB sampled, "
              f"VmHWM {result['vm_hwm_mib']:.0f} MiB", file=sys.stderr)
        settings_idle = Settings().http.idle_timeout_s
        closed = _slow_headers(http_port, 50, settings_idle + 15.0)
        result.update({"slow_header_sockets": len(closed), "slow_header_closed_min_s": min(closed),
                       "slow_header_closed_max_s": max(closed), "idle_timeout_s": settings_idle})
        print(f"daemon: 50 slow-header sockets closed after {min(closed):.1f} to {max(closed):.1f} s "
              f"(http.idle_timeout_s = {settings_idle:g})", file=sys.stderr)
        status, _ = get(http_port, "/healthz")
        result["healthz_after"] = status
        return result
    finally:
        if flood.is_alive():
            flood.terminate()
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(30)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        log.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vessels", type=int, default=100_000)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--limit", type=int, default=None, help="the clients' page size (default: the daemon's)")
    ap.add_argument("--only", default="handler,daemon")
    args = ap.parse_args()
    parts = set(args.only.split(","))
    out: dict[str, Any] = {"vessels": args.vessels}
    if "handler" in parts:
        out["handler"] = part_handler(args.vessels)
    if "daemon" in parts:
        with tempfile.TemporaryDirectory(prefix="bench-http-flood-") as tmp:
            out["daemon"] = part_daemon(args.vessels, args.clients, args.duration, args.limit,
                                        Path(tmp))
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
