"""A replay on two cores: reading, assembling and decoding in a second process, the engine in this one.

A replay as fast as it can spends about half its time turning lines into decoded messages (the
assembler and the decoder) and half in the engine, and the two halves share nothing but the decoded
batches. So `replay` and `stats` fork a process that reads the feeds and runs the first half
(`Pipeline.ingest`), and hand its batches through a pipe to this process, which runs the engine
(`Pipeline.digest`) on each as the next one is decoded. The batches are the same as in one process, in
the same order, so the alerts are the same, ids included (tests/test_ingestproc.py holds both to it).

The daemon keeps one process: its feeds arrive at the sender's pace, far below what one core handles.

Why fork: the child starts with the parent's settings, zone file and imports already in memory (no second
start-up), and it only ever runs the assembler and the decoder, which hold no locks, threads or sockets.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection
from typing import Any

from monitor.errors import FeedError
from monitor.feeds import iter_batches
from monitor.pipeline import Decoded, IngestCounts, Pipeline

# What the child sends: ("batch", Decoded), then ("end", IngestCounts) or ("error", exception).
_Message = tuple[str, Any]
# How long a child told to stop (SIGTERM) has before it is killed.
_GRACE_S = 5.0


def usable_cores() -> int:
    """The CPUs this process may run on (a systemd CPUAffinity or taskset narrows them)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - (not Linux)
        return os.cpu_count() or 1


def decoded_batches(pipeline: Pipeline, paths: Sequence[str], batch_lines: int) -> Iterator[Decoded]:
    """The feeds' lines as decoded batches, in order, decoded by a child process one or two batches
    ahead. At the end the child's counts (lines, rejects, duplicates) are handed to `pipeline`, so its
    `finish()` gives the same summary as a run in one process. A feed that cannot be read raises the
    same FeedError, after the batches read before it, as in one process."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    # multiprocessing points a child's stdin at /dev/null; a feed `-` is read from a copy of ours.
    stdin = os.dup(0) if "-" in paths else None
    child = context.Process(
        target=_ingest, args=(pipeline, paths, batch_lines, receiver, sender, stdin),
        name="chokepoint-ingest", daemon=True,
    )
    try:
        child.start()
    finally:
        if stdin is not None:
            os.close(stdin)
    sender.close()  # (so a child that dies leaves no writer: recv then raises EOFError, not hangs)
    try:
        while True:
            try:
                kind, payload = receiver.recv()
            except EOFError:
                child.join()
                raise RuntimeError(
                    f"the ingest process ended without finishing (exit code {child.exitcode})"
                ) from None
            if kind == "batch":
                yield payload
            elif kind == "end":
                pipeline.ingested = payload
                return
            else:
                raise payload
    finally:
        # A child still sending (the consumer stopped early: `| head`, an error) gets EPIPE and ends by
        # itself; one that does not (blocked reading a slow stdin) is told to, then killed.
        receiver.close()
        child.join(_GRACE_S)
        if child.is_alive():
            child.terminate()
            child.join(_GRACE_S)
            if child.is_alive():
                child.kill()
                child.join()


def _ingest(pipeline: Pipeline, paths: Sequence[str], batch_lines: int, receiver: Connection,
            sender: Connection, stdin: int | None) -> None:
    """The child: read, assemble, decode, send; then the counts, or the error that stopped it."""
    # The parent's end, inherited through fork: closed, so that once the parent closes it too a send
    # fails (EPIPE) and the child ends, instead of waiting on a pipe nobody reads.
    receiver.close()
    message: _Message
    if stdin is not None:
        sys.stdin = open(stdin, encoding="utf-8", closefd=True)  # noqa: SIM115 - the process's stdin
    try:
        first = True
        for lines in iter_batches(paths, batch_lines):
            if first:
                pipeline.seed_clock(lines)  # as the one-process replay does (cli._replay_alerts)
                first = False
            decoded = pipeline.ingest(lines)
            if decoded is not None:
                sender.send(("batch", decoded))
        counts: IngestCounts = pipeline.ingest_counts()
        message = ("end", counts)
    except FeedError as exc:
        message = ("error", exc)
    except Exception:  # noqa: BLE001 - a bug: sent on, so the parent fails with the child's traceback, not a hang
        message = ("error", RuntimeError(f"the ingest process failed:\n{traceback.format_exc()}".rstrip()))
    try:
        sender.send(message)
    except (BrokenPipeError, OSError):  # pragma: no cover - (the parent has gone)
        pass
    sender.close()
