"""The CODArmory provider: weapon slugs in, [`WeaponStats`][polysource.datasets.WeaponStats] out.

Every answer, one key or five hundred, comes from one read of the whole catalogue: the four
files it joins (``weapons.json``, ``categories.json``, ``platforms.json``,
``attachments.json``) are read concurrently, each revalidated with its ``ETag``.

Configuration (section ``[providers.codarmory]``), none of it required:

- ``base_url``: the raw-file host (default ``https://raw.githubusercontent.com``; an
  emulator's address in demos and tests).
- ``options.owner``, ``options.repo``, ``options.branch``: the repository to read (default
  ``tzurbaev``, ``codarmory.com``, ``main``); ``options.directory``: the folder of the files
  (default ``src/database``).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
from collections.abc import Mapping, Sequence
from typing import Any, Final

from polysource.datasets import WeaponStats
from polysource.errors import ConfigError, ErrorCategory, ProviderError
from polysource.models import ProviderInfo, Request
from polysource.provider import BaseProvider, ProviderSettings
from polysource_codarmory.client import (
    DEFAULT_BASE_URL,
    DEFAULT_BRANCH,
    DEFAULT_DIRECTORY,
    DEFAULT_OWNER,
    DEFAULT_REPO,
    CodArmoryClient,
)
from polysource_codarmory.mapping import (
    ATTACHMENTS_FILE,
    CATEGORIES_FILE,
    PLATFORMS_FILE,
    PROVIDER,
    WEAPONS_FILE,
    Catalogue,
    WeaponRecord,
    parse_names,
    parse_weapons,
)

__all__ = ["CodArmoryProvider"]

MAX_BATCH: Final = 500
"""Keys per ``fetch_batch``: any number costs the same one catalogue read."""


def _version() -> str:
    try:
        return importlib.metadata.version("polysource-codarmory")
    except importlib.metadata.PackageNotFoundError:
        return ""


def _categories(payload: list[Any]) -> dict[str, str]:
    return parse_names(payload, CATEGORIES_FILE)


def _platforms(payload: list[Any]) -> dict[str, str]:
    return parse_names(payload, PLATFORMS_FILE)


def _attachments(payload: list[Any]) -> dict[str, str]:
    return parse_names(payload, ATTACHMENTS_FILE)


def _option(settings: ProviderSettings, name: str, default: str) -> str:
    value = settings.options.get(name, default)
    if not isinstance(value, str) or not value.strip("/ "):
        raise ConfigError(
            f"must be a non-empty string, got {value!r}",
            path=f"providers.{settings.name}.options.{name}",
        )
    return value.strip("/ ")


def _first_provider_error(group: ExceptionGroup[Exception]) -> Exception:
    """The first ProviderError of a TaskGroup's failure, else the group itself."""
    for exc in group.exceptions:
        if isinstance(exc, ProviderError):
            return exc
    return group


class CodArmoryProvider(BaseProvider):
    """Weapon base data (MW2 and MW3) from CODArmory's public JSON files on GitHub."""

    info = ProviderInfo(
        name=PROVIDER,
        datasets={"weapon_stats"},
        regions={"global": 20},
        max_batch_size=MAX_BATCH,
        rate_limits=("60/minute",),
        version=_version(),
        description="CODArmory: weapon names, categories, platforms, unlocks and attachments "
        "from the site's JSON files on GitHub (no ballistics).",
    )

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        self.client = CodArmoryClient(
            base_url=settings.base_url or DEFAULT_BASE_URL,
            owner=_option(settings, "owner", DEFAULT_OWNER),
            repo=_option(settings, "repo", DEFAULT_REPO),
            branch=_option(settings, "branch", DEFAULT_BRANCH),
            directory=_option(settings, "directory", DEFAULT_DIRECTORY),
            timeout=settings.config.timeout,
            wall_clock=settings.clock.time,
        )

    async def fetch(self, request: Request) -> WeaponStats:
        """The ``weapon_stats`` of the weapon whose slug is ``request.key``.

        Raises:
            ProviderError: ``not_found`` when the catalogue has no such weapon; the categories
                of
                [`CodArmoryClient.read()`][polysource_codarmory.provider.CodArmoryClient.read] when
                a file cannot be read.
        """
        _check_dataset(request)
        stats = (await self.catalogue()).weapon_stats(request.key)
        if stats is None:
            raise ProviderError(
                f"weapon {request.key!r} is not in the catalogue",
                provider=PROVIDER,
                category=ErrorCategory.NOT_FOUND,
            )
        return stats

    async def fetch_batch(self, request: Request, keys: Sequence[str]) -> Mapping[str, Any]:
        """``weapon_stats`` of many weapons from one catalogue read; unknown slugs are absent."""
        _check_dataset(request)
        catalogue = await self.catalogue()
        found: dict[str, WeaponStats] = {}
        for key in keys:
            stats = catalogue.weapon_stats(key)
            if stats is not None:
                found[key] = stats
        return found

    async def catalogue(self) -> Catalogue:
        """Read the four catalogue files concurrently (each revalidated) and join them."""
        read = self.client.read
        try:
            async with asyncio.TaskGroup() as group:
                weapons = group.create_task(read(WEAPONS_FILE, parse_weapons))
                categories = group.create_task(read(CATEGORIES_FILE, _categories))
                platforms = group.create_task(read(PLATFORMS_FILE, _platforms))
                attachments = group.create_task(read(ATTACHMENTS_FILE, _attachments))
        except ExceptionGroup as group_error:
            first = _first_provider_error(group_error)
            raise first from first.__cause__
        records: Mapping[str, WeaponRecord] = weapons.result()
        return Catalogue(records, categories.result(), platforms.result(), attachments.result())

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.client.close()


def _check_dataset(request: Request) -> None:
    if request.dataset.name != "weapon_stats":
        raise ProviderError(
            f"dataset {request.dataset.name!r} is not served",
            provider=PROVIDER,
            category=ErrorCategory.INVALID_REQUEST,
            unsupported=True,
        )
