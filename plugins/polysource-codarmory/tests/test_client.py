"""The CODArmory provider's wire calls, against answers shaped like the live files."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest
from aioresponses import aioresponses
from yarl import URL

from polysource.config import ConfigError
from polysource.datasets import WEAPON_META, WEAPON_STATS
from polysource.errors import ErrorCategory, ProviderError
from polysource.models import Request
from polysource.testing.clock import FakeClock
from polysource_codarmory.client import CodArmoryClient
from polysource_codarmory.mapping import CATALOGUE_FILES, WEAPONS_FILE, parse_weapons

from .conftest import recorded

RAW = "https://raw.githubusercontent.com/tzurbaev/codarmory.com/main/src/database"
ANY_FILE = re.compile(r"^https://raw\.githubusercontent\.com/.*\.json$")


@pytest.fixture
def wire():
    """Intercepted aiohttp calls."""
    with aioresponses() as mocked:
        yield mocked


def _serve(wire: aioresponses, base: str = RAW, *, tag: str = "v1", **overrides) -> None:
    """Register one 200 answer per catalogue file, each with an ETag."""
    files = recorded()
    files.update(overrides)
    for name in CATALOGUE_FILES:
        wire.get(f"{base}/{name}", payload=files[name], headers={"ETag": f'"{tag}-{name}"'})


def _not_modified(wire: aioresponses, *, tag: str = "v1") -> None:
    for name in CATALOGUE_FILES:
        wire.get(f"{RAW}/{name}", status=304, headers={"ETag": f'"{tag}-{name}"'})


def _calls(wire: aioresponses, url: str) -> list:
    return wire.requests.get(("GET", URL(url)), [])


def _sent(call) -> dict:
    return call.kwargs.get("headers") or {}


def _request(key: str = "m4") -> Request:
    return Request(WEAPON_STATS, key, "global")


async def test_fetch_reads_the_four_files_at_the_raw_urls(wire, make_provider) -> None:
    """One fetch reads weapons, categories, platforms and attachments from the raw host."""
    _serve(wire)
    stats = await make_provider().fetch(_request("m4"))
    assert stats.name == "M4" and stats.category == "Assault Rifles"
    for name in CATALOGUE_FILES:
        (call,) = _calls(wire, f"{RAW}/{name}")
        assert "If-None-Match" not in _sent(call)
    assert len(wire.requests) == 4


async def test_owner_repo_branch_and_directory_are_options(wire, make_provider) -> None:
    """``options.owner/repo/branch/directory`` and ``base_url`` pick where files are read."""
    base = "http://127.0.0.1:9/fork/armory/dev/data"
    _serve(wire, base)
    provider = make_provider(
        base_url="http://127.0.0.1:9/", owner="fork", repo="armory", branch="dev", directory="data"
    )
    assert (await provider.fetch(_request("striker"))).game == "mw3"
    assert _calls(wire, f"{base}/{WEAPONS_FILE}")


@pytest.mark.parametrize("value", ["", "/", 3, None])
def test_bad_option_is_a_config_error(make_provider, value) -> None:
    """An empty or non-string option names its config key."""
    with pytest.raises(ConfigError) as info:
        make_provider(branch=value)
    assert info.value.path == "providers.codarmory.options.branch"


async def test_second_read_sends_if_none_match_and_reuses_the_parsed_copy(
    wire, make_provider
) -> None:
    """After a 200 with ETags, the next read is conditional; 304s reuse the parsed objects."""
    _serve(wire)
    _not_modified(wire)
    provider = make_provider()
    first = await provider.catalogue()
    second = await provider.catalogue()
    for name in CATALOGUE_FILES:
        unconditional, conditional = _calls(wire, f"{RAW}/{name}")
        assert "If-None-Match" not in _sent(unconditional)
        assert _sent(conditional)["If-None-Match"] == f'"v1-{name}"'
    assert second.weapons is first.weapons  # no re-parse
    assert second.attachments is first.attachments
    assert second.weapon_stats("m4") == first.weapon_stats("m4")


async def test_changed_file_with_a_new_etag_is_read_again(wire, make_provider) -> None:
    """A 200 with a new ETag replaces the held copy; the next read revalidates the new one."""
    _serve(wire)
    changed = recorded()["weapons.json"]
    changed[0]["name"] = "M4A1"
    _serve(wire, tag="v2", **{WEAPONS_FILE: changed})
    _not_modified(wire, tag="v2")
    provider = make_provider()
    assert (await provider.fetch(_request("m4"))).name == "M4"
    assert (await provider.fetch(_request("m4"))).name == "M4A1"
    assert (await provider.fetch(_request("m4"))).name == "M4A1"
    third = _calls(wire, f"{RAW}/{WEAPONS_FILE}")[2]
    assert _sent(third)["If-None-Match"] == f'"v2-{WEAPONS_FILE}"'
    assert provider.client.etag(WEAPONS_FILE) == f'"v2-{WEAPONS_FILE}"'


async def test_same_etag_on_a_200_reuses_the_parsed_copy(wire) -> None:
    """A host that ignores If-None-Match and resends the same ETag costs no re-parse."""
    parses = []

    def parse(payload):
        parses.append(payload)
        return parse_weapons(payload)

    url = f"{RAW}/{WEAPONS_FILE}"
    for _ in range(2):
        wire.get(url, payload=recorded()[WEAPONS_FILE], headers={"ETag": 'W/"same"'})
    client = CodArmoryClient()
    try:
        first = await client.read(WEAPONS_FILE, parse)
        second = await client.read(WEAPONS_FILE, parse)
    finally:
        await client.close()
    assert second is first and len(parses) == 1
    assert _sent(_calls(wire, url)[1])["If-None-Match"] == 'W/"same"'


async def test_answer_without_etag_is_not_held(wire) -> None:
    """Without an ETag nothing is held, so the next read is unconditional and re-parsed."""
    url = f"{RAW}/{WEAPONS_FILE}"
    wire.get(url, payload=recorded()[WEAPONS_FILE], repeat=True)
    client = CodArmoryClient()
    try:
        await client.read(WEAPONS_FILE, parse_weapons)
        await client.read(WEAPONS_FILE, parse_weapons)
    finally:
        await client.close()
    assert all("If-None-Match" not in _sent(call) for call in _calls(wire, url))
    assert client.etag(WEAPONS_FILE) is None


async def test_unsolicited_304_is_invalid_response(wire, make_provider) -> None:
    """A 304 to a request that held no copy is an invalid response, not a crash."""
    wire.get(ANY_FILE, status=304, repeat=True)
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request())
    assert info.value.category is ErrorCategory.INVALID_RESPONSE
    assert info.value.status == 304


async def test_batch_is_one_catalogue_read_and_omits_unknown_slugs(wire, make_provider) -> None:
    """Many keys cost one read per file; unknown slugs are absent, keys stay as asked."""
    _serve(wire)
    keys = ["m4", "striker", "xm4", "nope", "sva-545"]
    answer = await make_provider().fetch_batch(_request(), keys)
    assert set(answer) == {"m4", "striker", "sva-545"}
    assert answer["sva-545"].weapon_id == "sva-545"
    assert len(wire.requests) == 4


async def test_unknown_slug_is_not_found(wire, make_provider) -> None:
    """A single fetch of a slug the catalogue does not list is not_found."""
    _serve(wire)
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request("xm4"))
    assert info.value.category is ErrorCategory.NOT_FOUND
    assert "'xm4'" in info.value.message


async def test_other_dataset_is_unsupported_without_a_request(wire, make_provider) -> None:
    """``weapon_meta`` is not served: invalid_request marked unsupported, nothing sent."""
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(Request(WEAPON_META, "m4", "global"))
    assert info.value.category is ErrorCategory.INVALID_REQUEST and info.value.unsupported
    assert not wire.requests


@pytest.mark.parametrize(
    ("status", "body", "category"),
    [
        (400, "400: Invalid request", ErrorCategory.INVALID_REQUEST),
        (403, "403: Forbidden", ErrorCategory.RATE_LIMIT),
        (404, "404: Not Found", ErrorCategory.NOT_FOUND),
        (429, "429: Too Many Requests", ErrorCategory.RATE_LIMIT),
        (500, "500: Internal Server Error", ErrorCategory.PROVIDER_DOWN),
        (502, "<html><body>502 Bad Gateway</body></html>", ErrorCategory.PROVIDER_DOWN),
        (503, "<html><body>503 Service Unavailable</body></html>", ErrorCategory.PROVIDER_DOWN),
    ],
)
async def test_error_statuses_map_to_categories(
    wire, make_provider, status, body, category
) -> None:
    """Each status maps to its category, keeps the status and names the file."""
    wire.get(f"{RAW}/{WEAPONS_FILE}", status=status, body=body, content_type="text/plain")
    wire.get(re.compile(r".*/(categories|platforms|attachments)\.json$"), payload=[], repeat=True)
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request())
    error = info.value
    assert error.category is category and error.status == status
    assert WEAPONS_FILE in error.message


async def test_missing_file_names_the_repository(wire, make_provider) -> None:
    """A 404 says which file is missing from which repository and branch."""
    wire.get(ANY_FILE, status=404, body="404: Not Found", repeat=True)
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request())
    assert "is not in tzurbaev/codarmory.com@main" in info.value.message


async def test_retry_after_is_passed_up(wire, make_provider) -> None:
    """A 429's ``Retry-After`` becomes the error's ``retry_after``; it is retryable."""
    wire.get(ANY_FILE, status=429, body="429", headers={"Retry-After": "30"}, repeat=True)
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request())
    assert info.value.category is ErrorCategory.RATE_LIMIT
    assert info.value.retry_after == 30.0 and info.value.retryable


async def test_rate_limit_reset_header_gives_the_delay(wire, make_provider) -> None:
    """Without Retry-After, a 403's ``X-RateLimit-Reset`` (epoch seconds) gives the delay."""
    clock = FakeClock(wall=1_700_000_000.0)
    headers = {"X-RateLimit-Reset": "1700000045"}
    wire.get(ANY_FILE, status=403, body="403", headers=headers, repeat=True)
    with pytest.raises(ProviderError) as info:
        await make_provider(clock=clock).fetch(_request())
    assert info.value.category is ErrorCategory.RATE_LIMIT
    assert info.value.retry_after == 45.0


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("<html>Will be right back</html>", "text/html"),
        ('[{"id": "m4", "name"', "text/plain"),
        ("", "text/plain"),
    ],
)
async def test_non_json_success_is_invalid_response(
    wire, make_provider, body, content_type
) -> None:
    """A 200 whose body is not JSON is an invalid response."""
    wire.get(ANY_FILE, body=body, content_type=content_type, repeat=True)
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request())
    assert info.value.category is ErrorCategory.INVALID_RESPONSE


