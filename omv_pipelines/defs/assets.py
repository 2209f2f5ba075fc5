"""The asset factory: for every dataset of the registry, the same five assets and their checks
(keys in defs/keys.py: raw, table, quarantine, odwb per commune; regional for all communes), made by two
steps per commune: the harvest (raw) and one step that normalises, checks and publishes (table,
quarantine, publication). Two steps, not four: each step costs a commune run a dozen events and a
table read back from storage, and the checks judge the table where it is made (docs/design-notes.md).

A commune's run materialises every dataset. One it does not provide materialises with no rows and the
metadata `state: not provided` (raw, table, quarantine, publication alike; its checks pass, described
"not provided by <commune>"; nothing is published; the regional dataset ignores it), so that no partition
of any asset reads "missing" or "failed" for it and no "missing" backfill selects it.

A table the drop check flags is never stored: the step records the quarantine report and the checks,
then fails with the project's `PublicationRefused` (commune, rows now and at the last publication, the
allowed drop, how to force; failure metadata `state: blocked`), so the table and publication partitions
keep their last good value and the UI shows the run failed in those words. The publication's value is
the table as published, stored only when publication succeeded; the regional asset reads those, so a
commune whose table was refused (or whose run failed) contributes its last good publication, and the
regional metadata says so.

Every asset has the regional team as owner and a description; each partition's materialisation names
the commune and its contact, and the publication links to the dataset online (ODWB URL or export path).
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from omv_pipelines import flow
from omv_pipelines.catalog.communes import UnknownCommune
from omv_pipelines.catalog.loader import CatalogEntry
from omv_pipelines.defs import checks, tags
from omv_pipelines.defs.failures import to_failure
from omv_pipelines.defs.io_manager import REFUSED
from omv_pipelines.defs.keys import DatasetKeys
from omv_pipelines.defs.metadata import markdown_table, table_metadata
from omv_pipelines.defs.partitions import commune_label, communes_partitions, ins_of
from omv_pipelines.defs.resources import CatalogResource, PublisherResource
from omv_pipelines.errors import OmvError
from omv_pipelines.publish.safety import PublicationRefused, guard
from omv_pipelines.publish.targets import Publication
from omv_pipelines.schemas import DATASETS, get_schema

# The regional team owns every asset; each commune's contact is in its partitions' metadata.
TEAM = "team:ouvrir-ma-ville"
STATE = "state"  # materialisation metadata: "not provided" for a dataset the commune does not provide
NOT_PROVIDED = "not provided"

# Shown in the UI on every published dataset. Dagster judges it on the asset's last materialisation of any
# partition; each commune's own `freshness_hours` is checked per partition by defs/freshness.py.
FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=36))
# ODWB busy or unreachable: try again later, while the last good publication stays online.
PUBLISH_RETRY = dg.RetryPolicy(max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL)


def _forced(context) -> bool:
    return tags.is_true(context.run.tags, tags.FORCE_PUBLISH)


def _full_refresh(context) -> bool:
    return tags.is_true(context.run.tags, tags.FULL_REFRESH)


def commune_entry(context: dg.AssetExecutionContext, catalog: CatalogResource) -> CatalogEntry:
    """The catalogue entry of the run's commune partition, or a failure that says what the key should be."""
    key = context.partition_key
    try:
        return catalog.entry(ins_of(key))
    except (UnknownCommune, KeyError) as exc:
        why = exc.args[0] if exc.args else str(exc)
        raise dg.Failure(
            description=f"partition {key!r}: {why}. Commune partitions are added by the catalogue sensor "
            "from the catalogue files; a key added by hand is removed at its next tick.",
            allow_retries=False,
        ) from exc


def commune_metadata(entry: CatalogEntry, *, provided: bool) -> dict[str, Any]:
    """Who this partition is about and who to ask: shown on every commune materialisation."""
    config = entry.config
    contact = config.contact
    parts = (contact.name, f"<{contact.email}>" if contact.email else None) if contact else ()
    who = " ".join(part for part in parts if part)
    return {
        "commune": f"{config.commune.name} ({config.ins_code})",
        "contact": who or "(no contact in the catalogue file)",
        **({} if provided else {STATE: NOT_PROVIDED}),
    }


def not_provided_metadata(entry: CatalogEntry, dataset_key: str) -> dict[str, Any]:
    return {
        **commune_metadata(entry, provided=False),
        "dagster/row_count": dg.MetadataValue.int(0),
        "note": f"{entry.config.commune.name} does not provide {dataset_key} "
        f"(not in {entry.path.name}): nothing harvested, nothing published",
    }


