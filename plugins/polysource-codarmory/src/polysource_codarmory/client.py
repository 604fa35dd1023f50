"""CODArmory's data files over aiohttp, revalidated with ``ETag`` / ``If-None-Match``.

CODArmory has no HTTP API: its data is the static JSON of the site's public GitHub repository,
read as raw files from ``{base_url}/{owner}/{repo}/{branch}/{directory}/{file}``. The client
keeps, per file, the last ``ETag`` and the *parsed* content. The next read of that file sends
``If-None-Match``; a ``304 Not Modified`` then reuses the parsed copy, so an unchanged file
costs neither a body transfer nor a re-parse. A changed file (a new ``ETag``) is read and
parsed again. No credentials are sent.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Final, TypeVar, cast

import aiohttp
from attrs import frozen
from yarl import URL

from polysource.errors import ErrorCategory, ProviderError
from polysource.http import HttpResponse, create_session, json_body, send, status_error
from polysource_codarmory.mapping import PROVIDER, classify_status, error_detail

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_BRANCH",
    "DEFAULT_DIRECTORY",
    "DEFAULT_OWNER",
    "DEFAULT_REPO",
    "CodArmoryClient",
]

DEFAULT_BASE_URL: Final = "https://raw.githubusercontent.com"
DEFAULT_OWNER: Final = "tzurbaev"
DEFAULT_REPO: Final = "codarmory.com"
DEFAULT_BRANCH: Final = "main"
DEFAULT_DIRECTORY: Final = "src/database"
_USER_AGENT: Final = "polysource-codarmory"

T = TypeVar("T")


@frozen
class _Cached:
    """The last good answer for one file: its ``ETag``, the parser and what it returned."""

    etag: str
    parse: Callable[[list[Any]], Any]
    value: Any


class CodArmoryClient:
    """Reads CODArmory's JSON files; the session is created on first use, inside the loop.

    Args:
        base_url: The raw-file host (an emulator's address in tests and demos).
        owner: The GitHub account that owns the repository.
        repo: The repository.
        branch: The branch (or tag, or commit) to read.
        directory: The folder of the JSON files inside the repository.
        timeout: Total seconds per HTTP request.
        wall_clock: Wall-clock seconds since the epoch, to turn a rate-limit reset time into
            a delay.
    """

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        owner: str = DEFAULT_OWNER,
        repo: str = DEFAULT_REPO,
        branch: str = DEFAULT_BRANCH,
        directory: str = DEFAULT_DIRECTORY,
        timeout: float | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.owner, self.repo, self.branch = owner, repo, branch
        self.directory = directory.strip("/")
        self._timeout = timeout
        self._wall_clock = wall_clock
        self._session: aiohttp.ClientSession | None = None
        self._cache: dict[str, _Cached] = {}

    def __repr__(self) -> str:
        where = f"{self.owner}/{self.repo}@{self.branch}"
        return f"CodArmoryClient(base_url={self.base_url!r}, repo={where!r})"

    def url(self, file: str) -> str:
        """The raw URL of ``file`` (``https://raw.githubusercontent.com/.../weapons.json``)."""
        parts = (self.owner, self.repo, self.branch, self.directory, file)
        return "/".join((self.base_url, *(p for p in parts if p)))

    def etag(self, file: str) -> str | None:
        """The ``ETag`` of the copy of ``file`` held in memory, if any."""
        cached = self._cache.get(file)
        return cached.etag if cached else None

    async def read(self, file: str, parse: Callable[[list[Any]], T]) -> T:
        """Read ``file`` (a JSON array) and return ``parse(array)``, revalidating a held copy.

        Args:
            file: The file name inside the data directory (``weapons.json``).
            parse: Turns the decoded array into what callers use; it raises
                ``invalid_response`` for a payload of the wrong shape. Its result is what a
                ``304`` reuses.

        Raises:
            ProviderError: ``rate_limit`` (429 or 403), ``not_found`` (the file is gone),
                ``provider_down`` (5xx), ``invalid_response`` (not JSON, wrong shape, or a
                304 without a held copy), ``network`` or ``timeout``.
        """
        cached = self._cache.get(file)
        if cached is not None and cached.parse is not parse:
            cached = None
        headers = {"If-None-Match": cached.etag} if cached else None
        response = await send(
            self._ensure_session(), "GET", self.url(file), provider=PROVIDER, headers=headers
        )
        if response.status == 304:
            if cached is None:
                raise _invalid(response, "304 Not Modified to an unconditional request")
            return cast("T", cached.value)
        if response.status >= 300:
            raise self._status_error(response)
        etag = response.headers.get("ETag")
        if cached is not None and etag == cached.etag:  # the host ignored If-None-Match
            return cast("T", cached.value)
        value = parse(json_body(PROVIDER, response, list))
        if etag:
            self._cache[file] = _Cached(etag, parse, value)
        else:
            self._cache.pop(file, None)
        return value

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = create_session(
                timeout=self._timeout, headers={"User-Agent": _USER_AGENT}, cookies=False
            )
        return self._session

    def _status_error(self, response: HttpResponse) -> ProviderError:
        category = classify_status(response.status) or ErrorCategory.INVALID_RESPONSE
        detail = error_detail(response.body)
        if category is ErrorCategory.NOT_FOUND:
            where = f"{self.owner}/{self.repo}@{self.branch}"
            detail = f"{URL(response.url).name} is not in {where} (moved or renamed?)"
        error = status_error(PROVIDER, response, category=category, detail=detail)
        if category is ErrorCategory.RATE_LIMIT and error.retry_after is None:
            error.retry_after = self._reset_delay(response)
        return error

    def _reset_delay(self, response: HttpResponse) -> float | None:
        """Seconds until ``X-RateLimit-Reset`` (epoch seconds), GitHub's other throttle hint."""
        reset = response.headers.get("X-RateLimit-Reset", "")
        try:
            seconds = float(reset) - self._wall_clock()
        except ValueError:
            return None
        return max(0.0, seconds) if math.isfinite(seconds) else None

    async def close(self) -> None:
        """Close the HTTP session, if one was opened (the parsed copies are kept)."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def _invalid(response: HttpResponse, what: str) -> ProviderError:
    return ProviderError(
        f"{response.method} {response.url} answered {what}",
        provider=PROVIDER,
        category=ErrorCategory.INVALID_RESPONSE,
        status=response.status,
    )
