"""Fixtures of the WZStats plugin's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from polysource.config import ProviderConfig
from polysource.provider import ProviderSettings
from polysource.testing import FakeClock
from polysource_wzstats import WZStatsProvider


@pytest.fixture
def clock() -> FakeClock:
    """The clock handed to providers; it moves only when a test advances it."""
    return FakeClock()


@pytest.fixture
async def make_provider(clock: FakeClock) -> AsyncIterator[Callable[..., WZStatsProvider]]:
    """A factory of WZStats providers (closed at teardown), pointed at ``base_url``."""
    made: list[WZStatsProvider] = []

    def make(base_url: str | None = None, **options: object) -> WZStatsProvider:
        config = ProviderConfig(base_url=base_url, options=options)
        provider = WZStatsProvider(ProviderSettings("wzstats", config, clock=clock))
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.close()
