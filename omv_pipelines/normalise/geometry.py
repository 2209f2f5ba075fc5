"""Geometry of a row → GeoJSON text in WGS84, [lon, lat], vectorised.

Points are the common case (defibrillators, bike racks, parking spaces): they are read from x/y columns,
WKT or GeoJSON with string operations and one pyproj call per column, never per row. Other geometry
types (a WFS line or polygon, already reprojected by the source) are passed through as GeoJSON text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from omv_pipelines.catalog.communes import WALLONIA_BBOX
from omv_pipelines.normalise.cast import _to_number, as_text

_NUMBER = r"(-?\d+(?:[.,]\d+)?(?:[eE][-+]?\d+)?)"
_WKT_POINT = rf"^\s*POINT\s*Z?\s*\(\s*{_NUMBER}\s+{_NUMBER}(?:\s+{_NUMBER})?\s*\)\s*$"
_GEOJSON_POINT = rf'"type"\s*:\s*"Point"\s*,\s*"coordinates"\s*:\s*\[\s*{_NUMBER}\s*,\s*{_NUMBER}'
_GEOJSON_POINT_REVERSED = rf'"coordinates"\s*:\s*\[\s*{_NUMBER}\s*,\s*{_NUMBER}[^\]]*\]\s*,\s*"type"\s*:\s*"Point"'
_GEOJSON_ANY = r'"type"\s*:\s*"(?:Point|MultiPoint|LineString|MultiLineString|Polygon|MultiPolygon|GeometryCollection)"'


@dataclass
class Geometries:
    """GeoJSON text per row, and per-row flags the validator reports on."""

    geojson: pd.Series  # string, missing where no geometry
    unreadable: pd.Series  # bool: a value was there but is not a geometry we can read
    swapped: pd.Series  # bool: lat/lon were swapped and have been put right
    outside_wallonia: pd.Series  # bool: the point is not in Wallonia (after any swap)


def in_wallonia(lon: pd.Series, lat: pd.Series) -> pd.Series:
    lon_min, lat_min, lon_max, lat_max = WALLONIA_BBOX
    return lon.between(lon_min, lon_max) & lat.between(lat_min, lat_max)


def to_wgs84(x: pd.Series, y: pd.Series, crs: str) -> tuple[pd.Series, pd.Series]:
    """Reproject projected or geographic coordinates to lon/lat (axis order x=east, y=north)."""
    if crs.upper() in ("EPSG:4326", "WGS84", "CRS84", "OGC:CRS84"):
        return x, y
    from pyproj import Transformer

    transformer = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lon, lat = transformer.transform(x.to_numpy(dtype="float64", na_value=np.nan), y.to_numpy(dtype="float64", na_value=np.nan))
    return pd.Series(lon, index=x.index), pd.Series(lat, index=y.index)


def point_geojson(lon: pd.Series, lat: pd.Series) -> pd.Series:
    """`{"coordinates": [lon, lat], "type": "Point"}` — the key order of the FuturoCité templates."""
    lon_text = lon.round(8).astype("string")
    lat_text = lat.round(8).astype("string")
    return ('{"coordinates": [' + lon_text + ", " + lat_text + '], "type": "Point"}').astype("string")


def _points(lon: pd.Series, lat: pd.Series, present: pd.Series) -> Geometries:
    lon = lon.astype("float64")
    lat = lat.astype("float64")
    readable = lon.notna() & lat.notna()
    inside = in_wallonia(lon, lat)
    swapped = readable & ~inside & in_wallonia(lat, lon)
    lon, lat = lon.mask(swapped, lat), lat.mask(swapped, lon)
    geojson = point_geojson(lon, lat).where(readable)
    return Geometries(
        geojson=geojson,
        unreadable=present & ~readable,
        swapped=swapped,
        outside_wallonia=readable & ~in_wallonia(lon, lat),
    )


def from_xy(x: pd.Series, y: pd.Series, crs: str) -> Geometries:
    present = as_text(x).notna() | as_text(y).notna()
    xs, ys = _to_number(x), _to_number(y)
    if crs.upper() in ("EPSG:4326", "WGS84"):
        return _points(xs, ys, present)
    lon, lat = to_wgs84(xs, ys, crs)
    return _points(lon, lat, present)


def from_wkt(wkt: pd.Series, crs: str) -> Geometries:
    text = as_text(wkt)
    parts = text.str.upper().str.extract(_WKT_POINT)
    geometries = from_xy(parts[0], parts[1], crs)
    geometries.unreadable = text.notna() & geometries.geojson.isna()
    return geometries


def from_geojson(text: pd.Series) -> Geometries:
    """Points are re-emitted in canonical form (and checked for swapped axes); other types pass through."""
    text = as_text(text)
    point = text.str.extract(_GEOJSON_POINT)
    reversed_point = text.str.extract(_GEOJSON_POINT_REVERSED)
    lon = _to_number(point[0].fillna(reversed_point[0]))
    lat = _to_number(point[1].fillna(reversed_point[1]))
    is_point = lon.notna() & lat.notna()
    geometries = _points(lon, lat, is_point)
    other = text.notna() & ~is_point & text.str.contains(_GEOJSON_ANY, regex=True).fillna(False)
    geometries.geojson = geometries.geojson.mask(other, text)
    geometries.unreadable = text.notna() & ~is_point & ~other
    return geometries
