"""WZStats' front-end JSON API over aiohttp: the weapons-and-tier-lists call.

The API is undocumented and anonymous. Requests carry the browser-like ``Origin`` and
``Referer`` headers the site's own front end sends. Statuses map onto the taxonomy as
PROVIDERS.md records them: 404 is ``not_found``; 403 and 429 (bot protection) are
``rate_limit``; 5xx is ``provider_down``; another 4xx means the API no longer accepts the
request as sent, which is ``invalid_request`` for this provider only (``unsupported``), so
the engine still asks the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import aiohttp
from multidict import MultiDict

from polysource.errors import ErrorCategory, ProviderError
from polysource.http import HttpResponse, create_session, json_body, send, status_error
from polysource_wzstats.mapping import PROVIDER, error_detail

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_GAMES",
    "TIER_LISTS_PATH",
    "WEAPON_ATTRIBUTES",
    "WZStatsClient",
]

DEFAULT_BASE_URL: Final = "https://app.wzstats.gg"
TIER_LISTS_PATH: Final = "/wz2/weapons/meta/weapons-and-tier-lists/"
DEFAULT_GAMES: Final = ("mw3", "mw2", "bo6")
"""The games whose weapons are asked for by default (what the site's front end asks)."""
WEAPON_ATTRIBUTES: Final = (
    "game",
    "name",
    "type",
    "isNew",
    "updateMW2",
    "updateWZ2",
    "displayType",
    "sniperSupportRank",
)
"""Weapon fields requested with ``weaponAttributes[]``, as the site's front end does."""

_SITE: Final = "https://wzstats.gg"
_USER_AGENT: Final = "polysource-wzstats"
_RATE_LIMITED: Final = frozenset({403, 429})


def _error(response: HttpResponse) -> ProviderError:
    detail = error_detail(response.body)
    if response.status in _RATE_LIMITED:
        return status_error(PROVIDER, response, category=ErrorCategory.RATE_LIMIT, detail=detail)
    error = status_error(PROVIDER, response, detail=detail)
    if error.category is not ErrorCategory.INVALID_REQUEST:
        return error
    # The request is fixed and worked before: a 400 means WZStats changed, not that the key
    # is bad for every provider.
    return ProviderError(
        error.message,
        provider=PROVIDER,
        category=ErrorCategory.INVALID_REQUEST,
        status=response.status,
        retry_after=error.retry_after,
        unsupported=True,
    )


class WZStatsClient:
    """Wire calls to WZStats; the session is created on first use, inside the running loop.

    Args:
        base_url: The API's base URL (an emulator's address in tests and demos).
        timeout: Total seconds per HTTP request.
        user_agent: The ``User-Agent`` header.
    """

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | None = None,
        user_agent: str = _USER_AGENT,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._headers = {
            "User-Agent": user_agent,
            "Accept": "application/json, text/plain, */*",
            "Origin": _SITE,
            "Referer": _SITE + "/",
        }
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"WZStatsClient(base_url={self.base_url!r})"

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = create_session(timeout=self._timeout)
        return self._session

    async def weapons_and_tier_lists(
        self,
        *,
        streamer_profile: str = "wzstats",
        games: Sequence[str] = DEFAULT_GAMES,
        attributes: Sequence[str] = WEAPON_ATTRIBUTES,
        conversion_kits: bool = True,
    ) -> dict[str, Any]:
        """``GET /wz2/weapons/meta/weapons-and-tier-lists/``: the weapons and the tier lists.

        Args:
            streamer_profile: Whose tier lists (``streamerProfileId``).
            games: Games whose weapons are listed (``weaponGames[]``); empty asks for the
                API's default.
            attributes: Weapon fields to include (``weaponAttributes[]``); empty asks for the
                API's default.
            conversion_kits: Whether conversion kits are listed as weapons
                (``addConversionKit``).

        Returns:
            The decoded JSON object (its shape is checked by the mapping).

        Raises:
            ProviderError: With the category of the failure; ``invalid_response`` when the
                body is not a JSON object.
        """
        params: MultiDict[str] = MultiDict(streamerProfileId=streamer_profile)
        for game in games:
            params.add("weaponGames[]", game)
        if conversion_kits:
            params.add("addConversionKit", "true")
        for attribute in attributes:
            params.add("weaponAttributes[]", attribute)
        response = await send(
            self._ensure_session(),
            "GET",
            self.base_url + TIER_LISTS_PATH,
            provider=PROVIDER,
            params=params,
            headers=self._headers,
        )
        if response.status >= 400:
            raise _error(response)
        return json_body(PROVIDER, response, dict)

    async def close(self) -> None:
        """Close the HTTP session, if one was opened."""
        if self._session is not None:
            await self._session.close()
            self._session = None
