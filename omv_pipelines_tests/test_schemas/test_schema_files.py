"""The thematic Table Schema files: valid for frictionless, attributed, faithful to the FuturoCité standards.

A commune's CSV is only useful regionally if it validates against the official standard and keeps its
header order, so the five FuturoCité-based schemas are compared field for field with the official files
(found under $OMV_REFERENCE_DIR/schemas/futurocite/, never read by the project at run time).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import frictionless
import pytest

import omv_pipelines
from omv_pipelines_tests.support.frictionless import validate_csv

SCHEMAS_DIR = Path(omv_pipelines.__file__).parent / "schemas"

# theme/dataset -> official FuturoCité standard it follows (None: our own schema).
EXPECTED: dict[str, str | None] = {
    "resilience/defibrillateurs": "standard-defibrillateurs",
    "mobility/stationnements_velos": "standard-stationnements-velos",
    "mobility/emplacements_pmr": "standard-emplacements-PMR",
    "mobility/travaux_voiries": "standard-travaux-voiries",
    "resilience/equipements_collectifs": "standard-equipements-collectifs",
    "participation/processus_participatifs": None,
    "participation/projets_budget_participatif": None,
}
FUTUROCITE = sorted(key for key, std in EXPECTED.items() if std)


def _load(key: str) -> dict[str, Any]:
    return json.loads((SCHEMAS_DIR / f"{key}.schema.json").read_text(encoding="utf-8"))


@pytest.fixture
def official_dir(reference_dir: Path) -> Path:
    """The official FuturoCité schemas and their valid examples."""
    folder = reference_dir / "schemas" / "futurocite"
    assert folder.is_dir(), f"OMV_REFERENCE_DIR={str(reference_dir)!r} has no schemas/futurocite/ folder"
    return folder


def _write_csv(path: Path, header: list[str], row: list[str]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        writer.writerow(header)
        writer.writerow(row)


def _example_row(descriptor: dict[str, Any]) -> list[str]:
    """One CSV row made of the fields' documented examples (GeoJSON objects serialised as JSON)."""
    return [
        json.dumps(f["example"]) if isinstance(f["example"], dict) else str(f["example"])
        for f in descriptor["fields"]
    ]


def test_schema_folder_holds_exactly_the_seven_datasets():
    found = {
        str(p.relative_to(SCHEMAS_DIR)).removesuffix(".schema.json")
        for p in SCHEMAS_DIR.glob("*/*.schema.json")
    }
    assert found == set(EXPECTED)


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_schema_is_valid_table_schema_with_attribution(key: str):
    descriptor = _load(key)
    report = frictionless.Schema.validate_descriptor(descriptor)
    assert report.valid, f"{key}: {[e.note for e in report.errors]}"

    theme, dataset = key.split("/")
    omv = descriptor["omv"]
    assert (omv["theme"], omv["dataset"], sorted(omv)) == (theme, dataset, ["dataset", "theme", "title"])
    assert omv["title"].strip()
    assert descriptor["title"].strip() and descriptor["description"].strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+", descriptor["version"])
    standard = EXPECTED[key]
    if standard:
        attribution = descriptor["standard"]
        assert attribution["name"] == standard
        assert re.fullmatch(r"\d+\.\d+\.\d+", attribution["version"])
        assert attribution["author"] == "FuturoCité"
        assert attribution["homepage"] == f"https://github.com/FuturoCite/{standard}"
        assert attribution["license"] == "CC-BY 2.0 BE"
    else:
        assert "standard" not in descriptor
        assert descriptor["conventions"]["name"] == "FuturoCité"

    # Shared conventions: "<ins>-<n>" unique key, five-digit INS code, commune name.
    fields = {f["name"]: f for f in descriptor["fields"]}
    assert descriptor["primaryKey"] == ["id"]
    assert fields["id"]["constraints"]["required"] and fields["id"]["constraints"]["unique"]
    assert fields["ins_code"]["constraints"] == {"required": True, "pattern": r"^\d{5}$"}
    assert fields["municipality"]["constraints"]["required"]
    for field in descriptor["fields"]:
        for prop in ("title", "description", "example"):
            assert field.get(prop), f"{key}: field {field['name']!r} has no {prop}"


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_row_of_field_examples_validates(key: str, tmp_path: Path):
    descriptor = _load(key)
    header = [f["name"] for f in descriptor["fields"]]
    _write_csv(tmp_path / "example.csv", header, _example_row(descriptor))
    errors = validate_csv(tmp_path / "example.csv", descriptor)
    assert errors == [], f"{key}: {errors}"
    assert errors.rows == 1


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_schema_rejects_bad_ins_code_and_missing_title_field(key: str, tmp_path: Path):
    """The constraints bite: a four-digit INS code and an empty required cell are reported by name."""
    descriptor = _load(key)
    header = [f["name"] for f in descriptor["fields"]]
    row = _example_row(descriptor)
    row[header.index("ins_code")] = "9209"
    required = "title" if "title" in header else "name" if "name" in header else "municipality"
    row[header.index(required)] = ""
    _write_csv(tmp_path / "bad.csv", header, row)
    errors = validate_csv(tmp_path / "bad.csv", descriptor)
    assert errors != []
    found = {(e.field, e.type) for e in errors}
    assert found == {("ins_code", "constraint-error"), (required, "constraint-error")}


@pytest.mark.parametrize("key", FUTUROCITE)
def test_fields_match_official_standard(key: str, official_dir: Path):
    ours = _load(key)
    official = json.loads((official_dir / f"{EXPECTED[key]}.schema.json").read_text(encoding="utf-8"))

    assert ours["standard"]["version"] == official["version"]
    assert ours["standard"]["homepage"] == official["homepage"]
    assert [f["name"] for f in ours["fields"]] == [f["name"] for f in official["fields"]]
    for mine, theirs in zip(ours["fields"], official["fields"], strict=True):
        name = theirs["name"]
        assert mine["type"] == theirs["type"], name
        assert mine.get("format", "default") == theirs.get("format", "default"), name
        assert mine.get("constraints", {}) == theirs.get("constraints", {}), name
        for prop in ("trueValues", "falseValues", "missingValues", "bareNumber", "groupChar", "decimalChar"):
            assert mine.get(prop) == theirs.get(prop), (name, prop)
    pk = official["primaryKey"]
    assert ours["primaryKey"] == ([pk] if isinstance(pk, str) else pk)
    assert ours.get("missingValues") == official.get("missingValues")


@pytest.mark.parametrize("key", FUTUROCITE)
def test_official_valid_example_validates_against_our_schema(key: str, official_dir: Path):
    name = f"{EXPECTED[key]}.exemple-valide.csv"
    errors = validate_csv(official_dir / name, _load(key))  # a header in another order is an error
    assert errors == [], f"{name}: {errors}"
    assert errors.rows >= 1
