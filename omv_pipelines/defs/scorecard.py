"""The programme's scorecard as a Dagster asset (issue #14): rebuilt with the regional datasets.

One `DatasetState` per active commune × dataset, from what the instance recorded:

- the latest materialisation of `odwb/<theme>/<ds>` for the commune: the last successful publication
  (its time, `dagster/row_count` and `status`, published or unchanged), and its stored table (the rows
  online, through the IO manager);
- the stored `quarantine/<theme>/<ds>` table of the commune (the latest validation report): the rows
  rejected and their reasons, the geometries outside the commune;
- the latest run planned to publish it: when it is not the one that published, that run was blocked
  (the dataset's step failed with `state: blocked`: the drop check refused its table) or it failed (a
  run that failed or was cancelled); a run still in progress changes nothing yet.

The instance is asked a fixed number of questions per dataset (the latest event id per partition, then
the records by id, in batches), not one per commune × dataset. Then `build_scorecard`, the scorecard
published as `wallonie-ouvrir-ma-ville-tableau-de-bord` through the same target as every dataset, and
the static HTML report written to `<export_dir>/report/`, linked from the asset's metadata.

**This morning** (`this_morning`, Markdown the UI renders): one row per active commune, one column per
dataset with a short state word — published, unchanged, blocked, failed, late (published or unchanged but
older than the commune's `freshness_hours`), never published, not provided — with the rows online and
rejected, the communes needing attention first; `needs_attention` lists those cells with their last
success and top rejection reasons.

A run that fails on a regional table skips this asset (it depends on them); it is rebuilt with the next
regional rebuild, or on its own from the UI (it reads only stored tables and the event log).
"""

import time
import warnings
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd

from omv_pipelines.catalog.loader import Catalog
from omv_pipelines.defs.assets import publication_metadata
from omv_pipelines.defs.keys import DatasetKeys, all_dataset_keys
from omv_pipelines.defs.metadata import markdown_table
from omv_pipelines.defs.partitions import commune_key
from omv_pipelines.defs.resources import CatalogResource, PublisherResource
from omv_pipelines.region import TIMEZONE
from omv_pipelines.report.build import REPORT_FOLDER, write_report_beside_exports
from omv_pipelines.report.geometries import geojson_fields
from omv_pipelines.schemas import DATASETS, get_schema
from omv_pipelines.scorecard import (
    SCORECARD_DATASET_ID,
    DatasetState,
    Scorecard,
    build_scorecard,
    publish_scorecard,
    rejects_from_report,
)
from omv_pipelines.scorecard.model import optional_fields

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


def blocked_datasets(instance: dg.DagsterInstance, run_ids: set[str]) -> set[tuple[str, str]]:
    """(run id, dataset) for each dataset step of these runs that failed because publication was refused
    (failure metadata `state: blocked`, `dataset: <theme>/<dataset>`): one query per failed run."""
    blocked = set()
    for run_id in sorted(run_ids):
        records = instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.STEP_FAILURE, limit=1000
        ).records
        for record in records:
            event = record.event_log_entry.dagster_event
            failure = event.step_failure_data if event is not None else None
            user = failure.user_failure_data if failure is not None else None
            metadata = user.metadata if user is not None else {}
            state, dataset = (getattr(metadata.get(k), "value", None) for k in ("state", "dataset"))
            if state == "blocked" and dataset:
                blocked.add((run_id, str(dataset)))
    return blocked


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
    """Every active commune × every dataset. `published` and `reports`: dataset → partition key → the
    stored odwb table (last good publication) and quarantine table (latest validation report)."""
    active = catalog.active
    keys = {code: commune_key(code) for code in active}
    providers = {d: {keys[c] for c, e in active.items() if d in e.config.datasets} for d in DATASETS}
    # Per dataset: the last publication, the latest run planned to publish, that run's table.
    last: dict[str, dict[str, dg.EventLogRecord]] = {}
    planned: dict[str, dict[str, dg.EventLogRecord]] = {}
    for dataset, codes in providers.items():
        asset_keys = DatasetKeys.of(dataset)
        last[dataset] = latest_records(instance, asset_keys.odwb, codes)
        planned[dataset] = latest_records(instance, asset_keys.odwb, codes, planned=True)
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
    blocked = blocked_datasets(instance, {run_id for run_id, s in statuses.items() if s in FAILED})

    states = []
    for code, entry in sorted(active.items()):
        config = entry.config
        key = keys[code]
        for dataset in DATASETS:
            if dataset not in config.datasets:
                states.append(DatasetState(code, dataset, provided=False, state="not_provided"))
                continue
            publication = last[dataset].get(key)
            state = None
            latest_run = planned[dataset].get(key)
            if latest_run is not None and key in unpublished[dataset]:
                if (latest_run.run_id, dataset) in blocked:
                    state = "blocked"
                elif statuses.get(latest_run.run_id) in FAILED:
                    state = "failed"
            if state is None:  # the latest run published, or is still running
                state = (
                    "not_published" if publication is None else str(_metadata_value(publication, "status"))
                )
                if state not in ("published", "unchanged", "not_published"):
                    state = "published"
            report = reports.get(dataset, {}).get(key)
            rejected, reasons = rejects_from_report(report)
            table_online = published.get(dataset, {}).get(key) if publication is not None else None
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


# The state words of "this morning": short, the ones needing a person in bold.
MORNING_WORDS = {
    "published": "published",
    "unchanged": "unchanged",
    "late": "**late**",
    "blocked": "**blocked**",
    "failed": "**failed**",
    "not_published": "**never published**",
    "not_provided": "not provided",
}
NEEDS_ATTENTION = {"late", "blocked", "failed", "not_published"}


