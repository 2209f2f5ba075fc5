"""The features of a GetFeature page, GeoJSON or GML: values, ids, and geometries as templates whose
coordinates are left to `Geometries` (parsed and reprojected for the whole page at once)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from omv_pipelines.sources.base import GEOMETRY
from omv_pipelines.sources.wfs.client import local_name, parse_xml
from omv_pipelines.sources.wfs.geometry import Geometries

if TYPE_CHECKING:
    from lxml.etree import _Element as Element

_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


OnCount = Callable[[int, "int | None"], None]  # (features in the page, total the server announced)


def _count(text: str | None) -> int | None:
    """A count attribute as a number; "unknown" (ArcGIS, MapServer) or nothing is no count."""
    text = (text or "").strip()
    return int(text) if text.isdigit() else None


def parse_hits(content: bytes) -> int | None:
    """The total of a RESULTTYPE=hits answer: numberMatched (WFS 2.0) or numberOfFeatures (WFS 1.1)."""
    root = parse_xml(content)
    matched = root.get("numberMatched")
    return _count(matched) if matched is not None else _count(root.get("numberOfFeatures"))


@dataclass
class Page:
    """One GetFeature answer: a record per feature, their ids, and the total the server announced."""

    records: list[dict[str, Any]] = field(default_factory=list)
    ids: list[Any] = field(default_factory=list)
    number_matched: int | None = None


def parse_geojson(
    content: bytes, geoms: Geometries, default_crs: str, on_count: OnCount | None = None
) -> Page:
    """Features of a GeoJSON page; `on_count` hears their number (and the total) before they are read."""
    data = json.loads(content)
    features = data.get("features") or []
    page = Page()
    matched = data.get("numberMatched", data.get("totalFeatures"))  # "unknown" (ArcGIS) is no total
    page.number_matched = matched if isinstance(matched, int) and not isinstance(matched, bool) else None
    if on_count:
        on_count(len(features), page.number_matched)
    crs = ((data.get("crs") or {}).get("properties") or {}).get("name") or default_crs
    for row, feature in enumerate(features):
        record = dict(feature.get("properties") or {})
        geometry = feature.get("geometry")
        if geometry:
            gtype, template = _json_template(geometry, geoms)
            geoms.add(row, GEOMETRY, gtype, template, crs)
        record.setdefault(GEOMETRY, None)
        page.records.append(record)
        page.ids.append(feature.get("id"))
    return page


def parse_gml(content: bytes, geoms: Geometries, default_crs: str, on_count: OnCount | None = None) -> Page:
    """Features of a GML page; `on_count` hears their number (and the total) before they are read.
    Only WFS 2.0's numberMatched is a total: WFS 1.x numberOfFeatures counts the features of this answer."""
    root = parse_xml(content)
    page = Page()
    page.number_matched = _count(root.get("numberMatched"))
    features: list[Element] = []
    for holder in root:
        tag = local_name(holder.tag)
        if tag in ("featureMember", "member", "featureMembers"):
            features += [f for f in holder if local_name(f.tag) not in ("FeatureCollection", "Tuple")]
    if on_count:
        on_count(len(features), page.number_matched)
    for row, feature in enumerate(features):
        record: dict[str, Any] = {}
        has_geometry = False
        fid = next((v for k, v in feature.items() if local_name(k) in ("id", "fid")), None)
        for prop in feature:
            name = local_name(prop.tag)
            if name == "boundedBy":
                continue
            if not len(prop):  # a plain value
                record[name] = None if prop.get(_XSI_NIL) in ("true", "1") else prop.text
                continue
            geometry = prop[0]
            kind = local_name(geometry.tag)
            if "opengis.net/gml" in geometry.tag and _is_gml_geometry(kind):
                column = name if has_geometry else GEOMETRY  # the first geometry is the feature's
                has_geometry = True
                gtype = _GML_TYPES.get(kind)
                if gtype is None:
                    raise ValueError(f"unsupported GML geometry <{kind}> in property {name}")
                template = _gml_template(geometry, geoms, 2)
                geoms.add(row, column, gtype, template, geometry.get("srsName") or default_crs)
                record.setdefault(column, None)
            elif prop.get(_XSI_NIL) in ("true", "1"):
                record[name] = None
            else:  # e.g. a date in gml:timePosition: the value is the text
                record[name] = " ".join(" ".join(prop.itertext()).split())
        record.setdefault(GEOMETRY, None)
        page.records.append(record)
        page.ids.append(fid)
    return page


# Nesting of positions in GeoJSON coordinates: 0 = one position, 1 = a list of positions, ...
_JSON_DEPTH = {
    "Point": 0,
    "MultiPoint": 1,
    "LineString": 1,
    "MultiLineString": 2,
    "Polygon": 2,
    "MultiPolygon": 3,
}


def _json_template(geometry: dict, geoms: Geometries) -> tuple[str, Any]:
    """(type, template) of a GeoJSON geometry; coordinates become leaves of (n, 2) arrays."""
    gtype = geometry.get("type")
    if gtype not in _JSON_DEPTH:
        raise ValueError(f"unsupported geometry type {gtype!r}")

    def walk(node: Any, level: int) -> Any:
        if level == 0:  # one position
            return geoms.leaf(np.asarray([node[:2]], dtype=float))
        if level == 1:  # a list of positions
            array = np.asarray(node, dtype=float) if node else np.empty((0, 2))
            if array.ndim != 2:  # positions of mixed dimension
                array = np.asarray([p[:2] for p in node], dtype=float)
            return geoms.leaf(array[:, :2])
        return [walk(n, level - 1) for n in node]

    return gtype, walk(geometry["coordinates"], _JSON_DEPTH[gtype])


