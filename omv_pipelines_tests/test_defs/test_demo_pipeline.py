"""The whole demo through Dagster: real SQLite, real xlsx, real MapServer WFS, export folder.

Also what must never happen: a broken source publishing over good data, a commune blocking another.
"""

import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from omv_pipelines.defs import tags
from omv_pipelines.defs.keys import DatasetKeys
from omv_pipelines.defs.local import run_commune, run_regional
from omv_pipelines.schemas import get_schema
from omv_pipelines_tests.support.frictionless import validate_csv

DEFIBRILLATORS = "resilience/defibrillateurs"
EXPECTED_VALID = {"92094": 12, "62063": 9, "53053": 10}
KEYS = {"92094": "92094-namur", "62063": "62063-liege", "53053": "53053-mons"}
DATASET_IDS = {
    "92094": "namur-defibrillateurs",
    "62063": "liege-defibrillateurs",
    "53053": "mons-defibrillateurs",
}


def _catalog(pipeline):
    from omv_pipelines.catalog.loader import load_catalog

    return load_catalog(pipeline.catalog_dir)


def _check_results(result, asset_key=None) -> dict[str, bool]:
    """Check name → passed, for the defibrillators' table unless another asset is named."""
    asset_key = asset_key or DatasetKeys.of(DEFIBRILLATORS).table
    return {
        e.event_specific_data.check_name: e.event_specific_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.asset_key == asset_key
    }


def _failed_checks(result) -> list[str]:
    """The failed ERROR checks (a WARN, such as rows rejected, does not fail a commune)."""
    evaluations = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and not e.event_specific_data.passed
        and e.event_specific_data.severity == dg.AssetCheckSeverity.ERROR
    ]
    return [f"{c.asset_key.to_user_string()}:{c.check_name} {c.description}" for c in evaluations]


def _failure_messages(result) -> str:
    return " | ".join(e.step_failure_data.error.message for e in result.all_events if e.is_step_failure)


def _quoted_header(csv_path: Path) -> str:
    """The header line as written: every published CSV quotes its column names."""
    return csv_path.read_text(encoding="utf-8").splitlines()[0]


def _run_demo(factory):
    pipeline = factory()
    catalog = _catalog(pipeline)
    results = {
        code: run_commune(pipeline.defs, pipeline.instance, catalog.get(code).config)
        for code in EXPECTED_VALID
    }
    regional = run_regional(pipeline.defs, pipeline.instance, [DEFIBRILLATORS])
    return pipeline, results, regional


@pytest.fixture(scope="module")
def shared_demo_run(demo_wfs, module_pipeline_factory):
    """The three demo communes and the regional rebuild, run once for the tests that only read."""
    return _run_demo(module_pipeline_factory)


@pytest.fixture
def demo_run(demo_wfs, pipeline_factory):
    """A private run, for tests that edit the catalogue or the sources."""
    return _run_demo(pipeline_factory)


@pytest.mark.integration
def test_demo_materialises_every_commune_with_checks_passing(shared_demo_run):
    pipeline, results, regional = shared_demo_run
    for code, result in results.items():
        assert result.success, _failure_messages(result)
        assert _failed_checks(result) == [], code
        checks = _check_results(result)
        assert set(checks) == {
            "schema_conformance",
            "coordinates_in_wallonia",
            "no_rejected_rows",
            "no_unexplained_row_drop",
        }
    assert regional.success, _failure_messages(regional)
    assert sorted(pipeline.instance.get_dynamic_partitions("communes")) == sorted(KEYS.values())
    table_key = DatasetKeys.of(DEFIBRILLATORS).table
    assert pipeline.instance.get_materialized_partitions(table_key) == set(KEYS.values())


