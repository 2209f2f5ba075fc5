"""The regional dataset holds only what passed (issue #10 §3), through the export folder and the
Opendatasoft emulator: a commune blocked by its drop check contributes its last good publication, and the
regional dataset has its own blocking drop check against what is online.
"""

import copy
import shutil

import pandas as pd
import pytest
import yaml

from omv_pipelines.catalog.loader import load_catalog
from omv_pipelines.defs.assets import contributions_of
from omv_pipelines.defs.keys import DatasetKeys
from omv_pipelines.defs.local import run_commune, run_regional
from omv_pipelines.publish.targets import ExportTarget, OdwbTarget
from omv_pipelines_tests.conftest import _PipelineFactory
from omv_pipelines_tests.odwb_emulator import OdsEmulator

DEFIBRILLATORS = "resilience/defibrillateurs"
KEYS = DatasetKeys.of(DEFIBRILLATORS)
REGIONAL_ID = "wallonie-defibrillateurs"
COMMUNES = ("92094", "62063", "53053")  # Namur 12 rows, Liège 9, Mons 10


@pytest.fixture(params=["export", "odwb"])
def target_kind(request):
    return request.param


@pytest.fixture
def portal(target_kind):
    if target_kind != "odwb":
        yield None
        return
    with OdsEmulator(queue_delay_s=0.01, processing_delay_s=0.02) as ods:
        yield ods


def _env(portal) -> dict[str, str]:
    return {"ODWB_URL": portal.url, "ODWB_API_KEY": portal.api_key} if portal else {}


def _online(pipeline, portal):
    """What is published as the regional dataset: the target's answer and the content itself."""
    if portal:
        target = OdwbTarget(portal.url, portal.api_key)
        content = copy.deepcopy(portal.dataset(REGIONAL_ID).records)
    else:
        target = ExportTarget(pipeline.export_dir)
        content = (pipeline.export_dir / f"{REGIONAL_ID}.csv").read_bytes()
    return target.last_publication(REGIONAL_ID), content


def _failures(result) -> str:
    return " | ".join(e.step_failure_data.error.message for e in result.all_events if e.is_step_failure)


def _check(result, key, name):
    return next(
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.asset_key == key
        and e.event_specific_data.check_name == name
    )


def _good_night(pipeline, codes=COMMUNES):
    catalog = load_catalog(pipeline.catalog_dir)
    for code in codes:
        result = run_commune(pipeline.defs, pipeline.instance, catalog.get(code).config)
        assert result.success, _failures(result)
    regional = run_regional(pipeline.defs, pipeline.instance, [DEFIBRILLATORS])
    assert regional.success, _failures(regional)
    return regional


def _collapse_namur(pipeline, query: str) -> None:
    path = pipeline.catalog_dir / "92094-namur.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    source = data["datasets"][DEFIBRILLATORS]["source"]
    source.pop("table", None)
    source["query"] = query
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def _regional_metadata(pipeline):
    return pipeline.instance.get_latest_materialization_event(KEYS.regional).asset_materialization.metadata


