"""The Yahoo provider's wire calls and crumb handshake, against aioresponses."""

from __future__ import annotations

import re

import aiohttp
import pytest
from aioresponses import aioresponses

from polysource.datasets import DAILY_BARS, FUNDAMENTALS, QUOTE
from polysource.errors import ConfigError, ErrorCategory, ProviderError
from polysource.models import Request

from .payloads import CHART, CHART_NOT_FOUND, INVALID_CRUMB, SUMMARY
from .payloads import QUOTE as QUOTE_BODY

COOKIE_URL = "https://fc.yahoo.com"
CRUMB_URL = "https://query1.finance.yahoo.com/v1/test/getcrumb"
QUOTE_URL = re.compile(r"^https://query1\.finance\.yahoo\.com/v7/finance/quote\?.*$")
CHART_URL = re.compile(r"^https://query2\.finance\.yahoo\.com/v8/finance/chart/.*$")
SUMMARY_URL = re.compile(r"^https://query2\.finance\.yahoo\.com/v10/finance/quoteSummary/.*$")
CRUMB = "Ab1.cD2/F3g"


@pytest.fixture
def wire():
    """Intercepted aiohttp calls."""
    with aioresponses() as mocked:
        yield mocked


def handshake(wire: aioresponses, crumb: str = CRUMB, cookie: str = "d=AQAB&S=x") -> None:
    """Answer one cookie + crumb handshake."""
    wire.get(COOKIE_URL, status=404, body="nope", headers={"Set-Cookie": f"A3={cookie}; Path=/"})
    wire.get(CRUMB_URL, body=crumb, content_type="text/plain")


def calls(wire: aioresponses, path_prefix: str) -> list:
    """The recorded calls whose path starts with ``path_prefix``, in order."""
    return [
        (url, call)
        for (_, url), recorded in wire.requests.items()
        if url.path.startswith(path_prefix)
        for call in recorded
    ]


def _request(dataset, key: str) -> Request:
    return Request(dataset, key, "global")


async def test_quote_sends_cookie_and_crumb(wire, make_provider) -> None:
    """Data calls carry the cookie from fc.yahoo.com and the crumb from getcrumb."""
    handshake(wire)
    wire.get(QUOTE_URL, payload=QUOTE_BODY)
    quote = await make_provider().fetch(_request(QUOTE, "AAPL"))
    assert quote.price == 180.1
    ((_crumb_url, crumb_call),) = calls(wire, "/v1/test/getcrumb")
    assert crumb_call.kwargs["headers"]["Cookie"] == "A3=d=AQAB&S=x"
    ((url, call),) = calls(wire, "/v7/finance/quote")
    assert url.query["crumb"] == CRUMB and url.query["symbols"] == "AAPL"
    assert call.kwargs["headers"]["Cookie"] == "A3=d=AQAB&S=x"


async def test_handshake_happens_once_for_many_calls(wire, make_provider) -> None:
    """The cookie and crumb are reused across calls."""
    handshake(wire)
    wire.get(QUOTE_URL, payload=QUOTE_BODY, repeat=True)
    provider = make_provider()
    for _ in range(3):
        await provider.fetch(_request(QUOTE, "AAPL"))
    assert len(calls(wire, "/v1/test/getcrumb")) == 1
    assert len(calls(wire, "/v7/finance/quote")) == 3


async def test_invalid_crumb_refreshes_and_retries_once(wire, make_provider) -> None:
    """A 401 Invalid Crumb gets a fresh cookie and crumb, and the call succeeds on retry."""
    handshake(wire, crumb="old")
    wire.get(QUOTE_URL, status=401, payload=INVALID_CRUMB)
    handshake(wire, crumb="new", cookie="d=fresh")
    wire.get(QUOTE_URL, payload=QUOTE_BODY)
    quote = await make_provider().fetch(_request(QUOTE, "AAPL"))
    assert quote.symbol == "AAPL"
    crumbs = [url.query["crumb"] for url, _ in calls(wire, "/v7/finance/quote")]
    assert crumbs == ["old", "new"]


async def test_second_invalid_crumb_is_auth(wire, make_provider) -> None:
    """A 401 after the fresh handshake is an auth error, with Yahoo's description."""
    handshake(wire)
    wire.get(QUOTE_URL, status=401, payload=INVALID_CRUMB)
    handshake(wire)
    wire.get(QUOTE_URL, status=401, payload=INVALID_CRUMB)
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request(QUOTE, "AAPL"))
    assert info.value.category is ErrorCategory.AUTH
    assert "Invalid Crumb" in info.value.message
    assert CRUMB not in str(info.value)  # the query string is never shown


