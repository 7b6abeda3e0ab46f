"""The HTTP API against a real server on a free port, with a fake daemon behind the ServiceView protocol."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import prometheus_client
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from monitor.config import HttpSettings
from monitor.detectors import KINDS
from monitor.errors import StartupError
from monitor.http import HttpApi, ServiceView
from monitor.operator import NotWritable, Refused

TOKEN = "s3cret-token-for-tests"
LEVELS = ("NORMAL", "ELEVATED", "HIGH", "CRITICAL")


def _vessel(mmsi: int, ship_type: int | None, zones: list[str], watch: list[str]) -> dict[str, Any]:
    return {
        "mmsi": mmsi, "name": f"SHIP {mmsi}", "imo": None, "callsign": None, "ship_type": ship_type,
        "flag": None, "watch": watch, "zones": zones,
        "position": {"lat": 26.5, "lon": 56.3, "sog": 10.0, "cog": 90.0},
        "time": "2025-06-15T15:06:40Z", "last_heard": "2025-06-15T15:06:40Z", "dark": False,
    }


def _alert(n: int, kind: str, time_iso: str) -> dict[str, Any]:
    return {
        "schema": 1, "id": f"alert-{n}", "kind": kind, "severity": "info", "posture": "NORMAL",
        "time": time_iso, "mmsi": 440123456, "vessel": None, "zone": None, "position": None, "details": {},
    }


class FakeService:
    """A ServiceView with canned data that records what the API asked of it."""

    def __init__(self) -> None:
        # Kept in no order; vessels() yields them in MMSI order, as the protocol says.
        self.vessel_list = [
            _vessel(440000003, 80, ["hormuz", "tss-in"], ["korea"]),
            _vessel(538000001, 70, ["hormuz"], []),
            _vessel(440000001, 84, [], ["korea"]),
            _vessel(636000002, None, ["bandar-abbas"], []),
            _vessel(311000009, 89, ["tss-in"], []),
        ]
        self.alerts = [
            _alert(1, "zone_enter", "2025-06-15T10:00:00Z"),
            _alert(2, "dark", "2025-06-15T11:00:00Z"),
            _alert(3, "zone_enter", "2025-06-15T12:00:00.500Z"),
            _alert(4, "transit", "2025-06-15T13:00:00Z"),
        ]
        self.ready = True
        self._posture = {"level": "NORMAL", "since": "2025-06-15T00:00:00Z", "reason": "start",
                         "set_by": "config", "operator_level": "NORMAL"}
        self.set_attempts: list[tuple[str, str, str]] = []  # every call, accepted or not
        self.registry = prometheus_client.CollectorRegistry()
        counter = prometheus_client.Counter("monitor_alerts", "Alerts raised", ["kind"],
                                            registry=self.registry)
        counter.labels(kind="dark").inc(3)
        self.queues: list[asyncio.Queue[dict[str, Any]]] = []
        self.unsubscribed: list[asyncio.Queue[dict[str, Any]]] = []
        self.failing: set[str] = set()  # names of methods that raise, to provoke 500s
        self.zone_calls: list[tuple[str, Any]] = []  # runtime zones (tests/test_http_zones.py)
        self.zone_error: Exception | None = None  # raised by add_zone and delete_zone if set

    def _maybe_fail(self, name: str) -> None:
        if name in self.failing:
            raise RuntimeError(f"injected failure in {name}: /secret/internal/path")

    def health(self) -> dict[str, Any]:
        self._maybe_fail("health")
        return {"status": "ok", "uptime_s": 12.5}

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        self._maybe_fail("readiness")
        return self.ready, {"zones": True, "state_restored": True, "mqtt_connected": self.ready}

    def metrics_registry(self) -> prometheus_client.CollectorRegistry:
        self._maybe_fail("metrics_registry")
        return self.registry

    def vessels(self, after: int = 0) -> Iterable[dict[str, Any]]:
        self._maybe_fail("vessels")
        return iter(sorted((v for v in self.vessel_list if v["mmsi"] > after), key=lambda v: v["mmsi"]))

    def vessel_count(self) -> int:
        return len(self.vessel_list)

    def vessel(self, mmsi: int) -> dict[str, Any] | None:
        self._maybe_fail("vessel")
        for v in self.vessel_list:
            if v["mmsi"] == mmsi:
                return {**v, "destination": "FUJAIRAH"}
        return None

    def vessel_track(self, mmsi: int) -> list[dict[str, Any]] | None:
        self._maybe_fail("vessel_track")
        if all(v["mmsi"] != mmsi for v in self.vessel_list):
            return None
        return [{"time": "2025-06-20T00:00:00Z", "lat": 26.0, "lon": 56.0},
                {"time": "2025-06-20T00:01:00Z", "lat": 26.01, "lon": 56.02}]

    def recent_alerts(self) -> Sequence[dict[str, Any]]:
        self._maybe_fail("recent_alerts")
        return list(self.alerts)

    def zones_geojson(self) -> dict[str, Any]:
        self._maybe_fail("zones_geojson")
        return {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"id": "hormuz", "name": "Strait of Hormuz", "kind": "strait"},
             "geometry": {"type": "Polygon", "coordinates": [[[56, 26], [57, 26], [57, 27], [56, 26]]]}}]}

    def posture(self) -> dict[str, Any]:
        self._maybe_fail("posture")
        return dict(self._posture)

    def set_posture(self, level: str, reason: str, set_by: str) -> dict[str, Any]:
        self.set_attempts.append((level, reason, set_by))
        self._maybe_fail("set_posture")
        if level.upper() not in LEVELS:
            raise ValueError(f"unknown posture level {level!r}")
        self._posture = {"level": level.upper(), "since": "2025-06-15T16:00:00Z", "reason": reason,
                         "set_by": set_by, "operator_level": level.upper()}
        return dict(self._posture)

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=100)
        self.queues.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self.unsubscribed.append(queue)

    def add_zone(self, feature: Any) -> dict[str, Any]:
        self.zone_calls.append(("add", feature))
        if self.zone_error is not None:
            raise self.zone_error
        return {**feature, "properties": {**feature["properties"], "runtime": True}}

    def delete_zone(self, zone_id: str) -> None:
        self.zone_calls.append(("delete", zone_id))
        if self.zone_error is not None:
            raise self.zone_error

    # The operator's actions: `operator_error`, when set, is what each raises (tests/test_operator.py and
    # tests/test_live.py test the real ones).
    operator_error: Exception | None = None

    def _operator(self, result: dict[str, Any]) -> dict[str, Any]:
        if self.operator_error is not None:
            raise self.operator_error
        return result

    def ack_alert(self, alert_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._operator({"id": alert_id, "ack": {**body, "time": "2026-12-04T22:00:00Z"}})

    def snooze_list(self) -> dict[str, Any]:
        return {"snoozes": [], "count": 0, "feed_clock": "2026-12-04T22:00:00Z"}

    def add_snooze(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._operator({"id": 1, **body})

    def end_snooze(self, ident: int) -> dict[str, Any]:
        return self._operator({"id": ident})


def _typecheck(fake: FakeService) -> ServiceView:
    return fake  # mypy proves the fake satisfies the protocol the daemon implements


@dataclass
class Server:
    api: HttpApi
    fake: FakeService
    base: str
    session: aiohttp.ClientSession


async def _start(fake: FakeService, *, token: str | None = TOKEN, settings: HttpSettings | None = None,
                 keepalive_s: float = 15.0) -> tuple[HttpApi, int]:
    api = HttpApi(settings or HttpSettings(port=0), _typecheck(fake), token=token, keepalive_s=keepalive_s)
    return api, await api.start()


@pytest_asyncio.fixture
async def server() -> AsyncIterator[Server]:
    fake = FakeService()
    api, port = await _start(fake)
    async with aiohttp.ClientSession() as session:
        yield Server(api, fake, f"http://127.0.0.1:{port}", session)
    await api.stop()


async def _error(resp: aiohttp.ClientResponse, status: int) -> dict[str, Any]:
    """Assert the response is the API's JSON error shape with this status; return the body."""
    assert resp.status == status
    assert resp.content_type == "application/json"
    text = await resp.text()
    assert "Traceback" not in text
    body: dict[str, Any] = json.loads(text)
    assert isinstance(body["error"], str) and body["error"]
    assert body["status"] == status
    assert set(body) <= {"error", "status", "parameter"}
    return body


