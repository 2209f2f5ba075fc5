"""Asset checks, run inline with the assets they check, and the validation report shown in the UI.

On each commune's table, recorded per commune partition (the Checks tab of a partition shows that
commune's results, each description naming the commune): conformance (the schema's columns and types,
the partition's INS code on every row, unique ids: one check, its metadata saying which rule failed),
geometries inside Wallonia (its real boundaries, `geography.place`, as in
normalise), rows rejected by validation (WARN: the count and the top reasons), and the drop check that
flags an empty table or an unexplained drop in rows since the last publication (ERROR, not blocking: the
step that made the table then refuses to store or publish it, in the project's words, see assets.py).
A commune that does not provide the dataset gets every check passed, described "not provided by …".
On each regional table: schema conformance, unique ids and the same drop check against the regional
dataset's own last publication.

"The last publication" is what the target says is online (`Target.last_publication`), so a fresh Dagster
instance cannot forget it; the event log answers only when the target cannot.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import dagster as dg
import pandas as pd

from omv_pipelines import geography
from omv_pipelines.catalog.communes import Commune
from omv_pipelines.defs.io_manager import is_refused
from omv_pipelines.defs.metadata import markdown_table
from omv_pipelines.defs.partitions import communes_partitions
from omv_pipelines.errors import OmvError
from omv_pipelines.normalise import NormaliseResult
from omv_pipelines.normalise.geometry import from_geojson
from omv_pipelines.publish.safety import can_force, refusal_reason
from omv_pipelines.publish.targets import Target
from omv_pipelines.schemas import DatasetSchema

SCHEMA = "schema_conformance"
UNIQUE_IDS = "unique_ids"
IN_WALLONIA = "coordinates_in_wallonia"
ROW_DROP = "no_unexplained_row_drop"
REJECTED = "no_rejected_rows"
TOP_REASONS = 3
# A regional dataset gathers every commune's last good publication, so it only shrinks when communes
# deliberately forced a drop through or their publications are missing from the tables folder: beyond
# this share, a person looks first (and re-runs the rebuild with the force tag).
REGIONAL_MAX_ROW_DROP = 0.2

_TYPE_DTYPES = {
    "string": "string",
    "geojson": "string",
    "integer": "Int64",
    "year": "Int64",
    "number": "Float64",
    "boolean": "boolean",
    "date": "datetime64[us]",
    "datetime": "datetime64[us, Europe/Brussels]",
}


def table_check_specs(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """Per commune partition (`partitions_def`): each result is recorded for the commune it judged."""

    def spec(name: str, description: str) -> dg.AssetCheckSpec:
        # `partitions_def` on a check is a preview API in Dagster 1.13, chosen on purpose (design notes):
        # its warning would greet every `dagster dev`, run worker and test. Only that warning is silenced.
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message=".*partitions_def on an AssetCheckSpec", category=dg.PreviewWarning
            )
            return dg.AssetCheckSpec(
                name, asset=key, description=description, partitions_def=communes_partitions
            )

    return [
        spec(
            SCHEMA,
            "Columns, order and types are exactly the schema's; required fields filled; every row's "
            "ins_code is the commune of the partition; every id appears once and starts with the "
            "commune's INS code.",
        ),
        spec(
            IN_WALLONIA,
            "Every point lies in Wallonia and every line or polygon reaches it without leaving Belgium "
            f"(Statbel 2025 commune boundaries, {geography.TOLERANCE_M} m tolerance); "
            "geometries outside the commune are counted.",
        ),
        spec(
            REJECTED,
            "Warns when validation rejected source rows: how many, and the top reasons "
            "(the full list is the quarantine asset's report).",
        ),
        spec(
            ROW_DROP,
            "Fails (ERROR) on an empty table or one that lost max_row_drop or more of its rows since the "
            "last publication; the table is then neither stored nor published and the last good "
            "publication stays online.",
        ),
    ]


def regional_check_specs(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            SCHEMA, asset=key, description="Columns, order and types are exactly the schema's."
        ),
        dg.AssetCheckSpec(UNIQUE_IDS, asset=key, description="Ids are unique across all communes."),
        dg.AssetCheckSpec(
            ROW_DROP,
            asset=key,
            description="Fails (ERROR) on an empty regional table or one that lost "
            f"{REGIONAL_MAX_ROW_DROP:.0%} or more of its rows since the regional dataset's last "
            "publication; the rebuild then publishes nothing and fails in its own words.",
        ),
    ]


def schema_problems(table: pd.DataFrame, schema: DatasetSchema) -> list[str]:
    problems = []
    if list(table.columns) != schema.field_names:
        problems.append(f"columns {list(table.columns)} differ from the schema's {schema.field_names}")
        return problems
    for spec in schema.fields:
        expected = _TYPE_DTYPES.get(spec["type"], "string")
        actual = str(table[spec["name"]].dtype)
        if actual != expected and not (expected == "string" and actual in ("str", "string")):
            problems.append(f"{spec['name']}: dtype {actual}, expected {expected}")
        if spec.get("constraints", {}).get("required") and table[spec["name"]].isna().any():
            problems.append(f"{spec['name']}: required but {int(table[spec['name']].isna().sum())} empty")
    return problems


def _label(commune: Commune) -> str:
    return f"{commune.name} ({commune.ins_code})"


def _listed(values: list, limit: int = 5) -> str:
    shown = ", ".join(map(str, values[:limit]))
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def table_checks(
    key: dg.AssetKey,
    table: pd.DataFrame,
    schema: DatasetSchema,
    commune: Commune,
    previous_row_count: int | None,
    max_row_drop: float,
    *,
    forced: bool = False,
    rejected: pd.DataFrame | None = None,
    source_rows: int | None = None,
) -> Iterator[dg.AssetCheckResult]:
    """Every check of a commune's table; each description starts with the commune's name."""
    who = _label(commune)
    yield conformance_check(key, table, schema, commune, who)
    geometry = next((f["name"] for f in schema.fields if f["type"] == "geojson"), None)
    if geometry and geometry in table:
        # The published GeoJSON text read back and held to the map by the same code as normalise.
        shapes = from_geojson(table[geometry])
        placement = geography.place(
            shapes.geojson.where(~shapes.unreadable), shapes.lon, shapes.lat, commune.ins_code
        )
        wrong = placement.outside_wallonia | shapes.swapped | shapes.unreadable
        examples = placement.message[wrong].dropna().unique().tolist()[:5]
        outside_commune = int(placement.outside_commune.sum())
        yield dg.AssetCheckResult(
            check_name=IN_WALLONIA,
            asset_key=key,
            passed=not wrong.any(),
            description=f"{who}: "
            + (
                f"{int(wrong.sum())} geometries outside Wallonia, e.g. {_listed(examples, 2)}"
                if wrong.any()
                else f"{int(table[geometry].notna().sum())} geometries in Wallonia"
            )
            + (f", {outside_commune} outside the commune" if outside_commune else ""),
            metadata={
                "geometries": int(table[geometry].notna().sum()),
                "outside": int(wrong.sum()),
                "outside_commune": outside_commune,
                "examples": dg.MetadataValue.json(examples),
            },
        )
    else:
        yield dg.AssetCheckResult(
            check_name=IN_WALLONIA, asset_key=key, passed=True, description=f"{who}: no geometry"
        )
    yield rejected_rows_check(key, who, rejected, source_rows)
    yield row_drop_check(key, len(table), previous_row_count, max_row_drop, forced=forced, who=who)


def conformance_check(
    key: dg.AssetKey, table: pd.DataFrame, schema: DatasetSchema, commune: Commune, who: str
) -> dg.AssetCheckResult:
    """The table is what the schema and the partition promise: columns, types, required fields, the
    commune's INS code on every row, ids unique and prefixed by it. One check, not three: normalise
    guarantees all of it by construction, so this is a safety net, and each check result costs the run
    three events; the metadata still says which rule failed."""
    problems = []  # whose rows and which ids first: the most telling, shown in the description
    others = sorted(set(table["ins_code"].dropna()) - {commune.ins_code}) if "ins_code" in table else []
    if others:
        problems.append(f"rows of other communes: {_listed(others)}")
    ids = table[schema.primary_key] if schema.primary_key in table else pd.Series(dtype="string")
    duplicates = sorted(ids[ids.duplicated()].dropna().unique().tolist())
    if duplicates:
        problems.append(f"duplicated ids: {_listed(duplicates)}")
    wrong_prefix = int((~ids.str.startswith(commune.ins_code + "-").fillna(False)).sum())
    if wrong_prefix:
        problems.append(f"{wrong_prefix} id(s) not starting with {commune.ins_code}-")
    problems += schema_problems(table, schema)
    return dg.AssetCheckResult(
        check_name=SCHEMA,
        asset_key=key,
        passed=not problems,
        description=f"{who}: "
        + (
            f"{len(problems)} problem(s): {_listed(problems, 3)}"
            if problems
            else f"columns and types as the schema, every row {commune.ins_code}, {len(ids)} unique ids"
        ),
        metadata={
            "problems": dg.MetadataValue.json(problems[:20]),
            "other_codes": dg.MetadataValue.json(others[:20]),
            "duplicates": dg.MetadataValue.json(duplicates[:20]),
            "ids_without_ins_prefix": wrong_prefix,
        },
    )


def top_reasons(rejected: pd.DataFrame | None, limit: int = TOP_REASONS) -> list[tuple[str, int]]:
    """[("missing_value on name", 3), …]: the rejecting problems, most frequent first."""
    if rejected is None or rejected.empty:
        return []
    counts = (
        rejected.assign(
            reason=rejected["error_type"].astype("string") + " on " + rejected["field"].astype("string")
        )
        .groupby("reason")
        .size()
        .sort_values(ascending=False, kind="stable")
    )
    return [(str(reason), int(n)) for reason, n in counts.head(limit).items()]


def rejected_count(rejected: pd.DataFrame | None) -> int:
    if rejected is None or rejected.empty:
        return 0
    return int(rejected[["source_id", "source_row"]].drop_duplicates().shape[0])


def rejected_rows_check(
    key: dg.AssetKey, who: str, rejected: pd.DataFrame | None, source_rows: int | None
) -> dg.AssetCheckResult:
    """WARN when validation rejected source rows: a green run must not hide that half the rows are gone."""
    count = rejected_count(rejected)
    reasons = top_reasons(rejected)
    of = f" of {source_rows}" if source_rows else ""
    share = f" ({count / source_rows:.0%})" if source_rows else ""
    description = (
        f"{who}: {count}{of} source rows rejected{share}; top reasons: "
        + ", ".join(f"{reason} ({n})" for reason, n in reasons)
        + " — see the quarantine asset's report"
        if count
        else f"{who}: no source row rejected" + (f" ({source_rows} read)" if source_rows else "")
    )
    return dg.AssetCheckResult(
        check_name=REJECTED,
        asset_key=key,
        passed=count == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata={"rows_rejected": count, "source_rows": source_rows if source_rows is not None else -1},
    )


def not_provided_checks(key: dg.AssetKey, commune: Commune) -> Iterator[dg.AssetCheckResult]:
    """A dataset the commune does not provide: nothing to judge, every check passes and says so."""
    for name in (SCHEMA, IN_WALLONIA, REJECTED, ROW_DROP):
        yield dg.AssetCheckResult(
            check_name=name,
            asset_key=key,
            passed=True,
            description=f"not provided by {_label(commune)}",
            metadata={"state": "not provided"},
        )


def row_drop_check(
    key: dg.AssetKey,
    rows: int,
    previous_row_count: int | None,
    max_row_drop: float,
    *,
    forced: bool = False,
    who: str | None = None,
) -> dg.AssetCheckResult:
    """The drop check: no empty table, no drop of `max_row_drop` or more unless forced (never when empty).
    ERROR, not blocking: the step that made the table refuses what it flags (assets.py)."""
    reason = refusal_reason(rows, previous_row_count, max_row_drop)
    forced = forced and can_force(rows)
    prefix = f"{who}: " if who else ""
    if reason:
        description = prefix + reason + (" (forced by the run's tag)" if forced else "")
    else:
        description = (
            prefix
            + f"{rows} rows"
            + (
                f" against {previous_row_count} at the last publication"
                if previous_row_count is not None
                else ""
            )
            + f" (a drop of {max_row_drop:.0%} or more is refused)"
        )
    return dg.AssetCheckResult(
        check_name=ROW_DROP,
        asset_key=key,
        passed=reason is None or forced,
        severity=dg.AssetCheckSeverity.ERROR,
        description=description,
        metadata={
            "rows": rows,
            "rows_at_last_publication": previous_row_count if previous_row_count is not None else -1,
            "max_row_drop": max_row_drop,
        },
    )


def regional_checks(
    key: dg.AssetKey,
    table: pd.DataFrame,
    schema: DatasetSchema,
    previous_row_count: int | None,
    *,
    forced: bool = False,
) -> Iterator[dg.AssetCheckResult]:
    problems = schema_problems(table, schema) if not table.empty else []
    yield dg.AssetCheckResult(
        check_name=SCHEMA,
        asset_key=key,
        passed=not problems,
        metadata={"problems": dg.MetadataValue.json(problems[:20])},
    )
    ids = table[schema.primary_key] if schema.primary_key in table else pd.Series(dtype="string")
    duplicates = sorted(ids[ids.duplicated()].dropna().unique().tolist())
    yield dg.AssetCheckResult(
        check_name=UNIQUE_IDS,
        asset_key=key,
        passed=not duplicates,
        metadata={"duplicates": dg.MetadataValue.json(duplicates[:20])},
    )
    if table.empty and previous_row_count is None:
        # No commune has published this dataset and nothing regional is online: nothing to protect.
        yield dg.AssetCheckResult(
            check_name=ROW_DROP,
            asset_key=key,
            passed=True,
            description="no commune has published this dataset yet: nothing to publish",
            metadata={"rows": 0},
        )
    else:
        yield row_drop_check(key, len(table), previous_row_count, REGIONAL_MAX_ROW_DROP, forced=forced)


def previous_row_count(
    target: Target,
    dataset_id: str,
    instance: dg.DagsterInstance,
    key: dg.AssetKey,
    partition: str | None,
    log=None,
) -> int | None:
    """Rows of what is published now as `dataset_id`: the target's answer (what is really online), else,
    when it has none or cannot be asked, the last publication in the event log of `key` (the odwb or
    regional asset)."""
    try:
        online = target.last_publication(dataset_id)
    except (OmvError, OSError, ValueError) as exc:
        online = None
        if log is not None:
            log.warning(
                f"{dataset_id}: cannot ask {target} what is published ({exc}); the event log answers instead"
            )
    if online is not None:
        return online.row_count
    return last_published_row_count(instance, key, partition)


def last_published_row_count(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None
) -> int | None:
    """Row count of the last publication of this dataset (a commune's partition, or regional), from the
    event log: the latest materialisation that the drop check did not refuse."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition is not None else None),
        limit=50,
    )
    for record in records.records:
        materialization = record.asset_materialization
        if materialization is None or is_refused(materialization.metadata):
            continue
        value = materialization.metadata.get("dagster/row_count")
        if value is None:
            return None
        row_count = value.value
        if not isinstance(row_count, int | float | str):
            raise TypeError(f"dagster/row_count is not a number: {row_count!r}")
        return int(row_count)
    return None


def report_markdown(result: NormaliseResult, limit: int = 50) -> str:
    """The validation report a commune's data officer reads: what was kept, what was rejected and why."""
    lines = [
        f"**{result.source_rows}** source rows → **{len(result.valid)}** published, "
        f"**{result.rejected_rows}** rejected, **{len(result.warnings)}** warnings.",
    ]
    if result.unknown_columns:
        lines.append(
            "Source columns the standard does not know (left out): "
            + ", ".join(f"`{c}`" for c in result.unknown_columns)
        )
    problems = pd.concat([result.rejected, result.warnings], ignore_index=True)
    if not problems.empty:
        summary = problems.groupby(["severity", "field", "error_type"]).size().reset_index(name="rows")
        lines += ["", "### Summary", markdown_table(summary, rows=100)]
        lines += [
            "",
            "### Details",
            markdown_table(
                problems[["source_row", "record_id", "field", "error_type", "message", "raw_value"]],
                rows=limit,
            ),
        ]
    return "\n".join(lines)
