"""WFS source against a real MapServer 8 served on loopback (omv_pipelines.demo.mapserver).

The test layers are GeoJSON files in Lambert 72 (EPSG:31370) written at test time; expected WGS84
coordinates come from pyproj. MapServer caps every GetFeature at 10 features, so 27 points take three
pages; WFS 1.1 does not declare that cap, WFS 2.0 does (CountDefault).
"""

from __future__ import annotations

import json
import shutil
import socket
from functools import partial
from pathlib import Path
from urllib.parse import urlencode

import pytest

from omv_pipelines.secrets import redact_url
from omv_pipelines.sources.base import GEOMETRY, SOURCE_ID, SOURCE_ROW, SourceError
from omv_pipelines.sources.wfs import WfsSource
from omv_pipelines.sources.wfs.harvest import harvest_wfs
from omv_pipelines_tests.support.loopback import Loopback, loopback_server
from omv_pipelines_tests.test_sources.wfs_cases import (
    ARCGIS_SCHEMA,
    ARCGIS_TOTAL,
    GML2_MULTIPOINT,
    GML3_POS_AND_3D,
    GML32_CURVE_AND_SURFACE,
    GML_SOLID,
    NAMUR,
    PLACES,
    QGIS_TOTAL,
    VERSION_REQUIRED,
    XML_ENTITY_BOMB,
    arcgis,
    geoserver,
    qgis,
    to_lambert,
)

pytestmark = pytest.mark.integration

CAP = 10


def _to_wgs84(coords: list) -> list:
    """Expected [lon, lat] for (nested) Lambert 72 coordinates, as pyproj computes them."""
    from pyproj import Transformer

    tr = Transformer.from_crs("EPSG:31370", "EPSG:4326", always_xy=True)
    if coords and isinstance(coords[0], (int, float)):
        return list(tr.transform(*coords))
    return [_to_wgs84(c) for c in coords]


def _feature_collection(features: list[dict]) -> dict:
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::31370"}}
    return {"type": "FeatureCollection", "crs": crs, "features": features}


def _square(x: float, y: float, size: float) -> list:
    return [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]


POINTS = [
    {
        "type": "Feature",
        "properties": {
            "ident": ident,
            "nom": f"DEA {place}",
            "commune": place,
            "n": i,
            "note": None if i % 5 else "",
            "hauteur": 1.25 * i,  # MapServer's schema says double; GML writes it as text
            "installe": f"2019-05-{i + 1:02d}",  # ISO date: MapServer's GML 3.2 puts it in gml:timePosition
        },
        "geometry": {"type": "Point", "coordinates": list(to_lambert(lon, lat))},
    }
    for i, (ident, place, lon, lat) in enumerate(PLACES)
]
LINES = [
    {
        "type": "Feature",
        "properties": {"code": "L1", "rue": "Rue de Fer"},
        "geometry": {
            "type": "LineString",
            "coordinates": [list(NAMUR), [NAMUR[0] + 250, NAMUR[1] + 40.5], [NAMUR[0] + 600, NAMUR[1] - 80]],
        },
    },
    {
        "type": "Feature",
        "properties": {"code": "L2", "rue": "Avenue Reine Astrid"},
        "geometry": {
            "type": "MultiLineString",
            "coordinates": [
                [[NAMUR[0] - 900, NAMUR[1]], [NAMUR[0] - 500, NAMUR[1] + 300]],
                [
                    [NAMUR[0] - 400, NAMUR[1] + 350],
                    [NAMUR[0] - 100, NAMUR[1] + 700],
                    [NAMUR[0], NAMUR[1] + 900],
                ],
            ],
        },
    },
    # A street in Reims: outside Wallonia, flagged in the stats but kept (validation comes later).
    {
        "type": "Feature",
        "properties": {"code": "L3", "rue": "Rue de Vesle"},
        "geometry": {
            "type": "LineString",
            "coordinates": [list(to_lambert(4.02, 49.25)), list(to_lambert(4.03, 49.26))],
        },
    },
]
ZONES = [
    {
        "type": "Feature",
        "properties": {"zone": "Z1", "nom": "Parc avec étang"},
        "geometry": {
            "type": "Polygon",
            "coordinates": [_square(NAMUR[0], NAMUR[1], 1000), _square(NAMUR[0] + 200, NAMUR[1] + 200, 100)],
        },
    },
    {
        "type": "Feature",
        "properties": {"zone": "Z2", "nom": "Deux îlots"},
        "geometry": {
            "type": "MultiPolygon",
            "coordinates": [
                [
                    _square(NAMUR[0] + 2000, NAMUR[1], 800),
                    _square(NAMUR[0] + 2100, NAMUR[1] + 100, 50),
                    _square(NAMUR[0] + 2300, NAMUR[1] + 300, 60),
                ],
                [_square(NAMUR[0] + 4000, NAMUR[1] + 4000, 300)],
            ],
        },
    },
]


