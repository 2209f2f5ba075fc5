"""A WFS harvest is complete, or it fails (#10): against the real MapServer 8 behind a loopback proxy that
cuts, empties or drops one GetFeature page mid-paging, in GeoJSON and GML, WFS 1.1 and 2.0; and canned
answers for what MapServer cannot be made to say (a total it does not serve, a refused GeoJSON).

The MapServer here has no cap: it counts RESULTTYPE=hits truly (with wfs_maxfeatures it counts only up to
the cap), so the harvest knows the total of 27 features while it reads pages of 10.
"""

from __future__ import annotations

import json
import shutil
import socket
from urllib.parse import urlencode

import pytest

from omv_pipelines.sources.base import SOURCE_ROW, SourceError
from omv_pipelines.sources.wfs import WfsSource
from omv_pipelines.sources.wfs.harvest import harvest_wfs
from omv_pipelines_tests.support.loopback import Loopback, loopback_server
from omv_pipelines_tests.test_sources.test_wfs import POINTS, _Canned, _feature_collection
from omv_pipelines_tests.test_sources.wfs_cases import ARCGIS_TOTAL, PLACES, arcgis, geoserver

pytestmark = pytest.mark.integration

TOTAL = len(PLACES)  # 27
PAGE = 10
MANGLED_START = 10  # the second page
GML = {"2.0.0": "application/gml+xml; version=3.2", "1.1.0": "text/xml; subtype=gml/3.1.1"}
CASES = [(version, kind) for version in ("2.0.0", "1.1.0") for kind in ("gml", "geojson")]


@pytest.fixture(scope="module")
def uncapped_wfs(tmp_path_factory: pytest.TempPathFactory):
    """URL of a MapServer WFS serving the 27 points, with no cap on features per request."""
    if shutil.which("mapserv") is None:
        pytest.skip("MapServer is not installed (apt-get install cgi-mapserver mapserver-bin)")
    from omv_pipelines.demo.mapserver import MapServerWfs, WfsLayer

    path = tmp_path_factory.mktemp("wfs-complete") / "defibrillateurs.geojson"
    path.write_text(json.dumps(_feature_collection(POINTS), ensure_ascii=False), encoding="utf-8")
    layer = WfsLayer(name="defibrillateurs", path=path, epsg=31370, feature_id="ident")
    with MapServerWfs([layer]) as server:
        yield server.url


def _keep_features(body: bytes, keep: int) -> bytes:
    """The GetFeature answer with only its first `keep` features (GeoJSON or GML, numberReturned fixed)."""
    if body.lstrip()[:1] == b"{":
        data = json.loads(body)
        data["features"] = data["features"][:keep]
        return json.dumps(data).encode()
    from lxml import etree

    root = etree.fromstring(body)
    members = [m for m in root if etree.QName(m).localname in ("member", "featureMember")]
    for member in members[keep:]:
        root.remove(member)
    if root.get("numberReturned") is not None:
        root.set("numberReturned", str(min(keep, len(members))))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


class _Mangler:
    """A loopback proxy in front of the WFS that mangles the page from STARTINDEX=MANGLED_START `times`
    times: `cut` keeps half its features, `empty` none, `drop` closes the connection without an answer."""

    def __init__(self, upstream: str, mode: str, times: int = 1):
        import requests

        self.mode, self.left, self.mangled = mode, times, 0

        def relay(method, path, query, headers, body):
            resp = requests.get(f"{upstream}?{urlencode(query)}", timeout=30)
            content = resp.content
            if self._hit(query) and self.mode in ("cut", "empty"):
                content = _keep_features(content, PAGE // 2 if self.mode == "cut" else 0)
            return resp.status_code, {"Content-Type": resp.headers.get("Content-Type", "")}, content

        self.server: Loopback = loopback_server(relay)
        handler = self.server._server.RequestHandlerClass
        mangler = self

        class Dropping(handler):  # type: ignore[misc, valid-type]
            def _serve(self) -> None:
                query = dict(p.split("=", 1) for p in self.path.partition("?")[2].split("&") if "=" in p)
                if mangler.mode == "drop" and mangler._hit(query):
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)  # no answer at all
                    return
                super()._serve()

            do_GET = _serve

        self.server._server.RequestHandlerClass = Dropping

    def _hit(self, query: dict[str, str]) -> bool:
        """Is this the page to mangle (and may it still be mangled)?"""
        params = {k.upper(): v for k, v in query.items()}
        page = params.get("REQUEST") == "GetFeature" and "RESULTTYPE" not in params
        if page and params.get("STARTINDEX") == str(MANGLED_START) and self.left > 0:
            self.left -= 1
            self.mangled += 1
            return True
        return False

    def __enter__(self) -> _Mangler:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    @property
    def url(self) -> str:
        return self.server.url("/wfs")


