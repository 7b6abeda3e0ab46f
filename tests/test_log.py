"""Logging set-up: JSON or console on stderr, level filtering, stdlib routing, idempotence."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from monitor.log import configure_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state; put it back so other tests see what they expect."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    config = structlog.get_config()
    structlog.contextvars.clear_contextvars()
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)
    structlog.contextvars.clear_contextvars()


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line]


class _Terminal(io.StringIO):
    """A stream that says it is a terminal, to drive the "auto" choice."""

    def isatty(self) -> bool:
        return True


def test_json_output_shape(capsys: pytest.CaptureFixture[str]) -> None:
    """In JSON mode each event is one JSON object on one stderr line with UTC timestamp, level and event."""
    configure_logging("info", "json")
    structlog.get_logger("monitor.test").info("zone_entered", mmsi=440123456, zone="hormuz_tss")
    out, err = capsys.readouterr()
    assert out == ""  # stdout is reserved for alerts
    assert err.count("\n") == 1
    (record,) = _json_lines(err)
    assert record["event"] == "zone_entered"
    assert record["level"] == "info"
    assert record["mmsi"] == 440123456
    assert record["zone"] == "hormuz_tss"
    assert record["logger"] == "monitor.test"
    assert record["timestamp"].endswith("Z")
    stamp = datetime.fromisoformat(record["timestamp"])
    assert stamp.utcoffset() == timedelta(0)
    assert list(record)[:4] == ["timestamp", "level", "logger", "event"]


def test_level_filtering(capsys: pytest.CaptureFixture[str]) -> None:
    """Events below the configured level are dropped, for structlog and stdlib loggers alike."""
    configure_logging("warning", "json")
    log = structlog.get_logger()
    log.debug("too_low_debug")
    log.info("too_low_info")
    log.warning("kept_warning")
    log.error("kept_error")
    logging.getLogger("aiomqtt").info("stdlib_too_low")
    logging.getLogger("aiomqtt").error("stdlib_kept")
    events = [record["event"] for record in _json_lines(capsys.readouterr().err)]
    assert events == ["kept_warning", "kept_error", "stdlib_kept"]


def test_debug_level_shows_debug(capsys: pytest.CaptureFixture[str]) -> None:
    """At level debug, debug events are emitted with level "debug"."""
    configure_logging("DEBUG", "json")
    structlog.get_logger().debug("fragment_expired", age_s=12.5)
    (record,) = _json_lines(capsys.readouterr().err)
    assert (record["event"], record["level"], record["age_s"]) == ("fragment_expired", "debug", 12.5)


def test_stdlib_logging_routed_through_structlog(capsys: pytest.CaptureFixture[str]) -> None:
    """A stdlib logger's record (aiomqtt's, say) is rendered as the same JSON, %-args applied."""
    configure_logging("info", "json")
    logging.getLogger("aiomqtt").warning("broker %s unreachable, retry in %d s", "localhost", 4)
    (record,) = _json_lines(capsys.readouterr().err)
    assert record["event"] == "broker localhost unreachable, retry in 4 s"
    assert record["level"] == "warning"
    assert record["logger"] == "aiomqtt"
    assert record["timestamp"].endswith("Z")


def test_contextvars_merged(capsys: pytest.CaptureFixture[str]) -> None:
    """Context bound with contextvars appears on every record, structlog's and stdlib's."""
    configure_logging("info", "json")
    structlog.contextvars.bind_contextvars(mmsi=422000001)
    structlog.get_logger().info("position_jump")
    logging.getLogger("aiohttp.access").info("request")
    records = _json_lines(capsys.readouterr().err)
    assert [record["mmsi"] for record in records] == [422000001, 422000001]


def test_exception_stays_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    """A logged exception is structured inside the one JSON object, not spread over many lines."""
    configure_logging("info", "json")
    try:
        raise ValueError("bad sentence")
    except ValueError:
        structlog.get_logger().exception("decode_failed")
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    (record,) = _json_lines(err)
    assert record["level"] == "error"
    assert record["exception"][0]["exc_type"] == "ValueError"
    assert "locals" not in record["exception"][0]["frames"][0]


def test_configure_twice_does_not_duplicate(capsys: pytest.CaptureFixture[str]) -> None:
    """Calling configure_logging again replaces the handler: each event is still written once."""
    configure_logging("info", "json")
    configure_logging("info", "json")
    structlog.get_logger().info("once")
    logging.getLogger("aiomqtt").info("stdlib_once")
    events = [record["event"] for record in _json_lines(capsys.readouterr().err)]
    assert events == ["once", "stdlib_once"]


def test_reconfigure_changes_level_of_loggers_already_used(capsys: pytest.CaptureFixture[str]) -> None:
    """A logger used before a reconfiguration follows the new level (loggers are not cached)."""
    configure_logging("warning", "json")
    log = structlog.get_logger()
    log.info("hidden")
    configure_logging("info", "json")
    log.info("shown")
    assert [record["event"] for record in _json_lines(capsys.readouterr().err)] == ["shown"]


def test_console_format(capsys: pytest.CaptureFixture[str]) -> None:
    """fmt="console" renders human-readable lines (not JSON) with the event and its keys."""
    configure_logging("info", "console")
    structlog.get_logger().info("transit_completed", mmsi=538001234)
    err = capsys.readouterr().err
    assert "transit_completed" in err
    assert "mmsi=538001234" in err
    with pytest.raises(json.JSONDecodeError):
        json.loads(err.splitlines()[0])


def test_auto_format_is_json_when_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    """fmt="auto" writes JSON when stderr is not a terminal (journald, a pipe, pytest's capture)."""
    configure_logging("info", "auto")
    structlog.get_logger().info("started")
    assert _json_lines(capsys.readouterr().err)[0]["event"] == "started"


def test_auto_format_is_console_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """fmt="auto" picks the console renderer when stderr is a terminal."""
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    configure_logging("info", "auto")
    structlog.get_logger().info("started", version="0.1.0")
    text = terminal.getvalue()
    assert "started" in text
    assert not text.lstrip().startswith("{")


def test_logs_go_to_stderr_file_descriptor(capfd: pytest.CaptureFixture[str]) -> None:
    """Log output reaches file descriptor 2, never 1, whichever logger produced it."""
    configure_logging("info", "json")
    structlog.get_logger().info("on_stderr")
    logging.getLogger("asyncio").warning("also_on_stderr")
    out, err = capfd.readouterr()
    assert out == ""
    assert [record["event"] for record in _json_lines(err)] == ["on_stderr", "also_on_stderr"]


def test_capture_logs_still_works_after_configure() -> None:
    """structlog.testing.capture_logs sees events after configure_logging, for other modules' tests."""
    configure_logging("info", "json")
    log = structlog.get_logger()
    log.info("before")  # a logger already used must not be stuck on the old configuration
    with capture_logs() as logs:
        log.warning("dark_vessel", mmsi=636012345)
    assert logs == [{"event": "dark_vessel", "mmsi": 636012345, "log_level": "warning"}]


@pytest.mark.parametrize(("level", "fmt"), [("verbose", "json"), ("info", "xml"), ("", "auto")])
def test_bad_arguments_refused(level: str, fmt: str) -> None:
    """An unknown level or format is a ValueError, not a silently different configuration."""
    with pytest.raises(ValueError, match="unknown log"):
        configure_logging(level, fmt)