@pytest.fixture(scope="module")
def wfs_url(tmp_path_factory: pytest.TempPathFactory):
    """URL of a MapServer WFS serving the three test layers, capped at CAP features per request."""
    if shutil.which("mapserv") is None:
        pytest.skip("MapServer is not installed (apt-get install cgi-mapserver mapserver-bin)")
    from omv_pipelines.demo.mapserver import MapServerWfs, WfsLayer

    folder = tmp_path_factory.mktemp("wfs")
    layers = []
    for name, features, feature_id in (
        ("defibrillateurs", POINTS, "ident"),
        ("troncons", LINES, "code"),
        ("zones", ZONES, "zone"),
    ):
        path = folder / f"{name}.geojson"
        path.write_text(json.dumps(_feature_collection(features), ensure_ascii=False), encoding="utf-8")
        layers.append(WfsLayer(name=name, path=path, epsg=31370, feature_id=feature_id, max_features=CAP))
    with MapServerWfs(layers) as server:
        yield server.url


def _geometry(frame, key_column: str, key: str) -> dict:
    return json.loads(frame.loc[frame[key_column] == key, GEOMETRY].iloc[0])


def _assert_close(got, expected, tol: float = 1e-7) -> None:
    if isinstance(expected[0], (int, float)):
        assert got == pytest.approx(expected, abs=tol)
    else:
        assert len(got) == len(expected)
        for g, e in zip(got, expected, strict=True):
            _assert_close(g, e, tol)


@pytest.mark.parametrize(
    ("version", "output_format", "expected_format"),
    [
        ("2.0.0", None, "application/gml+xml; version=3.2"),  # GeoJSON without ids → GML with ids
        ("2.0.0", "application/json; subtype=geojson", "application/json; subtype=geojson"),
        ("2.0.0", "TEXT/XML; SUBTYPE=GML/3.1.1", "text/xml; subtype=gml/3.1.1"),
        ("1.1.0", None, "text/xml; subtype=gml/3.1.1"),
        ("1.1.0", "application/json; subtype=geojson", "application/json; subtype=geojson"),
        ("1.0.0", "GML2", "GML2"),
        (None, None, "application/gml+xml; version=3.2"),
    ],
)
def test_points_every_feature_once_reprojected(wfs_url, version, output_format, expected_format):
    config = WfsSource(url=wfs_url, typename="defibrillateurs", version=version, output_format=output_format)
    harvest = harvest_wfs(config, source_id="namur/defibrillateurs")
    frame = harvest.frame

    assert sorted(frame["ident"]) == [p[0] for p in PLACES]  # each feature exactly once
    assert harvest.stats["features"] == len(PLACES)
    assert harvest.stats["pages"] == 3  # 10 + 10 + 7: the server cap was followed
    assert harvest.stats["output_format"] == expected_format
    assert harvest.stats["version"] == (version or "2.0.0")
    assert harvest.stats["outside_wallonia"] == 0
    if version == "1.1.0":
        assert harvest.stats["page_cap"] == CAP  # not declared by WFS 1.1: detected
    assert (frame[SOURCE_ID] == "namur/defibrillateurs").all()
    if "json" in expected_format:  # MapServer's GeoJSON has no feature ids: rows are numbered
        assert list(frame[SOURCE_ROW]) == list(range(len(PLACES)))
        assert harvest.stats["feature_ids"] == "position"
    else:
        assert sorted(frame[SOURCE_ROW]) == sorted(f"defibrillateurs.{p[0]}" for p in PLACES)

    by_ident = frame.set_index("ident")
    for i, (ident, place, _, _) in enumerate(PLACES):
        row = by_ident.loc[ident]
        assert row["nom"] == f"DEA {place}"
        assert row["commune"] == place
        assert row["n"] == i and row["hauteur"] == 1.25 * i  # GML typed from the schema, GeoJSON as sent
        assert row["installe"] == f"2019-05-{i + 1:02d}"
        geometry = json.loads(row[GEOMETRY])
        assert geometry["type"] == "Point"
        _assert_close(geometry["coordinates"], _to_wgs84(POINTS[i]["geometry"]["coordinates"]))
    assert "defibrillateurs" in harvest.location and "REQUEST=GetFeature" in harvest.location
    if "json" not in expected_format:  # GML text cast as DescribeFeatureType declares the attributes
        assert harvest.stats["typed_from_schema"] is True
        assert (str(frame["n"].dtype), str(frame["hauteur"].dtype)) == ("Int64", "Float64")
        assert frame["ident"].dtype == "str" and frame["installe"].dtype == "str"  # dates stay ISO text
    else:
        assert "typed_from_schema" not in harvest.stats  # GeoJSON values are typed already


def test_max_features_and_small_pages(wfs_url):
    config = WfsSource(url=wfs_url, typename="ms:defibrillateurs", page_size=4, max_features=9)
    harvest = harvest_wfs(config, source_id="s")
    assert list(harvest.frame["ident"]) == [p[0] for p in PLACES[:9]]
    assert harvest.stats["pages"] == 3  # 4 + 4 + 1


