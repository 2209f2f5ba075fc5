"""What a commune page draws: the published geometries and the located problems of the validation report."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pandas as pd

from omv_pipelines.schemas import get_schema

# Belgium and a little around it: a bare pair of numbers is read as degrees only inside this box.
_LON = (2.0, 6.8)
_LAT = (49.0, 51.8)
_NUMBER = r"-?\d+(?:[.,]\d+)?"
_PAIR = re.compile(rf"^\s*(?:POINT\s*\(\s*)?({_NUMBER})\s*[\s;]\s*({_NUMBER})\s*\)?\s*$", re.IGNORECASE)
# How csv_format writes a point (json.dumps of the GeoJSON): read without json.loads.
_POINT = re.compile(r'^\{"coordinates": \[(-?[\d.eE+-]+), (-?[\d.eE+-]+)\], "type": "Point"\}$')
_PAIR_COMMA = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class Shape:
    kind: str  # "point" or "line" (lines and polygon rings are drawn as lines)
    coordinates: list[list[tuple[float, float]]]  # point: [[(lon, lat)]]; line: one list per part
    title: str


def geojson_fields(dataset: str) -> list[str]:
    return [f["name"] for f in get_schema(dataset).fields if f["type"] == "geojson"]


def _parts(geometry: dict) -> tuple[str, list[list[tuple[float, float]]]] | None:
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    if not isinstance(coords, list):
        return None
    try:
        if kind == "Point":
            return "point", [[(float(coords[0]), float(coords[1]))]]
        if kind == "MultiPoint":
            return "point", [[(float(c[0]), float(c[1]))] for c in coords]
        if kind == "LineString":
            return "line", [[(float(c[0]), float(c[1])) for c in coords]]
        if kind in ("MultiLineString", "Polygon"):
            return "line", [[(float(c[0]), float(c[1])) for c in part] for part in coords]
        if kind == "MultiPolygon":
            return "line", [[(float(c[0]), float(c[1])) for c in ring] for poly in coords for ring in poly]
    except (TypeError, ValueError, IndexError):
        return None
    return None


def _from_geojson_text(text: str) -> tuple[str, list[list[tuple[float, float]]]] | None:
    point = _POINT.match(text)
    if point:
        return "point", [[(float(point.group(1)), float(point.group(2)))]]
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, dict) and value.get("type") == "Feature":
        value = value.get("geometry")
    return _parts(value) if isinstance(value, dict) else None


def read_coordinate(text: object) -> tuple[float, float] | None:
    """A raw value as one (lon, lat) in degrees: GeoJSON or WKT point, or two numbers in either order
    (decimal comma allowed). Projected coordinates (the report does not say their CRS) are not read."""
    if not isinstance(text, str) or not text.strip():
        return None
    text = text.strip()
    if text.startswith("{"):
        parts = _from_geojson_text(text)
        return parts[1][0][0] if parts and parts[0] == "point" else None
    match = _PAIR.match(text) or _PAIR_COMMA.match(text)
    if not match:
        return None
    a, b = (float(v.replace(",", ".")) for v in match.groups())
    for lon, lat in ((a, b), (b, a)):
        if _LON[0] <= lon <= _LON[1] and _LAT[0] <= lat <= _LAT[1]:
            return lon, lat
    return None


def published_shapes(table: pd.DataFrame | None, dataset: str) -> list[Shape]:
    """Every geometry of the table online, titled with the record's id and name."""
    if table is None or table.empty:
        return []
    schema = get_schema(dataset)
    key = schema.primary_key or schema.field_names[0]
    label = next((n for n in ("name", "title") if n in table.columns), None)
    shapes = []
    for field in geojson_fields(dataset):
        if field not in table.columns:
            continue
        values = table[field].astype("string").fillna("")
        present = values.str.strip() != ""
        ids = (
            table[key].astype("string").fillna("")
            if key in table.columns
            else pd.Series("", index=table.index)
        )
        names = table[label].astype("string").fillna("") if label else pd.Series("", index=table.index)
        for text, record, name in zip(values[present], ids[present], names[present], strict=True):
            parts = _from_geojson_text(text)
            if parts is None:
                continue
            title = f"{schema.title} — {record}" + (f" : {name}" if name else "")
            shapes.append(Shape(parts[0], parts[1], title))
    return shapes


def problem_points(report: pd.DataFrame | None, dataset: str) -> tuple[list[tuple[Shape, str]], int]:
    """Problems on a geometry field whose raw value is a readable coordinate, with their severity;
    and how many geometry problems could not be placed on a map."""
    if report is None or report.empty:
        return [], 0
    fields = set(geojson_fields(dataset))
    title = get_schema(dataset).title
    on_geometry = report[report["field"].isin(fields)]
    located, unplaced = [], 0
    for row in on_geometry.itertuples(index=False):
        point = read_coordinate(row.raw_value)
        if point is None:
            unplaced += 1
            continue
        text = f"{title} — ligne {row.source_row} ({row.record_id}) : {row.error_type} — {row.message}"
        located.append((Shape("point", [[point]], text), str(row.severity)))
    return located, unplaced