def morning_state(state: DatasetState, freshness_hours: float, now: datetime) -> str:
    """The scorecard's state, with "late" for a publication (published or unchanged) older than the
    commune's freshness_hours: its run did not happen, or has not published since."""
    if (
        state.state in ("published", "unchanged")
        and state.last_success is not None
        and (now - state.last_success).total_seconds() > freshness_hours * 3600
    ):
        return "late"
    return state.state


def _local(when: datetime | None) -> str:
    return when.astimezone(ZoneInfo(TIMEZONE)).strftime("%Y-%m-%d %H:%M") if when else "never"


def this_morning(
    states: list[DatasetState], catalog: Catalog, now: datetime
) -> tuple[str, str, dict[str, int]]:
    """(the grid, the list needing attention, the count per morning state) as Markdown for the UI."""
    by_commune: dict[str, list[DatasetState]] = {}
    for state in states:
        by_commune.setdefault(state.ins_code, []).append(state)
    counts: dict[str, int] = {}
    rows, attention = [], []
    short = {dataset: dataset.split("/")[1] for dataset in DATASETS}
    for code, commune_states in by_commune.items():
        config = catalog.active[code].config
        label = f"{config.commune.name} ({code})"
        cells, worst, successes = {}, 0, []
        for state in sorted(commune_states, key=lambda s: list(DATASETS).index(s.dataset)):
            word = morning_state(state, config.freshness_hours, now)
            counts[word] = counts.get(word, 0) + 1
            if state.last_success is not None:
                successes.append(state.last_success)
            cell = MORNING_WORDS[word]
            if state.provided and word != "not_published":
                cell += f" · {state.rows_online}"
            if state.rows_rejected:
                cell += f" · {state.rows_rejected} rej."
            cells[short[state.dataset]] = cell
            if word in NEEDS_ATTENTION or state.rows_rejected:
                worst += 2 if word in NEEDS_ATTENTION else 1
                reasons = ", ".join(f"{kind} ({n})" for kind, n in list(state.rejected_reasons.items())[:3])
                attention.append(
                    f"- {label} — {state.dataset}: {MORNING_WORDS[word]}, {state.rows_online} rows online"
                    + (f", {state.rows_rejected} rejected ({reasons})" if state.rows_rejected else "")
                    + f", last success {_local(state.last_success)}"
                )
        rows.append(
            (
                -worst,
                config.commune.name,
                {
                    "commune": label,
                    **cells,
                    "oldest success": _local(min(successes)) if successes else "never",
                },
            )
        )
    rows.sort(key=lambda row: (row[0], row[1]))
    table = pd.DataFrame(
        [row[2] for row in rows], columns=["commune", *short.values(), "oldest success"]
    ).fillna("")
    legend = (
        f"{len(rows)} active communes at {_local(now)} ({TIMEZONE}); those needing a person first. "
        "Each cell: state · rows online · rows rejected. Late = published longer ago than the commune's "
        "freshness_hours.\n\n"
    )
    grid = legend + markdown_table(table, rows=len(table), width=40)
    needs = (
        f"{len(attention)} commune × dataset to look at:\n\n" + "\n".join(attention)
        if attention
        else "Nothing to look at: every provided dataset is published, fresh and without rejected rows."
    )
    return grid, needs, counts


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


def columns_read(dataset: str) -> list[str]:
    """What the scorecard and its report read of a table online: the recommended fields (fill rates),
    the geometries (maps, points outside) and the id and name that title them."""
    schema = get_schema(dataset)
    key = schema.primary_key or schema.field_names[0]
    wanted = {
        *optional_fields(dataset),
        *geojson_fields(dataset),
        key,
        *({"name", "title"} & set(schema.field_names)),
    }
    return [name for name in schema.field_names if name in wanted]


_KEYS = all_dataset_keys()
_INS = {
    # Only the columns read: every commune's tables online are held at once (≈ 15% less memory at N=261).
    **{_input_name(k.odwb): dg.AssetIn(k.odwb, metadata={"columns": columns_read(k.dataset)}) for k in _KEYS},
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
    description="This morning at a glance (`this_morning` and `needs_attention` in the latest "
    "materialisation): every active commune × dataset — published, unchanged, blocked, failed, late, "
    "never published or not provided — with rows online and rejected; rebuilt after each night. "
    "Also the programme's scorecard: one row per active commune × dataset (state published / "
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
    grid, attention, morning = this_morning(states, loaded, now)
    context.log.info(
        f"scorecard of {len(c)} communes: states and tables read in {states_s:.1f}s, scorecard "
        f"{scorecard_s:.1f}s, report {report.seconds:.1f}s "
        f"({report.size_bytes / 1e6:.1f} MB) at {report.index}"
    )
    metadata: dict[str, Any] = {
        "needs_attention": dg.MetadataValue.md(attention),
        "this_morning": dg.MetadataValue.md(grid),
        **publication_metadata(publication),
        "report": dg.MetadataValue.path(str(report.index)),
        "report_files": len(report.pages) + 1,
        "report_size_mb": dg.MetadataValue.float(round(report.size_bytes / 1e6, 2)),
        "communes": len(c),
        "rows_online": int(c["rows_online"].sum()) if len(c) else 0,
        "rows_rejected": int(c["rows_rejected"].sum()) if len(c) else 0,
        "mean_score": dg.MetadataValue.float(round(float(c["score"].mean()), 1) if len(c) else 0.0),
        # This morning's states (with "late"), commune × dataset.
        "states": dg.MetadataValue.json({state: int(n) for state, n in sorted(morning.items())}),
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