def test_srs_can_be_chosen(wfs_url):
    """Lambert 2008 on the wire gives the same WGS84 points as the native Lambert 72."""
    native = harvest_wfs(WfsSource(url=wfs_url, typename="defibrillateurs"), source_id="s").frame
    config = WfsSource(url=wfs_url, typename="defibrillateurs", srs="EPSG:3812")
    lambert2008 = harvest_wfs(config, source_id="s")
    assert lambert2008.stats["srs"] == "urn:ogc:def:crs:EPSG::3812"
    for ident in ("D01", "D06", "D16"):
        a = _geometry(native, "ident", ident)["coordinates"]
        b = _geometry(lambert2008.frame, "ident", ident)["coordinates"]
        assert b == pytest.approx(a, abs=1e-6)


SHAPE_CASES = [("2.0.0", None), ("1.1.0", None), ("2.0.0", "geojson"), ("1.0.0", "gml2")]


@pytest.mark.parametrize(("version", "output_format"), SHAPE_CASES)
def test_lines(wfs_url, version, output_format):
    config = WfsSource(url=wfs_url, typename="troncons", version=version, output_format=output_format)
    harvest = harvest_wfs(config, source_id="s")
    frame = harvest.frame
    assert sorted(frame["code"]) == ["L1", "L2", "L3"]
    assert harvest.stats["outside_wallonia"] == 1
    assert "page_cap" not in harvest.stats  # 3 features in a short first page is not a cap
    for feature in LINES:
        got = _geometry(frame, "code", feature["properties"]["code"])
        assert got["type"] == feature["geometry"]["type"]
        _assert_close(got["coordinates"], _to_wgs84(feature["geometry"]["coordinates"]))
    assert frame.loc[frame["code"] == "L2", "rue"].iloc[0] == "Avenue Reine Astrid"


@pytest.mark.parametrize(("version", "output_format"), SHAPE_CASES)
def test_polygons_with_holes(wfs_url, version, output_format):
    """MapServer serves a polygon layer as MultiSurface/MultiPolygon: compare each ring."""
    config = WfsSource(url=wfs_url, typename="zones", version=version, output_format=output_format)
    frame = harvest_wfs(config, source_id="s").frame
    assert sorted(frame["zone"]) == ["Z1", "Z2"]
    assert frame.loc[frame["zone"] == "Z1", "nom"].iloc[0] == "Parc avec étang"
    for feature in ZONES:
        got = _geometry(frame, "zone", feature["properties"]["zone"])
        expected = feature["geometry"]["coordinates"]
        polygons = [expected] if feature["geometry"]["type"] == "Polygon" else expected
        if got["type"] == "Polygon":
            got_polygons = [got["coordinates"]]
        else:
            assert got["type"] == "MultiPolygon"
            got_polygons = got["coordinates"]
        assert [len(p) for p in got_polygons] == [len(p) for p in polygons]  # holes kept
        _assert_close(got_polygons, _to_wgs84(polygons))


# ------------------------------------------------------------------------------------------ errors


def test_unknown_typename_lists_the_available_ones(wfs_url):
    with pytest.raises(SourceError) as caught:
        harvest_wfs(WfsSource(url=wfs_url, typename="defibrilateurs"), source_id="namur/dea")
    message = str(caught.value)
    assert "'defibrilateurs' is not offered" in message
    assert "ms:defibrillateurs" in message and "ms:zones" in message
    assert caught.value.source_id == "namur/dea"


def test_nothing_listening_is_a_clear_error():
    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = WfsSource(url=f"http://127.0.0.1:{port}/wfs", typename="x", timeout_s=2, retries=0)
    with pytest.raises(SourceError) as caught:
        harvest_wfs(config, source_id="s")
    assert f"cannot reach the WFS at http://127.0.0.1:{port}/wfs" in str(caught.value)
    assert "server is up" in str(caught.value)


def test_service_exception_report_is_shown(wfs_url):
    """An SRS the layer does not offer: MapServer answers with an OGC exception report."""
    config = WfsSource(url=wfs_url, typename="defibrillateurs", version="1.1.0", srs="EPSG:2154")
    with pytest.raises(SourceError) as caught:
        harvest_wfs(config, source_id="s")
    message = str(caught.value)
    assert "reported an error" in message
    assert "msWFS" in message  # the server's own text


def test_output_format_not_offered(wfs_url):
    config = WfsSource(url=wfs_url, typename="defibrillateurs", output_format="shape-zip")
    with pytest.raises(SourceError, match=r"output format 'shape-zip' is not offered.*geojson"):
        harvest_wfs(config, source_id="s")


def test_url_from_environment_and_version_pinned(wfs_url, monkeypatch):
    monkeypatch.setenv("OMV_TEST_WFS_URL", wfs_url)
    config = WfsSource(
        url="http://127.0.0.1:9/unused", url_env="OMV_TEST_WFS_URL", typename="zones", version="1.1.0"
    )
    assert harvest_wfs(config, source_id="s").stats["version"] == "1.1.0"
    monkeypatch.delenv("OMV_TEST_WFS_URL")
    with pytest.raises(SourceError, match="OMV_TEST_WFS_URL"):
        harvest_wfs(WfsSource(url_env="OMV_TEST_WFS_URL", typename="zones"), source_id="s")


