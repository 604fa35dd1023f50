"""The emulated CODArmory catalogue: fixed weapon facts, and files generated from a seed.

[`WEAPONS`][polysource_codarmory.catalogue.WEAPONS] lists real slugs, names, games, categories and
platforms; [`generate_files()`][polysource_codarmory.catalogue.generate_files]
adds what the emulator makes up from the seed (levels, unlocks, attachments) and lays it all out
in the six files of the live repository, with the live files' field names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from attrs import frozen

from polysource.emulation import stable_random

__all__ = [
    "ATTACHMENT_CATEGORIES",
    "CATEGORIES",
    "FILES",
    "PLATFORMS",
    "WEAPONS",
    "Weapon",
    "generate_files",
]


@frozen
class Weapon:
    """One emulated weapon's fixed facts (the rest is generated from the seed)."""

    slug: str
    name: str
    game: str
    category: str
    platform: str | None = None


def _w(slug: str, name: str, game: str, category: str, platform: str | None = None) -> Weapon:
    return Weapon(slug, name, game, category, platform)


WEAPONS: Final[tuple[Weapon, ...]] = (
    _w("m4", "M4", "mw2", "assault-rifles", "m4"),
    _w("m16", "M16", "mw2", "assault-rifles", "m4"),
    _w("ftac-recon", "FTAC Recon", "mw2", "battle-rifles", "m4"),
    _w("fss-hurricane", "FSS Hurricane", "mw2", "smgs", "m4"),
    _w("556-icarus", "556 Icarus", "mw2", "lmgs", "m4"),
    _w("taq-56", "TAQ-56", "mw2", "assault-rifles", "taq"),
    _w("taq-v", "TAQ-V", "mw2", "battle-rifles", "taq"),
    _w("kastov-762", "Kastov 762", "mw2", "assault-rifles", "kastovia"),
    _w("kastov-545", "Kastov 545", "mw2", "assault-rifles", "kastovia"),
    _w("kastov-74u", "Kastov 74u", "mw2", "assault-rifles", "kastovia"),
    _w("vaznev-9k", "Vaznev-9K", "mw2", "smgs", "kastovia"),
    _w("rpk", "RPK", "mw2", "lmgs", "kastovia"),
    _w("m13b", "M13B", "mw2", "assault-rifles", "bruen-ops"),
    _w("m13c", "M13C", "mw2", "assault-rifles", "bruen-ops"),
    _w("chimera", "Chimera", "mw2", "assault-rifles", "bruen-ops"),
    _w("lachmann-556", "Lachmann-556", "mw2", "assault-rifles", "lachmann"),
    _w("lachmann-762", "Lachmann-762", "mw2", "battle-rifles", "lachmann"),
    _w("lachmann-sub", "Lachmann Sub", "mw2", "smgs", "lachmann"),
    _w("stb-556", "STB-556", "mw2", "assault-rifles", "bruen-bullpup"),
    _w("mx9", "MX9", "mw2", "smgs", "bruen-bullpup"),
    _w("hcr-56", "HCR 56", "mw2", "lmgs", "bruen-bullpup"),
    _w("ebr-14", "EBR-14", "mw2", "marksman-rifles", "ordnance"),
    _w("so-14", "SO-14", "mw2", "battle-rifles", "ordnance"),
    _w("vel-46", "VEL 46", "mw2", "smgs", "lmp"),
    _w("fennec-45", "Fennec 45", "mw2", "smgs", "fennec"),
    _w("lockwood-300", "Lockwood 300", "mw2", "shotguns", "lockwood"),
    _w("expedite-12", "Expedite 12", "mw2", "shotguns", "expedite"),
    _w("bryson-800", "Bryson 800", "mw2", "shotguns", "bryson-800"),
    _w("raal-mg", "Raal MG", "mw2", "lmgs", "raal"),
    _w("sp-r-208", "SP-R 208", "mw2", "marksman-rifles", "bryson-long"),
    _w("mcpr-300", "MCPR-300", "mw2", "sniper-rifles", "mrba"),
    _w("signal-50", "Signal 50", "mw2", "sniper-rifles", "signal"),
    _w("victus-xmr", "Victus XMR", "mw2", "sniper-rifles", "imperatorium"),
    _w("iso-hemlock", "ISO Hemlock", "mw2", "assault-rifles", "iso"),
    _w("iso-45", "ISO 45", "mw2", "smgs", "iso"),
    _w("p890", "P890", "mw2", "handguns", "bruen-890"),
    _w("x12", "X12", "mw2", "handguns", "xrk"),
    _w("basilisk", "Basilisk", "mw2", "handguns", "basilisk-500"),
    _w("riot-shield", "Riot Shield", "mw2", "melee"),
    _w("rpg-7", "RPG-7", "mw2", "launchers"),
    _w("combat-knife", "Combat Knife", "mw2", "melee"),
    _w("mcw", "MCW", "mw3", "assault-rifles"),
    _w("svoa-545", "SVOA 545", "mw3", "assault-rifles"),
    _w("mtz-556", "MTZ-556", "mw3", "assault-rifles"),
    _w("holger-556", "Holger 556", "mw3", "assault-rifles"),
    _w("mtz-762", "MTZ-762", "mw3", "battle-rifles"),
    _w("bas-b", "BAS-B", "mw3", "battle-rifles"),
    _w("rival-9", "Rival-9", "mw3", "smgs"),
    _w("amr9", "AMR9", "mw3", "smgs"),
    _w("striker", "Striker", "mw3", "smgs"),
    _w("riveter", "Riveter", "mw3", "shotguns"),
    _w("lockwood-680", "Lockwood 680", "mw3", "shotguns"),
    _w("holger-26", "Holger 26", "mw3", "lmgs"),
    _w("pulemyot-762", "Pulemyot 762", "mw3", "lmgs"),
    _w("mcw-68", "MCW 6.8", "mw3", "marksman-rifles"),
    _w("longbow", "Longbow", "mw3", "sniper-rifles"),
    _w("kv-inhibitor", "KV Inhibitor", "mw3", "sniper-rifles"),
    _w("renetti", "Renetti", "mw3", "handguns"),
    _w("cor-45", "COR-45", "mw3", "handguns"),
    _w("xm4", "XM4", "bo6", "assault-rifles"),
    _w("ak-74", "AK-74", "bo6", "assault-rifles"),
    _w("gpr-91", "GPR 91", "bo6", "assault-rifles"),
    _w("model-l", "Model L", "bo6", "assault-rifles"),
    _w("krig-c", "Krig C", "bo6", "assault-rifles"),
    _w("jackal-pdw", "Jackal PDW", "bo6", "smgs"),
    _w("c9", "C9", "bo6", "smgs"),
    _w("ksv", "KSV", "bo6", "smgs"),
    _w("kompakt-92", "Kompakt 92", "bo6", "smgs"),
    _w("xmg", "XMG", "bo6", "lmgs"),
    _w("svd", "SVD", "bo6", "marksman-rifles"),
    _w("lr-762", "LR 7.62", "bo6", "sniper-rifles"),
    _w("marine-sp", "Marine SP", "bo6", "shotguns"),
    _w("grekhova", "Grekhova", "bo6", "handguns"),
)
"""The emulated weapons. The live files stop at MW3 (2023); the BO6 ones are here so that
demos can join this provider with WZStats on common slugs."""

