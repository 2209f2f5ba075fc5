"""A newly added commune backfilled through the webserver's GraphQL API, run by the daemon."""

import pytest

from omv_pipelines.defs.keys import DatasetKeys
from omv_pipelines_tests.test_ops.helpers import demo_catalog
from omv_pipelines_tests.test_ops.services import DagsterProcesses

NAMUR = [
    "mobility/stationnements_velos",
    "participation/processus_participatifs",
    "participation/projets_budget_participatif",
    "resilience/defibrillateurs",
]

ADD_PARTITION = """
mutation($repositorySelector: RepositorySelector!, $partitionsDefName: String!, $partitionKey: String!) {
  addDynamicPartition(
    repositorySelector: $repositorySelector
    partitionsDefName: $partitionsDefName
    partitionKey: $partitionKey
  ) {
    __typename
    ... on AddDynamicPartitionSuccess { partitionKey }
    ... on PythonError { message }
  }
}"""

LAUNCH_BACKFILL = """
mutation($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on PartitionKeysNotFoundError { message }
  }
}"""

BACKFILL = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill { status runs: runs(limit: 10) { runId status tags { key value } } }
  }
}"""


@pytest.mark.integration
@pytest.mark.timeout(420)
def test_backfill_of_a_new_commune_through_the_graphql_api(tmp_path):
    catalog_dir = demo_catalog(tmp_path / "catalog", ["92094"])
    data_dir = tmp_path / "data"
    services = DagsterProcesses(
        tmp_path / "dagster_home", {"OMV_CATALOG": str(catalog_dir), "OMV_DATA_DIR": str(data_dir)}
    )
    try:
        services.start_webserver()
        added = services.graphql(
            ADD_PARTITION,
            {
                "repositorySelector": services.repository(),
                "partitionsDefName": "communes",
                "partitionKey": "92094",
            },
        )["addDynamicPartition"]
        assert added == {"__typename": "AddDynamicPartitionSuccess", "partitionKey": "92094"}, added
        selection = [
            {"path": key.path} for dataset_key in NAMUR for key in DatasetKeys.of(dataset_key).commune_keys
        ]
        launched = services.graphql(
            LAUNCH_BACKFILL,
            {
                "backfillParams": {
                    "partitionNames": ["92094"],
                    "assetSelection": selection,
                    "tags": [{"key": "omv/reason", "value": "ui backfill"}],
                    "title": "Namur joins",
                }
            },
        )["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill_id = launched["backfillId"]

        # The catalogue sensor finds Namur's partition known: the backfill is the only run.
        services.start_daemon()

        def finished():
            backfill = services.graphql(BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]
            return backfill if backfill["status"] not in ("REQUESTED", "CANCELING", "FAILING") else None

        backfill = services.wait_for(f"backfill {backfill_id}", finished, timeout_s=240)
        assert backfill["status"] == "COMPLETED_SUCCESS", backfill
        assert backfill["runs"] and all(run["status"] == "SUCCESS" for run in backfill["runs"]), backfill
        tags = {tag["key"]: tag["value"] for tag in backfill["runs"][0]["tags"]}
        assert tags["dagster/partition"] == "92094" and tags["omv/reason"] == "ui backfill"
        for dataset_id in (
            "namur-defibrillateurs",
            "namur-stationnements-velos",
            "namur-processus-participatifs",
            "namur-projets-budget-participatif",
        ):
            assert (data_dir / "export" / f"{dataset_id}.csv").is_file(), dataset_id
    finally:
        services.stop()
