"""Where a geometry lies: in its commune, in Wallonia, elsewhere in Belgium, or outside Belgium.

The one place that holds a geometry to the real map. The mapping engine (`normalise`) and the Dagster
check `coordinates_in_wallonia` both call `place()`. The map is the Statbel boundaries of the 565 Belgian
communes of 2025 shipped as `catalog/data/be_communes_2025.json` (built by `scripts/build_communes.py`;
Source: Statbel (FOD Economie / SPF Economie), via Opendatasoft georef-belgium-municipality). It is read
on first use, never when the Dagster definitions load, and shapely is imported then.

Rules (the README states them for communes):

- a point must lie in Wallonia (the union of its 261 communes): else it is an error that names where it
  lies ("lies in Anderlecht, Brussels-Capital Region", "lies outside Belgium");
- a point outside its own commune is a warning that names the commune where it lies and how far it is
  ("lies in Liège (62063), 53 km from Namur");
- a line or polygon must intersect Wallonia and stay in Belgium (error), and intersect its commune
  (warning): roadworks on a border street rightly cross into the next commune;
- messages are French, then English after " — " ("se trouve à Liège (62063), à 53 km de Namur — lies in
  Liège (62063), 53 km from Namur");
- every test allows TOLERANCE_M metres, because the boundaries are generalised (simplified) ones.

Distances and the tolerance are computed in a plane where one unit is one degree of latitude and
longitudes are scaled by cos(50.5°), the middle of Wallonia: within 2% over Wallonia, plenty for a
300 m tolerance and for "53 km from Namur". Everything is vectorised (shapely 2): a point is first
tested against its commune in one `contains_xy` call; only the few others go through an STRtree query.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources

import numpy as np
import pandas as pd

TOLERANCE_M = 300
BOUNDARIES_FILE = "data/be_communes_2025.json"
ATTRIBUTION = (
    "Source: Statbel (FOD Economie / SPF Economie), via Opendatasoft georef-belgium-municipality (2025)"
)
REGION_NAMES = {
    "wallonia": "Walloon Region",
    "flanders": "Flemish Region",
    "brussels": "Brussels-Capital Region",
}
REGION_NAMES_FR = {
    "wallonia": "Région wallonne",
    "flanders": "Région flamande",
    "brussels": "Région de Bruxelles-Capitale",
}
CRS_HINT = "check the coordinates and the CRS of the source (Lambert 72 is EPSG:31370)"
CRS_HINT_FR = "vérifiez les coordonnées et le CRS de la source (Lambert 72 est EPSG:31370)"
# Messages are French (the data officers' language), then English after " — " (as normalise's).
_AND = " — "

_K = math.cos(math.radians(50.5))  # longitude scale of the working plane
_METRES_PER_UNIT = 111_320.0  # one degree of latitude
_TOL = TOLERANCE_M / _METRES_PER_UNIT


def _decode(text: str) -> np.ndarray:
    """A Google encoded polyline (precision 5) → array of [lon, lat], vectorised with numpy."""
    chunks = np.frombuffer(text.encode("ascii"), dtype=np.uint8).astype(np.int64) - 63
    last = (chunks & 0x20) == 0  # the last 5-bit chunk of each number
    number = np.concatenate(([0], np.cumsum(last)[:-1]))
    first = np.flatnonzero(np.concatenate(([True], last[:-1])))
    shift = 5 * (np.arange(len(chunks)) - first[number])
    values = np.zeros(int(last.sum()), dtype=np.int64)
    np.add.at(values, number, (chunks & 0x1F) << shift)
    deltas = np.where(values & 1, ~(values >> 1), values >> 1)
    lat_lon = np.cumsum(deltas.reshape(-1, 2), axis=0) / 1e5
    return lat_lon[:, ::-1]


def _plane(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(lon, dtype="float64") * _K, np.asarray(lat, dtype="float64")


class Boundaries:
    """The shipped commune boundaries, in the working plane, with the indexes the checks need."""

    def __init__(self, document: dict):
        import shapely

        communes = document["communes"]
        self.attribution = document["attribution"]
        self.codes = np.array([c["id"] for c in communes])
        self.names = np.array([c["name"] for c in communes], dtype=object)
        self.regions = np.array([c["region"] for c in communes])
        self.labels = np.array([c["label"] for c in communes], dtype="float64")
        polygons = []
        for commune in communes:
            parts = []
            for rings in commune["polygons"]:
                coordinates = [_decode(ring) * [_K, 1.0] for ring in rings]
                parts.append(shapely.Polygon(coordinates[0], coordinates[1:]))
            polygons.append(parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts))
        self.polygons = np.array(polygons, dtype=object)
        shapely.prepare(self.polygons)
        self.bounds = shapely.bounds(self.polygons)
        self.index = {code: i for i, code in enumerate(self.codes)}
        self.walloon_codes = frozenset(self.codes[self.regions == "wallonia"])
        self._near: dict[str, object] = {}

    @cached_property
    def tree(self):
        import shapely

        return shapely.STRtree(self.polygons)

    @cached_property
    def wallonia_near(self):
        """Wallonia (the union of its communes) widened by the tolerance, prepared."""
        import shapely

        wallonia = shapely.coverage_union_all(
            self.polygons[self.regions == "wallonia"]
        )  # communes tile: fast
        near = shapely.buffer(wallonia, _TOL, quad_segs=2)
        shapely.prepare(near)
        return near

    @cached_property
    def belgium_near(self):
        import shapely

        near = shapely.buffer(shapely.coverage_union_all(self.polygons), _TOL, quad_segs=2)
        shapely.prepare(near)
        return near

    @property
    def wallonia_envelope(self) -> tuple[float, float, float, float]:
        walloon = self.bounds[self.regions == "wallonia"]
        x_min, y_min = walloon[:, :2].min(axis=0) - _TOL
        x_max, y_max = walloon[:, 2:].max(axis=0) + _TOL
        return (x_min / _K, y_min, x_max / _K, y_max)  # lon_min, lat_min, lon_max, lat_max

    def near(self, code: str):
        """The commune's polygon widened by the tolerance, prepared for fast point tests."""
        if code not in self._near:
            import shapely

            if code not in self.index:
                raise KeyError(f"INS code {code} has no boundary in {BOUNDARIES_FILE} (communes of 2025)")
            polygon = shapely.buffer(self.polygons[self.index[code]], _TOL, quad_segs=2)
            shapely.prepare(polygon)
            self._near[code] = polygon
        return self._near[code]

    def locate(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Index of the commune holding each point, else the nearest within the tolerance, else -1.

        One vectorised `contains_xy` per commune on the points inside its bounding box (found by
        binary search on the points sorted by x): no per-point Python.
        """
        import shapely

        where = np.full(len(x), -1, dtype=np.int64)
        if not len(x):
            return where
        order = np.argsort(x, kind="stable")
        xs = x[order]
        starts = np.searchsorted(xs, self.bounds[:, 0], side="left")
        ends = np.searchsorted(xs, self.bounds[:, 2], side="right")
        for i in np.flatnonzero(ends > starts):
            candidates = order[starts[i] : ends[i]]
            candidates = candidates[
                (y[candidates] >= self.bounds[i, 1]) & (y[candidates] <= self.bounds[i, 3])
            ]
            candidates = candidates[where[candidates] < 0]
            if candidates.size:
                inside = shapely.contains_xy(self.polygons[i], x[candidates], y[candidates])
                where[candidates[inside]] = i
        missing = np.flatnonzero(where < 0)
        if missing.size:  # on a border, in the generalisation's slack: the nearest commune, if close enough
            missing = missing[shapely.contains_xy(self.belgium_near, x[missing], y[missing])]
        if missing.size:
            near = self.tree.query_nearest(
                shapely.points(x[missing], y[missing]), max_distance=_TOL, all_matches=False
            )
            where[missing[near[0]]] = near[1]
        return where

    def describe(self, where: np.ndarray, french: bool = False) -> np.ndarray:
        """'in Liège (62063)' for a Walloon commune, 'in Anderlecht, Brussels-Capital Region' otherwise, else
        'outside Belgium' ('à Liège (62063)', 'à Anderlecht, Région de Bruxelles-Capitale', 'hors de
        Belgique' in French). Formatted once per distinct commune."""
        distinct, inverse = np.unique(where, return_inverse=True)
        text = np.array([self._describe_one(i, french) for i in distinct], dtype=object)
        return text[inverse]

    def _describe_one(self, i: int, french: bool) -> str:
        if i < 0:
            return "hors de Belgique" if french else "outside Belgium"
        at = _a(self.names[i]) if french else f"in {self.names[i]}"
        if self.regions[i] == "wallonia":
            return f"{at} ({self.codes[i]})"
        return f"{at}, {(REGION_NAMES_FR if french else REGION_NAMES)[self.regions[i]]}"


def _a(name: str) -> str:
    """'à Liège', 'au Rœulx' (Le Rœulx), 'aux Bons Villers' (Les Bons Villers)."""
    if name.startswith("Le "):
        return "au " + name[3:]
    if name.startswith("Les "):
        return "aux " + name[4:]
    return "à " + name


def _de(name: str) -> str:
    """'de Namur', "d'Arlon", 'du Rœulx', 'des Bons Villers' (an h is taken as aspirated: 'de Huy')."""
    if name.startswith("Le "):
        return "du " + name[3:]
    if name.startswith("Les "):
        return "des " + name[4:]
    return ("d'" if name[:1] in "AEIOUYÂÉÈÊÎÔ" else "de ") + name


@lru_cache(maxsize=1)
def boundaries() -> Boundaries:
    """Loaded once per process, on first use (about 0.5 s)."""
    text = resources.files("omv_pipelines.catalog").joinpath(BOUNDARIES_FILE).read_text("utf-8")
    return Boundaries(json.loads(text))


def wallonia_envelope() -> tuple[float, float, float, float]:
    """Wallonia's extent plus the tolerance (lon_min, lat_min, lon_max, lat_max): a prefilter, not a check."""
    return boundaries().wallonia_envelope


def in_envelope(lon: pd.Series, lat: pd.Series) -> pd.Series:
    lon_min, lat_min, lon_max, lat_max = wallonia_envelope()
    return lon.between(lon_min, lon_max) & lat.between(lat_min, lat_max)


@dataclass
class Placement:
    """Per row: is the geometry outside Wallonia (an error), outside its commune (a warning), and why."""

    outside_wallonia: pd.Series  # bool
    outside_commune: pd.Series  # bool
    message: pd.Series  # string, set where either flag is


def _away(x: np.ndarray, y: np.ndarray, home: int, b: Boundaries, french: bool = False) -> np.ndarray:
    """'53 km from Namur' ('à 53 km de Namur'), from the commune's label point, formatted once per distinct
    distance."""
    lon0, lat0 = b.labels[home]
    km = np.hypot(x - lon0 * _K, y - lat0) * _METRES_PER_UNIT / 1000
    rounded = np.where(km >= 10, np.round(km), np.round(km, 1))
    distinct, inverse = np.unique(rounded, return_inverse=True)
    text = np.array([f"{d * 1000:.0f} m" if d < 1 else f"{d:g} km" for d in distinct], dtype=object)
    if french:
        return "à " + text[inverse] + (" " + _de(b.names[home]))
    return text[inverse] + (" from " + b.names[home])


def place(geojson: pd.Series, lon: pd.Series, lat: pd.Series, ins_code: str) -> Placement:
    """Hold each row's geometry to the commune `ins_code` and to Wallonia.

    `lon`/`lat` carry the points (NaN elsewhere), read from the source without writing and parsing
    text again; the other non-empty `geojson` rows (lines, polygons, multi-geometries) are parsed by
    shapely. Rows with neither are left alone.
    """
    index = geojson.index
    outside_wallonia = np.zeros(len(index), dtype=bool)
    outside_commune = np.zeros(len(index), dtype=bool)
    message = np.full(len(index), None, dtype=object)
    lon_values = pd.to_numeric(lon, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    lat_values = pd.to_numeric(lat, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    is_point = ~np.isnan(lon_values) & ~np.isnan(lat_values)
    is_shape = geojson.notna().to_numpy() & ~is_point
    if is_point.any() or is_shape.any():
        b = boundaries()
        home = b.index[ins_code]
        if is_point.any():
            _place_points(
                b,
                home,
                ins_code,
                lon_values,
                lat_values,
                is_point,
                outside_wallonia,
                outside_commune,
                message,
            )
        if is_shape.any():
            _place_shapes(b, home, ins_code, geojson, is_shape, outside_wallonia, outside_commune, message)
    return Placement(
        outside_wallonia=pd.Series(outside_wallonia, index=index),
        outside_commune=pd.Series(outside_commune, index=index),
        message=pd.Series(message, index=index, dtype="string"),
    )


def _lies(b, where: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each geometry lies, as the message says it: (French, English)."""
    return "se trouve " + b.describe(where, french=True), "lies " + b.describe(where)


def _outside_wallonia(place_fr: np.ndarray, place_text: np.ndarray) -> np.ndarray:
    """The message of a geometry outside Wallonia (points and shapes alike), from where it lies."""
    return ("hors de Wallonie : " + place_fr + " ; " + CRS_HINT_FR + _AND) + (
        "outside Wallonia: " + place_text + "; " + CRS_HINT
    )


def _elsewhere(b, home, place_fr, place_text, x, y, lead: tuple[str, str] = ("", "")) -> np.ndarray:
    """The message of a geometry in Wallonia but not in its commune: where it lies, how far from home."""
    return (
        lead[0]
        + place_fr
        + ", "
        + _away(x, y, home, b, french=True)
        + _AND
        + lead[1]
        + place_text
        + ", "
        + _away(x, y, home, b)
    )


def _place_points(b, home, ins_code, lon, lat, is_point, outside_wallonia, outside_commune, message) -> None:
    import shapely

    x, y = _plane(lon, lat)
    rows = np.flatnonzero(is_point)
    at_home = shapely.contains_xy(b.near(ins_code), x[rows], y[rows])
    rows = rows[~at_home]  # usually few: the rest of the work is on these only
    if not rows.size:
        return
    x, y = x[rows], y[rows]
    in_wallonia = shapely.contains_xy(b.wallonia_near, x, y)
    where = b.locate(x, y)
    place_fr, place_text = _lies(b, where)
    outside_wallonia[rows] = ~in_wallonia
    outside_commune[rows] = in_wallonia
    out, inside = ~in_wallonia, in_wallonia
    message[rows[out]] = _outside_wallonia(place_fr[out], place_text[out])
    message[rows[inside]] = _elsewhere(b, home, place_fr[inside], place_text[inside], x[inside], y[inside])


def _place_shapes(b, home, ins_code, geojson, is_shape, outside_wallonia, outside_commune, message) -> None:
    import shapely

    rows = np.flatnonzero(is_shape)
    shapes = shapely.from_geojson(geojson.to_numpy(dtype=object)[rows], on_invalid="ignore")
    readable = ~shapely.is_missing(shapes) & ~shapely.is_empty(shapes)
    rows, shapes = rows[readable], shapes[readable]
    if not rows.size:
        return
    shapes = shapely.transform(shapes, lambda c: c * [_K, 1.0])
    touches_wallonia = shapely.intersects(b.wallonia_near, shapes)
    in_belgium = shapely.covers(b.belgium_near, shapes)
    touches_home = shapely.intersects(b.near(ins_code), shapes)
    anchor = shapely.point_on_surface(shapes)
    ax, ay = shapely.get_x(anchor), shapely.get_y(anchor)
    where = b.locate(ax, ay)
    place_fr, place_text = _lies(b, where)
    away = ~touches_wallonia
    leaving = touches_wallonia & ~in_belgium
    elsewhere = touches_wallonia & in_belgium & ~touches_home
    outside_wallonia[rows] = away | leaving
    outside_commune[rows] = elsewhere
    message[rows[away]] = _outside_wallonia(place_fr[away], place_text[away])
    message[rows[leaving]] = (
        "en partie hors de Belgique ; " + CRS_HINT_FR + _AND + "part of it lies outside Belgium; " + CRS_HINT
    )
    message[rows[elsewhere]] = _elsewhere(
        b,
        home,
        place_fr[elsewhere],
        place_text[elsewhere],
        ax[elsewhere],
        ay[elsewhere],
        lead=("n'atteint pas " + b.names[home] + " : ", "does not reach " + b.names[home] + ": "),
    )


def outside_box(lon: pd.Series, lat: pd.Series, bbox: tuple[float, float, float, float]) -> pd.Series:
    """Points outside a box a commune declared in its catalogue (an explicit, stricter extent)."""
    lon_min, lat_min, lon_max, lat_max = bbox
    present = lon.notna() & lat.notna()
    return present & ~(lon.between(lon_min, lon_max) & lat.between(lat_min, lat_max))
