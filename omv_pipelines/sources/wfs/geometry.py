"""A page's geometries reprojected to WGS84 [lon, lat] GeoJSON text, with one pyproj call per CRS."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from omv_pipelines.sources.base import SourceError

# The EPSG code in any spelling: EPSG:31370, urn:ogc:def:crs:EPSG::31370, .../epsg.xml#4326.
EPSG_CODE = re.compile(r"EPSG\D*?(?:[\d.]*[:/])?(\d+)$", re.IGNORECASE)
# The geometry text of a feature whose coordinates are not finite numbers (NaN, Infinity): JSON has no
# such numbers, so it is no GeoJSON; the mapping step rejects it as an unreadable geometry, naming it.
NON_FINITE = (
    "unreadable geometry: coordinates that are not finite numbers (NaN or Infinity) in the WFS answer"
)


def wallonia_envelope() -> tuple[float, float, float, float]:
    """Wallonia's extent (lon_min, lat_min, lon_max, lat_max) from the real boundaries, read on first use."""
    from omv_pipelines import geography

    return geography.wallonia_envelope()


class Geometries:
    """The geometries of a page: templates + coordinate leaves, reprojected in one pyproj call per CRS.

    A leaf is an (n, 2) array, or the text of a GML pos/posList with its dimension: all the texts of a
    page are parsed in one numpy call rather than one per feature."""

    def __init__(self) -> None:
        self.leaves: list[np.ndarray | tuple[str, int]] = []  # in source axis order
        self.items: list[tuple[int, str, str, Any, str]] = []  # (row, column, type, template, crs key)
        self.non_finite = 0  # geometries given NON_FINITE instead of GeoJSON

    def leaf(self, coords: np.ndarray) -> int:
        self.leaves.append(coords)
        return len(self.leaves) - 1

    def text_leaf(self, text: str, dim: int) -> int:
        """Positions written as `dim` numbers each, separated by white space (GML pos / posList)."""
        if dim < 2:
            raise ValueError(f"srsDimension {dim}: positions need at least two coordinates")
        self.leaves.append((text, dim))
        return len(self.leaves) - 1

    def add(self, row: int, column: str, gtype: str, template: Any, crs: str) -> None:
        self.items.append((row, column, gtype, template, crs))

    def _arrays(self) -> list[np.ndarray]:
        """Every leaf as an (n, 2) array."""
        texts = [i for i, leaf in enumerate(self.leaves) if isinstance(leaf, tuple)]
        if not texts:
            return self.leaves  # type: ignore[return-value]
        tokens = [self.leaves[i][0].split() for i in texts]
        counts = np.fromiter(map(len, tokens), dtype=np.int64, count=len(texts))
        dims = np.fromiter((self.leaves[i][1] for i in texts), dtype=np.int64, count=len(texts))
        if (counts % dims).any():
            k = int(np.flatnonzero(counts % dims)[0])
            raise ValueError(f"{counts[k]} coordinates cannot be positions of dimension {dims[k]}")
        numbers = np.array([t for leaf in tokens for t in leaf], dtype=float)
        sizes = counts // dims
        first = np.cumsum(sizes) - sizes  # index of each leaf's first position
        position = np.arange(sizes.sum()) - np.repeat(first, sizes)
        x_at = np.repeat(np.cumsum(counts) - counts, sizes) + position * np.repeat(dims, sizes)
        xy = np.column_stack([numbers[x_at], numbers[x_at + 1]])
        arrays = list(self.leaves)
        for k, i in enumerate(texts):
            arrays[i] = xy[first[k] : first[k] + sizes[k]]
        return arrays  # type: ignore[return-value]

    def to_geojson(self, xy_order: bool, source_id: str) -> tuple[dict[tuple[int, str], str], np.ndarray]:
        """GeoJSON text per (row, column), and the rows having a vertex outside Wallonia's envelope.
        A geometry with a coordinate that is not a finite number gets the NON_FINITE text instead."""
        if not self.items:
            return {}, np.empty(0, dtype=int)
        arrays = self._arrays()
        sizes = np.fromiter((len(a) for a in arrays), dtype=np.int64, count=len(arrays))
        coords = np.concatenate(arrays) if arrays else np.empty((0, 2))
        leaf_crs = np.empty(len(arrays), dtype=object)
        leaf_row = np.empty(len(arrays), dtype=np.int64)
        for row, _, _, template, crs in self.items:
            for i in _leaves(template):
                leaf_crs[i], leaf_row[i] = crs, row
        point_crs = np.repeat(leaf_crs, sizes)
        lon, lat = np.empty(len(coords)), np.empty(len(coords))
        for crs in dict.fromkeys(point_crs):
            mask = point_crs == crs
            lon[mask], lat[mask] = _to_wgs84(coords[mask], crs, xy_order, source_id)
        finite = np.isfinite(lon) & np.isfinite(lat)  # NaN in the answer, or out of the CRS's domain
        lon_min, lat_min, lon_max, lat_max = wallonia_envelope()
        outside = finite & ((lon < lon_min) | (lon > lon_max) | (lat < lat_min) | (lat > lat_max))
        outside_rows = np.unique(np.repeat(leaf_row, sizes)[outside])
        points = len(arrays) == len(self.items) and all(item[2] == "Point" for item in self.items)
        if points and (sizes == 1).all() and finite.all():
            return self._points(lon, lat), outside_rows
        bad_leaf = np.zeros(len(arrays), dtype=bool)
        np.logical_or.at(bad_leaf, np.repeat(np.arange(len(arrays)), sizes), ~finite)
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        lonlat = np.column_stack([lon, lat]).tolist()
        leaves = [lonlat[bounds[i] : bounds[i + 1]] for i in range(len(arrays))]
        out = {}
        for row, column, gtype, template, _ in self.items:
            if bad_leaf.any() and bad_leaf[_leaves(template)].any():
                out[(row, column)] = NON_FINITE  # never NaN in the GeoJSON text: it is no JSON
                self.non_finite += 1
                continue
            coordinates = _fill(template, leaves)
            if gtype == "Point":
                coordinates = coordinates[0]
            geometry = {"type": gtype, "coordinates": coordinates}
            out[(row, column)] = json.dumps(geometry, separators=(",", ":"), allow_nan=False)
        return out, outside_rows

    def _points(self, lon: np.ndarray, lat: np.ndarray) -> dict[tuple[int, str], str]:
        """Points of one position each: the GeoJSON text written directly, as json.dumps writes it."""
        at = np.fromiter((item[3] for item in self.items), dtype=np.int64, count=len(self.items))
        return {
            (row, column): f'{{"type":"Point","coordinates":[{x!r},{y!r}]}}'
            for (row, column, *_), x, y in zip(self.items, lon[at].tolist(), lat[at].tolist(), strict=True)
        }


