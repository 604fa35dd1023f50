"""The WZStats provider's wire calls, against recorded-shape answers (aioresponses)."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest
from aioresponses import aioresponses
from yarl import URL

from polysource.datasets import WEAPON_META, WEAPON_STATS
from polysource.errors import ConfigError, ErrorCategory, ProviderError
from polysource.models import Dataset, Request

from .payloads import PAYLOAD

BASE = "https://app.wzstats.gg"
PATH = "/wz2/weapons/meta/weapons-and-tier-lists/"
ANY_CALL = re.compile(r"^https://app\.wzstats\.gg/wz2/weapons/meta/weapons-and-tier-lists/\?.*$")


@pytest.fixture
def wire():
    """Intercepted aiohttp calls."""
    with aioresponses() as mocked:
        yield mocked


def _request(dataset: Dataset, key: str) -> Request:
    return Request(dataset, key, "global")


def _calls(wire: aioresponses) -> list[tuple[URL, dict]]:
    return [(url, call.kwargs) for (_, url), calls in wire.requests.items() for call in calls]


async def test_stats_come_from_the_tier_lists_call_with_the_site_query(wire, make_provider) -> None:
    """One GET with the front end's query and Origin/Referer headers answers weapon_stats."""
    wire.get(ANY_CALL, payload=PAYLOAD)
    stats = await make_provider().fetch(_request(WEAPON_STATS, "gpr-91"))
    assert stats.name == "GPR 91" and stats.game == "bo6" and stats.category == "Assault Rifles"
    ((url, kwargs),) = _calls(wire)
    assert url.host == "app.wzstats.gg" and url.scheme == "https" and url.path == PATH
    assert url.query["streamerProfileId"] == "wzstats"
    assert kwargs["params"].getall("weaponGames[]") == ["mw3", "mw2", "bo6"]
    assert url.query["addConversionKit"] == "true"
    assert {"game", "name", "type", "displayType"} <= set(url.query.getall("weaponAttributes[]"))
    assert kwargs["headers"]["Origin"] == "https://wzstats.gg"
    assert kwargs["headers"]["Referer"] == "https://wzstats.gg/"


async def test_meta_maps_tiers_and_leaves_rates_empty(wire, make_provider) -> None:
    """weapon_meta carries a bucket per map/mode and no win or pick rate."""
    wire.get(ANY_CALL, payload=PAYLOAD)
    meta = await make_provider().fetch(_request(WEAPON_META, "jackal-pdw"))
    assert meta.tiers == {"alMazrah": "META"} and meta.name == "JACKAL PDW"
    assert meta.win_rate is None and meta.pick_rate is None


async def test_stats_and_meta_of_the_same_moment_cost_one_request(wire, make_provider) -> None:
    """Within the catalogue TTL, both datasets and a batch are served from one request."""
    wire.get(ANY_CALL, payload=PAYLOAD, repeat=True)
    provider = make_provider()
    await provider.fetch(_request(WEAPON_STATS, "m4"))
    await provider.fetch(_request(WEAPON_META, "m4"))
    await provider.fetch_batch(_request(WEAPON_META, "m4"), ["m4", "striker"])
    assert len(_calls(wire)) == 1


async def test_concurrent_reads_share_one_request(wire, make_provider) -> None:
    """Reads that start together wait for the one request in flight."""
    wire.get(ANY_CALL, payload=PAYLOAD, repeat=True)
    provider = make_provider()
    stats, meta, batch = await asyncio.gather(
        provider.fetch(_request(WEAPON_STATS, "m4")),
        provider.fetch(_request(WEAPON_META, "m4")),
        provider.fetch_batch(_request(WEAPON_STATS, "m4"), ["striker", "knife"]),
    )
    assert stats.name == meta.name == "M4" and set(batch) == {"striker", "knife"}
    assert len(_calls(wire)) == 1


async def test_catalogue_is_fetched_again_after_its_ttl(wire, make_provider, clock) -> None:
    """Once ``catalogue_ttl`` seconds of the injected clock pass, the next read asks again."""
    wire.get(ANY_CALL, payload=PAYLOAD, repeat=True)
    provider = make_provider(catalogue_ttl=30)
    await provider.fetch(_request(WEAPON_STATS, "m4"))
    await clock.advance(29)
    await provider.fetch(_request(WEAPON_STATS, "m4"))
    assert len(_calls(wire)) == 1
    await clock.advance(1)
    await provider.fetch(_request(WEAPON_STATS, "m4"))
    assert len(_calls(wire)) == 2


