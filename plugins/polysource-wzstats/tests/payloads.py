"""Payloads shaped like the ones PROVIDERS.md section 7 records for WZStats."""

from __future__ import annotations

from typing import Any


def weapon(weapon_id: str, name: str, kind: str, game: str, **extra: Any) -> dict[str, Any]:
    """One element of ``weapons`` as the site answers it."""
    legacy = game == "mw2"
    return {
        "id": weapon_id,
        "name": name,
        "type": kind,
        "displayType": kind,
        "isNew": False,
        "updateMW2": "",
        "updateWZ2": "",
        "game": game,
        "conversionKitId": None if legacy else "",
        "baseWeaponId": None if legacy else "",
        **extra,
    }


GPR_91 = weapon(
    "gpr-91",
    "GPR 91",
    "ASSAULT_RIFLE",
    "bo6",
    sniperSupportRank={"alMazrah": 6, "ashikaIsland": 6, "rankedResurgence": 6},
)
M4 = weapon("m4", "M4", "ASSAULT_RIFLE", "mw2")
JACKAL = weapon("jackal-pdw", "JACKAL PDW", "SMG", "bo6")
STRIKER = weapon("striker", "Striker", "SMG", "mw3")
FR_556 = weapon("fr-5.56", "FR 5.56", "ASSAULT_RIFLE", "mw3")
KNIFE = weapon("knife", "KNIFE", "MELEE", "bo6")
BP50_KIT = weapon(
    "bp50-conversion-kit-jak-revenger-kit",
    "BP50",
    "SMG",
    "mw3",
    displayType="ASSAULT_RIFLE",
    conversionKitId="jak-revenger-kit",
    baseWeaponId="bp50",
)

PAYLOAD: dict[str, Any] = {
    "weapons": [GPR_91, M4, JACKAL, STRIKER, FR_556, KNIFE, BP50_KIT],
    "wzStatsTierList": {
        "streamerProfileId": "wzstats",
        "alMazrah": {
            "META": ["xm4", "jackal-pdw"],
            "A": ["model-l", "gpr-91"],
            "B": ["m4"],
            "C": ["m13c"],
            "D": ["knife"],
        },
        "ashikaIsland": {
            "META": ["gpr-91", "bp50-conversion-kit-jak-revenger-kit"],
            "A": ["striker"],
            "B": ["fr-5.56", "m4"],
            "C": [],
            "D": [],
        },
        "wz2Ranked": {"META": [], "A": [], "B": ["m4"], "C": [], "D": []},
        "mw2Ranked": {"META": ["m4"], "A": [], "B": [], "C": [], "D": []},
        "mw3": {"META": ["striker"], "A": ["m4"], "B": [], "C": [], "D": []},
    },
}
"""A small catalogue: a BO6, an MW2 and two MW3 weapons, a melee weapon and a conversion kit;
``xm4``, ``model-l`` and ``m13c`` appear only in a tier list."""
