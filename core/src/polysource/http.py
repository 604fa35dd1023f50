"""HTTP helpers shared by provider plugins: sessions, error classification and JSON bodies.

[`send()`][polysource.http.send] maps transport failures to ``network``/``timeout`` and follows
redirects only
within the request's origin, so no credential (header, body or query) ever reaches another
host; [`status_error()`][polysource.http.status_error] and
[`raise_for_status()`][polysource.http.raise_for_status] turn a failing status into a
categorised error through the explicit table
[`STATUS_CATEGORIES`][polysource.http.STATUS_CATEGORIES]; [`json_body()`][polysource.http.json_body]
decodes a success (``invalid_response`` when it is not the JSON expected). Messages name the
method and the URL without its query string and never include request headers; text from the
provider is masked with [`polysource.redaction.redact()`][polysource.redaction.redact], so tokens
never reach them.

Tracing: [`add_trace_config()`][polysource.http.add_trace_config] registers an aiohttp
``TraceConfig`` (``polysource[otel]`` registers one at start-up) that every session
[`create_session()`][polysource.http.create_session] makes from then on carries; with none
registered, sessions and requests are as they were. [`send()`][polysource.http.send] hands the
trace config the URL as messages show it, under
[`SHOWN_URL`][polysource.http.SHOWN_URL] in ``trace_request_ctx``."""

from __future__ import annotations

import datetime as dt
import email.utils
import math
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final, TypeVar

import aiohttp
import orjson
from aiohttp.abc import AbstractCookieJar
from attrs import frozen
from multidict import CIMultiDictProxy
from yarl import URL

from polysource.errors import ErrorCategory, ProviderError
from polysource.redaction import redact

__all__ = [
    "HttpResponse",
    "SHOWN_URL",
    "STATUS_CATEGORIES",
    "add_trace_config",
    "classify_status",
    "create_session",
    "json_body",
    "parse_retry_after",
    "raise_for_status",
    "redact_url",
    "remove_trace_config",
    "send",
    "status_error",
]

J = TypeVar("J", dict[str, Any], list[Any])

_DETAIL_LIMIT: Final = 200
_MAX_REDIRECTS: Final = 10
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})

SHOWN_URL: Final = "shown_url"
"""The key, in the ``trace_request_ctx`` mapping [`send()`][polysource.http.send] passes to
aiohttp, of the URL as messages show it (no user info and no query; the provider's path
template when it gave one), so a trace config can name a request without a secret or a private
id."""

_TRACE_CONFIGS: list[aiohttp.TraceConfig] = []
"""What ``add_trace_config`` registered, in order (process-wide, like a tracer provider)."""


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


STATUS_CATEGORIES: Final[Mapping[int, ErrorCategory]] = MappingProxyType(
    {
        400: ErrorCategory.INVALID_REQUEST,
        401: ErrorCategory.AUTH,
        403: ErrorCategory.AUTH,
        404: ErrorCategory.NOT_FOUND,
        # The method this provider's client uses is no longer accepted: this provider's API
        # changed, the caller's request is fine, and another provider may serve it.
        405: ErrorCategory.INVALID_RESPONSE,
        # The media type the client asks for is no longer served: as for 405.
        406: ErrorCategory.INVALID_RESPONSE,
        407: ErrorCategory.AUTH,
        # The server gave up waiting for the request: transient, retried like a timeout.
        408: ErrorCategory.TIMEOUT,
        409: ErrorCategory.INVALID_REQUEST,
        # The resource is gone for good at this provider; others may still have it.
        410: ErrorCategory.NOT_FOUND,
        # The body encoding the client sends is no longer accepted: as for 405.
        415: ErrorCategory.INVALID_RESPONSE,
        422: ErrorCategory.INVALID_REQUEST,
        # "Too Early": the server refused a request sent in TLS early data; the same request
        # on a completed handshake succeeds, so it is transient, like a connection failure.
        425: ErrorCategory.NETWORK,
        429: ErrorCategory.RATE_LIMIT,
        # Unavailable for legal reasons: this provider may not serve the resource (in its
        # jurisdiction), another may. not_found fails over without a retry and without
        # counting against the provider's breaker (it is not an outage); only when every
        # provider answers not_found is the key cached as missing.
        451: ErrorCategory.NOT_FOUND,
        500: ErrorCategory.PROVIDER_DOWN,
        # The provider does not implement the endpoint: retrying it is pointless, another
        # provider may serve the request.
        501: ErrorCategory.INVALID_RESPONSE,
        502: ErrorCategory.PROVIDER_DOWN,
        503: ErrorCategory.PROVIDER_DOWN,
        504: ErrorCategory.PROVIDER_DOWN,
    }
)
"""The category of each HTTP status a provider plugin maps explicitly.

A status not listed falls back by class: another 4xx is ``invalid_request`` (the request
itself is wrong, so no provider is asked further), another 5xx is ``provider_down``. Only
400, 409 and 422 (and unlisted 4xx) stop failover; every other failure lets the engine ask
the next provider.
"""


