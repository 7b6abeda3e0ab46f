"""The daemon's HTTP API: health, readiness, metrics, vessels, alerts, zones, posture and live alerts;
and the operator's map page (`GET /`, its files under `/page/`, from monitor/page/).

Only this module touches HTTP. It knows the daemon through `ServiceView` and nothing else, so it is
tested against a fake and the daemon can change behind it.

Every error is one JSON object `{"error": "...", "status": N}`, never aiohttp's text page or a
traceback: `_error_middleware` turns our own `ApiError`s, aiohttp's `HTTPException`s (unknown path,
wrong method, body too large) and unexpected exceptions into that shape, and logs the unexpected ones.

Security, in order of the request's path:
- Bind to loopback by default (HttpSettings.listen); exposing it is the reverse proxy's job.
- Bounded by design: at most `max_connections` open connections (one more gets a 503 and is closed), a
  connection that has not sent a complete request head within `idle_timeout_s` is closed (slow headers,
  idle keep-alive), request lines and headers are capped in size, bodies at MAX_BODY_BYTES, and
  `/api/vessels` answers in pages, building only the page, one page at a time, yielding to the event
  loop every VESSEL_SLICE vessels, so no request holds the daemon for more than a millisecond or two.
- Every write (`PUT /api/posture`, the operator's POSTs and DELETEs: acknowledgements, snoozes, runtime
  zones) needs `Authorization: Bearer TOKEN`, compared in constant time, checked before the body is read.
  With no token configured every write is refused with 403, not 401: 401 invites the client to retry with
  credentials, but no credential can succeed until the operator configures one, and 403 says so.
- The token and the Authorization header are never logged: the access log records method, path,
  status and duration only, and the header is read in one small function that returns a bool, so it
  is not a local of any frame a logged traceback could show.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Final, Protocol

import prometheus_client
import structlog
from aiohttp import WSCloseCode, web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest

from monitor.config import HttpSettings
from monitor.detectors import KINDS
from monitor.errors import StartupError
from monitor.operator import NotWritable, Refused
from monitor.runtimezones import NotRuntime

__all__ = ["ApiError", "HttpApi", "ServiceView"]

_log = structlog.get_logger(__name__)

KEEPALIVE_S: Final = 15.0  # SSE comment / WebSocket ping interval: under common proxies' 60 s idle cut
MAX_BODY_BYTES: Final = 64 * 1024  # small commands, and a runtime zone: a polygon drawn by hand
MAX_REASON_CHARS: Final = 500
# A request line or one header over 8 KiB (aiohttp's default, stated) or more than 64 headers (aiohttp
# allows 128; our clients send a handful) is a 400 before any handler runs.
MAX_LINE_BYTES: Final = 8190
MAX_HEADERS: Final = 64
VESSEL_SLICE: Final = 100  # vessels built and serialised between two yields to the loop (about 1 ms)
_BUSY_LINGER_S: Final = 1.0  # a refused connection is kept this long at most for the client to read the 503
_MMSI_RE: Final = re.compile(r"^[0-9]{1,10}$")
_TYPE_RE: Final = re.compile(r"^([0-9]{1,3})(?:-([0-9]{1,3}))?$")
_INT_RE: Final = re.compile(r"^[0-9]{1,9}$")
_NUMBER_RE: Final = re.compile(r"^[0-9]+(?:\.[0-9]*)?$")
_MS_ABOVE: Final = 1e11  # as the tag block's `c:` (CONTRACT): larger unix times are milliseconds
# The operator's map page (issue 11): static files shipped in the package, served at / and /page/.
PAGE_DIR: Final = Path(__file__).with_name("page")
# The page's promise is that no request leaves the host: the browser enforces it too. Inline styles are
# allowed because Leaflet positions its panes with them; no inline script, no other origin.
_PAGE_CSP: Final = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
# no-cache (revalidate each time, a 304 when unchanged): an upgraded daemon never serves yesterday's JS.
_PAGE_HEADERS: Final = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}

_dumps: Final = partial(json.dumps, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class ServiceView(Protocol):
    """What the HTTP API needs from the daemon. Every method is called on the event loop's thread."""

    def health(self) -> dict[str, Any]: ...  # liveness facts: {"status": "ok", "uptime_s": ..., ...}
    # (ready?, facts such as {"zones": true, "state_restored": true, "mqtt_connected": false, "feeds": {...}})
    def readiness(self) -> tuple[bool, dict[str, Any]]: ...
    def metrics_registry(self) -> prometheus_client.CollectorRegistry: ...
    # Vessels with an MMSI above `after`, in ascending MMSI order, each built only when the iterator
    # reaches it (the API takes a page and stops). Each: {"mmsi", "name", "imo", "callsign",
    # "ship_type", "flag", "watch": [...], "zones": [zone ids], "position": {"lat","lon","sog","cog"} |
    # None, "time": ISO | None, "last_heard": ISO | None, "dark": bool}
    def vessels(self, after: int = 0) -> Iterable[dict[str, Any]]: ...
    def vessel_count(self) -> int: ...  # how many vessels vessels() would yield from the start
    def vessel(self, mmsi: int) -> dict[str, Any] | None: ...  # the same object with more detail, or None
    # its recent track, oldest first ({"time", "lat", "lon"}), or None for an unknown vessel
    def vessel_track(self, mmsi: int) -> list[dict[str, Any]] | None: ...
    def recent_alerts(self) -> Sequence[dict[str, Any]]: ...  # CONTRACT alert dicts, oldest first (a ring)
    def zones_geojson(self) -> dict[str, Any]: ...  # the zone file as a GeoJSON FeatureCollection
    def posture(self) -> dict[str, Any]: ...  # {"level", "since", "reason", "set_by", "operator_level"}
    def traffic(self) -> dict[str, Any]: ...  # CONTRACT's traffic statistics, as `stats --format json`
    def interference(self) -> dict[str, Any]: ...  # the active interference areas, a FeatureCollection
    def roster(self) -> list[dict[str, Any]]: ...  # CONTRACT's roster rows (monitor.roster)
    # {"feeds": [{"name", "type", "format", "state", counts..., "last_error", ...}]} (monitor.livefeeds)
    def feeds(self) -> dict[str, Any]: ...
    # raises ValueError on an unknown level; returns posture()
    def set_posture(self, level: str, reason: str, set_by: str) -> dict[str, Any]: ...
    # live alerts (bounded queue; the daemon drops for a slow client)
    def subscribe(self) -> asyncio.Queue[dict[str, Any]]: ...
    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None: ...
    # The operator's actions (monitor.operator). Each takes the request's JSON object and raises Refused
    # for a bad one (400), LookupError for an unknown alert or snooze (404), NotWritable when the state
    # database cannot be written (503); nothing changes in any of those cases.
    def ack_alert(self, alert_id: str, body: dict[str, Any]) -> dict[str, Any]: ...  # the alert, acked
    def snooze_list(self) -> dict[str, Any]: ...  # {"snoozes": [in force], "count", "feed_clock": ISO}
    def add_snooze(self, body: dict[str, Any]) -> dict[str, Any]: ...  # the new snooze
    def end_snooze(self, ident: int) -> dict[str, Any]: ...  # the snooze ended
    # Runtime zones: add a hazard or corridor zone (a GeoJSON Feature), returning it as zones_geojson
    # lists it; ValueError names a problem, OSError: it could not be saved (nothing changed either way).
    def add_zone(self, feature: Any) -> dict[str, Any]: ...
    # Delete a runtime zone: KeyError unknown id, NotRuntime a zone of the zone file, OSError not saved.
    def delete_zone(self, zone_id: str) -> None: ...


