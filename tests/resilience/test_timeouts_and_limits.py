"""The system clock's timeouts and the local rate limiter."""

from __future__ import annotations

import asyncio

import pytest

from polysource.clock import SystemClock
from polysource.resilience.ratelimit import RateLimiter


async def _in_timeout(clock, started, delay=30.0):
    async with clock.timeout(delay):
        started.set()
        await asyncio.Event().wait()


async def test_timeout_cancels_block_with_timeout_error():
    """A block that overruns its timeout ends with TimeoutError."""
    clock = SystemClock()
    with pytest.raises(TimeoutError):
        await _in_timeout(clock, asyncio.Event(), delay=0.001)


async def test_outside_cancel_is_not_turned_into_timeout():
    """A cancel from outside stays a CancelledError."""
    clock = SystemClock()
    started = asyncio.Event()
    task = asyncio.create_task(_in_timeout(clock, started))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_block_finishing_in_time_is_untouched():
    """A block that finishes in time runs to its end; None means no limit."""
    clock = SystemClock()
    done = []
    async with clock.timeout(10):
        await asyncio.sleep(0)
        done.append(1)
    async with clock.timeout(None):
        await asyncio.sleep(0)
        done.append(2)
    assert done == [1, 2]


def test_limiter_never_exceeds_its_limit():
    """The limiter admits exactly the limit per window."""
    limiter = RateLimiter("p", ["1000/day"])
    admitted = sum(limiter.acquire() for _ in range(1500))
    assert admitted == 1000
    assert limiter.remaining() == {"1000 per 1 day": 0}


def test_refused_call_takes_no_permit_of_another_limit():
    """Every limit must have room, and a refused call spends none of the others' permits."""
    limiter = RateLimiter("p", ["3/day", "1000/day"])
    assert [limiter.acquire() for _ in range(5)] == [True, True, True, False, False]
    assert limiter.remaining() == {"3 per 1 day": 0, "1000 per 1 day": 997}
