"""HTTP helpers shared by provider plugins: sessions, error classification and JSON bodies.

:func:`send` maps transport failures to ``network``/``timeout``; :func:`status_error` and
:func:`raise_for_status` turn a failing status into a categorised error; :func:`json_body`
decodes a success (``invalid_response`` when it is not the JSON expected). Messages name the
method and the URL without its query string and never include request headers, so tokens
never reach them.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
from collections.abc import Iterable, Mapping
from typing import Any, Final, TypeVar

import aiohttp
import orjson
from aiohttp.abc import AbstractCookieJar
from attrs import frozen
from multidict import CIMultiDictProxy
from yarl import URL

from polysource.errors import ErrorCategory, ProviderError

__all__ = [
    "HttpResponse",
    "classify_status",
    "create_session",
    "json_body",
    "parse_retry_after",
    "raise_for_status",
    "redact_url",
    "send",
    "status_error",
]

J = TypeVar("J", dict[str, Any], list[Any])

_DETAIL_LIMIT: Final = 200
_MASK: Final = "***"


@frozen
class HttpResponse:
    """A fully read HTTP answer: the status, headers and body bytes, and the redacted URL."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    url: str
    method: str = "GET"

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")


def classify_status(status: int) -> ErrorCategory | None:
    """The taxonomy category of an HTTP status, or ``None`` below 400."""
    if status < 400:
        return None
    if status in (401, 403):
        return ErrorCategory.AUTH
    if status == 404:
        return ErrorCategory.NOT_FOUND
    if status == 429:
        return ErrorCategory.RATE_LIMIT
    if status < 500:
        return ErrorCategory.INVALID_REQUEST
    return ErrorCategory.PROVIDER_DOWN


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay in seconds, or an HTTP date).

    Args:
        value: The header's value, or ``None`` when absent.
        now: Wall-clock seconds since the epoch to measure an HTTP date against (default: now).

    Returns:
        A non-negative number of seconds, or ``None`` when absent or unparsable.
    """
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        reference = dt.datetime.now(dt.UTC).timestamp() if now is None else now
        seconds = when.timestamp() - reference
    return max(0.0, seconds) if math.isfinite(seconds) else None


def redact_url(url: str | URL) -> str:
    """The URL without user info, query string or fragment, safe to show in a message."""
    parsed = URL(url) if isinstance(url, str) else url
    return str(parsed.with_user(None).with_query(None).with_fragment(None))


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, _MASK)
    return text


def status_error(
    provider: str,
    response: HttpResponse,
    *,
    category: ErrorCategory | str | None = None,
    detail: str | None = None,
    secrets: Iterable[str] = (),
) -> ProviderError:
    """Build the :class:`ProviderError` for an HTTP answer that is a failure.

    Args:
        provider: The provider's name.
        response: The answer.
        category: Overrides the category :func:`classify_status` gives the status.
        detail: The provider's own explanation (from its error body); it is shortened and any
            of ``secrets`` in it is masked.
        secrets: Values that must never appear in the message (API keys, tokens).
    """
    chosen = category or classify_status(response.status) or ErrorCategory.INVALID_RESPONSE
    message = f"{response.method} {response.url} answered HTTP {response.status}"
    if detail:
        message += f": {_scrub(detail.strip(), secrets)[:_DETAIL_LIMIT]}"
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    return ProviderError(
        message, provider=provider, category=chosen, retry_after=retry_after, status=response.status
    )


def raise_for_status(
    provider: str, response: HttpResponse, *, detail: str | None = None, secrets: Iterable[str] = ()
) -> None:
    """Raise :func:`status_error` when the status is 400 or above."""
    if response.status >= 400:
        raise status_error(provider, response, detail=detail, secrets=secrets)


def json_body(provider: str, response: HttpResponse, expect: type[J]) -> J:
    """Decode a successful answer's JSON body and check its top-level type (``dict``/``list``).

    Raises:
        ProviderError: ``invalid_response`` when the body is not JSON or not of type ``expect``.
    """
    try:
        data = orjson.loads(response.body)
    except orjson.JSONDecodeError as exc:
        raise _invalid(provider, response, "a body that is not JSON") from exc
    if not isinstance(data, expect):
        raise _invalid(provider, response, f"JSON {type(data).__name__}, not {expect.__name__}")
    return data


def _invalid(provider: str, response: HttpResponse, what: str) -> ProviderError:
    return ProviderError(
        f"{response.method} {response.url} answered {what}",
        provider=provider,
        category=ErrorCategory.INVALID_RESPONSE,
        status=response.status,
    )


async def send(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    provider: str,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
    allow_redirects: bool = True,
    shown: str | None = None,
    secrets: Iterable[str] = (),
) -> HttpResponse:
    """Send one request and read the whole answer; the status is not checked here.

    Args:
        session: The client session.
        method: The HTTP method.
        url: The URL.
        provider: The provider's name, for errors.
        params: Query parameters.
        headers: Request headers.
        data: The request body (already encoded).
        allow_redirects: Whether to follow redirects.
        shown: How the URL appears in errors (default: the URL without its query); a path
            template keeps ids that are secrets out of messages.
        secrets: Values that must not appear in an error; a transport error whose text holds
            one is raised without its cause.

    Raises:
        ProviderError: ``timeout`` when the request timed out, ``network`` when the connection
            failed or broke, ``invalid_request`` when the URL is invalid.
    """
    shown = shown or redact_url(url)
    try:
        async with session.request(
            method,
            url,
            params=params,
            headers=headers,
            data=data,
            allow_redirects=allow_redirects,
        ) as resp:
            body = await resp.read()
            return HttpResponse(resp.status, resp.headers, body, shown, method)
    except (TimeoutError, aiohttp.ClientError) as exc:
        error = _transport_error(provider, f"{method} {shown}", exc)
        hidden = tuple(s for s in secrets if s)
        if hidden and _scrub(repr(exc), hidden) != repr(exc):
            raise error from None  # the cause's text would show a secret
        raise error from exc


def _transport_error(provider: str, where: str, exc: Exception) -> ProviderError:
    if isinstance(exc, TimeoutError):  # also aiohttp's ServerTimeoutError, ConnectionTimeoutError
        return ProviderError(f"{where} timed out", provider=provider, category="timeout")
    if isinstance(exc, aiohttp.InvalidURL):
        return ProviderError(f"{where}: invalid URL", provider=provider, category="invalid_request")
    return ProviderError(
        f"{where} failed: {type(exc).__name__}", provider=provider, category="network"
    )


def create_session(
    *,
    timeout: float | None = None,
    headers: Mapping[str, str] | None = None,
    limit: int = 100,
    limit_per_host: int = 20,
    cookies: bool = True,
) -> aiohttp.ClientSession:
    """Create a client session with TLS verification on; call it inside the running loop.

    Args:
        timeout: Total seconds per request (``None``: bounded only by the caller's deadline).
        headers: Headers sent with every request.
        limit: Most open connections in the pool.
        limit_per_host: Most open connections to one host.
        cookies: Whether the session keeps cookies (``False`` for providers that send their
            own ``Cookie`` header).
    """
    connector = aiohttp.TCPConnector(
        limit=limit, limit_per_host=limit_per_host, ttl_dns_cache=300, ssl=True
    )
    jar: AbstractCookieJar = aiohttp.CookieJar() if cookies else aiohttp.DummyCookieJar()
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout, connect=timeout),
        headers=dict(headers or {}),
        cookie_jar=jar,
        raise_for_status=False,
    )