def build_dataset_assets(dataset_key: str) -> list[dg.AssetsDefinition]:
    schema = get_schema(dataset_key)
    theme = schema.theme
    k = DatasetKeys.of(dataset_key)
    title = DATASETS[dataset_key]
    standard = schema.standard
    owner_tags = {"theme": theme, "dataset": schema.name}

    def commune_out(key: dg.AssetKey, kinds: set[str], **more: Any) -> dg.AssetOut:
        """An output of the commune step: the same owner, tags and kinds fields as every commune asset."""
        return dg.AssetOut(key=key, kinds=kinds, tags=owner_tags, owners=[TEAM], **more)

    @dg.asset(
        key=k.raw,
        partitions_def=communes_partitions,
        group_name=theme,
        kinds={"pandas", "parquet"},
        tags=owner_tags,
        owners=[TEAM],
        description=f"{title} — step 1 of 4, harvest: the commune's rows as read from its source(s), with "
        "provenance columns. Empty with `state: not provided` for a commune that does not provide it.",
        pool="harvest",
    )
    def raw(context: dg.AssetExecutionContext, catalog: CatalogResource):
        entry = commune_entry(context, catalog)
        if dataset_key not in entry.config.datasets:
            context.log.info(
                f"{entry.config.commune.name} does not provide {dataset_key}: nothing to harvest"
            )
            yield dg.Output(pd.DataFrame(), metadata=not_provided_metadata(entry, dataset_key))
            return
        try:
            harvested = flow.harvest_dataset(
                entry,
                dataset_key,
                state_dir=Path(catalog.state_dir) if catalog.state_dir else None,
                full_refresh=_full_refresh(context),
            )
        except flow.FlowError as exc:
            raise to_failure(exc) from exc
        sources = {
            h.source_id: dg.MetadataValue.json({"location": h.location, **h.stats})
            for h in harvested.harvests
        }
        metadata: dict[str, Any] = {
            **commune_metadata(entry, provided=True),
            **table_metadata(harvested.frame),
            **sources,
            "duration_s": round(harvested.duration_s, 3),
        }
        yield dg.Output(harvested.frame, metadata=metadata)

    @dg.multi_asset(
        outs={
            "table": commune_out(
                k.table,
                {"pandas", "parquet"},
                is_required=False,
                description=f"{title} — step 2 of 4, the commune's table in the shared schema"
                + (f" ({standard['author']} {standard['name']} {standard['version']})" if standard else "")
                + ": valid rows only, checked per commune (Checks tab). A table the drop check refuses is "
                "not stored: the partition keeps its last good table.",
            ),
            "quarantine": commune_out(
                k.quarantine,
                {"pandas", "parquet"},
                description=f"{title} — step 3 of 4, quarantine: the problems found in the commune's "
                "source, one row each (rejected rows and warnings), with source row, field, error type, "
                "message and raw value; the `report` metadata is the validation report.",
            ),
            "publication": commune_out(
                k.odwb,
                {"opendatasoft", "csv"},
                is_required=False,
                freshness_policy=FRESHNESS,
                description=f"{title} — step 4 of 4, publication: the commune's dataset on ODWB (or in the "
                "export folder without an API key); `url` or `path` in a partition's metadata links to it. "
                "Its value is the table as published, stored only when publication succeeded.",
            ),
        },
        ins={"raw": dg.AssetIn(k.raw)},
        internal_asset_deps={
            "table": {k.raw},
            "quarantine": {k.raw},
            "publication": {k.table, k.quarantine},
        },
        partitions_def=communes_partitions,
        group_name=theme,
        check_specs=checks.table_check_specs(k.table),
        name=f"normalise_publish_{theme}_{schema.name}",
        pool="odwb",
        retry_policy=PUBLISH_RETRY,
    )
    def normalise_publish(
        context: dg.AssetExecutionContext,
        catalog: CatalogResource,
        publisher: PublisherResource,
        raw: pd.DataFrame,
    ):
        """One step from the harvested rows to the portal: normalise, check, publish. The table and the
        publication are stored only when they passed (a refused table never becomes the current value);
        the quarantine report is stored always (it says why)."""
        entry = commune_entry(context, catalog)
        config = entry.config
        if dataset_key not in config.datasets:
            metadata = not_provided_metadata(entry, dataset_key)
            empty = flow.consolidate({}, schema)
            yield dg.Output(empty, output_name="table", metadata=metadata)
            yield dg.Output(pd.DataFrame(), output_name="quarantine", metadata=metadata)
            yield dg.Output(empty, output_name="publication", metadata=metadata)
            yield from checks.not_provided_checks(k.table, config.commune)
            return
        about = f"{config.commune.name} ({config.ins_code}) — {dataset_key}"
        try:
            result = flow.normalise_dataset(entry, dataset_key, raw)
        except flow.FlowError as exc:
            raise to_failure(exc, about=about) from exc
        report = flow.report_table(result)
        report_meta: dict[str, Any] = {
            **table_metadata(report),
            "report": dg.MetadataValue.md(checks.report_markdown(result)),
        }
        yield dg.Output(report, output_name="quarantine", metadata=report_meta)
        target = publisher.target()
        dataset_id = config.dataset_id(dataset_key)
        # What is online now (the target's answer, else the event log's): judged once, by the drop check
        # and by the guard below, and again by the target against what it finds when it publishes.
        previous = checks.previous_row_count(
            target, dataset_id, context.instance, k.odwb, context.partition_key, log=context.log
        )
        max_row_drop = config.datasets[dataset_key].max_row_drop
        yield from checks.table_checks(
            k.table,
            result.valid,
            schema,
            config.commune,
            previous,
            max_row_drop,
            forced=_forced(context),
            rejected=result.rejected,
            source_rows=result.source_rows,
        )
        try:
            guard(dataset_id, len(result.valid), previous, max_row_drop=max_row_drop, force=_forced(context))
        except PublicationRefused as exc:
            # Nothing stored: the table and publication partitions keep their last good value.
            raise to_failure(
                exc,
                about=about,
                state="blocked",
                dataset=dataset_key,
                preview=f"omv preview {entry.path.name} shows the refused table and its report",
            ) from exc
        table_meta: dict[str, Any] = {
            **table_metadata(result.valid, schema.fields),
            **commune_metadata(entry, provided=True),
            "source_rows": result.source_rows,
            "valid_rows": len(result.valid),
            "rejected_rows": result.rejected_rows,
            "warnings": len(result.warnings),
            "unknown_columns": ", ".join(result.unknown_columns) or "none",
        }
        yield dg.Output(result.valid, output_name="table", metadata=table_meta)
        published = publish(
            publisher,
            result.valid,
            schema,
            dataset_id=dataset_id,
            metadata=flow.commune_metadata(entry, schema),
            report=report,
            log=context.log,
            max_row_drop=max_row_drop,
            force=_forced(context),
            about=about,
            dataset=dataset_key,
        )
        yield dg.Output(
            result.valid,
            output_name="publication",
            metadata={**commune_metadata(entry, provided=True), **publication_metadata(published)},
        )

    @dg.asset(
        key=k.regional,
        ins={"publications": dg.AssetIn(k.odwb)},
        group_name=theme,
        kinds={"pandas", "opendatasoft"},
        tags=owner_tags,
        owners=[TEAM],
        description=f"{title} — regional: every commune's last good publication together in one dataset, "
        f"published as {flow.regional_dataset_id(dataset_key)} (communes that do not provide it are left "
        "out); `contributions_report` says where each commune's rows come from.",
        check_specs=checks.regional_check_specs(k.regional),
        pool="odwb",
        freshness_policy=FRESHNESS,
        retry_policy=PUBLISH_RETRY,
    )
    def regional(
        context: dg.AssetExecutionContext, publisher: PublisherResource, publications: dict[str, pd.DataFrame]
    ):
        dataset_id = flow.regional_dataset_id(dataset_key)
        target = publisher.target()
        # A commune that does not provide the dataset has an empty publication: it contributes nothing.
        publications = {key: frame for key, frame in publications.items() if not frame.empty}
        table = flow.consolidate(publications, schema)
        previous = checks.previous_row_count(
            target, dataset_id, context.instance, k.regional, None, log=context.log
        )
        check_results = list(
            checks.regional_checks(k.regional, table, schema, previous, forced=_forced(context))
        )
        contributions = contributions_of(context.instance, k.odwb, publications)
        metadata: dict[str, Any] = {
            **table_metadata(table, schema.fields),
            **contribution_metadata(contributions),
        }
        # Every regional check result names its check.
        failed = [str(r.check_name) for r in check_results if not r.passed]
        drop = next((r for r in check_results if r.check_name == checks.ROW_DROP and not r.passed), None)
        if table.empty or failed:
            why = (
                "no commune has published yet"
                if table.empty and not failed
                else "failed checks: " + ", ".join(failed)
            )
            context.log.warning(f"{dataset_id} not published ({why}); the last good publication stays online")
            metadata[REFUSED] = f"not published: {why}"
        else:
            published = publish(
                publisher,
                table,
                schema,
                dataset_id=dataset_id,
                metadata=flow.regional_metadata(schema),
                report=None,
                log=context.log,
                max_row_drop=checks.REGIONAL_MAX_ROW_DROP,
                force=_forced(context),
            )
            metadata |= publication_metadata(published)
        yield dg.Output(table, metadata=metadata)
        yield from check_results
        if drop is not None:
            raise dg.Failure(
                description=f"{dataset_id}: not published, {drop.description} "
                f"(allowed drop below {checks.REGIONAL_MAX_ROW_DROP:.0%}); the last good publication stays "
                f"online — look at which communes shrank (contributions_report), or re-run the rebuild "
                f"with the tag {tags.FORCE_PUBLISH}=true",
                metadata={"state": "blocked"},
                allow_retries=False,
            )

    return [raw, normalise_publish, regional]


