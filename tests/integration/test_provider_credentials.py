"""Every first-party provider client keeps its credentials: no redirect carries them to another
origin, and no error shows them in any encoding, even when the provider echoes the request."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote, quote_plus

import orjson
import pytest
from aiohttp import web

from polysource.config import Secret
from polysource.emulation import serve
from polysource.errors import ErrorCategory, ProviderError
from polysource_belvo.client import BelvoClient
from polysource_codarmory.client import CodArmoryClient
from polysource_mx.client import MXClient
from polysource_plaid.client import PlaidClient
from polysource_tiingo.client import TiingoClient
from polysource_wzstats.client import WZStatsClient
from polysource_yahoo.client import YahooClient

CANARY = "c4nary/S3cr+t=x"
"""A credential with characters that every encoding changes (``/``, ``+``, ``=``)."""
USER = "id-5a7e"


class _Call:
    """Build one plugin's client against ``base_url``, make one call, close the client."""

    def __init__(self, make: Callable[[str], Any], call: Callable[[Any], Awaitable[Any]]) -> None:
        self.make, self.call = make, call

    async def __call__(self, base_url: str) -> Any:
        client = self.make(base_url)
        try:
            return await self.call(client)
        finally:
            await client.close()


def _secret(value: str = CANARY) -> Secret:
    return Secret.of(value)


CALLS: dict[str, _Call] = {
    "tiingo": _Call(lambda url: TiingoClient(_secret(), base_url=url), lambda c: c.iex(["AAPL"])),
    "yahoo": _Call(lambda url: YahooClient(base_url=url), lambda c: c.quote(["AAPL"])),
    "plaid": _Call(
        lambda url: PlaidClient(_secret(USER), _secret(), base_url=url),
        lambda c: c.accounts_get(_secret()),
    ),
    "belvo": _Call(
        lambda url: BelvoClient(_secret(USER), _secret(), base_url=url),
        lambda c: c.page(c.url("/api/accounts/"), {"link": "l-1"}),
    ),
    "mx": _Call(
        lambda url: MXClient(_secret(USER), _secret(), base_url=url),
        lambda c: c.list_users("partner-1"),
    ),
    "codarmory": _Call(
        lambda url: CodArmoryClient(base_url=url), lambda c: c.read("weapons.json", list)
    ),
    "wzstats": _Call(lambda url: WZStatsClient(base_url=url), lambda c: c.weapons_and_tier_lists()),
}


def _leaked_forms(secret: str) -> list[str]:
    """The encodings a client sends ``secret`` in, as an echo would show them."""
    return [
        secret,
        base64.b64encode(f"{USER}:{secret}".encode()).decode(),
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
    ]


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[str, list[str]]]:
    """A server on another port, so another origin, that records whatever reaches it."""
    received: list[str] = []

    async def record(request: web.Request) -> web.Response:
        received.append(f"{request.method} {request.path_qs} {dict(request.headers)}")
        return web.Response(text="thanks")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    async with serve(app) as url:
        yield url, received


@pytest.mark.parametrize("status", [307, 302])
@pytest.mark.parametrize("plugin", sorted(CALLS))
async def test_no_client_follows_a_redirect_to_another_origin(
    recorder: tuple[str, list[str]], plugin: str, status: int
) -> None:
    """A redirect to another origin is an invalid_response error; that origin receives nothing."""
    elsewhere, received = recorder

    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Location": f"{elsewhere}/collect"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", redirect)
    async with serve(app) as url:
        with pytest.raises(ProviderError) as info:
            await CALLS[plugin](url)
    assert received == []
    assert info.value.category is ErrorCategory.INVALID_RESPONSE
    assert "/collect" not in str(info.value)
    for form in _leaked_forms(CANARY):
        assert form not in str(info.value) and form not in repr(info.value)


def _echo_app(part: str) -> web.Application:
    """A provider that hands out ``CANARY`` as Yahoo's cookie and crumb and answers every other
    call with a 400 whose error fields echo one ``part`` of the request."""

    async def answer(request: web.Request) -> web.Response:
        if request.path == "/":
            return web.Response(status=404, headers={"Set-Cookie": f"A3={CANARY}; Path=/"})
        if request.path == "/v1/test/getcrumb":
            return web.Response(text=CANARY)
        if part == "headers":
            echo = " ".join(f"{k}: {v}" for k, v in request.headers.items() if k != "Host")
        elif part == "query":
            echo = request.query_string
        else:
            echo = (await request.read()).decode()
        error = {"code": "Bad Request", "description": echo, "message": echo}
        body = {
            "detail": echo,
            "message": echo,
            "field": echo,
            "error": error,
            "error_type": "INVALID_INPUT",
            "error_code": "INVALID_FIELD",
            "error_message": echo,
            "request_id": echo,
            "finance": {"result": None, "error": error},
        }
        return web.Response(status=400, body=orjson.dumps(body), content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    return app


@pytest.mark.parametrize("part", ["headers", "query", "body"])
@pytest.mark.parametrize("plugin", sorted(CALLS))
async def test_no_credential_in_errors_when_the_provider_echoes_the_request(
    plugin: str, part: str
) -> None:
    """An error echoing the request's headers, query or body shows no encoding of a credential."""
    async with serve(_echo_app(part)) as url:
        with pytest.raises(ProviderError) as info:
            await CALLS[plugin](url)
    shown = f"{info.value} {info.value!r} {getattr(info.value, 'request_id', '')}"
    for form in _leaked_forms(CANARY):
        assert form not in shown, (form, shown)