@pytest.mark.parametrize(
    "weapons",
    [
        {"weapons": []},
        [["m4", "M4"]],
        [{"slug": "m4", "name": "M4"}],
        [{"id": "m4", "name": "M4", "max_level": "twenty"}],
    ],
)
async def test_shape_changed_weapons_file_is_invalid_response(wire, make_provider, weapons) -> None:
    """weapons.json as an object, arrays of arrays, renamed or mistyped fields: invalid."""
    _serve(wire, **{WEAPONS_FILE: weapons})
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch_batch(_request(), ["m4"])
    assert info.value.category is ErrorCategory.INVALID_RESPONSE


async def test_shape_changed_attachments_file_is_invalid_response(wire, make_provider) -> None:
    """An attachments file whose elements lost their names is an invalid response."""
    _serve(wire, **{"attachments.json": [{"id": "97c54cefba771c09"}]})
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request())
    assert info.value.category is ErrorCategory.INVALID_RESPONSE
    assert "attachments.json[0]" in info.value.message


async def test_bad_new_version_keeps_the_held_copy(wire, make_provider) -> None:
    """A broken new version fails, and the good copy is still revalidated afterwards."""
    _serve(wire)
    _serve(wire, tag="broken", **{WEAPONS_FILE: {"oops": True}})
    _not_modified(wire)
    provider = make_provider()
    await provider.fetch(_request())
    with pytest.raises(ProviderError):
        await provider.fetch(_request())
    assert (await provider.fetch(_request())).name == "M4"
    third = _calls(wire, f"{RAW}/{WEAPONS_FILE}")[2]
    assert _sent(third)["If-None-Match"] == f'"v1-{WEAPONS_FILE}"'


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
    wire.get(ANY_FILE, exception=exception, repeat=True)
    with pytest.raises(ProviderError) as info:
        await make_provider().fetch(_request())
    assert info.value.category is category
    assert info.value.__cause__ is exception


async def test_no_credentials_are_sent(wire, make_provider) -> None:
    """The raw host needs no auth: no Authorization header, a polysource User-Agent."""
    _serve(wire)
    provider = make_provider()
    await provider.fetch(_request())
    (call,) = _calls(wire, f"{RAW}/{WEAPONS_FILE}")
    assert "Authorization" not in _sent(call)
    assert provider.client._session.headers["User-Agent"] == "polysource-codarmory"
    assert "tzurbaev/codarmory.com@main" in repr(provider.client)


async def test_close_then_fetch_opens_a_new_session(wire, make_provider) -> None:
    """``close`` closes the session; a later fetch opens another and still revalidates."""
    _serve(wire)
    _not_modified(wire)
    provider = make_provider()
    await provider.fetch(_request())
    session = provider.client._session
    await provider.close()
    assert session.closed
    await asyncio.sleep(0)
    assert (await provider.fetch(_request())).name == "M4"
    assert _sent(_calls(wire, f"{RAW}/{WEAPONS_FILE}")[1])["If-None-Match"]
