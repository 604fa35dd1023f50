"""polysource.http: status classification, Retry-After, redaction, transport errors."""

from __future__ import annotations

import base64
import email.utils
import socket
from collections.abc import AsyncIterator
from urllib.parse import quote, quote_plus

import aiohttp
import pytest
from aiohttp import web
from aioresponses import aioresponses
from multidict import CIMultiDict, CIMultiDictProxy

from polysource.emulation import serve
from polysource.errors import ErrorCategory, ProviderError, stops_failover
from polysource.http import (
    SHOWN_URL,
    STATUS_CATEGORIES,
    HttpResponse,
    add_trace_config,
    classify_status,
    create_session,
    json_body,
    parse_retry_after,
    raise_for_status,
    redact_url,
    remove_trace_config,
    send,
    status_error,
)


def _response(status: int, body: bytes = b"", **headers: str) -> HttpResponse:
    return HttpResponse(status, CIMultiDictProxy(CIMultiDict(headers)), body, "https://x.test/p")


@pytest.mark.parametrize(
    ("status", "category", "stops"),
    [
        (200, None, False),
        (304, None, False),
        (400, ErrorCategory.INVALID_REQUEST, True),
        (401, ErrorCategory.AUTH, False),
        (403, ErrorCategory.AUTH, False),
        (404, ErrorCategory.NOT_FOUND, False),
        (405, ErrorCategory.INVALID_RESPONSE, False),
        (406, ErrorCategory.INVALID_RESPONSE, False),
        (407, ErrorCategory.AUTH, False),
        (408, ErrorCategory.TIMEOUT, False),
        (409, ErrorCategory.INVALID_REQUEST, True),
        (410, ErrorCategory.NOT_FOUND, False),
        (413, ErrorCategory.INVALID_REQUEST, True),
        (415, ErrorCategory.INVALID_RESPONSE, False),
        (422, ErrorCategory.INVALID_REQUEST, True),
        (425, ErrorCategory.NETWORK, False),
        (429, ErrorCategory.RATE_LIMIT, False),
        (451, ErrorCategory.NOT_FOUND, False),
        (499, ErrorCategory.INVALID_REQUEST, True),
        (500, ErrorCategory.PROVIDER_DOWN, False),
        (501, ErrorCategory.INVALID_RESPONSE, False),
        (502, ErrorCategory.PROVIDER_DOWN, False),
        (503, ErrorCategory.PROVIDER_DOWN, False),
        (504, ErrorCategory.PROVIDER_DOWN, False),
        (599, ErrorCategory.PROVIDER_DOWN, False),
    ],
)
def test_status_table_row(status: int, category: ErrorCategory | None, stops: bool) -> None:
    """Each status maps to its category, and only a request the caller got wrong stops failover."""
    assert classify_status(status) is category
    if category is not None:
        assert STATUS_CATEGORIES.get(status, category) is category
        error = status_error("p", _response(status))
        assert error.category is category and stops_failover(error) is stops


@pytest.mark.parametrize("status", [408, 425])
def test_transient_statuses_are_retryable(status: int) -> None:
    """408 and 425 are retried on the same provider before failing over."""
    assert status_error("p", _response(status)).retryable


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 1.5 ", 1.5),
        ("0", 0.0),
        ("-3", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("inf", None),
        ("nan", None),
    ],
)
def test_retry_after_in_seconds(value: str | None, seconds: float | None) -> None:
    """Delay-seconds parse to floats; negatives clamp to 0; junk is None."""
    assert parse_retry_after(value) == seconds


def test_retry_after_as_http_date() -> None:
    """An HTTP date is measured against ``now``; a past date means no wait."""
    when = 1_700_000_000.0
    header = email.utils.formatdate(when, usegmt=True)
    assert parse_retry_after(header, now=when - 30) == 30.0
    assert parse_retry_after(header, now=when + 30) == 0.0


def test_redact_url_drops_query_fragment_and_user_info() -> None:
    """Tokens in query strings or user info never reach a message."""
    url = "https://user:pw@api.test/v1/x?token=s3cret&a=1#frag"
    assert redact_url(url) == "https://api.test/v1/x"


def test_status_error_names_status_and_masks_secrets() -> None:
    """The message names method, URL and status; secrets in the detail are masked."""
    error = status_error(
        "p",
        _response(429, **{"Retry-After": "9"}),
        detail="bad key s3cret " + "x" * 500,
        secrets=["s3cret", ""],
    )
    assert error.category is ErrorCategory.RATE_LIMIT and error.retry_after == 9.0
    assert error.status == 429 and error.provider == "p"
    assert error.message.startswith("GET https://x.test/p answered HTTP 429: bad key ***")
    assert "s3cret" not in str(error) and len(error.message) < 300


def test_status_error_category_override() -> None:
    """A provider may override the category its quirks call for."""
    assert status_error("p", _response(200), category="provider_down").category == "provider_down"


def test_raise_for_status_only_on_failures() -> None:
    """Successes pass; failures raise with their category."""
    raise_for_status("p", _response(204))
    with pytest.raises(ProviderError) as info:
        raise_for_status("p", _response(404))
    assert info.value.category is ErrorCategory.NOT_FOUND


