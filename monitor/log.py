"""Logging: structlog configured once, every record (ours and the stdlib's) rendered the same way.

Logs go to STDERR: stdout is reserved for alert output (`replay --format jsonl` prints exactly one
alert per line there, and nothing else). Under systemd, stderr goes to journald just the same.

One path for everything, as in structlog's "rendering with ProcessorFormatter" recipe: structlog events
are handed to the stdlib root logger, and a single handler renders both them and records from stdlib
loggers (aiomqtt, aiohttp, asyncio) with the same `ProcessorFormatter`: one format, one level, one stream.

Log events, not sentences: `log.info("zone_entered", mmsi=..., zone=...)`; bind per-vessel context with
`structlog.contextvars.bind_contextvars(mmsi=...)`, which every record then carries.
"""

from __future__ import annotations

import logging
import sys
from typing import Final, TextIO

import structlog
from structlog.tracebacks import ExceptionDictTransformer
from structlog.typing import EventDict, Processor

__all__ = ["FORMATS", "LEVELS", "configure_logging"]

LEVELS: Final[dict[str, int]] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
FORMATS: Final[tuple[str, ...]] = ("auto", "json", "console")


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is when the record is emitted, not when the handler was built,
    so a later redirection (pytest's capture, a test harness, a re-opened stream) is honoured."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        # Handler.handle() holds self.lock around emit(), so swapping the stream here is safe.
        self.stream = sys.stderr
        super().emit(record)


_LEADING_KEYS: Final = ("timestamp", "level", "logger", "event")


def _leading_keys_first(_logger: object, _method: str, event_dict: EventDict) -> EventDict:
    """Put timestamp, level, logger and event first, so a JSON line reads naturally in journalctl."""
    ordered = {key: event_dict.pop(key) for key in _LEADING_KEYS if key in event_dict}
    ordered.update(event_dict)
    return ordered


def _use_json(fmt: str) -> bool:
    if fmt == "auto":
        # A terminal gets the readable console; anything else (journald, a pipe, a file) gets JSON.
        isatty = getattr(sys.stderr, "isatty", None)
        return not (callable(isatty) and isatty())
    return fmt == "json"


def configure_logging(level: str = "info", fmt: str = "auto") -> None:
    """Configure structlog and the stdlib root logger; calling it again replaces the configuration.

    level: "debug", "info", "warning" or "error" (case-insensitive): records below it are dropped,
    structlog's before any processing, the stdlib's at the root logger.
    fmt: "json" (one object per line: `timestamp` ISO 8601 UTC, `level`, `event`, bound keys), "console"
    (structlog's ConsoleRenderer), or "auto": console when stderr is a terminal, JSON otherwise.
    Raises ValueError for an unknown level or format.
    """
    level_no = LEVELS.get(level.lower())
    if level_no is None:
        raise ValueError(f"unknown log level {level!r}; expected one of {', '.join(LEVELS)}")
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; expected one of {', '.join(FORMATS)}")
    use_json = _use_json(fmt)

    # Applied to every record, structlog's or stdlib's, before rendering.
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    if use_json:
        final: list[Processor] = [
            # Tracebacks as structured data, so a record stays one JSON object on one line; without
            # local variables, which would bloat the journal and could leak credentials.
            structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False)),
            _leading_keys_first,
            structlog.processors.JSONRenderer(),
        ]
    else:
        isatty = getattr(sys.stderr, "isatty", None)
        final = [structlog.dev.ConsoleRenderer(colors=callable(isatty) and bool(isatty()))]

    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        # Drops calls below the level before any processor runs: debug calls cost almost nothing.
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        context_class=dict,
        # Not cached: a reconfiguration (CLI defaults first, then the config file's level) and
        # structlog.testing.capture_logs() must reach loggers that were already used.
        cache_logger_on_first_use=False,
    )

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)

    root = logging.getLogger()
    # Idempotent: replace our own handler from an earlier call, leave anyone else's (pytest's) alone.
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level_no)
