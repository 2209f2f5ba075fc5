"""The instance stays bounded over a year: tick retention (Dagster's `retention:` setting of the production
instance, applied as the daemon applies it) and run retention (deploy/purge_runs.py), which keeps each
partition's newest run and newest success whatever their age."""

import importlib.util
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.scheduler.instigation import TickData, TickStatus
from dagster._time import get_current_timestamp
from dagster._utils.error import SerializableErrorInfo

REPO = Path(__file__).parents[2]
PRODUCTION = REPO / "deploy" / "dagster.production.yaml"
DAY = 86400


def _purge_module():
    spec = importlib.util.spec_from_file_location("purge_runs", REPO / "deploy" / "purge_runs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _production_retention() -> dict:
    return yaml.safe_load(PRODUCTION.read_text(encoding="utf-8"))["retention"]


def _tick(instance, origin: str, selector: str, status: TickStatus, age_days: float, kind: InstigatorType):
    return instance.create_tick(
        TickData(
            instigator_origin_id=origin,
            instigator_name=selector,
            instigator_type=kind,
            status=status,
            timestamp=get_current_timestamp() - age_days * DAY,
            selector_id=selector,
            run_ids=[str(uuid.uuid4())] if status == TickStatus.SUCCESS else [],
            error=SerializableErrorInfo("boom", [], "Exception") if status == TickStatus.FAILURE else None,
        )
    )


@pytest.mark.parametrize("kind", [InstigatorType.SENSOR, InstigatorType.SCHEDULE])
def test_old_ticks_are_purged_as_the_production_instance_says(kind):
    retention = _production_retention()
    with dg.instance_for_test(overrides={"retention": retention}) as instance:
        settings = instance.get_tick_retention_settings(kind)
        # What the daemon does after each tick (dagster/_daemon/sensor.py, _scheduler/scheduler.py).
        ages = {TickStatus.SKIPPED: [1, 10], TickStatus.FAILURE: [10, 100], TickStatus.SUCCESS: [10, 400]}
        for status, days in ages.items():
            for age in days:
                _tick(instance, "origin", "selector", status, age, kind)
        for status, day_offset in settings.items():
            if day_offset > 0:
                instance.purge_ticks(
                    "origin",
                    "selector",
                    before=get_current_timestamp() - day_offset * DAY,
                    tick_statuses=[status],
                )
        left = sorted(
            (t.status.value, round((get_current_timestamp() - t.timestamp) / DAY))
            for t in instance.get_ticks("origin", "selector")
        )
    if kind == InstigatorType.SENSOR:
        # skipped kept 7 days, failures 90, successes (the ones that launched runs) for ever
        assert left == [("FAILURE", 10), ("SKIPPED", 1), ("SUCCESS", 10), ("SUCCESS", 400)]
    else:
        # every schedule tick kept 90 days
        assert left == [("FAILURE", 10), ("SKIPPED", 1), ("SKIPPED", 10), ("SUCCESS", 10)]


def _run(instance, job: str, partition: str | None, status: dg.DagsterRunStatus, age_days: float) -> str:
    run_id = str(uuid.uuid4())
    tags = {"dagster/partition": partition} if partition else {}
    instance.add_run(dg.DagsterRun(job_name=job, run_id=run_id, status=status, tags=tags))
    # Backdate it: the run storage's create_timestamp is what RunsFilter(created_before=…) reads.
    storage = instance.run_storage
    with storage.connect() as conn:
        from dagster._core.storage.runs.schema import RunsTable

        when = time.time() - age_days * DAY
        from datetime import UTC, datetime

        conn.execute(
            RunsTable.update()
            .where(RunsTable.c.run_id == run_id)
            .values(create_timestamp=datetime.fromtimestamp(when, tz=UTC).replace(tzinfo=None))
        )
    instance.report_engine_event("a step", instance.get_run_by_id(run_id))
    return run_id


def test_old_runs_and_their_events_are_deleted_but_each_partitions_latest_stays():
    purge = _purge_module().purge
    S, F = dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE
    with dg.instance_for_test() as instance:
        old_success = _run(instance, "commune_sync", "92094", S, 200)
        old_failure = _run(instance, "commune_sync", "92094", F, 150)
        recent = _run(instance, "commune_sync", "92094", S, 10)
        stopped_last_success = _run(instance, "commune_sync", "62063", S, 300)  # a commune that left
        stopped_last_run = _run(instance, "commune_sync", "62063", F, 250)
        old_regional = _run(instance, "regional_rebuild", None, S, 120)
        last_regional = _run(instance, "regional_rebuild", None, S, 1)

        assert purge(instance, 90, dry_run=True) == (3, 2)
        assert len(instance.get_runs()) == 7
        assert purge(instance, 90) == (3, 2)
        left = {run.run_id for run in instance.get_runs()}
        assert left == {recent, stopped_last_success, stopped_last_run, last_regional}
        for gone in (old_success, old_failure, old_regional):
            assert instance.get_records_for_run(gone).records == []
        assert len(instance.get_records_for_run(recent).records) == 1
        assert purge(instance, 90) == (0, 2)  # nothing more to do the next night
