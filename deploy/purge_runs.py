"""Run retention: delete runs (and their event logs) older than N days, keeping what the pipelines read.

Dagster's `retention:` setting purges schedule and sensor ticks only; runs and their events are kept
forever unless deleted. A night of 261 communes writes ≈ 80,000 events (benchmarks/nightly.py), so
without this the event log grows by ≈ 30 million events a year. Run nightly by
`systemd/omv-purge-runs.timer` (or by hand):

    DAGSTER_HOME=/var/lib/omv/dagster_home .venv/bin/python deploy/purge_runs.py --days 90 [--dry-run]

Kept whatever their age: the newest run of each (job, partition) and the newest successful one, so that
every commune partition keeps its latest materialisations (the UI's partition status, the last
publication the row-drop check falls back on when the target cannot say, the regional contributions of
a commune that stopped publishing). Runs still queued or in progress are never deleted.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator

import dagster as dg

PARTITION = "dagster/partition"
BATCH = 500


def _old_records(instance: dg.DagsterInstance, before: float) -> Iterator[dg.RunRecord]:
    cursor = None
    while True:
        records = instance.get_run_records(
            dg.RunsFilter(
                created_before=_datetime(before),
                statuses=[
                    dg.DagsterRunStatus.SUCCESS,
                    dg.DagsterRunStatus.FAILURE,
                    dg.DagsterRunStatus.CANCELED,
                ],
            ),
            limit=BATCH,
            cursor=cursor,
        )
        if not records:
            return
        yield from records
        cursor = records[-1].dagster_run.run_id


def _datetime(timestamp: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, tz=UTC)


def _protected(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """Is `run` the newest run, or the newest successful run, of its job and partition?"""
    tags = {PARTITION: run.tags[PARTITION]} if PARTITION in run.tags else {}
    for statuses in (None, [dg.DagsterRunStatus.SUCCESS]):
        newest = instance.get_run_records(
            dg.RunsFilter(job_name=run.job_name, tags=tags, statuses=statuses or []), limit=1
        )
        if newest and newest[0].dagster_run.run_id == run.run_id:
            return True
    return False


def purge(instance: dg.DagsterInstance, days: float, *, dry_run: bool = False) -> tuple[int, int]:
    """(deleted, kept) among the finished runs created more than `days` days ago."""
    before = time.time() - days * 86400
    old = list(_old_records(instance, before))
    deleted = kept = 0
    for record in old:
        run = record.dagster_run
        if _protected(instance, run):
            kept += 1
            continue
        if not dry_run:
            instance.delete_run(run.run_id)
        deleted += 1
    return deleted, kept


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=float, default=90, help="keep runs younger than this (default 90)")
    parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    args = parser.parse_args()
    with dg.DagsterInstance.get() as instance:
        deleted, kept = purge(instance, args.days, dry_run=args.dry_run)
    print(
        f"{'would delete' if args.dry_run else 'deleted'} {deleted} run(s) older than {args.days:g} days; "
        f"kept {kept}"
    )


if __name__ == "__main__":
    main()
