"""The WZStats provider against the WZStats emulator, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import aiohttp
import pytest

from polysource.datasets import WEAPON_META, WEAPON_STATS
from polysource.emulation import EMULATOR_STATE, Faults, serve
from polysource.errors import ErrorCategory, ProviderError
from polysource.models import Request
from polysource_wzstats.client import TIER_LISTS_PATH
from polysource_wzstats.emulator import CATALOGUE, MODES, SHAPES, create_app, error_body, set_data

SHARED_SLUGS = (
    "m4",
    "m13c",
    "xm4",
    "jackal-pdw",
    "model-l",
    "gpr-91",
    "kastov-762",
    "mcw",
    "sva-545",
    "holger-556",
    "rival-9",
    "striker",
    "lockwood-680",
)
"""Slugs CODArmory and WZStats both use (the BO6 ones only on WZStats)."""


def _request(dataset, key: str) -> Request:
    return Request(dataset, key, "global")


async def _raw(url: str, **params: object) -> dict:
    async with aiohttp.ClientSession() as session:
        response = await session.get(url + TIER_LISTS_PATH, params=params)
        assert response.status == 200
        return await response.json()


def test_catalogue_is_large_unique_and_shares_common_slugs() -> None:
    """At least 40 weapons, unique lower-case slugs, including the widely shared ones."""
    slugs = [weapon.id for weapon in CATALOGUE]
    assert len(slugs) >= 40 and len(set(slugs)) == len(slugs)
    assert all(slug == slug.lower().strip() for slug in slugs)
    assert set(SHARED_SLUGS) <= set(slugs)
    assert {weapon.game for weapon in CATALOGUE} == {"mw2", "mw3", "bo6"}


async def test_provider_serves_both_datasets_from_the_emulator(make_provider) -> None:
    """Stats and meta of a weapon round-trip through the emulator in one request."""
    app = create_app(Faults(seed=3))
    async with serve(app) as url:
        provider = make_provider(base_url=url)
        stats = await provider.fetch(_request(WEAPON_STATS, "jackal-pdw"))
        meta = await provider.fetch(_request(WEAPON_META, "jackal-pdw"))
    assert stats.name == "JACKAL PDW" and stats.game == "bo6" and stats.category == "SMGs"
    assert stats.damage is None and stats.fire_rate is None
    assert set(meta.tiers) == {"alMazrah", "ashikaIsland"}  # BO6 weapons are ranked on maps only
    assert set(meta.tiers.values()) <= {"META", "A", "B", "C", "D"}
    assert meta.win_rate is None and meta.pick_rate is None
    assert app[EMULATOR_STATE].requests == {TIER_LISTS_PATH: 1}


async def test_whole_catalogue_batch_is_one_request(make_provider) -> None:
    """Every weapon of the catalogue comes from one request, in both datasets."""
    app = create_app(Faults(seed=3))
    slugs = [weapon.id for weapon in CATALOGUE]
    async with serve(app) as url:
        provider = make_provider(base_url=url, catalogue_ttl=0)
        stats = await provider.fetch_batch(_request(WEAPON_STATS, "m4"), [*slugs, "ray-gun"])
    assert set(stats) == set(slugs)
    assert app[EMULATOR_STATE].requests == {TIER_LISTS_PATH: 1}


async def test_tiers_depend_on_the_seed_only() -> None:
    """The same seed gives the same tier lists; another seed gives others."""
    answers = []
    for seed in (5, 5, 6):
        async with serve(create_app(Faults(seed=seed))) as url:
            answers.append(await _raw(url, streamerProfileId="wzstats"))
    assert answers[0] == answers[1]
    assert answers[0]["wzStatsTierList"] != answers[2]["wzStatsTierList"]
    assert set(answers[0]["wzStatsTierList"]) == {"streamerProfileId", *MODES}


async def test_emulator_honours_the_query_filters() -> None:
    """``weaponGames[]``, ``addConversionKit`` and ``weaponAttributes[]`` shape ``weapons``."""
    async with serve(create_app(Faults(seed=1))) as url, aiohttp.ClientSession() as session:

        async def get(query: list[tuple[str, str]]) -> dict:
            response = await session.get(url + TIER_LISTS_PATH, params=query)
            return await response.json()

        everything = await get([("streamerProfileId", "wzstats"), ("addConversionKit", "true")])
        bo6 = await get([("streamerProfileId", "wzstats"), ("weaponGames[]", "bo6")])
        two = await get(
            [("streamerProfileId", "wzstats"), ("weaponGames[]", "mw3"), ("weaponGames[]", "mw2")]
        )
        narrow = await get([("streamerProfileId", "wzstats"), ("weaponAttributes[]", "name")])
    assert len(everything["weapons"]) == len(CATALOGUE)
    assert {item["game"] for item in bo6["weapons"]} == {"bo6"}
    assert {item["game"] for item in two["weapons"]} == {"mw2", "mw3"}
    assert not any(item["conversionKitId"] for item in two["weapons"])  # kits need the flag
    assert any(item["conversionKitId"] for item in everything["weapons"])
    assert set(narrow["weapons"][0]) == {"id", "name", "conversionKitId", "baseWeaponId"}
    assert bo6["wzStatsTierList"] == everything["wzStatsTierList"]  # tier lists are not filtered


async def test_game_filter_hides_stats_but_not_tiers(make_provider) -> None:
    """With ``weapon_games = ["bo6"]`` an MW2 weapon has no stats but keeps its tiers."""
    async with serve(create_app(Faults(seed=1))) as url:
        provider = make_provider(base_url=url, weapon_games=["bo6"])
        with pytest.raises(ProviderError) as info:
            await provider.fetch(_request(WEAPON_STATS, "m4"))
        meta = await provider.fetch(_request(WEAPON_META, "m4"))
        xm4 = await provider.fetch(_request(WEAPON_STATS, "xm4"))
    assert info.value.category is ErrorCategory.NOT_FOUND
    assert meta.tiers and meta.name is None
    assert xm4.name == "XM4"


async def test_missing_profile_is_a_bad_request() -> None:
    """Without ``streamerProfileId`` the emulator answers 400 with a JSON message."""
    async with serve(create_app()) as url, aiohttp.ClientSession() as session:
        response = await session.get(url + TIER_LISTS_PATH)
        assert response.status == 400
        assert (await response.json())["message"] == "streamerProfileId is required"


async def test_new_revision_changes_tiers_after_the_provider_ttl(make_provider, clock) -> None:
    """A meta update (new revision) is seen once the provider's catalogue TTL has passed."""
    app = create_app(Faults(seed=2))
    async with serve(app) as url:
        provider = make_provider(base_url=url, catalogue_ttl=60)
        before = await provider.fetch_batch(_request(WEAPON_META, "m4"), ["m4", "mcw", "xm4"])
        set_data(app, revision=1)
        cached = await provider.fetch_batch(_request(WEAPON_META, "m4"), ["m4", "mcw", "xm4"])
        await clock.advance(60)
        after = await provider.fetch_batch(_request(WEAPON_META, "m4"), ["m4", "mcw", "xm4"])
    assert cached == before != after
    assert app[EMULATOR_STATE].requests == {TIER_LISTS_PATH: 2}


