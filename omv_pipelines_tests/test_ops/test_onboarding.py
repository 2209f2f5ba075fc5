"""A commune joins by adding its catalogue file.

Deactivating or removing it stops its runs, not its history.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from omv_pipelines.catalog.loader import load_catalog
from omv_pipelines.defs import tags
from omv_pipelines.defs.keys import DatasetKeys
from omv_pipelines.defs.local import run_commune
from omv_pipelines.defs.resources import CatalogResource
from omv_pipelines.defs.schedules import build_schedules
from omv_pipelines.defs.sensors import commune_catalog_sensor
from omv_pipelines_tests.test_ops.helpers import add_commune, demo_catalog, edit_commune

NIGHT = datetime(2025, 3, 4, 2, 0, tzinfo=ZoneInfo("Europe/Brussels"))


def _tick(instance: dg.DagsterInstance, catalog_dir):
    """One sensor evaluation; applies its partition requests the way the daemon does."""
    context = dg.build_sensor_context(
        instance=instance, resources={"catalog": CatalogResource(folder=str(catalog_dir))}
    )
    result = commune_catalog_sensor(context)
    if isinstance(result, dg.SensorResult):
        for request in result.dynamic_partitions_requests or []:
            if isinstance(request, dg.DeleteDynamicPartitionsRequest):
                for key in request.partition_keys:
                    instance.delete_dynamic_partition(request.partitions_def_name, key)
            else:
                instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def _nightly_requests(instance, catalog_dir) -> list[dg.RunRequest]:
    schedules = {s.name: s for s in build_schedules(load_catalog(catalog_dir))}
    context = dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=NIGHT,
        resources={"catalog": CatalogResource(folder=str(catalog_dir))},
    )
    result = schedules["nightly_commune_sync"](context)
    return result if isinstance(result, list) else []


def test_a_new_catalogue_file_adds_its_partition_and_requests_exactly_its_datasets(tmp_path, monkeypatch):
    monkeypatch.setenv("OMV_DEMO_WFS_URL", "http://wfs.liege.example:8080/ows?map=pmr")
    catalog_dir = demo_catalog(tmp_path / "catalog", ["92094"])
    with dg.instance_for_test() as instance:
        first = _tick(instance, catalog_dir)
        assert [r.partition_key for r in first.run_requests] == ["92094-namur"]
        assert instance.get_dynamic_partitions("communes") == ["92094-namur"]
        assert isinstance(_tick(instance, catalog_dir), dg.SkipReason)  # nothing new: nothing requested again

        add_commune(catalog_dir, "62063")
        result = _tick(instance, catalog_dir)

        assert sorted(instance.get_dynamic_partitions("communes")) == ["62063-liege", "92094-namur"]
        [request] = result.run_requests
        assert request.partition_key == "62063-liege"
        assert request.job_name == "commune_sync"
        # The whole job: Liège's three datasets, and the four others as 'not provided' (never "missing").
        assert request.asset_selection is None
        assert request.run_key == "backfill-62063"
        assert request.tags["omv/reason"] == "new commune"
        assert request.tags[tags.COMMUNE] == "62063" and request.tags[tags.COMMUNE_NAME] == "Liège"
        assert request.tags[tags.WFS_HOST] == "wfs.liege.example"  # host only: no port, path or query


def test_a_partition_key_added_by_hand_is_removed_at_the_next_tick(tmp_path):
    catalog_dir = demo_catalog(tmp_path / "catalog", ["92094"])
    with dg.instance_for_test() as instance:
        _tick(instance, catalog_dir)
        # What "Add partition" in the UI does: any string. A legacy bare INS code is left alone.
        instance.add_dynamic_partitions("communes", ["namur", "62063-liege", "99999-nowhere", "53053"])
        result = _tick(instance, catalog_dir)
        assert isinstance(result, dg.SensorResult) and not result.run_requests
        assert sorted(instance.get_dynamic_partitions("communes")) == ["53053", "62063-liege", "92094-namur"]


def test_an_inactive_commune_is_not_onboarded_until_activated(tmp_path):
    catalog_dir = demo_catalog(tmp_path / "catalog", ["92094"])
    add_commune(catalog_dir, "62063")
    edit_commune(catalog_dir, "62063", active=False)
    with dg.instance_for_test() as instance:
        result = _tick(instance, catalog_dir)
        assert [r.partition_key for r in result.run_requests] == ["92094-namur"]
        assert instance.get_dynamic_partitions("communes") == ["92094-namur"]
        edit_commune(catalog_dir, "62063", active=True)
        assert [r.partition_key for r in _tick(instance, catalog_dir).run_requests] == ["62063-liege"]


@pytest.mark.integration
@pytest.mark.parametrize("how", ["deactivated", "removed"])
def test_a_deactivated_or_removed_commune_gets_no_runs_and_keeps_its_history(how, pipeline_factory):
    pipeline = pipeline_factory(catalog_dir=demo_catalog(pipeline_factory.base / "catalog", ["92094"]))
    instance, catalog_dir = pipeline.instance, pipeline.catalog_dir
    _tick(instance, catalog_dir)
    assert run_commune(pipeline.defs, instance, load_catalog(catalog_dir).get("92094").config).success
    publication = DatasetKeys.of("resilience/defibrillateurs").odwb
    assert [r.partition_key for r in _nightly_requests(instance, catalog_dir)] == ["92094-namur"]

    if how == "deactivated":
        edit_commune(catalog_dir, "92094", active=False)
    else:
        (catalog_dir / "92094-namur.yaml").unlink()

    assert _nightly_requests(instance, catalog_dir) == []
    assert isinstance(_tick(instance, catalog_dir), dg.SkipReason)
    assert instance.get_dynamic_partitions("communes") == ["92094-namur"]
    assert instance.get_materialized_partitions(publication) == {"92094-namur"}
    assert (pipeline.export_dir / "namur-defibrillateurs.csv").is_file()


@pytest.mark.integration
def test_preview_shows_progress_and_the_quarantine_report_without_publishing(
    demo_wfs, tmp_path, monkeypatch, capsys
):
    from omv_pipelines.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMV_DATA_DIR", str(tmp_path / "data"))
    catalog_dir = demo_catalog(tmp_path / "catalog", ["62063"])
    code = main(["preview", str(catalog_dir / "62063-liege.yaml"), "--report-dir", str(tmp_path / "reports")])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = [line.strip() for line in out.splitlines()]
    assert "[2/3] Liège — resilience/defibrillateurs: harvesting…" in lines
    block = lines[
        lines.index("[2/3] Liège — resilience/defibrillateurs: harvesting…") + 1 : lines.index(
            "[3/3] Liège — resilience/equipements_collectifs: harvesting…"
        )
    ]
    assert "9 valid, 2 rejected, 1 warnings" in block
    report = [line.split(":")[0] for line in block if line.startswith("row ")]
    assert report == [
        "row 6 [warning] coordinates",
        "row 13 [error] name",
        "row 14 [error] accessibility",
        "row 14 [error] installation_date",
    ]
    assert any("(value: Publique)" in line for line in block) and any(
        "(value: 31/02/2021)" in line for line in block
    )
    assert (tmp_path / "reports" / "liege-defibrillateurs.report.csv").is_file()
    assert not (tmp_path / "data").exists()  # a preview publishes nothing
