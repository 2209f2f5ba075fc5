"""Jobs: a commune's sync (partitioned by commune) and the regional rebuild (all communes)."""

from __future__ import annotations

import dagster as dg

from omv_pipelines.catalog.models import CommuneConfig
from omv_pipelines.defs.assets import commune_asset_keys

commune_sync_job = dg.define_asset_job(
    "commune_sync",
    selection=dg.AssetSelection.groups("mobility", "resilience", "participation") - dg.AssetSelection.key_prefixes("regional"),
    description="Harvest, normalise, validate and publish one commune's datasets (run requests select only "
    "the datasets the commune provides).",
    tags={"omv/kind": "commune"},
)

regional_job = dg.define_asset_job(
    "regional_rebuild",
    selection=dg.AssetSelection.key_prefixes("regional"),
    description="Rebuild and publish the regional datasets from every commune's last good table.",
    tags={"omv/kind": "regional"},
)


def commune_run_request(config: CommuneConfig, *, reason: str, run_key: str | None = None) -> dg.RunRequest:
    """One run per commune with exactly its datasets, so a broken commune never blocks another."""
    selection = [key for dataset_key in sorted(config.datasets) for key in commune_asset_keys(dataset_key)]
    return dg.RunRequest(
        run_key=run_key,
        job_name=commune_sync_job.name,
        partition_key=config.ins_code,
        asset_selection=selection,
        tags={"omv/commune": config.ins_code, "omv/reason": reason},
    )
