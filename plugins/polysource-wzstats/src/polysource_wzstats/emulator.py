"""A local emulator of WZStats' front-end JSON API, with fault injection.

It serves ``GET /wz2/weapons/meta/weapons-and-tier-lists/`` in the shape the site's front
end reads (PROVIDERS.md section 7) for a fixed catalogue of Modern Warfare II, Modern Warfare
III and Black Ops 6 weapons ([`CATALOGUE`][polysource_wzstats.emulator.CATALOGUE]). Tier placements
are generated from
``Faults.seed`` and the data revision, so the same seed gives the same tiers.

Query parameters, as the real API is read: ``streamerProfileId`` (required; each profile has
its own tier lists), repeated ``weaponGames[]`` (only those games' weapons are listed; none
lists every game), ``addConversionKit=true`` (conversion kits are listed as weapons too) and
repeated ``weaponAttributes[]`` (each weapon carries ``id``, ``conversionKitId``,
``baseWeaponId`` and only the attributes named). Tier lists name every weapon whatever the
filters, as the site's do.

Control endpoints, besides those of [`polysource.emulation`][polysource.emulation]:

- ``GET /_emulator/data``: the data settings in force.
- ``POST /_emulator/data`` with a JSON object of
[`DataSettings`][polysource_wzstats.emulator.DataSettings] fields: ``revision``
  (an int; a new one re-draws every tier, as a meta update would), ``shape`` (one of
  [`SHAPES`][polysource_wzstats.emulator.SHAPES]: ``standard``, or a changed shape:
  ``renamed_weapons``, ``no_tier_list``,
  ``wrong_types``, ``html``), ``payload`` (any JSON answered verbatim instead of the generated
  one; ``null`` turns that off). [`set_data()`][polysource_wzstats.emulator.set_data] does the same
  in process.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs
import orjson
from aiohttp import web
from attrs import define, frozen

from polysource.emulation import CONTROL_PREFIX, Faults, emulator_app, json_response, stable_random
from polysource_wzstats.client import TIER_LISTS_PATH

__all__ = [
    "CATALOGUE",
    "DATA",
    "MODES",
    "SHAPES",
    "DataSettings",
    "Weapon",
    "build_payload",
    "create_app",
    "error_body",
    "set_data",
]


@frozen
class Weapon:
    """One emulated weapon (or conversion kit)."""

    id: str
    name: str
    type: str
    game: str
    display_type: str | None = None
    conversion_kit_id: str | None = None
    base_weapon_id: str | None = None

    @property
    def is_kit(self) -> bool:
        """Whether this is a conversion kit of another weapon."""
        return self.conversion_kit_id is not None


def _weapons(game: str, kind: str, *entries: tuple[str, str]) -> tuple[Weapon, ...]:
    return tuple(Weapon(slug, name, kind, game) for slug, name in entries)


CATALOGUE: Final[tuple[Weapon, ...]] = (
    *_weapons(
        "mw2",
        "ASSAULT_RIFLE",
        ("m4", "M4"),
        ("m13c", "M13C"),
        ("m13b", "M13B"),
        ("kastov-762", "Kastov 762"),
        ("kastov-545", "Kastov 545"),
        ("m16", "M16"),
        ("taq-56", "TAQ-56"),
        ("lachmann-556", "Lachmann-556"),
        ("stb-556", "STB 556"),
        ("tempus-razorback", "Tempus Razorback"),
        ("chimera", "Chimera"),
        ("iso-hemlock", "ISO Hemlock"),
    ),
    *_weapons(
        "mw2",
        "SMG",
        ("fss-hurricane", "FSS Hurricane"),
        ("vaznev-9k", "Vaznev-9k"),
        ("lachmann-sub", "Lachmann Sub"),
        ("iso-45", "ISO 45"),
        ("vel-46", "VEL 46"),
        ("pdsw-528", "PDSW 528"),
        ("fennec-45", "Fennec 45"),
        ("minibak", "Minibak"),
    ),
    *_weapons(
        "mw2",
        "LMG",
        ("rpk", "RPK"),
        ("rapp-h", "Rapp H"),
        ("sakin-mg38", "Sakin MG38"),
        ("raal-mg", "RAAL MG"),
        ("556-icarus", "556 Icarus"),
    ),
    *_weapons(
        "mw2",
        "BATTLE_RIFLE",
        ("taq-v", "TAQ-V"),
        ("so-14", "SO-14"),
        ("lachmann-762", "Lachmann-762"),
        ("ftac-recon", "FTAC Recon"),
        ("cronen-squall", "Cronen Squall"),
    ),
    *_weapons(
        "mw2",
        "MARKSMAN_RIFLE",
        ("taq-m", "TAQ-M"),
        ("lm-s", "LM-S"),
        ("ebr-14", "EBR-14"),
        ("sp-r-208", "SP-R 208"),
        ("lockwood-mk2", "Lockwood MK2"),
    ),
    *_weapons(
        "mw2",
        "SNIPER_RIFLE",
        ("mcpr-300", "MCPR-300"),
        ("victus-xmr", "Victus XMR"),
        ("signal-50", "Signal 50"),
        ("fjx-imperium", "FJX Imperium"),
    ),
    *_weapons(
        "mw2",
        "SHOTGUN",
        ("bryson-800", "Bryson 800"),
        ("expedite-12", "Expedite 12"),
        ("kv-broadside", "KV Broadside"),
    ),
    *_weapons("mw2", "PISTOL", ("x12", "X12"), ("p890", "P890"), ("basilisk", "Basilisk")),
    *_weapons(
        "mw3",
        "ASSAULT_RIFLE",
        ("mcw", "MCW"),
        ("sva-545", "SVA 545"),
        ("mtz-556", "MTZ-556"),
        ("holger-556", "Holger 556"),
        ("bp50", "BP50"),
        ("fr-5.56", "FR 5.56"),
    ),
    *_weapons(
        "mw3",
        "SMG",
        ("striker", "Striker"),
        ("rival-9", "RIVAL-9"),
        ("amr9", "AMR9"),
        ("wsp-swarm", "WSP Swarm"),
        ("ram-9", "RAM-9"),
    ),
    *_weapons(
        "mw3",
        "SHOTGUN",
        ("lockwood-680", "Lockwood 680"),
        ("riveter", "Riveter"),
        ("haymaker", "Haymaker"),
    ),
    *_weapons("mw3", "LMG", ("holger-26", "Holger 26"), ("pulemyot-762", "Pulemyot 762")),
    *_weapons("mw3", "BATTLE_RIFLE", ("mtz-762", "MTZ-762"), ("bas-b", "BAS-B")),
    *_weapons(
        "mw3", "MARKSMAN_RIFLE", ("mcw-68", "MCW 6.8"), ("mtz-interceptor", "MTZ Interceptor")
    ),
    *_weapons(
        "mw3",
        "SNIPER_RIFLE",
        ("longbow", "Longbow"),
        ("kv-inhibitor", "KV Inhibitor"),
        ("katt-amr", "KATT-AMR"),
    ),
    *_weapons("mw3", "PISTOL", ("renetti", "Renetti"), ("cor-45", "COR-45")),
    *_weapons(
        "bo6",
        "ASSAULT_RIFLE",
        ("xm4", "XM4"),
        ("gpr-91", "GPR 91"),
        ("model-l", "MODEL L"),
        ("ak-74", "AK-74"),
        ("goblin-mk-2", "GOBLIN MK 2"),
        ("as-val", "AS VAL"),
        ("krig-c", "KRIG C"),
    ),
    *_weapons(
        "bo6",
        "SMG",
        ("jackal-pdw", "JACKAL PDW"),
        ("c9", "C9"),
        ("ksv", "KSV"),
        ("pp-919", "PP-919"),
        ("kompakt-92", "KOMPAKT 92"),
        ("tanto-22", "TANTO .22"),
        ("saug", "SAUG"),
    ),
    *_weapons("bo6", "LMG", ("xmg", "XMG"), ("pu-21", "PU-21"), ("gpmg-7", "GPMG-7")),
    *_weapons(
        "bo6",
        "MARKSMAN_RIFLE",
        ("swat-556", "SWAT 5.56"),
        ("dm-10", "DM-10"),
        ("tsarkov-762", "TSARKOV 7.62"),
        ("aek-973", "AEK-973"),
    ),
    *_weapons(
        "bo6",
        "SNIPER_RIFLE",
        ("lw3a1-frostline", "LW3A1 FROSTLINE"),
        ("lr-762", "LR 7.62"),
        ("amr-mod-4", "AMR MOD 4"),
    ),
    *_weapons("bo6", "SHOTGUN", ("marine-sp", "Marine SP"), ("asg-89", "ASG-89")),
    *_weapons("bo6", "PISTOL", ("grekhova", "GREKHOVA"), ("9mm-pm", "9MM PM")),
    *_weapons("bo6", "MELEE", ("knife", "KNIFE"), ("baseball-bat", "BASEBALL BAT")),
    Weapon(
        "bp50-conversion-kit-jak-revenger-kit",
        "BP50",
        "SMG",
        "mw3",
        display_type="ASSAULT_RIFLE",
        conversion_kit_id="jak-revenger-kit",
        base_weapon_id="bp50",
    ),
    Weapon(
        "mcw-conversion-kit-jak-raven-kit",
        "MCW",
        "SMG",
        "mw3",
        display_type="ASSAULT_RIFLE",
        conversion_kit_id="jak-raven-kit",
        base_weapon_id="mcw",
    ),
    Weapon(
        "kastov-762-conversion-kit-jak-requiem",
        "Kastov 762",
        "ASSAULT_RIFLE",
        "mw2",
        conversion_kit_id="jak-requiem",
        base_weapon_id="kastov-762",
    ),
)
"""The emulated weapons: real slugs, names, classes and games of the site's catalogue."""

