"""A spreadsheet filled in from a FuturoCité template is read as is: the five standards' own examples.

Each official `exemple-valide.csv` (from $OMV_REFERENCE_DIR/schemas/futurocite/, never read by the
project at run time) is written to a temporary folder as CSV and as xlsx, read by the real spreadsheet
source with no mapping, normalised for the commune its `ins_code` names and exported. The export is then
compared with the example cell by cell, allowing only the normalisations the README lists:

- GeoJSON is rewritten as `{"coordinates": ..., "type": ...}` with coordinates rounded to 8 decimals;
- a datetime may be written with another UTC offset for the same instant (Europe/Brussels);
- a number may lose a trailing `.0`; enumerations and names are compared after canonicalising
  typographic apostrophes, quotes, dashes and spaces.

Where the project deliberately disagrees with an example, the exact report row is asserted.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from omv_pipelines.catalog.communes import lookup
from omv_pipelines.normalise import Mapping, normalise
from omv_pipelines.normalise.cast import canonical_typography
from omv_pipelines.publish.csv_format import to_csv_bytes
from omv_pipelines.schemas import get_schema
from omv_pipelines.sources import harvest
from omv_pipelines.sources.spreadsheet.config import SpreadsheetSource

EXAMPLES = {
    "resilience/defibrillateurs": "standard-defibrillateurs",
    "mobility/stationnements_velos": "standard-stationnements-velos",
    "mobility/emplacements_pmr": "standard-emplacements-PMR",
    "resilience/equipements_collectifs": "standard-equipements-collectifs",
    "mobility/travaux_voiries": "standard-travaux-voiries",
}

# What the project reports on each example:
# (source_row, record_id, field, severity, error_type, message, raw_value).
# - défibrillateurs: the example's id 92003-106411 carries another commune's INS code than its ins_code
#   92094. The project refuses it on purpose (README, "Template conformance"): an id must start with the
#   commune's code, or two communes' rows could share an id in the regional dataset.
# - emplacements PMR and équipements collectifs: the examples, declared for Namur, lie in Liège. Kept and
#   published, with the warning a commune would get.
EXPECTED_REPORT = {
    "resilience/defibrillateurs": [
        (
            "2",
            "92003-106411",
            "id",
            "error",
            "id_prefix",
            "l'identifiant doit commencer par « 92094- » — id must start with '92094-'",
            "92003-106411",
        ),
    ],
    "mobility/emplacements_pmr": [
        (
            "2",
            "92094-29191",
            "coordinates",
            "warning",
            "outside_commune",
            "se trouve à Liège (62063), à 53 km de Namur — lies in Liège (62063), 53 km from Namur",
            '{"coordinates": [5.581243820545143, 50.64590734864234], "type": "Point"}',
        ),
    ],
    "resilience/equipements_collectifs": [
        (
            "2",
            "92094-14641",
            "geometry",
            "warning",
            "outside_commune",
            "n'atteint pas Namur : se trouve à Liège (62063), à 54 km de Namur — "
            "does not reach Namur: lies in Liège (62063), 54 km from Namur",
            None,
        ),  # raw value: the example's cell
    ],
}


@pytest.fixture
def examples(reference_dir: Path) -> Path:
    folder = reference_dir / "schemas" / "futurocite"
    assert folder.is_dir(), f"OMV_REFERENCE_DIR={str(reference_dir)!r} has no schemas/futurocite/ folder"
    return folder


def _read_example(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def _write_source(tmp_path: Path, example: Path, fmt: str) -> Path:
    if fmt == "csv":
        return Path(shutil.copy(example, tmp_path / example.name))
    header, rows = _read_example(example)
    target = tmp_path / (example.stem + ".xlsx")
    pd.DataFrame(rows, columns=header).to_excel(
        target, index=False
    )  # every cell as text, as typed in a template
    return target


def _same_cell(kind: str, expected: str, actual: str) -> bool:
    if expected == actual:
        return True
    if kind == "geojson":
        return _same_geojson(json.loads(expected), json.loads(actual))
    if kind == "datetime":
        return pd.Timestamp(expected) == pd.Timestamp(actual)
    if kind in ("number", "integer", "year"):
        return float(expected) == float(actual)
    return canonical_typography(expected) == canonical_typography(actual)


def _same_geojson(expected, actual) -> bool:
    if isinstance(expected, dict):
        expected = expected.get("geometry", expected)  # a Feature is published as its geometry
        return expected["type"] == actual["type"] and _same_geojson(
            expected["coordinates"], actual["coordinates"]
        )
    if isinstance(expected, list):
        return len(expected) == len(actual) and all(
            _same_geojson(e, a) for e, a in zip(expected, actual, strict=True)
        )
    return math.isclose(expected, actual, abs_tol=5e-9)  # rounded to 8 decimals


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("key", sorted(EXAMPLES))
def test_futurocite_example_is_read_as_is(examples, tmp_path, key, fmt):
    example = examples / f"{EXAMPLES[key]}.exemple-valide.csv"
    header, rows = _read_example(example)
    schema = get_schema(key)
    assert header == schema.field_names  # the template's columns, in its order

    path = _write_source(tmp_path, example, fmt)
    raw = harvest(
        SpreadsheetSource(path=str(path)), source_id=f"x/{key}#1(spreadsheet)", base_dir=tmp_path
    ).frame
    commune = lookup(rows[0][header.index("ins_code")])
    result = normalise(raw, schema, Mapping(), commune)

    assert result.unknown_columns == []
    assert result.matched_columns == {
        name: name for name in header
    }  # every column to the field it is named after
    report = pd.concat([result.rejected, result.warnings], ignore_index=True)
    expected_report = [
        row[:6] + ((row[6] if row[6] is not None else rows[0][header.index(row[2])]),)
        for row in EXPECTED_REPORT.get(key, [])
    ]
    actual_report = [
        tuple(None if pd.isna(v) else v for v in r)
        for r in report[
            ["source_row", "record_id", "field", "severity", "error_type", "message", "raw_value"]
        ].itertuples(index=False)
    ]
    assert actual_report == expected_report

    published = list(csv.reader(to_csv_bytes(result.valid, schema).decode("utf-8").splitlines()))
    assert published[0] == header
    rejected = {int(r[0]) for r in expected_report if r[3] == "error"}
    kept = [row for number, row in enumerate(rows, start=2) if number not in rejected]
    assert len(published) - 1 == len(kept)
    kinds = {f["name"]: f["type"] for f in schema.fields}
    for expected_row, actual_row in zip(kept, published[1:], strict=True):
        differences = [
            (name, expected, actual)
            for name, expected, actual in zip(header, expected_row, actual_row, strict=True)
            if not _same_cell(kinds[name], expected, actual)
        ]
        assert differences == []


def test_typographic_apostrophes_dashes_and_spaces_are_what_people_type(tmp_path):
    """`Panneau d’affichage` is the enumeration's own spelling; `Point d’eau potable` (typed with a curly
    apostrophe), `Disponible` with a non-breaking space and a name with an en dash are read as meant."""
    from omv_pipelines_tests.test_normalise.helpers import problems, raw_table

    schema = get_schema("resilience/equipements_collectifs")
    data = {
        "name": ["Valves communales", "Fontaine", "Cabine – place"],
        "street_name": ["Rue de l’Église", "Rue de Fer", "Place d’Armes"],
        "street_number": ["7730101"] * 3,
        "coordinates": ['{"type": "Point", "coordinates": [4.8675, 50.4657]}'] * 3,
        "type": ["Panneau d'affichage", "Point d’eau potable", "panneau d’affichage"],
        "status": ["Disponible\u00a0", "disponible", "Disponible"],
    }
    result = normalise(raw_table(data), schema, Mapping(), lookup("92094"))
    assert problems(result) == [] and problems(result, "warning") == []
    assert result.valid["type"].tolist() == [
        "Panneau d’affichage",
        "Point d'eau potable",
        "Panneau d’affichage",
    ]
    assert result.valid["street_name"].tolist() == data["street_name"]  # free text is published as typed
