"""Nightly syncs (Europe/Brussels): one schedule per distinct cron in the catalogue.

Which communes a schedule serves is decided at each tick from the catalogue on disk, so that editing a
commune's file needs no redeploy unless it introduces a new cron. A deactivated or removed commune is
simply not requested; its partition and history stay. The regional rebuild has no schedule: the sensor
`regional_after_communes` (sensors.py) starts it once the night's commune runs are done.
"""

import re

import dagster as dg

from omv_pipelines.catalog.loader import Catalog
from omv_pipelines.defs.jobs import commune_run_request, commune_sync_job
from omv_pipelines.defs.partitions import COMMUNES
from omv_pipelines.defs.resources import CatalogResource
from omv_pipelines.region import TIMEZONE

DEFAULT_CRON = "0 2 * * *"  # 02:00 every night


def _schedule_name(cron: str) -> str:
    if cron == DEFAULT_CRON:
        return "nightly_commune_sync"
    return "commune_sync_" + re.sub(r"[^a-z0-9]+", "_", cron.replace("*", "x")).strip("_")


def build_commune_schedule(cron: str) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=_schedule_name(cron),
        cron_schedule=cron,
        execution_timezone=TIMEZONE,
        job=commune_sync_job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Syncs every active commune whose schedule is '{cron}' ({TIMEZONE}).",
    )
    def commune_schedule(context: dg.ScheduleEvaluationContext, catalog: CatalogResource):
        loaded = catalog.load()
        for error in loaded.errors:
            context.log.warning(f"catalogue file skipped: {error}")
        known = set(context.instance.get_dynamic_partitions(COMMUNES))
        requests = [
            commune_run_request(
                entry.config,
                reason="schedule",
                run_key=f"{entry.config.ins_code}-{context.scheduled_execution_time:%Y%m%d%H%M}",
            )
            for entry in loaded.active.values()
            if (entry.config.schedule or DEFAULT_CRON) == cron and entry.config.ins_code in known
        ]
        if not requests:
            return dg.SkipReason(f"no active commune scheduled at '{cron}'")
        return requests

    return commune_schedule


def build_schedules(catalog: Catalog) -> list[dg.ScheduleDefinition]:
    """One schedule per distinct cron: the default one always, and each override found in the catalogue."""
    crons = {DEFAULT_CRON} | {e.config.schedule for e in catalog.entries.values() if e.config.schedule}
    return [build_commune_schedule(cron) for cron in sorted(crons)]


@dg.definitions
def catalogue_schedules() -> dg.Definitions:
    """The schedules depend on the catalogue's crons: read the local folder at load (no network)."""
    from omv_pipelines import settings
    from omv_pipelines.catalog.loader import load_catalog

    return dg.Definitions(schedules=build_schedules(load_catalog(settings.from_environment().catalog_dir)))
