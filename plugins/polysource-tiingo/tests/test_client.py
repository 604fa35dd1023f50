"""The Tiingo provider's wire calls, against recorded-shape answers (aioresponses)."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest
from aioresponses import aioresponses
from yarl import URL

from polysource.datasets import DAILY_BARS, FUNDAMENTALS, QUOTE
from polysource.errors import ErrorCategory, ProviderError
from polysource.models import Dataset, Request

from .conftest import API_KEY
from .test_mapping import EOD, FUNDAMENTALS_DAILY, IEX_AAPL, IEX_SPY_NO_TOPS, METADATA

BASE = "https://api.tiingo.com"
ANY_IEX = re.compile(r"^https://api\.tiingo\.com/iex\?.*$")


@pytest.fixture
def wire():
    """Intercepted aiohttp calls."""
    with aioresponses() as mocked:
        yield mocked


def _request(dataset: Dataset, key: str) -> Request:
    return Request(dataset, key, "US")


def _calls(wire: aioresponses, url: str) -> list:
    return wire.requests[("GET", URL(url))]


async def test_quote_sends_the_token_and_maps_the_iex_answer(wire, make_provider) -> None:
    """A quote is one ``/iex?tickers=`` call with ``Authorization: Token``."""
    wire.get(f"{BASE}/iex?tickers=aapl", payload=[IEX_AAPL])
    quote = await make_provider().fetch(_request(QUOTE, "AAPL"))
    assert quote.price == 180.1 and quote.symbol == "AAPL"
    (call,) = _calls(wire, f"{BASE}/iex?tickers=aapl")
    assert call.kwargs["headers"]["Authorization"] == f"Token {API_KEY}"


async def test_quote_absent_from_the_array_is_not_found(wire, make_provider) -> None:
    """An unknown ticker is omitted from ``/iex``'s array, which is not_found for one key."""
    wire.get(f"{BASE}/iex?tickers=zzzz", payload=[])
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request(QUOTE, "ZZZZ"))
    assert info.value.category is ErrorCategory.NOT_FOUND


async def test_batch_is_one_call_and_omits_unknown_and_unservable_keys(wire, make_provider) -> None:
    """Batch quotes come from one call; unknown and unservable keys are simply absent."""
    brk = dict(IEX_SPY_NO_TOPS, ticker="BRK-B")
    wire.get(f"{BASE}/iex?tickers=aapl,brk-b,zzzz", payload=[IEX_AAPL, brk])
    keys = ["AAPL", "BRK.B", "FX:EURUSD", "ZZZZ"]
    quotes = await make_provider().fetch_batch(_request(QUOTE, "AAPL"), keys)
    assert set(quotes) == {"AAPL", "BRK.B"}
    assert quotes["BRK.B"].price == IEX_SPY_NO_TOPS["tngoLast"]
    assert len(_calls(wire, f"{BASE}/iex?tickers=aapl,brk-b,zzzz")) == 1


async def test_batch_larger_than_the_cap_is_split(wire, make_provider) -> None:
    """More than 100 tickers are sent in several ``/iex`` calls."""
    wire.get(ANY_IEX, payload=[], repeat=True)
    keys = [f"T{i}" for i in range(150)]
    assert await make_provider().fetch_batch(_request(QUOTE, "T0"), keys) == {}
    sizes = sorted(
        len(url.query["tickers"].split(",")) for (_, url) in wire.requests if url.path == "/iex"
    )
    assert sizes == [50, 100]


async def test_daily_bars_ask_from_history_days_ago(wire, make_provider) -> None:
    """Daily bars ask ``startDate`` = today minus ``history_days`` and map the bars."""
    url = f"{BASE}/tiingo/daily/brk-b/prices?resampleFreq=daily&startDate=2024-02-01"
    wire.get(url, payload=EOD)
    bars = await make_provider(history_days=30).fetch(_request(DAILY_BARS, "BRK.B"))
    assert bars.symbol == "BRK.B"
    assert [bar.close for bar in bars.bars] == [180.8, 179.7]


async def test_fundamentals_join_metadata_and_latest_daily_metrics(wire, make_provider) -> None:
    """Fundamentals combine ``/tiingo/daily/{t}`` and the newest fundamentals-daily row."""
    wire.get(f"{BASE}/tiingo/daily/aapl", payload=METADATA)
    wire.get(
        f"{BASE}/tiingo/fundamentals/aapl/daily?startDate=2024-02-17", payload=FUNDAMENTALS_DAILY
    )
    fundamentals = await make_provider().fetch(_request(FUNDAMENTALS, "AAPL"))
    assert fundamentals.name == "Apple Inc"
    assert fundamentals.market_cap == 2.7e12


