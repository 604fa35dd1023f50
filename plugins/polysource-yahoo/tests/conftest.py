"""Fixtures of the Yahoo plugin's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from polysource.config import ProviderConfig
from polysource.provider import ProviderSettings
from polysource_yahoo import YahooProvider


@pytest.fixture
async def make_provider() -> AsyncIterator[Callable[..., YahooProvider]]:
    """A factory of Yahoo providers (closed at teardown), pointed at ``base_url``."""
    made: list[YahooProvider] = []

    def make(base_url: str | None = None, **options: object) -> YahooProvider:
        config = ProviderConfig(base_url=base_url, options=options)
        provider = YahooProvider(ProviderSettings("yahoo", config))
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.close()