async def test_zero_ttl_asks_every_time(wire, make_provider) -> None:
    """``catalogue_ttl = 0`` turns the provider's own cache off."""
    wire.get(ANY_CALL, payload=PAYLOAD, repeat=True)
    provider = make_provider(catalogue_ttl=0)
    await provider.fetch(_request(WEAPON_STATS, "m4"))
    await provider.fetch(_request(WEAPON_META, "m4"))
    assert len(_calls(wire)) == 2


async def test_unknown_weapon_is_not_found(wire, make_provider) -> None:
    """A slug absent from the catalogue is not_found for a single fetch."""
    wire.get(ANY_CALL, payload=PAYLOAD)
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request(WEAPON_STATS, "ray-gun"))
    assert info.value.category is ErrorCategory.NOT_FOUND
    assert "ray-gun" in info.value.message


async def test_tier_only_weapon_has_meta_but_no_stats(wire, make_provider) -> None:
    """A weapon only a tier list names answers weapon_meta and is not_found for stats."""
    wire.get(ANY_CALL, payload=PAYLOAD)
    provider = make_provider()
    assert (await provider.fetch(_request(WEAPON_META, "xm4"))).tiers == {"alMazrah": "META"}
    with pytest.raises(ProviderError) as info:
        await provider.fetch(_request(WEAPON_STATS, "xm4"))
    assert info.value.category is ErrorCategory.NOT_FOUND


async def test_batch_omits_unknown_keys_and_answers_by_asked_key(wire, make_provider) -> None:
    """A batch answers the keys it found, under the keys as asked; unknown ones are absent."""
    wire.get(ANY_CALL, payload=PAYLOAD)
    keys = ["m4", "fr-5.56", "ray-gun", "bp50-conversion-kit-jak-revenger-kit"]
    found = await make_provider().fetch_batch(_request(WEAPON_STATS, "m4"), keys)
    assert set(found) == {"m4", "fr-5.56", "bp50-conversion-kit-jak-revenger-kit"}
    assert found["fr-5.56"].weapon_id == "fr-5.56"


@pytest.mark.parametrize(
    ("status", "body", "category"),
    [
        (400, {"statusCode": 400, "message": "Bad Request"}, ErrorCategory.INVALID_REQUEST),
        (401, {"statusCode": 401, "message": "Unauthorized"}, ErrorCategory.AUTH),
        (
            403,
            "<html><title>Attention Required! | Cloudflare</title></html>",
            ErrorCategory.RATE_LIMIT,
        ),
        (404, {"statusCode": 404, "message": "Cannot GET /wz2/weapons"}, ErrorCategory.NOT_FOUND),
        (429, {"message": "Too Many Requests"}, ErrorCategory.RATE_LIMIT),
        (500, {"statusCode": 500, "message": "Internal server error"}, ErrorCategory.PROVIDER_DOWN),
        (502, "<html><body>502 Bad Gateway</body></html>", ErrorCategory.PROVIDER_DOWN),
        (503, "<html><body>503 Service Unavailable</body></html>", ErrorCategory.PROVIDER_DOWN),
        (504, "<html><body>504 Gateway Time-out</body></html>", ErrorCategory.PROVIDER_DOWN),
    ],
)
async def test_error_statuses_map_to_categories(
    wire, make_provider, status, body, category
) -> None:
    """Each status maps to the category PROVIDERS.md gives it and keeps the status."""
    kwargs = (
        {"payload": body} if isinstance(body, dict) else {"body": body, "content_type": "text/html"}
    )
    wire.get(ANY_CALL, status=status, **kwargs)
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request(WEAPON_META, "m4"))
    assert info.value.category is category
    assert info.value.status == status
    assert info.value.provider == "wzstats"
    if isinstance(body, dict):
        assert body["message"] in info.value.message


async def test_bad_request_fails_over_instead_of_stopping(wire, make_provider) -> None:
    """A 400 means WZStats changed, so it is marked unsupported: other providers are asked."""
    wire.get(ANY_CALL, status=400, payload={"message": "Bad Request"})
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request(WEAPON_STATS, "m4"))
    assert info.value.unsupported and not info.value.retryable


@pytest.mark.parametrize("status", [403, 429])
async def test_bot_protection_is_retryable_and_passes_retry_after(
    wire, make_provider, status
) -> None:
    """403 and 429 are rate_limit, retryable, with the ``Retry-After`` seconds."""
    wire.get(ANY_CALL, status=status, body="slow down", headers={"Retry-After": "12"})
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request(WEAPON_STATS, "m4"))
    assert info.value.category is ErrorCategory.RATE_LIMIT
    assert info.value.retryable and info.value.retry_after == 12.0