async def _wait_for(condition: Callable[[], bool], within_s: float = 3.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


# ---- liveness, readiness, metrics --------------------------------------------------------------------

@pytest.mark.asyncio
async def test_healthz_returns_service_health(server: Server) -> None:
    """GET /healthz answers 200 with the service's liveness facts."""
    async with server.session.get(server.base + "/healthz") as resp:
        assert resp.status == 200
        assert await resp.json() == {"status": "ok", "uptime_s": 12.5}


@pytest.mark.asyncio
async def test_readyz_200_when_ready_503_with_facts_when_not(server: Server) -> None:
    """/readyz is 200 when the service is ready and 503 carrying the facts (in the error shape) when not."""
    async with server.session.get(server.base + "/readyz") as resp:
        assert resp.status == 200
        body = await resp.json()
        assert body["ready"] is True and body["mqtt_connected"] is True
    server.fake.ready = False
    async with server.session.get(server.base + "/readyz") as resp:
        assert resp.status == 503
        body = await resp.json()
        assert body["ready"] is False and body["mqtt_connected"] is False and body["zones"] is True
        assert body["status"] == 503 and body["error"]


@pytest.mark.asyncio
async def test_metrics_is_prometheus_text(server: Server) -> None:
    """/metrics serves the service's registry as Prometheus text, which the reference parser reads."""
    async with server.session.get(server.base + "/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == prometheus_client.CONTENT_TYPE_LATEST
        text = await resp.text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = [s for s in families["monitor_alerts"].samples if s.name == "monitor_alerts_total"]
    assert [(s.labels, s.value) for s in samples] == [({"kind": "dark"}, 3.0)]


# ---- vessels -----------------------------------------------------------------------------------------

async def _mmsis(server: Server, query: str) -> list[int]:
    async with server.session.get(server.base + "/api/vessels" + query) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["count"] == len(body["vessels"])
    return [v["mmsi"] for v in body["vessels"]]


@pytest.mark.asyncio
async def test_vessels_lists_all_sorted_by_mmsi(server: Server) -> None:
    """Without filters every vessel is listed, in MMSI order, with count and total."""
    assert await _mmsis(server, "") == sorted(v["mmsi"] for v in server.fake.vessel_list)


@pytest.mark.asyncio
async def test_vessels_filters(server: Server) -> None:
    """zone, watch and type (single number or range, inclusive) filter the list; filters combine."""
    assert await _mmsis(server, "?zone=hormuz") == [440000003, 538000001]
    assert await _mmsis(server, "?zone=tss-in") == [311000009, 440000003]
    assert await _mmsis(server, "?zone=nowhere") == []
    assert await _mmsis(server, "?watch=korea") == [440000001, 440000003]
    assert await _mmsis(server, "?type=70") == [538000001]
    assert await _mmsis(server, "?type=80-89") == [311000009, 440000001, 440000003]
    assert await _mmsis(server, "?type=81-88") == [440000001]  # a vessel without ship_type never matches
    assert await _mmsis(server, "?type=80-89&watch=korea&zone=tss-in") == [440000003]


@pytest.mark.asyncio
async def test_vessels_limit_keeps_total(server: Server) -> None:
    """limit=N returns the first N in MMSI order; total still counts every match."""
    async with server.session.get(server.base + "/api/vessels?limit=2") as resp:
        body = await resp.json()
    assert [v["mmsi"] for v in body["vessels"]] == [311000009, 440000001]
    assert body["count"] == 2 and body["total"] == 5


@pytest.mark.asyncio
@pytest.mark.parametrize(("query", "parameter"), [
    ("type=abc", "type"), ("type=", "type"), ("type=89-80", "type"), ("type=300", "type"),
    ("type=-1", "type"),
    ("limit=-1", "limit"), ("limit=0", "limit"), ("limit=x", "limit"), ("limit=1.5", "limit"),
    ("zone=", "zone"), ("watch=", "watch"), ("zome=hormuz", "zome"), ("zone=a&zone=b", "zone"),
])
async def test_vessels_bad_query_is_400_naming_the_parameter(server: Server, query: str,
                                                             parameter: str) -> None:
    """Malformed, empty, repeated or unknown vessel query parameters are a 400 naming the parameter."""
    async with server.session.get(server.base + "/api/vessels?" + query) as resp:
        body = await _error(resp, 400)
    assert body["parameter"] == parameter
    assert parameter in body["error"]


@pytest.mark.asyncio
async def test_vessel_by_mmsi(server: Server) -> None:
    """/api/vessels/{mmsi} returns the detailed vessel; leading zeros are the same number."""
    async with server.session.get(server.base + "/api/vessels/538000001") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["mmsi"] == 538000001 and body["destination"] == "FUJAIRAH"


@pytest.mark.asyncio
async def test_vessel_unknown_is_404(server: Server) -> None:
    """A well-formed MMSI the service does not know is a JSON 404."""
    async with server.session.get(server.base + "/api/vessels/999999999") as resp:
        body = await _error(resp, 404)
    assert "999999999" in body["error"]


@pytest.mark.asyncio
@pytest.mark.parametrize("raw", ["abc", "0", "1000000000", "-5", "12345678901234567890", "4e8", "%C2%B2"])
async def test_vessel_bad_mmsi_is_400(server: Server, raw: str) -> None:
    """A non-numeric or out-of-range MMSI (0, over 9 digits, signed, exponent, a Unicode digit) is a 400."""
    async with server.session.get(server.base + "/api/vessels/" + raw) as resp:
        body = await _error(resp, 400)
    assert body["parameter"] == "mmsi"


@pytest.mark.asyncio
async def test_vessel_track(server: Server) -> None:
    """/api/vessels/{mmsi}/track gives the service's track of that vessel; an unknown vessel is a 404 and a
    bad MMSI a 400 naming it."""
    async with server.session.get(server.base + "/api/vessels/538000001/track") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body == {"mmsi": 538000001, "track": server.fake.vessel_track(538000001)}
    async with server.session.get(server.base + "/api/vessels/999999999/track") as resp:
        await _error(resp, 404)
    async with server.session.get(server.base + "/api/vessels/0/track") as resp:
        assert (await _error(resp, 400))["parameter"] == "mmsi"


# ---- alerts ------------------------------------------------------------------------------------------

async def _alert_ids(server: Server, query: str) -> list[str]:
    async with server.session.get(server.base + "/api/alerts" + query) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["count"] == len(body["alerts"])
    return [a["id"] for a in body["alerts"]]


@pytest.mark.asyncio
async def test_alerts_all_oldest_first(server: Server) -> None:
    """Without filters /api/alerts returns the ring as the service keeps it, newest last."""
    assert await _alert_ids(server, "") == ["alert-1", "alert-2", "alert-3", "alert-4"]


@pytest.mark.asyncio
async def test_alerts_since_is_strictly_after(server: Server) -> None:
    """since filters by alert time, strictly after, given as ISO 8601 (Z, offset, none), unix s or ms."""
    assert await _alert_ids(server, "?since=2025-06-15T11:00:00Z") == ["alert-3", "alert-4"]
    # 12:00:00 is before 12:00:00.500: the fractional alert time counts.
    assert await _alert_ids(server, "?since=2025-06-15T12:00:00Z") == ["alert-3", "alert-4"]
    assert await _alert_ids(server, "?since=2025-06-15T12:00:00.500Z") == ["alert-4"]
    assert await _alert_ids(server, "?since=2025-06-15T15:00:00%2B04:00") == ["alert-3", "alert-4"]
    assert await _alert_ids(server, "?since=2025-06-15T11:00:00") == ["alert-3", "alert-4"]  # naive: UTC
    t_11 = 1749985200  # 2025-06-15T11:00:00Z
    assert await _alert_ids(server, f"?since={t_11}") == ["alert-3", "alert-4"]
    assert await _alert_ids(server, f"?since={t_11 - 0.5}") == ["alert-2", "alert-3", "alert-4"]
    assert await _alert_ids(server, f"?since={t_11 * 1000}") == ["alert-3", "alert-4"]  # milliseconds


@pytest.mark.asyncio
async def test_alerts_kind_and_limit(server: Server) -> None:
    """kind keeps one kind; limit keeps the newest N, still newest last; they combine with since."""
    assert await _alert_ids(server, "?kind=zone_enter") == ["alert-1", "alert-3"]
    assert await _alert_ids(server, "?kind=loiter") == []
    assert await _alert_ids(server, "?limit=2") == ["alert-3", "alert-4"]
    assert await _alert_ids(server, "?kind=zone_enter&limit=1") == ["alert-3"]
    assert await _alert_ids(server, "?since=2025-06-15T10:30:00Z&kind=zone_enter") == ["alert-3"]


@pytest.mark.asyncio
@pytest.mark.parametrize(("query", "parameter"), [
    ("since=yesterday", "since"), ("since=", "since"), ("since=1e400", "since"), ("since=-5", "since"),
    ("since=2025-13-45T00:00:00Z", "since"), ("kind=bogus", "kind"), ("kind=", "kind"),
    ("limit=-1", "limit"), ("limit=ten", "limit"), ("severity=info", "severity"),
])
async def test_alerts_bad_query_is_400(server: Server, query: str, parameter: str) -> None:
    """A bad since, a kind outside the CONTRACT's, a bad limit or an unknown parameter is a 400 naming it."""
    async with server.session.get(server.base + "/api/alerts?" + query) as resp:
        body = await _error(resp, 400)
    assert body["parameter"] == parameter


@pytest.mark.asyncio
async def test_alerts_accepts_every_contract_kind(server: Server) -> None:
    """Every CONTRACT alert kind is a valid kind filter."""
    for kind in KINDS:
        expected = [a["id"] for a in server.fake.alerts if a["kind"] == kind]
        assert await _alert_ids(server, f"?kind={kind}") == expected


# ---- zones and posture -------------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_zones_is_geojson(server: Server) -> None:
    """/api/zones returns the service's FeatureCollection as application/geo+json (RFC 7946)."""
    async with server.session.get(server.base + "/api/zones") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/geo+json"
        body = await resp.json(content_type=None)
    assert body == server.fake.zones_geojson()


@pytest.mark.asyncio
async def test_get_posture(server: Server) -> None:
    """GET /api/posture returns the service's posture."""
    async with server.session.get(server.base + "/api/posture") as resp:
        assert resp.status == 200
        assert await resp.json() == server.fake.posture()


def _auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.asyncio
async def test_put_posture_with_token_sets_it(server: Server) -> None:
    """PUT with the right bearer token sets the posture with set_by "http" and returns the new posture."""
    async with server.session.put(server.base + "/api/posture", json={"level": "HIGH", "reason": "drill"},
                                  headers=_auth()) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert server.fake.set_attempts == [("HIGH", "drill", "http")]
    assert body["level"] == "HIGH" and body["set_by"] == "http" and body["reason"] == "drill"
    async with server.session.get(server.base + "/api/posture") as resp:
        assert (await resp.json())["level"] == "HIGH"


@pytest.mark.asyncio
async def test_put_posture_reason_optional_and_scheme_case_insensitive(server: Server) -> None:
    """reason may be left out (empty), 500 characters are accepted, and the scheme may be "bearer"."""
    headers = {"Authorization": f"bearer {TOKEN}"}
    async with server.session.put(server.base + "/api/posture", json={"level": "ELEVATED"},
                                  headers=headers) as resp:
        assert resp.status == 200
    async with server.session.put(server.base + "/api/posture", json={"level": "HIGH", "reason": "x" * 500},
                                  headers=_auth()) as resp:
        assert resp.status == 200
    assert server.fake.set_attempts == [("ELEVATED", "", "http"), ("HIGH", "x" * 500, "http")]


@pytest.mark.asyncio
@pytest.mark.parametrize("headers", [
    {}, _auth("wrong"), _auth(""), _auth(TOKEN + "x"), _auth(TOKEN[:-1]), {"Authorization": TOKEN},
    {"Authorization": f"Basic {TOKEN}"}, {"Authorization": f"Token {TOKEN}"},
])
async def test_put_posture_without_valid_token_is_401(server: Server, headers: dict[str, str]) -> None:
    """A missing, wrong or non-Bearer credential is a 401 with a Bearer challenge, and nothing changes."""
    before = server.fake.posture()
    async with server.session.put(server.base + "/api/posture", json={"level": "HIGH", "reason": "x"},
                                  headers=headers) as resp:
        await _error(resp, 401)
        assert resp.headers["WWW-Authenticate"].startswith("Bearer ")
        assert ('error="invalid_token"' in resp.headers["WWW-Authenticate"]) == bool(headers)
    assert server.fake.set_attempts == []
    assert server.fake.posture() == before


@pytest.mark.asyncio
async def test_put_posture_401_before_body_validation(server: Server) -> None:
    """Without a valid token even a malformed body gets 401, so an anonymous client learns nothing."""
    async with server.session.put(server.base + "/api/posture", data=b"{not json") as resp:
        await _error(resp, 401)


@pytest.mark.asyncio
@pytest.mark.parametrize("body", [
    b"{not json", b"", b"\xff\xfe", b"[]", b'"HIGH"', b"null", b"{}", b'{"reason": "x"}',
    b'{"level": 3}', b'{"level": ""}', b'{"level": null}', b'{"level": "HIGH", "reason": 5}',
    b'{"level": "HIGH", "reason": null}', ('{"level": "HIGH", "reason": "' + "x" * 501 + '"}').encode(),
    b'{"level": "HIGH", "reson": "typo"}',
])
async def test_put_posture_bad_body_is_400_and_not_applied(server: Server, body: bytes) -> None:
    """Bad JSON, not an object, missing or non-string level, bad or over-long reason, unknown field: 400,
    and set_posture is never called."""
    async with server.session.put(server.base + "/api/posture", data=body,
                                  headers={**_auth(), "Content-Type": "application/json"}) as resp:
        await _error(resp, 400)
    assert server.fake.set_attempts == []


@pytest.mark.asyncio
async def test_put_posture_unknown_level_is_400_and_unchanged(server: Server) -> None:
    """A level the service refuses (ValueError) is a 400 carrying its message; the posture is unchanged."""
    before = server.fake.posture()
    async with server.session.put(server.base + "/api/posture", json={"level": "PANIC"},
                                  headers=_auth()) as resp:
        body = await _error(resp, 400)
    assert body["parameter"] == "level" and "PANIC" in body["error"]
    assert server.fake.posture() == before


@pytest.mark.asyncio
async def test_put_posture_body_too_large_is_413(server: Server) -> None:
    """A body over the size limit is refused with a JSON 413 and not applied."""
    big = json.dumps({"level": "HIGH", "reason": "x" * 200_000}).encode()
    async with server.session.put(server.base + "/api/posture", data=big, headers=_auth()) as resp:
        await _error(resp, 413)
    assert server.fake.set_attempts == []


@pytest.mark.asyncio
async def test_empty_token_refuses_every_put_with_403() -> None:
    """With no token configured every PUT is a 403, whatever Authorization it carries; nothing changes."""
    fake = FakeService()
    api, port = await _start(fake, token=None)  # settings.token defaults to empty
    try:
        async with aiohttp.ClientSession() as session:
            for headers in ({}, _auth(""), _auth(TOKEN), {"Authorization": "Bearer"}):
                async with session.put(f"http://127.0.0.1:{port}/api/posture", json={"level": "HIGH"},
                                       headers=headers) as resp:
                    body = await _error(resp, 403)
                    assert "token" in body["error"]
    finally:
        await api.stop()
    assert fake.set_attempts == []


@pytest.mark.asyncio
async def test_token_argument_overrides_settings_token() -> None:
    """The constructor's token replaces settings.token: only it is accepted."""
    fake = FakeService()
    settings = HttpSettings(port=0, token="from-settings")  # type: ignore[arg-type]  # pydantic coerces
    api, port = await _start(fake, token="from-env", settings=settings)
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}/api/posture"
            async with session.put(url, json={"level": "HIGH"}, headers=_auth("from-settings")) as resp:
                assert resp.status == 401
            async with session.put(url, json={"level": "HIGH"}, headers=_auth("from-env")) as resp:
                assert resp.status == 200
    finally:
        await api.stop()
    assert fake.set_attempts == [("HIGH", "", "http")]


@pytest.mark.asyncio
async def test_settings_token_used_without_override() -> None:
    """Without a token argument, settings.token is the bearer token."""
    fake = FakeService()
    settings = HttpSettings(port=0, token="from-settings")  # type: ignore[arg-type]  # pydantic coerces
    api, port = await _start(fake, token=None, settings=settings)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.put(f"http://127.0.0.1:{port}/api/posture", json={"level": "HIGH"},
                                   headers=_auth("from-settings")) as resp:
                assert resp.status == 200
    finally:
        await api.stop()


# ---- errors ------------------------------------------------------------------------------------------

@pytest.mark.asyncio
# ("/" is the operator's page since issue 11: tests/test_page.py.)
@pytest.mark.parametrize("path", ["/nope", "/api", "/api/vessels/", "/api/vessels/538000001/tracks",
                                  "/healthz/x", "/page/", "/page/nope.js"])
async def test_unknown_path_is_json_404(server: Server, path: str) -> None:
    """An unknown path is a JSON 404, not aiohttp's text page."""
    async with server.session.get(server.base + path) as resp:
        await _error(resp, 404)


@pytest.mark.asyncio
@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("POST", "/api/vessels", "GET"), ("DELETE", "/api/posture", "PUT"), ("PUT", "/healthz", "GET"),
    ("POST", "/api/posture", "PUT"),
])
async def test_wrong_method_is_json_405(server: Server, method: str, path: str, allowed: str) -> None:
    """A known path with the wrong method is a JSON 405 with an Allow header; nothing changes."""
    async with server.session.request(method, server.base + path, headers=_auth()) as resp:
        await _error(resp, 405)
        assert allowed in resp.headers["Allow"]
    assert server.fake.set_attempts == []


