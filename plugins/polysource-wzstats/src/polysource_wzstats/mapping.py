"""Pure mapping of WZStats' weapons-and-tier-lists JSON to polysource's schemas (no I/O).

The API is undocumented; the shape below is the one the site's front end and public scrapers
read. [`catalogue_from()`][polysource_wzstats.mapping.catalogue_from] checks that shape and raises
[`ProviderError`][polysource.errors.ProviderError] with category ``invalid_response`` when it has
changed (a missing ``weapons`` or ``wzStatsTierList``, an item that is not an object, a field
of the wrong type), so a redesign of the site never surfaces as a crash:

    {"weapons": [{"id": "m4", "name": "M4", "type": "ASSAULT_RIFLE", "game": "mw2", ...}],
     "wzStatsTierList": {"streamerProfileId": "wzstats",
                         "alMazrah": {"META": ["xm4"], "A": [...], "B": ["m4"], ...}, ...}}

WZStats publishes tier placements only: win rate, pick rate and ballistics stay ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson
from attrs import frozen

from polysource.datasets import WeaponMeta, WeaponStats
from polysource.errors import ErrorCategory, ProviderError

__all__ = [
    "BUCKET_ORDER",
    "CATEGORY_NAMES",
    "PROVIDER",
    "Catalogue",
    "catalogue_from",
    "category_name",
    "error_detail",
    "slug",
]

PROVIDER: Final = "wzstats"

BUCKET_ORDER: Final = ("META", "A", "B", "C", "D")
"""Tier buckets from best to worst; a bucket not named here ranks after them."""

CATEGORY_NAMES: Final[Mapping[str, str]] = {
    "ASSAULT_RIFLE": "Assault Rifles",
    "BATTLE_RIFLE": "Battle Rifles",
    "SMG": "SMGs",
    "LMG": "LMGs",
    "SHOTGUN": "Shotguns",
    "MARKSMAN_RIFLE": "Marksman Rifles",
    "SNIPER_RIFLE": "Sniper Rifles",
    "PISTOL": "Handguns",
    "HANDGUN": "Handguns",
    "LAUNCHER": "Launchers",
    "MELEE": "Melee",
}
"""WZStats weapon ``type`` to the category names CODArmory uses, so merged answers agree."""

_PROFILE_FIELD: Final = "streamerProfileId"


@frozen
class Catalogue:
    """One weapons-and-tier-lists answer, indexed by lower-case weapon slug.

    Args:
        stats: Base data of every weapon in ``weapons``.
        meta: Tier placements of every weapon in ``weapons`` or in a tier list.
    """

    stats: Mapping[str, WeaponStats]
    meta: Mapping[str, WeaponMeta]


def _invalid(message: str) -> ProviderError:
    return ProviderError(
        f"unexpected weapons-and-tier-lists payload: {message}",
        provider=PROVIDER,
        category=ErrorCategory.INVALID_RESPONSE,
    )


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def slug(key: str) -> str:
    """A weapon's canonical key: stripped, lower case (``" M4 "`` -> ``"m4"``)."""
    return key.strip().lower()


def category_name(weapon_type: str | None) -> str | None:
    """A readable category for a WZStats ``type`` (``"SMG"`` -> ``"SMGs"``).

    A type not in [`CATEGORY_NAMES`][polysource_wzstats.mapping.CATEGORY_NAMES] is spelled out
    (``"RIOT_SHIELD"`` -> ``"Riot
    Shield"``); an empty or missing one is ``None``.
    """
    if not weapon_type:
        return None
    known = CATEGORY_NAMES.get(weapon_type.upper())
    return known or weapon_type.replace("_", " ").strip().title() or None


def _text(item: Mapping[str, Any], name: str, where: str) -> str | None:
    value = item.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(f"{where}: field {name!r} is {_kind(value)}, expected a string")
    return value.strip() or None


