"""Geometry fields of a schema: which source column feeds each one, and the checks on the map.

Parsing a geometry text is `normalise.geometry`; this module decides where that text comes from (the
mapping, a column named like the field, or what a WFS/PostGIS source harvested) and holds the result to
the real map (`geography.place`), so that the rule is written once for every source kind.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from omv_pipelines import geography
from omv_pipelines.catalog.communes import Commune
from omv_pipelines.normalise import cast
from omv_pipelines.normalise.columns import ColumnResolver
from omv_pipelines.normalise.config import GeometryMapping, Mapping
from omv_pipelines.normalise.geometry import Geometries, from_geojson, from_text, from_wkt, from_xy
from omv_pipelines.normalise.problems import Problems, bilingual
from omv_pipelines.schemas import DatasetSchema
from omv_pipelines.sources.base import GEOMETRY, SOURCE_ID


def point_fields(schema: DatasetSchema) -> set[str]:
    """Geometry fields that accept only a Point.

    Every FuturoCité standard describes `coordinates` as the position of one thing (a defibrillator, a
    bike rack, a PMR space, an equipment: "les coordonnées de ...", a Point in each example); a zone is
    the separate `geometry` field. The project's own schemas (participation) accept a point or a surface.
    """
    standard = schema.standard or {}
    if standard.get("author") != "FuturoCité":
        return set()
    return {f["name"] for f in schema.fields if f["type"] == "geojson" and f["name"] == "coordinates"}


def geometry_types(geojson: pd.Series) -> pd.Series:
    """The GeoJSON type of each geometry, for messages (the canonical text ends with it)."""
    kind = geojson.str.extract(r'"type"\s*:\s*"(\w+)"\s*\}\s*$', expand=False)
    first = geojson.str.extract(r'"type"\s*:\s*"(\w+)"', expand=False)
    return kind.where(
        ~geojson.str.contains("GeometryCollection", regex=False).fillna(False), "GeometryCollection"
    ).fillna(first)


@dataclass
class SourcedGeometries(Geometries):
    source_text: pd.Series = None


# Which column feeds a geometry field — the one rule, for every source kind:
#
# 1. What the mapping names: `geometry:` (x/y, wkt, geojson) for the schema's first geometry field, or
#    `columns: {field: column}` for any field.
# 2. Else a source column named like the field (ignoring case and accents): a spreadsheet filled in
#    from a FuturoCité template has `coordinates` and, for équipements collectifs, the zone `geometry`;
#    each goes to its own field.
# 3. The geometry a WFS or PostGIS source harvests (the `geometry` column of rows whose provenance says
#    `(wfs)` or `(sql)`) fills the schema's first geometry field — the point in the FuturoCité standards —
#    on the rows where no column of rule 1 or 2 gave a value. It feeds another field (e.g. the zone) only
#    when mapped there explicitly. A `geometry` column that no schema field is named like is treated the
#    same way whatever the source, as the row's geometry.
_SPATIAL_SOURCE = r"\((?:wfs|sql)\)$"  # the kind at the end of a source id, e.g. '92094/...#1(wfs)'


def harvested_geometry_rows(raw: pd.DataFrame, schema: DatasetSchema) -> pd.Series | None:
    """Rows whose `geometry` column is the geometry a spatial source harvested (rule 3), or None."""
    if GEOMETRY not in raw.columns:
        return None
    if GEOMETRY not in schema.field_names:
        return pd.Series(True, index=raw.index)
    spatial = (
        raw[SOURCE_ID].astype("string").str.contains(_SPATIAL_SOURCE, regex=True).fillna(False).astype(bool)
    )
    return spatial if spatial.any() else None


def first_geometries(
    raw: pd.DataFrame,
    resolver: ColumnResolver,
    config: GeometryMapping | None,
    field_name: str,
    harvested: pd.Series | None,
) -> SourcedGeometries:
    """The schema's first geometry field: from x/y, WKT or GeoJSON columns, else by the rule above."""
    config = config or GeometryMapping()
    if config.x and config.y:
        x = resolver.take(resolver.source_column(config.x, field_name + " (x)"), field_name + " (x)")
        y = resolver.take(resolver.source_column(config.y, field_name + " (y)"), field_name + " (y)")
        result, text = from_xy(x, y, config.crs), cast.as_text(x) + " " + cast.as_text(y)
        return SourcedGeometries(**vars(result), source_text=text)
    if config.wkt:
        values = resolver.take(resolver.source_column(config.wkt, field_name), field_name)
        return SourcedGeometries(**vars(from_wkt(values, config.crs)), source_text=cast.as_text(values))
    if config.geojson:
        values = resolver.take(resolver.source_column(config.geojson, field_name), field_name)
        return SourcedGeometries(**vars(from_geojson(values)), source_text=cast.as_text(values))
    column = resolver.find(field_name)  # rules 1 and 2
    values = (
        cast.as_text(resolver.take(column, field_name))
        if column
        else pd.Series(pd.NA, index=raw.index, dtype="string")
    )
    if harvested is not None and column != GEOMETRY:  # rule 3
        fill = harvested & values.isna() & raw[GEOMETRY].notna()
        if fill.any():
            resolver.consumed.add(GEOMETRY)
            values = values.mask(fill, cast.as_text(raw[GEOMETRY]))
            if column is None:
                resolver.used[field_name] = GEOMETRY
    return SourcedGeometries(**vars(from_text(values, config.crs)), source_text=values)


