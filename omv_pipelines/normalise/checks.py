"""Checks on typed records: the schema's constraints, the commune's own codes, spreadsheet formulas.

They run once every field is typed (a constraint compares typed values; the commune check reads the
typed ins_code and id), so they sit apart from the typing and from the orchestration in `engine`.
"""

from __future__ import annotations

import pandas as pd

from omv_pipelines.catalog.communes import Commune
from omv_pipelines.normalise.problems import Problems, bilingual
from omv_pipelines.schemas import DatasetSchema

_MISSING = bilingual("valeur obligatoire manquante", "required value is missing")

# Field `format`s that are checked: the test a value must pass, its error_type and its message.
_FORMATS = {
    "email": (
        lambda value: value.str.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+"),
        "invalid_email",
        bilingual("pas une adresse e-mail", "not an e-mail address"),
    ),
    "uri": (
        lambda value: value.str.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://\S+$"),
        "invalid_uri",
        bilingual(
            "pas une URL (elle doit commencer par https:// ou http://)",
            "not a URL (it must start with https:// or http://)",
        ),
    ),
}


def check_constraints(spec: dict, value: pd.Series, text: pd.Series, problems: Problems) -> None:
    name, constraints = spec["name"], spec.get("constraints", {})
    if constraints.get("required"):
        problems.add(value.isna() & text.isna(), name, "missing_value", _MISSING, text)
    present = value.notna()
    if "pattern" in constraints:
        matches = value.astype("string").str.fullmatch(constraints["pattern"]).fillna(False)
        problems.add(
            present & ~matches,
            name,
            "pattern",
            bilingual(
                f"ne suit pas le motif {constraints['pattern']}", f"does not match {constraints['pattern']}"
            ),
            text,
        )
    if "minimum" in constraints:
        problems.add(
            present & (value < constraints["minimum"]),
            name,
            "minimum",
            bilingual(
                f"inférieur au minimum {constraints['minimum']}",
                f"below the minimum {constraints['minimum']}",
            ),
            text,
        )
    if "maximum" in constraints:
        problems.add(
            present & (value > constraints["maximum"]),
            name,
            "maximum",
            bilingual(
                f"supérieur au maximum {constraints['maximum']}",
                f"above the maximum {constraints['maximum']}",
            ),
            text,
        )
    if "maxLength" in constraints:
        problems.add(
            present & (value.astype("string").str.len() > constraints["maxLength"]),
            name,
            "max_length",
            bilingual(
                f"plus de {constraints['maxLength']} caractères",
                f"longer than {constraints['maxLength']} characters",
            ),
            text,
        )
    fmt = spec.get("format")
    if fmt in _FORMATS:
        test, error_type, message = _FORMATS[fmt]
        ok = test(value.astype("string")).fillna(False)
        problems.add(present & ~ok, name, error_type, message, text)
    if constraints.get("unique"):
        duplicated = present & value.duplicated(keep=False)
        problems.add(
            duplicated,
            name,
            "duplicate",
            bilingual(
                "valeur présente sur plusieurs lignes ; chaque ligne doit avoir la sienne",
                "value appears on several rows; each row needs its own",
            ),
            text,
        )


# A text a spreadsheet runs as a formula when the published CSV is opened (OWASP CSV injection): it starts
# with = or @ (or a tab / carriage return), or with + or - not followed by a number (`-3`, `+32 81 24 60 00`
# and `- ` alone are values, `+cmd|' /C calc'!A0` or `-2+3` are not).
_FORMULA_LIKE = r"^(?:[=@\t\r]|[+-](?![\d\s().,/]*$))"


def check_formulas(
    schema: DatasetSchema,
    typed: dict[str, pd.Series],
    inputs: dict[str, pd.Series],
    problems: Problems,
    published: pd.Series,
) -> None:
    """Warn about each published text cell that a spreadsheet would execute. The value is published as is
    (the standard's values must not change); the commune is asked to check its source."""
    for spec in schema.fields:
        if spec["type"] != "string":
            continue  # numbers, dates, booleans are written as such; GeoJSON starts with '{'
        value = typed[spec["name"]].astype("string")
        formula = value.str.contains(_FORMULA_LIKE, regex=True).fillna(False).astype(bool)
        problems.add(
            formula & published,
            spec["name"],
            "formula_like",
            bilingual(
                "commence comme une formule de tableur : publiée telle quelle, mais Excel ou LibreOffice "
                "l'exécuterait en ouvrant le CSV ; vérifiez cette valeur dans la source",
                "starts like a spreadsheet formula: published as is, but Excel or LibreOffice opening the "
                "CSV would run it; check this value in the source",
            ),
            inputs[spec["name"]],
            "warning",
        )


def check_commune(
    typed: dict[str, pd.Series], commune: Commune, problems: Problems, id_field: str | None
) -> None:
    if "ins_code" in typed:
        other = typed["ins_code"].notna() & (typed["ins_code"] != commune.ins_code)
        problems.add(
            other,
            "ins_code",
            "wrong_commune",
            bilingual(
                f"le code INS diffère de celui de la commune ({commune.ins_code} {commune.name})",
                f"INS code differs from the commune's ({commune.ins_code} {commune.name})",
            ),
            typed["ins_code"],
        )
    if id_field and id_field in typed:
        prefix = commune.ins_code + "-"
        wrong = typed[id_field].notna() & ~typed[id_field].str.startswith(prefix).fillna(False)
        problems.add(
            wrong,
            id_field,
            "id_prefix",
            bilingual(f"l'identifiant doit commencer par « {prefix} »", f"id must start with '{prefix}'"),
            typed[id_field],
        )
