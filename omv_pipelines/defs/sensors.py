"""Keeps the `communes` partitions in step with the catalogue and backfills a commune that joins.

A commune removed from the catalogue (or deactivated) keeps its partition and history; it simply
gets no more runs.
"""


import dagster as dg

from omv_pipelines.defs.jobs import commune_run_request, commune_sync_job
from omv_pipelines.defs.partitions import communes_partitions
from omv_pipelines.defs.resources import CatalogResource


@dg.sensor(
    name="commune_catalog_sensor",
    job=commune_sync_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds each new catalogue commune as a partition and requests its first harvest (the backfill).",
)
def commune_catalog_sensor(context: dg.SensorEvaluationContext, catalog: CatalogResource):
    loaded = catalog.load()
    for error in loaded.errors:
        context.log.warning(f"catalogue file skipped: {error}")
    known = set(context.instance.get_dynamic_partitions(communes_partitions.name))
    new = [entry.config for code, entry in sorted(loaded.active.items()) if code not in known]
    if not new:
        return dg.SkipReason(
            f"{len(known)} communes known, none new" + (f"; {len(loaded.errors)} catalogue file(s) have errors" if loaded.errors else "")
        )
    return dg.SensorResult(
        dynamic_partitions_requests=[communes_partitions.build_add_request([c.ins_code for c in new])],
        run_requests=[commune_run_request(c, reason="new commune", run_key=f"backfill-{c.ins_code}") for c in new],
    )
