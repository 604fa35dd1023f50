"""Pure mapping of CODArmory's JSON files to polysource's dataset schemas (no I/O).

The site ships its data as static files (``weapons.json``, ``categories.json``,
``platforms.json``, ``attachments.json``, each a JSON array). Each file is parsed once into an
index ([`parse_weapons()`][polysource_codarmory.mapping.parse_weapons],
[`parse_names()`][polysource_codarmory.mapping.parse_names]); a
[`Catalogue`][polysource_codarmory.mapping.Catalogue] joins the indexes into
[`WeaponStats`][polysource.datasets.WeaponStats]. A file without the fields a schema needs, or with
fields of the wrong type, raises [`ProviderError`][polysource.errors.ProviderError] with category
``invalid_response`` naming the file, the element and the field.

The files publish no ballistics, so ``damage`` and ``fire_rate`` are always ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from attrs import field, frozen

from polysource.datasets import WeaponStats
from polysource.errors import ErrorCategory, ProviderError
from polysource.http import classify_status as http_category

__all__ = [
    "ATTACHMENTS_FILE",
    "CATALOGUE_FILES",
    "CATEGORIES_FILE",
    "Catalogue",
    "PLATFORMS_FILE",
    "PROVIDER",
    "WEAPONS_FILE",
    "WeaponRecord",
    "classify_status",
    "error_detail",
    "normalize_slug",
    "parse_names",
    "parse_weapons",
    "unlock_text",
]

PROVIDER: Final = "codarmory"
WEAPONS_FILE: Final = "weapons.json"
CATEGORIES_FILE: Final = "categories.json"
PLATFORMS_FILE: Final = "platforms.json"
ATTACHMENTS_FILE: Final = "attachments.json"
CATALOGUE_FILES: Final = (WEAPONS_FILE, CATEGORIES_FILE, PLATFORMS_FILE, ATTACHMENTS_FILE)
"""The files one ``weapon_stats`` answer is joined from."""

_DETAIL_LIMIT: Final = 120


def _invalid(message: str) -> ProviderError:
    return ProviderError(message, provider=PROVIDER, category=ErrorCategory.INVALID_RESPONSE)


def normalize_slug(value: str) -> str:
    """A weapon's canonical key: its slug, stripped and lower-cased (``" M4 "`` -> ``"m4"``)."""
    return value.strip().lower()


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _invalid(f"{where} is {type(value).__name__}, expected an object")
    return value


def _array(payload: Any, file: str) -> Sequence[Any]:
    if not isinstance(payload, list):
        raise _invalid(f"{file} is {type(payload).__name__}, expected an array")
    return payload


def _str(item: Mapping[str, Any], name: str, where: str) -> str | None:
    value = item.get(name)
    if value is None or isinstance(value, str):
        return value
    raise _invalid(f"{where}.{name} is {type(value).__name__}, expected a string")


def _required_str(item: Mapping[str, Any], name: str, where: str) -> str:
    value = _str(item, name, where)
    if not value or not value.strip():
        raise _invalid(f"{where} has no {name!r}")
    return value


def _int(item: Mapping[str, Any], name: str, where: str) -> int | None:
    value = item.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(f"{where}.{name} is {type(value).__name__}, expected an integer")
    return value


def _ids(item: Mapping[str, Any], name: str, where: str) -> tuple[str, ...]:
    value = item.get(name)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _invalid(f"{where}.{name} is not an array of strings")
    return tuple(value)


@frozen
class WeaponRecord:
    """One element of ``weapons.json``, checked and typed (ids not yet resolved to names)."""

    weapon_id: str
    name: str
    game: str | None = None
    category_id: str | None = None
    platform_id: str | None = None
    max_level: int | None = None
    unlock_type: str | None = None
    unlock_id: str | None = None
    unlock_level: int | None = None
    unlock_summary: str | None = None
    unlock_description: str | None = None
    attachment_ids: tuple[str, ...] = field(default=())


def _weapon(element: Any, where: str) -> WeaponRecord:
    item = _object(element, where)
    return WeaponRecord(
        weapon_id=normalize_slug(_required_str(item, "id", where)),
        name=_required_str(item, "name", where).strip(),
        game=_str(item, "game_id", where),
        category_id=_str(item, "category_id", where),
        platform_id=_str(item, "platform_id", where),
        max_level=_int(item, "max_level", where),
        unlock_type=_str(item, "unlock_type", where),
        unlock_id=_str(item, "unlock_id", where),
        unlock_level=_int(item, "unlock_level", where),
        unlock_summary=_str(item, "unlock_summary", where),
        unlock_description=_str(item, "unlock_description", where),
        attachment_ids=_ids(item, "attachments", where),
    )


