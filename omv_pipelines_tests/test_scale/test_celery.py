"""Past one machine: steps executed by two Celery worker processes pulling from a real redis-server on
loopback (dagster-celery, the path deploy/README.md documents), tables written through the project's IO
manager to a `file://` fsspec URL, as they would be to shared storage (s3://, gs://, abfs://)."""

import os
import subprocess
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from omv_pipelines_tests.test_scale.helpers import BIN, NEEDS_REDIS, wait

pytest.importorskip("dagster_celery", reason="pip install -e '.[celery]'")
REPO = Path(__file__).parents[2]
pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(180),
    NEEDS_REDIS,
]


def test_two_celery_workers_execute_the_steps_of_a_job(tmp_path, redis_url, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry: {enabled: false}\n")
    tables = tmp_path / "shared" / "tables"
    config = {"broker": f"{redis_url}/0", "backend": f"{redis_url}/1"}
    config_yaml = tmp_path / "celery.yaml"
    config_yaml.write_text(
        f"execution:\n  config:\n    broker: {config['broker']}\n    backend: {config['backend']}\n"
    )
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "OMV_TEST_TABLES_URL": tables.as_uri(),
        "PYTHONPATH": str(REPO),
    }
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("OMV_TEST_TABLES_URL", tables.as_uri())
    dg.DagsterInstance.get().dispose()  # create the storage once, before the workers open it
    workers = []
    try:
        for name in ("w1", "w2"):
            log = open(tmp_path / f"{name}.log", "wb")
            workers.append(
                subprocess.Popen(
                    [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app"]
                    + ["-y", str(config_yaml), "-n", name, "--", "--concurrency=1", "--pool=prefork"],
                    env={**env, "OMV_TEST_WORKER": name, "PATH": f"{BIN}:{os.environ['PATH']}"},
                    cwd=tmp_path,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            log.close()
        wait(
            lambda: all(b"ready" in (tmp_path / f"{n}.log").read_bytes() for n in ("w1", "w2")),
            "both workers ready",
            90,
        )
        from omv_pipelines_tests.test_scale import celery_job

        with dg.DagsterInstance.get() as instance:
            for partition in ("92094", "62063"):
                result = dg.execute_job(
                    dg.reconstructable(celery_job.tiny_job_def),
                    instance=instance,
                    run_config={"execution": {"config": config}},
                    tags={"dagster/partition": partition},
                )
                assert result.success, [e.message for e in result.all_events if e.is_failure]
        seen = pd.concat(
            [pd.read_parquet(tables / "tiny" / f"{p}.parquet") for p in ("92094", "62063")]
            + [pd.read_parquet(tables / "quarantine" / "tiny" / f"{p}.parquet") for p in ("92094", "62063")]
        )
        assert set(seen["worker"]) == {"w1", "w2"}  # steps ran in both workers, none in this process
        assert os.getpid() not in set(seen["pid"])
    finally:
        for worker in workers:
            os.killpg(worker.pid, 15)
            worker.wait(timeout=30)
