"""The Walloon commune reference (REFNIS / INS codes) shipped with the project.

Keys are 5-digit INS codes, never names or postcodes: names have FR/NL/DE forms and apostrophes,
postcodes are many-to-many. A `^\\d{5}$` pattern also accepts Flemish, Brussels and French codes, so
membership is what we check. Retired codes (the 2025 merger of Bastogne 82003 and Bertogne 82005 into
Bastogne 82039) are kept so that an old code gets a message naming its successor.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources

# Where a commune lies (its boundary, Wallonia's) is `omv_pipelines.geography`, from Statbel's boundaries.


@dataclass(frozen=True)
class Commune:
    ins_code: str
    name: str  # French name, as published by Statbel
    name_nl: str
    arrondissement: str
    province: str
    valid_until: date | None = None
    successor: str | None = None

    @property
    def retired(self) -> bool:
        return self.valid_until is not None and self.valid_until < date.today()

    @property
    def slug(self) -> str:
        """ASCII, lower-case, dash-separated name.

        E.g. "Braine-l'Alleud" (or "Braine-l’Alleud") → "braine-l-alleud".
        """
        return slugify(self.name)


class UnknownCommune(ValueError):
    """An INS code that is not a current Walloon commune."""


@lru_cache(maxsize=4096)
def slugify(text: str) -> str:
    """Cached: partition keys and dataset owners ask for the same 262 names thousands of times a run."""
    from omv_pipelines.normalise.cast import canonical_typography  # here: normalise imports this module

    ascii_text = unicodedata.normalize("NFKD", canonical_typography(text)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


@lru_cache(maxsize=1)
def all_communes() -> dict[str, Commune]:
    """Every commune of the reference, current and retired, by INS code."""
    text = resources.files("omv_pipelines.catalog").joinpath("data/walloon_communes.csv").read_text("utf-8")
    communes = {}
    for row in csv.DictReader(text.splitlines()):
        communes[row["ins_code"]] = Commune(
            ins_code=row["ins_code"],
            name=row["name_fr"],
            name_nl=row["name_nl"],
            arrondissement=row["arrondissement"],
            province=row["province"],
            valid_until=date.fromisoformat(row["valid_until"]) if row["valid_until"] else None,
            successor=row["successor"] or None,
        )
    return communes


def current_communes() -> dict[str, Commune]:
    return {code: c for code, c in all_communes().items() if not c.retired}


def lookup(ins_code: str) -> Commune:
    """The current Walloon commune with this INS code, or an error that says what to use instead."""
    code = str(ins_code).strip()
    if not re.fullmatch(r"\d{5}", code):
        raise UnknownCommune(f"{ins_code!r} is not an INS code: expected 5 digits, e.g. '92094' for Namur")
    commune = all_communes().get(code)
    if commune is None:
        region = {
            "1": "Flanders",
            "3": "Flanders",
            "4": "Flanders",
            "7": "Flanders",
            "2": "Brussels or Flemish Brabant",
        }
        where = region.get(code[0], "not in the Walloon reference")
        raise UnknownCommune(
            f"INS code {code} is not a Walloon commune ({where}); "
            "check the code on Statbel's REFNIS list (Walloon codes start with 25, 5, 6, 8 or 9)"
        )
    if commune.retired:
        successor = all_communes()[commune.successor] if commune.successor else None
        instead = f"; use {successor.ins_code} ({successor.name}) instead" if successor else ""
        raise UnknownCommune(
            f"INS code {code} ({commune.name}) was retired on {commune.valid_until:%d %B %Y}{instead}"
        )
    return commune