CATEGORIES: Final[tuple[tuple[str, str, str | None, str], ...]] = (
    ("assault-rifles", "Assault Rifles", None, "primary"),
    ("battle-rifles", "Battle Rifles", None, "primary"),
    ("shotguns", "Shotguns", None, "primary"),
    ("smgs", "SMGs", "Submachine guns", "primary"),
    ("lmgs", "LMGs", "Light machine guns", "primary"),
    ("marksman-rifles", "Marksman Rifles", None, "primary"),
    ("sniper-rifles", "Sniper Rifles", None, "primary"),
    ("handguns", "Handguns", None, "secondary"),
    ("launchers", "Launchers", None, "secondary"),
    ("melee", "Melee", None, "secondary"),
)
"""``categories.json``: id, name, alias, slot (as in the live file)."""

PLATFORMS: Final[tuple[tuple[str, str], ...]] = (
    ("m4", "M4 Platform"),
    ("taq", "Tactique Verte Platform"),
    ("kastovia", "Kastovia Platform"),
    ("bruen-ops", "Bruen Ops Platform"),
    ("lachmann", "Lachmann & Meer Platform"),
    ("bruen-bullpup", "Bruen Bullpup Platform"),
    ("ordnance", "Ordnance Weapon Platform"),
    ("lmp", "LMP Platform"),
    ("fennec", "Fennec Platform"),
    ("lockwood", "Lockwood Sport Platform"),
    ("expedite", "Expedite Platform"),
    ("bryson-800", "Bryson 800 Series Platform"),
    ("raal", "Raal MG Platform"),
    ("bryson-long", "Bryson Long Rifle Platform"),
    ("mrba", "MRBA Platform"),
    ("imperatorium", "Imperatorium Platform"),
    ("signal", "Signal Platform"),
    ("bruen-890", "Bruen 890 Platform"),
    ("xrk", "XRK Platform"),
    ("basilisk-500", "Basilisk 500 Platform"),
    ("iso", "ISO Platform"),
)
"""``platforms.json``: id, name (as in the live file)."""