def parse_weapons(payload: Any) -> dict[str, WeaponRecord]:
    """Index ``weapons.json`` by canonical slug.

    ``id`` and ``name`` are required; the other fields may be absent or ``null``. When two
    elements share a slug, the first one wins.

    Raises:
        ProviderError: ``invalid_response`` when the file is not an array of weapon objects.
    """
    out: dict[str, WeaponRecord] = {}
    for index, element in enumerate(_array(payload, WEAPONS_FILE)):
        record = _weapon(element, f"{WEAPONS_FILE}[{index}]")
        out.setdefault(record.weapon_id, record)
    return out


def parse_names(payload: Any, file: str) -> dict[str, str]:
    """Index a file of ``{"id": ..., "name": ...}`` objects (categories, platforms,
    attachments) as id -> name.

    Raises:
        ProviderError: ``invalid_response`` when an element has no string ``id`` or ``name``.
    """
    out: dict[str, str] = {}
    for index, element in enumerate(_array(payload, file)):
        where = f"{file}[{index}]"
        item = _object(element, where)
        out.setdefault(_required_str(item, "id", where), _required_str(item, "name", where))
    return out


def unlock_text(record: WeaponRecord, weapons: Mapping[str, WeaponRecord]) -> str | None:
    """How the weapon is unlocked, in words.

    ``unlock_summary`` when the file has one; otherwise a sentence built from the structured
    unlock fields the file does publish (``level`` 19 -> ``"Reach level 19"``; ``weapon``
    ``m4`` 13 -> ``"Reach level 13 with the M4"``); otherwise ``unlock_description``; else
    ``None``.
    """
    if record.unlock_summary and record.unlock_summary.strip():
        return record.unlock_summary.strip()
    kind, target, level = record.unlock_type, record.unlock_id, record.unlock_level
    if kind == "auto":
        return "Available by default"
    if kind == "level" and level is not None:
        return f"Reach level {level}"
    if kind == "weapon" and target and level is not None:
        other = weapons.get(normalize_slug(target))
        return f"Reach level {level} with the {other.name if other else target}"
    if kind == "battle-pass" and target:
        return f"Battle Pass item {target}"
    if record.unlock_description and record.unlock_description.strip():
        return record.unlock_description.strip()
    return None


@frozen
class Catalogue:
    """The parsed catalogue files, joined on demand into
    [`WeaponStats`][polysource_codarmory.mapping.WeaponStats].

    Args:
        weapons: ``weapons.json`` by canonical slug.
        categories: ``categories.json``, id -> name.
        platforms: ``platforms.json``, id -> name.
        attachments: ``attachments.json``, id -> name.
    """

    weapons: Mapping[str, WeaponRecord]
    categories: Mapping[str, str]
    platforms: Mapping[str, str]
    attachments: Mapping[str, str]

    def weapon_stats(self, key: str) -> WeaponStats | None:
        """The weapon whose slug is ``key``, or ``None`` when the catalogue has no such weapon.

        Attachment ids that ``attachments.json`` does not list are left out rather than
        shown as ids; a category or platform id it does not list gives ``None``.
        """
        record = self.weapons.get(normalize_slug(key))
        if record is None:
            return None
        names = self.attachments
        attachments = tuple(names[i] for i in record.attachment_ids if i in names)
        return WeaponStats(
            weapon_id=record.weapon_id,
            name=record.name,
            game=record.game,
            category=self.categories.get(record.category_id) if record.category_id else None,
            platform=self.platforms.get(record.platform_id) if record.platform_id else None,
            max_level=record.max_level,
            attachments=attachments,
            unlock=unlock_text(record, self.weapons),
        )


def classify_status(status: int) -> ErrorCategory | None:
    """The taxonomy category of a raw-file answer's status (``None`` for 2xx and 304).

    GitHub's raw host takes no credentials, so a 403 is its rate limiting, not ``auth``;
    404 means the file was moved or renamed; other statuses follow
    [`polysource.http.STATUS_CATEGORIES`][polysource.http.STATUS_CATEGORIES]. A redirect that
    reaches here (one to another
    host, or a 300) is ``invalid_response``.
    """
    if status < 300 or status == 304:
        return None
    if status in (403, 429):
        return ErrorCategory.RATE_LIMIT
    return http_category(status) or ErrorCategory.INVALID_RESPONSE


def error_detail(body: bytes) -> str | None:
    """The first line of a plain-text error body (``"404: Not Found"``); ``None`` for HTML."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text or text.startswith("<"):
        return None
    return text.splitlines()[0][:_DETAIL_LIMIT]
