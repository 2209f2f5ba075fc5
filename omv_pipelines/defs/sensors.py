"""Sensors: the catalogue keeps the `communes` partitions in step, and the regional rebuild follows the night.

Partition keys are made from the reference table (`<ins>-<slug>`, partitions.py), never typed: a key that
is not a current Walloon commune's (a person's "Add partition" in the UI, a typo) is deleted at the next
tick of `commune_catalog_sensor`, with a warning in its log. Bare 5-digit keys of an older instance are left
alone (their history stays; the commune gets its named key beside them). A commune removed from the
catalogue (or deactivated) keeps its partition and history; it simply gets no more runs.
"""

from datetime import UTC, datetime

import dagster as dg

from omv_pipelines.defs import jobs, tags
from omv_pipelines.defs.keys import DatasetKeys, all_dataset_keys, dataset_of
from omv_pipelines.defs.partitions import (
    COMMUNES,
    commune_key,
    communes_partitions,
    is_legacy_key,
    valid_keys,
)
from omv_pipelines.defs.resources import CatalogResource
from omv_pipelines.defs.scorecard import SCORECARD_KEY

UNFINISHED = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


@dg.sensor(
    name="commune_catalog_sensor",
    job=jobs.commune_sync_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds each new catalogue commune as a partition (92094-namur) and requests its first "
    "harvest (the backfill); removes any partition key that is not a Walloon commune's (added by hand).",
)
def commune_catalog_sensor(context: dg.SensorEvaluationContext, catalog: CatalogResource):
    loaded = catalog.load()
    for error in loaded.errors:
        context.log.warning(f"catalogue file skipped: {error}")
    known = set(context.instance.get_dynamic_partitions(COMMUNES))
    stray = sorted(key for key in known if key not in valid_keys() and not is_legacy_key(key))
    for key in stray:
        context.log.warning(
            f"partition {key!r} is not a Walloon commune's key (<ins>-<name>, made from the catalogue): "
            "deleted; communes join by their catalogue file"
        )
    new = [e.config for _, e in sorted(loaded.active.items()) if commune_key(e.config.ins_code) not in known]
    requests: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = (
        [communes_partitions.build_delete_request(stray)] if stray else []
    )
    if new:
        requests.append(communes_partitions.build_add_request([commune_key(c.ins_code) for c in new]))
    if not requests:
        return dg.SkipReason(
            f"{len(known)} communes known, none new"
            + (f"; {len(loaded.errors)} catalogue file(s) have errors" if loaded.errors else "")
        )
    return dg.SensorResult(
        dynamic_partitions_requests=requests,
        run_requests=[
            jobs.commune_run_request(c, reason="new commune", run_key=f"backfill-{c.ins_code}") for c in new
        ],
    )


def _is_commune_run(run: dg.DagsterRun) -> bool:
    """Scheduled, sensor and UI-backfill runs alike: only commune assets are partitioned."""
    return tags.PARTITION in run.tags


def _regional_keys(run: dg.DagsterRun) -> set[dg.AssetKey]:
    """The regional tables fed by what a commune run materialised (all of them for a whole-job run, whose
    selection Dagster records as None, or as an empty set when the job ran in process)."""
    if not run.asset_selection:
        return {k.regional for k in all_dataset_keys()}
    fed = {
        dataset
        for key in run.asset_selection
        if (dataset := dataset_of(key)) and DatasetKeys.of(dataset).table == key
    }
    return {DatasetKeys.of(dataset).regional for dataset in fed}


@dg.sensor(
    name="regional_after_communes",
    job=jobs.regional_job,
    # Every minute: a few indexed queries whatever the number of communes (tested), and the regional
    # datasets follow the night's last commune within a minute rather than five.
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Rebuilds the regional datasets once no commune run is queued or running and at least one "
    "succeeded since the last regional rebuild, then the scorecard.",
)
def regional_rebuild_sensor(context: dg.SensorEvaluationContext):
    """Why a sensor and not declarative automation: an eager AutomationCondition on `regional/*` fires as
    soon as any commune partition updates, so a night of 262 communes would rebuild (and republish) each
    regional dataset many times; a cron would rebuild before slow communes finish. Waiting for the queue of
    commune runs to drain, then rebuilding only the datasets those runs touched, gives one rebuild per
    night per dataset whatever the communes' crons, and the sensor's state is the run history itself
    (no cursor to lose): the baseline is the start of the last regional run, whatever its outcome, so a
    failing rebuild is not retried in a loop.
    """
    instance = context.instance
    busy = [run for run in instance.get_runs(dg.RunsFilter(statuses=UNFINISHED)) if _is_commune_run(run)]
    if busy:
        return dg.SkipReason(
            f"{len(busy)} commune run(s) queued or in progress: waiting for the night to finish"
        )
    last_regional = instance.get_run_records(dg.RunsFilter(job_name=jobs.regional_job.name), limit=1)
    since = last_regional[0].create_timestamp if last_regional else datetime.fromtimestamp(0, tz=UTC)
    done = [
        record
        for record in instance.get_run_records(
            dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS], updated_after=since)
        )
        if _is_commune_run(record.dagster_run)
    ]
    if not done:
        return dg.SkipReason(
            f"no commune run succeeded since the last regional rebuild ({since:%Y-%m-%d %H:%M} UTC)"
        )
    selection = set().union(*(_regional_keys(record.dagster_run) for record in done))
    if not selection:
        return dg.SkipReason("the succeeded commune runs materialised no commune table")
    newest = max(done, key=lambda record: record.update_timestamp)
    communes = sorted({record.dagster_run.tags[tags.PARTITION] for record in done})
    return dg.RunRequest(
        run_key=f"regional-after-{newest.dagster_run.run_id}",
        # The scorecard follows every rebuild: it reads every commune's latest run, blocked or failed too.
        asset_selection=[*sorted(selection, key=lambda key: key.to_user_string()), SCORECARD_KEY],
        tags={tags.REASON: f"after {len(done)} commune run(s)", tags.COMMUNES: ",".join(communes)[:200]},
    )
