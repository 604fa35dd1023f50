"""polysource's provider conformance suite, run against the WZStats emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from polysource.emulation import Faults, serve
from polysource.testing import ErrorCase, FetchCase, ProviderConformance
from polysource_wzstats import WZStatsProvider
from polysource_wzstats.emulator import create_app


class TestWZStatsConformance(ProviderConformance):
    """The conformance checks, with the emulator answering."""

    factory = WZStatsProvider
    fetch_cases = [
        FetchCase("weapon_stats", "m4"),
        FetchCase("weapon_stats", "JACKAL-PDW"),
        FetchCase("weapon_stats", "fr-5.56"),
        FetchCase("weapon_meta", "m4"),
        FetchCase("weapon_meta", "xm4"),
        FetchCase("weapon_meta", "bp50-conversion-kit-jak-revenger-kit"),
    ]
    error_cases = [
        ErrorCase("weapon_stats", "ray-gun", "not_found"),
        ErrorCase("weapon_meta", "ray-gun", "not_found"),
        ErrorCase("quote", "AAPL", "invalid_request"),
    ]
    batch_keys = {
        "weapon_stats": ["m4", "striker", "gpr-91", "ray-gun"],
        "weapon_meta": ["m4", "striker", "gpr-91", "ray-gun"],
    }

    @pytest.fixture
    async def environment(self) -> AsyncIterator[Mapping[str, Any]]:
        """The emulator's address as the provider's base URL."""
        async with serve(create_app(Faults(seed=1))) as url:
            yield {"base_url": url}
