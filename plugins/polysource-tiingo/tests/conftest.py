"""Fixtures of the Tiingo plugin's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from polysource.config import ProviderConfig, Secret
from polysource.provider import ProviderSettings
from polysource_tiingo import TiingoProvider

API_KEY = "tiingo-test-key-5f2c9d"


@pytest.fixture
async def make_provider() -> AsyncIterator[Callable[..., TiingoProvider]]:
    """A factory of Tiingo providers (closed at teardown), pointed at ``base_url``."""
    made: list[TiingoProvider] = []

    def make(
        base_url: str | None = None,
        api_key: str | None = API_KEY,
        clock: object | None = None,
        **options: object,
    ) -> TiingoProvider:
        credentials = {} if api_key is None else {"api_key": Secret.of(api_key)}
        config = ProviderConfig(base_url=base_url, credentials=credentials, options=options)
        settings = ProviderSettings("tiingo", config, clock=clock or FixedClock(1709337600.0))
        provider = TiingoProvider(settings)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.close()


class FixedClock:
    """A clock standing still at a given wall time (only what providers read)."""

    def __init__(self, wall: float) -> None:
        self.wall = wall

    def monotonic(self) -> float:
        return 1000.0

    def time(self) -> float:
        return self.wall

    async def sleep(self, delay: float) -> None:
        raise AssertionError("providers must not sleep")

    def timeout(self, delay: float | None):  # pragma: no cover - not used by providers
        raise AssertionError("providers must not set timeouts")