class _Gate:
    """A loopback HTTP front for the WFS: fails the first requests, checks Basic auth, relays the rest."""

    def __init__(
        self,
        upstream: str,
        failures: int = 0,
        status: int = 503,
        auth: str | None = None,
        drop: str = "\0",
        refuse_unversioned: bool = False,
    ):
        import requests

        def relay(method, path, query, headers, body):
            if auth and headers.get("Authorization") != auth:
                return 401, {"Content-Type": "text/plain"}, b"login required"
            if refuse_unversioned and not any(k.upper() == "VERSION" for k in query):
                return 400, {"Content-Type": "text/xml"}, VERSION_REQUIRED
            if len(self.server.requests) <= failures:
                page = b"<html><body><h1>backend is down</h1></body></html>"
                return status, {"Content-Type": "text/html"}, page
            kept = {k: v for k, v in query.items() if not f"{k.upper()}=".startswith(drop)}
            resp = requests.get(f"{upstream}?{urlencode(kept)}", timeout=30)
            return resp.status_code, {"Content-Type": resp.headers.get("Content-Type", "")}, resp.content

        self.server: Loopback = loopback_server(relay).start()
        self.url = self.server.url("/wfs")

    @property
    def seen(self) -> int:
        return len(self.server.requests)

    @property
    def paths(self) -> list[str]:
        return [r.target for r in self.server.requests]

    def close(self):
        self.server.stop()


def test_retries_after_server_errors(wfs_url):
    gate = _Gate(wfs_url, failures=2)
    try:
        config = WfsSource(url=gate.url, typename="zones", retries=2)
        assert len(harvest_wfs(config, source_id="s").frame) == 2
    finally:
        gate.close()


def test_geojson_without_ids_costs_one_feature_not_apage_range(wfs_url):
    """MapServer's GeoJSON has no feature ids: a one-feature probe finds out, then GML pages follow."""
    from urllib.parse import parse_qs

    gate = _Gate(wfs_url)
    try:
        harvest = harvest_wfs(WfsSource(url=gate.url, typename="defibrillateurs"), source_id="s")
    finally:
        gate.close()
    assert harvest.stats["output_format"] == "application/gml+xml; version=3.2"
    getfeature = [parse_qs(p.partition("?")[2]) for p in gate.paths if "REQUEST=GetFeature" in p]
    hits = [q for q in getfeature if q.get("RESULTTYPE") == ["hits"]]
    json_requests = [q for q in getfeature if "json" in q.get("OUTPUTFORMAT", [""])[0]]
    assert [q["COUNT"] for q in json_requests] == [["1"]]
    # The probe, then 10 + 10 + 7 features and, once the first page is full, a count of all (hits);
    # MapServer counts hits only up to its cap (10), so that count is not taken as the total.
    assert len(getfeature) == 1 + 3 + 1 and len(hits) == 1
    assert harvest.stats["hits_ignored"] == CAP
    # MapServer's GML pages say numberMatched="unknown" but for the last one, which gives the total.
    assert (harvest.stats["features_announced"], harvest.stats["announced_by"]) == (27, "numberMatched")
    assert harvest.stats["end_detected_by"] == "announced total"


def test_sort_by_makes_pages_follow_an_order(wfs_url):
    """MapServer 8 declares ImplementsSorting (FES conformance) and sorts OGR layers (MS RFC 105):
    SORTBY goes with every page and the pages come in that order, not the file's."""
    from urllib.parse import parse_qs

    gate = _Gate(wfs_url)
    try:
        config = WfsSource(url=gate.url, typename="defibrillateurs", sort_by="commune")
        harvest = harvest_wfs(config, source_id="s")
    finally:
        gate.close()
    assert list(harvest.frame["commune"]) == sorted(p[1] for p in PLACES) != [p[1] for p in PLACES]
    assert harvest.stats["sorted_by"] == "commune" and harvest.stats["pages"] == 3
    asked = [parse_qs(p.partition("?")[2]) for p in gate.paths if "REQUEST=GetFeature" in p]
    pages = [q for q in asked if "gml" in q.get("OUTPUTFORMAT", [""])[0]]  # not the GeoJSON probe, not hits
    assert [q["SORTBY"] for q in pages] == [["commune ASC"]] * 3


def test_sort_by_is_not_sent_without_sorting_or_paging(wfs_url):
    """WFS 1.1 declares no sorting; a harvest that fits in one request needs no order."""
    config = WfsSource(url=wfs_url, typename="defibrillateurs", version="1.1.0", sort_by="commune")
    harvest = harvest_wfs(config, source_id="s")
    assert "sorted_by" not in harvest.stats and len(harvest.frame) == len(PLACES)
    config = WfsSource(url=wfs_url, typename="defibrillateurs", sort_by="commune", max_features=5)
    assert "sorted_by" not in harvest_wfs(config, source_id="s").stats


def test_sort_by_unknown_attribute_is_a_clear_error(wfs_url):
    config = WfsSource(url=wfs_url, typename="defibrillateurs", sort_by="comune")
    with pytest.raises(SourceError, match=r"refused to sort .* by 'comune'.*Invalid SORTBY.*sort_by names"):
        harvest_wfs(config, source_id="s")


