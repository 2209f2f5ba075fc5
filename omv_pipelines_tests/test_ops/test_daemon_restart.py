"""The daemon (with the code server and run worker it spawned) dies in the middle of a run and starts
again: the run is failed by run monitoring and retried, and the dataset is published exactly once."""

import hashlib
import json
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from omv_pipelines.catalog.loader import DEMO_CATALOG
from omv_pipelines.defs.keys import DatasetKeys
from omv_pipelines_tests.test_ops.services import REPO, DagsterProcesses

DATASET = "participation/processus_participatifs"
DELAY_S = 6


def _slow_csv(body: bytes):
    """Answers every GET with `body` after DELAY_S: long enough to kill the daemon mid-download."""

    def app(method, path, query, headers, request_body):
        time.sleep(DELAY_S)
        return 200, {"Content-Type": "text/csv; charset=utf-8"}, body

    return app


def _catalog(folder: Path, url: str) -> None:
    """Namur with one dataset, read from the slow server."""
    namur = yaml.safe_load((DEMO_CATALOG / "92094-namur.yaml").read_text(encoding="utf-8"))
    dataset = namur["datasets"][DATASET]
    dataset["source"] = {"kind": "spreadsheet", "url": url, "format": "csv"}
    namur["datasets"] = {DATASET: dataset}
    folder.mkdir()
    (folder / "92094-namur.yaml").write_text(yaml.safe_dump(namur, allow_unicode=True), encoding="utf-8")


def _instance_yaml(path: Path) -> Path:
    """The project's instance config with run monitoring tightened so that the test ends in a minute."""
    config = yaml.safe_load((REPO / "dagster.yaml").read_text(encoding="utf-8"))
    config["run_monitoring"].update(
        max_runtime_seconds=45, poll_interval_seconds=5, free_slots_after_run_end_seconds=5
    )
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.mark.integration
@pytest.mark.timeout(420)
def test_killing_the_daemon_mid_run_fails_and_retries_the_run_and_publishes_once(tmp_path, loopback):
    server = loopback(_slow_csv((DEMO_CATALOG / "data" / "namur_processus_participatifs.csv").read_bytes()))
    _catalog(tmp_path / "catalog", server.url("/processus.csv"))
    data_dir = tmp_path / "data"
    services = DagsterProcesses(
        tmp_path / "dagster_home",
        {"OMV_CATALOG": str(tmp_path / "catalog"), "OMV_DATA_DIR": str(data_dir)},
        instance_yaml=_instance_yaml(tmp_path / "dagster.yaml"),
    )
    try:
        services.start_daemon()  # the catalogue sensor adds Namur and queues its first run
        assert server.wait_for_requests(1, timeout=180), services.log("daemon")[-4000:]
        services.kill("daemon")  # daemon, code server, run worker and step process: the whole group, SIGKILL

        with dg.DagsterInstance.from_config(str(services.home)) as instance:
            [first] = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": "92094-namur"}))
            assert first.status == dg.DagsterRunStatus.STARTED  # orphaned: nobody will finish it

            services.start_daemon()

            def retried_and_done():
                runs = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": "92094-namur"}))
                return runs if len(runs) == 2 and runs[0].is_finished else None

            retry, failed = services.wait_for("the retried run", retried_and_done, timeout_s=240)
            assert failed.run_id == first.run_id and failed.status == dg.DagsterRunStatus.FAILURE
            assert retry.status == dg.DagsterRunStatus.SUCCESS
            assert retry.tags.get("dagster/parent_run_id") == first.run_id

            publications = instance.fetch_materializations(
                dg.AssetRecordsFilter(
                    asset_key=DatasetKeys.of(DATASET).odwb, asset_partitions=["92094-namur"]
                ),
                limit=10,
            ).records
        assert [p.asset_materialization.metadata["status"].value for p in publications] == ["published"]
        assert publications[0].run_id == retry.run_id
        csv = data_dir / "export" / "namur-processus-participatifs.csv"
        metadata = json.loads(csv.with_suffix(".metadata.json").read_text(encoding="utf-8"))
        assert metadata["content_hash"] == "sha256:" + hashlib.sha256(csv.read_bytes()).hexdigest()
        # The UI shows the hash's first 12 hex digits (enough to tell two publications apart).
        shown = publications[0].asset_materialization.metadata["content_hash"].value
        assert metadata["content_hash"].startswith(shown) and len(shown) == len("sha256:") + 12
        assert [r.method for r in server.requests] == ["GET", "GET"]  # the killed try and the retry
    finally:
        services.stop()
