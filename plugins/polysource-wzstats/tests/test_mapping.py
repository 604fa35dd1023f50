"""Pure mapping of weapons-and-tier-lists payloads (shaped as PROVIDERS.md records them)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from polysource.datasets import WeaponMeta, WeaponStats
from polysource.errors import ErrorCategory, ProviderError
from polysource_wzstats.mapping import catalogue_from, category_name, error_detail, slug

from .payloads import M4, PAYLOAD, weapon


def _payload(**changes: Any) -> dict[str, Any]:
    payload = copy.deepcopy(PAYLOAD)
    payload.update(changes)
    return payload


def test_weapons_map_to_partial_stats() -> None:
    """A weapon gives its slug, name, game and readable category; nothing else is invented."""
    stats = catalogue_from(PAYLOAD).stats
    assert stats["gpr-91"] == WeaponStats(
        weapon_id="gpr-91", name="GPR 91", game="bo6", category="Assault Rifles"
    )
    assert stats["jackal-pdw"].category == "SMGs"
    assert stats["knife"].category == "Melee"
    for value in stats.values():
        assert value.damage is None and value.fire_rate is None
        assert value.max_level is None and value.platform is None and value.unlock is None
        assert value.attachments == ()


def test_meta_has_the_bucket_of_every_map_and_mode_that_lists_the_weapon() -> None:
    """``tiers`` maps each tier list naming the weapon to its bucket; rates stay None."""
    meta = catalogue_from(PAYLOAD).meta
    assert meta["m4"] == WeaponMeta(
        weapon_id="m4",
        tiers={
            "alMazrah": "B",
            "ashikaIsland": "B",
            "wz2Ranked": "B",
            "mw2Ranked": "META",
            "mw3": "A",
        },
        name="M4",
    )
    assert meta["striker"].tiers == {"ashikaIsland": "A", "mw3": "META"}
    assert meta["m4"].win_rate is None and meta["m4"].pick_rate is None


def test_tier_only_weapons_have_meta_but_no_stats() -> None:
    """A slug found only in a tier list has meta without a name, and no stats."""
    catalogue = catalogue_from(PAYLOAD)
    assert catalogue.meta["xm4"] == WeaponMeta(weapon_id="xm4", tiers={"alMazrah": "META"})
    assert "xm4" not in catalogue.stats
    assert set(catalogue.meta) == set(catalogue.stats) | {"xm4", "model-l", "m13c"}


def test_listed_weapon_in_no_tier_list_has_empty_tiers() -> None:
    """A weapon no tier list ranks is still known: its meta has no tiers."""
    payload = _payload(
        weapons=[*PAYLOAD["weapons"], weapon("bal-27", "BAL-27", "ASSAULT_RIFLE", "mw3")]
    )
    assert catalogue_from(payload).meta["bal-27"] == WeaponMeta("bal-27", {}, "BAL-27")


def test_conversion_kits_are_weapons_of_their_own_type() -> None:
    """A conversion kit is keyed by its own slug; its category comes from ``type``."""
    catalogue = catalogue_from(PAYLOAD)
    kit = "bp50-conversion-kit-jak-revenger-kit"
    assert catalogue.stats[kit].category == "SMGs" and catalogue.stats[kit].name == "BP50"
    assert catalogue.meta[kit].tiers == {"ashikaIsland": "META"}


def test_slugs_are_lower_case_and_keep_dots() -> None:
    """Ids are lower-cased and stripped everywhere; ``fr-5.56`` keeps its dot."""
    payload = _payload(weapons=[dict(M4, id=" M4 ")])
    payload["wzStatsTierList"]["alMazrah"]["B"] = ["M4"]
    catalogue = catalogue_from(payload)
    assert set(catalogue.stats) == {"m4"}
    assert catalogue.meta["m4"].tiers["alMazrah"] == "B"
    assert "fr-5.56" in catalogue_from(PAYLOAD).stats
    assert slug("  FR-5.56 ") == "fr-5.56"


def test_weapon_in_two_buckets_of_one_list_gets_the_better() -> None:
    """A slug repeated across buckets of one list is placed in the best of them."""
    payload = _payload()
    payload["wzStatsTierList"]["alMazrah"] = {"D": ["m4"], "A": ["m4", "m4"], "META": []}
    assert catalogue_from(payload).meta["m4"].tiers["alMazrah"] == "A"


def test_unknown_buckets_and_lists_are_kept() -> None:
    """A bucket or map not known today is passed through by name."""
    payload = _payload()
    payload["wzStatsTierList"]["vondel"] = {"S": ["m4"]}
    assert catalogue_from(payload).meta["m4"].tiers["vondel"] == "S"


def test_first_of_duplicated_weapons_wins() -> None:
    """Two weapons with one id: the first is kept."""
    payload = _payload(weapons=[M4, dict(M4, name="M4 (copy)")])
    assert catalogue_from(payload).stats["m4"].name == "M4"


def test_null_lists_and_buckets_are_empty() -> None:
    """A null tier list or bucket ranks nothing, rather than failing."""
    payload = _payload()
    payload["wzStatsTierList"]["mw3"] = None
    payload["wzStatsTierList"]["mw2Ranked"]["META"] = None
    assert catalogue_from(payload).meta["m4"].tiers == {
        "alMazrah": "B",
        "ashikaIsland": "B",
        "wz2Ranked": "B",
    }


def test_type_falls_back_to_display_type_then_none() -> None:
    """Without ``type`` the category comes from ``displayType``; without both it is None."""
    no_type = dict(M4, type=None)
    nothing = {"id": "m4", "name": "M4"}
    assert catalogue_from(_payload(weapons=[no_type])).stats["m4"].category == "Assault Rifles"
    assert catalogue_from(_payload(weapons=[nothing])).stats["m4"] == WeaponStats("m4", "M4")


@pytest.mark.parametrize(
    ("weapon_type", "category"),
    [
        ("ASSAULT_RIFLE", "Assault Rifles"),
        ("BATTLE_RIFLE", "Battle Rifles"),
        ("SMG", "SMGs"),
        ("LMG", "LMGs"),
        ("SHOTGUN", "Shotguns"),
        ("MARKSMAN_RIFLE", "Marksman Rifles"),
        ("SNIPER_RIFLE", "Sniper Rifles"),
        ("PISTOL", "Handguns"),
        ("LAUNCHER", "Launchers"),
        ("MELEE", "Melee"),
        ("smg", "SMGs"),
        ("RIOT_SHIELD", "Riot Shield"),
        ("", None),
        (None, None),
    ],
)
def test_category_names(weapon_type: str | None, category: str | None) -> None:
    """Known types get CODArmory's category names; others are spelled out."""
    assert category_name(weapon_type) == category