MODES: Final[Mapping[str, frozenset[str]]] = {
    "alMazrah": frozenset({"mw2", "mw3", "bo6"}),
    "ashikaIsland": frozenset({"mw2", "mw3", "bo6"}),
    "wz2Ranked": frozenset({"mw2", "mw3"}),
    "mw2Ranked": frozenset({"mw2"}),
    "mw3": frozenset({"mw2", "mw3"}),
}
"""Tier lists (maps and modes) and the games whose weapons each ranks."""

SHAPES: Final = ("standard", "renamed_weapons", "no_tier_list", "wrong_types", "html")
"""Answer shapes: the standard one, and changes a redesign of the site could bring."""

_BUCKETS: Final = ("META", "A", "B", "C", "D")
_BUCKET_WEIGHTS: Final = (0.12, 0.3, 0.3, 0.16, 0.12)
_SNIPER_SUPPORT_MAPS: Final = ("alMazrah", "ashikaIsland", "rankedResurgence")
_ALWAYS_SENT: Final = frozenset({"id", "conversionKitId", "baseWeaponId"})


def _kit_field(weapon: Weapon, value: str | None) -> str | None:
    if weapon.is_kit:
        return value
    return None if weapon.game == "mw2" else ""  # the site answers null for MW2, "" for others


def _weapon_object(seed: int, weapon: Weapon) -> dict[str, Any]:
    rng = stable_random(seed, "weapon", weapon.id)
    item: dict[str, Any] = {
        "id": weapon.id,
        "name": weapon.name,
        "type": weapon.type,
        "isNew": rng.random() < 0.05,
        "updateMW2": "",
        "updateWZ2": "",
        "displayType": weapon.display_type or weapon.type,
        "game": weapon.game,
        "conversionKitId": _kit_field(weapon, weapon.conversion_kit_id),
        "baseWeaponId": _kit_field(weapon, weapon.base_weapon_id),
    }
    if weapon.type == "SMG" and rng.random() < 0.4:
        item["sniperSupportRank"] = {name: rng.randint(1, 8) for name in _SNIPER_SUPPORT_MAPS}
    return item


