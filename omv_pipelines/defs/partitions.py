"""One partition per commune, keyed `<ins>-<slug>` (e.g. `92094-namur`): the INS code first, so keys sort
and parse by code, then the name, so a person recognises the commune wherever Dagster shows a key (the
partition picker, run tags, the Checks tab).

The key is always made here from the shipped reference table (`catalog/communes.py`), never from what a
person typed: `commune_key(ins)` and its inverse `ins_of(key)` are the one way between the two, used by
every module (sensors, schedules, local runs, the scorecard, freshness, alerts, tests).

A key of 5 digits alone (`92094`) is an older instance's key: `ins_of` still reads it and the catalogue
sensor leaves it alone (its history stays); every other key that is not a current Walloon commune's is
removed by the catalogue sensor (sensors.py).
"""

import re
from functools import cache

import dagster as dg

from omv_pipelines.catalog.communes import UnknownCommune, all_communes, current_communes, lookup

COMMUNES = "communes"  # the dynamic partitions' name, as the instance stores them
communes_partitions = dg.DynamicPartitionsDefinition(name=COMMUNES)

_KEY = re.compile(r"^(\d{5})(?:-[a-z0-9]+(?:-[a-z0-9]+)*)?$")


def commune_key(ins_code: str) -> str:
    """The partition key of a commune: `92094` → `92094-namur` (raises UnknownCommune for a code that is
    not a current Walloon commune)."""
    commune = lookup(ins_code)
    return f"{commune.ins_code}-{commune.slug}"


def ins_of(key: str) -> str:
    """The INS code of a partition key (`92094-namur` → `92094`; a legacy `92094` → `92094`)."""
    match = _KEY.match(str(key))
    if match is None:
        raise UnknownCommune(
            f"partition {key!r} is not a commune's: expected '<ins>-<name>', e.g. '{commune_key('92094')}'"
        )
    return match.group(1)


@cache
def valid_keys() -> frozenset[str]:
    """The key of every current Walloon commune (the only keys the catalogue sensor keeps)."""
    return frozenset(commune_key(code) for code in current_communes())


def is_legacy_key(key: str) -> bool:
    """A bare 5-digit INS code: an older instance's key, left alone."""
    return bool(re.fullmatch(r"\d{5}", key))


def commune_label(key_or_ins: str) -> str:
    """`Namur (92094)` for a key or an INS code; the bare text when it is neither (never raises)."""
    try:
        code = ins_of(key_or_ins)
    except UnknownCommune:
        return str(key_or_ins)
    commune = all_communes().get(code)  # retired communes keep their name (a merger's history)
    return f"{commune.name} ({code})" if commune else code