def extra_geometries(
    raw: pd.DataFrame,
    resolver: ColumnResolver,
    mapping: Mapping,
    field_name: str,
    harvested: pd.Series | None,
) -> SourcedGeometries:
    """Another geometry field (e.g. the zone of a playground): GeoJSON or WKT text from its own column.

    A spatial source's harvested geometry is not taken here unless mapped explicitly (rule 3).
    """
    column = resolver.find(field_name)
    values = pd.Series(pd.NA, index=raw.index, dtype="string")
    if column is not None:
        harvested_here = (
            harvested
            if column == GEOMETRY and field_name not in mapping.columns and harvested is not None
            else None
        )
        if harvested_here is None:
            values = cast.as_text(resolver.take(column, field_name))
        elif not harvested_here.all():
            values = cast.as_text(resolver.take(column, field_name)).mask(harvested_here)
    crs = mapping.geometry.crs if mapping.geometry else "EPSG:4326"
    return SourcedGeometries(**vars(from_text(values, crs)), source_text=values)


def check_geometries(
    geometries: SourcedGeometries,
    name: str,
    *,
    point_only: bool,
    commune: Commune,
    bbox: tuple[float, float, float, float] | None,
    problems: Problems,
) -> None:
    """Unreadable, not a point where one is expected, outside Wallonia or the declared box (errors);
    outside the commune or swapped coordinates (warnings)."""
    text = geometries.source_text
    problems.add(
        geometries.unreadable,
        name,
        "invalid_geometry",
        bilingual(
            "géométrie illisible : attendu du GeoJSON, du WKT (POINT, LINESTRING, POLYGON ou leurs "
            "formes MULTI) ou des nombres x/y",
            "not a readable geometry: expected GeoJSON, WKT (POINT, LINESTRING, POLYGON or their "
            "MULTI forms) or x/y numbers",
        ),
        text,
    )
    checked = geometries.geojson.notna() & ~geometries.unreadable
    if point_only:
        not_point = checked & ~geometries.is_point
        problems.add(
            not_point,
            name,
            "not_a_point",
            bilingual(
                "un Point est attendu (le standard décrit une seule position) ; reçu : "
                + geometry_types(geometries.geojson[not_point]),
                "expected a Point (the standard describes one position); got a "
                + geometry_types(geometries.geojson[not_point]),
            ),
            text,
        )
        checked &= ~not_point
    placement = geography.place(
        geometries.geojson.where(checked), geometries.lon, geometries.lat, commune.ins_code
    )
    problems.add(placement.outside_wallonia, name, "outside_wallonia", placement.message, text)
    outside_box = pd.Series(False, index=geometries.geojson.index)
    if bbox is not None:
        outside_box = (
            geography.outside_box(geometries.lon, geometries.lat, bbox) & ~placement.outside_wallonia
        )
        problems.add(
            outside_box,
            name,
            "outside_commune",
            bilingual(
                f"point hors du rectangle englobant de {commune.name} {list(bbox)} (déclaré dans le "
                "catalogue)",
                f"point outside {commune.name}'s bounding box {list(bbox)} (set in the catalogue)",
            ),
            text,
        )
    problems.add(
        placement.outside_commune & ~outside_box,
        name,
        "outside_commune",
        placement.message,
        text,
        "warning",
    )
    problems.add(
        geometries.swapped,
        name,
        "swapped_coordinates",
        bilingual(
            "latitude et longitude inversées ; elles ont été remises dans l'ordre [lon, lat]",
            "latitude and longitude were swapped; they have been put in [lon, lat] order",
        ),
        text,
        "warning",
    )