def test_json_body_checks_json_and_shape() -> None:
    """Bodies decode to the expected type; anything else is invalid_response."""
    assert json_body("p", _response(200, b'{"a": 1}'), dict) == {"a": 1}
    assert json_body("p", _response(200, b"[1]"), list) == [1]
    for body, expect in ((b"[1]", dict), (b"<html>", dict), (b"", list)):
        with pytest.raises(ProviderError) as info:
            json_body("p", _response(200, body), expect)
        assert info.value.category is ErrorCategory.INVALID_RESPONSE


async def test_send_reads_status_headers_and_body_over_http() -> None:
    """A real request returns the whole answer, with the URL redacted."""

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"q": request.query["q"]}, status=418, headers={"X-A": "1"})

    app = web.Application()
    app.router.add_get("/echo", handler)
    async with serve(app) as url, create_session(timeout=5) as session:
        answer = await send(
            session, "GET", f"{url}/echo?token=abc", provider="p", params={"q": "z"}
        )
    assert answer.status == 418 and answer.headers["X-A"] == "1"
    assert json_body("p", answer, dict) == {"q": "z"}
    assert answer.url == f"{url}/echo" and answer.text == '{"q": "z"}'


async def test_refused_connection_is_network_without_the_query() -> None:
    """A closed port is a network error chained to aiohttp's; the query is not shown."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with create_session(timeout=5) as session:
        with pytest.raises(ProviderError) as info:
            await send(session, "GET", f"http://127.0.0.1:{port}/x?token=s3cret", provider="p")
    assert info.value.category is ErrorCategory.NETWORK
    assert isinstance(info.value.__cause__, aiohttp.ClientConnectionError)
    assert "s3cret" not in str(info.value)


@pytest.mark.parametrize(
    ("exception", "category"),
    [
        (TimeoutError(), ErrorCategory.TIMEOUT),
        (aiohttp.ServerTimeoutError(), ErrorCategory.TIMEOUT),
        (aiohttp.ClientPayloadError("cut"), ErrorCategory.NETWORK),
        (aiohttp.InvalidURL("x"), ErrorCategory.INVALID_REQUEST),
    ],
)
async def test_transport_exceptions_map(exception: Exception, category: ErrorCategory) -> None:
    """Timeouts, broken payloads and invalid URLs map to their categories."""
    with aioresponses() as mocked:
        mocked.get("https://api.test/x", exception=exception)
        async with create_session() as session:
            with pytest.raises(ProviderError) as info:
                await send(session, "GET", "https://api.test/x", provider="p")
    assert info.value.category is category and info.value.__cause__ is exception


async def test_create_session_verifies_tls_and_can_drop_cookies() -> None:
    """Sessions verify certificates; ``cookies=False`` stores none."""
    async with create_session(timeout=3, cookies=False) as session:
        assert isinstance(session.cookie_jar, aiohttp.DummyCookieJar)
        assert session.timeout.total == 3
        assert session.connector is not None and session.connector._ssl is True
    async with create_session() as session:
        assert isinstance(session.cookie_jar, aiohttp.CookieJar)


async def test_send_posts_a_body_and_shows_the_given_url():
    """send() sends ``data``; errors show ``shown`` instead of the real URL."""
    from polysource.http import send

    seen = {}
    with aioresponses() as mocked:

        def record(url, **kwargs):
            seen["data"] = kwargs.get("data")

        mocked.post("https://api.example.com/users/USR-secret-1", callback=record, status=201)
        async with aiohttp.ClientSession() as session:
            response = await send(
                session,
                "POST",
                "https://api.example.com/users/USR-secret-1",
                provider="p",
                data=b'{"a": 1}',
                shown="/users/{user_guid}",
            )
            assert response.status == 201 and seen["data"] == b'{"a": 1}'
            mocked.get(
                "https://api.example.com/users/USR-secret-1",
                exception=aiohttp.ClientConnectionError("reset by USR-secret-1"),
            )
            with pytest.raises(ProviderError) as caught:
                await send(
                    session,
                    "GET",
                    "https://api.example.com/users/USR-secret-1",
                    provider="p",
                    shown="/users/{user_guid}",
                    secrets=["USR-secret-1"],
                )
    error = caught.value
    assert error.category == ErrorCategory.NETWORK
    assert "USR-secret-1" not in str(error) and "{user_guid}" in str(error)
    assert error.__cause__ is None  # the cause named the secret, so it is not attached


async def test_send_keeps_a_cause_without_secrets():
    """A transport error whose text holds no secret keeps its cause for debugging."""
    from polysource.http import send

    with aioresponses() as mocked:
        mocked.get("https://api.example.com/x", exception=aiohttp.ClientConnectionError("reset"))
        async with aiohttp.ClientSession() as session:
            with pytest.raises(ProviderError) as caught:
                await send(
                    session,
                    "GET",
                    "https://api.example.com/x",
                    provider="p",
                    secrets=["nothing-like-it"],
                )
    assert isinstance(caught.value.__cause__, aiohttp.ClientConnectionError)


# -- redirects -----------------------------------------------------------------------------


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[str, list[str]]]:
    """A server on another port (so another origin) that records every request it receives."""
    received: list[str] = []

    async def record(request: web.Request) -> web.Response:
        received.append(f"{request.method} {request.path_qs} {dict(request.headers)}")
        received.append((await request.read()).decode())
        return web.Response(text="stolen")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    async with serve(app) as url:
        yield url, received


async def _redirecting(status: int, location: str) -> web.Application:
    async def redirect(request: web.Request) -> web.Response:
        if request.path == "/final":
            body = await request.read()
            return web.json_response({"method": request.method, "body": body.decode()})
        return web.Response(status=status, headers={"Location": location})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", redirect)
    return app


@pytest.mark.parametrize(("status", "method"), [(307, "POST"), (308, "POST"), (302, "GET")])
async def test_redirect_to_another_origin_sends_nothing_there(
    recorder: tuple[str, list[str]], status: int, method: str
) -> None:
    """A redirect to another origin is invalid_response naming only that origin; it gets nothing."""
    elsewhere, received = recorder
    app = await _redirecting(status, f"{elsewhere}/steal?token=abc")
    async with serve(app) as url, create_session(timeout=5) as session:
        with pytest.raises(ProviderError) as info:
            await send(
                session,
                method,
                f"{url}/api?key=k1",
                provider="p",
                headers={"PLAID-SECRET": "s3cret", "Authorization": "Bearer s3cret"},
                data=b'{"access_token": "s3cret"}' if method == "POST" else None,
            )
    assert received == []
    error = info.value
    assert error.category is ErrorCategory.INVALID_RESPONSE and error.status == status
    assert elsewhere in error.message
    assert "/steal" not in error.message and "token" not in error.message


async def test_redirect_within_the_origin_is_followed(recorder: tuple[str, list[str]]) -> None:
    """A 307 on the same origin repeats the POST and its body; a 303 turns it into a bare GET."""
    for status, expected in (
        (307, {"method": "POST", "body": "b"}),
        (303, {"method": "GET", "body": ""}),
    ):
        app = await _redirecting(status, "/final")
        async with serve(app) as url, create_session(timeout=5) as session:
            answer = await send(session, "POST", f"{url}/start", provider="p", data=b"b")
        assert answer.status == 200 and json_body("p", answer, dict) == expected
        assert answer.url == f"{url}/start"


async def test_redirect_not_followed_when_asked() -> None:
    """``allow_redirects=False`` answers the redirect itself, whatever its target."""
    app = await _redirecting(302, "http://elsewhere.invalid/x")
    async with serve(app) as url, create_session(timeout=5) as session:
        answer = await send(session, "GET", f"{url}/start", provider="p", allow_redirects=False)
    assert answer.status == 302


async def test_redirect_loop_is_invalid_response() -> None:
    """A redirect loop on the same origin ends as invalid_response, not a hang."""
    app = await _redirecting(302, "/again")
    async with serve(app) as url, create_session(timeout=5) as session:
        with pytest.raises(ProviderError) as info:
            await send(session, "GET", f"{url}/start", provider="p")
    assert info.value.category is ErrorCategory.INVALID_RESPONSE
    assert "redirected more than" in info.value.message


async def test_status_error_masks_every_encoding_of_a_secret() -> None:
    """A body echoing the raw, base64 Basic and percent-encoded secret shows none of them."""
    secret = "can4ry/s3cr+t"
    basic = base64.b64encode(f"id:{secret}".encode()).decode()
    echo = f"got {secret}, Basic {basic}, ?apikey={quote(secret, safe='')} and {quote_plus(secret)}"
    error = status_error("p", _response(400), detail=echo, secrets=[secret])
    for form in (secret, basic, quote(secret, safe=""), quote_plus(secret)):
        assert form not in str(error) and form not in repr(error)


async def test_registered_trace_config_sees_each_request_with_the_shown_url() -> None:
    """A trace config added with add_trace_config is in every session made afterwards, and its
    signals get the URL as messages show it; once removed, new sessions carry none."""
    seen: list[object] = []

    async def on_start(session: object, ctx: object, params: object) -> None:
        seen.append(ctx.trace_request_ctx)  # type: ignore[attr-defined]

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    config = aiohttp.TraceConfig()
    config.on_request_start.append(on_start)
    app = web.Application()
    app.router.add_get("/users/{id}", handler)
    async with create_session() as untraced:
        assert not untraced.trace_configs
    add_trace_config(config)
    add_trace_config(config)
    try:
        async with serve(app) as url, create_session() as session:
            assert session.trace_configs == [config]
            await send(session, "GET", f"{url}/users/USR-1?token=t", provider="p")
            await send(session, "GET", f"{url}/users/USR-1", provider="p", shown="/users/{id}")
    finally:
        remove_trace_config(config)
    assert seen == [{SHOWN_URL: f"{url}/users/USR-1"}, {SHOWN_URL: "/users/{id}"}]
    async with create_session() as session:
        assert not session.trace_configs
