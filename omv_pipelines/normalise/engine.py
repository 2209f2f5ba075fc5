"""Source-shaped table + mapping + schema → (valid rows in the schema, problems found, one row each).

The engine knows nothing of Dagster or of where the data came from. It works column by column with
vectorised pandas operations; the only Python loops are over the schema's fields. This module is the
order of the steps; each step lives in its own module: `columns` (which column feeds a field), `ids`
(record ids), `fields` (typing), `geometry_fields` (geometries and the map), `checks` (constraints,
commune, formulas) and `problems` (the problem table and its bilingual messages).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from omv_pipelines.catalog.communes import Commune
from omv_pipelines.normalise import cast
from omv_pipelines.normalise.checks import check_commune, check_constraints, check_formulas
from omv_pipelines.normalise.columns import ColumnResolver, MappingError, apply_vocabulary, column_key
from omv_pipelines.normalise.config import Mapping
from omv_pipelines.normalise.fields import type_field
from omv_pipelines.normalise.geometry_fields import (
    check_geometries,
    extra_geometries,
    first_geometries,
    harvested_geometry_rows,
    point_fields,
)
from omv_pipelines.normalise.ids import record_ids
from omv_pipelines.normalise.problems import PROBLEM_COLUMNS, Problems, bilingual
from omv_pipelines.schemas import DatasetSchema
from omv_pipelines.sources.base import SOURCE_ID, SOURCE_ROW

__all__ = [
    "PROBLEM_COLUMNS",
    "MappingError",
    "NormaliseResult",
    "bilingual",
    "column_key",
    "normalise",
    "point_fields",
]


@dataclass
class NormaliseResult:
    valid: pd.DataFrame  # exactly the schema's fields, typed
    rejected: pd.DataFrame  # one row per error that rejected a source row (PROBLEM_COLUMNS)
    warnings: pd.DataFrame  # problems that were fixed or tolerated; the row was kept (PROBLEM_COLUMNS)
    unknown_columns: list[str] = field(default_factory=list)  # source columns the schema does not know
    matched_columns: dict[str, str] = field(default_factory=dict)  # schema field → source column used
    source_rows: int = 0

    @property
    def rejected_rows(self) -> int:
        if self.rejected.empty:
            return 0
        return int(self.rejected[["source_id", "source_row"]].drop_duplicates().shape[0])


def normalise(
    raw: pd.DataFrame,
    schema: DatasetSchema,
    mapping: Mapping,
    commune: Commune,
    *,
    bbox: tuple[float, float, float, float] | None = None,
) -> NormaliseResult:
    """Map, type and validate a harvested table. Raises MappingError only for whole-table problems.

    Geometries are held to the real map (`geography.place`): outside Wallonia is an error, outside the
    commune a warning naming where the geometry lies. `bbox` (lon_min, lat_min, lon_max, lat_max), when
    the commune declares one in its catalogue, is a stricter extent: points outside it are rejected.
    """
    for column in (SOURCE_ID, SOURCE_ROW):
        if column not in raw.columns:
            raise MappingError(f"the harvested table has no {column} provenance column")
    raw = raw.reset_index(drop=True)
    resolver = ColumnResolver(raw, schema, mapping)
    index = raw.index

    # Text form of every input, before typing: what the commune sees in its source, for the report.
    inputs: dict[str, pd.Series] = {}
    typed: dict[str, pd.Series] = {}
    geometry_field = next((f["name"] for f in schema.fields if f["type"] == "geojson"), None)
    harvested = harvested_geometry_rows(raw, schema)
    points_only = point_fields(schema)

    ids = record_ids(raw, resolver, mapping, commune, schema.primary_key)
    problems = Problems(raw, ids.fillna("(no id)"))

    for spec in schema.fields:
        name, kind = spec["name"], spec["type"]
        if kind == "geojson":
            if name == geometry_field:
                geometries = first_geometries(raw, resolver, mapping.geometry, name, harvested)
            else:
                geometries = extra_geometries(raw, resolver, mapping, name, harvested)
            typed[name] = geometries.geojson
            inputs[name] = geometries.source_text
            check_geometries(
                geometries,
                name,
                point_only=name in points_only,
                commune=commune,
                bbox=bbox,
                problems=problems,
            )
            continue
        if name == schema.primary_key:
            source = ids
        elif name == "ins_code":
            source = resolver.constant_or(name, commune.ins_code)
        elif name == "municipality":
            source = resolver.constant_or(name, commune.name)
        else:
            source = resolver.series(name)
        if name in mapping.values:
            source = apply_vocabulary(source, mapping.values[name])
        inputs[name] = cast.as_text(source)
        typed[name] = type_field(spec, source, inputs[name], mapping.formats.get(name), problems)

    for spec in schema.fields:
        check_constraints(spec, typed[spec["name"]], inputs[spec["name"]], problems)
    check_commune(typed, commune, problems, schema.primary_key)

    table = pd.DataFrame(typed, index=index)[schema.field_names]
    rejected = problems.table("error")
    bad_rows = rejected.index.unique() if not rejected.empty else pd.Index([])
    check_formulas(schema, typed, inputs, problems, published=pd.Series(~index.isin(bad_rows), index=index))
    valid = table.drop(index=bad_rows).reset_index(drop=True)
    return NormaliseResult(
        valid=valid,
        rejected=rejected.reset_index(drop=True),
        warnings=problems.table("warning").reset_index(drop=True),
        unknown_columns=resolver.unused(),
        matched_columns=resolver.used,
        source_rows=len(raw),
    )
