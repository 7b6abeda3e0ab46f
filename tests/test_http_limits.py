"""The HTTP API's bounds (issue 9): /api/vessels pages, slow and idle connections, the connection cap,
nested and oversized bodies; and the live feeds' discarded lines in /metrics.

Behaviours only: how fast a page is built is measured by bench/http_flood.py, never here."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from monitor.config import FeedSettings, HttpSettings, Settings, load_settings
from monitor.errors import ConfigError
from monitor.http import HttpApi
from monitor.livefeeds import FeedStats, run_feed
from monitor.service import Service, parse_posture_command
from monitor.zones import load_zone_file
from tests.helpers import position_lines, static_lines, write_zones
from tests.test_http import TOKEN, FakeService, _auth, _error

PAGE, PAGE_MAX, SCAN_MAX = 100, 300, 900


def _http(**kw: Any) -> HttpSettings:
    values: dict[str, Any] = {"port": 0, "vessels_page_size": PAGE, "vessels_page_max": PAGE_MAX,
                              "vessels_scan_max": SCAN_MAX, **kw}
    return HttpSettings(**values)


def _fleet(n: int, seed: int = 9) -> list[int]:
    """n distinct MMSIs, about one in ten Korean (MID 440: the default `korea` watchlist)."""
    rng = random.Random(seed)
    out: set[int] = set()
    while len(out) < n:
        mid = 440 if rng.random() < 0.1 else rng.choice((538, 636, 311, 477))
        out.add(mid * 1_000_000 + rng.randrange(1_000_000))
    return sorted(out)


class _Notifier:
    def notify(self, _state: str) -> None:
        pass


@pytest.fixture(autouse=True)
def _no_sdnotify(monkeypatch: pytest.MonkeyPatch) -> None:
    # sdnotify's notifier opens a socket and, without NOTIFY_SOCKET, drops it unclosed (a
    # ResourceWarning, an error here); these tests build the daemon object without running it.
    monkeypatch.setattr("monitor.service.sdnotify.SystemdNotifier", _Notifier)


@pytest.fixture(scope="module")
def zone_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_zones(tmp_path_factory.mktemp("zones") / "z.geojson")


def _service(zone_path: Path, mmsis: list[int], settings: Settings | None = None) -> Service:
    """The real daemon object with these vessels heard just now: the first of every three inside the
    toy strait, the rest on open water outside every zone; every fifth one a tanker (ship type 80)."""
    svc = Service(settings or Settings(http=_http()), load_zone_file(zone_path), config_path=None)
    _hear(svc, mmsis)
    return svc


def _hear(svc: Service, mmsis: list[int]) -> None:
    now = time.time()
    lines: list[bytes] = []
    for k, mmsi in enumerate(mmsis):
        lon, lat = (56.5, 25.7) if k % 3 == 0 else (61.0, 15.0 + k * 1e-4)
        lines += position_lines(mmsi, lon, lat, now)
        if k % 5 == 0:
            lines += static_lines(mmsi, now, f"SHIP {k}", ship_type=80)
    svc.pipeline.process_lines(lines, source=b"test")


@pytest_asyncio.fixture
async def api_of() -> AsyncIterator[Any]:
    """Start an HttpApi on a free port for a service; everything started is stopped at the end."""
    started: list[HttpApi] = []

    async def start(service: Any, settings: HttpSettings | None = None) -> str:
        api = HttpApi(settings or _http(), service, token=TOKEN)
        started.append(api)
        return f"http://127.0.0.1:{await api.start()}"

    yield start
    for api in started:
        await api.stop()


async def _pages(session: aiohttp.ClientSession, base: str, query: str,
                 after: int | None = None) -> list[dict[str, Any]]:
    """Every page of /api/vessels?query (from the cursor `after`), following `next` until it is null."""
    pages: list[dict[str, Any]] = []
    while True:
        url = f"{base}/api/vessels?{query}" + (f"&after={after}" if after is not None else "")
        async with session.get(url) as resp:
            assert resp.status == 200
            body = await resp.json()
        assert body["count"] == len(body["vessels"])
        pages.append(body)
        after = body["next"]
        if after is None:
            return pages
        assert len(pages) < 1000, "pagination does not end"


# ---- /api/vessels pages -----------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_pages_cover_every_vessel_once_in_mmsi_order(zone_path: Path, api_of: Any) -> None:
    """Following `next` from the first page lists every vessel exactly once, in MMSI order; each page
    holds the default page size (the last the rest), and `total` counts every vessel."""
    fleet = _fleet(1050)
    base = await api_of(_service(zone_path, fleet))
    async with aiohttp.ClientSession() as session:
        pages = await _pages(session, base, "")
    seen = [v["mmsi"] for p in pages for v in p["vessels"]]
    assert seen == fleet
    assert [p["count"] for p in pages] == [PAGE] * 10 + [50]
    assert {p["total"] for p in pages} == {1050}
    assert [p["next"] for p in pages[:-1]] == [p["vessels"][-1]["mmsi"] for p in pages[:-1]]


@pytest.mark.asyncio
async def test_a_full_last_page_says_there_is_no_next(zone_path: Path, api_of: Any) -> None:
    """When the vessels end exactly at the end of a page, that page's `next` is already null."""
    base = await api_of(_service(zone_path, _fleet(2 * PAGE)))
    async with aiohttp.ClientSession() as session:
        pages = await _pages(session, base, f"limit={PAGE}")
    assert [p["count"] for p in pages] == [PAGE, PAGE]


