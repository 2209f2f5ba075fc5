"""Nightly syncs: each commune in the schedule of its cron, inactive ones skipped; the regional rebuild
waits for the night's commune runs to finish."""

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from omv_pipelines.catalog.loader import load_catalog
from omv_pipelines.defs.keys import DatasetKeys
from omv_pipelines.defs.local import ensure_partitions, run_commune, run_regional
from omv_pipelines.defs.partitions import commune_key
from omv_pipelines.defs.resources import CatalogResource
from omv_pipelines.defs.schedules import build_schedules
from omv_pipelines.defs.scorecard import SCORECARD_KEY
from omv_pipelines.defs.sensors import regional_rebuild_sensor
from omv_pipelines.schemas import DATASETS
from omv_pipelines_tests.test_ops.helpers import demo_catalog, edit_commune

BRUSSELS = ZoneInfo("Europe/Brussels")


def _evaluate(schedule: dg.ScheduleDefinition, instance, catalog_dir, when: datetime):
    context = dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=when,
        resources={"catalog": CatalogResource(folder=str(catalog_dir))},
    )
    return schedule(context)


def test_each_commune_runs_in_the_schedule_of_its_cron_and_inactive_ones_are_skipped(tmp_path):
    catalog_dir = demo_catalog(tmp_path / "catalog", ["92094", "62063", "53053"])
    edit_commune(catalog_dir, "53053", active=False)
    schedules = {s.name: s for s in build_schedules(load_catalog(catalog_dir))}
    assert set(schedules) == {"nightly_commune_sync", "commune_sync_0230"}  # default + Liège's override
    assert schedules["commune_sync_0230"].cron_schedule == "30 2 * * *"
    assert all(s.execution_timezone == "Europe/Brussels" for s in schedules.values())
    with dg.instance_for_test() as instance:
        ensure_partitions(instance, ["92094", "62063", "53053"])
        nightly = _evaluate(
            schedules["nightly_commune_sync"],
            instance,
            catalog_dir,
            datetime(2025, 3, 4, 2, 0, tzinfo=BRUSSELS),
        )
        assert [r.partition_key for r in nightly] == ["92094-namur"]  # Liège: its own cron; Mons: inactive
        assert nightly[0].run_key == "92094-202503040200"
        assert nightly[0].tags["omv/reason"] == "schedule"
        override = _evaluate(
            schedules["commune_sync_0230"],
            instance,
            catalog_dir,
            datetime(2025, 3, 4, 2, 30, tzinfo=BRUSSELS),
        )
        assert [r.partition_key for r in override] == ["62063-liege"]
        assert override[0].tags["omv/commune_name"] == "Liège"

        edit_commune(catalog_dir, "62063", active=False)
        skipped = _evaluate(
            schedules["commune_sync_0230"],
            instance,
            catalog_dir,
            datetime(2025, 3, 5, 2, 30, tzinfo=BRUSSELS),
        )
        assert isinstance(skipped, dg.SkipReason)


def _regional_tick(instance):
    return regional_rebuild_sensor(dg.build_sensor_context(instance=instance))


def _running_commune_run(instance, code: str) -> dg.DagsterRun:
    run = dg.DagsterRun(
        job_name="commune_sync",
        run_id=str(uuid.uuid4()),
        status=dg.DagsterRunStatus.STARTED,
        tags={"dagster/partition": commune_key(code), "omv/commune": code},
    )
    return instance.add_run(run)


@pytest.mark.integration
def test_the_regional_rebuild_waits_for_the_nights_commune_runs(pipeline_factory):
    pipeline = pipeline_factory(catalog_dir=demo_catalog(pipeline_factory.base / "catalog", ["92094"]))
    instance = pipeline.instance
    assert (
        isinstance(_tick := _regional_tick(instance), dg.SkipReason)
        and "no commune run succeeded" in _tick.skip_message
    )

    namur = load_catalog(pipeline.catalog_dir).get("92094").config
    assert run_commune(pipeline.defs, instance, namur).success
    late = _running_commune_run(instance, "62063")  # another commune of the night still running
    waiting = _regional_tick(instance)
    assert (
        isinstance(waiting, dg.SkipReason)
        and "1 commune run(s) queued or in progress" in waiting.skip_message
    )

    instance.report_run_canceled(late)
    request = _regional_tick(instance)
    assert isinstance(request, dg.RunRequest)
    assert sorted(request.asset_selection) == sorted(
        [*(DatasetKeys.of(d).regional for d in DATASETS), SCORECARD_KEY]
    )  # a commune run materialises every dataset ('not provided' ones empty), and the scorecard
    assert request.tags["omv/communes"] == "92094-namur"
    assert _regional_tick(instance).run_key == request.run_key  # same night, same key: the daemon dedupes it

    assert run_regional(pipeline.defs, instance, sorted(namur.datasets)).success
    after = _regional_tick(instance)
    assert (
        isinstance(after, dg.SkipReason)
        and "no commune run succeeded since the last regional rebuild" in after.skip_message
    )