def classify_status(status: int) -> ErrorCategory | None:
    """The taxonomy category of an HTTP status
    ([`STATUS_CATEGORIES`][polysource.http.STATUS_CATEGORIES]), ``None`` below 400."""
    if status < 400:
        return None
    category = STATUS_CATEGORIES.get(status)
    if category is not None:
        return category
    return ErrorCategory.INVALID_REQUEST if status < 500 else ErrorCategory.PROVIDER_DOWN


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


def status_error(
    provider: str,
    response: HttpResponse,
    *,
    category: ErrorCategory | str | None = None,
    detail: str | None = None,
    secrets: Iterable[str] = (),
) -> ProviderError:
    """Build the [`ProviderError`][polysource.http.ProviderError] for an HTTP answer that is a
    failure.

    Args:
        provider: The provider's name.
        response: The answer.
        category: Overrides the category
            [`classify_status()`][polysource.http.classify_status] gives the status.
        detail: The provider's own explanation (from its error body); it is masked with
            [`polysource.redaction.redact()`][polysource.redaction.redact] (every encoding of
            ``secrets``, and anything
            shaped like a credential), then shortened.
        secrets: Values that must never appear in the message (API keys, tokens), in any
            encoding.
    """
    chosen = category or classify_status(response.status) or ErrorCategory.INVALID_RESPONSE
    message = f"{response.method} {response.url} answered HTTP {response.status}"
    if detail:
        message += f": {redact(detail.strip(), secrets)[:_DETAIL_LIMIT]}"
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    return ProviderError(
        message, provider=provider, category=chosen, retry_after=retry_after, status=response.status
    )


