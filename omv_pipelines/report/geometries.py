"""What a commune page draws: the published geometries and the located problems of the validation report."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from omv_pipelines.schemas import get_schema
from omv_pipelines.scorecard.model import Stacked

# Belgium and a little around it: a bare pair of numbers is read as degrees only inside this box.
_LON = (2.0, 6.8)
_LAT = (49.0, 51.8)
_NUMBER = r"-?\d+(?:[.,]\d+)?"
_PAIR = re.compile(rf"^\s*(?:POINT\s*\(\s*)?({_NUMBER})\s*[\s;]\s*({_NUMBER})\s*\)?\s*$", re.IGNORECASE)
# How csv_format writes a point (json.dumps of the GeoJSON): read without json.loads.
_POINT = re.compile(r'^\{"coordinates": \[(-?[\d.eE+-]+), (-?[\d.eE+-]+)\], "type": "Point"\}$')
# The same with the keys the other way round (json.dumps of a dict built type first).
_POINT_TYPE_FIRST = re.compile(r'^\{"type": "Point", "coordinates": \[(-?[\d.eE+-]+), (-?[\d.eE+-]+)\]\}$')
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


def published_shapes_stacked(stacked: Stacked, dataset: str) -> list[tuple[int, Shape]]:
    """`published_shapes` for every commune's table of one dataset at once: (owner, shape), the owner
    being the index of the table's state in `stacked.states`. Points written as csv_format writes them are
    read by one regular expression; anything else goes through json."""
    frame = stacked.frame
    schema = get_schema(dataset)
    key = schema.primary_key or schema.field_names[0]
    label = next((n for n in ("name", "title") if n in frame.columns), None)
    ids = stacked.text(key)
    names = stacked.text(label) if label else np.full(len(frame), "", dtype=object)
    owners = stacked.owner.tolist()
    prefix = f"{schema.title} — "
    shapes: list[tuple[int, Shape]] = []
    for field in geojson_fields(dataset):
        if field not in frame.columns:
            continue
        for row, text in enumerate(stacked.text(field).tolist()):
            if not text or not text.strip():
                continue
            point = _POINT.match(text) or _POINT_TYPE_FIRST.match(text)
            if point:
                kind, parts = "point", [[(float(point.group(1)), float(point.group(2)))]]
            else:
                read = _from_geojson_text(text)
                if read is None:
                    continue
                kind, parts = read
            name = names[row]
            title = prefix + ids[row] + (f" : {name}" if name else "")
            shapes.append((owners[row], Shape(kind, parts, title)))
    return shapes


def problem_points_stacked(stacked: Stacked) -> tuple[list[tuple[int, Shape, str]], dict[int, int]]:
    """`problem_points` for every validation report at once: (owner, shape, severity) of the located
    problems, and owner → problems on a geometry field that could not be placed."""
    fields = stacked.text("field").tolist()
    geometry_fields = {
        dataset: set(geojson_fields(dataset)) for dataset in {s.dataset for s in stacked.states}
    }
    owners = stacked.owner.tolist()
    located: list[tuple[int, Shape, str]] = []
    unplaced: dict[int, int] = {}
    on_geometry = [
        row
        for row, field in enumerate(fields)
        if field in geometry_fields[stacked.states[owners[row]].dataset]
    ]
    if not on_geometry:
        return located, unplaced
    columns = {n: stacked.text(n) for n in ("raw_value", "source_row", "record_id", "error_type", "message")}
    severity = stacked.text("severity")
    for row in on_geometry:
        owner = owners[row]
        point = read_coordinate(columns["raw_value"][row])
        if point is None:
            unplaced[owner] = unplaced.get(owner, 0) + 1
            continue
        title = get_schema(stacked.states[owner].dataset).title
        text = (
            f"{title} — ligne {columns['source_row'][row]} ({columns['record_id'][row]}) : "
            f"{columns['error_type'][row]} — {columns['message'][row]}"
        )
        located.append((owner, Shape("point", [[point]], text), str(severity[row])))
    return located, unplaced