class ApiError(Exception):
    """A request the API refuses: becomes `{"error": message, "status": status}` (plus `parameter`)."""

    def __init__(self, status: int, message: str, *, parameter: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.parameter = parameter
        self.headers = dict(headers or {})


def _error_response(status: int, message: str, *, parameter: str | None = None,
                    headers: Mapping[str, str] | None = None) -> web.Response:
    body: dict[str, Any] = {"error": message, "status": status}
    if parameter is not None:
        body["parameter"] = parameter
    return web.json_response(body, status=status, headers=headers, dumps=_dumps)


# Headers of an aiohttp HTTPException worth keeping on the JSON error (Allow on 405, for example);
# its Content-Type and length describe the text body we replace.
_DROP_HEADERS: Final = frozenset({"content-type", "content-length"})


@web.middleware
async def _error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return _error_response(exc.status, exc.message, parameter=exc.parameter, headers=exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # a redirect or a success raised on purpose: not an error
        headers = {k: v for k, v in exc.headers.items() if k.lower() not in _DROP_HEADERS}
        if isinstance(exc, web.HTTPMethodNotAllowed):
            allowed = ", ".join(sorted(exc.allowed_methods))
            message = f"method {exc.method} not allowed here; allowed: {allowed}"
        elif isinstance(exc, web.HTTPNotFound):
            message = f"no such resource: {request.path}"
        else:
            message = exc.reason
        return _error_response(exc.status, message, headers=headers)
    except asyncio.CancelledError:
        raise  # the client went away or the server is stopping: never swallowed
    except Exception:  # noqa: BLE001 - logged with its traceback below
        # A bug or a failing service call: log it with its traceback (the token is in no local of the
        # frames involved), answer with no detail at all.
        _log.exception("http_handler_failed", method=request.method, path=request.path)
        return _error_response(500, "internal server error")


class _AccessLogger(AbstractAccessLogger):
    """One structlog event per request; method, path (no query), status and duration, no headers."""

    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        status = response.status
        # Scrapes and polls are routine: debug. Refusals are worth seeing; failures are logged already.
        emit = _log.debug if status < 400 else _log.info if status < 500 else _log.warning
        emit("http_request", method=request.method, path=request.path, status=status,
             duration_ms=round(time * 1000, 1), remote=request.remote)


# ---- query parameters --------------------------------------------------------------------------------

def _params(request: web.Request, allowed: Iterable[str]) -> dict[str, str]:
    """The query parameters, each at most once; an unknown one is refused like an unknown config key,
    since a misspelt filter silently ignored returns everything and looks like an answer."""
    allowed = tuple(allowed)
    out: dict[str, str] = {}
    for key, value in request.query.items():
        if key not in allowed:
            known = ", ".join(allowed) if allowed else "none"
            raise ApiError(400, f"unknown query parameter {key!r} (known: {known})", parameter=key)
        if key in out:
            raise ApiError(400, f"query parameter {key!r} given more than once", parameter=key)
        out[key] = value
    return out


def _limit(value: str | None, maximum: int | None = None, setting: str = "") -> int | None:
    if value is None:
        return None
    if maximum is not None and value.isascii() and value.isdigit():
        significant = value.lstrip("0")
        if len(significant) > 9 or int(significant or "0") > maximum:  # (no int() of 5,000 digits)
            raise ApiError(400, f"limit must be at most {maximum} ({setting}), got {value[:20]!r}; "
                                "follow `next` for more", parameter="limit")
    if not _INT_RE.match(value) or int(value) < 1:
        raise ApiError(400, f"limit must be a positive integer, got {value!r}", parameter="limit")
    return int(value)


def _after(value: str | None) -> int:
    if value is None:
        return 0
    if not _MMSI_RE.match(value) or int(value) > 999_999_999:
        raise ApiError(400, f"after must be an MMSI (0 to 999999999), the `next` of the previous page; "
                            f"got {value!r}", parameter="after")
    return int(value)


def _ship_types(value: str) -> tuple[int, int]:
    m = _TYPE_RE.match(value)
    if m is None:
        raise ApiError(400, f"type must be a ship type number or a range like 80-89, got {value!r}",
                       parameter="type")
    lo = int(m.group(1))
    hi = int(m.group(2)) if m.group(2) is not None else lo
    if hi > 255 or lo > hi:
        raise ApiError(400, f"type must be 0-255 with the lower bound first, got {value!r}", parameter="type")
    return lo, hi


def _mmsi(raw: str) -> int:
    if not _MMSI_RE.match(raw) or not 1 <= int(raw) <= 999_999_999:
        raise ApiError(400, f"MMSI must be a number from 1 to 999999999, got {raw!r}", parameter="mmsi")
    return int(raw)


def _parse_time(value: str) -> float:
    """Unix seconds (milliseconds above 10^11), or ISO 8601; a time without offset is UTC."""
    if _NUMBER_RE.match(value):
        t = float(value)
        if not math.isfinite(t):
            raise ValueError(value)
        return t / 1000.0 if t > _MS_ABOVE else t
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        # An unencoded "+00:00" in a query string arrives as " 00:00": forgive that one mistake.
        if " " not in value:
            raise
        dt = datetime.fromisoformat(value.replace(" ", "+"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _alert_time(alert: Mapping[str, Any]) -> float | None:
    value = alert.get("time")
    if not isinstance(value, str):
        return None
    try:
        return _parse_time(value)
    except ValueError:
        return None


# ---- the application ---------------------------------------------------------------------------------

class HttpApi:
    """The aiohttp application and its server. `start()` binds, `stop()` drains and closes.

    `token` overrides `settings.token` (the daemon passes the environment's value); `keepalive_s` is the
    live streams' keep-alive interval and `shutdown_timeout_s` how long `stop()` waits for requests in
    flight (both shortened by tests)."""

    def __init__(self, settings: HttpSettings, service: ServiceView, *, token: str | None = None,
                 keepalive_s: float = KEEPALIVE_S, shutdown_timeout_s: float = 5.0) -> None:
        if keepalive_s <= 0 or shutdown_timeout_s <= 0:
            raise ValueError("keepalive_s and shutdown_timeout_s must be positive")
        self.settings = settings
        self._service = service
        secret = settings.token.get_secret_value() if token is None else token
        # Bytes for hmac.compare_digest, which refuses non-ASCII str; None: every PUT refused.
        self._token: bytes | None = secret.encode("utf-8") if secret else None
        self._keepalive_s = keepalive_s
        self._shutdown_timeout_s = shutdown_timeout_s
        self._runner: web.AppRunner | None = None
        self._closing: asyncio.Future[None] | None = None  # resolved when the server shuts down
        self._websockets: set[web.WebSocketResponse] = set()
        self.connections_refused = 0  # over settings.max_connections (exported by the daemon's /metrics)
        # Vessel pages are built one at a time; see _vessels.
        self._vessel_pages = asyncio.Lock()
        self._refused_logged = 0  # connections_refused when last logged
        self.app = self._make_app()

    def __repr__(self) -> str:
        # Never the token, whatever prints this object.
        return f"<HttpApi {self.settings.listen}:{self.settings.port}>"

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[_error_middleware], client_max_size=MAX_BODY_BYTES)
        r = app.router
        r.add_get("/healthz", self._healthz)
        r.add_get("/readyz", self._readyz)
        r.add_get("/metrics", self._metrics)
        r.add_get("/api/vessels", self._vessels)
        r.add_get("/api/vessels/{mmsi}", self._vessel)
        r.add_get("/api/vessels/{mmsi}/track", self._vessel_track)
        r.add_get("/api/alerts", self._alerts)
        r.add_get("/api/alerts/stream", self._alerts_sse)
        r.add_get("/api/alerts/ws", self._alerts_ws)
        r.add_get("/api/zones", self._zones)
        r.add_get("/api/posture", self._posture)
        r.add_get("/api/traffic", self._traffic)
        r.add_get("/api/interference", self._interference)
        r.add_get("/api/roster", self._roster)
        r.add_get("/api/feeds", self._feeds)
        r.add_put("/api/posture", self._put_posture)
        r.add_post("/api/alerts/{id}/ack", self._ack)
        r.add_get("/api/snoozes", self._snoozes)
        r.add_post("/api/snoozes", self._add_snooze)
        r.add_delete("/api/snoozes/{id}", self._end_snooze)
        r.add_post("/api/zones", self._post_zone)
        r.add_delete("/api/zones/{id}", self._delete_zone)
        r.add_get("/", self._page)
        r.add_get("/page/{path:.+}", self._page_asset)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def start(self) -> int:
        """Bind settings.listen:settings.port (0: a free port) and serve; return the bound port.
        Raises StartupError (naming the address) if the address cannot be bound."""
        if self._runner is not None:
            raise RuntimeError("HttpApi already started")
        runner = web.AppRunner(
            self.app,
            access_log_class=_AccessLogger,
            # The client going away cancels its handler, so a live stream unsubscribes at once instead
            # of at its next write (up to keepalive_s later).
            handler_cancellation=True,
            shutdown_timeout=self._shutdown_timeout_s,
            # aiohttp arms this timer when a connection opens and after each response, and closes the
            # connection if no complete request head has arrived when it fires; bytes trickling in do not
            # re-arm it. So it is both the keep-alive idle limit and the header timeout a slowloris
            # client meets. (A handler at work, a live stream included, is not idle.)
            keepalive_timeout=self.settings.idle_timeout_s,
            max_line_size=MAX_LINE_BYTES,
            max_field_size=MAX_LINE_BYTES,
            max_headers=MAX_HEADERS,
        )
        await runner.setup()
        site = _CappedSite(runner, self.settings.listen, self.settings.port,
                           max_connections=self.settings.max_connections, on_refused=self._refused)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise StartupError(
                f"http: cannot listen on {self.settings.listen}:{self.settings.port}: {exc.strerror or exc}"
            ) from exc
        self._runner = runner
        port = int(runner.addresses[0][1])
        _log.info("http_listening", listen=self.settings.listen, port=port)
        return port

    def _refused(self) -> None:
        self.connections_refused += 1
        # One event per 100 refusals at most: a connection flood must not become a log flood.
        if self.connections_refused - self._refused_logged >= 100 or self._refused_logged == 0:
            _log.warning("http_connections_refused", total=self.connections_refused,
                         max_connections=self.settings.max_connections)
            self._refused_logged = self.connections_refused

    async def stop(self) -> None:
        """Stop accepting, end the live streams, wait up to shutdown_timeout_s for requests in flight."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            _log.info("http_stopped")

    async def _on_startup(self, _app: web.Application) -> None:
        self._closing = asyncio.get_running_loop().create_future()

    async def _on_shutdown(self, _app: web.Application) -> None:
        # Runs after the listening socket is closed, before aiohttp waits for handlers: live streams
        # would otherwise hold stop() for the whole shutdown timeout.
        if self._closing is not None and not self._closing.done():
            self._closing.set_result(None)
        for ws in list(self._websockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")

    # ---- liveness, readiness, metrics ----------------------------------------------------------------

    async def _healthz(self, request: web.Request) -> web.Response:
        _params(request, ())
        return web.json_response(self._service.health(), dumps=_dumps)

    async def _readyz(self, request: web.Request) -> web.Response:
        _params(request, ())
        ready, facts = self._service.readiness()
        if ready:
            return web.json_response({**facts, "ready": True}, dumps=_dumps)
        # A 503 is an error like any other: the error shape, with the facts saying what is missing.
        body = {**facts, "ready": False, "error": "not ready", "status": 503}
        return web.json_response(body, status=503, dumps=_dumps)

    async def _metrics(self, request: web.Request) -> web.Response:
        _params(request, ())
        body = prometheus_client.generate_latest(self._service.metrics_registry())
        return web.Response(body=body, headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST})

    # ---- the operator's page -------------------------------------------------------------------------

    async def _page(self, request: web.Request) -> web.FileResponse:
        # No _params check: a bookmark with a stray query string still opens the page.
        return web.FileResponse(PAGE_DIR / "index.html",
                                headers={**_PAGE_HEADERS, "Content-Security-Policy": _PAGE_CSP})

    async def _page_asset(self, request: web.Request) -> web.FileResponse:
        """A file under PAGE_DIR: resolved and checked to lie inside it (no `..`, no symlink out), and
        never a dotfile; anything else is the JSON 404 of an unknown path."""
        rel = request.match_info["path"]
        root = PAGE_DIR.resolve()
        path = (root / rel).resolve()
        if (not path.is_relative_to(root) or not path.is_file()
                or any(part.startswith(".") for part in path.relative_to(root).parts)):
            raise web.HTTPNotFound
        return web.FileResponse(path, headers=_PAGE_HEADERS)

    # ---- vessels ---------------------------------------------------------------------------------------

    async def _vessels(self, request: web.Request) -> web.Response:
        """One page of vessels in MMSI order: `limit` (default vessels_page_size, at most
        vessels_page_max) after the MMSI `after`; `next` is the cursor of the following page, null at the
        end. Only the page is built: the service yields vessels in MMSI order from the cursor and the
        scan stops once the page is full or vessels_scan_max vessels were looked at (a filter matching
        few vessels: a short or empty page with a `next`). Every VESSEL_SLICE vessels the loop gets a
        turn, so concurrent requests cannot starve health checks or the pipeline."""
        q = _params(request, ("zone", "type", "watch", "limit", "after"))
        http = self.settings
        limit = _limit(q.get("limit"), http.vessels_page_max, "http.vessels_page_max")
        if limit is None:
            limit = http.vessels_page_size
        after = _after(q.get("after"))
        types = _ship_types(q["type"]) if "type" in q else None
        for name in ("zone", "watch"):
            if name in q and not q[name]:
                raise ApiError(400, f"{name} must not be empty", parameter=name)
        zone, watch = q.get("zone"), q.get("watch")
        filtered = zone is not None or watch is not None or types is not None

        def wanted(v: Mapping[str, Any]) -> bool:
            if zone is not None and zone not in (v.get("zones") or ()):
                return False
            if watch is not None and watch not in (v.get("watch") or ()):
                return False
            if types is not None:
                t = v.get("ship_type")
                if not isinstance(t, int) or not types[0] <= t <= types[1]:
                    return False
            return True

        # One page at a time: concurrent requests wait their turn (FIFO) holding nothing, instead of each
        # taking a slice at every turn of the loop, which would put twenty slices between two turns of
        # a health check or of the pipeline.
        async with self._vessel_pages:
            return await self._vessel_page(after, limit, wanted, filtered)

    async def _vessel_page(self, after: int, limit: int, wanted: Callable[[Mapping[str, Any]], bool],
                           filtered: bool) -> web.Response:
        http = self.settings
        vessels = iter(self._service.vessels(after))
        parts: list[str] = []  # the page's vessels, serialised a slice at a time
        count = examined = 0
        last: int | None = None  # the MMSI of the last vessel looked at: the cursor if we stop here
        more = True
        while True:
            page: list[dict[str, Any]] = []
            stop = min(examined + VESSEL_SLICE, http.vessels_scan_max)
            for v in vessels:
                examined += 1
                last = int(v["mmsi"])
                if wanted(v):
                    page.append(v)
                    if count + len(page) >= limit:
                        break
                if examined >= stop:
                    break
            else:
                more = False  # the service has no more vessels
            if page:
                parts.append(_dumps(page)[1:-1])  # NaN and the like raise here: a JSON 500
                count += len(page)
            if not more or count >= limit or examined >= http.vessels_scan_max:
                break
            await asyncio.sleep(0)  # the service's iterator may run on after other work: it allows that
        if more and count >= limit:
            # A full page: is there anything after it? (The vessel looked at here is built again by the
            # next page; one vessel, to spare clients a last empty page.)
            more = next(vessels, None) is not None
        # `total`, every match across all pages, when known without a full scan: always without filters,
        # and with filters when this page began at the start and reached the end.
        total = self._service.vessel_count() if not filtered else count if after == 0 and not more else None
        tail = _dumps({"count": count, "total": total, "next": last if more else None})
        body = '{"vessels":[' + ",".join(parts) + "]," + tail[1:]
        return web.Response(text=body, content_type="application/json")

    async def _vessel(self, request: web.Request) -> web.Response:
        _params(request, ())
        mmsi = _mmsi(request.match_info["mmsi"])
        vessel = self._service.vessel(mmsi)
        if vessel is None:
            raise ApiError(404, f"no vessel with MMSI {mmsi}")
        return web.json_response(vessel, dumps=_dumps)

    async def _vessel_track(self, request: web.Request) -> web.Response:
        _params(request, ())
        mmsi = _mmsi(request.match_info["mmsi"])
        track = self._service.vessel_track(mmsi)
        if track is None:
            raise ApiError(404, f"no vessel with MMSI {mmsi}")
        return web.json_response({"mmsi": mmsi, "track": track}, dumps=_dumps)

    # ---- alerts ----------------------------------------------------------------------------------------

    async def _alerts(self, request: web.Request) -> web.Response:
        q = _params(request, ("since", "kind", "limit"))
        limit = _limit(q.get("limit"))
        since: float | None = None
        if "since" in q:
            try:
                since = _parse_time(q["since"])
            except (ValueError, OverflowError, OSError):
                raise ApiError(400, f"since must be ISO 8601 or unix seconds, got {q['since']!r}",
                               parameter="since") from None
        kind = q.get("kind")
        if kind is not None and kind not in KINDS:
            raise ApiError(400, f"kind must be one of {', '.join(KINDS)}; got {kind!r}", parameter="kind")
        out = []
        for alert in self._service.recent_alerts():
            if kind is not None and alert.get("kind") != kind:
                continue
            if since is not None:
                t = _alert_time(alert)
                if t is None or t <= since:
                    continue
            out.append(alert)
        if limit is not None:
            out = out[-limit:]  # the newest `limit`, still oldest first
        return web.json_response({"alerts": out, "count": len(out)}, dumps=_dumps)

    async def _next_alert(self, queue: asyncio.Queue[dict[str, Any]]) -> dict[str, Any] | None:
        """The next live alert; None after keepalive_s without one; raises _Closing on shutdown."""
        closing = self._closing
        get = asyncio.ensure_future(queue.get())
        try:
            waits: set[asyncio.Future[Any]] = {get} if closing is None else {get, closing}
            await asyncio.wait(waits, timeout=self._keepalive_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Not yet done: cancel. Queue.get() leaves an item in the queue when cancelled, so nothing
            # is lost; a get that did complete is returned below.
            if not get.done():
                get.cancel()
        if get.done() and not get.cancelled():
            return get.result()
        if closing is not None and closing.done():
            raise _Closing
        return None

    async def _alerts_sse(self, request: web.Request) -> web.StreamResponse:
        _params(request, ())
        queue = self._service.subscribe()
        try:
            resp = web.StreamResponse(headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",  # nginx: pass events through as they come
            })
            await resp.prepare(request)
            try:
                # A first comment sends the headers now, so the client knows it is subscribed.
                await resp.write(b": subscribed\n\n")
                while True:
                    try:
                        alert = await self._next_alert(queue)
                    except _Closing:
                        break
                    if alert is None:
                        await resp.write(b": keep-alive\n\n")
                    else:
                        await resp.write(b"event: alert\ndata: " + _dumps(alert).encode() + b"\n\n")
                await resp.write_eof()
            except ConnectionError:
                pass  # the client went away between two writes: nothing to tell it
            return resp
        finally:
            self._service.unsubscribe(queue)

    async def _alerts_ws(self, request: web.Request) -> web.StreamResponse:
        _params(request, ())
        # Server pings at the keep-alive interval find dead peers; autoping answers the client's.
        ws = web.WebSocketResponse(heartbeat=self._keepalive_s)
        if not ws.can_prepare(request).ok:
            raise ApiError(400, "this is a WebSocket endpoint: send an Upgrade: websocket request")
        queue = self._service.subscribe()
        try:
            await ws.prepare(request)
            self._websockets.add(ws)
            sender = asyncio.create_task(self._ws_send(ws, queue), name="http-ws-send")
            try:
                async for _msg in ws:
                    pass  # the stream is one way; client messages are read only to see the close
            finally:
                sender.cancel()
                # asyncio.wait, not `await sender`: our own cancellation must propagate, not be eaten
                # with the sender's.
                await asyncio.wait({sender})
                if not sender.cancelled() and sender.exception() is not None:
                    _log.error("http_ws_send_failed", exc_info=sender.exception())
            return ws
        finally:
            self._websockets.discard(ws)
            self._service.unsubscribe(queue)

    async def _ws_send(self, ws: web.WebSocketResponse, queue: asyncio.Queue[dict[str, Any]]) -> None:
        try:
            while True:
                alert = await queue.get()
                await ws.send_str(_dumps(alert))
        except ConnectionError:
            await ws.close()  # ends the reader loop, which unsubscribes

    # ---- zones and posture -----------------------------------------------------------------------------

    async def _zones(self, request: web.Request) -> web.Response:
        _params(request, ())
        # RFC 7946's media type. (An aiohttp client must call resp.json(content_type=None) to read it.)
        return web.json_response(self._service.zones_geojson(), content_type="application/geo+json",
                                 dumps=_dumps)

    async def _posture(self, request: web.Request) -> web.Response:
        _params(request, ())
        return web.json_response(self._service.posture(), dumps=_dumps)

    async def _traffic(self, request: web.Request) -> web.Response:
        _params(request, ())
        return web.json_response(self._service.traffic(), dumps=_dumps)

    async def _interference(self, request: web.Request) -> web.Response:
        _params(request, ())
        return web.json_response(self._service.interference(), content_type="application/geo+json",
                                 dumps=_dumps)

    async def _roster(self, request: web.Request) -> web.Response:
        _params(request, ())
        return web.json_response(self._service.roster(), dumps=_dumps)

    async def _feeds(self, request: web.Request) -> web.Response:
        _params(request, ())
        return web.json_response(self._service.feeds(), dumps=_dumps)

    def _authorized(self, request: web.Request) -> bool:
        """Whether the request carries the configured bearer token. Kept apart, returning only a bool,
        so the header and the token never sit in a frame a logged traceback could print."""
        token = self._token
        if token is None:
            return False
        scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer":  # RFC 7235: the scheme is case-insensitive
            return False
        # surrogatepass: any str encodes, so a strange header is refused, never a 500.
        return hmac.compare_digest(given.strip().encode("utf-8", "surrogatepass"), token)

    def _require_token(self, request: web.Request, what: str) -> None:
        """403 when no token is configured (no credential can succeed), 401 without the right one. Called
        before the body is read, so an anonymous client learns nothing from validation."""
        if self._token is None:
            raise ApiError(403, f"{what} over HTTP are disabled: no token is configured "
                                "(http.token or MONITOR_HTTP__TOKEN)")
        if not self._authorized(request):
            challenge = 'Bearer realm="chokepoint-monitor"'
            if "Authorization" in request.headers:
                challenge += ', error="invalid_token"'  # RFC 6750 3.1: credentials given but wrong
            raise ApiError(401, "a valid bearer token is required", headers={"WWW-Authenticate": challenge})

    async def _json_object(self, request: web.Request, shape: str) -> dict[str, Any]:
        """The request body as a JSON object (`shape` shows the expected one in the 400); 408 when it
        trickles in slower than idle_timeout_s, 413 over MAX_BODY_BYTES."""
        try:
            # A body trickling in is bounded like a slow request head.
            async with asyncio.timeout(self.settings.idle_timeout_s):
                raw = await request.read()  # over client_max_size: HTTPRequestEntityTooLarge, a JSON 413
        except TimeoutError:
            raise ApiError(408, f"the request body did not arrive within {self.settings.idle_timeout_s:g} s "
                                "(http.idle_timeout_s)") from None
        try:
            body = json.loads(raw)
        except RecursionError:
            # Arrays or objects nested deeper than the interpreter's recursion limit (a 64 KiB body can
            # nest 32,000 deep): the parser gives up cleanly, and so do we.
            raise ApiError(400, f"the body is nested too deeply: it must be a JSON object {shape}") from None
        except ValueError:  # includes UnicodeDecodeError
            raise ApiError(400, f"the body must be a JSON object {shape}") from None
        if not isinstance(body, dict):
            raise ApiError(400, f"the body must be a JSON object {shape}")
        return body

    async def _put_posture(self, request: web.Request) -> web.Response:
        _params(request, ())
        self._require_token(request, "posture changes")
        body = await self._json_object(request, '{"level": ..., "reason": ...}')
        unknown = sorted(set(body) - {"level", "reason"})
        if unknown:
            raise ApiError(400, f"unknown field {unknown[0]!r} (known: level, reason)", parameter=unknown[0])
        level = body.get("level")
        if not isinstance(level, str) or not level:
            raise ApiError(400, "level is required: a posture level such as \"HIGH\"", parameter="level")
        reason = body.get("reason", "")
        if not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS:
            raise ApiError(400, f"reason must be a string of at most {MAX_REASON_CHARS} characters",
                           parameter="reason")
        try:
            result = self._service.set_posture(level, reason, "http")
        except ValueError as exc:
            raise ApiError(400, str(exc), parameter="level") from None
        _log.info("posture_set_over_http", level=level, reason=reason, remote=request.remote)
        return web.json_response(result, dumps=_dumps)

    # ---- the operator's actions: acknowledge, snooze ---------------------------------------------------

    async def _operator_call(self, call: Callable[[], dict[str, Any]], status: int = 200) -> web.Response:
        """Run one of the service's operator actions, its refusals turned into the API's errors."""
        try:
            result = call()
        except Refused as exc:
            raise ApiError(400, exc.message, parameter=exc.parameter) from None
        except LookupError as exc:
            raise ApiError(404, str(exc.args[0]) if exc.args else "not found") from None
        except NotWritable as exc:
            raise ApiError(503, str(exc), headers={"Retry-After": "5"}) from None
        return web.json_response(result, status=status, dumps=_dumps)

    async def _ack(self, request: web.Request) -> web.Response:
        _params(request, ())
        self._require_token(request, "acknowledgements")
        body = await self._json_object(request, '{"by": ..., "note": ...}')
        alert_id = request.match_info["id"]
        return await self._operator_call(lambda: self._service.ack_alert(alert_id, body))

    async def _snoozes(self, request: web.Request) -> web.Response:
        _params(request, ())
        return web.json_response(self._service.snooze_list(), dumps=_dumps)

    async def _add_snooze(self, request: web.Request) -> web.Response:
        _params(request, ())
        self._require_token(request, "snoozes")
        body = await self._json_object(request, '{"mmsi": ..., "kind": ..., "until": ..., "reason": ...}')
        return await self._operator_call(lambda: self._service.add_snooze(body), status=201)

    async def _end_snooze(self, request: web.Request) -> web.Response:
        _params(request, ())
        self._require_token(request, "snoozes")
        raw = request.match_info["id"]
        if not _INT_RE.match(raw):
            raise ApiError(404, f"no snooze {raw[:40]!r}: ids are positive integers")
        return await self._operator_call(lambda: self._service.end_snooze(int(raw)))

    # ---- runtime zones (POST, DELETE /api/zones) -----------------------------------------------------

    async def _post_zone(self, request: web.Request) -> web.Response:
        _params(request, ())
        self._require_token(request, "zone changes")
        feature = await self._json_object(
            request, '(a GeoJSON Feature: {"type": "Feature", "properties": {"id", "name", "kind", '
                     '"expires"}, "geometry": ...})')
        try:
            stored = self._service.add_zone(feature)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        except OSError as exc:
            raise ApiError(503, f"the zone could not be saved: {exc.strerror or exc}") from None
        _log.info("zone_added_over_http", zone=stored["properties"]["id"], remote=request.remote)
        return web.json_response(stored, status=201, content_type="application/geo+json", dumps=_dumps)

    async def _delete_zone(self, request: web.Request) -> web.Response:
        _params(request, ())
        self._require_token(request, "zone changes")
        zone_id = request.match_info["id"]
        try:
            self._service.delete_zone(zone_id)
        except KeyError:
            raise ApiError(404, f"no zone {zone_id[:80]!r}") from None
        except NotRuntime as exc:
            raise ApiError(409, str(exc)) from None
        except OSError as exc:
            raise ApiError(503, f"the change could not be saved: {exc.strerror or exc}") from None
        _log.info("zone_deleted_over_http", zone=zone_id, remote=request.remote)
        return web.Response(status=204)


class _Closing(Exception):
    """The server is shutting down: live streams end."""


_BUSY_BODY: Final = _dumps({"error": "too many connections; try again shortly", "status": 503}).encode()
_BUSY_RESPONSE: Final = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
    b"Connection: close\r\nContent-Length: " + str(len(_BUSY_BODY)).encode() + b"\r\n\r\n" + _BUSY_BODY
)


class _Busy(asyncio.Protocol):
    """A connection over max_connections: answered with a JSON 503 without reading the request, then
    closed. It lingers (reading and discarding) until the client closes or _BUSY_LINGER_S, because closing
    a socket with unread input sends a reset that can destroy the answer before the client reads it."""

    def __init__(self) -> None:
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(_BUSY_RESPONSE)
        if transport.can_write_eof():
            transport.write_eof()
        self._timer = asyncio.get_running_loop().call_later(_BUSY_LINGER_S, transport.abort)

    def data_received(self, data: bytes) -> None:
        pass  # the request goes unread

    def eof_received(self) -> bool:
        return False  # the client has closed its side: close ours

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()


class _CappedSite(web.BaseSite):
    """aiohttp's TCPSite with a cap on open connections, which aiohttp's settings lack. A site decides
    how connections are accepted (aiohttp's extension point for that); this one hands each to the
    server's protocol factory as TCPSite does, unless max_connections are open already."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, *, max_connections: int,
                 on_refused: Callable[[], None]) -> None:
        super().__init__(runner)
        self._app_runner = runner
        self._host = host
        self._port = port
        self._max = max_connections
        self._on_refused = on_refused

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        self._server = await asyncio.get_running_loop().create_server(self._protocol, self._host, self._port)

    def _protocol(self) -> asyncio.BaseProtocol:
        server = self._app_runner.server
        assert server is not None
        if len(server.connections) >= self._max:
            self._on_refused()
            return _Busy()
        return server()
