"""Fixtures of the MX plugin's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from polysource.config import ProviderConfig, Secret
from polysource.connections import Connection
from polysource.testing import FakeClock
from polysource_mx import MXProvider

CLIENT_ID = "mx-client-id-4b1d77"
API_KEY = "mx-api-key-93c0e2f5"
USER_GUID = "USR-fa7537f3-48aa-a683-a02a-b18940482f54"
MEMBER_GUID = "MBR-7c6f361b-e582-15b6-60c0-358f12466b4b"
WALL = 1_709_337_600.0  # 2024-03-02 00:00 UTC


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock whose wall time is 2024-03-02."""
    return FakeClock(wall=WALL)


@pytest.fixture
async def make_provider(clock: FakeClock) -> AsyncIterator[Callable[..., MXProvider]]:
    """A factory of MX providers (closed at teardown), pointed at ``base_url``."""
    from polysource.provider import ProviderSettings

    made: list[MXProvider] = []

    def make(
        base_url: str | None = None,
        client_id: str | None = CLIENT_ID,
        api_key: str | None = API_KEY,
        **options: object,
    ) -> MXProvider:
        credentials = {}
        if client_id is not None:
            credentials["client_id"] = Secret.of(client_id)
        if api_key is not None:
            credentials["api_key"] = Secret.of(api_key)
        config = ProviderConfig(base_url=base_url, credentials=credentials, options=options)
        provider = MXProvider(ProviderSettings("mx", config, clock=clock))
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.close()


def connection(cursor: str | None = None) -> Connection:
    """A tenant's MX connection: the member guid and the user guid as access token."""
    return Connection("user-1", "mx", MEMBER_GUID, Secret.of(USER_GUID), "mxbank", cursor)