def publish(
    publisher: PublisherResource,
    table,
    schema,
    *,
    dataset_id,
    metadata,
    report,
    log=None,
    max_row_drop: float,
    force: bool = False,
    about: str | None = None,
    dataset: str | None = None,
) -> Publication:
    """Through the configured target (ODWB, else the export folder, where the report goes too); a failure
    is retried only when the error says a retry can help (not a wrong key nor another's dataset). The
    target holds the drop guard itself (`max_row_drop`, `force`): a refusal is not retried."""
    target = publisher.target()
    try:
        published = target.publish(
            table,
            schema,
            dataset_id=dataset_id,
            metadata=metadata,
            report=report,
            on_progress=log.info if log is not None else None,
            max_row_drop=max_row_drop,
            force=force,
        )
    except PublicationRefused as exc:
        raise to_failure(
            exc, about=about, state="blocked", **({"dataset": dataset} if dataset else {})
        ) from exc
    except OmvError as exc:
        raise to_failure(exc, about=about) from exc
    if log is not None:
        log.info(f"{published.dataset_id}: {published.status} ({target})")
    return published


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="seconds")


def contributions_of(
    instance: dg.DagsterInstance, odwb_key: dg.AssetKey, publications: dict[str, pd.DataFrame]
) -> dict[str, dict[str, object]]:
    """Per commune: the rows it contributes (its last good publication), when that was published, and whether
    it is from its latest run ("latest") or an earlier one because the latest did not publish ("earlier":
    refused by the drop check, failed, or still running); "unknown" when this instance has no record of it.
    Keyed by partition key (`92094-namur`)."""
    result: dict[str, dict[str, object]] = {}
    for code in sorted(publications):
        entry: dict[str, object] = {"name": commune_label(code), "rows": len(publications[code])}
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=odwb_key, asset_partitions=[code]), limit=1
        ).records
        planned = instance.get_latest_planned_materialization_info(odwb_key, code)
        if not records:
            entry["publication"] = "unknown"
        else:
            published = records[0]
            entry["published_at"] = _when(published.timestamp)
            entry["published_by_run"] = published.run_id
            if planned is not None and planned.run_id != published.run_id:
                entry["publication"] = "earlier"
                entry["latest_run"] = planned.run_id
                run = instance.get_run_record_by_id(planned.run_id)
                if run is not None:
                    entry["latest_run_at"] = _when(run.create_timestamp.timestamp())
                    entry["latest_run_status"] = run.dagster_run.status.value
            else:
                entry["publication"] = "latest"
        result[code] = entry
    return result