def _weapon(item: Any, index: int) -> WeaponStats:
    where = f"weapons[{index}]"
    if not isinstance(item, Mapping):
        raise _invalid(f"{where} is {_kind(item)}, expected an object")
    weapon_id = _text(item, "id", where)
    if weapon_id is None:
        raise _invalid(f"{where} has no 'id'")
    name = _text(item, "name", where)
    if name is None:
        raise _invalid(f"{where} ({weapon_id!r}) has no 'name'")
    weapon_type = _text(item, "type", where) or _text(item, "displayType", where)
    game = _text(item, "game", where)
    return WeaponStats(
        weapon_id=slug(weapon_id),
        name=name,
        game=game.lower() if game else None,
        category=category_name(weapon_type),
    )


def _bucket_rank(bucket: str) -> int:
    upper = bucket.upper()
    return BUCKET_ORDER.index(upper) if upper in BUCKET_ORDER else len(BUCKET_ORDER)


def _mode_tiers(mode: str, buckets: Any) -> dict[str, str]:
    """Weapon slug to bucket for one map or mode; a weapon in two buckets gets the better."""
    if not isinstance(buckets, Mapping):
        raise _invalid(f"tier list {mode!r} is {_kind(buckets)}, expected an object")
    placed: dict[str, str] = {}
    ordered = sorted(buckets.items(), key=lambda pair: _bucket_rank(str(pair[0])))
    for bucket, members in ordered:
        if members is None:
            continue
        if not isinstance(members, list):
            raise _invalid(f"tier list {mode!r} bucket {bucket!r} is {_kind(members)}")
        for member in members:
            if not isinstance(member, str):
                raise _invalid(f"tier list {mode!r} bucket {bucket!r} holds {_kind(member)}")
            placed.setdefault(slug(member), str(bucket))
    return placed


def _tiers(tier_list: Any) -> dict[str, dict[str, str]]:
    """Weapon slug to ``{map or mode: bucket}`` over every tier list."""
    if not isinstance(tier_list, Mapping):
        raise _invalid(f"'wzStatsTierList' is {_kind(tier_list)}, expected an object")
    by_weapon: dict[str, dict[str, str]] = {}
    for mode, buckets in tier_list.items():
        if mode == _PROFILE_FIELD or buckets is None:
            continue
        for weapon_id, bucket in _mode_tiers(str(mode), buckets).items():
            by_weapon.setdefault(weapon_id, {})[str(mode)] = bucket
    return by_weapon


def catalogue_from(payload: Any) -> Catalogue:
    """The [`Catalogue`][polysource_wzstats.mapping.Catalogue] of a decoded
    ``weapons-and-tier-lists`` answer.

    Weapons are keyed by lower-case ``id``; the first of duplicated ids wins. A weapon that
    appears only in a tier list (e.g. a conversion kit left out of ``weapons``) has meta but no
    stats; a weapon in ``weapons`` that no tier list names has meta with empty ``tiers``.

    Raises:
        ProviderError: ``invalid_response`` when the payload does not have the expected shape.
    """
    if not isinstance(payload, Mapping):
        raise _invalid(f"the body is {_kind(payload)}, expected an object")
    for field_name in ("weapons", "wzStatsTierList"):
        if field_name not in payload:
            raise _invalid(f"no {field_name!r} field (fields: {sorted(map(str, payload))})")
    weapons = payload["weapons"]
    if not isinstance(weapons, list):
        raise _invalid(f"'weapons' is {_kind(weapons)}, expected an array")
    tiers = _tiers(payload["wzStatsTierList"])
    stats: dict[str, WeaponStats] = {}
    for index, item in enumerate(weapons):
        weapon = _weapon(item, index)
        stats.setdefault(weapon.weapon_id, weapon)
    meta = {
        weapon_id: WeaponMeta(
            weapon_id=weapon_id,
            tiers=tiers.get(weapon_id, {}),
            name=stats[weapon_id].name if weapon_id in stats else None,
        )
        for weapon_id in dict.fromkeys([*stats, *tiers])
    }
    return Catalogue(stats=stats, meta=meta)


def error_detail(body: bytes) -> str | None:
    """The ``message`` (or ``error``/``detail``) of a JSON error body, if the body is one."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, Mapping):
        return None
    for name in ("message", "error", "detail"):
        value = data.get(name)
        if isinstance(value, str) and value.strip():
            return value
    return None
