"""Fixtures of the CODArmory plugin's tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from polysource.config import ProviderConfig
from polysource.provider import ProviderSettings
from polysource.testing.clock import FakeClock
from polysource_codarmory import CodArmoryProvider

RECORDED_PATH = Path(__file__).parent / "data" / "recorded.json"


def recorded() -> dict[str, Any]:
    """Excerpts of the live files (tzurbaev/codarmory.com at 04408ef, 2023-10-15), by file name.

    Nine weapons, their first four attachment ids, and the categories, platforms and
    attachments they reference, copied verbatim.
    """
    return json.loads(RECORDED_PATH.read_text(encoding="utf-8"))


@pytest.fixture
async def make_provider() -> AsyncIterator[Callable[..., CodArmoryProvider]]:
    """A factory of CODArmory providers (closed at teardown), pointed at ``base_url``."""
    made: list[CodArmoryProvider] = []

    def make(
        base_url: str | None = None, clock: FakeClock | None = None, **options: object
    ) -> CodArmoryProvider:
        config = ProviderConfig(base_url=base_url, options=options)
        provider = CodArmoryProvider(ProviderSettings("codarmory", config, clock or FakeClock()))
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.close()
