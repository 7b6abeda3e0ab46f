"""POST and DELETE /api/zones against a fake daemon: the bearer token is required before the body is
read, the service's refusals become 400, 404, 409 and 503 naming the problem, a zone added is a 201
with the stored feature."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from monitor.runtimezones import NotRuntime
from tests.test_http import TOKEN, FakeService, Server, _auth, _start

RING = [[56.5, 26], [56.6, 26], [56.6, 26.1], [56.5, 26]]
FEATURE = {"type": "Feature", "properties": {"id": "mines", "name": "Mined area", "kind": "hazard"},
           "geometry": {"type": "Polygon", "coordinates": [RING]}}


@pytest_asyncio.fixture
async def server() -> AsyncIterator[Server]:
    fake = FakeService()
    api, port = await _start(fake)
    async with aiohttp.ClientSession() as session:
        yield Server(api, fake, f"http://127.0.0.1:{port}", session)
    await api.stop()


async def _json(resp: aiohttp.ClientResponse) -> Any:
    return await resp.json(content_type=None)


@pytest.mark.asyncio
async def test_post_zone_with_token_is_201_with_the_stored_feature(server: Server) -> None:
    async with server.session.post(f"{server.base}/api/zones", json=FEATURE, headers=_auth()) as resp:
        assert resp.status == 201 and resp.content_type == "application/geo+json"
        body = await _json(resp)
    assert body["properties"] == {**FEATURE["properties"], "runtime": True}
    assert server.fake.zone_calls == [("add", FEATURE)]


@pytest.mark.asyncio
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer x"}, {"Authorization": f"Basic {TOKEN}"}])
async def test_zone_changes_without_the_token_are_401_before_the_body(server: Server,
                                                                      headers: dict[str, str]) -> None:
    """Without the right token nothing reaches the service, even with a malformed body."""
    async with server.session.post(f"{server.base}/api/zones", data=b"{not json", headers=headers) as resp:
        assert resp.status == 401 and "WWW-Authenticate" in resp.headers
    async with server.session.delete(f"{server.base}/api/zones/mines", headers=headers) as resp:
        assert resp.status == 401
    assert server.fake.zone_calls == []


@pytest.mark.asyncio
async def test_with_no_token_configured_zone_changes_are_403() -> None:
    fake = FakeService()
    api, port = await _start(fake, token=None)
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}/api/zones"
            async with session.post(url, json=FEATURE, headers=_auth()) as resp:
                assert resp.status == 403 and "zone changes" in (await _json(resp))["error"]
    finally:
        await api.stop()
    assert fake.zone_calls == []


@pytest.mark.asyncio
@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"Feature"', b"[" * 100_000 + b"]" * 100_000])
async def test_post_zone_body_not_a_json_object_is_400(server: Server, body: bytes) -> None:
    async with server.session.post(f"{server.base}/api/zones", data=body, headers=_auth()) as resp:
        assert resp.status in (400, 413)
        if resp.status == 400:
            assert "GeoJSON Feature" in (await _json(resp))["error"]
    assert server.fake.zone_calls == []


@pytest.mark.asyncio
async def test_a_refused_zone_is_400_naming_the_problem(server: Server) -> None:
    server.fake.zone_error = ValueError("feature 'mines': duplicate id: a zone 'mines' exists already")
    async with server.session.post(f"{server.base}/api/zones", json=FEATURE, headers=_auth()) as resp:
        assert resp.status == 400
        assert (await _json(resp))["error"] == "feature 'mines': duplicate id: a zone 'mines' exists already"


@pytest.mark.asyncio
async def test_a_zone_that_cannot_be_saved_is_503(server: Server) -> None:
    server.fake.zone_error = OSError(28, "No space left on device")
    async with server.session.post(f"{server.base}/api/zones", json=FEATURE, headers=_auth()) as resp:
        assert resp.status == 503 and "No space left on device" in (await _json(resp))["error"]
    async with server.session.delete(f"{server.base}/api/zones/mines", headers=_auth()) as resp:
        assert resp.status == 503


@pytest.mark.asyncio
@pytest.mark.parametrize(("error", "status"), [
    (None, 204), (KeyError("nope"), 404), (NotRuntime("zone 'strait' is the zone file's"), 409)])
async def test_delete_zone(server: Server, error: Exception | None, status: int) -> None:
    server.fake.zone_error = error
    async with server.session.delete(f"{server.base}/api/zones/strait", headers=_auth()) as resp:
        assert resp.status == status
        if error is not None:
            assert "'" in (await _json(resp))["error"]
    assert server.fake.zone_calls == [("delete", "strait")]


@pytest.mark.asyncio
async def test_post_zone_refuses_query_parameters(server: Server) -> None:
    async with server.session.post(f"{server.base}/api/zones?x=1", data=json.dumps(FEATURE),
                                   headers=_auth()) as resp:
        assert resp.status == 400
