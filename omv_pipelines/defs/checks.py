"""Asset checks, run inline with the assets they check, and the validation report shown in the UI.

On each commune's table: schema conformance, INS code of every row = the partition, unique ids,
geometries inside Wallonia (its real boundaries, `geography.place`, as in normalise), and a blocking
check that refuses an empty table or an unexplained drop in rows since the last publication (so that a
broken source never publishes over good data).
On each regional table: schema conformance, unique ids and the same blocking drop check against the
regional dataset's own last publication.

"The last publication" is what the target says is online (`Target.last_publication`), so a fresh Dagster
instance cannot forget it; the event log answers only when the target cannot.
"""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from omv_pipelines import geography
from omv_pipelines.catalog.communes import Commune
from omv_pipelines.defs.io_manager import is_refused
from omv_pipelines.defs.metadata import markdown_table
from omv_pipelines.errors import OmvError
from omv_pipelines.normalise import NormaliseResult
from omv_pipelines.normalise.geometry import from_geojson
from omv_pipelines.publish.safety import can_force, refusal_reason
from omv_pipelines.publish.targets import Target
from omv_pipelines.schemas import DatasetSchema

SCHEMA = "schema_conformance"
INS_CODE = "ins_code_is_partition"
UNIQUE_IDS = "unique_ids"
IN_WALLONIA = "coordinates_in_wallonia"
ROW_DROP = "no_unexplained_row_drop"
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
    return [
        dg.AssetCheckSpec(
            SCHEMA,
            asset=key,
            description="Columns, order and types are exactly the schema's; required fields filled.",
        ),
        dg.AssetCheckSpec(
            INS_CODE, asset=key, description="Every row's ins_code is the commune of the partition."
        ),
        dg.AssetCheckSpec(
            UNIQUE_IDS, asset=key, description="Every id appears once and starts with the commune's INS code."
        ),
        dg.AssetCheckSpec(
            IN_WALLONIA,
            asset=key,
            description="Every point lies in Wallonia and every line or polygon reaches it "
            "without leaving Belgium "
            f"(Statbel 2025 commune boundaries, {geography.TOLERANCE_M} m tolerance); "
            "geometries outside the commune are counted.",
        ),
        dg.AssetCheckSpec(
            ROW_DROP,
            asset=key,
            blocking=True,
            description="Blocks publication of an empty table or one that lost more rows than allowed "
            "since the last publication.",
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
            blocking=True,
            description=f"Blocks publication of an empty regional table or one that lost more than "
            f"{REGIONAL_MAX_ROW_DROP:.0%} of its rows since the regional dataset's last publication.",
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


def table_checks(
    key: dg.AssetKey,
    table: pd.DataFrame,
    schema: DatasetSchema,
    commune: Commune,
    previous_row_count: int | None,
    max_row_drop: float,
    *,
    forced: bool = False,
) -> Iterator[dg.AssetCheckResult]:
    problems = schema_problems(table, schema)
    yield dg.AssetCheckResult(
        check_name=SCHEMA,
        asset_key=key,
        passed=not problems,
        metadata={"problems": dg.MetadataValue.json(problems[:20])},
    )
    if "ins_code" in table:
        others = sorted(set(table["ins_code"].dropna()) - {commune.ins_code})
        yield dg.AssetCheckResult(
            check_name=INS_CODE,
            asset_key=key,
            passed=not others,
            metadata={"expected": commune.ins_code, "other_codes": dg.MetadataValue.json(others)},
        )
    else:
        yield dg.AssetCheckResult(
            check_name=INS_CODE, asset_key=key, passed=True, metadata={"note": "schema has no ins_code"}
        )
    ids = table[schema.primary_key] if schema.primary_key in table else pd.Series(dtype="string")
    duplicates = sorted(ids[ids.duplicated()].dropna().unique().tolist())
    wrong_prefix = int((~ids.str.startswith(commune.ins_code + "-").fillna(False)).sum())
    yield dg.AssetCheckResult(
        check_name=UNIQUE_IDS,
        asset_key=key,
        passed=not duplicates and wrong_prefix == 0,
        metadata={
            "duplicates": dg.MetadataValue.json(duplicates[:20]),
            "ids_without_ins_prefix": wrong_prefix,
        },
    )
    geometry = next((f["name"] for f in schema.fields if f["type"] == "geojson"), None)
    if geometry and geometry in table:
        # The published GeoJSON text read back and held to the map by the same code as normalise.
        shapes = from_geojson(table[geometry])
        placement = geography.place(
            shapes.geojson.where(~shapes.unreadable), shapes.lon, shapes.lat, commune.ins_code
        )
        wrong = placement.outside_wallonia | shapes.swapped | shapes.unreadable
        examples = placement.message[wrong].dropna().unique().tolist()[:5]
        yield dg.AssetCheckResult(
            check_name=IN_WALLONIA,
            asset_key=key,
            passed=not wrong.any(),
            metadata={
                "geometries": int(table[geometry].notna().sum()),
                "outside": int(wrong.sum()),
                "outside_commune": int(placement.outside_commune.sum()),
                "examples": dg.MetadataValue.json(examples),
            },
        )
    else:
        yield dg.AssetCheckResult(
            check_name=IN_WALLONIA, asset_key=key, passed=True, metadata={"note": "no geometry"}
        )
    yield row_drop_check(key, len(table), previous_row_count, max_row_drop, forced=forced)


def row_drop_check(
    key: dg.AssetKey, rows: int, previous_row_count: int | None, max_row_drop: float, *, forced: bool = False
) -> dg.AssetCheckResult:
    """The blocking check: no empty table, no drop beyond `max_row_drop` unless forced (never when empty)."""
    reason = refusal_reason(rows, previous_row_count, max_row_drop)
    forced = forced and can_force(rows)
    return dg.AssetCheckResult(
        check_name=ROW_DROP,
        asset_key=key,
        passed=reason is None or forced,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(reason + (" (forced by the run's tag)" if forced else "")) if reason else None,
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
    event log: the latest materialisation that a blocking check did not refuse."""
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
