"""The system clock's bucketed timeouts and the leased rate limiter."""

from __future__ import annotations

import asyncio

import pytest

from polysource.clock import SystemClock
from polysource.resilience.ratelimit import RateLimiter


async def _in_timeout(clock, started, delay=30.0):
    async with clock.timeout(delay):
        started.set()
        await asyncio.Event().wait()


async def test_fired_bucket_cancels_block_with_timeout_error():
    """Firing a bucket by hand turns the block's cancellation into TimeoutError."""
    clock = SystemClock()
    started = asyncio.Event()
    task = asyncio.create_task(_in_timeout(clock, started))
    await started.wait()
    wheel = clock._wheel_for(asyncio.get_running_loop())
    (slot,) = list(wheel._buckets)
    wheel._fire(slot)
    with pytest.raises(TimeoutError):
        await task


async def test_outside_cancel_is_not_turned_into_timeout():
    """A cancel from outside stays a CancelledError, and the block leaves its bucket."""
    clock = SystemClock()
    started = asyncio.Event()
    task = asyncio.create_task(_in_timeout(clock, started))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    wheel = clock._wheel_for(asyncio.get_running_loop())
    assert all(not bucket for bucket in wheel._buckets.values())


async def test_block_finishing_in_time_is_untouched():
    """A block that finishes leaves no timeout behind; None means no limit."""
    clock = SystemClock()
    async with clock.timeout(10):
        await asyncio.sleep(0)
    async with clock.timeout(None):
        await asyncio.sleep(0)
    wheel = clock._wheel_for(asyncio.get_running_loop())
    assert all(not bucket for bucket in wheel._buckets.values())


def test_leased_limiter_never_exceeds_its_limit():
    """Leasing permits in blocks still admits exactly the limit per window."""
    limiter = RateLimiter("p", ["1000/day"])
    admitted = sum(limiter.acquire() for _ in range(1500))
    assert admitted == 1000
    assert limiter._leases[0].block == 10


def test_small_limit_leases_one_permit_at_a_time():
    """A small limit is taken permit by permit, and every limit must have room."""
    limiter = RateLimiter("p", ["3/day", "1000/day"])
    assert [limiter.acquire() for _ in range(4)] == [True, True, True, False]
    assert limiter._leases[0].block == 1
