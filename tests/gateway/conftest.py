"""Gateway fixtures: a started orchestrator over fakes, served through aiohttp's test client."""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest
from aiohttp.test_utils import TestClient, TestServer

from polysource import Secret, load_config
from polysource.gateway import create_app
from polysource.testing import FakeProvider

ALICE_KEY = "key-alice-0f9e8d7c6b5a"
BOB_KEY = "key-bob-1a2b3c4d5e6f"
PUBLIC_KEY = "key-public-77aa88bb99cc"
ADMIN_TOKEN = "admin-token-5e5e5e5e5e5e5e5e"


def gateway_section(**overrides):
    """A [gateway] section with two tenants' keys, a key without tenant and an admin token."""
    section = {
        "api_keys": {
            "alice": {"key": Secret.of(ALICE_KEY), "tenant": "tenant-a"},
            "bob": {"key": Secret.of(BOB_KEY), "tenant": "tenant-b"},
            "public": {"key": Secret.of(PUBLIC_KEY)},
        },
        "admin_token": Secret.of(ADMIN_TOKEN),
    }
    section.update(overrides)
    return section


@asynccontextmanager
async def _serving(orch, config=None):
    """A test client over the gateway app of a started ``orch``."""
    app = create_app(orch, config, own_orchestrator=False)
    async with TestClient(TestServer(app)) as client:
        yield client


def auth(key):
    """The Authorization header of ``key``."""
    return {"Authorization": f"Bearer {key}"}


class Keys:
    """The credentials the gateway fixtures configure, and helpers around them."""

    alice = ALICE_KEY
    bob = BOB_KEY
    public = PUBLIC_KEY
    admin = ADMIN_TOKEN
    section = staticmethod(gateway_section)
    auth = staticmethod(auth)


@pytest.fixture
def keys():
    """The configured credentials (``keys.auth(keys.alice)`` is a header)."""
    return Keys


@pytest.fixture
def serving():
    """``async with serving(orch) as client``: a test client over the gateway of ``orch``."""
    return _serving


@pytest.fixture
def fake(clock):
    """A fake provider of quotes and fundamentals (batches of 10)."""
    return FakeProvider("alpha", datasets={"quote", "fundamentals"}, clock=clock, max_batch_size=10)


@pytest.fixture
async def gateway(make_orchestrator, fake):
    """A test client of a gateway over the fake provider, with keys and an admin token."""
    config = load_config(
        environ={},
        overrides={
            "telemetry": {"log": False},
            "gateway": gateway_section(),
            "providers": {"alpha": {"retry": {"attempts": 1}}},
        },
    )
    orch = await make_orchestrator(fake, config=config)
    async with _serving(orch) as client:
        yield client