def contribution_metadata(contributions: dict[str, dict[str, object]]) -> dict[str, object]:
    """Lean: counts and one Markdown table (no JSON blob that grows with the number of communes)."""
    earlier = {code: c for code, c in contributions.items() if c["publication"] != "latest"}
    rows = pd.DataFrame(
        [
            {
                "commune": c["name"],
                "rows": c["rows"],
                "publication": c["publication"],
                "published_at": c.get("published_at", ""),
                "latest_run_at": c.get("latest_run_at", ""),
                "latest_run_status": c.get("latest_run_status", ""),
            }
            for c in contributions.values()
        ],
        columns=["commune", "rows", "publication", "published_at", "latest_run_at", "latest_run_status"],
    )
    summary = f"{len(contributions)} communes; " + (
        "every one from its latest run."
        if not earlier
        else f"{len(earlier)} from an earlier publication (their latest run did not publish): "
        + ", ".join(
            f"{c['name']}, published {c.get('published_at', 'at an unknown date')}" for c in earlier.values()
        )
        + "."
    )
    return {
        "communes": len(contributions),
        "communes_on_earlier_publication": ", ".join(str(c["name"]) for c in earlier.values()) or "none",
        "contributions_report": dg.MetadataValue.md(summary + "\n\n" + markdown_table(rows, rows=500)),
    }


def publication_metadata(published: Publication) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "dagster/row_count": dg.MetadataValue.int(published.row_count),
        "dataset_id": published.dataset_id,
        "target": published.target,
        "status": published.status,
        # Short: enough to tell two publications apart in the UI; the whole hash is in the target.
        "content_hash": published.content_hash[:19],
    }
    if published.target == "odwb":
        metadata["url"] = dg.MetadataValue.url(published.location)
        metadata["uid"] = published.uid or ""
    else:
        metadata["path"] = dg.MetadataValue.path(published.location)
    return metadata


def all_dataset_assets() -> list[dg.AssetsDefinition]:
    return [asset for dataset_key in DATASETS for asset in build_dataset_assets(dataset_key)]


dataset_assets = all_dataset_assets()  # module level: the defs folder loader collects them
