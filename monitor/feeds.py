"""Recorded feeds: files (plain or .gz) and stdin, read as batches of raw lines.

Only this module and the network feeds touch input; the pipeline sees lists of bytes lines.
"""

from __future__ import annotations

import gzip
import io
import os
import sys
import zlib
from collections.abc import Iterator, Sequence
from typing import BinaryIO, Protocol

from monitor.errors import FeedError

BATCH_LINES = 8192


def check_feeds(paths: Sequence[str]) -> None:
    """Refuse a missing or unreadable feed before anything is processed (one clear line, exit 1)."""
    for path in paths:
        if path == "-":
            continue
        if not os.path.exists(path):
            raise FeedError(f"{path}: no such file")
        if os.path.isdir(path):
            raise FeedError(f"{path}: is a directory, not a feed file")
        if not os.access(path, os.R_OK):
            raise FeedError(f"{path}: permission denied")


class _LineSource(Protocol):
    """What a feed is read through: bytes lines, then close (a file, stdin, or a GzipFile over either)."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


def _open(path: str) -> _LineSource:
    if path == "-":
        raw: BinaryIO = sys.stdin.buffer
        head = raw.peek(2)[:2] if isinstance(raw, io.BufferedReader) else b""
        if head == b"\x1f\x8b":
            return gzip.GzipFile(fileobj=raw)
        return raw
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed by the caller's context
    except OSError as exc:
        raise FeedError(f"{path}: {exc.strerror or exc}") from exc
    if path.endswith(".gz") or f.peek(2)[:2] == b"\x1f\x8b":
        return _GzipFeed(f)
    return f


class _GzipFeed(gzip.GzipFile):
    """A gzip file that closes the file under it too (GzipFile(fileobj=f).close() leaves f open, and a
    replay of many rotated files would hold a descriptor for each until garbage collection)."""

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__(fileobj=raw, mode="rb")
        self._raw = raw

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._raw.close()


def iter_batches(paths: Sequence[str], batch_lines: int = BATCH_LINES) -> Iterator[list[bytes]]:
    """Yield lists of raw lines (newline and carriage returns before it stripped) from the feeds, one
    after the other, in order, `batch_lines` at a time (the last of each feed shorter)."""
    for path in paths:
        f = _open(path)
        try:
            pending: list[bytes] = []
            try:
                for lines in _lines(f):
                    pending += lines
                    while len(pending) >= batch_lines:
                        yield pending[:batch_lines]
                        del pending[:batch_lines]
            except (OSError, EOFError, zlib.error) as exc:
                raise FeedError(f"{path}: unreadable after {exc.__class__.__name__}: {exc}") from exc
            if pending:
                yield pending
        finally:
            if f is not sys.stdin.buffer:
                f.close()


def _lines(f: _LineSource) -> Iterator[list[bytes]]:
    """The lines of `f`, a block at a time: one split per block, not a Python step per line (a tenth of a
    replay's time went on reading line by line). `read1` returns what is there, so a pipe's lines come
    through as they arrive, not when a block is full."""
    read = getattr(f, "read1", f.read)  # (every source here has read1: files, stdin, GzipFile)
    tail = b""
    while True:
        block = read(_BLOCK)
        if not block:
            break
        buf = tail + block if tail else block
        lines = buf.split(b"\n")
        tail = lines.pop()
        if b"\r" in buf:
            lines = [line.rstrip(b"\r") for line in lines]
        yield lines
    if tail:
        yield [tail.rstrip(b"\r")]


_BLOCK = 1 << 20