@pytest.mark.asyncio
@pytest.mark.parametrize(("query", "wanted"), [
    ("watch=korea", lambda k, mmsi: mmsi // 1_000_000 == 440),
    ("zone=strait", lambda k, mmsi: k % 3 == 0),
    ("type=80-89", lambda k, mmsi: k % 5 == 0),
    ("type=80&watch=korea&zone=strait", lambda k, mmsi: k % 15 == 0 and mmsi // 1_000_000 == 440),
])
async def test_filtered_pages_cover_every_match_once(zone_path: Path, api_of: Any, query: str,
                                                     wanted: Any) -> None:
    """With filters, following `next` lists every matching vessel exactly once, in MMSI order. A request
    looks at no more than vessels_scan_max vessels: where matches are rare a page is short or empty but
    still has a `next`, and `total` is null until one request has seen them all."""
    fleet = _fleet(2500)
    base = await api_of(_service(zone_path, fleet))
    async with aiohttp.ClientSession() as session:
        pages = await _pages(session, base, query)
    expected = [mmsi for k, mmsi in enumerate(fleet) if wanted(k, mmsi)]
    assert expected, "the fleet has no match: the test proves nothing"
    assert [v["mmsi"] for p in pages for v in p["vessels"]] == expected
    # No request looked at more than SCAN_MAX vessels: between its cursor and its `next`.
    after = 0
    for p in pages[:-1]:
        assert sum(1 for m in fleet if after < m <= p["next"]) <= SCAN_MAX
        after = p["next"]
    assert all(p["total"] is None for p in pages)
    if len(expected) < PAGE:
        assert any(p["next"] is not None and p["count"] < PAGE for p in pages), "rare matches: short pages"


@pytest.mark.asyncio
async def test_filtered_total_known_when_one_page_holds_every_match(zone_path: Path, api_of: Any) -> None:
    """A filtered list that fits one page from the start reports its exact `total` and no `next`."""
    fleet = _fleet(200)
    base = await api_of(_service(zone_path, fleet))
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/api/vessels?zone=strait&limit={PAGE_MAX}") as resp:
            body = await resp.json()
    assert body["next"] is None and body["total"] == body["count"] == len(fleet[::3])


@pytest.mark.asyncio
async def test_cursor_starts_after_the_given_mmsi(zone_path: Path, api_of: Any) -> None:
    """after=MMSI lists the vessels above it, whether or not that MMSI is a vessel; after the last one
    the list is empty with no `next`."""
    fleet = _fleet(300)
    base = await api_of(_service(zone_path, fleet))
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/api/vessels?after={fleet[41]}&limit=5") as resp:
            body = await resp.json()
        assert [v["mmsi"] for v in body["vessels"]] == fleet[42:47] and body["next"] == fleet[46]
        async with session.get(f"{base}/api/vessels?after={fleet[41] + 1}&limit=5") as resp:
            assert [v["mmsi"] for v in (await resp.json())["vessels"]] == fleet[42:47]
        async with session.get(f"{base}/api/vessels?after={fleet[-1]}") as resp:
            body = await resp.json()
        assert body["vessels"] == [] and body["next"] is None and body["total"] == 300


@pytest.mark.asyncio
async def test_vessels_heard_while_paging_are_listed_once(zone_path: Path, api_of: Any) -> None:
    """Vessels first heard between two pages appear once, on a later page, if their MMSI lies above the
    cursor; a vessel forgotten meanwhile is simply absent. No vessel is listed twice."""
    fleet = _fleet(600)
    svc = _service(zone_path, fleet[::2])
    base = await api_of(svc)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/api/vessels") as resp:
            first = await resp.json()
        _hear(svc, fleet[1::2])  # added: half below the cursor, half above
        cursor = first["next"]
        rest = await _pages(session, base, "", after=cursor)
    seen = [v["mmsi"] for v in first["vessels"]] + [v["mmsi"] for p in rest for v in p["vessels"]]
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen)
    assert [m for m in seen if m > cursor] == [m for m in fleet if m > cursor]


@pytest.mark.asyncio
@pytest.mark.parametrize("limit", [str(PAGE_MAX + 1), "1000000000", "9" * 5000])
async def test_limit_over_the_maximum_is_400(api_of: Any, limit: str) -> None:
    """A `limit` above http.vessels_page_max is refused with a 400 naming `limit` and the maximum; the
    maximum itself is accepted."""
    base = await api_of(FakeService())
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/api/vessels?limit={limit}") as resp:
            body = await _error(resp, 400)
        assert body["parameter"] == "limit" and str(PAGE_MAX) in body["error"]
        async with session.get(f"{base}/api/vessels?limit={PAGE_MAX}") as resp:
            assert resp.status == 200


@pytest.mark.asyncio
@pytest.mark.parametrize("after", ["x", "-1", "1000000000", "1.5", "", "12345678901"])
async def test_bad_cursor_is_400(api_of: Any, after: str) -> None:
    """An `after` that is not an MMSI (0 to 999999999) is a 400 naming `after`."""
    base = await api_of(FakeService())
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/api/vessels?after={after}") as resp:
            body = await _error(resp, 400)
    assert body["parameter"] == "after"


def test_mmsi_order_follows_additions_and_removals() -> None:
    """The track table's MMSI order (what /api/vessels pages through) always equals the sorted vessel
    keys: after vessels heard for the first time, after vessels forgotten or evicted (the table's rows
    removed), and after a removed vessel heard again."""
    from monitor.engine import _Tracks

    rng = random.Random(3)
    tracks = _Tracks()
    vessels: set[int] = set()
    for step in range(400):
        action = rng.random()
        if action < 0.6 or not vessels:
            for _ in range(rng.randrange(1, 50)):
                mmsi = rng.randrange(100_000_000, 1_000_000_000)
                tracks.add(mmsi)
                vessels.add(mmsi)
        else:
            gone = rng.sample(sorted(vessels), min(len(vessels), rng.randrange(1, 5)))
            tracks.remove(gone)
            vessels -= set(gone)
            if action > 0.9:  # one of them heard again
                tracks.add(gone[0])
                vessels.add(gone[0])
        assert tracks.sorted_mmsis().tolist() == sorted(vessels), step


# ---- connections: slow headers, idle keep-alive, the cap --------------------------------------------

async def _closed_by_server(reader: asyncio.StreamReader, within_s: float) -> float:
    """The time.monotonic() at which the server closed the connection (EOF or reset); fails (TimeoutError)
    if it is still open after `within_s`."""
    deadline = time.monotonic() + within_s
    try:
        while await asyncio.wait_for(reader.read(65536), deadline - time.monotonic()):
            pass
    except ConnectionResetError:
        pass
    return time.monotonic()


@pytest.mark.asyncio
async def test_slow_header_connections_are_closed_after_the_idle_timeout(api_of: Any) -> None:
    """Sockets that send part of a request head and then trickle header bytes are all closed by the
    server within http.idle_timeout_s (the trickle does not extend it); a normal request still works."""
    idle = 0.5
    base = await api_of(FakeService(), _http(idle_timeout_s=idle))
    port = int(base.rsplit(":", 1)[1])
    t0 = time.monotonic()
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(20)]
    for _, writer in conns:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        await writer.drain()

    async def trickle() -> None:
        while True:
            await asyncio.sleep(0.1)
            for _, writer in conns:
                if not writer.is_closing():
                    writer.write(b"a")

    task = asyncio.create_task(trickle())
    try:
        closed = await asyncio.gather(*(_closed_by_server(r, idle + 2.0) for r, _ in conns))
    finally:
        task.cancel()
        for _, writer in conns:
            writer.close()
    # Each was closed at its own timeout: not before `idle` after it opened, and not long after.
    assert min(closed) - t0 >= idle * 0.9
    assert max(closed) - t0 < idle + 2.0
    async with aiohttp.ClientSession() as session, session.get(base + "/healthz") as resp:
        assert resp.status == 200