def _tier_list(seed: int, revision: int, profile: str) -> dict[str, Any]:
    tier_list: dict[str, Any] = {"streamerProfileId": profile}
    for mode, games in MODES.items():
        buckets: dict[str, list[str]] = {bucket: [] for bucket in _BUCKETS}
        for weapon in CATALOGUE:
            if weapon.game in games:
                rng = stable_random(seed, profile, revision, mode, weapon.id)
                buckets[rng.choices(_BUCKETS, _BUCKET_WEIGHTS)[0]].append(weapon.id)
        tier_list[mode] = buckets
    return tier_list


def build_payload(
    seed: int,
    *,
    revision: int = 0,
    profile: str = "wzstats",
    games: Iterable[str] = (),
    conversion_kits: bool = False,
    attributes: Iterable[str] = (),
) -> dict[str, Any]:
    """The standard answer for these query parameters (empty ``games``: every game)."""
    wanted_games = {game.lower() for game in games}
    keep = _ALWAYS_SENT | set(attributes)
    weapons = []
    for weapon in CATALOGUE:
        if wanted_games and weapon.game not in wanted_games:
            continue
        if weapon.is_kit and not conversion_kits:
            continue
        item = _weapon_object(seed, weapon)
        if len(keep) > len(_ALWAYS_SENT):
            item = {name: value for name, value in item.items() if name in keep}
        weapons.append(item)
    return {"weapons": weapons, "wzStatsTierList": _tier_list(seed, revision, profile)}


