"""The run worker of a whole night (omv_pipelines/run_worker.py): commune runs launched by the instance's
`CeleryRunLauncher` go through a real redis-server on loopback to a Celery worker started as
deploy/systemd/omv-run-worker.service starts it, and execute there, each in a process of its own forked
from the worker's main process (which has the code location loaded), replaced after the run."""

import os
import subprocess
from pathlib import Path

import dagster as dg
import psutil
import pytest
import yaml
from dagster._core.definitions.reconstruct import ReconstructableRepository

from omv_pipelines import definitions
from omv_pipelines.defs.local import ensure_partitions
from omv_pipelines_tests.test_scale.helpers import BIN, NEEDS_REDIS, wait

pytest.importorskip("dagster_celery", reason="pip install -e '.[celery]'")
REPO = Path(__file__).parents[2]
pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(240),
    NEEDS_REDIS,
]
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def run_pid(instance: dg.DagsterInstance, run_id: str) -> int:
    """The process the run's steps executed in, as its own events say."""
    events = [event.dagster_event for event in instance.all_logs(run_id) if event.step_key]
    pids = {event.pid for event in events if event and event.pid}
    assert len(pids) == 1, pids
    return pids.pop()


def test_commune_runs_execute_in_processes_forked_from_the_run_worker(tmp_path, redis_url, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    broker, backend = f"{redis_url}/0", f"{redis_url}/1"
    config["run_launcher"] = {
        "module": "dagster_celery.launcher",
        "class": "CeleryRunLauncher",
        "config": {"default_queue": "dagster", "broker": broker, "backend": backend},
    }
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    env = {
        "DAGSTER_HOME": str(home),
        "OMV_DATA_DIR": str(tmp_path / "data"),
        "OMV_CELERY_BROKER": broker,
        "OMV_CELERY_BACKEND": backend,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("OMV_CATALOG", "ODWB_URL", "ODWB_API_KEY"):  # the bundled demo, published to the export
        monkeypatch.delenv(name, raising=False)
    instance = dg.DagsterInstance.get()
    ensure_partitions(instance, ["92094"])
    log = open(tmp_path / "worker.log", "wb")
    worker = subprocess.Popen(
        [str(BIN / "celery"), "-A", "omv_pipelines.run_worker", "worker", "-Q", "dagster"]
        + ["--pool=prefork", "--concurrency=1", "--max-tasks-per-child=1", "--prefetch-multiplier=1"]
        + ["-n", "omv@%h", "--loglevel=INFO"],
        env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"},
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        wait(lambda: b"ready" in (tmp_path / "worker.log").read_bytes(), "the run worker", 120)
        job = definitions.defs.resolve_job_def("commune_sync")
        origin = (
            ReconstructableRepository.for_module("omv_pipelines.definitions", "defs")
            .get_reconstructable_job("commune_sync")
            .get_python_origin()
        )
        run_ids = []
        for partition in ("92094-namur", "99999-nowhere", "92094-namur"):
            run = instance.create_run_for_job(
                job, job_code_origin=origin, tags={"dagster/partition": partition}
            )
            instance.launch_run(run.run_id, workspace=None)  # type: ignore[arg-type] (Celery needs none)

            def finished(run_id: str = run.run_id) -> bool:
                found = instance.get_run_by_id(run_id)
                return found is not None and found.status in FINISHED

            wait(finished, f"run {partition} in the worker", 120)
            run_ids.append(run.run_id)

        statuses = [instance.get_run_by_id(run_id).status.value for run_id in run_ids]  # type: ignore[union-attr]
        # A commune the catalogue does not know fails on its own; the next run is not affected.
        assert statuses == ["SUCCESS", "FAILURE", "SUCCESS"]
        first, last = run_pid(instance, run_ids[0]), run_pid(instance, run_ids[2])
        assert first != last  # a process per run: nothing a run leaves behind reaches the next one
        assert worker.pid not in (first, last)
        children = {child.pid for child in psutil.Process(worker.pid).children()}
        assert first not in children  # replaced after its run (--max-tasks-per-child=1)
        assert last in children or not psutil.pid_exists(last)  # the worker's child, unless replaced already
        assert (tmp_path / "data" / "tables").is_dir()
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        instance.dispose()
