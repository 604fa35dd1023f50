"""Fleet-wide rate limits on a shared Redis, and the local fallback when it is unreachable."""

from __future__ import annotations

import uuid

import pytest
import redis

from polysource import AllProvidersFailed, Orchestrator, load_config
from polysource.datasets import QUOTE
from polysource.testing import FakeProvider


def _config(storage: str, prefix: str):
    return load_config(
        environ={},
        overrides={
            "telemetry": {"log": False},
            "rate_limit_storage": storage,
            "rate_limit_prefix": prefix,
            "providers": {"a": {"rate_limits": ["5/minute"], "retry": {"attempts": 1}}},
        },
    )


@pytest.fixture
def prefix():
    """A key prefix of this test's own; its keys are deleted afterwards."""
    name = f"ps-limits-{uuid.uuid4().hex[:8]}"
    yield name
    client = redis.Redis()
    try:
        keys = list(client.scan_iter(f"{name}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


async def test_a_limit_holds_across_two_engines(prefix):
    """5/minute shared through Redis: two engines together make five provider calls."""
    storage = "async+redis://localhost:6379/0"
    first, second = FakeProvider("a"), FakeProvider("a")
    refused = 0
    categories = []
    async with (
        Orchestrator(
            _config(storage, prefix), plugins=[first], entry_points=False, environ={}
        ) as one,
        Orchestrator(
            _config(storage, prefix), plugins=[second], entry_points=False, environ={}
        ) as two,
    ):
        for i in range(4):
            for orch in (one, two):
                try:
                    await orch.fetch(QUOTE, f"K{i}-{id(orch)}")
                except AllProvidersFailed as failed:
                    categories.append(failed.errors[0].category)
                    refused += 1
        assert one._slots["a"].limiter.fallbacks == 0
    assert first.call_count() + second.call_count() == 5
    assert refused == 3
    assert set(categories) == {"rate_limit"}


async def test_an_unreachable_limit_store_falls_back_to_local_limits(prefix):
    """With the store down, calls still go out, limited per process; nothing fails early."""
    fake = FakeProvider("a")
    config = _config("async+redis://127.0.0.1:1/0", prefix)
    async with Orchestrator(config, plugins=[fake], entry_points=False, environ={}) as orch:
        answered = 0
        for i in range(7):
            try:
                await orch.fetch(QUOTE, f"K{i}")
                answered += 1
            except AllProvidersFailed:
                pass
        assert answered == 5
        assert orch._slots["a"].limiter.fallbacks == 7


async def test_a_bad_limit_store_is_a_config_error():
    """A storage URI that is not async names the key."""
    from polysource.errors import ConfigError

    config = load_config(environ={}, overrides={"rate_limit_storage": "memory://"})
    orch = Orchestrator(config, plugins=[FakeProvider("a")], entry_points=False, environ={})
    with pytest.raises(ConfigError, match="rate_limit_storage"):
        await orch.start()


@pytest.mark.parametrize(
    "storage",
    [
        "unknown+scheme://user:pw-c4nary@host/0",
        "memory://user:pw-c4nary@host",
        "async+redis://:pw-c4nary@[::1",
    ],
)
async def test_a_rejected_limit_store_is_quoted_without_its_password(storage):
    """The error for a rate_limit_storage that cannot be used masks the URL's password."""
    from polysource.errors import ConfigError

    config = load_config(environ={}, overrides={"rate_limit_storage": storage})
    orch = Orchestrator(config, plugins=[FakeProvider("a")], entry_points=False, environ={})
    with pytest.raises(ConfigError, match="rate_limit_storage") as info:
        await orch.start()
    assert "pw-c4nary" not in str(info.value) and "pw-c4nary" not in repr(info.value)