@pytest.mark.integration
def test_check_results_are_recorded_per_commune_and_name_it(shared_demo_run):
    pipeline, results, _ = shared_demo_run
    table_key = DatasetKeys.of(DEFIBRILLATORS).table
    evaluations = [
        e.event_specific_data
        for e in results["62063"].all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.asset_key == table_key
    ]
    assert {e.partition for e in evaluations} == {"62063-liege"}
    assert all(e.description.startswith("Liège (62063)") for e in evaluations)
    rejected = next(e for e in evaluations if e.check_name == "no_rejected_rows")
    assert not rejected.passed and rejected.severity == dg.AssetCheckSeverity.WARN
    assert rejected.description.startswith("Liège (62063): 2 of 11 source rows rejected (18%); top reasons: ")
    assert "missing_value on name (1)" in rejected.description
    # A dataset Liège does not provide: materialised empty, 'not provided', its checks pass and say so.
    roadworks = DatasetKeys.of("mobility/travaux_voiries")
    not_provided = [
        e.event_specific_data
        for e in results["62063"].all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.asset_key == roadworks.table
    ]
    assert not_provided and all(
        e.passed and e.description == "not provided by Liège (62063)" for e in not_provided
    )
    for key in roadworks.commune_keys:
        [record] = pipeline.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=["62063-liege"]), limit=1
        ).records
        assert record.asset_materialization.metadata["state"].value == "not provided", key
    assert not (pipeline.export_dir / "liege-travaux-voiries.csv").exists()


@pytest.mark.integration
def test_exports_validate_against_the_schema(shared_demo_run):
    pipeline, _, _ = shared_demo_run
    ours = get_schema(DEFIBRILLATORS).descriptor
    for code, dataset_id in DATASET_IDS.items():
        csv_path = pipeline.export_dir / f"{dataset_id}.csv"
        assert _quoted_header(csv_path) == ",".join(f'"{f["name"]}"' for f in ours["fields"])
        assert validate_csv(csv_path, ours) == []
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
        assert len(table) == EXPECTED_VALID[code]
        assert (table["ins_code"] == code).all()
        assert table["id"].str.startswith(code + "-").all()
        metadata = json.loads(
            (pipeline.export_dir / f"{dataset_id}.metadata.json").read_text(encoding="utf-8")
        )
        assert metadata["row_count"] == EXPECTED_VALID[code]
        assert metadata["content_hash"].startswith("sha256:")
        assert metadata["standard"]["name"] == "standard-defibrillateurs"
    regional = pd.read_csv(
        pipeline.export_dir / "wallonie-defibrillateurs.csv", dtype=str, keep_default_na=False
    )
    assert len(regional) == sum(EXPECTED_VALID.values())
    assert regional["id"].is_unique
    assert validate_csv(pipeline.export_dir / "wallonie-defibrillateurs.csv", ours) == []


@pytest.mark.integration
def test_exports_validate_against_the_official_standard(shared_demo_run, reference_dir):
    pipeline, _, _ = shared_demo_run
    path = reference_dir / "schemas/futurocite/standard-defibrillateurs.schema.json"
    official = json.loads(path.read_text(encoding="utf-8"))
    for name in [*DATASET_IDS.values(), "wallonie-defibrillateurs"]:
        assert validate_csv(pipeline.export_dir / f"{name}.csv", official) == [], name


@pytest.mark.integration
def test_wfs_points_are_reprojected_to_lon_lat(shared_demo_run):
    pipeline, _, _ = shared_demo_run
    mons = pd.read_csv(pipeline.export_dir / "mons-defibrillateurs.csv", dtype=str)
    grand_place = json.loads(mons.loc[mons["name"] == "DAE Grand-Place", "coordinates"].iloc[0])
    assert grand_place["type"] == "Point"
    lon, lat = grand_place["coordinates"]
    assert lon == pytest.approx(3.9517, abs=1e-4) and lat == pytest.approx(50.4542, abs=1e-4)