@pytest.mark.asyncio
async def test_idle_keepalive_connection_is_closed_after_the_idle_timeout(api_of: Any) -> None:
    """A keep-alive connection that sends nothing after its response is closed after the idle timeout;
    a connection that never sends a byte likewise."""
    idle = 0.4
    base = await api_of(FakeService(), _http(idle_timeout_s=idle))
    port = int(base.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    silent_reader, silent_writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        length = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:"))
                      .split(b":")[1])
        await reader.readexactly(length)
        answered = time.monotonic()
        assert await _closed_by_server(reader, idle + 2.0) - answered >= idle * 0.5
        await _closed_by_server(silent_reader, idle + 2.0)
    finally:
        writer.close()
        silent_writer.close()


@pytest.mark.asyncio
async def test_connections_over_the_cap_get_503_and_are_closed(api_of: Any) -> None:
    """With http.max_connections open, one more connection is answered with the JSON 503 and closed,
    counted in connections_refused; once one closes, a new connection is served again."""
    api_settings = _http(max_connections=3, idle_timeout_s=30.0)
    fake = FakeService()
    api = HttpApi(api_settings, fake, token=TOKEN)
    port = await api.start()
    try:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
        runner = api._runner
        assert runner is not None and runner.server is not None
        deadline = time.monotonic() + 3.0
        while len(runner.server.connections) < 3:  # the server side has accepted all three
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 3.0)  # to EOF: the server closed it
        writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503")
        assert json.loads(body) == {"error": "too many connections; try again shortly", "status": 503}
        assert api.connections_refused == 1
        _, first = held.pop()
        first.close()
        await first.wait_closed()
        deadline = time.monotonic() + 3.0
        while True:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(), 3.0)
            writer.close()
            if answer.startswith(b"HTTP/1.1 200") or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)  # the server may not have seen the close yet
        assert answer.startswith(b"HTTP/1.1 200")
        for _, w in held:
            w.close()
    finally:
        await api.stop()