@pytest.mark.parametrize("shape", [shape for shape in SHAPES if shape != "standard"])
async def test_changed_shapes_are_invalid_response(make_provider, shape) -> None:
    """Every changed shape the emulator can answer is invalid_response, and recovery works."""
    async with serve(create_app()) as url, aiohttp.ClientSession() as session:
        provider = make_provider(base_url=url, catalogue_ttl=0)
        changed = await session.post(f"{url}/_emulator/data", json={"shape": shape})
        assert (await changed.json())["shape"] == shape
        for dataset in (WEAPON_STATS, WEAPON_META):
            with pytest.raises(ProviderError) as info:
                await provider.fetch(_request(dataset, "m4"))
            assert info.value.category is ErrorCategory.INVALID_RESPONSE
        await session.post(f"{url}/_emulator/data", json={"shape": "standard"})
        assert (await provider.fetch(_request(WEAPON_STATS, "m4"))).name == "M4"


async def test_explicit_payload_is_answered_verbatim(make_provider) -> None:
    """``payload`` replaces the generated answer until it is set back to null."""
    payload = {
        "weapons": [{"id": "m4", "name": "M4 (patched)", "type": "SMG", "game": "mw2"}],
        "wzStatsTierList": {"streamerProfileId": "wzstats", "vondel": {"S": ["m4"]}},
    }
    app = create_app()
    async with serve(app) as url:
        provider = make_provider(base_url=url, catalogue_ttl=0)
        set_data(app, payload=payload)
        stats = await provider.fetch(_request(WEAPON_STATS, "m4"))
        meta = await provider.fetch(_request(WEAPON_META, "m4"))
        set_data(app, payload=None)
        restored = await provider.fetch(_request(WEAPON_STATS, "m4"))
    assert stats.name == "M4 (patched)" and stats.category == "SMGs"
    assert meta.tiers == {"vondel": "S"}
    assert restored.name == "M4"


