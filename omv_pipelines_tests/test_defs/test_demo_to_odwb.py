"""The whole demo published to an Opendatasoft portal (the project's emulator) through Dagster.

ODWB_URL and ODWB_API_KEY switch publication from the export folder to the portal; the key is given
through dagster.EnvVar and must never show in metadata or logs.
"""

import pytest

from omv_pipelines.catalog.loader import load_catalog
from omv_pipelines.defs import tags
from omv_pipelines.defs.keys import DatasetKeys
from omv_pipelines.defs.local import run_commune, run_regional
from omv_pipelines_tests.odwb_emulator import OdsEmulator

DEFIBRILLATORS = "resilience/defibrillateurs"
EXPECTED = {
    "namur-defibrillateurs": 12,
    "liege-defibrillateurs": 9,
    "mons-defibrillateurs": 10,
    "wallonie-defibrillateurs": 31,
}


@pytest.fixture
def portal():
    with OdsEmulator(queue_delay_s=0.01, processing_delay_s=0.02) as ods:
        yield ods


def _publications(pipeline):
    events = pipeline.instance.fetch_materializations(DatasetKeys.of(DEFIBRILLATORS).odwb, limit=100).records
    return [r.asset_materialization for r in events]


@pytest.mark.integration
def test_demo_is_published_to_the_portal_then_a_rerun_publishes_nothing(demo_wfs, pipeline_factory, portal):
    pipeline = pipeline_factory(
        env={"ODWB_URL": portal.url, "ODWB_API_KEY": portal.api_key, "ODWB_LICENSE_ID": "cc_by"}
    )
    catalog = load_catalog(pipeline.catalog_dir)
    for code in ("92094", "62063", "53053"):
        result = run_commune(pipeline.defs, pipeline.instance, catalog.get(code).config)
        assert result.success, [e.message for e in result.all_events if e.is_step_failure]
    assert run_regional(pipeline.defs, pipeline.instance, [DEFIBRILLATORS]).success

    for dataset_id, rows in EXPECTED.items():
        dataset = portal.dataset(dataset_id)
        assert dataset.is_published and not dataset.is_restricted
        assert len(dataset.records) == rows
        assert dataset.metadata["default"]["publisher"]["value"]
        assert dataset.metadata["internal"]["license_id"]["value"] == "cc_by"
    assert (
        portal.dataset("namur-defibrillateurs").metadata["default"]["publisher"]["value"] == "Ville de Namur"
    )

    publications = _publications(pipeline)
    assert {p.metadata["status"].value for p in publications} == {"published"}
    namur = next(p for p in publications if p.partition == "92094-namur")
    assert namur.metadata["target"].value == "odwb"
    assert namur.metadata["uid"].value.startswith("da_")
    assert "namur-defibrillateurs" in namur.metadata["url"].value
    for publication in publications:
        assert all(portal.api_key not in str(v.value) for v in publication.metadata.values())

    uploads_before = portal.count("POST", r"/resources/files/?$")
    publishes_before = portal.count("POST", r"/publish/?$")
    again = run_commune(pipeline.defs, pipeline.instance, catalog.get("92094").config)
    assert again.success
    assert _publications(pipeline)[0].metadata["status"].value == "unchanged"
    assert portal.count("POST", r"/resources/files/?$") == uploads_before
    assert portal.count("POST", r"/publish/?$") == publishes_before
    logs = "\n".join(str(e.message) for e in again.all_events)
    assert portal.api_key not in logs


@pytest.mark.integration
def test_a_forced_drop_is_refused_and_the_portal_keeps_the_good_data(
    demo_wfs, pipeline_factory, portal, tmp_path
):
    import yaml

    pipeline = pipeline_factory(env={"ODWB_URL": portal.url, "ODWB_API_KEY": portal.api_key})
    namur = load_catalog(pipeline.catalog_dir).get("92094")
    assert run_commune(pipeline.defs, pipeline.instance, namur.config).success
    data = yaml.safe_load(namur.path.read_text(encoding="utf-8"))
    source = data["datasets"][DEFIBRILLATORS]["source"]
    source["query"] = "SELECT * FROM dae WHERE numero < 0"  # a broken export: no rows at all
    source.pop("table")
    namur.path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    broken = load_catalog(pipeline.catalog_dir).get("92094").config
    refused = run_commune(pipeline.defs, pipeline.instance, broken)
    assert not refused.success
    assert len(portal.dataset("namur-defibrillateurs").records) == 12

    still_refused = run_commune(pipeline.defs, pipeline.instance, broken, tags={tags.FORCE_PUBLISH: "true"})
    drop_check = next(
        e.event_specific_data
        for e in still_refused.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.check_name == "no_unexplained_row_drop"
        and e.event_specific_data.asset_key == DatasetKeys.of(DEFIBRILLATORS).table
    )
    assert not still_refused.success and not drop_check.passed
    assert "empty" in drop_check.description
    assert len(portal.dataset("namur-defibrillateurs").records) == 12


@pytest.mark.integration
def test_a_wrong_key_fails_with_a_clear_message_and_no_secret(demo_wfs, pipeline_factory, portal):
    pipeline = pipeline_factory(env={"ODWB_URL": portal.url, "ODWB_API_KEY": "not-a-valid-key-0123456789"})
    result = run_commune(
        pipeline.defs, pipeline.instance, load_catalog(pipeline.catalog_dir).get("92094").config
    )
    assert not result.success
    failures = " ".join(e.step_failure_data.error.message for e in result.all_events if e.is_step_failure)
    assert "ODWB_API_KEY" in failures and "last good publication stays online" in failures
    assert "not-a-valid-key-0123456789" not in failures
