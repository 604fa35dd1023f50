"""Pure mapping of CODArmory's files, on excerpts of the live files and on broken shapes."""

from __future__ import annotations

import copy

import pytest

from polysource.datasets import WeaponStats
from polysource.errors import ErrorCategory, ProviderError
from polysource_codarmory.mapping import (
    ATTACHMENTS_FILE,
    CATEGORIES_FILE,
    PLATFORMS_FILE,
    Catalogue,
    WeaponRecord,
    classify_status,
    error_detail,
    parse_names,
    parse_weapons,
    unlock_text,
)

from .conftest import recorded

M4 = {
    "id": "m4",
    "game_id": "mw2",
    "category_id": "assault-rifles",
    "platform_id": "m4",
    "name": "M4",
    "max_level": 20,
    "unlock_type": "auto",
    "unlock_id": None,
    "unlock_level": None,
    "unlock_summary": None,
    "unlock_description": None,
    "attachments": ["97c54cefba771c09", "97c548e592925acb"],
}


def _catalogue(files: dict | None = None) -> Catalogue:
    files = files or recorded()
    return Catalogue(
        parse_weapons(files["weapons.json"]),
        parse_names(files[CATEGORIES_FILE], CATEGORIES_FILE),
        parse_names(files[PLATFORMS_FILE], PLATFORMS_FILE),
        parse_names(files[ATTACHMENTS_FILE], ATTACHMENTS_FILE),
    )


def _invalid(call, *args) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        call(*args)
    assert info.value.category is ErrorCategory.INVALID_RESPONSE
    assert info.value.provider == "codarmory"
    return info.value


def test_live_m4_maps_every_published_field() -> None:
    """The live M4 becomes WeaponStats with names resolved from the other files."""
    stats = _catalogue().weapon_stats("m4")
    assert stats == WeaponStats(
        weapon_id="m4",
        name="M4",
        game="mw2",
        category="Assault Rifles",
        platform="M4 Platform",
        max_level=20,
        attachments=(
            "Corvus Slash Gen. 2",
            "Dark KX30",
            "VLK Koloss Flash Hider",
            "Broadhead-3DP",
        ),
        unlock="Available by default",
    )


def test_no_ballistics_are_invented() -> None:
    """The files publish no damage or fire rate, so every weapon leaves them None."""
    catalogue = _catalogue()
    for key in catalogue.weapons:
        stats = catalogue.weapon_stats(key)
        assert stats is not None
        assert stats.damage is None and stats.fire_rate is None


def test_null_platform_and_max_level_stay_none() -> None:
    """MW3's Striker has no platform and a null max_level in the live file."""
    stats = _catalogue().weapon_stats("striker")
    assert stats is not None
    assert stats.game == "mw3" and stats.category == "SMGs"
    assert stats.platform is None and stats.max_level is None
    assert stats.attachments[-1] == "20 Round Mag"


def test_weapon_without_attachments() -> None:
    """A melee weapon has an empty attachment list."""
    stats = _catalogue().weapon_stats("riot-shield")
    assert stats is not None and stats.attachments == () and stats.category == "Melee"


def test_lookup_is_case_and_space_insensitive_and_unknown_is_none() -> None:
    """Slugs are matched after strip/lower; an unknown slug gives None."""
    catalogue = _catalogue()
    assert catalogue.weapon_stats(" M4 ") == catalogue.weapon_stats("m4")
    assert catalogue.weapon_stats("xm4") is None


@pytest.mark.parametrize(
    ("key", "unlock"),
    [
        ("m4", "Available by default"),
        ("ftac-recon", "Reach level 13 with the M4"),
        ("sva-545", "Reach level 18"),
        ("bas-p", "Get 25 headshots using SMGs"),
        ("fjx-imperium", "Battle Pass item C4"),
        ("m13b", "Unlock by defeating The Chemist"),
        ("ftac-siege", "- Extract weapon from DMZ;"),
    ],
)
def test_unlock_from_summary_then_structured_fields_then_description(key, unlock) -> None:
    """``unlock`` is the summary, else words from the unlock fields, else the description."""
    stats = _catalogue().weapon_stats(key)
    assert stats is not None and stats.unlock is not None
    assert stats.unlock.startswith(unlock)


def test_unlock_is_none_when_nothing_is_published() -> None:
    """A weapon whose unlock fields are all null has no unlock text."""
    record = WeaponRecord("cor-45", "COR-45", unlock_type="not-available")
    assert unlock_text(record, {}) is None


def test_unlock_names_the_weapon_by_slug_when_unknown() -> None:
    """A weapon unlock that points at a weapon missing from the file shows the raw id."""
    record = WeaponRecord("x", "X", unlock_type="weapon", unlock_id="gone", unlock_level=3)
    assert unlock_text(record, {}) == "Reach level 3 with the gone"


