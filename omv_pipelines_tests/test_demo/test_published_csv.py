"""Every CSV the demo publishes validates with frictionless: against our schema, and against the official
FuturoCité standard when OMV_REFERENCE_DIR is set. Headers are compared by name too (frictionless
matches columns by position)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import frictionless
import pytest

from omv_pipelines import flow
from omv_pipelines.schemas import DATASETS, get_schema
from omv_pipelines_tests.test_demo.conftest import CATALOG, PAIRS


def _validate(path: Path, descriptor: dict) -> frictionless.Report:
    resource = frictionless.Resource(
        path=path.name, basepath=str(path.parent), schema=frictionless.Schema.from_descriptor(descriptor)
    )
    return resource.validate()


def _errors(report: frictionless.Report) -> list:
    return report.flatten(["rowNumber", "fieldName", "type", "note"])[:20]


def _header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle))


def _official(schema) -> dict:
    reference = os.environ.get("OMV_REFERENCE_DIR")
    if not reference:
        pytest.skip("OMV_REFERENCE_DIR not set: the official FuturoCité schemas are not available")
    path = Path(reference) / "schemas" / "futurocite" / f"{schema.standard['name']}.schema.json"
    assert path.is_file(), f"OMV_REFERENCE_DIR has no {path.name}"
    descriptor = json.loads(path.read_text(encoding="utf-8"))
    return {k: descriptor[k] for k in ("fields", "primaryKey", "missingValues") if k in descriptor}


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
    assert _header(path) == schema.field_names
    report = _validate(path, schema.descriptor)
    assert report.valid, f"{path.name}: {_errors(report)}"
    assert report.tasks[0].stats["rows"] == len(run.result.valid)


@pytest.mark.parametrize(
    "code, key", [p for p in PAIRS if get_schema(p[1]).standard], ids=[f"{c}-{k}" for c, k in PAIRS if get_schema(k).standard]
)
def test_published_csv_validates_against_the_official_standard(demo_runs, code, key):
    schema = get_schema(key)
    official = _official(schema)
    path = Path(demo_runs[(code, key)].publication.location)
    assert _header(path) == [f["name"] for f in official["fields"]]
    report = _validate(path, official)
    assert report.valid, f"{path.name}: {_errors(report)}"


@pytest.mark.parametrize("key", sorted(DATASETS))
def test_regional_csv_validates(demo_runs, export_dir, key):
    schema = get_schema(key)
    tables = {code: run.result.valid for (code, k), run in demo_runs.items() if k == key}
    table = flow.consolidate(tables, schema)
    publication = flow.export_table(
        table, schema, folder=export_dir / "regional", dataset_id=flow.regional_dataset_id(key),
        metadata=flow.regional_metadata(schema),
    )
    path = Path(publication.location)
    assert _header(path) == schema.field_names
    assert table[schema.primary_key].is_unique and len(table) == sum(len(t) for t in tables.values())
    report = _validate(path, schema.descriptor)
    assert report.valid, f"{path.name}: {_errors(report)}"
    if schema.standard and os.environ.get("OMV_REFERENCE_DIR"):
        report = _validate(path, _official(schema))
        assert report.valid, f"{path.name} (official standard): {_errors(report)}"