@pytest.mark.integration
def test_liege_report_lists_the_deliberate_defects(shared_demo_run):
    pipeline, _, _ = shared_demo_run
    report = pd.read_csv(
        pipeline.export_dir / "liege-defibrillateurs.report.csv",
        dtype=str,
        keep_default_na=False,
        sep=";",
        encoding="utf-8-sig",  # the report opens in a French Excel
    )
    lines = set(
        report[["source_row", "field", "severity", "error_type", "raw_value"]].itertuples(
            index=False, name=None
        )
    )
    assert lines == {
        ("6", "coordinates", "warning", "swapped_coordinates", "50.629812 5.583376"),
        ("13", "name", "error", "missing_value", ""),
        ("14", "accessibility", "error", "not_in_enum", "Publique"),
        ("14", "installation_date", "error", "invalid_date", "31/02/2021"),
    }
    liege = dg.AssetRecordsFilter(
        asset_key=DatasetKeys.of(DEFIBRILLATORS).quarantine, asset_partitions=["62063-liege"]
    )
    [record] = pipeline.instance.fetch_materializations(liege, limit=1).records
    metadata = record.asset_materialization.metadata
    assert metadata["dagster/row_count"].value == len(lines)
    assert metadata["report"].value.startswith(
        "**11** source rows → **9** published, **2** rejected, **1** warnings."
    )


@pytest.mark.integration
def test_second_run_publishes_nothing_new(demo_run):
    pipeline, _, _ = demo_run
    catalog = _catalog(pipeline)
    before = {p.name: p.stat().st_mtime_ns for p in pipeline.export_dir.glob("*.csv")}
    again = run_commune(pipeline.defs, pipeline.instance, catalog.get("92094").config)
    assert again.success
    publication = pipeline.instance.get_latest_materialization_event(
        DatasetKeys.of(DEFIBRILLATORS).odwb
    ).asset_materialization
    assert publication.metadata["status"].value == "unchanged"
    assert (
        before["namur-defibrillateurs.csv"]
        == (pipeline.export_dir / "namur-defibrillateurs.csv").stat().st_mtime_ns
    )


def _rewrite(catalog_dir: Path, file_name: str, edit) -> None:
    path = catalog_dir / file_name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


@pytest.mark.integration
def test_a_shrunken_source_never_replaces_the_last_good_publication(demo_run):
    pipeline, _, _ = demo_run
    good = (pipeline.export_dir / "namur-defibrillateurs.csv").read_bytes()

    def keep_two_rows(data):
        data["datasets"][DEFIBRILLATORS]["source"].pop("table")
        data["datasets"][DEFIBRILLATORS]["source"]["query"] = "SELECT * FROM dae WHERE numero <= 102"

    _rewrite(pipeline.catalog_dir, "92094-namur.yaml", keep_two_rows)
    catalog = _catalog(pipeline)
    refused = run_commune(pipeline.defs, pipeline.instance, catalog.get("92094").config)
    assert not refused.success, "the step must refuse the shrunken table"
    assert _check_results(refused)["no_unexplained_row_drop"] is False
    assert (pipeline.export_dir / "namur-defibrillateurs.csv").read_bytes() == good
    # The project's own words: commune, rows now and at the last publication, the allowed drop, how to force.
    [message] = [  # what the UI shows as the failure (Failure.description)
        e.step_failure_data.user_failure_data.description for e in refused.all_events if e.is_step_failure
    ]
    assert message.startswith(
        "Namur (92094) — resilience/defibrillateurs: namur-defibrillateurs: not published"
    )
    assert "now 2 rows, online 12, allowed drop below 50%" in message
    assert "omv/force_publish=true" in message
    assert "DagsterAssetCheckFailedError" not in message and "blocking" not in message
    [failure] = [e.step_failure_data.user_failure_data for e in refused.all_events if e.is_step_failure]
    assert failure.metadata["state"].value == "blocked"
    assert failure.metadata["dataset"].value == DEFIBRILLATORS
    # The refused table is never the current value: nothing stored, the table and the publication
    # partitions keep their last materialisation (an earlier run's), the quarantine report is the new one.
    tables = pipeline.data_dir / "tables"
    assert len(pd.read_parquet(tables / "resilience/defibrillateurs/92094-namur.parquet")) == 12
    assert not list(tables.rglob("*.refused.parquet"))
    keys = DatasetKeys.of(DEFIBRILLATORS)
    for key in (keys.table, keys.odwb):
        latest = pipeline.instance.get_latest_materialization_event(key)
        assert latest is not None and latest.run_id != refused.run_id, key
    report = pipeline.instance.get_latest_materialization_event(keys.quarantine)
    assert report is not None and report.run_id == refused.run_id

    forced = run_commune(
        pipeline.defs, pipeline.instance, catalog.get("92094").config, tags={tags.FORCE_PUBLISH: "true"}
    )
    assert forced.success, _failure_messages(forced)
    assert len(pd.read_csv(pipeline.export_dir / "namur-defibrillateurs.csv")) == 2


