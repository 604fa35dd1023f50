"""polysource's provider conformance suite, run against the CODArmory emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from polysource.emulation import Faults, serve
from polysource.testing import ErrorCase, FetchCase, ProviderConformance
from polysource_codarmory import CodArmoryProvider
from polysource_codarmory.emulator import create_app


class TestCodArmoryConformance(ProviderConformance):
    """The conformance checks, with the emulator answering."""

    factory = CodArmoryProvider
    fetch_cases = [
        FetchCase("weapon_stats", "m4"),
        FetchCase("weapon_stats", "Kastov-762"),
        FetchCase("weapon_stats", "rpg-7"),
        FetchCase("weapon_stats", "xm4"),
    ]
    batch_keys = {"weapon_stats": ["m4", "mcw", "jackal-pdw", "not-a-gun", "striker"]}
    error_cases = [
        ErrorCase("weapon_stats", "not-a-gun", "not_found"),
        ErrorCase("weapon_meta", "m4", "invalid_request"),
    ]

    @pytest.fixture
    async def environment(self) -> AsyncIterator[Mapping[str, Any]]:
        """The emulator's address as the provider's base URL."""
        async with serve(create_app(Faults(seed=1))) as url:
            yield {"base_url": url}