@pytest.mark.parametrize(
    ("status", "body", "category"),
    [
        (429, "Too Many Requests\r\n", ErrorCategory.RATE_LIMIT),
        (200, "Too Many Requests", ErrorCategory.RATE_LIMIT),
        (200, "<html><body>consent</body></html>", ErrorCategory.AUTH),
        (200, "", ErrorCategory.AUTH),
        (401, '{"finance":{"result":null,"error":{"code":"Unauthorized"}}}', ErrorCategory.AUTH),
        (503, "<html>Will be right back</html>", ErrorCategory.PROVIDER_DOWN),
    ],
)
async def test_crumb_failures_map_to_categories(
    wire, make_provider, status, body, category
) -> None:
    """getcrumb throttled, answering a page or nothing, or down, maps as documented."""
    wire.get(COOKIE_URL, status=404, body="")
    wire.get(CRUMB_URL, status=status, body=body)
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request(QUOTE, "AAPL"))
    assert info.value.category is category
    assert not calls(wire, "/v7/finance/quote")


async def test_cookie_endpoint_down_is_network(wire, make_provider) -> None:
    """A cookie host that cannot be reached is a network error."""
    wire.get(
        COOKIE_URL, exception=aiohttp.ClientConnectorError.__new__(aiohttp.ClientConnectorError)
    )
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request(QUOTE, "AAPL"))
    assert info.value.category is ErrorCategory.NETWORK


async def test_unknown_symbol_is_absent_then_not_found(wire, make_provider) -> None:
    """A symbol missing from ``quoteResponse.result`` is not_found for a single fetch."""
    handshake(wire)
    wire.get(QUOTE_URL, payload={"quoteResponse": {"result": [], "error": None}})
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request(QUOTE, "ZZZZ"))
    assert info.value.category is ErrorCategory.NOT_FOUND


async def test_batch_omits_unknown_and_malformed_keys(wire, make_provider) -> None:
    """A batch answers the keys Yahoo returned; unknown and malformed keys are absent."""
    handshake(wire)
    wire.get(QUOTE_URL, payload=QUOTE_BODY)
    quotes = await make_provider().fetch_batch(
        _request(QUOTE, "AAPL"), ["AAPL", "BRK.B", "ZZZZ", "not a key"]
    )
    assert set(quotes) == {"AAPL", "BRK.B"}
    ((url, _),) = calls(wire, "/v7/finance/quote")
    assert url.query["symbols"] == "AAPL,BRK-B,ZZZZ"


async def test_batch_larger_than_fifty_is_split(wire, make_provider) -> None:
    """More than 50 symbols are sent in several quote calls."""
    handshake(wire)
    wire.get(QUOTE_URL, payload={"quoteResponse": {"result": [], "error": None}}, repeat=True)
    await make_provider().fetch_batch(_request(QUOTE, "T0"), [f"T{i}" for i in range(120)])
    sizes = [len(url.query["symbols"].split(",")) for url, _ in calls(wire, "/v7/finance/quote")]
    assert sorted(sizes) == [20, 50, 50]


@pytest.mark.parametrize(("key", "symbol"), [("FX:EURUSD", "EURUSD=X"), ("LON:VOD", "VOD.L")])
async def test_daily_bars_ask_the_chart_of_the_yahoo_symbol(
    wire, make_provider, key, symbol
) -> None:
    """Daily bars come from the chart of the mapped symbol with range and interval=1d."""
    handshake(wire)
    wire.get(CHART_URL, payload=CHART)
    bars = await make_provider(history_range="6mo").fetch(_request(DAILY_BARS, key))
    assert bars.symbol == key and len(bars.bars) == 2
    ((url, _),) = calls(wire, "/v8/finance/chart/")
    assert url.path == f"/v8/finance/chart/{symbol}"
    assert (url.query["range"], url.query["interval"]) == ("6mo", "1d")


def test_unknown_history_range_is_a_config_error(make_provider) -> None:
    """A history range Yahoo does not know is rejected at start-up, naming the key."""
    with pytest.raises(ConfigError, match=r"options\.history_range"):
        make_provider(history_range="7w")