def _leaves(template: Any) -> list[int]:
    if isinstance(template, int):
        return [template]
    return [i for t in template for i in _leaves(t)]


def _fill(template: Any, leaves: list[list]) -> Any:
    if isinstance(template, int):
        return leaves[template]
    return [_fill(t, leaves) for t in template]


_TRANSFORMERS: dict[tuple[str, bool], tuple[Any, bool]] = {}


def _to_wgs84(
    coords: np.ndarray, crs_name: str, xy_order: bool, source_id: str
) -> tuple[np.ndarray, np.ndarray]:
    """Reproject (n, 2) coordinates given in `crs_name` to WGS84 lon, lat."""
    from pyproj import CRS, Transformer

    key = (crs_name, xy_order)
    if key not in _TRANSFORMERS:
        code = EPSG_CODE.search(crs_name.strip())
        try:
            crs = CRS.from_epsg(int(code.group(1))) if code else CRS.from_user_input(crs_name)
        except Exception as err:
            raise SourceError(
                source_id, f"unknown CRS {crs_name!r} in the WFS answer: {err}", "set srs to an EPSG code"
            ) from None
        # "http://www.opengis.net/gml/srs/epsg.xml#4326" is x,y by convention whatever the version.
        axis_xy = xy_order or "epsg.xml#" in crs_name.lower()
        swap = not axis_xy and crs.axis_info[0].direction.lower() in ("north", "south")
        _TRANSFORMERS[key] = (Transformer.from_crs(crs, "EPSG:4326", always_xy=True), swap)
    transformer, swap = _TRANSFORMERS[key]
    x, y = (coords[:, 1], coords[:, 0]) if swap else (coords[:, 0], coords[:, 1])
    lon, lat = transformer.transform(x, y)
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
