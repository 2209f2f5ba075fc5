"""Geometry of a row → GeoJSON text in WGS84, [lon, lat], vectorised.

Points are the common case (defibrillators, bike racks, parking spaces): they are read from x/y columns,
WKT or GeoJSON with string operations and one pyproj call per column, never per row. Lines and polygons
(roadworks, playgrounds) come as WKT in any CRS — every vertex is extracted into one long table,
reprojected in one pyproj call and reassembled — or as GeoJSON text already in WGS84 (a WFS or PostGIS
source), which is re-emitted in the templates' form.

This module only reads and writes geometries. Where they lie (their commune, Wallonia) is decided by
`omv_pipelines.geography.place`, from the real commune boundaries; points keep their lon/lat here so
that it need not parse the text again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from omv_pipelines import geography
from omv_pipelines.normalise.cast import _to_number, as_text

_NUMBER = r"(-?\d+(?:[.,]\d+)?(?:[eE][-+]?\d+)?)"
_NUM = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"  # WKT numbers: the comma separates vertices, never decimals
_WKT_POINT = rf"^\s*POINT\s*Z?\s*\(\s*{_NUMBER}\s+{_NUMBER}(?:\s+{_NUMBER})?\s*\)\s*$"
_WKT_SHAPE = r"^\s*([A-Z]+)\s*(?:ZM|Z|M)?\s*(\(.*\))\s*$"
_WKT_VERTEX = rf"([\s\[\],]*)({_NUM})\s+({_NUM})(?:\s+{_NUM})*"  # after '(' → '[', ')' → ']'
_WKT_BODY = rf"(?:[\s(),]*{_NUM}\s+{_NUM}(?:\s+{_NUM})*)+[\s(),]*"
# WKT keyword → (GeoJSON type, how many '(' open the coordinates: LineString [[x, y], ...] is 1)
_WKT_TYPES = {
    "LINESTRING": ("LineString", 1),
    "POLYGON": ("Polygon", 2),
    "MULTIPOINT": ("MultiPoint", 1),
    "MULTILINESTRING": ("MultiLineString", 2),
    "MULTIPOLYGON": ("MultiPolygon", 3),
}
_GEOJSON_POINT = rf'"type"\s*:\s*"Point"\s*,\s*"coordinates"\s*:\s*\[\s*{_NUMBER}\s*,\s*{_NUMBER}'
_GEOJSON_POINT_REVERSED = (
    rf'"coordinates"\s*:\s*\[\s*{_NUMBER}\s*,\s*{_NUMBER}[^\]]*\]\s*,\s*"type"\s*:\s*"Point"'
)
_GEOJSON_ANY = (
    r'"type"\s*:\s*"(?:Point|MultiPoint|LineString|MultiLineString|Polygon|MultiPolygon|GeometryCollection)"'
)
_GEOJSON_VERTEX = rf"([\s\[\],]*?)\[\s*({_NUM})\s*,\s*({_NUM})(?:\s*,\s*{_NUM})*\s*\]"
_GEOJSON_SHAPE = r'"type"\s*:\s*"(MultiPoint|LineString|MultiLineString|Polygon|MultiPolygon)"'
_GEOJSON_COORDINATES = r'"coordinates"\s*:\s*(\[[\s\d\[\],.eE+-]*\])'
_LOOKS_LIKE_JSON = r"^\s*\{"


@dataclass
class Geometries:
    """GeoJSON text per row, and per-row flags the validator reports on."""

    geojson: pd.Series  # string, missing where no geometry
    unreadable: pd.Series  # bool: a value was there but is not a geometry we can read
    swapped: pd.Series  # bool: lat/lon were swapped and have been put right
    lon: pd.Series  # float64: the point's longitude (after any swap), NaN where the geometry is not a Point
    lat: pd.Series  # float64: the point's latitude, likewise

    @property
    def is_point(self) -> pd.Series:
        return self.lon.notna() & self.lat.notna()


def is_geographic(crs: str) -> bool:
    return crs.upper() in ("EPSG:4326", "WGS84", "CRS84", "OGC:CRS84")


def to_wgs84(x: pd.Series, y: pd.Series, crs: str) -> tuple[pd.Series, pd.Series]:
    """Reproject projected or geographic coordinates to lon/lat (axis order x=east, y=north)."""
    if is_geographic(crs):
        return x, y
    from pyproj import Transformer

    transformer = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lon, lat = transformer.transform(
        x.to_numpy(dtype="float64", na_value=np.nan), y.to_numpy(dtype="float64", na_value=np.nan)
    )
    return pd.Series(lon, index=x.index), pd.Series(lat, index=y.index)


def _coordinate_text(values: pd.Series) -> pd.Series:
    """Shortest text of each coordinate rounded to 8 decimals (about 1 mm), formatted by pyarrow."""
    import pyarrow as pa

    rounded = values.astype("float64").round(8).to_numpy()
    text = pa.array(rounded, from_pandas=True).cast(pa.string())
    return pd.Series(text, index=values.index, dtype="string")


def point_geojson(lon: pd.Series, lat: pd.Series) -> pd.Series:
    """`{"coordinates": [lon, lat], "type": "Point"}` — the key order of the FuturoCité templates."""
    return (
        '{"coordinates": [' + _coordinate_text(lon) + ", " + _coordinate_text(lat) + '], "type": "Point"}'
    ).astype("string")


def _empty(index: pd.Index) -> Geometries:
    false = pd.Series(False, index=index)
    nan = pd.Series(np.nan, index=index, dtype="float64")
    return Geometries(pd.Series(pd.NA, index=index, dtype="string"), false, false.copy(), nan, nan.copy())


def _combine(index: pd.Index, parts: list[Geometries]) -> Geometries:
    """Stitch together results computed on disjoint subsets of the rows."""
    result = _empty(index)
    for part in parts:
        rows = part.geojson.index
        result.geojson.loc[rows] = part.geojson
        for name in ("unreadable", "swapped"):
            getattr(result, name).loc[rows] = getattr(part, name).fillna(False).astype(bool)
        for name in ("lon", "lat"):
            getattr(result, name).loc[rows] = getattr(part, name).astype("float64")
    return result


def _points(lon: pd.Series, lat: pd.Series, present: pd.Series) -> Geometries:
    """Points, with lat/lon swaps put right when only the swapped order falls near Wallonia.

    Wallonia's extent decides a swap: swapped Belgian coordinates (lon 49–51, lat 2–7) are nowhere
    near it, and the geography check then holds the point to the real boundaries.
    """
    lon = lon.astype("float64")
    lat = lat.astype("float64")
    readable = lon.notna() & lat.notna()
    swapped = readable & ~geography.in_envelope(lon, lat) & geography.in_envelope(lat, lon)
    lon, lat = lon.mask(swapped, lat), lat.mask(swapped, lon)
    geojson = point_geojson(lon, lat).where(readable)
    return Geometries(
        geojson=geojson,
        unreadable=present & ~readable,
        swapped=swapped,
        lon=lon.where(readable).astype("float64"),
        lat=lat.where(readable).astype("float64"),
    )


def from_xy(x: pd.Series, y: pd.Series, crs: str) -> Geometries:
    present = as_text(x).notna() | as_text(y).notna()
    xs, ys = _to_number(x), _to_number(y)
    lon, lat = to_wgs84(xs, ys, crs)
    return _points(lon, lat, present)


def _assemble(kind: pd.Series, vertices: pd.DataFrame, tail: pd.Series, crs: str) -> pd.Series:
    """GeoJSON text from the vertices of each row.

    `vertices` comes from `str.extractall`: per vertex, the brackets and commas before it (already in
    GeoJSON form), x and y. `tail` holds the closing brackets of each row. One pyproj call for all
    vertices; the text of a row is put back together by a grouped concatenation, not a Python loop.
    """
    lon, lat = to_wgs84(_to_number(vertices[1]), _to_number(vertices[2]), crs)
    pieces = _separators(vertices[0]) + "[" + _coordinate_text(lon) + ", " + _coordinate_text(lat) + "]"
    rows = vertices.index.get_level_values(0)
    coordinates = pieces.set_axis(rows).groupby(level=0).sum()
    coordinates = coordinates + _separators(tail).loc[coordinates.index]
    geojson = '{"coordinates": ' + coordinates + ', "type": "' + kind.loc[coordinates.index] + '"}'
    return geojson.astype("string")


def _separators(text: pd.Series) -> pd.Series:
    """Brackets and commas between coordinates, spaced like the FuturoCité templates: '], ['."""
    return text.str.replace(r"\s+", "", regex=True).str.replace(",", ", ")


def _wkt_shapes(kind: pd.Series, body: pd.Series, crs: str) -> Geometries:
    """LINESTRING / POLYGON / MULTI* WKT → GeoJSON: '(' → '[', each 'x y' → '[lon, lat]', ')' → ']'."""
    index = body.index
    geojson_type = kind.map({k: v[0] for k, v in _WKT_TYPES.items()})
    depth = kind.map({k: v[1] for k, v in _WKT_TYPES.items()})
    # MULTIPOINT ((1 2), (3 4)) and MULTIPOINT (1 2, 3 4) are the same thing: keep the flat form.
    flat = body.str.replace(rf"\(\s*({_NUM}\s+{_NUM}(?:\s+{_NUM})*)\s*\)", r"\1", regex=True)
    body = body.mask(kind == "MULTIPOINT", flat)
    opening = body.str.extract(r"^([\s(]*)", expand=False).str.count(r"\(")
    balanced = body.str.count(r"\(") == body.str.count(r"\)")
    well_formed = body.str.fullmatch(_WKT_BODY).fillna(False) & balanced & (opening == depth)
    result = _empty(index)
    result.unreadable = ~well_formed
    body = body[well_formed].str.replace("(", "[").str.replace(")", "]")
    if body.empty:
        return result
    vertices = body.str.extractall(_WKT_VERTEX)
    tail = body.str.extract(r"([\s\[\],]*)$", expand=False)
    geojson = _assemble(geojson_type, vertices, tail, crs)
    result.geojson.loc[geojson.index] = geojson
    return result


def from_wkt(wkt: pd.Series, crs: str) -> Geometries:
    """WKT POINT, LINESTRING, POLYGON and their MULTI forms (Z values dropped) in the given CRS."""
    text = as_text(wkt)
    upper = text.str.upper()
    shape = upper.str.extract(_WKT_SHAPE)
    kind, body = shape[0], shape[1]
    is_point = (kind == "POINT").fillna(False)
    is_shape = kind.isin(list(_WKT_TYPES)).fillna(False)
    parts = []
    if is_point.any():
        coordinates = upper[is_point].str.extract(_WKT_POINT)
        points = from_xy(coordinates[0], coordinates[1], crs)
        points.unreadable = points.geojson.isna()
        parts.append(points)
    if is_shape.any():
        parts.append(_wkt_shapes(kind[is_shape], body[is_shape], crs))
    result = _combine(text.index, parts)
    result.unreadable = text.notna() & ~(is_point | is_shape) | result.unreadable
    return result


def from_geojson(text: pd.Series) -> Geometries:
    """GeoJSON geometry (or Feature) text in WGS84 → canonical GeoJSON geometry text.

    Points are checked for swapped axes. Lines and polygons are re-emitted in the templates' form
    (8 decimals, `{"coordinates": ..., "type": ...}`); a GeometryCollection is passed through unchanged.
    """
    text = as_text(text)
    point = text.str.extract(_GEOJSON_POINT)
    reversed_point = text.str.extract(_GEOJSON_POINT_REVERSED)
    lon = _to_number(point[0].fillna(reversed_point[0]))
    lat = _to_number(point[1].fillna(reversed_point[1]))
    collection = text.str.contains(r'"GeometryCollection"', regex=False).fillna(False)
    is_point = lon.notna() & lat.notna() & ~collection
    lon, lat = lon.where(is_point), lat.where(is_point)
    geometries = _points(lon, lat, is_point)
    other = text.notna() & ~is_point & text.str.contains(_GEOJSON_ANY, regex=True).fillna(False)
    geometries.geojson = geometries.geojson.mask(other, text)
    kind = text[other].str.extract(_GEOJSON_SHAPE, expand=False)
    coordinates = text[other].str.extract(_GEOJSON_COORDINATES, expand=False)
    shapes = coordinates[kind.notna() & coordinates.notna()]
    vertices = shapes.str.extractall(_GEOJSON_VERTEX)
    if not vertices.empty:
        tail = shapes.str.extract(r"\]([\s\]]*)$", expand=False)  # what closes after the last vertex
        geojson = _assemble(kind, vertices, tail, "EPSG:4326")
        geometries.geojson.loc[geojson.index] = geojson
    geometries.unreadable = text.notna() & ~is_point & ~other
    return geometries


def from_text(values: pd.Series, crs: str = "EPSG:4326") -> Geometries:
    """A column holding GeoJSON for some rows and WKT (in `crs`) for others: each read the right way."""
    text = as_text(values)
    is_json = text.str.contains(_LOOKS_LIKE_JSON, regex=True).fillna(False)
    parts = [from_geojson(text[is_json]), from_wkt(text[~is_json & text.notna()], crs)]
    return _combine(text.index, parts)
