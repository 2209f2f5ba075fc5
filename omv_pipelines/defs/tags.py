"""Run tags the project reads or writes: defined once, so a typo cannot silently disable a limit."""

from __future__ import annotations

from collections.abc import Mapping

COMMUNE = "omv/commune"  # the INS code a commune run serves (one run at a time per value, dagster.yaml)
COMMUNE_NAME = "omv/commune_name"  # its name, so that the runs list reads "Namur", not "92094"
REASON = "omv/reason"  # why the run was requested (schedule, new commune, demo, …)
KIND = "omv/kind"  # commune or regional (job tag)
WFS_HOST = "omv/wfs_host"  # limited per value by tag_concurrency_limits in the instance config
COMMUNES = "omv/communes"  # on a regional run: the communes whose runs triggered it
FORCE_PUBLISH = "omv/force_publish"  # true: a person allows a shrunken (never empty) table to be published
FULL_REFRESH = "omv/full_refresh"  # true: incremental sources re-read everything
PARTITION = "dagster/partition"  # Dagster's own: the partition key of a partitioned run


def is_true(tags: Mapping[str, str], name: str) -> bool:
    return str(tags.get(name, "")).strip().lower() == "true"