ATTACHMENT_CATEGORIES: Final[tuple[tuple[str, str, str], ...]] = (
    ("muzzles", "Muzzles", "Muzzle"),
    ("barrels", "Barrels", "Barrel"),
    ("lasers", "Lasers", "Laser"),
    ("optics", "Optics", "Optic"),
    ("stocks", "Stocks", "Stock"),
    ("rear-grips", "Rear Grips", "Rear Grip"),
    ("combs", "Combs", "Comb"),
    ("guards", "Guards", "Guard"),
    ("bolts", "Bolts", "Bolt"),
    ("magazines", "Magazines", "Magazine"),
    ("ammunition", "Ammunition", "Ammunition"),
    ("trigger-actions", "Trigger Actions", "Trigger Action"),
    ("underbarrels", "Underbarrels", "Underbarrel"),
)
"""``attachment-categories.json``: id, name, singular name (a subset of the live file)."""

_STATS: Final = (
    ("ads_speed", "Aim Down Sight Speed"),
    ("bullet_velocity", "Bullet Velocity"),
    ("damage_range", "Damage Range"),
    ("hip_fire_accuracy", "Hip Fire Accuracy"),
    ("recoil_control", "Recoil Control"),
    ("aim_walking_movement_speed", "Aim Walking Movement Speed"),
    ("sprint_to_fire_speed", "Sprint to Fire Speed"),
    ("sound_suppression", "Sound Suppression"),
    ("magazine_ammo_capacity", "Magazine Ammo Capacity"),
    ("reload_quickness", "Reload Quickness"),
    ("precision_sight_picture", "Precision Sight Picture"),
    ("movement_speed", "Movement Speed"),
)