def _config(url: str, version: str, kind: str, **extra) -> WfsSource:
    fmt = GML[version] if kind == "gml" else "application/json; subtype=geojson"
    # MapServer's GeoJSON carries no ids: `ident` identifies the features, so repeated ones are caught.
    feature_id = "ident" if kind == "geojson" else None
    return WfsSource(
        url=url,
        typename="defibrillateurs",
        version=version,
        output_format=fmt,
        feature_id=feature_id,
        page_size=PAGE,
        **extra,
    )


@pytest.mark.parametrize(("version", "kind"), CASES)
def test_untouched_harvest_knows_the_total_and_how_it_ended(uncapped_wfs, version, kind):
    harvest = harvest_wfs(_config(uncapped_wfs, version, kind), source_id="namur/dea")
    assert sorted(harvest.frame["ident"]) == [p[0] for p in PLACES]
    stats = harvest.stats
    assert (stats["features_announced"], stats["announced_by"]) == (TOTAL, "RESULTTYPE=hits")
    assert stats["end_detected_by"] == "announced total" and stats["pages_retried"] == 0
    assert stats["pages"] == 3


@pytest.mark.parametrize("mode", ["cut", "empty"])
@pytest.mark.parametrize(("version", "kind"), CASES)
def test_a_page_cut_or_emptied_once_is_asked_again(uncapped_wfs, version, kind, mode):
    """Servers drop pages under load: asked again, the page comes whole and the harvest is complete."""
    with _Mangler(uncapped_wfs, mode, times=1) as proxy:
        harvest = harvest_wfs(_config(proxy.url, version, kind), source_id="namur/dea")
    assert proxy.mangled == 1
    assert sorted(harvest.frame["ident"]) == [p[0] for p in PLACES]
    assert harvest.stats["pages_retried"] == 1 and harvest.stats["features"] == TOTAL