def test_server_ignoring_startindex_is_refused(wfs_url):
    """A front that drops STARTINDEX returns the first page again: repeated ids stop the harvest."""
    gate = _Gate(wfs_url, failures=0, drop="STARTINDEX=")
    try:
        with pytest.raises(SourceError, match="ignores STARTINDEX"):
            harvest_wfs(WfsSource(url=gate.url, typename="defibrillateurs"), source_id="s")
    finally:
        gate.close()


def test_version_negotiation_without_acceptversions(wfs_url):
    """A server that wants VERSION on every request: each version is asked in turn, newest first."""
    gate = _Gate(wfs_url, refuse_unversioned=True)
    try:
        harvest = harvest_wfs(WfsSource(url=gate.url, typename="zones"), source_id="s")
        assert harvest.stats["version"] == "2.0.0" and len(harvest.frame) == 2
    finally:
        gate.close()


def test_http_error_shows_status_and_server_message(wfs_url):
    gate = _Gate(wfs_url, failures=100, status=500)
    try:
        with pytest.raises(SourceError) as caught:
            harvest_wfs(WfsSource(url=gate.url, typename="zones", retries=1), source_id="s")
        assert "HTTP 500: backend is down" in str(caught.value)
        assert gate.seen == 2  # one try + one retry
    finally:
        gate.close()


def test_basic_auth_from_environment_never_leaks(wfs_url, monkeypatch):
    import base64

    token = "Basic " + base64.b64encode(b"commune:s3cret-pw").decode()
    gate = _Gate(wfs_url, failures=0, auth=token)
    try:
        monkeypatch.setenv("OMV_TEST_WFS_USER", "commune")
        monkeypatch.setenv("OMV_TEST_WFS_PASSWORD", "s3cret-pw")
        config = WfsSource(
            url=gate.url,
            typename="zones",
            username_env="OMV_TEST_WFS_USER",
            password_env="OMV_TEST_WFS_PASSWORD",
        )
        harvest = harvest_wfs(config, source_id="s")
        assert len(harvest.frame) == 2
        assert "s3cret" not in harvest.location + json.dumps(harvest.stats)
        monkeypatch.setenv("OMV_TEST_WFS_PASSWORD", "wrong-pw")
        with pytest.raises(SourceError) as caught:
            harvest_wfs(config, source_id="s")
        assert "HTTP 401" in str(caught.value) and "credentials" in str(caught.value)
        assert "wrong-pw" not in str(caught.value)
    finally:
        gate.close()


def test_config_refuses_secrets_and_unknown_fields():
    with pytest.raises(ValueError, match="password"):
        WfsSource(url="https://user:pw@example.org/wfs", typename="x")
    with pytest.raises(ValueError, match="extra"):
        WfsSource(url="https://example.org/wfs", typename="x", typname="y")
    with pytest.raises(ValueError, match="url"):
        WfsSource(typename="x")


def test_safe_url_hides_credentials():
    shown = redact_url("https://bob:pw@geo.example.org:8443/ows?map=/srv/a.map&apikey=abc123&Token=xyz")
    assert shown == "https://geo.example.org:8443/ows?map=/srv/a.map&apikey=***&Token=***"


def test_json_schema_has_field_descriptions():
    schema = WfsSource.model_json_schema()
    assert schema["additionalProperties"] is False
    assert "typename" in schema["required"]
    assert all(prop.get("description") for prop in schema["properties"].values())


def test_gml_geometries_parse(tmp_path: Path):
    """GML 3 curves/surfaces and GML 2 coordinates, as other servers (GeoServer, ArcGIS) write them."""
    from omv_pipelines.sources.wfs.geometry import Geometries
    from omv_pipelines.sources.wfs.parsing import parse_gml

    gml = GML32_CURVE_AND_SURFACE
    geoms = Geometries()
    page = parse_gml(gml, geoms, "")
    text, outside = geoms.to_geojson(xy_order=False, source_id="s")
    assert page.ids == ["t.1", "t.2"] and page.number_matched == 2
    assert page.records[0]["nom"] == "A" and page.records[0]["vide"] is None
    # A property typed gml:TimeInstantPropertyType (GML application schemas) is a value, not a geometry.
    assert page.records[0]["maj"] == "2024-03-15T10:20:30Z"
    line = json.loads(text[(0, GEOMETRY)])
    assert line["type"] == "MultiLineString"
    _assert_close(line["coordinates"], [[[4.1, 50.1], [4.2, 50.2], [4.2, 50.2], [4.3, 50.3]]])
    polygon = json.loads(text[(1, GEOMETRY)])
    assert polygon["type"] == "Polygon"
    _assert_close(polygon["coordinates"], [[[4, 50], [5, 50], [5, 51], [4, 50]]])
    assert list(outside) == [1]  # lat 51 is north of Wallonia

    gml2 = GML2_MULTIPOINT
    geoms = Geometries()
    page = parse_gml(gml2, geoms, "")
    text, outside = geoms.to_geojson(xy_order=False, source_id="s")
    assert page.ids == ["t.9"] and len(outside) == 0
    _assert_close(json.loads(text[(0, GEOMETRY)])["coordinates"], [[4.5, 50.5], [4.6, 50.6]])


