"""Commune outlines as SVG path data, from the shipped Statbel boundaries (`geography.BOUNDARIES_FILE`).

Projection: equirectangular with longitudes scaled by cos(50.5°), the middle of Wallonia — the working
plane of `omv_pipelines.geography` (within 2% of true shape over Wallonia, and no pyproj call). The
encoded polylines are decoded with numpy (no shapely): the whole of Wallonia takes ~20 ms. Coordinates
are rounded to 0.1 px and repeated vertices dropped, which is the only simplification.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from omv_pipelines.geography import ATTRIBUTION, BOUNDARIES_FILE, _decode

__all__ = ["ATTRIBUTION", "Commune", "Projection", "communes", "region_bbox"]

K = math.cos(math.radians(50.5))


@dataclass(frozen=True)
class Commune:
    ins_code: str
    name: str
    region: str
    rings: tuple[np.ndarray, ...]  # [lon, lat] arrays, every ring of every polygon
    label: tuple[float, float]
    bbox: tuple[float, float, float, float]  # lon_min, lat_min, lon_max, lat_max


@lru_cache(maxsize=1)
def communes(region: str = "wallonia") -> dict[str, Commune]:
    text = resources.files("omv_pipelines.catalog").joinpath(BOUNDARIES_FILE).read_text("utf-8")
    result = {}
    for c in json.loads(text)["communes"]:
        if c["region"] != region:
            continue
        rings = tuple(_decode(ring) for polygon in c["polygons"] for ring in polygon)
        stacked = np.vstack(rings)
        lon_min, lat_min = stacked.min(axis=0).tolist()
        lon_max, lat_max = stacked.max(axis=0).tolist()
        bbox = (lon_min, lat_min, lon_max, lat_max)
        result[c["id"]] = Commune(c["id"], c["name"], c["region"], rings, tuple(c["label"]), bbox)
    return result


@dataclass(frozen=True)
class Projection:
    """lon/lat → SVG pixels for a box, fitted into `width` pixels (height follows the box's shape)."""

    lon_min: float
    lat_max: float
    scale: float  # pixels per degree of latitude
    width: float
    height: float

    @classmethod
    def fit(cls, bbox: tuple[float, float, float, float], width: float, margin: float = 0.04) -> Projection:
        lon_min, lat_min, lon_max, lat_max = bbox
        pad_lon, pad_lat = (lon_max - lon_min) * margin, (lat_max - lat_min) * margin
        lon_min, lon_max, lat_min, lat_max = (
            lon_min - pad_lon,
            lon_max + pad_lon,
            lat_min - pad_lat,
            lat_max + pad_lat,
        )
        scale = width / ((lon_max - lon_min) * K)
        return cls(lon_min, lat_max, scale, width, round((lat_max - lat_min) * scale, 1))

    def xy(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        lon, lat = np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64")
        return (lon - self.lon_min) * K * self.scale, (self.lat_max - lat) * self.scale

    def path(self, rings: tuple[np.ndarray, ...]) -> str:
        """SVG path data of rings (each closed with Z), rounded to 0.1 px, repeated points dropped."""
        parts = []
        for ring in rings:
            x, y = self.xy(ring[:, 0], ring[:, 1])
            points = np.round(np.column_stack([x, y]), 1)
            keep = np.ones(len(points), dtype=bool)
            keep[1:] = np.any(points[1:] != points[:-1], axis=1)
            points = points[keep]
            if len(points) < 3:
                continue
            text = " ".join(f"{px:g},{py:g}" for px, py in points.tolist())
            parts.append(f"M{text}Z")
        return "".join(parts)


@lru_cache(maxsize=4)
def region_bbox(region: str = "wallonia") -> tuple[float, float, float, float]:
    boxes = np.array([c.bbox for c in communes(region).values()])
    return (boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max())