@define
class DataSettings:
    """What the emulator answers, changed at runtime to simulate a changed site.

    Args:
        seed: Seed of the generated tiers (from ``Faults.seed``).
        revision: Re-draws every tier when changed, as a meta update does.
        shape: One of [`SHAPES`][polysource_wzstats.emulator.SHAPES].
        payload: Any JSON answered verbatim instead of the generated answer, or ``None``.
    """

    seed: int = 0
    revision: int = attrs.field(default=0, validator=attrs.validators.instance_of(int))
    shape: str = attrs.field(default="standard", validator=attrs.validators.in_(SHAPES))
    payload: Any = None

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict."""
        return attrs.asdict(self)


DATA: Final = web.AppKey("wzstats_emulator_data", DataSettings)
"""Where the emulator app keeps its [`DataSettings`][polysource_wzstats.emulator.DataSettings]."""

_SETTABLE: Final = frozenset({"revision", "shape", "payload"})


def set_data(app: web.Application, **changes: Any) -> DataSettings:
    """Change the emulator's data (``revision``, ``shape``, ``payload``), also while it runs.

    Raises:
        ValueError: A name is not a settable field, or a value is invalid.
    """
    unknown = sorted(set(changes) - _SETTABLE)
    if unknown:
        raise ValueError(f"unknown data field(s) {unknown}; fields are {sorted(_SETTABLE)}")
    data = app[DATA]
    try:
        wanted = attrs.evolve(data, **changes)
    except TypeError as exc:
        raise ValueError(str(exc)) from exc
    # The app is frozen once it runs: change the settings object, do not replace it.
    data.revision, data.shape, data.payload = wanted.revision, wanted.shape, wanted.payload
    return data


def error_body(status: int, message: str) -> tuple[str, bytes]:
    """Error bodies: a CDN's HTML page for bot protection and outages, else a JSON message."""
    if status in (403, 429) or status >= 500:
        page = f"<html><head><title>{status} {message}</title></head><body>{message}</body></html>"
        return "text/html", page.encode()
    return "application/json", orjson.dumps({"statusCode": status, "message": message})


def _error(status: int, message: str) -> web.Response:
    content_type, body = error_body(status, message)
    return web.Response(status=status, body=body, content_type=content_type)


def _reshape(payload: dict[str, Any], shape: str) -> dict[str, Any]:
    if shape == "renamed_weapons":
        payload["weaponList"] = payload.pop("weapons")
    elif shape == "no_tier_list":
        del payload["wzStatsTierList"]
    elif shape == "wrong_types":
        payload["weapons"] = {item["id"]: item for item in payload["weapons"]}
    return payload


async def _weapons_and_tier_lists(request: web.Request) -> web.Response:
    profile = request.query.get("streamerProfileId", "").strip()
    if not profile:
        return _error(400, "streamerProfileId is required")
    data = request.app[DATA]
    if data.payload is not None:
        return json_response(data.payload)
    if data.shape == "html":
        page = "<!doctype html><html><body><div id='app'>WZStats</div></body></html>"
        return web.Response(text=page, content_type="text/html")
    payload = build_payload(
        data.seed,
        revision=data.revision,
        profile=profile,
        games=request.query.getall("weaponGames[]", []),
        conversion_kits=request.query.get("addConversionKit", "").lower() == "true",
        attributes=request.query.getall("weaponAttributes[]", []),
    )
    return json_response(_reshape(payload, data.shape))


async def _get_data(request: web.Request) -> web.Response:
    return json_response(request.app[DATA].to_dict())


async def _post_data(request: web.Request) -> web.Response:
    try:
        changes = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        return json_response({"error": f"not JSON: {exc}"}, status=400)
    if not isinstance(changes, dict):
        return json_response({"error": "a JSON object of data fields is expected"}, status=400)
    try:
        set_data(request.app, **changes)
    except ValueError as exc:
        return json_response({"error": str(exc)}, status=400)
    return json_response(request.app[DATA].to_dict())


def _corrupt(payload: Any, rng: random.Random) -> Any:
    """Wrong values, right shape: every tier list puts every weapon it ranks in META."""
    tier_list = payload.get("wzStatsTierList") if isinstance(payload, dict) else None
    if not isinstance(tier_list, dict):
        return payload
    for mode, buckets in tier_list.items():
        if isinstance(buckets, dict):
            lists = [members for members in buckets.values() if isinstance(members, list)]
            ranked = [slug for members in lists for slug in members]
            tier_list[mode] = {bucket: ranked if bucket == "META" else [] for bucket in _BUCKETS}
    return payload


def create_app(faults: Faults | None = None) -> web.Application:
    """The WZStats emulator application.

    Args:
        faults: Faults to inject; ``faults.seed`` also seeds the generated tiers.
    """
    faults = faults or Faults()
    app = emulator_app(faults, error_body=error_body, corrupt=_corrupt)
    app[DATA] = DataSettings(seed=faults.seed)
    app.router.add_get(TIER_LISTS_PATH, _weapons_and_tier_lists)
    app.router.add_get(TIER_LISTS_PATH.rstrip("/"), _weapons_and_tier_lists)
    app.router.add_get(CONTROL_PREFIX + "data", _get_data)
    app.router.add_post(CONTROL_PREFIX + "data", _post_data)
    return app