_SLOTS: Final[Mapping[str, tuple[str, ...]]] = {
    "rifle": ("muzzles", "barrels", "lasers", "optics", "stocks", "rear-grips", "magazines",
              "ammunition", "underbarrels"),
    "handguns": ("muzzles", "barrels", "lasers", "optics", "rear-grips", "magazines",
                 "ammunition", "trigger-actions"),
    "shotguns": ("muzzles", "barrels", "lasers", "optics", "stocks", "rear-grips", "guards",
                 "magazines", "ammunition", "underbarrels"),
    "long": ("muzzles", "barrels", "lasers", "optics", "stocks", "combs", "bolts",
             "magazines", "ammunition", "underbarrels"),
    "none": (),
}  # fmt: skip
_SLOTS_OF_CATEGORY: Final = {
    "handguns": "handguns",
    "shotguns": "shotguns",
    "marksman-rifles": "long",
    "sniper-rifles": "long",
    "melee": "none",
    "launchers": "none",
}
_BRANDS: Final = (
    "FTAC", "Tempus", "Sakin", "Bruen", "Lachmann", "SZ", "Corio", "Demo", "Forge Tac", "VX",
    "Schlager", "Cronen", "Kastovia", "Hightower", "Jak", "Bryson", "Aim-Op", "XRK", "Sa-Tac",
    "Kimura", "Casus", "Ironhide",
)  # fmt: skip
_MODELS: Final = (
    "Castle", "Ripper", "Dreadnought", "Precio", "Fade", "Lonewolf", "Holotherm", "Mini Pro",
    "Echoline", "Trench Pro", "Strike", "Stalwart", "Talon", "Vanguard", "Phantom", "Tundra",
    "Ironclad", "Apex", "Harbinger", "Ravage", "Shred", "Nightfall", "Havoc", "Coldforge",
)  # fmt: skip
_KINDS: Final[Mapping[str, tuple[str, ...]]] = {
    "muzzles": ("Suppressor", "Compensator", "Brake", "Flash Hider"),
    "lasers": ("Laser", "Laser Box", "Tac Laser"),
    "optics": ("Optic", "Reflex", "Holo", "Scope"),
    "stocks": ("Stock", "Buffer Tube", "Heavy Stock"),
    "rear-grips": ("Grip", "Grip Tape"),
    "combs": ("Comb",),
    "guards": ("Guard",),
    "bolts": ("Bolt",),
    "trigger-actions": ("Trigger", "Light Trigger"),
    "underbarrels": ("Foregrip", "Vertical Grip", "Bipod"),
}
_AMMO: Final = ("Armor Piercing", "Hollow Point", "High Velocity", "Frangible", "Overpressure +P")
_CALIBERS: Final = (".458", "5.56", "7.62", "9mm", ".45 Auto", "12 Gauge", ".300 Mag")
_POOL: Final = 12
"""Attachments generated per game and attachment category."""
_CHALLENGES: Final = ("headshots", "longshot kills", "double kills", "hipfire operator kills")

_WEAPONS_FILE: Final = "weapons.json"
_ATTACHMENTS_FILE: Final = "attachments.json"
FILES: Final = (
    _WEAPONS_FILE,
    _ATTACHMENTS_FILE,
    "categories.json",
    "platforms.json",
    "attachment-categories.json",
    "attachment-stats.json",
)
"""The files the emulator serves, as the live repository has them."""


def _slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _hex_id(seed: int, *parts: object) -> str:
    return f"{stable_random(seed, 'id', *parts).getrandbits(64):016x}"


def _attachment_name(seed: int, game: str, category: str, index: int) -> str:
    rng = stable_random(seed, "attachment", game, category, index)
    if category == "magazines":
        size = (5, 10, 15, 20, 25, 30, 40, 45, 50, 60, 75, 100)[index % 12]
        return f"{size} Round {'Drum' if size >= 50 else 'Mag'}"
    if category == "ammunition":
        return f"{rng.choice(_CALIBERS)} {_AMMO[index % len(_AMMO)]}"
    brand, model = rng.choice(_BRANDS), rng.choice(_MODELS)
    if category == "barrels":
        return f"{brand} {rng.choice((10.5, 11.5, 14, 16, 18, 20, 22, 24)):g}'' {model} Barrel"
    return f"{brand} {model} {rng.choice(_KINDS[category])}"