@pytest.mark.integration
def test_a_blocked_commune_contributes_its_last_good_publication(demo_wfs, pipeline_factory, portal):
    pipeline = pipeline_factory(env=_env(portal))
    _good_night(pipeline)
    good, good_content = _online(pipeline, portal)
    assert good.row_count == 31 and good.content_hash

    _collapse_namur(pipeline, "SELECT * FROM dae WHERE numero <= 101")  # Namur's source: 12 rows → 1
    namur = load_catalog(pipeline.catalog_dir).get("92094").config
    refused = run_commune(pipeline.defs, pipeline.instance, namur)
    assert not refused.success
    assert not _check(refused, KEYS.table, "no_unexplained_row_drop").passed
    # The refused table is not stored: what downstream assets read is still the last one that passed.
    tables = pipeline.data_dir / "tables"
    assert not (tables / "resilience/defibrillateurs/92094-namur.refused.parquet").exists()
    assert len(pd.read_parquet(tables / "resilience/defibrillateurs/92094-namur.parquet")) == 12
    assert (
        len(pd.read_parquet(tables / "odwb/resilience/defibrillateurs_publication/92094-namur.parquet")) == 12
    )

    uploads = portal.count("POST", r"/resources/files/?$") if portal else None
    regional = run_regional(pipeline.defs, pipeline.instance, [DEFIBRILLATORS])
    assert regional.success, _failures(regional)
    assert _check(regional, KEYS.regional, "no_unexplained_row_drop").passed

    # Online: exactly what was there (31 records, same hash), nothing uploaded again.
    assert _online(pipeline, portal) == (good, good_content)
    if portal:
        assert portal.count("POST", r"/resources/files/?$") == uploads
    metadata = _regional_metadata(pipeline)
    assert metadata["status"].value == "unchanged"
    assert good.content_hash.startswith(metadata["content_hash"].value)  # shortened for the UI
    # The metadata names the commune that contributed its previous publication, and when it was published.
    assert metadata["communes_on_earlier_publication"].value == "Namur (92094)"
    assert metadata["communes"].value == 3
    report = metadata["contributions_report"].value
    assert (
        "1 from an earlier publication (their latest run did not publish): Namur (92094), published "
        in report
    )
    lines = {line.split(" | ")[0].lstrip("| "): line for line in report.splitlines() if line.startswith("| ")}
    assert "| 12 | earlier | " in lines["Namur (92094)"] and lines["Namur (92094)"].endswith("| FAILURE |")
    assert "| 9 | latest | " in lines["Liège (62063)"] and "| 10 | latest | " in lines["Mons (53053)"]
    contributions = contributions_of(pipeline.instance, KEYS.odwb, {"92094-namur": pd.DataFrame()})
    assert contributions["92094-namur"]["latest_run"] == refused.run_id
    assert contributions["92094-namur"]["published_at"] < contributions["92094-namur"]["latest_run_at"]


@pytest.mark.integration
def test_a_regional_drop_beyond_the_allowed_share_is_blocked(
    demo_wfs, pipeline_factory, portal, tmp_path, monkeypatch
):
    """A fresh Dagster instance and tables folder (a new deployment) with only Mons published tonight: the
    regional check asks the target what is online (31 rows), so it does not forget the 21 others."""
    first = pipeline_factory(env=_env(portal))
    _good_night(first)
    good = _online(first, portal)

    fresh_factory = _PipelineFactory(tmp_path / "fresh", monkeypatch)
    try:
        fresh = fresh_factory(env=_env(portal))
        if not portal:
            shutil.copytree(first.export_dir, fresh.export_dir)  # the same export folder, as online
        assert fresh.instance is not first.instance
        mons = run_commune(fresh.defs, fresh.instance, load_catalog(fresh.catalog_dir).get("53053").config)
        assert mons.success, _failures(mons)
        regional = run_regional(fresh.defs, fresh.instance, [DEFIBRILLATORS])
        assert not regional.success, "the regional drop check must stop the rebuild"
        check = _check(regional, KEYS.regional, "no_unexplained_row_drop")
        assert not check.passed
        assert "10 rows against 31" in check.description
        [failure] = [
            e.step_failure_data.user_failure_data.description
            for e in regional.all_events
            if e.is_step_failure
        ]
        assert failure.startswith("wallonie-defibrillateurs: not published, the table has 10 rows against 31")
        assert "omv/force_publish=true" in failure
        assert _online(fresh, portal) == good
        metadata = _regional_metadata(fresh)
        assert metadata["omv/refused"].value.startswith("not published")
        assert "status" not in metadata
        regional_table = fresh.data_dir / "tables/regional/resilience/defibrillateurs_regional"
        assert not regional_table.with_suffix(".parquet").exists()
        assert len(pd.read_parquet(regional_table.with_suffix(".refused.parquet"))) == 10
    finally:
        fresh_factory.close()
