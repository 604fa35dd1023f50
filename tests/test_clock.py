"""The fake clock: sleeps, timeouts and run() advance only fake time."""

from __future__ import annotations

import asyncio

import pytest

from polysource.clock import SystemClock
from polysource.testing import FakeClock


async def test_sleep_wakes_when_advanced():
    """A sleeper wakes exactly when the clock passes its deadline."""
    clock = FakeClock()
    task = asyncio.create_task(clock.sleep(5))
    await clock.advance(4.9)
    assert not task.done()
    await clock.advance(0.1)
    assert task.done()


async def test_timeout_raises_timeout_error_on_fake_time():
    """timeout() cancels its block with TimeoutError once fake time passes the delay."""
    clock = FakeClock()

    async def slow():
        async with clock.timeout(1.0):
            await clock.sleep(10)

    with pytest.raises(TimeoutError):
        await clock.run(slow())
    assert clock.monotonic() == 1001.0


async def test_run_drives_to_completion_and_detects_deadlock():
    """run() jumps between timers; a wait with no timer is reported instead of hanging."""
    clock = FakeClock()

    async def work():
        await clock.sleep(3)
        await clock.sleep(4)
        return "done"

    assert await clock.run(work()) == "done"
    assert clock.monotonic() == 1007.0
    with pytest.raises(RuntimeError, match="deadlock"):
        await clock.run(asyncio.get_running_loop().create_future())


async def test_system_clock_timeout():
    """The system clock's timeout is asyncio's."""
    clock = SystemClock()
    with pytest.raises(TimeoutError):
        async with clock.timeout(0):
            await asyncio.sleep(1)