def test_gml_positions_in_pos_elements_and_three_dimensions():
    """GML 3 lets a line list its vertices as gml:pos elements (deegree, GeoServer with some settings) and
    3D data carry srsDimension="3" (QGIS Server on PostGIS Z layers): z is dropped, x,y are kept."""
    from omv_pipelines.sources.wfs.geometry import Geometries
    from omv_pipelines.sources.wfs.parsing import parse_gml

    gml = GML3_POS_AND_3D
    geoms = Geometries()
    parse_gml(gml, geoms, "")
    text, _ = geoms.to_geojson(xy_order=False, source_id="s")
    _assert_close(json.loads(text[(0, GEOMETRY)])["coordinates"], [[4.1, 50.1], [4.2, 50.2], [4.3, 50.3]])
    assert json.loads(text[(1, GEOMETRY)]) == {"type": "Point", "coordinates": [4.5, 50.5]}
    _assert_close(json.loads(text[(2, GEOMETRY)])["coordinates"], [[4.6, 50.6], [4.7, 50.7]])

    broken = gml.replace(b"50.6 4.6 1 50.7 4.7 2", b"50.6 4.6 1 50.7 4.7")
    geoms = Geometries()
    parse_gml(broken, geoms, "")
    with pytest.raises(ValueError, match="5 coordinates cannot be positions of dimension 3"):
        geoms.to_geojson(xy_order=False, source_id="s")


def test_unsupported_gml_geometry_names_the_property():
    from omv_pipelines.sources.wfs.geometry import Geometries
    from omv_pipelines.sources.wfs.parsing import parse_gml

    gml = GML_SOLID
    with pytest.raises(ValueError, match="unsupported GML geometry <Solid> in property forme"):
        parse_gml(gml, Geometries(), "")


def test_xml_entities_are_refused():
    from omv_pipelines.sources.wfs.geometry import Geometries
    from omv_pipelines.sources.wfs.parsing import parse_gml

    bomb = XML_ENTITY_BOMB
    with pytest.raises(Exception, match="(?i)entit"):
        parse_gml(bomb, Geometries(), "")


def test_geopackage_layer(tmp_path: Path):
    """The demo serves GeoPackages too: the layer type is read from gpkg_geometry_columns."""
    if shutil.which("mapserv") is None or shutil.which("ogr2ogr") is None:
        pytest.skip("needs MapServer and ogr2ogr (apt-get install cgi-mapserver mapserver-bin gdal-bin)")
    import subprocess

    from omv_pipelines.demo.mapserver import MapServerWfs, WfsLayer

    source = tmp_path / "zones.geojson"
    source.write_text(json.dumps(_feature_collection(ZONES)), encoding="utf-8")
    gpkg = tmp_path / "zones.gpkg"
    command = ["ogr2ogr", "-f", "GPKG", str(gpkg), str(source), "-nln", "zones", "-nlt", "MULTIPOLYGON"]
    subprocess.run([*command, "-lco", "FID=fid"], check=True)
    with MapServerWfs([WfsLayer(name="espaces", path=gpkg, epsg=31370, feature_id="zone")]) as server:
        harvest = harvest_wfs(WfsSource(url=server.url, typename="espaces"), source_id="s")
    assert sorted(harvest.frame[SOURCE_ROW]) == ["espaces.Z1", "espaces.Z2"]
    assert {json.loads(g)["type"] for g in harvest.frame[GEOMETRY]} == {"MultiPolygon"}


# ------------------------------------------------------------- canned answers of other WFS servers


class _Canned:
    """A loopback HTTP server answering from documents written in the test (wfs_cases): the answers of
    servers we cannot run here (ArcGIS Server, GeoServer, QGIS Server), end to end through harvest_wfs."""

    def __init__(self, answer):
        def app(method, path, query, headers, body):
            code, content_type, data = answer({k.upper(): v for k, v in query.items()})
            return code, {"Content-Type": content_type}, data

        self.server = loopback_server(app)
        self.url = self.server.url("/arcgis/services/DEA/MapServer/WFSServer")

    def __enter__(self):
        self.server.start()
        return self

    def __exit__(self, *exc):
        self.server.__exit__(*exc)

    @property
    def requests(self) -> list[dict[str, str]]:
        return [{k.upper(): v for k, v in r.query.items()} for r in self.server.requests]

    def asked(self, request: str) -> list[dict[str, str]]:
        return [p for p in self.requests if p.get("REQUEST", "").lower() == request.lower()]


