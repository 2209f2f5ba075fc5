"""Every CSV the demo publishes validates with frictionless: against our schema, and against the official
FuturoCité standard (from the reference folder). Headers are compared by name too (frictionless
matches columns by position)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from omv_pipelines import flow
from omv_pipelines.publish.targets import ExportTarget
from omv_pipelines.schemas import DATASETS, get_schema
from omv_pipelines_tests.support.frictionless import validate_csv
from omv_pipelines_tests.test_demo.conftest import CATALOG, PAIRS

STANDARD_PAIRS = [p for p in PAIRS if get_schema(p[1]).standard]
STANDARD_KEYS = sorted(key for key in DATASETS if get_schema(key).standard)


def _official(reference_dir: Path, schema) -> dict:
    path = reference_dir / "schemas" / "futurocite" / f"{schema.standard['name']}.schema.json"
    assert path.is_file(), f"OMV_REFERENCE_DIR has no {path.name}"
    descriptor = json.loads(path.read_text(encoding="utf-8"))
    return {k: descriptor[k] for k in ("fields", "primaryKey", "missingValues") if k in descriptor}


def _regional_csv(demo_runs, export_dir: Path, key: str):
    """The regional table of `key` consolidated from the demo runs, exported; (table, tables, CSV path)."""
    schema = get_schema(key)
    tables = {code: run.result.valid for (code, k), run in demo_runs.items() if k == key}
    table = flow.consolidate(tables, schema)
    publication = ExportTarget(export_dir / "regional").publish(
        table,
        schema,
        dataset_id=flow.regional_dataset_id(key),
        metadata=flow.regional_metadata(schema),
    )
    return table, tables, Path(publication.location)


def test_every_dataset_has_a_demo_commune_and_every_kind_of_source_is_used():
    assert {key for _, key in PAIRS} == set(DATASETS)
    sources = [source for code, key in PAIRS for source in CATALOG.entries[code].config.datasets[key].sources]
    assert {s.kind for s in sources} == {"sql", "wfs", "spreadsheet"}
    assert {s.resolved_format() for s in sources if s.kind == "spreadsheet"} == {"xlsx", "ods", "csv"}
    assert {s.srs for s in sources if s.kind == "wfs"} == {"EPSG:31370", "EPSG:3812"}


@pytest.mark.parametrize("code, key", PAIRS, ids=[f"{c}-{k}" for c, k in PAIRS])
def test_published_csv_validates_against_our_schema(demo_runs, code, key):
    run = demo_runs[(code, key)]
    schema = get_schema(key)
    path = Path(run.publication.location)
    assert run.publication.row_count == len(run.result.valid) > 0
    assert [f["name"] for f in schema.descriptor["fields"]] == schema.field_names
    errors = validate_csv(path, schema.descriptor)
    assert errors == [], f"{path.name}: {errors[:20]}"
    assert errors.rows == len(run.result.valid)


@pytest.mark.parametrize("code, key", STANDARD_PAIRS, ids=[f"{c}-{k}" for c, k in STANDARD_PAIRS])
def test_published_csv_validates_against_the_official_standard(demo_runs, reference_dir, code, key):
    official = _official(reference_dir, get_schema(key))
    path = Path(demo_runs[(code, key)].publication.location)
    errors = validate_csv(path, official)
    assert errors == [], f"{path.name}: {errors[:20]}"


@pytest.mark.parametrize("key", sorted(DATASETS))
def test_regional_csv_validates(demo_runs, export_dir, key):
    schema = get_schema(key)
    table, tables, path = _regional_csv(demo_runs, export_dir, key)
    assert table[schema.primary_key].is_unique and len(table) == sum(len(t) for t in tables.values())
    errors = validate_csv(path, schema.descriptor)
    assert errors == [], f"{path.name}: {errors[:20]}"
    assert errors.rows == len(table)


@pytest.mark.parametrize("key", STANDARD_KEYS)
def test_regional_csv_validates_against_the_official_standard(demo_runs, export_dir, reference_dir, key):
    _, _, path = _regional_csv(demo_runs, export_dir, key)
    errors = validate_csv(path, _official(reference_dir, get_schema(key)))
    assert errors == [], f"{path.name} (official standard): {errors[:20]}"
