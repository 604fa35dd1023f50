"""Fixtures of the Belvo plugin's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from polysource.config import ProviderConfig, Secret
from polysource.connections import Connection
from polysource.provider import ProviderSettings
from polysource.testing import FakeClock
from polysource_belvo import BelvoProvider

SECRET_ID = "belvo-test-id-4f1a9c"
SECRET_PASSWORD = "belvo-test-password-8e2d7b"
USERNAME = "bank-user-5d81"
PASSWORD = "bank-pass-c93e"
LINK_ID = "8848bd0c-9c7e-4f53-a732-ec896b11d4c4"
WALL = 1_709_337_600.0  # 2024-03-02 00:00 UTC


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock whose wall time is 2024-03-02."""
    return FakeClock(start=1000.0, wall=WALL)


@pytest.fixture
def connection() -> Connection:
    """A tenant's connection to the documented example link."""
    return Connection("tenant-1", "belvo", LINK_ID, institution="erebor_mx_retail")


@pytest.fixture
async def make_provider(clock: FakeClock) -> AsyncIterator[Callable[..., BelvoProvider]]:
    """A factory of Belvo providers (closed at teardown), pointed at ``base_url``."""
    made: list[BelvoProvider] = []

    def make(
        base_url: str | None = None,
        *,
        secret_id: str | None = SECRET_ID,
        secret_password: str | None = SECRET_PASSWORD,
        provider_clock: Any = None,
        **options: Any,
    ) -> BelvoProvider:
        credentials = {}
        if secret_id is not None:
            credentials["secret_id"] = Secret.of(secret_id)
        if secret_password is not None:
            credentials["secret_password"] = Secret.of(secret_password)
        config = ProviderConfig(base_url=base_url, credentials=credentials, options=options)
        provider = BelvoProvider(ProviderSettings("belvo", config, provider_clock or clock))
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.close()