# ---- bodies -------------------------------------------------------------------------------------------

@pytest.mark.asyncio
@pytest.mark.parametrize("body", [
    b"[" * 30_000 + b"]" * 30_000,
    b'{"level": "HIGH", "reason": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
    b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
])
async def test_deeply_nested_json_is_400_not_500(api_of: Any, body: bytes) -> None:
    """A JSON body nested tens of thousands deep is a 400 saying so, never a 500, and is not applied."""
    fake = FakeService()
    base = await api_of(fake)
    async with aiohttp.ClientSession() as session:
        async with session.put(base + "/api/posture", data=body, headers=_auth()) as resp:
            err = await _error(resp, 400)
    assert "nested" in err["error"]
    assert fake.set_attempts == []


@pytest.mark.asyncio
async def test_oversized_body_is_413_before_parsing(api_of: Any) -> None:
    """A body over the 64 KiB limit is a 413, whatever it holds (here deeply nested JSON)."""
    fake = FakeService()
    base = await api_of(fake)
    async with aiohttp.ClientSession() as session:
        async with session.put(base + "/api/posture", data=b"[" * 100_000 + b"]" * 100_000,
                               headers=_auth()) as resp:
            await _error(resp, 413)
    assert fake.set_attempts == []


@pytest.mark.asyncio
async def test_slow_body_is_408(api_of: Any) -> None:
    """A posture body that does not arrive within http.idle_timeout_s is a 408, not a request held open."""
    idle = 0.3
    fake = FakeService()
    base = await api_of(fake, _http(idle_timeout_s=idle))
    port = int(base.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"PUT /api/posture HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer " + TOKEN.encode() + b"\r\nContent-Length: 40\r\n\r\n{\"level\"")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), idle + 3.0)
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 408")
    assert fake.set_attempts == []


def test_mqtt_posture_command_nested_deeply_is_refused() -> None:
    """A posture/set payload nested too deeply is refused as not JSON (ValueError), never RecursionError."""
    with pytest.raises(ValueError, match="not JSON"):
        parse_posture_command(b"[" * 100_000 + b"]" * 100_000)


# ---- live feeds: overlong lines in /metrics ----------------------------------------------------------

