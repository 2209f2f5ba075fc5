"""Typing one non-geometry field: the caster of its schema type, its enum, and what to say when a value
is not of that type (French then English, quoting the date formats the catalogue declared).

Apart from the casters themselves (`cast`, pure text → value functions) because the messages and the
choice of caster depend on the schema and the mapping.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pandas as pd

from omv_pipelines.normalise import cast
from omv_pipelines.normalise.problems import Problems, bilingual

# Every caster takes the source text (and, for dates, the declared formats) → (typed values, bad rows).
_CASTERS: dict[str, Callable[..., tuple[pd.Series, pd.Series]]] = {
    "string": lambda s: cast.cast_string(s),
    "integer": cast.cast_integer,
    "number": cast.cast_number,
    "year": cast.cast_year,
    "boolean": cast.cast_boolean,
    "date": cast.cast_date,
    "datetime": cast.cast_datetime,
}
_TYPE_HINTS = {
    "string": ("pas du texte", "not text"),
    "integer": ("pas un nombre entier", "not a whole number"),
    "number": (
        "pas un nombre (point ou virgule décimale, sans unité)",
        "not a number (use a dot or a decimal comma, no units)",
    ),
    "year": ("pas une année (4 chiffres)", "not a year (4 digits)"),
    "boolean": (
        "pas une valeur oui/non (true/false, oui/non, 1/0, Y/N, vrai/faux)",
        "not a yes/no value (true/false, oui/non, 1/0, Y/N, vrai/faux)",
    ),
    "date": (
        "pas une date : utilisez aaaa-mm-jj ou jj/mm/aaaa, ou déclarez le format sous mapping.formats",
        "not a date: use yyyy-mm-dd or dd/mm/yyyy, or declare the format under mapping.formats",
    ),
    "datetime": (
        "pas une date et heure : utilisez l'ISO 8601 (2024-03-01T14:30:00+01:00) ou déclarez le format",
        "not a date and time: use ISO 8601 (2024-03-01T14:30:00+01:00) or declare the format",
    ),
}
# strftime codes → what a person reads in a format ("%d/%m/%Y" is also shown as "jj/mm/aaaa").
_FORMAT_WORDS = {"%d": "jj", "%m": "mm", "%Y": "aaaa", "%y": "aa", "%H": "hh", "%M": "mm", "%S": "ss"}


def _readable_format(fmt: str) -> str:
    if fmt in ("iso", "excel"):
        return {"iso": "ISO 8601", "excel": "Excel date number"}[fmt]
    return re.sub(r"%[a-zA-Z]", lambda m: _FORMAT_WORDS.get(m.group(0), m.group(0)), fmt)


def type_message(kind: str, formats: list[str] | None) -> str:
    """The message of a value that is not of its field's type; for a date or datetime whose format the
    catalogue declares (mapping.formats), that format, quoted as declared and as a person reads it."""
    if kind in ("date", "datetime") and formats:
        quoted = ", ".join(f"« {f} » ({_readable_format(f)})" for f in formats)
        noun_fr, noun_en = (
            ("une date", "a date") if kind == "date" else ("une date et heure", "a date and time")
        )
        return bilingual(
            f"pas {noun_fr} au format déclaré dans le catalogue (mapping.formats) : {quoted}",
            f"not {noun_en} in the format the catalogue declares (mapping.formats): "
            + ", ".join(f"'{f}'" for f in formats),
        )
    return bilingual(*_TYPE_HINTS[kind])


def type_field(
    spec: dict, source: pd.Series, text: pd.Series, formats: str | list[str] | None, problems: Problems
) -> pd.Series:
    """The field's typed values; each value that is not of the type (or not in its enum) is an error."""
    name, kind = spec["name"], spec["type"]
    formats = [formats] if isinstance(formats, str) else formats
    constraints = spec.get("constraints", {})
    if "enum" in constraints and kind == "string":
        value, bad = cast.cast_enum(source, constraints["enum"])
        allowed = ", ".join(constraints["enum"])
        problems.add(
            bad,
            name,
            "not_in_enum",
            bilingual(f"valeur hors liste ; valeurs admises : {allowed}", f"not one of: {allowed}"),
            text,
        )
        return value
    value, bad = _CASTERS[kind](source, formats) if kind in ("date", "datetime") else _CASTERS[kind](source)
    problems.add(bad, name, "invalid_" + kind, type_message(kind, formats), text)
    return value
