"""Jobs: a commune's sync (partitioned by commune) and the regional rebuild (all communes)."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import dagster as dg

from omv_pipelines.catalog.models import CommuneConfig
from omv_pipelines.defs import tags
from omv_pipelines.defs.keys import DatasetKeys, all_dataset_keys
from omv_pipelines.defs.scorecard import SCORECARD_KEY

commune_sync_job = dg.define_asset_job(
    "commune_sync",
    selection=dg.AssetSelection.assets(*(key for k in all_dataset_keys() for key in k.commune_keys)),
    description="Harvest, normalise, validate and publish one commune's datasets (run requests select only "
    "the datasets the commune provides).",
    tags={tags.KIND: "commune"},
)

regional_job = dg.define_asset_job(
    "regional_rebuild",
    selection=dg.AssetSelection.assets(*(k.regional for k in all_dataset_keys()), SCORECARD_KEY),
    description="Rebuild and publish the regional datasets from every commune's last good publication, "
    "then the scorecard (tableau de bord) and its HTML report.",
    tags={tags.KIND: "regional"},
)


def wfs_hosts(config: CommuneConfig) -> list[str]:
    """Host names (no port, user or path) of the commune's WFS sources, for per-host run limits."""
    hosts = set()
    for dataset in config.datasets.values():
        for source in dataset.sources:
            if source.kind == "wfs":
                url = (os.environ.get(source.url_env) if source.url_env else None) or source.url or ""
                if host := urlsplit(url).hostname:
                    hosts.add(host)
    return sorted(hosts)


def commune_run_request(config: CommuneConfig, *, reason: str, run_key: str | None = None) -> dg.RunRequest:
    """One run per commune with exactly its datasets, so a broken commune never blocks another."""
    selection = [
        key for dataset_key in sorted(config.datasets) for key in DatasetKeys.of(dataset_key).commune_keys
    ]
    run_tags = {tags.COMMUNE: config.ins_code, tags.REASON: reason}
    if hosts := wfs_hosts(config):
        # One tag value per run: a commune reading several WFS hosts counts against their joined name.
        run_tags[tags.WFS_HOST] = ",".join(hosts)
    return dg.RunRequest(
        run_key=run_key,
        job_name=commune_sync_job.name,
        partition_key=config.ins_code,
        asset_selection=selection,
        tags=run_tags,
    )
