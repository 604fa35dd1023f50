"""The WZStats provider: weapon slugs in, ``weapon_meta`` and ``weapon_stats`` out.

Both datasets come from one weapons-and-tier-lists call that returns the whole catalogue.
The parsed catalogue is kept for ``catalogue_ttl`` seconds of the orchestrator's clock, so a
``weapon_stats`` and a ``weapon_meta`` read of the same moment (``fetch_merged``, a page
showing both) cost one request, and concurrent reads wait for the one in flight.

Configuration (section ``[providers.wzstats]``):

- ``base_url``: the API's address (default ``https://app.wzstats.gg``; an emulator's in demos).
- ``options.weapon_games``: games whose weapons are listed (default ``["mw3", "mw2", "bo6"]``).
- ``options.conversion_kits``: list conversion kits as weapons (default ``true``).
- ``options.streamer_profile``: whose tier lists (default ``"wzstats"``).
- ``options.catalogue_ttl``: seconds a fetched catalogue is reused (default 60; 0 disables).
- ``options.user_agent``: the ``User-Agent`` header (default ``polysource-wzstats``).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
from collections.abc import Mapping, Sequence
from typing import Any, Final

from polysource.errors import ConfigError, ErrorCategory, ProviderError
from polysource.models import ProviderInfo, Request
from polysource.provider import BaseProvider, ProviderSettings
from polysource_wzstats.client import DEFAULT_BASE_URL, DEFAULT_GAMES, WZStatsClient
from polysource_wzstats.mapping import PROVIDER, Catalogue, catalogue_from, slug

__all__ = ["WZStatsProvider"]

MAX_BATCH: Final = 500
"""Keys per ``fetch_batch``: any number is served from the one catalogue read."""
DEFAULT_CATALOGUE_TTL: Final = 60.0
_DATASETS: Final = frozenset({"weapon_stats", "weapon_meta"})


def _version() -> str:
    try:
        return importlib.metadata.version("polysource-wzstats")
    except importlib.metadata.PackageNotFoundError:
        return ""


def _option_error(name: str, message: str) -> ConfigError:
    return ConfigError(message, path=f"providers.{PROVIDER}.options.{name}")


def _games(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, Sequence) or not all(isinstance(game, str) for game in value):
        raise _option_error("weapon_games", f"expected a list of game ids, got {value!r}")
    return tuple(game.strip().lower() for game in value if game.strip())


def _ttl(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise _option_error("catalogue_ttl", f"expected seconds >= 0, got {value!r}")
    return float(value)


def _text_option(options: Mapping[str, Any], name: str, default: str) -> str:
    value = options.get(name, default)
    if not isinstance(value, str) or not value.strip():
        raise _option_error(name, f"expected a non-empty string, got {value!r}")
    return value.strip()


def _flag(options: Mapping[str, Any], name: str, default: bool) -> bool:
    value = options.get(name, default)
    if not isinstance(value, bool):
        raise _option_error(name, f"expected true or false, got {value!r}")
    return value


class WZStatsProvider(BaseProvider):
    """Weapon meta tiers per map and mode, and weapon names, games and categories, from WZStats."""

    info = ProviderInfo(
        name=PROVIDER,
        datasets=_DATASETS,
        regions={"global": 30},
        max_batch_size=MAX_BATCH,
        rate_limits=("30/minute",),
        version=_version(),
        description="WZStats (wzstats.gg): Call of Duty weapon meta tiers per map and mode.",
    )

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        options = settings.options
        self.games = _games(options.get("weapon_games", DEFAULT_GAMES))
        self.conversion_kits = _flag(options, "conversion_kits", default=True)
        self.streamer_profile = _text_option(options, "streamer_profile", "wzstats")
        self.catalogue_ttl = _ttl(options.get("catalogue_ttl", DEFAULT_CATALOGUE_TTL))
        self.client = WZStatsClient(
            base_url=settings.base_url or DEFAULT_BASE_URL,
            timeout=settings.config.timeout,
            user_agent=_text_option(options, "user_agent", "polysource-wzstats"),
        )
        self._catalogue: Catalogue | None = None
        self._loaded_at = 0.0
        self._loading = asyncio.Lock()

    async def fetch(self, request: Request) -> Any:
        """The ``weapon_stats`` or ``weapon_meta`` value of the weapon ``request.key``.

        Raises:
            ProviderError: ``not_found`` when WZStats does not list the weapon,
                ``invalid_request`` (unsupported) for another dataset, or the category of
                the HTTP or payload failure.
        """
        table = await self._table(request)
        value = table.get(slug(request.key))
        if value is None:
            raise ProviderError(
                f"{request.dataset.name} for {request.key!r} not found",
                provider=PROVIDER,
                category=ErrorCategory.NOT_FOUND,
            )
        return value

    async def fetch_batch(self, request: Request, keys: Sequence[str]) -> Mapping[str, Any]:
        """Values for many weapons from one catalogue read; unknown weapons are absent."""
        table = await self._table(request)
        found: dict[str, Any] = {}
        for key in keys:
            value = table.get(slug(key))
            if value is not None:
                found[key] = value
        return found

    async def _table(self, request: Request) -> Mapping[str, Any]:
        dataset = request.dataset.name
        if dataset not in _DATASETS:
            raise ProviderError(
                f"dataset {dataset!r} is not served",
                provider=PROVIDER,
                category=ErrorCategory.INVALID_REQUEST,
                unsupported=True,
            )
        catalogue = await self.catalogue()
        return catalogue.stats if dataset == "weapon_stats" else catalogue.meta

    async def catalogue(self) -> Catalogue:
        """The current catalogue: the cached one while fresh, else one new request."""
        cached = self._fresh()
        if cached is not None:
            return cached
        # A read already in flight fills the cache for the others; their wait is bounded by
        # that read's HTTP timeout and by the engine's per-try timeout.
        async with self._loading:
            cached = self._fresh()
            if cached is not None:
                return cached
            payload = await self.client.weapons_and_tier_lists(
                streamer_profile=self.streamer_profile,
                games=self.games,
                conversion_kits=self.conversion_kits,
            )
            catalogue = catalogue_from(payload)
            self._catalogue, self._loaded_at = catalogue, self.clock.monotonic()
            return catalogue

    def _fresh(self) -> Catalogue | None:
        if self._catalogue is None:
            return None
        if self.clock.monotonic() - self._loaded_at >= self.catalogue_ttl:
            return None
        return self._catalogue

    async def close(self) -> None:
        """Close the HTTP session and forget the cached catalogue."""
        self._catalogue = None
        await self.client.close()