@pytest.mark.asyncio
async def test_plain_get_on_websocket_route_is_400(server: Server) -> None:
    """A GET without the WebSocket upgrade on /api/alerts/ws is a JSON 400, and subscribes nothing."""
    async with server.session.get(server.base + "/api/alerts/ws") as resp:
        await _error(resp, 400)
    assert server.fake.queues == []


@pytest.mark.asyncio
@pytest.mark.parametrize(("method", "path", "failing"), [
    ("GET", "/healthz", "health"), ("GET", "/readyz", "readiness"), ("GET", "/metrics", "metrics_registry"),
    ("GET", "/api/vessels", "vessels"), ("GET", "/api/vessels/538000001", "vessel"),
    ("GET", "/api/alerts", "recent_alerts"), ("GET", "/api/zones", "zones_geojson"),
    ("GET", "/api/posture", "posture"), ("PUT", "/api/posture", "set_posture"),
])
async def test_service_failure_is_json_500_without_traceback(server: Server, method: str, path: str,
                                                             failing: str) -> None:
    """A service method that raises gives a JSON 500 with no traceback or exception text, logged once."""
    server.fake.failing.add(failing)
    with capture_logs() as logs:
        async with server.session.request(method, server.base + path, json={"level": "HIGH"},
                                          headers=_auth()) as resp:
            text = await resp.text()
            body = await _error(resp, 500)
    assert body == {"error": "internal server error", "status": 500}
    assert "injected" not in text and "/secret/internal" not in text and "RuntimeError" not in text
    failures = [e for e in logs if e["event"] == "http_handler_failed"]
    assert len(failures) == 1 and failures[0]["path"] == path and failures[0]["exc_info"] is True


