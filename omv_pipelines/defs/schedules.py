"""Nightly syncs (Europe/Brussels): one schedule per distinct cron in the catalogue.

A schedule's name says when it runs (`nightly_commune_sync` at 02:00, `commune_sync_0230` for "30 2 * * *")
and its description names the communes it served when the code location loaded. Which communes a
schedule serves is decided at each tick from the catalogue on disk, so that editing a
commune's file needs no redeploy unless it introduces a new cron. A deactivated or removed commune is
simply not requested; its partition and history stay. The regional rebuild has no schedule: the sensor
`regional_after_communes` (sensors.py) starts it once the night's commune runs are done.
"""

import re

import dagster as dg

from omv_pipelines.catalog.loader import Catalog
from omv_pipelines.defs.jobs import commune_run_request, commune_sync_job
from omv_pipelines.defs.partitions import COMMUNES, commune_key
from omv_pipelines.defs.resources import CatalogResource
from omv_pipelines.region import TIMEZONE

DEFAULT_CRON = "0 2 * * *"  # 02:00 every night


def _schedule_name(cron: str) -> str:
    """`nightly_commune_sync` for the default; `commune_sync_0230` for a daily "30 2 * * *"; else the cron
    spelled out (`commune_sync_0_3_x_x_1`)."""
    if cron == DEFAULT_CRON:
        return "nightly_commune_sync"
    daily = re.fullmatch(r"(\d{1,2}) (\d{1,2}) \* \* \*", cron.strip())
    if daily:
        return f"commune_sync_{int(daily[2]):02d}{int(daily[1]):02d}"
    return "commune_sync_" + re.sub(r"[^a-z0-9]+", "_", cron.replace("*", "x")).strip("_")


def _description(cron: str, names: list[str]) -> str:
    whom = ", ".join(names) if names else "no commune yet"
    default = " (the default: every commune without a schedule of its own)" if cron == DEFAULT_CRON else ""
    return (
        f"Syncs the active communes scheduled at '{cron}' ({TIMEZONE}){default}: {whom}. "
        "Read from the catalogue at each tick; this list is the one at load."
    )


def build_commune_schedule(cron: str, names: list[str] | None = None) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=_schedule_name(cron),
        cron_schedule=cron,
        execution_timezone=TIMEZONE,
        job=commune_sync_job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=_description(cron, names or []),
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
            if (entry.config.schedule or DEFAULT_CRON) == cron and commune_key(entry.config.ins_code) in known
        ]
        if not requests:
            return dg.SkipReason(f"no active commune scheduled at '{cron}'")
        return requests

    return commune_schedule


def build_schedules(catalog: Catalog) -> list[dg.ScheduleDefinition]:
    """One schedule per distinct cron: the default one always, and each override found in the catalogue."""
    crons = {DEFAULT_CRON} | {e.config.schedule for e in catalog.entries.values() if e.config.schedule}
    names = {
        cron: [
            e.config.commune.name
            for _, e in sorted(catalog.active.items())
            if (e.config.schedule or DEFAULT_CRON) == cron
        ]
        for cron in crons
    }
    return [build_commune_schedule(cron, names[cron]) for cron in sorted(crons)]


@dg.definitions
def catalogue_schedules() -> dg.Definitions:
    """The schedules depend on the catalogue's crons: read the local folder at load (no network)."""
    from omv_pipelines import settings
    from omv_pipelines.catalog.loader import load_catalog

    return dg.Definitions(schedules=build_schedules(load_catalog(settings.from_environment().catalog_dir)))