@pytest.mark.parametrize(("mode", "received"), [("cut", PAGE + PAGE // 2), ("empty", PAGE)])
@pytest.mark.parametrize(("version", "kind"), CASES)
def test_a_page_still_short_when_asked_again_fails_the_harvest(uncapped_wfs, version, kind, mode, received):
    """Before: the short page ended the loop and 15 (or 10) of 27 rows were published as a success."""
    with _Mangler(uncapped_wfs, mode, times=2) as proxy:
        with pytest.raises(SourceError) as caught:
            harvest_wfs(_config(proxy.url, version, kind), source_id="namur/dea")
    error = caught.value
    message = str(error)
    assert proxy.url in message and "defibrillateurs" in message  # the server and the layer
    assert f"expected {TOTAL}, received {received}" in message
    assert "also when asked again" in message
    assert "page_size" in message and "max_features" in message and "sort_by" in message  # what to do
    assert error.source_id == "namur/dea" and not error.retryable  # the same answer twice: not a hiccup


@pytest.mark.parametrize(("version", "kind"), CASES)
def test_a_dropped_connection_mid_paging_is_retried(uncapped_wfs, version, kind):
    with _Mangler(uncapped_wfs, "drop", times=1) as proxy:
        harvest = harvest_wfs(_config(proxy.url, version, kind), source_id="s")
    assert proxy.mangled == 1
    assert sorted(harvest.frame["ident"]) == [p[0] for p in PLACES]
    assert harvest.stats["pages_retried"] == 0  # the HTTP session asked again, not the pager


def test_max_features_stops_early_without_failing(uncapped_wfs):
    """A trial cap is a legitimate early end: the expected count is min(total, max_features)."""
    harvest = harvest_wfs(_config(uncapped_wfs, "2.0.0", "gml", max_features=15), source_id="s")
    assert len(harvest.frame) == 15 and harvest.stats["features_announced"] == TOTAL
    assert harvest.stats["end_detected_by"] == "max_features reached"


def test_a_page_cut_before_max_features_fails(uncapped_wfs):
    with _Mangler(uncapped_wfs, "cut", times=2) as proxy:
        with pytest.raises(SourceError, match=r"max_features 18\), expected 18, received 15"):
            harvest_wfs(_config(proxy.url, "2.0.0", "gml", max_features=18), source_id="s")


# ------------------------------------------------------------- canned answers of other WFS servers


def _announcing(total: int, served: int):
    """GeoServer's GeoJSON answers, announcing `total` features but serving only the first `served`."""

    def answer(params):
        status, content_type, body = geoserver(params)
        if params.get("OUTPUTFORMAT") != "application/json":
            return status, content_type, body
        data = json.loads(body)
        start = int(params.get("STARTINDEX", 0))
        data["features"] = data["features"][: max(0, served - start)]
        data["numberMatched"] = data["totalFeatures"] = total
        return status, content_type, json.dumps(data).encode()

    return answer


def test_a_server_announcing_more_than_it_serves_fails():
    """numberMatched=317 and one feature served: accepted without a word before."""
    with _Canned(_announcing(317, 1)) as server:
        with pytest.raises(SourceError) as caught:
            harvest_wfs(WfsSource(url=server.url, typename="dea", page_size=10), source_id="s")
    message = str(caught.value)
    assert "announced 317 features of namur:dea (numberMatched)" in message
    assert "expected 317, received 1" in message and server.url in message


def test_geoserver_total_from_each_page():
    with _Canned(geoserver) as server:
        harvest = harvest_wfs(WfsSource(url=server.url, typename="dea", page_size=10), source_id="s")
        assert not [p for p in server.asked("GetFeature") if "RESULTTYPE" in p]  # pages say the total
    assert (harvest.stats["features_announced"], harvest.stats["announced_by"]) == (TOTAL, "numberMatched")
    assert harvest.stats["end_detected_by"] == "announced total"


def test_a_total_that_changes_while_paging_fails():
    def answer(params):
        status, content_type, body = _announcing(TOTAL, TOTAL)(params)
        if params.get("STARTINDEX") == "10" and params.get("OUTPUTFORMAT") == "application/json":
            data = json.loads(body)
            data["numberMatched"] = TOTAL + 1
            body = json.dumps(data).encode()
        return status, content_type, body

    with _Canned(answer) as server:
        with pytest.raises(SourceError, match=r"announced 27 .*then 28 in the page from 10: the data change"):
            harvest_wfs(WfsSource(url=server.url, typename="dea", page_size=10), source_id="s")


def test_a_full_page_ending_on_the_total_is_confirmed_by_an_empty_one():
    """A total reached by a full page may be a count capped by the server: one more page must be empty."""
    with _Canned(_announcing(20, 20)) as server:
        harvest = harvest_wfs(WfsSource(url=server.url, typename="dea", page_size=10), source_id="s")
        starts = [p["STARTINDEX"] for p in server.asked("GetFeature") if p.get("COUNT") == "10"]
    assert starts == ["0", "10", "20"] and len(harvest.frame) == 20
    assert harvest.stats["end_detected_by"] == "announced total, then an empty page"
    with _Canned(_announcing(20, TOTAL)) as server:
        with pytest.raises(SourceError, match=r"announced 20 .* but served more \(27 so far\)"):
            harvest_wfs(WfsSource(url=server.url, typename="dea", page_size=10), source_id="s")


def test_without_a_total_the_end_is_a_short_page_and_said_so():
    """ArcGIS: numberMatched="unknown" in pages and hits; the short last page ends the harvest."""
    with _Canned(arcgis) as server:
        config = WfsSource(url=server.url, typename="Defibrillateurs", output_format="GML32", page_size=5)
        harvest = harvest_wfs(config, source_id="s")
    assert len(harvest.frame) == ARCGIS_TOTAL and "features_announced" not in harvest.stats
    assert harvest.stats["end_detected_by"] == "short page below the page size"


def test_refused_geojson_probe_falls_back_to_gml():
    """ArcGIS advertises GEOJSON that some layers refuse (HTTP 400): the best advertised GML is used."""
    with _Canned(arcgis) as server:  # answers 400 to anything but GML32
        config = WfsSource(url=server.url, typename="Defibrillateurs", page_size=5)
        harvest = harvest_wfs(config, source_id="s")
        probe = server.asked("GetFeature")[0]
    assert probe["OUTPUTFORMAT"] == "GEOJSON" and probe["COUNT"] == "1"
    assert harvest.stats["output_format"] == "GML32" and len(harvest.frame) == ARCGIS_TOTAL
    assert harvest.stats["geojson_skipped"].startswith("refused: ")
    assert list(harvest.frame[SOURCE_ROW])[:2] == ["Defibrillateurs.1", "Defibrillateurs.2"]