@pytest.mark.integration
def test_a_missing_source_file_fails_one_commune_clearly_and_keeps_its_data(demo_run):
    pipeline, _, _ = demo_run
    good = (pipeline.export_dir / "liege-defibrillateurs.csv").read_bytes()
    _rewrite(
        pipeline.catalog_dir,
        "62063-liege.yaml",
        lambda d: d["datasets"][DEFIBRILLATORS]["source"].update(path="data/liege_dea_2025.xlsx"),
    )
    catalog = _catalog(pipeline)
    failed = run_commune(pipeline.defs, pipeline.instance, catalog.get("62063").config)
    assert not failed.success
    message = _failure_messages(failed)
    assert "Liège (62063)" in message and DEFIBRILLATORS in message and "liege_dea_2025.xlsx" in message
    assert (pipeline.export_dir / "liege-defibrillateurs.csv").read_bytes() == good
    other = run_commune(pipeline.defs, pipeline.instance, catalog.get("92094").config)
    assert other.success


@pytest.mark.integration
def test_an_unreachable_wfs_names_commune_dataset_and_source(demo_run, monkeypatch):
    pipeline, _, _ = demo_run
    monkeypatch.setenv("OMV_DEMO_WFS_URL", "http://127.0.0.1:9/wfs")  # discard port: nothing listens
    _rewrite(
        pipeline.catalog_dir,
        "53053-mons.yaml",
        lambda d: d["datasets"][DEFIBRILLATORS]["source"].update(timeout_s=2, retries=0),
    )
    failed = run_commune(pipeline.defs, pipeline.instance, _catalog(pipeline).get("53053").config)
    assert not failed.success
    message = _failure_messages(failed)
    assert (
        "Mons (53053)" in message
        and DEFIBRILLATORS in message
        and "53053/resilience/defibrillateurs#1(wfs)" in message
    )


@pytest.mark.integration
def test_a_commune_without_the_dataset_is_skipped_cleanly(demo_wfs, pipeline_factory):
    pipeline = pipeline_factory()
    from omv_pipelines.defs.local import ensure_partitions

    ensure_partitions(pipeline.instance, ["92094"])
    job = pipeline.defs.resolve_job_def("commune_sync")

    def run(dataset: str):
        return job.execute_in_process(
            instance=pipeline.instance,
            partition_key="92094-namur",
            raise_on_error=False,
            asset_selection=DatasetKeys.of(dataset).commune_keys,
        )

    # A dataset Namur provides is exported first, so that the export folder below is really looked at.
    first = run(DEFIBRILLATORS)
    assert first.success, _failure_messages(first)
    assert pipeline.export_dir.is_dir(), "the defibrillators run should have created the export folder"
    exported = sorted(p.name for p in pipeline.export_dir.iterdir())
    assert "namur-defibrillateurs.csv" in exported
    # Ask Namur for a dataset it does not provide: nothing fails, nothing is published, and the partition
    # is materialised (empty, 'not provided'), so that no view reads it as missing.
    result = run("mobility/travaux_voiries")
    assert result.success, _failure_messages(result)
    publication = DatasetKeys.of("mobility/travaux_voiries").odwb
    assert pipeline.instance.get_materialized_partitions(publication) == {"92094-namur"}
    latest = pipeline.instance.get_latest_materialization_event(publication).asset_materialization
    assert latest.metadata["state"].value == "not provided"
    assert latest.metadata["dagster/row_count"].value == 0
    assert sorted(p.name for p in pipeline.export_dir.iterdir()) == exported