@pytest.mark.parametrize("status", [403, 404])
async def test_fundamentals_without_the_add_on_leave_ratios_empty(
    wire, make_provider, status
) -> None:
    """A 403 or 404 from fundamentals-daily leaves the ratios None; metadata still answers."""
    wire.get(f"{BASE}/tiingo/daily/aapl", payload=METADATA)
    wire.get(
        re.compile(r".*/tiingo/fundamentals/aapl/daily.*"),
        status=status,
        payload={"detail": "Not available on your plan."},
    )
    fundamentals = await make_provider().fetch(_request(FUNDAMENTALS, "AAPL"))
    assert fundamentals.name == "Apple Inc" and fundamentals.market_cap is None


async def test_fundamentals_of_unknown_ticker_are_not_found(wire, make_provider) -> None:
    """A 404 on the metadata is not_found, whatever the fundamentals call said."""
    wire.get(
        f"{BASE}/tiingo/daily/zzzz",
        status=404,
        payload={"detail": "Error: Ticker 'ZZZZ' not found"},
    )
    wire.get(re.compile(r".*/tiingo/fundamentals/zzzz/daily.*"), status=404, payload={})
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request(FUNDAMENTALS, "ZZZZ"))
    assert info.value.category is ErrorCategory.NOT_FOUND
    assert "Ticker 'ZZZZ' not found" in info.value.message


@pytest.mark.parametrize(
    ("status", "body", "category"),
    [
        (400, {"detail": "Error: startDate is not a valid date"}, ErrorCategory.INVALID_REQUEST),
        (401, {"detail": "Invalid token."}, ErrorCategory.AUTH),
        (403, {"detail": "You do not have permission."}, ErrorCategory.AUTH),
        (404, {"detail": "Error: Ticker 'AAPL' not found"}, ErrorCategory.NOT_FOUND),
        (405, {"detail": 'Method "GET" not allowed.'}, ErrorCategory.INVALID_RESPONSE),
        (
            429,
            {"detail": "You have run over your hourly request allocation."},
            ErrorCategory.RATE_LIMIT,
        ),
        (500, "<html><body>Server Error (500)</body></html>", ErrorCategory.PROVIDER_DOWN),
        (502, "<html><body>502 Bad Gateway</body></html>", ErrorCategory.PROVIDER_DOWN),
        (503, "<html><body>503 Service Unavailable</body></html>", ErrorCategory.PROVIDER_DOWN),
    ],
)
async def test_error_statuses_map_to_categories(
    wire, make_provider, status, body, category
) -> None:
    """Each documented status maps to its taxonomy category and keeps the status."""
    kwargs = (
        {"payload": body} if isinstance(body, dict) else {"body": body, "content_type": "text/html"}
    )
    wire.get(f"{BASE}/tiingo/daily/aapl", status=status, **kwargs)
    wire.get(re.compile(r".*/fundamentals/.*"), payload=[])
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request(FUNDAMENTALS, "AAPL"))
    assert info.value.category is category
    assert info.value.status == status
    if isinstance(body, dict):
        assert body["detail"] in info.value.message


async def test_retry_after_is_passed_up(wire, make_provider) -> None:
    """A 429's ``Retry-After`` becomes the error's ``retry_after`` and it is retryable."""
    wire.get(ANY_IEX, status=429, payload={"detail": "throttled"}, headers={"Retry-After": "30"})
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request(QUOTE, "AAPL"))
    assert info.value.category is ErrorCategory.RATE_LIMIT
    assert info.value.retry_after == 30.0
    assert info.value.retryable


@pytest.mark.parametrize(
    ("body", "content_type"),
    [("<html>Will be right back</html>", "text/html"), ('[{"ticker": "AAPL"', "application/json")],
)
async def test_non_json_success_is_invalid_response(
    wire, make_provider, body, content_type
) -> None:
    """A 200 whose body is not JSON is an invalid response."""
    wire.get(ANY_IEX, body=body, content_type=content_type)
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request(QUOTE, "AAPL"))
    assert info.value.category is ErrorCategory.INVALID_RESPONSE


async def test_wrong_shaped_success_is_invalid_response(wire, make_provider) -> None:
    """``/iex`` answering an object instead of an array is an invalid response."""
    wire.get(ANY_IEX, payload={"ticker": "AAPL"})
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request(QUOTE, "AAPL"))
    assert info.value.category is ErrorCategory.INVALID_RESPONSE