def _mode(payload: dict[str, Any], value: Any) -> dict[str, Any]:
    payload["wzStatsTierList"]["alMazrah"] = value
    return payload


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param([PAYLOAD], id="array-body"),
        pytest.param("weapons", id="string-body"),
        pytest.param({"wzStatsTierList": PAYLOAD["wzStatsTierList"]}, id="no-weapons"),
        pytest.param({"weapons": PAYLOAD["weapons"]}, id="no-tier-list"),
        pytest.param(
            {"weaponList": PAYLOAD["weapons"], "wzStatsTierList": PAYLOAD["wzStatsTierList"]},
            id="weapons-renamed",
        ),
        pytest.param(_payload(weapons={"m4": M4}), id="weapons-object"),
        pytest.param(_payload(weapons=None), id="weapons-null"),
        pytest.param(_payload(weapons=["m4"]), id="weapon-string"),
        pytest.param(_payload(weapons=[dict(M4, id=None)]), id="weapon-without-id"),
        pytest.param(_payload(weapons=[dict(M4, id=4)]), id="weapon-id-number"),
        pytest.param(_payload(weapons=[dict(M4, id="  ")]), id="weapon-id-blank"),
        pytest.param(_payload(weapons=[{"id": "m4"}]), id="weapon-without-name"),
        pytest.param(_payload(weapons=[dict(M4, name=["M4"])]), id="weapon-name-array"),
        pytest.param(_payload(weapons=[dict(M4, game=2)]), id="weapon-game-number"),
        pytest.param(_payload(weapons=[dict(M4, type={"id": 1})]), id="weapon-type-object"),
        pytest.param(_payload(wzStatsTierList=[]), id="tier-list-array"),
        pytest.param(_payload(wzStatsTierList=None), id="tier-list-null"),
        pytest.param(_mode(_payload(), ["m4"]), id="map-array"),
        pytest.param(_mode(_payload(), {"META": "m4"}), id="bucket-string"),
        pytest.param(_mode(_payload(), {"META": [{"id": "m4"}]}), id="bucket-objects"),
    ],
)
def test_changed_shapes_are_invalid_response(payload: Any) -> None:
    """A payload that no longer has the expected shape raises invalid_response, not a crash."""
    with pytest.raises(ProviderError) as info:
        catalogue_from(payload)
    assert info.value.category is ErrorCategory.INVALID_RESPONSE
    assert info.value.provider == "wzstats"
    assert not info.value.retryable


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b'{"statusCode": 404, "message": "Not Found"}', "Not Found"),
        (b'{"error": "Too many requests"}', "Too many requests"),
        (b'{"detail": "nope"}', "nope"),
        (b'{"message": 3}', None),
        (b"[]", None),
        (b"<html>Attention Required! | Cloudflare</html>", None),
    ],
)
def test_error_detail(body: bytes, detail: str | None) -> None:
    """The message of a JSON error body is found; HTML and other shapes give None."""
    assert error_detail(body) == detail