# GML geometry element → GeoJSON type
_GML_TYPES = {
    "Point": "Point",
    "LineString": "LineString",
    "Curve": "LineString",
    "Polygon": "Polygon",
    "Surface": "Polygon",
    "MultiPoint": "MultiPoint",
    "MultiLineString": "MultiLineString",
    "MultiCurve": "MultiLineString",
    "MultiPolygon": "MultiPolygon",
    "MultiSurface": "MultiPolygon",
}
# GML geometries we cannot turn into GeoJSON: a property holding one is an error, not a text value.
# Any other GML element in a property (gml:timePosition, gml:TimeInstant, ...) is read as its text.
_GML_UNSUPPORTED = {
    "MultiGeometry",
    "CompositeCurve",
    "CompositeSurface",
    "CompositeSolid",
    "OrientableCurve",
    "OrientableSurface",
    "PolyhedralSurface",
    "TriangulatedSurface",
    "Tin",
    "Solid",
    "MultiSolid",
    "Envelope",
    "Box",
    "Geometry",
}


def _is_gml_geometry(name: str) -> bool:
    return name in _GML_TYPES or name in _GML_UNSUPPORTED


def _gml_positions(node: Element, dim: int) -> tuple[str, int] | np.ndarray:
    """Positions under a GML point/curve/ring element (source axis order): the text of its posList or
    pos elements with their dimension, left for Geometries to parse with the whole page; or an (n, 2)
    array for GML 2 coordinates."""
    positions = []
    for child in node.iter():
        tag = local_name(child.tag)
        if tag in ("pos", "coord"):
            positions.append(child)
        elif tag == "posList":
            return child.text or "", int(child.get("srsDimension") or child.get("dimension") or dim)
        elif tag == "coordinates":
            cs, ts, dec = child.get("cs", ","), child.get("ts", " "), child.get("decimal", ".")
            text = (child.text or "").strip()
            tuples = text.split() if ts.isspace() else [t for t in text.split(ts) if t.strip()]
            rows = [[float(v.replace(dec, ".")) for v in t.strip().split(cs)][:2] for t in tuples]
            return np.array(rows, dtype=float).reshape(-1, 2)
    if all(local_name(p.tag) == "pos" for p in positions):
        d = int(positions[0].get("srsDimension") or dim) if positions else dim
        text = (positions[0].text or "") if len(positions) == 1 else " ".join(p.text or "" for p in positions)
        return text, d
    rows = []
    for p in positions:
        if local_name(p.tag) == "pos":
            rows.append([float(v) for v in (p.text or "").split()][:2])
        else:
            parts = {local_name(c.tag): float(c.text or "nan") for c in p}
            rows.append([parts.get("X", np.nan), parts.get("Y", np.nan)])
    return np.array(rows, dtype=float).reshape(-1, 2)


def _gml_leaf(node: Element, geoms: Geometries, dim: int) -> int:
    found = _gml_positions(node, dim)
    return geoms.leaf(found) if isinstance(found, np.ndarray) else geoms.text_leaf(*found)


def _gml_array(node: Element, dim: int) -> np.ndarray:
    found = _gml_positions(node, dim)
    if isinstance(found, np.ndarray):
        return found
    text, d = found
    return np.array(text.split(), dtype=float).reshape(-1, d)[:, :2]


def _gml_template(node: Element, geoms: Geometries, dim: int) -> Any:
    tag = local_name(node.tag)
    dim = int(node.get("srsDimension") or dim)
    if tag in ("Point", "LineString", "LinearRing"):
        return _gml_leaf(node, geoms, dim)
    if tag == "Curve":
        segments = [s for s in node.iter() if local_name(s.tag) == "LineStringSegment"]
        if not segments:
            raise ValueError("gml:Curve without LineStringSegment (arcs are not supported)")
        return geoms.leaf(np.concatenate([_gml_array(s, dim) for s in segments]))
    if tag in ("Polygon", "PolygonPatch"):
        rings = []
        for part in node:  # exterior first, then interiors, in document order
            if local_name(part.tag) in ("exterior", "outerBoundaryIs", "interior", "innerBoundaryIs"):
                ring = next((r for r in part if local_name(r.tag) in ("LinearRing", "Ring")), None)
                if ring is not None:
                    rings.append(_gml_leaf(ring, geoms, dim))
        return rings
    if tag == "Surface":
        return next(_gml_template(p, geoms, dim) for p in node.iter() if local_name(p.tag) == "PolygonPatch")
    if tag == "MultiPoint":  # one leaf holding all its points
        arrays = [_gml_array(p, dim) for p in node.iter() if local_name(p.tag) == "Point"]
        return geoms.leaf(np.concatenate(arrays) if arrays else np.empty((0, 2)))
    if tag.startswith("Multi"):  # members in curveMember(s), surfaceMember(s), polygonMember, ...
        return [
            _gml_template(part, geoms, dim)
            for holder in node
            if local_name(holder.tag).endswith(("Member", "Members"))
            for part in holder
        ]
    raise ValueError(f"unsupported GML geometry <{tag}>")