@pytest.mark.asyncio
async def test_unserialisable_value_is_500(server: Server) -> None:
    """A NaN in service data (invalid JSON) becomes a JSON 500, never a body no client can parse."""
    server.fake.vessel_list[0]["position"]["lat"] = float("nan")
    async with server.session.get(server.base + "/api/vessels") as resp:
        await _error(resp, 500)


@pytest.mark.asyncio
async def test_token_and_authorization_never_logged(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    """Neither the token nor a presented Authorization value appears in any log record, on success,
    refusal or failure."""
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-token-value-xyz"
    with capture_logs() as logs:
        url = server.base + "/api/posture"
        async with server.session.put(url, json={"level": "HIGH"}, headers=_auth()) as resp:
            assert resp.status == 200
        async with server.session.put(url, json={"level": "HIGH"}, headers=_auth(wrong)) as resp:
            assert resp.status == 401
        server.fake.failing.add("set_posture")
        async with server.session.put(url, json={"level": "HIGH"}, headers=_auth()) as resp:
            assert resp.status == 500
    assert any(e["event"] == "http_handler_failed" for e in logs)  # the logs were captured at all
    text = repr(logs) + caplog.text + repr(server.api)
    assert TOKEN not in text and wrong not in text


# ---- live streams ------------------------------------------------------------------------------------

async def _sse_event(resp: aiohttp.ClientResponse) -> tuple[list[str], list[str]]:
    """Read one SSE block (up to a blank line); returns (comment lines, field lines)."""
    comments: list[str] = []
    fields: list[str] = []
    while True:
        line = (await asyncio.wait_for(resp.content.readline(), 5)).decode()
        assert line, "stream ended"
        line = line.rstrip("\n")
        if line == "":
            return comments, fields
        (comments if line.startswith(":") else fields).append(line)


@pytest.mark.asyncio
async def test_sse_delivers_alerts_and_unsubscribes_on_disconnect(server: Server) -> None:
    """The SSE stream sends each queued alert as `event: alert` with its JSON, in order, and unsubscribes
    its queue when the client disconnects."""
    async with server.session.get(server.base + "/api/alerts/stream") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        await _sse_event(resp)  # the opening comment
        assert len(server.fake.queues) == 1
        queue = server.fake.queues[0]
        sent = [server.fake.alerts[0], server.fake.alerts[1]]
        for alert in sent:
            queue.put_nowait(alert)
        for alert in sent:
            _, fields = await _sse_event(resp)
            assert fields[0] == "event: alert"
            assert fields[1].startswith("data: ")
            assert json.loads(fields[1][len("data: "):]) == alert
        assert server.fake.unsubscribed == []
    await _wait_for(lambda: server.fake.unsubscribed == [queue])


@pytest.mark.asyncio
async def test_sse_keepalive_comment() -> None:
    """With no alerts the SSE stream sends a comment every keep-alive interval."""
    fake = FakeService()
    api, port = await _start(fake, keepalive_s=0.05)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/api/alerts/stream") as resp:
                await _sse_event(resp)  # opening comment
                started = time.monotonic()
                comments, fields = await _sse_event(resp)
                assert comments == [": keep-alive"] and fields == []
                assert time.monotonic() - started >= 0.04
                fake.queues[0].put_nowait(fake.alerts[3])  # an alert still arrives after keep-alives
                while True:
                    comments, fields = await _sse_event(resp)
                    if fields:
                        break
                assert json.loads(fields[1][len("data: "):]) == fake.alerts[3]
    finally:
        await api.stop()


@pytest.mark.asyncio
async def test_websocket_delivers_alerts_and_unsubscribes_on_close(server: Server) -> None:
    """The WebSocket sends one JSON text message per queued alert and unsubscribes when the client closes."""
    async with server.session.ws_connect(server.base + "/api/alerts/ws") as ws:
        await _wait_for(lambda: len(server.fake.queues) == 1)
        queue = server.fake.queues[0]
        for alert in server.fake.alerts[:3]:
            queue.put_nowait(alert)
        for alert in server.fake.alerts[:3]:
            msg = await ws.receive(timeout=5)
            assert msg.type == aiohttp.WSMsgType.TEXT
            assert json.loads(msg.data) == alert
        await ws.send_str("ignored")  # client messages do not disturb the stream
        queue.put_nowait(server.fake.alerts[3])
        assert json.loads((await ws.receive(timeout=5)).data) == server.fake.alerts[3]
        assert server.fake.unsubscribed == []
    await _wait_for(lambda: server.fake.unsubscribed == [queue])


@pytest.mark.asyncio
async def test_two_clients_get_their_own_queues(server: Server) -> None:
    """Each stream client subscribes its own queue and gets what is put in it."""
    async with server.session.ws_connect(server.base + "/api/alerts/ws") as ws, \
            server.session.get(server.base + "/api/alerts/stream") as sse:
        await _sse_event(sse)
        await _wait_for(lambda: len(server.fake.queues) == 2)
        for queue in server.fake.queues:
            queue.put_nowait(server.fake.alerts[0])
        assert json.loads((await ws.receive(timeout=5)).data) == server.fake.alerts[0]
        _, fields = await _sse_event(sse)
        assert json.loads(fields[1][len("data: "):]) == server.fake.alerts[0]
    await _wait_for(lambda: len(server.fake.unsubscribed) == 2)
    assert {id(q) for q in server.fake.unsubscribed} == {id(q) for q in server.fake.queues}


@pytest.mark.asyncio
async def test_stop_ends_open_streams_promptly() -> None:
    """stop() closes open SSE and WebSocket streams at once (not after the keep-alive or the shutdown
    timeout), unsubscribing both, and the port stops accepting."""
    fake = FakeService()
    api, port = await _start(fake)
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(base + "/api/alerts/ws") as ws, \
                session.get(base + "/api/alerts/stream") as sse:
            await _sse_event(sse)
            await _wait_for(lambda: len(fake.queues) == 2)
            started = time.monotonic()
            await api.stop()
            assert time.monotonic() - started < 3.0
            msg = await ws.receive(timeout=5)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED)
            assert await asyncio.wait_for(sse.content.read(), 5) == b""  # the stream ended
        assert len(fake.unsubscribed) == 2
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.get(base + "/healthz"):
                pass


