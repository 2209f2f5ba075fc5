"""The omv_pipelines code location: `omv_pipelines.definitions:defs`.

Loading reads only local files (the catalogue, for its schedules); no network, nothing slow.
"""

from __future__ import annotations

import os

import dagster as dg

from omv_pipelines import settings
from omv_pipelines.catalog.loader import load_catalog
from omv_pipelines.defs.alerts import alert_on_run_failure, alert_resource_from_env
from omv_pipelines.defs.assets import all_dataset_assets
from omv_pipelines.defs.freshness import commune_freshness_sensor, freshness_checks
from omv_pipelines.defs.io_manager import ParquetIOManager
from omv_pipelines.defs.jobs import commune_sync_job, regional_job
from omv_pipelines.defs.resources import CatalogResource, PublisherResource
from omv_pipelines.defs.schedules import build_schedules
from omv_pipelines.defs.sensors import commune_catalog_sensor, regional_rebuild_sensor


def build_definitions() -> dg.Definitions:
    config = settings.from_environment()
    catalog = load_catalog(config.catalog_dir)
    # The key is only referenced here; Dagster resolves it at run time and never shows it.
    api_key = dg.EnvVar("ODWB_API_KEY") if os.environ.get("ODWB_API_KEY") else None
    alerts = alert_resource_from_env()  # the failure sensor exists only when a channel is configured
    return dg.Definitions(
        assets=all_dataset_assets(),
        asset_checks=freshness_checks(),
        jobs=[commune_sync_job, regional_job],
        schedules=build_schedules(catalog),
        sensors=[commune_catalog_sensor, regional_rebuild_sensor, commune_freshness_sensor]
        + ([alert_on_run_failure] if alerts else []),
        resources={
            **({"alerts": alerts} if alerts else {}),
            "io_manager": ParquetIOManager(base_path=str(config.tables_dir)),
            "catalog": CatalogResource(folder=str(config.catalog_dir), state_dir=str(config.state_dir)),
            "publisher": PublisherResource(
                export_dir=str(config.export_dir),
                odwb_url=config.odwb_url,
                odwb_api_key=api_key,
                odwb_license_id=config.odwb_license_id,
                odwb_theme_id=config.odwb_theme_id,
            ),
        },
    )


defs = build_definitions()