def _attachment_pool(seed: int) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Attachments by (game, attachment category), names unique within each game."""
    pool: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for game in dict.fromkeys(w.game for w in WEAPONS):
        seen: set[str] = set()
        for category, _, singular in ATTACHMENT_CATEGORIES:
            items = pool.setdefault((game, category), [])
            for index in range(_POOL * 3):
                if len(items) == _POOL:
                    break
                name = _attachment_name(seed, game, category, index)
                if name in seen:
                    continue
                seen.add(name)
                rng = stable_random(seed, "attachment-stats", game, name)
                pros, cons = rng.sample(_STATS, 2), rng.sample(_STATS, 2)
                items.append(
                    {
                        "id": _hex_id(seed, game, category, name),
                        "game_id": game,
                        "category_id": category,
                        "slug": _slugify(name),
                        "name": name,
                        "description": f"A {singular.lower()} from {name.split()[0]}.",
                        "pros": [stat for stat, _ in pros],
                        "cons": [stat for stat, _ in cons],
                        "unlock_type": "unknown",
                        "unlock_id": None,
                        "unlock_level": None,
                        "unlock_summary": None,
                        "unlock_description": None,
                    }
                )
    return pool


def _unlock(seed: int, weapon: Weapon, earlier: list[Weapon]) -> dict[str, Any]:
    rng = stable_random(seed, "unlock", weapon.slug)
    unlock: dict[str, Any] = dict.fromkeys(
        ("unlock_type", "unlock_id", "unlock_level", "unlock_summary", "unlock_description")
    )
    roll = rng.random()
    same_platform = [w for w in earlier if weapon.platform and w.platform == weapon.platform]
    if not earlier:
        unlock["unlock_type"] = "auto"
    elif same_platform and roll < 0.6:
        unlock.update(unlock_type="weapon", unlock_id=rng.choice(same_platform).slug)
        unlock["unlock_level"] = rng.randint(10, 20)
    elif roll < 0.75:
        unlock.update(unlock_type="level", unlock_level=rng.randint(1, 55))
    elif roll < 0.88:
        what = rng.choice(_CHALLENGES)
        category = weapon.category.replace("-", " ")
        summary = f"Get {rng.choice((10, 15, 25, 50))} {what} using {category}"
        unlock.update(unlock_type="challenge", unlock_summary=summary)
    else:
        sector = f"{rng.choice('ABCDEF')}{rng.randint(0, 18)}"
        unlock.update(unlock_type="battle-pass", unlock_id=sector, unlock_level=rng.randint(1, 6))
    return unlock


def _weapons(seed: int, pool: dict[tuple[str, str], list[dict[str, Any]]]) -> list[Any]:
    out: list[Any] = []
    earlier: dict[str, list[Weapon]] = {}
    for weapon in WEAPONS:
        rng = stable_random(seed, "weapon", weapon.slug)
        attachments: list[str] = []
        for category in _SLOTS[_SLOTS_OF_CATEGORY.get(weapon.category, "rifle")]:
            for item in rng.sample(pool[weapon.game, category], rng.randint(2, 6)):
                attachments.append(item["id"])
                if item["unlock_id"] is None:
                    item.update(unlock_type="weapon", unlock_id=weapon.slug)
                    item["unlock_level"] = rng.randint(1, 20)
        game_earlier = earlier.setdefault(weapon.game, [])
        out.append(
            {
                "id": weapon.slug,
                "game_id": weapon.game,
                "category_id": weapon.category,
                "platform_id": weapon.platform,
                "name": weapon.name,
                "max_level": None if rng.random() < 0.03 else rng.randint(13, 32),
                **_unlock(seed, weapon, game_earlier),
                "attachments": attachments,
            }
        )
        game_earlier.append(weapon)
    return out


def generate_files(seed: int) -> dict[str, Any]:
    """The content of every served file, generated from ``seed`` (file name -> JSON)."""
    pool = _attachment_pool(seed)
    weapons = _weapons(seed, pool)
    return {
        _WEAPONS_FILE: weapons,
        _ATTACHMENTS_FILE: [item for items in pool.values() for item in items],
        "categories.json": [
            {"id": id_, "name": name, "alias": alias, "slot": slot}
            for id_, name, alias, slot in CATEGORIES
        ],
        "platforms.json": [{"id": id_, "name": name} for id_, name in PLATFORMS],
        "attachment-categories.json": [
            {"id": id_, "name": name, "singular_name": singular, "sorting": index}
            for index, (id_, name, singular) in enumerate(ATTACHMENT_CATEGORIES)
        ],
        "attachment-stats.json": [{"id": id_, "name": name} for id_, name in _STATS],
    }
