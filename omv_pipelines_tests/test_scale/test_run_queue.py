"""Two commune runs at once on two cores: the queue of the project's instance does not hold a run back
because the runs before it have first steps in a pool.

A commune run executes its steps one after another (in-process executor), but Dagster's queue counts
every first step of a starting run — seven harvest steps — against its pool: with the pool's two slots,
the next run waited until the previous one had run for 5 s, and a night ran one commune at a time (measured
with `benchmarks/nightly.py`). `op_granularity_run_buffer` in the instance config lifts that; the steps
still claim their pool slots when they execute. The queue's own selection is asked, as the daemon asks it."""

from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.remote_origin import (
    GrpcServerCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

from omv_pipelines import definitions

REPO = Path(__file__).parents[2]


def instance_at(home: Path, concurrency_from: str, buffer: int | None = None) -> dg.DagsterInstance:
    """The project's local instance config in `home` with the `concurrency` block of `concurrency_from`
    (the local or the production file), its queue's pool buffer replaced if `buffer` is given."""
    home.mkdir()
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    config["concurrency"] = yaml.safe_load((REPO / concurrency_from).read_text())["concurrency"]
    if buffer is not None:
        config["concurrency"]["pools"]["op_granularity_run_buffer"] = buffer
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return dg.DagsterInstance.from_config(str(home))


def runs_the_queue_launches(instance: dg.DagsterInstance) -> list[str]:
    """One commune run starting, two queued: the partitions of the queued runs the daemon would launch."""
    job = definitions.defs.resolve_job_def("commune_sync")
    location = GrpcServerCodeLocationOrigin(host="127.0.0.1", port=4266, location_name="omv_pipelines")
    origin = RemoteJobOrigin(RemoteRepositoryOrigin(location, "__repository__"), "commune_sync")
    for status, code in [
        ("STARTING", "92094-namur"),
        ("QUEUED", "62063-liege"),
        ("QUEUED", "52011-charleroi"),
    ]:
        run = instance.create_run_for_job(
            job,
            status=dg.DagsterRunStatus(status),
            tags={"dagster/partition": code},
            remote_job_origin=origin,
        )
        assert run.run_op_concurrency and run.run_op_concurrency.root_key_counts == {"harvest": 7}
    # As after any night: the pool exists, with the instance's default limit (the first claim makes it).
    assert instance.event_log_storage.initialize_concurrency_limit_to_default("harvest")
    daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
    chosen = daemon._get_runs_to_dequeue(  # noqa: SLF001 (the daemon's own choice, without launching)
        instance, instance.get_concurrency_config(), fixed_iteration_time=None
    )
    return [run.tags["dagster/partition"] for run in chosen]


@pytest.mark.parametrize("config", ["dagster.yaml", "deploy/dagster.production.yaml"])
def test_a_second_commune_run_starts_while_the_first_is_starting(tmp_path, config):
    instance = instance_at(tmp_path / "home", config)
    try:
        assert runs_the_queue_launches(instance) == ["62063-liege"]  # max_concurrent_runs 2: one more
    finally:
        instance.dispose()


@pytest.mark.parametrize("config", ["dagster.yaml", "deploy/dagster.production.yaml"])
def test_without_the_buffer_the_queue_waits_for_the_harvest_pool(tmp_path, config):
    """What the buffer is for: with Dagster's default (none), the second run waits."""
    instance = instance_at(tmp_path / "home", config, buffer=0)
    try:
        assert runs_the_queue_launches(instance) == []
    finally:
        instance.dispose()
