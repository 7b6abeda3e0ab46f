"""kind = "webhook": each alert POSTed as JSON to `url`, retried until a 2xx (CONTRACT "Other sinks").

The body is the alert's CONTRACT JSON exactly as MQTT subscribers get it. Headers: `Content-Type:
application/json`, `Authorization: Bearer <token>` when `token` is set, and `Idempotency-Key: <alert id>`
(the IETF draft's header), so a receiver can drop the duplicates at-least-once delivery allows.

Delivered means a 2xx answer. Anything else (a 3xx, 4xx or 5xx, a refused connection, a timeout) is
retried with backoff (monitor.sinks.base), in order: a 4xx from a receiver that keeps refusing (a wrong
token) holds this sink's queue until it is fixed, and the queue keeps every alert meanwhile; the failures
and the queue depth show in /metrics. Redirects are not followed: a POST should not silently change its
target, and an answer that is not a 2xx is not delivery.
"""

from __future__ import annotations

import json
from typing import Final

import aiohttp

from monitor import __version__
from monitor.sinks.base import DeliveryError, Sink
from monitor.sinks.settings import WebhookSinkSettings
from monitor.store import Store

__all__ = ["WebhookSink"]

_TIMEOUT_S: Final = 10.0  # a whole request: connect, send, the receiver's answer


class WebhookSink(Sink[WebhookSinkSettings, tuple[str, bytes]]):
    """POSTs queued alerts to one URL, in order, one at a time."""

    def __init__(self, settings: WebhookSinkSettings, store: Store, **kwargs: float) -> None:
        super().__init__(settings, store, **kwargs)
        self._session: aiohttp.ClientSession | None = None
        self._headers = {"Content-Type": "application/json",
                         "User-Agent": f"chokepoint-monitor/{__version__}"}
        token = settings.token.get_secret_value()
        if token:
            self._headers["Authorization"] = f"Bearer {token}"

    def encode(self, payload: bytes) -> tuple[str, bytes]:
        alert = json.loads(payload)
        return str(alert["id"]), payload

    async def send(self, message: tuple[str, bytes]) -> None:
        alert_id, body = message
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=_TIMEOUT_S))
        try:
            async with self._session.post(self.settings.url, data=body, allow_redirects=False,
                                          headers={**self._headers, "Idempotency-Key": alert_id}) as reply:
                await reply.read()  # (the connection goes back to the pool only once the body is read)
                if not 200 <= reply.status < 300:
                    raise DeliveryError(f"HTTP {reply.status} {reply.reason or ''}".rstrip())
        except aiohttp.ClientError as exc:
            # (Connection refused and reset are OSErrors inside aiohttp's ClientConnectorError.)
            raise DeliveryError(str(exc) or type(exc).__name__) from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