@pytest.mark.parametrize(
    ("kwargs"),
    [
        pytest.param(
            {
                "body": "<!doctype html><html><div id='app'></div></html>",
                "content_type": "text/html",
            },
            id="html",
        ),
        pytest.param(
            {"body": '{"weapons": [{"id": "m4"', "content_type": "application/json"}, id="truncated"
        ),
        pytest.param({"payload": [PAYLOAD]}, id="array"),
        pytest.param(
            {"payload": {"weaponList": PAYLOAD["weapons"], "wzStatsTierList": {}}}, id="renamed"
        ),
        pytest.param({"payload": {"weapons": PAYLOAD["weapons"]}}, id="no-tier-list"),
        pytest.param({"payload": {"weapons": "m4", "wzStatsTierList": {}}}, id="wrong-types"),
        pytest.param({"body": b"", "content_type": "application/json"}, id="empty"),
    ],
)
async def test_malformed_or_changed_answers_are_invalid_response(
    wire, make_provider, kwargs
) -> None:
    """A 200 that is not the expected JSON shape is invalid_response, for both datasets."""
    wire.get(ANY_CALL, repeat=True, **kwargs)
    provider = make_provider()
    for dataset in (WEAPON_STATS, WEAPON_META):
        with pytest.raises(ProviderError) as info:
            await provider.fetch(_request(dataset, "m4"))
        assert info.value.category is ErrorCategory.INVALID_RESPONSE
    with pytest.raises(ProviderError):
        await provider.fetch_batch(_request(WEAPON_STATS, "m4"), ["m4", "striker"])
    assert len(_calls(wire)) == 3  # a bad answer is never cached


async def test_failures_are_not_cached(wire, make_provider) -> None:
    """After an outage answer, the next read asks again and succeeds."""
    wire.get(ANY_CALL, status=503, body="down")
    wire.get(ANY_CALL, payload=PAYLOAD)
    provider = make_provider()
    with pytest.raises(ProviderError):
        await provider.fetch(_request(WEAPON_STATS, "m4"))
    assert (await provider.fetch(_request(WEAPON_STATS, "m4"))).name == "M4"


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
    wire.get(ANY_CALL, exception=exception)
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request(WEAPON_STATS, "m4"))
    assert info.value.category is category
    assert info.value.__cause__ is exception


async def test_base_url_override_is_used(wire, make_provider) -> None:
    """``base_url`` (an emulator's address) replaces the real host."""
    wire.get(re.compile(r"^http://127\.0\.0\.1:9/wz2/weapons/meta/.*"), payload=PAYLOAD)
    provider = make_provider(base_url="http://127.0.0.1:9/")
    assert (await provider.fetch(_request(WEAPON_STATS, "m4"))).name == "M4"


async def test_options_shape_the_query(wire, make_provider) -> None:
    """``weapon_games``, ``conversion_kits`` and ``streamer_profile`` go into the query."""
    wire.get(ANY_CALL, payload=PAYLOAD, repeat=True)
    await make_provider(
        weapon_games=["BO6"], conversion_kits=False, streamer_profile="other"
    ).fetch(_request(WEAPON_STATS, "m4"))
    await make_provider(weapon_games=[]).fetch(_request(WEAPON_STATS, "m4"))
    (first, _), (second, _) = _calls(wire)
    assert first.query.getall("weaponGames[]") == ["bo6"]
    assert "addConversionKit" not in first.query
    assert first.query["streamerProfileId"] == "other"
    assert "weaponGames[]" not in second.query


@pytest.mark.parametrize(
    "options",
    [
        {"weapon_games": [1, 2]},
        {"weapon_games": 3},
        {"catalogue_ttl": -1},
        {"catalogue_ttl": "soon"},
        {"conversion_kits": "yes"},
        {"streamer_profile": ""},
        {"user_agent": None},
    ],
)
def test_bad_options_are_config_errors(make_provider, options) -> None:
    """A wrong option fails at start-up with its key path."""
    with pytest.raises(ConfigError) as info:
        make_provider(**options)
    assert f"providers.wzstats.options.{next(iter(options))}" in str(info.value)


async def test_unknown_dataset_is_unsupported_without_a_request(wire, make_provider) -> None:
    """A dataset WZStats does not serve is invalid_request (unsupported), with no call."""
    other = Dataset("quote", dict)
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request(other, "AAPL"))
    assert info.value.category is ErrorCategory.INVALID_REQUEST and info.value.unsupported
    assert not wire.requests


async def test_close_closes_the_session(wire, make_provider) -> None:
    """``close`` closes the lazily created session and forgets the catalogue."""
    wire.get(ANY_CALL, payload=PAYLOAD, repeat=True)
    provider = make_provider()
    await provider.fetch(_request(WEAPON_STATS, "m4"))
    session = provider.client._session
    assert session is not None
    await provider.close()
    assert session.closed
    await provider.fetch(_request(WEAPON_STATS, "m4"))
    assert len(_calls(wire)) == 2