def test_arcgis_numbers_as_text_typed_from_describefeaturetype():
    """ArcGIS Server: GML32 carries every value as text, doubles as "1100.00000000"; its
    DescribeFeatureType declares xsd:int, xsd:double, xsd:boolean, and strings through a restriction."""
    with _Canned(arcgis) as server:
        config = WfsSource(url=server.url, typename="Defibrillateurs", output_format="gml32", page_size=5)
        harvest = harvest_wfs(config, source_id="spw/dea")
    frame = harvest.frame
    assert harvest.stats["typed_from_schema"] is True and "untyped_columns" not in harvest.stats
    assert str(frame["OBJECTID"].dtype) == "Int64" and list(frame["OBJECTID"]) == list(range(1, 13))
    assert str(frame["HAUTEUR"].dtype) == "Float64"
    assert frame["HAUTEUR"].iloc[0] == 1100.0 and frame["HAUTEUR"].isna().sum() == 1  # the one left out
    assert str(frame["PUBLIC"].dtype) == "boolean" and list(frame["PUBLIC"][:2]) == [False, True]
    assert frame["CODE_INS"].iloc[0] == "00000"  # a string stays text: no leading zero lost
    assert frame["DATE_MAJ"].iloc[0] == "2024-03-01T08:00:00"  # dates stay ISO text
    assert len(server.asked("DescribeFeatureType")) == 1


@pytest.mark.parametrize(
    ("schema", "status"),
    [(b"<html><body>Service Unavailable</body></html>", 503), (b"not xml <", 200)],
)
def test_describefeaturetype_failing_keeps_text(schema, status):
    """A DescribeFeatureType that fails or is unreadable costs the types, never the harvest."""

    def answer(params):
        if params.get("REQUEST", "").lower() == "describefeaturetype":
            return status, "text/html", schema
        return arcgis(params)

    with _Canned(answer) as server:
        config = WfsSource(url=server.url, typename="DEA:Defibrillateurs", output_format="GML32", retries=0)
        harvest = harvest_wfs(config, source_id="s")
    assert harvest.stats["typed_from_schema"] is False
    assert len(harvest.frame) == ARCGIS_TOTAL
    assert harvest.frame["HAUTEUR"].iloc[0] == "1100.00000000"  # kept exactly as sent


def test_value_not_fitting_the_schema_keeps_the_column_as_text():
    """A schema that declares a column int while a value is not a whole number: the data win."""
    wrong = ARCGIS_SCHEMA.replace(b'nillable="true" type="xsd:double"', b'type="xsd:int"')
    with _Canned(partial(arcgis, schema=wrong)) as server:
        config = WfsSource(url=server.url, typename="Defibrillateurs", output_format="GML32")
        harvest = harvest_wfs(config, source_id="s")
    assert harvest.stats["untyped_columns"] == ["HAUTEUR"]
    assert harvest.frame["HAUTEUR"].iloc[1] == "1100.25000000"  # 1100.25 is no int
    assert str(harvest.frame["OBJECTID"].dtype) == "Int64"


def test_arcgis_server_answers():
    """ArcGIS Server: format tokens of its own (GML32, GEOJSON) matched whatever their case; an internal
    host name in the operation URLs, which must not be followed; geometry in a property called SHAPE;
    numberMatched="unknown", so the end is found by a short page."""
    from omv_pipelines.sources.wfs.capabilities import choose_formats

    assert choose_formats(["GML32", "GML3", "GEOJSON"], None, "s")[:2] == ["GEOJSON", "GML32"]
    assert choose_formats(["GML32", "GML3", "GEOJSON"], "geojson", "s") == ["GEOJSON"]
    with _Canned(arcgis) as server:
        config = WfsSource(url=server.url, typename="DEA:Defibrillateurs", output_format="Gml32", page_size=5)
        harvest = harvest_wfs(config, source_id="spw/dea")
    frame = harvest.frame
    assert harvest.stats["output_format"] == "GML32" and harvest.stats["pages"] == 3  # 5 + 5 + 2
    pages = [p for p in server.asked("GetFeature") if "RESULTTYPE" not in p]
    assert [p["OUTPUTFORMAT"] for p in pages] == ["GML32"] * 3
    assert len(server.requests) == 1 + 1 + 3 + 1  # capabilities, schema, pages, hits: all to the given URL
    assert "features_announced" not in harvest.stats  # hits too say numberMatched="unknown"
    assert harvest.stats["end_detected_by"] == "short page below the page size"
    assert list(frame[SOURCE_ROW]) == [f"Defibrillateurs.{i + 1}" for i in range(ARCGIS_TOTAL)]
    assert "SHAPE" not in frame.columns and harvest.stats["outside_wallonia"] == 0
    _assert_close(_geometry(frame, "OBJECTID", 1)["coordinates"], [4.8, 50.4], tol=1e-6)
    assert not any("SORTBY" in p for p in server.asked("GetFeature"))  # no order asked, none sent


def test_arcgis_sort_by_objectid():
    """ArcGIS Server declares ImplementsSorting in its filter capabilities: OBJECTID orders the pages."""
    with _Canned(arcgis) as server:
        config = WfsSource(
            url=server.url, typename="Defibrillateurs", output_format="GML32", page_size=5, sort_by="OBJECTID"
        )
        harvest = harvest_wfs(config, source_id="s")
    assert harvest.stats["sorted_by"] == "OBJECTID"
    pages = [p for p in server.asked("GetFeature") if "RESULTTYPE" not in p]
    assert [p["SORTBY"] for p in pages] == ["OBJECTID ASC"] * 3


