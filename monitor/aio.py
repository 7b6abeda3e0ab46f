"""A guard for Python 3.11's asyncio.wait_for, which can lose a cancellation."""

from __future__ import annotations

import asyncio


def honour_cancel() -> None:
    """Raise CancelledError if this task was asked to stop but is still running.

    Python 3.11's asyncio.wait_for (used by aiomqtt's publish and subscribe timeouts, and by our own
    connect timeouts) swallows a cancellation that lands just as the awaited operation completes (fixed
    in 3.12): the task carries on, with the request still counted by Task.cancelling(). A loop that
    would then run for ever (a publisher waiting for close(), a feed reading its socket) checks here.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
