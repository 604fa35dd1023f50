"""The CODArmory provider against its emulator, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest

from polysource.datasets import WEAPON_STATS
from polysource.emulation import EMULATOR_STATE, Faults, serve
from polysource.errors import ErrorCategory, ProviderError
from polysource.models import Request
from polysource_codarmory.emulator import DATA, FILES, WEAPONS, create_app, generate_files
from polysource_codarmory.mapping import CATALOGUE_FILES, WEAPONS_FILE

PREFIX = "/tzurbaev/codarmory.com/main/src/database/"
SHARED_SLUGS = [
    "m4",
    "m13c",
    "xm4",
    "jackal-pdw",
    "model-l",
    "gpr-91",
    "kastov-762",
    "mcw",
    "svoa-545",
    "holger-556",
    "rival-9",
    "striker",
    "lockwood-680",
]


def _request(key: str = "m4") -> Request:
    return Request(WEAPON_STATS, key, "global")


async def _raise(provider, key: str = "m4") -> ProviderError:
    with pytest.raises(ProviderError) as info:
        await provider.fetch(_request(key))
    return info.value


def test_catalogue_is_large_unique_and_shares_common_slugs() -> None:
    """At least 40 weapons, unique lower-case slugs, including the cross-provider ones."""
    slugs = [weapon.slug for weapon in WEAPONS]
    assert len(slugs) >= 40 and len(set(slugs)) == len(slugs)
    assert all(slug == slug.lower() for slug in slugs)
    assert set(SHARED_SLUGS) <= set(slugs)


def test_generated_files_depend_on_the_seed_only() -> None:
    """The same seed gives the same files; another seed other levels and attachments."""
    assert generate_files(7) == generate_files(7)
    assert generate_files(7)[WEAPONS_FILE] != generate_files(8)[WEAPONS_FILE]
    assert set(generate_files(7)) == set(FILES)


def test_generated_references_resolve() -> None:
    """Every attachment id of a weapon is in attachments.json; ids are 16 hex digits."""
    files = generate_files(3)
    attachments = {item["id"] for item in files["attachments.json"]}
    categories = {item["id"] for item in files["categories.json"]}
    platforms = {item["id"] for item in files["platforms.json"]}
    for weapon in files[WEAPONS_FILE]:
        assert set(weapon["attachments"]) <= attachments
        assert weapon["category_id"] in categories
        assert weapon["platform_id"] is None or weapon["platform_id"] in platforms
    assert all(re.fullmatch(r"[0-9a-f]{16}", id_) for id_ in attachments)


async def test_provider_maps_the_emulated_files(make_provider) -> None:
    """A weapon round-trips: names resolved from categories, platforms and attachments."""
    app = create_app(Faults(seed=5))
    files = generate_files(5)
    async with serve(app) as url:
        stats = await make_provider(base_url=url).fetch(_request("kastov-762"))
    (raw,) = [w for w in files[WEAPONS_FILE] if w["id"] == "kastov-762"]
    names = {item["id"]: item["name"] for item in files["attachments.json"]}
    assert stats.name == "Kastov 762" and stats.game == "mw2"
    assert stats.category == "Assault Rifles" and stats.platform == "Kastovia Platform"
    assert stats.max_level == raw["max_level"]
    assert stats.attachments == tuple(names[i] for i in raw["attachments"])
    assert stats.unlock and stats.damage is None and stats.fire_rate is None


async def test_raw_host_answers_like_github() -> None:
    """200 as text/plain with an ETag; 304 to a matching If-None-Match; plain-text 404s."""
    async with serve(create_app()) as url, aiohttp.ClientSession() as session:
        first = await session.get(f"{url}{PREFIX}weapons.json")
        etag = first.headers["ETag"]
        body = await first.json(content_type=None)
        again = await session.get(f"{url}{PREFIX}weapons.json", headers={"If-None-Match": etag})
        weak = await session.get(
            f"{url}{PREFIX}weapons.json", headers={"If-None-Match": f'"x", W/{etag}'}
        )
        stale = await session.get(f"{url}{PREFIX}weapons.json", headers={"If-None-Match": '"x"'})
        missing = await session.get(f"{url}{PREFIX}weapons-v2.json")
        other_repo = await session.get(f"{url}/someone/else/main/src/database/weapons.json")
        other_branch = await session.get(f"{url}/tzurbaev/codarmory.com/dev/src/database/x.json")
        texts = [await r.text() for r in (again, missing, other_repo)]
    assert first.status == 200 and first.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert first.headers["Cache-Control"] == "max-age=300"
    assert re.fullmatch(r'"[0-9a-f]{64}"', etag)
    assert isinstance(body, list) and len(body) == len(WEAPONS)
    assert again.status == 304 and texts[0] == "" and again.headers["ETag"] == etag
    assert weak.status == 304 and stale.status == 200
    assert [missing.status, other_repo.status, other_branch.status] == [404, 404, 404]
    assert texts[1] == "404: Not Found"


async def test_second_read_is_a_304_and_reuses_the_parsed_copy(make_provider) -> None:
    """The second catalogue read sends If-None-Match; every file answers 304, no re-parse."""
    app = create_app()
    async with serve(app) as url:
        provider = make_provider(base_url=url)
        first = await provider.catalogue()
        second = await provider.catalogue()
        m4 = await provider.fetch(_request("m4"))
    assert app[DATA].not_modified == dict.fromkeys(CATALOGUE_FILES, 2)
    assert app[EMULATOR_STATE].requests[PREFIX + WEAPONS_FILE] == 3
    assert second.weapons is first.weapons and second.attachments is first.attachments
    assert m4 == first.weapon_stats("m4")


async def test_changed_file_gets_a_new_etag_and_is_read_again(make_provider) -> None:
    """Changing weapons.json at runtime gives it a new ETag; the provider sees the change."""
    app = create_app()
    data = app[DATA]
    async with serve(app) as url:
        provider = make_provider(base_url=url)
        before = await provider.fetch(_request("m4"))
        old_etag = data.etag(WEAPONS_FILE)
        data.update(WEAPONS_FILE, {"m4": {"name": "M4A1", "max_level": 40}})
        after = await provider.fetch(_request("m4"))
    assert before.name == "M4" and after.name == "M4A1" and after.max_level == 40
    assert data.etag(WEAPONS_FILE) != old_etag
    assert provider.client.etag(WEAPONS_FILE) == data.etag(WEAPONS_FILE)
    assert WEAPONS_FILE not in data.not_modified  # it was read again, not revalidated
    assert data.not_modified["attachments.json"] == 1


async def test_data_control_endpoint(make_provider) -> None:
    """``POST /_emulator/data`` updates, reshapes and resets files; bad bodies answer 400."""
    app = create_app()
    async with serve(app) as url, aiohttp.ClientSession() as session:
        provider = make_provider(base_url=url)
        original = (await (await session.get(f"{url}/_emulator/data")).json())["files"]
        update = {"file": WEAPONS_FILE, "update": {"mcw": {"name": "MCW Mk2"}}}
        await session.post(f"{url}/_emulator/data", json=update)
        renamed = await provider.fetch(_request("mcw"))
        reshaped = {"file": WEAPONS_FILE, "content": {"weapons": []}}
        await session.post(f"{url}/_emulator/data", json=reshaped)
        broken = await _raise(provider, "mcw")
        listing = await (await session.post(f"{url}/_emulator/data", json={"reset": True})).json()
        restored = await provider.fetch(_request("mcw"))
        bad = [
            await session.post(f"{url}/_emulator/data", data=body)
            for body in (b"not json", b"[]", b"{}", b'{"file": "weapons.json"}')
        ]
        unknown_id = await session.post(
            f"{url}/_emulator/data", json={"file": WEAPONS_FILE, "update": {"zz": {}}}
        )
    assert renamed.name == "MCW Mk2"
    assert broken.category is ErrorCategory.INVALID_RESPONSE
    assert listing["files"] == original and restored.name == "MCW"
    assert [r.status for r in bad] == [400, 400, 400, 400] and unknown_id.status == 400


async def test_deleted_file_is_not_found(make_provider) -> None:
    """A file that is no longer served (moved or renamed) is not_found, naming it."""
    app = create_app()
    app[DATA].delete("platforms.json")
    async with serve(app) as url:
        error = await _raise(make_provider(base_url=url))
    assert error.category is ErrorCategory.NOT_FOUND and error.status == 404
    assert "platforms.json" in error.message


async def test_unknown_slug_is_not_found_and_batch_omits_it(make_provider) -> None:
    """An unknown slug is not_found alone and absent from a batch."""
    async with serve(create_app()) as url:
        provider = make_provider(base_url=url)
        error = await _raise(provider, "not-a-gun")
        batch = await provider.fetch_batch(_request(), ["m4", "not-a-gun", "xm4"])
    assert error.category is ErrorCategory.NOT_FOUND
    assert set(batch) == {"m4", "xm4"}


async def test_rate_limit_fault_passes_retry_after(make_provider) -> None:
    """An injected 429 carries ``Retry-After`` up to the error."""
    async with serve(create_app(Faults(rate_limit_rate=1.0, retry_after=7))) as url:
        error = await _raise(make_provider(base_url=url))
    assert error.category is ErrorCategory.RATE_LIMIT and error.retry_after == 7.0


async def test_github_403_throttle_is_rate_limit(make_provider) -> None:
    """An injected 403 (GitHub's other throttle answer) is rate_limit, not auth."""
    async with serve(create_app(Faults(error_rate=1.0, error_status=403))) as url:
        error = await _raise(make_provider(base_url=url))
    assert error.category is ErrorCategory.RATE_LIMIT and error.status == 403
    assert "403: Internal Server Error" in error.message


async def test_outage_fault_is_provider_down(make_provider) -> None:
    """During an outage every file answers 503, which is provider_down."""
    async with serve(create_app(Faults(outage=True))) as url:
        error = await _raise(make_provider(base_url=url))
    assert error.category is ErrorCategory.PROVIDER_DOWN and error.status == 503


async def test_malformed_fault_is_invalid_response(make_provider) -> None:
    """Truncated JSON is an invalid response, and nothing broken is held."""
    app = create_app(Faults(malformed_rate=1.0))
    async with serve(app) as url:
        provider = make_provider(base_url=url)
        error = await _raise(provider)
    assert error.category is ErrorCategory.INVALID_RESPONSE
    assert provider.client.etag(WEAPONS_FILE) is None


async def test_wrong_values_carry_their_own_etag(make_provider) -> None:
    """Damaged values map (schema-valid); their ETag differs, so the next read gets good data."""
    app = create_app(Faults(wrong_values_rate=1.0))
    async with serve(app) as url:
        provider = make_provider(base_url=url)
        damaged = await provider.fetch_batch(_request(), [w.slug for w in WEAPONS])
        app[EMULATOR_STATE].set_faults(Faults())
        healthy = await provider.fetch_batch(_request(), [w.slug for w in WEAPONS])
    assert any(stats.max_level is not None and stats.max_level < 0 for stats in damaged.values())
    assert healthy["m4"].name == "M4"
    assert all(stats.max_level is None or stats.max_level > 0 for stats in healthy.values())
    assert WEAPONS_FILE not in app[DATA].not_modified


async def test_files_are_read_concurrently(make_provider) -> None:
    """The four files are requested at once: the emulator holds each until all four arrive."""
    barrier = asyncio.Barrier(len(CATALOGUE_FILES))

    async def wait_for_all(delay: float) -> None:
        await barrier.wait()

    app = create_app(Faults(latency=0.001), sleep=wait_for_all)
    async with serve(app) as url:
        async with asyncio.timeout(5):  # sequential reads would wait at the barrier forever
            stats = await make_provider(base_url=url).fetch(_request("m4"))
    assert stats.name == "M4"


async def test_other_repository_location_is_served_when_configured(make_provider) -> None:
    """The emulator serves a fork or branch when built for it; the options follow."""
    app = create_app(owner="fork", repo="armory", branch="release/1")
    async with serve(app) as url:
        default = await _raise(make_provider(base_url=url))
        fork = make_provider(base_url=url, owner="fork", repo="armory", branch="release/1")
        stats = await fork.fetch(_request("holger-556"))
    assert default.category is ErrorCategory.NOT_FOUND
    assert stats.name == "Holger 556" and stats.game == "mw3"
