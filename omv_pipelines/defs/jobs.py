"""Jobs: a commune's sync (partitioned by commune) and the regional rebuild (all communes)."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

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

WFS_HOST_TAG = "omv/wfs_host"  # limited per value by tag_concurrency_limits in the instance config


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
    selection = [key for dataset_key in sorted(config.datasets) for key in commune_asset_keys(dataset_key)]
    tags = {"omv/commune": config.ins_code, "omv/reason": reason}
    if hosts := wfs_hosts(config):
        # One tag value per run: a commune reading several WFS hosts counts against their joined name.
        tags[WFS_HOST_TAG] = ",".join(hosts)
    return dg.RunRequest(
        run_key=run_key,
        job_name=commune_sync_job.name,
        partition_key=config.ins_code,
        asset_selection=selection,
        tags=tags,
    )