@pytest.mark.parametrize(
    "body",
    [{"colour": "red"}, {"shape": "square"}, {"revision": "two"}, ["shape"], "not json"],
)
async def test_data_control_rejects_bad_changes(body) -> None:
    """``POST /_emulator/data`` answers 400 for unknown fields, bad values and non-objects."""
    async with serve(create_app()) as url, aiohttp.ClientSession() as session:
        kwargs = {"data": body} if isinstance(body, str) else {"json": body}
        response = await session.post(f"{url}/_emulator/data", **kwargs)
        assert response.status == 400
        assert "error" in await response.json()
        current = await (await session.get(f"{url}/_emulator/data")).json()
    assert current == {"seed": 0, "revision": 0, "shape": "standard", "payload": None}


def test_set_data_validates_in_process() -> None:
    """``set_data`` raises ValueError for unknown fields and bad values."""
    app = create_app()
    with pytest.raises(ValueError, match="unknown data field"):
        set_data(app, seed=3)
    with pytest.raises(ValueError):
        set_data(app, shape="square")
    assert set_data(app, revision=4).revision == 4


@pytest.mark.parametrize(
    ("faults", "category"),
    [
        ({"rate_limit_rate": 1.0, "retry_after": 7}, ErrorCategory.RATE_LIMIT),
        ({"error_rate": 1.0, "error_status": 403}, ErrorCategory.RATE_LIMIT),
        ({"error_rate": 1.0, "error_status": 404}, ErrorCategory.NOT_FOUND),
        ({"error_rate": 1.0}, ErrorCategory.PROVIDER_DOWN),
        ({"outage": True}, ErrorCategory.PROVIDER_DOWN),
        ({"malformed_rate": 1.0}, ErrorCategory.INVALID_RESPONSE),
    ],
)
async def test_injected_faults_map_to_categories(make_provider, faults, category) -> None:
    """Each injected fault surfaces as its taxonomy category."""
    async with serve(create_app(Faults(**faults))) as url:
        with pytest.raises(ProviderError) as info:
            await make_provider(base_url=url).fetch(_request(WEAPON_META, "m4"))
    assert info.value.category is category
    if "retry_after" in faults:
        assert info.value.retry_after == 7.0


async def test_wrong_values_fault_keeps_the_shape(make_provider) -> None:
    """Wrong values still map: every ranked weapon lands in META everywhere."""
    async with serve(create_app(Faults(wrong_values_rate=1.0))) as url:
        meta = await make_provider(base_url=url).fetch(_request(WEAPON_META, "m4"))
    assert meta.tiers and set(meta.tiers.values()) == {"META"}


async def test_faults_change_at_runtime_and_are_counted(make_provider) -> None:
    """``POST /_emulator/faults`` starts and ends an outage; the counters see it."""
    app = create_app()
    async with serve(app) as url, aiohttp.ClientSession() as session:
        provider = make_provider(base_url=url, catalogue_ttl=0)
        await provider.fetch(_request(WEAPON_STATS, "m4"))
        await session.post(f"{url}/_emulator/faults", json={"outage": True})
        with pytest.raises(ProviderError):
            await provider.fetch(_request(WEAPON_STATS, "m4"))
        await session.post(f"{url}/_emulator/faults", json={"outage": False})
        await provider.fetch(_request(WEAPON_STATS, "m4"))
        stats = await (await session.get(f"{url}/_emulator/stats")).json()
    assert stats["requests"] == {TIER_LISTS_PATH: 3}
    assert stats["injected"] == {"outage": 1}


def test_error_bodies_look_like_the_site() -> None:
    """Bot protection and outages answer an HTML page; other errors a JSON message."""
    content_type, body = error_body(403, "Forbidden")
    assert content_type == "text/html" and b"Forbidden" in body
    assert error_body(503, "Service Unavailable")[0] == "text/html"
    assert error_body(404, "Not Found") == (
        "application/json",
        b'{"statusCode":404,"message":"Not Found"}',
    )
