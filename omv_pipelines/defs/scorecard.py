"""The programme's scorecard as a Dagster asset (issue #14): rebuilt with the regional datasets.

One `DatasetState` per active commune × dataset, from what the instance recorded:

- the latest materialisation of `odwb/<theme>/<ds>` for the commune: the last successful publication
  (its time, `dagster/row_count` and `status`, published or unchanged), and its stored table (the rows
  online, through the IO manager);
- the stored `quarantine/<theme>/<ds>` table of the commune (the latest validation report): the rows
  rejected and their reasons, the geometries outside the commune;
- the latest run planned to publish it: when it is not the one that published, that run was blocked
  (its table materialisation carries the refusal of the blocking check `no_unexplained_row_drop`) or it
  failed (a run that failed or was cancelled); a run still in progress changes nothing yet.

The instance is asked a fixed number of questions per dataset (the latest event id per partition, then
the records by id, in batches), not one per commune × dataset. Then `build_scorecard`, the scorecard
published as `wallonie-ouvrir-ma-ville-tableau-de-bord` through the same target as every dataset, and
the static HTML report written to `<export_dir>/report/`, linked from the asset's metadata.

A run that fails on a regional table skips this asset (it depends on them); it is rebuilt with the next
regional rebuild, or on its own from the UI (it reads only stored tables and the event log).
"""

import time
import warnings
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from omv_pipelines.catalog.loader import Catalog
from omv_pipelines.defs.assets import publication_metadata
from omv_pipelines.defs.io_manager import is_refused
from omv_pipelines.defs.keys import DatasetKeys, all_dataset_keys
from omv_pipelines.defs.metadata import markdown_table
from omv_pipelines.defs.resources import CatalogResource, PublisherResource
from omv_pipelines.report.build import REPORT_FOLDER, write_report_beside_exports
from omv_pipelines.schemas import DATASETS
from omv_pipelines.scorecard import (
    SCORECARD_DATASET_ID,
    DatasetState,
    Scorecard,
    build_scorecard,
    publish_scorecard,
    rejects_from_report,
)