def test_geoserver_geojson_with_ids():
    """GeoServer: its GeoJSON features carry ids, so the one-feature probe keeps GeoJSON; numberMatched
    is given and the pages follow it."""
    with _Canned(geoserver) as server:
        harvest = harvest_wfs(WfsSource(url=server.url, typename="dea", page_size=10), source_id="s")
        asked = server.asked("GetFeature")
    frame = harvest.frame
    assert harvest.stats["output_format"] == "application/json" and harvest.stats["pages"] == 3
    assert [p["COUNT"] for p in asked] == ["1", "10", "10", "10"]  # the probe, then 10 + 10 + 7
    assert list(frame[SOURCE_ROW]) == [f"dea.{i + 1}" for i in range(len(PLACES))]
    assert list(frame["n"]) == list(range(len(PLACES))) and not server.asked("DescribeFeatureType")
    _assert_close(_geometry(frame, "ident", "D02")["coordinates"], [5.5797, 50.6326], tol=1e-6)


def test_geoserver_urn_epsg_4326_is_lat_lon():
    """GeoServer, GML 3.2 asked in urn:ogc:def:crs:EPSG::4326: positions come lat,lon (the CRS's own
    axis order) and must be swapped to GeoJSON lon,lat; ints typed from xsd:int."""
    with _Canned(geoserver) as server:
        config = WfsSource(
            url=server.url,
            typename="namur:dea",
            srs="EPSG:4326",
            output_format="application/gml+xml; version=3.2",
        )
        harvest = harvest_wfs(config, source_id="s")
    frame = harvest.frame
    assert harvest.stats["srs"] == "urn:ogc:def:crs:EPSG::4326" and harvest.stats["outside_wallonia"] == 0
    for ident, _, lon, lat in PLACES:
        assert json.loads(frame.loc[frame["ident"] == ident, GEOMETRY].iloc[0])["coordinates"] == [lon, lat]
    assert str(frame["n"].dtype) == "Int64"


def test_qgis_server_speaks_wfs_1_1_only():
    """QGIS Server: no WFS 2.0, so negotiation lands on 1.1.0 (MAXFEATURES paging, no cap declared);
    3D GML 3 lines lose their z; the MAP parameter of the configured URL is kept on every request."""
    with _Canned(qgis) as server:
        config = WfsSource(url=server.url + "?MAP=/srv/projets/voirie.qgs", typename="troncons", page_size=5)
        harvest = harvest_wfs(config, source_id="s")
    assert server.asked("GetCapabilities")[0]["ACCEPTVERSIONS"] == "2.0.0,1.1.0,1.0.0"  # 2.0 was offered
    frame = harvest.frame
    assert harvest.stats["version"] == "1.1.0" and harvest.stats["pages"] == 3  # 5 + 5 + 3
    assert harvest.stats["output_format"] == "text/xml; subtype=gml/3.1.1"
    assert list(frame["fid"]) == list(range(QGIS_TOTAL)) and str(frame["fid"].dtype) == "Int64"
    assert frame["longueur"].iloc[2] == pytest.approx(57.9)
    line = _geometry(frame, "rue", "Rue 4")
    expected = _to_wgs84([[NAMUR[0] + 400, NAMUR[1]], [NAMUR[0] + 450, NAMUR[1] + 25]])
    assert line["type"] == "LineString"
    _assert_close(line["coordinates"], expected)


def test_feature_id_lets_mapserver_geojson_be_used(wfs_url):
    """MapServer's GeoJSON carries no feature ids: with feature_id the attribute identifies the rows, so
    GeoJSON is chosen without a probe, pages are sorted on it and repeated ids would still be caught."""
    from urllib.parse import parse_qs

    gate = _Gate(wfs_url)
    try:
        config = WfsSource(url=gate.url, typename="defibrillateurs", feature_id="ident")
        harvest = harvest_wfs(config, source_id="s")
    finally:
        gate.close()
    assert harvest.stats["output_format"] == "application/json; subtype=geojson"
    assert harvest.stats["sorted_by"] == "ident" and harvest.stats["pages"] == 3
    assert "feature_ids" not in harvest.stats  # not positions
    assert list(harvest.frame[SOURCE_ROW]) == [p[0] for p in PLACES]
    pages = [parse_qs(p.partition("?")[2]) for p in gate.paths if "REQUEST=GetFeature" in p]
    pages = [q for q in pages if "RESULTTYPE" not in q]
    assert [q["COUNT"] for q in pages] == [["10"]] * 3  # no one-feature probe
    assert not any("DescribeFeatureType" in p for p in gate.paths)  # GeoJSON is typed already


def test_feature_id_unknown_is_a_clear_error(wfs_url, caplog):
    """A feature_id that names no attribute: MapServer refuses to sort on it (the harvest then pages
    unsorted, since the order was the harvester's idea), and the missing attribute is reported."""
    config = WfsSource(url=wfs_url, typename="defibrillateurs", feature_id="identt", output_format="geojson")
    with pytest.raises(SourceError, match=r"feature_id 'identt' is not an attribute of .*use one of: ident,"):
        harvest_wfs(config, source_id="s")
    assert "refused SORTBY" in caplog.text and "Invalid SORTBY clause" in caplog.text
