"""The operator's page in Chromium: a screenshot for review, and the 5,000-vessel benchmark (issue 11).

    .venv/bin/python bench/page.py screenshot [--out bench/out/page.png]
    .venv/bin/python bench/page.py bench [--vessels 5000] [--refreshes 10]

Both start a real daemon (`chokepoint-monitor run`, the packaged Hormuz zones, a TCP feed) with a private
mosquitto on a free port, and Debian's chromium through Playwright (tests/browser.py), all on 127.0.0.1.

screenshot: the daemon is fed the recorded sample (examples/hormuz-sample.nmea.gz); a watched vessel is
selected so its details and track show; the page is written as a PNG at 1280x800.

bench: `bench/feedgen.py atsea` makes a feed of `--vessels` vessels reporting every 10 s; two report rounds
go in before the page loads, then one round every 2 s while the page polls (every 3 s), so each refresh
moves every vessel. Printed:
- vessel refresh: the page's own timings of each refresh (window.chokepoint.stats): `fetch` (every page of
  GET /api/vessels), `apply` (model, markers, list), `paint` (data in hand to the next frame drawn, the
  canvas redraw included); median and max over `--refreshes` refreshes;
- panning: requestAnimationFrame deltas while the map is dragged with the mouse (three sweeps, each about
  2 s, with the canvas redraw at each drag's end): median, p95, max, and the share of frames over 33 ms.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser import PageDaemon, chromium, open_page, sample_lines, wait_until
from tests.mqtt_helpers import Broker, find_mosquitto

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
ROUND_S = 10  # bench/feedgen.py: every vessel reports once per 10 s of feed time


def _broker(tmp: Path) -> Broker:
    executable = find_mosquitto()
    if executable is None:
        raise SystemExit("mosquitto is not installed: run `make debs`")
    broker = Broker(executable, tmp / "mosquitto")
    broker.start()
    return broker


def screenshot(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        broker = _broker(tmp)
        daemon = PageDaemon(tmp, broker.url, prefix="screenshot")
        try:
            daemon.start()
            lines = sample_lines()
            daemon.send(lines)
            daemon.wait_processed(len(lines), timeout=120)
            with chromium() as browser:
                context, page, rec = open_page(browser, daemon.url)
                # A watched vessel (the sample's Korean tankers are on the default `korea` watchlist), so
                # the picture shows the details card and a track.
                watched = [v for v in daemon.all_vessels() if v["watch"] and v["position"]]
                if watched:
                    page.evaluate("m => window.chokepoint.model.select(m)", watched[0]["mmsi"])
                page.wait_for_timeout(1500)
                out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out))
                context.close()
            if rec.foreign():
                raise SystemExit(f"the page asked other hosts: {rec.foreign()[:5]}")
            print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out} "
                  f"({len(rec.requests)} requests, all to 127.0.0.1)")
        finally:
            daemon.stop()
            broker.stop()


def _feed(vessels: int, rounds: int) -> list[bytes]:
    path = OUT / f"page-atsea-{vessels}v-{rounds}r.nmea"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(ROOT / "bench" / "feedgen.py"), "atsea", str(path),
                        "--vessels", str(vessels), "--messages", str(vessels * rounds)], check=True)
    return path.read_bytes().splitlines()


def _summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.1f} ms, max {max(values):.1f} ms"


PAN_PROBE = """() => {
  const deltas = [];
  let last = performance.now();
  window.__frames = deltas;
  window.__framesOn = true;
  const tick = (t) => {
    deltas.push(t - last);
    last = t;
    if (window.__framesOn) requestAnimationFrame(tick);
  };
  requestAnimationFrame((t) => { last = t; requestAnimationFrame(tick); });
}"""


def bench(vessels: int, refreshes: int) -> None:
    rounds = refreshes * 2 + 12
    lines = _feed(vessels, rounds)
    per_round = vessels
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        broker = _broker(tmp)
        daemon = PageDaemon(tmp, broker.url, prefix="pagebench")
        stop = threading.Event()
        try:
            daemon.start()
            daemon.send(lines[: 2 * per_round])
            daemon.wait_processed(2 * per_round, timeout=60)

            def feeder() -> None:
                # One report round every 2 s: each 3 s poll finds every vessel moved.
                for r in range(2, rounds):
                    if stop.wait(2.0):
                        return
                    daemon.send(lines[r * per_round : (r + 1) * per_round])

            with chromium() as browser:
                context, page, rec = open_page(browser, daemon.url)
                wait_until(lambda: page.evaluate("window.chokepoint.stats.vessels") >= vessels, 60,
                           f"{vessels} vessels on the page")
                page.evaluate("window.chokepoint.view.fit('all')")
                thread = threading.Thread(target=feeder, daemon=True)
                thread.start()
                samples: list[dict[str, Any]] = []
                seen = page.evaluate("window.chokepoint.stats.refreshes")
                deadline = time.monotonic() + refreshes * 6 + 30
                while len(samples) < refreshes and time.monotonic() < deadline:
                    page.wait_for_timeout(100)
                    s = page.evaluate("({...window.chokepoint.stats})")
                    if s["refreshes"] > seen:
                        seen = s["refreshes"]
                        samples.append(s)
                stop.set()
                thread.join()
                # Panning: three mouse sweeps across the map, each about 120 moves 16 ms apart.
                page.evaluate(PAN_PROBE)
                for sweep in range(3):
                    x0, y0 = 200, 300 + 60 * sweep
                    page.mouse.move(x0, y0)
                    page.mouse.down()
                    for i in range(120):
                        dx = i * 4 if sweep % 2 == 0 else -i * 4
                        page.mouse.move(x0 + 250 + dx, y0 + (i % 20))
                        page.wait_for_timeout(16)
                    page.mouse.up()
                    page.wait_for_timeout(300)
                frames = page.evaluate("(() => { window.__framesOn = false; return window.__frames; })()")
                context.close()
        finally:
            stop.set()
            daemon.stop()
            broker.stop()
    frames = [f for f in frames if f > 0]
    slow = sum(f > 33.4 for f in frames)
    print(f"page benchmark: {vessels} vessels, {len(samples)} refreshes, Chromium headless 1280x800")
    if samples:
        for key, what in (("fetchMs", "fetch (GET /api/vessels, every page)"),
                          ("applyMs", "apply (model, markers, list)"),
                          ("paintMs", "to the next frame painted")):
            print(f"  vessel refresh {what:38} {_summary([s[key] for s in samples])}")
    if frames:
        frames.sort()
        p95 = frames[int(0.95 * (len(frames) - 1))]
        print(f"  panning frame time: median {statistics.median(frames):.1f} ms, p95 {p95:.1f} ms, "
              f"max {frames[-1]:.1f} ms, {slow} of {len(frames)} frames over 33 ms")
    if rec.foreign():
        raise SystemExit(f"the page asked other hosts: {rec.foreign()[:5]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    shot = sub.add_parser("screenshot", help="a PNG of the page against the sample feed")
    shot.add_argument("--out", type=Path, default=OUT / "page.png")
    b = sub.add_parser("bench", help="vessel refresh and panning frame times with many vessels")
    b.add_argument("--vessels", type=int, default=5000)
    b.add_argument("--refreshes", type=int, default=10)
    args = ap.parse_args()
    if args.command == "screenshot":
        screenshot(args.out)
    else:
        bench(args.vessels, args.refreshes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