def _metric(svc: Service, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    from prometheus_client import generate_latest

    text = generate_latest(svc.registry).decode()
    out: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


@pytest.mark.asyncio
async def test_overlong_feed_lines_are_counted_in_metrics(zone_path: Path) -> None:
    """Lines over 1,024 bytes on a live feed are discarded and counted per feed in /metrics as
    chokepoint_feed_skipped_total{reason="line_too_long"}, next to the lines delivered."""
    svc = Service(Settings(http=_http()), load_zone_file(zone_path), config_path=None)
    feed = FeedSettings(name="rx", type="udp", host="127.0.0.1", port=0, reconnect_max_s=0.2)
    stats = svc.feed_stats["rx"] = FeedStats("rx", "udp")
    got: list[bytes] = []
    task = asyncio.create_task(run_feed(feed, lambda _name, lines: got.extend(lines), stats))
    try:
        deadline = time.monotonic() + 5.0
        while stats.bound_port is None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        line = position_lines(440000001, 61.0, 15.0, time.time())[0]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"X" * 1025 + b"\n" + line, ("127.0.0.1", stats.bound_port))
            s.sendto(b"Y" * 5000, ("127.0.0.1", stats.bound_port))
        while len(got) < 1 or stats.skipped.get("line_too_long", 0) < 2:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert got == [line]
    skipped = _metric(svc, "chokepoint_feed_skipped_total")
    assert skipped == {(("feed", "rx"), ("reason", "line_too_long"), ("type", "udp")): 2.0}
    assert _metric(svc, "chokepoint_feed_lines_total") == {(("feed", "rx"), ("type", "udp")): 1.0}


def test_feed_skipped_counter_is_exported_at_zero(zone_path: Path) -> None:
    """Before any overlong line the counter exists at 0, so a rate() over it works from the start."""
    svc = Service(Settings(http=_http()), load_zone_file(zone_path), config_path=None)
    svc.feed_stats["rx"] = FeedStats("rx", "tcp")
    assert _metric(svc, "chokepoint_feed_skipped_total") == {
        (("feed", "rx"), ("reason", "line_too_long"), ("type", "tcp")): 0.0}


# ---- settings and the unit file --------------------------------------------------------------------

@pytest.mark.parametrize(("env", "named"), [
    ({"MONITOR_HTTP__VESSELS_PAGE_SIZE": "6000"}, "vessels_page_size"),
    ({"MONITOR_HTTP__VESSELS_SCAN_MAX": "100"}, "vessels_scan_max"),
    ({"MONITOR_HTTP__IDLE_TIMEOUT_S": "0"}, "idle_timeout_s"),
    ({"MONITOR_HTTP__IDLE_TIMEOUT_S": "nan"}, "idle_timeout_s"),
    ({"MONITOR_HTTP__MAX_CONNECTIONS": "0"}, "max_connections"),
])
def test_http_limits_are_validated(env: dict[str, str], named: str) -> None:
    """Page sizes out of order (page <= max <= scan), a non-positive or non-finite timeout and a zero
    connection cap are configuration errors naming the key."""
    with pytest.raises(ConfigError, match=named):
        load_settings(None, env=env)


def test_unit_file_descriptor_limit_leaves_room_for_the_connection_cap() -> None:
    """The unit's LimitNOFILE exceeds the default connection cap with room for feeds, broker and state."""
    unit = (Path(__file__).resolve().parents[1] / "systemd" / "chokepoint-monitor.service").read_text()
    limits = [int(line.split("=", 1)[1]) for line in unit.splitlines() if line.startswith("LimitNOFILE=")]
    assert len(limits) == 1
    assert limits[0] >= HttpSettings().max_connections + 1024


@pytest.mark.asyncio
@pytest.mark.parametrize("head", [
    b"GET /healthz?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(100)) + b"\r\n",
])
async def test_oversized_request_heads_are_refused(api_of: Any, head: bytes) -> None:
    """A request line or header over 8 KiB, or more than 64 headers, is a 4xx and the connection closed."""
    base = await api_of(FakeService())
    reader, writer = await asyncio.open_connection("127.0.0.1", int(base.rsplit(":", 1)[1]))
    try:
        writer.write(head)
        answer = await asyncio.wait_for(reader.read(), 5.0)
    finally:
        writer.close()
    # (aiohttp answers these itself, before the application, in plain text.)
    assert answer.split(b" ", 2)[1] in (b"400", b"413", b"414", b"431"), answer[:80]


def test_refused_connections_are_counted_in_metrics(zone_path: Path) -> None:
    """The daemon's /metrics exports the HTTP API's refused connections as a counter."""
    svc = Service(Settings(http=_http()), load_zone_file(zone_path), config_path=None)
    assert _metric(svc, "chokepoint_http_connections_refused_total") == {}  # no HTTP API: no counter
    svc.http = HttpApi(svc.settings.http, svc)
    svc.http.connections_refused = 3
    assert _metric(svc, "chokepoint_http_connections_refused_total") == {(): 3.0}