def test_unresolvable_ids_are_left_out() -> None:
    """Attachment ids absent from attachments.json are skipped; unknown category is None."""
    files = recorded()
    files["weapons.json"] = [
        dict(M4, category_id="nope", attachments=["0000", M4["attachments"][0]])
    ]
    stats = _catalogue(files).weapon_stats("m4")
    assert stats is not None
    assert stats.attachments == ("Corvus Slash Gen. 2",)
    assert stats.category is None and stats.platform == "M4 Platform"


def test_first_of_duplicate_slugs_wins_and_slugs_are_lowered() -> None:
    """Two elements with one slug keep the first; ids are indexed lower-case."""
    weapons = parse_weapons([dict(M4, id="M4"), dict(M4, name="Second")])
    assert list(weapons) == ["m4"] and weapons["m4"].name == "M4"


def test_missing_optional_fields_are_none() -> None:
    """Only ``id`` and ``name`` are required; absent fields map to None or empty."""
    record = parse_weapons([{"id": "m4", "name": "M4"}])["m4"]
    assert record == WeaponRecord("m4", "M4")


@pytest.mark.parametrize(
    "payload",
    [
        {"weapons": [M4]},
        "m4",
        None,
    ],
)
def test_weapons_file_that_is_not_an_array_is_invalid(payload) -> None:
    """weapons.json must be an array."""
    error = _invalid(parse_weapons, payload)
    assert "weapons.json" in error.message


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"id": None}, "weapons.json[0] has no 'id'"),
        ({"id": ""}, "has no 'id'"),
        ({"id": 4}, "weapons.json[0].id is int"),
        ({"name": None}, "has no 'name'"),
        ({"max_level": "20"}, "max_level is str"),
        ({"max_level": True}, "max_level is bool"),
        ({"max_level": 20.5}, "max_level is float"),
        ({"unlock_level": "x"}, "unlock_level"),
        ({"game_id": ["mw2"]}, "game_id is list"),
        ({"attachments": "97c54cefba771c09"}, "attachments is not an array of strings"),
        ({"attachments": [1, 2]}, "attachments is not an array of strings"),
    ],
)
def test_weapon_with_wrong_field_types_is_invalid(change, named) -> None:
    """A weapon element with a missing key field or a mistyped field is invalid_response."""
    error = _invalid(parse_weapons, [dict(M4, **change)])
    assert named in error.message


def test_renamed_id_field_is_invalid() -> None:
    """A shape change renaming ``id`` to ``slug`` is caught, not silently mapped."""
    item = copy.deepcopy(M4)
    item["slug"] = item.pop("id")
    _invalid(parse_weapons, [item])


@pytest.mark.parametrize(
    "payload",
    [
        [["assault-rifles", "Assault Rifles"]],
        [{"id": "assault-rifles"}],
        [{"id": 1, "name": "Assault Rifles"}],
        {"assault-rifles": "Assault Rifles"},
    ],
)
def test_names_file_with_wrong_shape_is_invalid(payload) -> None:
    """Categories, platforms and attachments must be arrays of {id, name} objects."""
    error = _invalid(parse_names, payload, CATEGORIES_FILE)
    assert CATEGORIES_FILE in error.message


def test_live_names_files_parse() -> None:
    """The live categories, platforms and attachments excerpts index as id -> name."""
    files = recorded()
    assert parse_names(files[CATEGORIES_FILE], CATEGORIES_FILE)["smgs"] == "SMGs"
    assert parse_names(files[PLATFORMS_FILE], PLATFORMS_FILE)["bruen-ops"] == "Bruen Ops Platform"
    names = parse_names(files[ATTACHMENTS_FILE], ATTACHMENTS_FILE)
    assert names["97c54cefba771c09"] == "Corvus Slash Gen. 2"
    assert len(names) == len(files[ATTACHMENTS_FILE])


@pytest.mark.parametrize(
    ("status", "category"),
    [
        (200, None),
        (304, None),
        (301, ErrorCategory.INVALID_RESPONSE),
        (400, ErrorCategory.INVALID_REQUEST),
        (401, ErrorCategory.AUTH),
        (403, ErrorCategory.RATE_LIMIT),
        (404, ErrorCategory.NOT_FOUND),
        (429, ErrorCategory.RATE_LIMIT),
        (500, ErrorCategory.PROVIDER_DOWN),
        (503, ErrorCategory.PROVIDER_DOWN),
    ],
)
def test_status_categories(status, category) -> None:
    """403 is the raw host's throttle (no credentials are sent), not auth."""
    assert classify_status(status) is category


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"404: Not Found", "404: Not Found"),
        (b"429: Too Many Requests\nretry later", "429: Too Many Requests"),
        (b"<html><body>503</body></html>", None),
        (b"", None),
    ],
)
def test_error_detail_is_the_first_plain_text_line(body, detail) -> None:
    """Plain-text error bodies give their first line; HTML and empty bodies give none."""
    assert error_detail(body) == detail