# ---- start and stop ----------------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_port_in_use_is_startup_error() -> None:
    """Binding a port already in use raises StartupError naming the address."""
    first, port = await _start(FakeService())
    try:
        second = HttpApi(HttpSettings(port=port), FakeService())
        with pytest.raises(StartupError, match=f"127.0.0.1:{port}"):
            await second.start()
    finally:
        await first.stop()


@pytest.mark.asyncio
async def test_start_returns_the_bound_port_and_stop_is_idempotent() -> None:
    """start() with port 0 returns the real port, which then serves; stop() twice is harmless."""
    api, port = await _start(FakeService())
    assert port > 0
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
            assert resp.status == 200
    await api.stop()
    await api.stop()


@pytest.mark.asyncio
async def test_operator_refusals_become_the_api_errors(server: Server) -> None:
    """The service's Refused is a 400 naming the field, LookupError a 404, NotWritable a 503 with
    Retry-After; a success is the service's answer (201 for a new snooze)."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    calls = [("POST", "/api/alerts/a1/ack", {"by": "wo"}), ("POST", "/api/snoozes", {"mmsi": 1}),
             ("DELETE", "/api/snoozes/7", None)]
    for (method, path, body), status in zip(calls, (200, 201, 200), strict=True):
        async with server.session.request(method, server.base + path, json=body, headers=auth) as resp:
            assert resp.status == status
    for error, status in ((Refused("kind must be ...", "kind"), 400), (LookupError("no snooze 7"), 404),
                          (NotWritable("the state database cannot be written"), 503)):
        server.fake.operator_error = error
        for method, path, body in calls:
            async with server.session.request(method, server.base + path, json=body, headers=auth) as resp:
                answer = await _error(resp, status)
                assert answer["error"] == str(error.args[0])
                assert answer.get("parameter") == ("kind" if status == 400 else None)
                assert (resp.headers.get("Retry-After") == "5") is (status == 503)