def raise_for_status(
    provider: str, response: HttpResponse, *, detail: str | None = None, secrets: Iterable[str] = ()
) -> None:
    """Raise [`status_error()`][polysource.http.status_error] when the status is 400 or above."""
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

    Redirects are followed only within the request's origin (scheme, host and port), so
    credentials in headers, the body or the query never reach another host: a redirect to
    another origin is an ``invalid_response`` error that names only that origin. A ``303``
    (and a ``301``/``302`` to a ``POST``) is followed with a ``GET`` without the body; a
    ``307``/``308`` repeats the method and body, as RFC 9110 says.

    Args:
        session: The client session.
        method: The HTTP method.
        url: The URL.
        provider: The provider's name, for errors.
        params: Query parameters.
        headers: Request headers.
        data: The request body (already encoded).
        allow_redirects: Whether to follow redirects within the origin (``False``: a
            redirect is answered as it is).
        shown: How the URL appears in errors (default: the URL without its query); a path
            template keeps ids that are secrets out of messages.
        secrets: Values that must not appear in an error; a transport error whose text holds
            one (in any encoding) is raised without its cause.

    Raises:
        ProviderError: ``timeout`` when the request timed out, ``network`` when the connection
            failed or broke, ``invalid_request`` when the URL is invalid, ``invalid_response``
            for a redirect to another origin or too many redirects.
    """
    shown = shown or redact_url(url)
    target: str | URL = url
    try:
        for _ in range(_MAX_REDIRECTS + 1):
            async with session.request(
                method,
                target,
                params=params,
                headers=headers,
                data=data,
                allow_redirects=False,
                trace_request_ctx={SHOWN_URL: shown} if session.trace_configs else None,
            ) as resp:
                if not (allow_redirects and resp.status in _REDIRECTS):
                    body = await resp.read()
                    return HttpResponse(resp.status, resp.headers, body, shown, method)
                target = _redirect_target(provider, f"{method} {shown}", resp)
                if resp.status == 303 or (resp.status in (301, 302) and method == "POST"):
                    method, data = ("HEAD" if method == "HEAD" else "GET"), None
                params = None  # the Location carries its own query
    except (TimeoutError, aiohttp.ClientError) as exc:
        error = _transport_error(provider, f"{method} {shown}", exc)
        if redact(repr(exc), secrets) != repr(exc):
            raise error from None  # the cause's text would show a secret
        raise error from exc
    raise ProviderError(
        f"{method} {shown} redirected more than {_MAX_REDIRECTS} times",
        provider=provider,
        category=ErrorCategory.INVALID_RESPONSE,
    )


def _redirect_target(provider: str, where: str, resp: aiohttp.ClientResponse) -> URL:
    """Where a redirect within the request's origin leads.

    Raises:
        ProviderError: ``invalid_response`` when it has no usable ``Location`` or leads to
            another origin (named, without path or query).
    """
    location = resp.headers.get("Location", "")
    try:
        target = resp.url.join(URL(location)) if location else None
    except ValueError:
        target = None
    if target is None or not target.is_absolute():
        raise ProviderError(
            f"{where} answered HTTP {resp.status} without a usable Location",
            provider=provider,
            category=ErrorCategory.INVALID_RESPONSE,
            status=resp.status,
        )
    if target.origin() != resp.url.origin():
        raise ProviderError(
            f"{where} answered HTTP {resp.status}, a redirect to another origin "
            f"({redact(str(target.origin()))}), not followed: credentials stay with the "
            "provider's own origin",
            provider=provider,
            category=ErrorCategory.INVALID_RESPONSE,
            status=resp.status,
        )
    return target


def _transport_error(provider: str, where: str, exc: Exception) -> ProviderError:
    if isinstance(exc, TimeoutError):  # also aiohttp's ServerTimeoutError, ConnectionTimeoutError
        return ProviderError(f"{where} timed out", provider=provider, category="timeout")
    if isinstance(exc, aiohttp.InvalidURL):
        return ProviderError(f"{where}: invalid URL", provider=provider, category="invalid_request")
    return ProviderError(
        f"{where} failed: {type(exc).__name__}", provider=provider, category="network"
    )


def add_trace_config(config: aiohttp.TraceConfig) -> None:
    """Have every session [`create_session()`][polysource.http.create_session] makes from now
    on send its request signals (start, end, exception) to ``config``; adding one twice adds it
    once.

    Sessions made before keep the trace configs they were made with, so register at start-up
    (a ``startup`` hook runs before any provider call opens a session)."""
    if config not in _TRACE_CONFIGS:
        _TRACE_CONFIGS.append(config)


def remove_trace_config(config: aiohttp.TraceConfig) -> None:
    """Undo [`add_trace_config()`][polysource.http.add_trace_config] for sessions made from now
    on (no-op if absent)."""
    if config in _TRACE_CONFIGS:
        _TRACE_CONFIGS.remove(config)


def create_session(
    *,
    timeout: float | None = None,
    headers: Mapping[str, str] | None = None,
    limit: int = 100,
    limit_per_host: int = 20,
    cookies: bool = True,
    trace_configs: Iterable[aiohttp.TraceConfig] = (),
) -> aiohttp.ClientSession:
    """Create a client session with TLS verification on; call it inside the running loop.

    Args:
        timeout: Total seconds per request (``None``: bounded only by the caller's deadline).
        headers: Headers sent with every request.
        limit: Most open connections in the pool.
        limit_per_host: Most open connections to one host.
        cookies: Whether the session keeps cookies (``False`` for providers that send their
            own ``Cookie`` header).
        trace_configs: This session's own trace configs, after those registered with
            [`add_trace_config()`][polysource.http.add_trace_config].
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
        trace_configs=[*_TRACE_CONFIGS, *trace_configs] or None,
    )
