"""monitor.aio.honour_cancel: a cancellation that asyncio.wait_for swallowed (Python 3.11) still ends the
task."""

from __future__ import annotations

import asyncio

import pytest

from monitor.aio import honour_cancel


@pytest.mark.asyncio
async def test_a_swallowed_cancellation_is_raised_again() -> None:
    """A task asked to stop whose CancelledError was caught (as 3.11's wait_for does when the awaited
    operation completes at that moment) is stopped at the next check; an uncancelled task goes on."""

    async def body(cancel: bool) -> str:
        if cancel:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            try:
                await asyncio.sleep(0)
            except asyncio.CancelledError:
                pass  # swallowed
        honour_cancel()
        return "went on"

    with pytest.raises(asyncio.CancelledError):
        await asyncio.create_task(body(True))
    assert await asyncio.create_task(body(False)) == "went on"