@pytest.mark.parametrize(
    ("exception", "category"),
    [
        (aiohttp.ClientConnectionError("connection refused"), ErrorCategory.NETWORK),
        (aiohttp.ServerDisconnectedError(), ErrorCategory.NETWORK),
        (TimeoutError(), ErrorCategory.TIMEOUT),
        (aiohttp.ServerTimeoutError("read timeout"), ErrorCategory.TIMEOUT),
    ],
)
async def test_transport_failures_map_and_chain(wire, make_provider, exception, category) -> None:
    """Connection errors are network, timeouts are timeout; the original is the cause."""
    wire.get(ANY_IEX, exception=exception)
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request(QUOTE, "AAPL"))
    assert info.value.category is category
    assert info.value.__cause__ is exception


async def test_no_secret_in_errors_or_reprs(wire, make_provider) -> None:
    """The API key never shows in an error message, an error repr or a provider repr."""
    echo = {"detail": f"Invalid token {API_KEY}."}
    wire.get(re.compile(r".*/tiingo/daily/aapl/prices\?.*"), status=401, payload=echo)
    provider = make_provider()
    with pytest.raises(ProviderError) as info:
        await provider.fetch(_request(DAILY_BARS, "AAPL"))
    assert info.value.category is ErrorCategory.AUTH
    for text in (str(info.value), repr(info.value), repr(provider), repr(provider.client)):
        assert API_KEY not in text
    assert "***" in info.value.message


async def test_missing_api_key_is_an_auth_error_naming_the_variable(
    wire, make_provider, monkeypatch
) -> None:
    """Without a configured key or TIINGO_API_KEY the call fails as auth, before any request."""
    monkeypatch.delenv("TIINGO_API_KEY", raising=False)
    with pytest.raises(ProviderError) as info:
        await make_provider(api_key=None).fetch(_request(QUOTE, "AAPL"))
    assert info.value.category is ErrorCategory.AUTH
    assert "TIINGO_API_KEY" in info.value.message
    assert not wire.requests


async def test_api_key_from_the_environment(wire, make_provider, monkeypatch) -> None:
    """With no configured key, TIINGO_API_KEY is read."""
    monkeypatch.setenv("TIINGO_API_KEY", "from-env")
    wire.get(f"{BASE}/iex?tickers=aapl", payload=[IEX_AAPL])
    await make_provider(api_key=None).fetch(_request(QUOTE, "AAPL"))
    (call,) = _calls(wire, f"{BASE}/iex?tickers=aapl")
    assert call.kwargs["headers"]["Authorization"] == "Token from-env"


async def test_base_url_override_is_used(wire, make_provider) -> None:
    """``base_url`` (an emulator's address) replaces the real host."""
    wire.get("http://127.0.0.1:9/iex?tickers=aapl", payload=[IEX_AAPL])
    quote = await make_provider(base_url="http://127.0.0.1:9/").fetch(_request(QUOTE, "AAPL"))
    assert quote.price == 180.1


async def test_unservable_key_fails_before_any_request(wire, make_provider) -> None:
    """A forex key is invalid_request without a call to Tiingo."""
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request(DAILY_BARS, "FX:EURUSD"))
    assert info.value.category is ErrorCategory.INVALID_REQUEST
    assert not wire.requests


async def test_unknown_dataset_is_invalid_request(make_provider) -> None:
    """A dataset Tiingo does not serve is rejected as invalid_request."""
    other = Dataset("weapon_stats", dict)
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request(other, "AAPL"))
    assert info.value.category is ErrorCategory.INVALID_REQUEST


async def test_batch_of_daily_bars_fans_out_and_omits_not_found(wire, make_provider) -> None:
    """Non-quote batches fetch key by key; not-found keys are absent."""
    wire.get(re.compile(r".*/tiingo/daily/aapl/prices.*"), payload=EOD)
    wire.get(re.compile(r".*/tiingo/daily/zzzz/prices.*"), status=404, payload={"detail": "nope"})
    bars = await make_provider().fetch_batch(_request(DAILY_BARS, "AAPL"), ["AAPL", "ZZZZ"])
    assert list(bars) == ["AAPL"]


async def test_batch_of_daily_bars_raises_transient_errors(wire, make_provider) -> None:
    """A provider outage during a fanned-out batch raises provider_down, not a group."""
    wire.get(re.compile(r".*/tiingo/daily/.*"), status=503, body="down", repeat=True)
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch_batch(_request(DAILY_BARS, "AAPL"), ["AAPL", "MSFT"])
    assert info.value.category is ErrorCategory.PROVIDER_DOWN


async def test_close_closes_the_session(wire, make_provider) -> None:
    """``close`` closes the lazily created session; a later call opens a new one."""
    wire.get(ANY_IEX, payload=[IEX_AAPL], repeat=True)
    provider = make_provider()
    await provider.fetch(_request(QUOTE, "AAPL"))
    session = provider.client._session
    assert session is not None
    await provider.close()
    assert session.closed
    await asyncio.sleep(0)
    await provider.fetch(_request(QUOTE, "AAPL"))
