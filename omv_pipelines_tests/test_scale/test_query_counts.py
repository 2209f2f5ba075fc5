"""Nothing quadratic at the night's edges: the schedule's evaluation and the regional sensor issue a number
of instance queries that does not grow with the number of communes (counts of SQL statements, not timings).

The schedule reads the catalogue and the known partitions once, whatever N; the regional sensor reads
unfinished runs, the last regional run and the succeeded runs since, one query each. What they return
grows with N (one run request, one run record per commune): linear, which is the point."""

import shutil
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import sqlalchemy as sa

from omv_pipelines.catalog.loader import DEMO_CATALOG
from omv_pipelines.defs.local import ensure_partitions
from omv_pipelines.defs.resources import CatalogResource
from omv_pipelines.defs.schedules import DEFAULT_CRON, build_commune_schedule
from omv_pipelines.defs.sensors import regional_rebuild_sensor
from omv_pipelines.report import geo

NAMUR = DEMO_CATALOG / "92094-namur.yaml"


def catalogue(folder: Path, n: int) -> list[str]:
    """N communes, each a copy of Namur's file (its SQLite sources) under another real INS code."""
    shutil.copytree(DEMO_CATALOG / "data", folder / "data")
    text = NAMUR.read_text(encoding="utf-8")
    codes = sorted(geo.communes())[:n]
    for code in codes:
        body = text.replace('ins_code: "92094"', f'ins_code: "{code}"').replace("name: Namur\n", "")
        (folder / f"{code}-commune.yaml").write_text(body, encoding="utf-8")
    return codes


class StatementCounter:
    """Counts SQL statements sent by every SQLAlchemy engine (the instance's storages) while active."""

    def __init__(self) -> None:
        self.count = 0

    def _count(self, *_args) -> None:
        self.count += 1

    def __enter__(self) -> "StatementCounter":
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *_exc) -> None:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", self._count)


def schedule_statements(tmp_path: Path, n: int) -> tuple[int, int]:
    folder = tmp_path / f"catalog{n}"
    codes = catalogue(folder, n)
    schedule = build_commune_schedule(DEFAULT_CRON)
    with dg.instance_for_test() as instance:
        ensure_partitions(instance, codes)
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime(2026, 3, 4, 2, 0, tzinfo=ZoneInfo("Europe/Brussels")),
            resources={"catalog": CatalogResource(folder=str(folder))},
        )
        schedule(context)  # warm: the catalogue loader's parse cache, the instance's tables
        with StatementCounter() as counter:
            requests = schedule(context)
    assert len(requests) == n
    return counter.count, len(requests)


def test_the_schedule_issues_the_same_queries_for_5_and_60_communes(tmp_path):
    small, _ = schedule_statements(tmp_path, 5)
    large, _ = schedule_statements(tmp_path, 60)
    assert large == small, f"{small} statements for 5 communes, {large} for 60"


def _commune_run(instance: dg.DagsterInstance, code: str, status: dg.DagsterRunStatus) -> None:
    instance.add_run(
        dg.DagsterRun(
            job_name="commune_sync",
            run_id=str(uuid.uuid4()),
            status=status,
            tags={"dagster/partition": code, "omv/commune": code},
        )
    )


def sensor_statements(n: int, status: dg.DagsterRunStatus) -> tuple[int, object]:
    with dg.instance_for_test() as instance:
        for code in sorted(geo.communes())[:n]:
            _commune_run(instance, code, status)
        context = dg.build_sensor_context(instance=instance)
        regional_rebuild_sensor(context)
        with StatementCounter() as counter:
            result = regional_rebuild_sensor(context)
    return counter.count, result


@pytest.mark.parametrize(
    "status", [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.STARTED], ids=["night done", "night running"]
)
def test_the_regional_sensor_issues_the_same_queries_for_5_and_150_communes(status):
    small, small_result = sensor_statements(5, status)
    large, large_result = sensor_statements(150, status)
    assert type(small_result) is type(large_result)
    if status == dg.DagsterRunStatus.SUCCESS:
        assert isinstance(large_result, dg.RunRequest)
        assert large_result.tags["omv/reason"] == "after 150 commune run(s)"
    assert large == small, f"{small} statements for 5 communes, {large} for 150"