SCORECARD_KEY = dg.AssetKey(["regional", "tableau_de_bord"])
BATCH = 500  # storage ids / run ids per query (SQLite allows 999 bound parameters)
FAILED = {dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def _input_name(key: dg.AssetKey) -> str:
    return "__".join(key.path)


def _batches(values: list, size: int = BATCH) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def latest_records(
    instance: dg.DagsterInstance, key: dg.AssetKey, codes: set[str], *, planned: bool = False
) -> dict[str, dg.EventLogRecord]:
    """Partition → its latest materialisation (or planned materialisation) record: one query for the
    ids, then one per batch of ids."""
    if not codes:
        return {}
    event_type = (
        dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
        if planned
        else dg.DagsterEventType.ASSET_MATERIALIZATION
    )
    latest = instance.get_latest_storage_id_by_partition(key, event_type, codes)
    fetch = instance.fetch_planned_materializations if planned else instance.fetch_materializations
    records: dict[str, dg.EventLogRecord] = {}
    for batch in _batches(sorted(latest.values())):
        with (
            warnings.catch_warnings()
        ):  # fetch_planned_materializations: deprecated in 1.13, no successor yet
            warnings.simplefilter("ignore", DeprecationWarning)
            result = fetch(dg.AssetRecordsFilter(asset_key=key, storage_ids=batch), limit=len(batch))
        records.update({r.partition_key: r for r in result.records if r.partition_key})
    return records


def run_statuses(instance: dg.DagsterInstance, run_ids: set[str]) -> dict[str, dg.DagsterRunStatus]:
    statuses = {}
    for batch in _batches(sorted(run_ids)):
        for record in instance.get_run_records(dg.RunsFilter(run_ids=batch)):
            statuses[record.dagster_run.run_id] = record.dagster_run.status
    return statuses


def _metadata_value(record: dg.EventLogRecord, name: str) -> Any:
    materialization = record.asset_materialization
    value = materialization.metadata.get(name) if materialization else None
    return getattr(value, "value", value)


def dataset_states(
    instance: dg.DagsterInstance,
    catalog: Catalog,
    published: dict[str, dict[str, pd.DataFrame]],
    reports: dict[str, dict[str, pd.DataFrame]],
) -> list[DatasetState]:
    """Every active commune × every dataset. `published` and `reports`: dataset → commune → the stored
    odwb table (last good publication) and quarantine table (latest validation report)."""
    active = catalog.active
    providers = {d: {c for c, e in active.items() if d in e.config.datasets} for d in DATASETS}
    # Per dataset: the last publication, the latest run planned to publish, that run's table.
    last: dict[str, dict[str, dg.EventLogRecord]] = {}
    planned: dict[str, dict[str, dg.EventLogRecord]] = {}
    for dataset, codes in providers.items():
        keys = DatasetKeys.of(dataset)
        last[dataset] = latest_records(instance, keys.odwb, codes)
        planned[dataset] = latest_records(instance, keys.odwb, codes, planned=True)
    # Per dataset: the communes whose latest run did not publish it (blocked, failed or still running).
    unpublished = {
        dataset: {
            code
            for code, record in by_code.items()
            if code not in last[dataset] or last[dataset][code].run_id != record.run_id
        }
        for dataset, by_code in planned.items()
    }
    statuses = run_statuses(
        instance, {planned[d][code].run_id for d, codes in unpublished.items() for code in codes}
    )
    tables = {  # that run's table: refused by the blocking drop check?
        dataset: latest_records(instance, DatasetKeys.of(dataset).table, codes)
        for dataset, codes in unpublished.items()
    }

    states = []
    for code, entry in sorted(active.items()):
        config = entry.config
        for dataset in DATASETS:
            if dataset not in config.datasets:
                states.append(DatasetState(code, dataset, provided=False, state="not_provided"))
                continue
            publication = last[dataset].get(code)
            state = None
            latest_run = planned[dataset].get(code)
            if latest_run is not None and code in unpublished[dataset]:
                table = tables[dataset].get(code)
                if (
                    table is not None
                    and table.run_id == latest_run.run_id
                    and table.asset_materialization is not None
                    and is_refused(table.asset_materialization.metadata)
                ):
                    state = "blocked"
                elif statuses.get(latest_run.run_id) in FAILED:
                    state = "failed"
            if state is None:  # the latest run published, or is still running
                state = (
                    "not_published" if publication is None else str(_metadata_value(publication, "status"))
                )
                if state not in ("published", "unchanged", "not_published"):
                    state = "published"
            report = reports.get(dataset, {}).get(code)
            rejected, reasons = rejects_from_report(report)
            table_online = published.get(dataset, {}).get(code) if publication is not None else None
            rows = _metadata_value(publication, "dagster/row_count") if publication is not None else 0
            kinds = dict.fromkeys(source.kind for source in config.datasets[dataset].sources)
            states.append(
                DatasetState(
                    ins_code=code,
                    dataset=dataset,
                    provided=True,
                    state=state,
                    rows_online=(
                        int(rows)
                        if isinstance(rows, (int, float))
                        else (0 if table_online is None else len(table_online))
                    ),
                    rows_rejected=rejected,
                    rejected_reasons=reasons,
                    published=table_online,
                    quarantine=report,
                    last_success=(
                        datetime.fromtimestamp(publication.timestamp, tz=UTC) if publication else None
                    ),
                    source_kind="+".join(kinds),
                    dataset_id=config.dataset_id(dataset),
                )
            )
    return states


def scores_markdown(scorecard: Scorecard, rows: int = 10) -> str:
    c = scorecard.communes.sort_values(["score", "ins_code"], ascending=[False, True], na_position="last")
    columns = {
        "municipality": "commune",
        "ins_code": "INS",
        "score": "score",
        "datasets_provided": "provided /7",
        "datasets_blocked": "blocked",
        "datasets_failed": "failed",
        "rows_online": "rows online",
        "rows_rejected": "rows rejected",
        "oldest_success_days": "oldest publication (days)",
    }
    table = c[list(columns)].rename(columns=columns)
    if len(table) <= 2 * rows:
        return f"All {len(table)} communes, best first:\n\n" + markdown_table(table, rows=len(table))
    return (
        f"Top {rows} of {len(table)} communes:\n\n"
        + markdown_table(table.head(rows), rows=rows)
        + f"\n\nBottom {rows}:\n\n"
        + markdown_table(table.tail(rows), rows=rows)
    )


_KEYS = all_dataset_keys()
_INS = {
    **{_input_name(k.odwb): dg.AssetIn(k.odwb) for k in _KEYS},
    **{_input_name(k.quarantine): dg.AssetIn(k.quarantine) for k in _KEYS},
}


@dg.asset(
    key=SCORECARD_KEY,
    ins=_INS,
    deps=[k.regional for k in _KEYS],
    group_name="scorecard",
    kinds={"pandas", "html", "opendatasoft"},
    owners=["team:ouvrir-ma-ville"],
    tags={"dataset": "tableau_de_bord"},
    description="The programme's scorecard: one row per active commune × dataset (state published / "
    "unchanged / blocked / failed / not published / not provided, rows online and rejected with the top "
    "reasons, recommended fields filled, points outside the commune, last successful publication, source "
    f"kind) and one score per commune, published as {SCORECARD_DATASET_ID}; and the static HTML report "
    f"(<export_dir>/{REPORT_FOLDER}/index.html, linked in the metadata). Rebuilt with the regional datasets.",
    pool="odwb",
)
def tableau_de_bord(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    publisher: PublisherResource,
    **tables: dict[str, pd.DataFrame],
) -> dg.MaterializeResult:
    started = time.perf_counter()
    loaded = catalog.load()
    for error in loaded.errors:
        context.log.warning(f"catalogue file skipped (its commune is left out of the scorecard): {error}")
    published = {k.dataset: tables.get(_input_name(k.odwb)) or {} for k in _KEYS}
    reports = {k.dataset: tables.get(_input_name(k.quarantine)) or {} for k in _KEYS}
    states = dataset_states(context.instance, loaded, published, reports)
    now = datetime.now(UTC)
    states_s = time.perf_counter() - started
    scorecard = build_scorecard(states, now)
    scorecard_s = time.perf_counter() - started - states_s
    publication = publish_scorecard(publisher.target(), scorecard)
    export_dir = Path(publisher.export_dir)
    link = publication.location if publication.target != "export" else f"{SCORECARD_DATASET_ID}.csv"
    report = write_report_beside_exports(
        scorecard, export_dir, scorecard_link=link, link_exports=publication.target == "export"
    )
    c = scorecard.communes
    counts = scorecard.datasets["state"].value_counts()
    context.log.info(
        f"scorecard of {len(c)} communes: states and tables read in {states_s:.1f}s, scorecard "
        f"{scorecard_s:.1f}s, report {report.seconds:.1f}s "
        f"({report.size_bytes / 1e6:.1f} MB) at {report.index}"
    )
    metadata: dict[str, Any] = {
        **publication_metadata(publication),
        "report": dg.MetadataValue.path(str(report.index)),
        "report_files": len(report.pages) + 1,
        "report_size_mb": dg.MetadataValue.float(round(report.size_bytes / 1e6, 2)),
        "communes": len(c),
        "rows_online": int(c["rows_online"].sum()) if len(c) else 0,
        "rows_rejected": int(c["rows_rejected"].sum()) if len(c) else 0,
        "mean_score": dg.MetadataValue.float(round(float(c["score"].mean()), 1) if len(c) else 0.0),
        "states": dg.MetadataValue.json({state: int(n) for state, n in counts.items()}),
        "scores": dg.MetadataValue.md(scores_markdown(scorecard)),
        "timings_s": dg.MetadataValue.json(
            {
                "states": round(states_s, 2),
                "scorecard": round(scorecard_s, 2),
                "report": round(report.seconds, 2),
            }
        ),
    }
    metadata["dagster/row_count"] = dg.MetadataValue.int(len(scorecard.datasets))
    return dg.MaterializeResult(metadata=metadata)