async def test_fundamentals_ask_the_needed_modules_unformatted(wire, make_provider) -> None:
    """Fundamentals come from quoteSummary with the modules they read and formatted=false."""
    handshake(wire)
    wire.get(SUMMARY_URL, payload=SUMMARY)
    fundamentals = await make_provider().fetch(_request(FUNDAMENTALS, "AAPL"))
    assert fundamentals.market_cap == 2.8e12
    ((url, _),) = calls(wire, "/v10/finance/quoteSummary/")
    assert url.query["formatted"] == "false"
    assert set(url.query["modules"].split(",")) == {
        "price",
        "summaryDetail",
        "financialData",
        "defaultKeyStatistics",
        "assetProfile",
    }


@pytest.mark.parametrize(
    ("status", "payload", "body", "category"),
    [
        (404, CHART_NOT_FOUND, None, ErrorCategory.NOT_FOUND),
        (
            400,
            {"chart": {"result": None, "error": {"code": "Bad Request", "description": "bad"}}},
            None,
            ErrorCategory.INVALID_REQUEST,
        ),
        (
            422,
            {"chart": {"result": None, "error": {"code": "Bad Request", "description": "bad"}}},
            None,
            ErrorCategory.INVALID_REQUEST,
        ),
        (429, None, "Too Many Requests\r\n", ErrorCategory.RATE_LIMIT),
        (
            500,
            {"finance": {"result": None, "error": {"code": "boom"}}},
            None,
            ErrorCategory.PROVIDER_DOWN,
        ),
        (503, None, "<html>unavailable</html>", ErrorCategory.PROVIDER_DOWN),
        (200, None, "<html><body>Will be right back...</body></html>", ErrorCategory.PROVIDER_DOWN),
        (200, None, '{"chart": {"result": [', ErrorCategory.INVALID_RESPONSE),
        (200, [1, 2], None, ErrorCategory.INVALID_RESPONSE),
    ],
)
async def test_chart_answers_map_to_categories(
    wire, make_provider, status, payload, body, category
) -> None:
    """Each documented signal maps to its category."""
    handshake(wire)
    if payload is not None:
        wire.get(CHART_URL, status=status, payload=payload)
    else:
        wire.get(CHART_URL, status=status, body=body)
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request(DAILY_BARS, "AAPL"))
    assert info.value.category is category
    if status == 404:
        assert "symbol may be delisted" in info.value.message


async def test_retry_after_is_passed_up(wire, make_provider) -> None:
    """A 429's ``Retry-After`` reaches the error."""
    handshake(wire)
    wire.get(CHART_URL, status=429, body="Too Many Requests", headers={"Retry-After": "12"})
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request(DAILY_BARS, "AAPL"))
    assert info.value.retry_after == 12.0 and info.value.status == 429


@pytest.mark.parametrize(
    ("exception", "category"),
    [
        (aiohttp.ServerDisconnectedError(), ErrorCategory.NETWORK),
        (TimeoutError(), ErrorCategory.TIMEOUT),
    ],
)
async def test_transport_failures_map_and_chain(wire, make_provider, exception, category) -> None:
    """Transport failures of a data call map to network/timeout with the original as cause."""
    handshake(wire)
    wire.get(CHART_URL, exception=exception)
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request(DAILY_BARS, "AAPL"))
    assert info.value.category is category and info.value.__cause__ is exception


async def test_base_url_override_serves_every_path(wire, make_provider) -> None:
    """With ``base_url`` the cookie, crumb and data calls all go to that one address."""
    base = "http://127.0.0.1:9"
    wire.get(f"{base}/", status=404, body="", headers={"Set-Cookie": "A3=x"})
    wire.get(f"{base}/v1/test/getcrumb", body="crumb")
    wire.get(re.compile(rf"^{re.escape(base)}/v8/finance/chart/AAPL\?.*$"), payload=CHART)
    bars = await make_provider(base_url=f"{base}/").fetch(_request(DAILY_BARS, "AAPL"))
    assert len(bars.bars) == 2


async def test_cookie_url_option(wire, make_provider) -> None:
    """``options.cookie_url`` replaces the cookie host."""
    wire.get("https://cookies.example/", status=200, body="", headers={"Set-Cookie": "A3=y"})
    wire.get(CRUMB_URL, body="c")
    wire.get(QUOTE_URL, payload=QUOTE_BODY)
    await make_provider(cookie_url="https://cookies.example/").fetch(_request(QUOTE, "AAPL"))
    ((_, call),) = calls(wire, "/v7/finance/quote")
    assert call.kwargs["headers"]["Cookie"] == "A3=y"


async def test_unservable_key_is_invalid_request_without_calls(wire, make_provider) -> None:
    """A key that is not canonical is rejected before any request."""
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request(DAILY_BARS, "XXX:VOD"))
    assert info.value.category is ErrorCategory.INVALID_REQUEST
    assert not wire.requests
