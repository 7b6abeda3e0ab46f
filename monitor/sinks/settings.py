"""[[sinks]]: the outputs besides MQTT (CONTRACT "Other sinks"), validated once at start.

Each entry is one sink with its own durable queue (monitor.sinks.queue). Keys: `kind`, an optional `name`
(the queue's key; defaults to the kind, so two sinks of one kind need a name each), `min_severity`, and per
kind those below. A bad value is refused at start naming the key (`sinks.0.webhook.url: ...`, exit 3).

Kept here, not in monitor.config, as a detector keeps its own section (STYLE 17): monitor.config only
lists `sinks` among its sections. Imports nothing heavy: the CLI loads settings for every command.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Discriminator, Field, SecretStr, Tag, field_validator

from monitor.levels import SEVERITIES, Severity
from monitor.settings_base import Seconds, Section

__all__ = ["AnySink", "CotSinkSettings", "SinkList", "SinkSettings", "WebhookSinkSettings"]

_Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)]


class _SinkBase(Section):
    kind: str  # (each kind's class narrows it: the discriminator)
    # In logs, metrics and the queue's rows; empty: the kind. Renaming a sink starts a new, empty queue
    # (the old one's rows stay in the database, logged at start as `sink_queue_orphaned`).
    name: _Name | Literal[""] = ""
    # Alerts below this severity are not queued for this sink.
    min_severity: Severity = "info"

    @field_validator("min_severity", mode="before")
    @classmethod
    def _severity_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @property
    def key(self) -> str:
        """The sink's name: `name`, else its kind."""
        return self.name or self.kind

    def wants(self, severity: str) -> bool:
        """Whether an alert of this severity goes to this sink."""
        return SEVERITIES.index(severity) >= SEVERITIES.index(self.min_severity)


class WebhookSinkSettings(_SinkBase):
    """kind = "webhook": each alert POSTed as JSON to `url` until a 2xx (monitor.sinks.webhook)."""

    kind: Literal["webhook"]
    url: str
    token: SecretStr = SecretStr("")  # sent as `Authorization: Bearer <token>` when set
    # (The request timeout and the backoff cap are the module's: not keys of CONTRACT's.)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError as exc:
            raise ValueError(f"not a valid URL: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            # Name the scheme only: the URL may carry credentials.
            raise ValueError(f"must be an http:// or https:// URL with a host, not a {parts.scheme!r} URL")
        return value


class CotSinkSettings(_SinkBase):
    """kind = "cot": Cursor-on-Target 2.0 XML events over UDP or TCP (monitor.sinks.cot)."""

    kind: Literal["cot"]
    protocol: Literal["udp", "tcp"] = "udp"
    host: str = Field(min_length=1)  # a TAK Server, or an ATAK/WinTAK device's network input
    port: int = Field(ge=1, le=65535)
    # Every interval_s, one event per watched vessel with a position; 0 < interval_s.
    interval_s: Seconds = Field(default=30.0, ge=1.0, le=86_400.0)
    # An event's `stale` is its `start` (the feed time of the alert or fix) plus this.
    stale_s: Seconds = Field(default=600.0, gt=0, le=30 * 86_400.0)

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


AnySink = WebhookSinkSettings | CotSinkSettings


def _kind_of(value: object) -> str | None:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return kind if isinstance(kind, str) else None


# One of the kinds, chosen by `kind`; a missing or unknown kind is refused naming the kinds.
SinkSettings = Annotated[
    Annotated[WebhookSinkSettings, Tag("webhook")] | Annotated[CotSinkSettings, Tag("cot")],
    Discriminator(_kind_of, custom_error_type="sink_kind",
                  custom_error_message='`kind` must be "webhook" or "cot"'),
]


def _unique(sinks: list[AnySink]) -> list[AnySink]:
    keys = [s.key for s in sinks]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ValueError(f"two sinks are named {dup[0]!r}: give each sink of one kind its own `name`")
    return sinks


# Settings.sinks: the list, names unique (each names a queue).
SinkList = Annotated[list[SinkSettings], AfterValidator(_unique)]
