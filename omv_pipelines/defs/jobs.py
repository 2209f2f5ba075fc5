"""Jobs: a commune's sync (partitioned by commune) and the regional rebuild (all communes).

`commune_sync` is the one way to run a commune, whoever launches it: its partitioned config gives every
run of a partition the same tags (`commune_tags`) whether the schedule, the catalogue sensor, `omv demo`
or a person in the UI (Jobs → commune_sync → Materialize / backfill, picking `92094-namur`) launched it,
so the per-commune and per-WFS-host run limits of the instance (`omv/commune`, `omv/wfs_host`) always
apply. The assets' pools (`harvest`, `odwb`) are declared on the assets themselves and hold for any run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

import dagster as dg

from omv_pipelines.catalog.communes import UnknownCommune
from omv_pipelines.catalog.models import CommuneConfig
from omv_pipelines.defs import tags
from omv_pipelines.defs.keys import all_commune_keys, all_dataset_keys
from omv_pipelines.defs.partitions import commune_key, commune_label, communes_partitions, ins_of
from omv_pipelines.defs.scorecard import SCORECARD_KEY


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


def commune_tags(config: CommuneConfig) -> dict[str, str]:
    """The tags of every run of a commune: its INS code (one run at a time per commune), its name (the
    runs list reads "Namur"), its WFS hosts (one tag value per run: a commune reading several hosts
    counts against their joined names)."""
    run_tags = {tags.COMMUNE: config.ins_code, tags.COMMUNE_NAME: config.commune.name}
    if hosts := wfs_hosts(config):
        run_tags[tags.WFS_HOST] = ",".join(hosts)
    return run_tags


def tags_for_partition(key: str) -> Mapping[str, str]:
    """Tags for a run of partition `key`, however launched (read from the catalogue on disk at launch).
    Never raises: a key that is not a catalogue commune gets what can be said about it. (Dagster lays
    these over a run request's own tags, so they carry nothing a request sets differently.)"""
    from omv_pipelines import settings
    from omv_pipelines.catalog.loader import find_entry

    try:
        code = ins_of(key)
    except UnknownCommune:
        return {}
    base = {tags.COMMUNE: code}
    try:
        config = find_entry(settings.from_environment().catalog_dir, code).config
    except Exception:  # not (or no longer) in the catalogue, or its file is broken: the run says so
        return {**base, tags.COMMUNE_NAME: commune_label(key).split(" (")[0]}
    return {**base, **commune_tags(config)}


commune_partitioned_config = dg.PartitionedConfig(
    partitions_def=communes_partitions,
    run_config_for_partition_key_fn=lambda _key: {},
    tags_for_partition_key_fn=tags_for_partition,
)

commune_sync_job = dg.define_asset_job(
    "commune_sync",
    selection=dg.AssetSelection.assets(*all_commune_keys()),
    config=commune_partitioned_config,
    description="Harvest, normalise, check and publish one commune's datasets: pick the commune's "
    "partition (e.g. 92094-namur). The way to run a commune by hand: every run of it carries the "
    "commune's tags (omv/commune, omv/commune_name, omv/wfs_host), so its run limits apply. Datasets "
    "the commune does not provide materialise empty, as 'not provided'.",
    tags={tags.KIND: "commune"},
    executor_def=dg.in_process_executor,
)

regional_job = dg.define_asset_job(
    "regional_rebuild",
    selection=dg.AssetSelection.assets(*(k.regional for k in all_dataset_keys()), SCORECARD_KEY),
    description="Rebuild and publish the regional datasets from every commune's last good publication, "
    "then the scorecard (tableau de bord: this morning's state of every commune × dataset) and its "
    "HTML report.",
    tags={tags.KIND: "regional"},
    executor_def=dg.in_process_executor,
)


def commune_run_request(config: CommuneConfig, *, reason: str, run_key: str | None = None) -> dg.RunRequest:
    """One run per commune with every commune asset (those of the datasets it does not provide
    materialise as 'not provided'), so a broken commune never blocks another."""
    return dg.RunRequest(
        run_key=run_key,
        job_name=commune_sync_job.name,
        partition_key=commune_key(config.ins_code),
        tags={**commune_tags(config), tags.REASON: reason},
    )
