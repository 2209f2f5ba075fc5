"""Run the pipelines in this process against a Dagster instance: for `omv demo` and the tests.

Runs are recorded in the instance like any other, so the UI shows them afterwards.
"""

import dagster as dg

from omv_pipelines.catalog.models import CommuneConfig
from omv_pipelines.defs.jobs import commune_run_request
from omv_pipelines.defs.keys import DatasetKeys
from omv_pipelines.defs.partitions import COMMUNES, commune_key
from omv_pipelines.defs.scorecard import SCORECARD_KEY

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def ensure_partitions(instance: dg.DagsterInstance, ins_codes: list[str]) -> None:
    """Add the communes' partitions (`92094` → `92094-namur`), as the catalogue sensor does."""
    known = set(instance.get_dynamic_partitions(COMMUNES))
    new = [key for key in map(commune_key, ins_codes) if key not in known]
    if new:
        instance.add_dynamic_partitions(COMMUNES, new)


def run_commune(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    config: CommuneConfig,
    *,
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """One commune's run, as the schedule and the sensor request it: every commune asset (the datasets it
    does not provide materialise as 'not provided'), with the commune's tags."""
    ensure_partitions(instance, [config.ins_code])
    request = commune_run_request(config, reason="local")
    assert request.partition_key is not None
    return defs.resolve_job_def("commune_sync").execute_in_process(
        instance=instance,
        partition_key=request.partition_key,
        asset_selection=request.asset_selection,
        tags={**request.tags, **(tags or {})},
        raise_on_error=False,
        run_config=QUIET,
    )


def run_regional(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    dataset_keys: list[str],
    *,
    scorecard: bool = False,
) -> dg.ExecuteInProcessResult:
    """The regional rebuild of `dataset_keys`; with `scorecard=True` the scorecard and its report too, as
    the `regional_after_communes` sensor requests it (`omv demo` does; tests of one regional dataset
    leave it out, so that they see only that dataset's publications)."""
    selection = [DatasetKeys.of(dataset_key).regional for dataset_key in sorted(dataset_keys)]
    return defs.resolve_job_def("regional_rebuild").execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config=QUIET,
        asset_selection=[*selection, SCORECARD_KEY] if scorecard else selection,
    )
