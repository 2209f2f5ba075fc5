"""Hostile sources (#11): each is refused, or neutralised, with an error naming the source and the limit.

Servers that trickle, lie about their size or echo secrets; workbooks that inflate; catalogue paths that
climb out of the catalogue folder or name special files; URL schemes other than http(s); a WFS answering
NaN coordinates. Every server is on loopback, every file in tmp_path, every limit lowered to keep the
tests quick; each test also checks that nothing outside tmp_path was touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from omv_pipelines.sources import paths
from omv_pipelines.sources.base import GEOMETRY, SourceError
from omv_pipelines.sources.spreadsheet import harvest as spreadsheet
from omv_pipelines.sources.spreadsheet.config import SpreadsheetSource
from omv_pipelines.sources.wfs import client as wfs_client
from omv_pipelines.sources.wfs.config import WfsSource
from omv_pipelines.sources.wfs.geometry import NON_FINITE
from omv_pipelines.sources.wfs.harvest import harvest_wfs
from omv_pipelines_tests.test_sources.wfs_cases import GEOSERVER_CAPABILITIES, page_range

CSV = b"nom;valeur\nA;1\nB;2\n"


# --- a raw loopback server: the test writes the bytes (slowly, or lying) ---------------------------------


class RawServer:
    """Accepts connections on 127.0.0.1 and hands each socket, after the request head, to `answer`."""

    def __init__(self, answer: Callable[[socket.socket, bytes, threading.Event], None]):
        self.answer = answer
        self.stop = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.heads: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}{path}"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(4096)
                if not data:
                    return
                head += data
            self.heads.append(head)
            with contextlib.suppress(OSError):
                self.answer(conn, head, self.stop)

    def __enter__(self) -> RawServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


def trickle(headers: bytes, interval: float = 0.5) -> Callable[[socket.socket, bytes, threading.Event], None]:
    """Send the head at once, then one byte of body every `interval` seconds (for at most 30 s)."""

    def answer(conn: socket.socket, head: bytes, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\n" + headers + b"Content-Length: 1000\r\n\r\n")
        for _ in range(60):
            if stop.wait(interval):
                return
            conn.sendall(b"x")

    return answer


def fixed(head: bytes, body: bytes) -> Callable[[socket.socket, bytes, threading.Event], None]:
    def answer(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        conn.sendall(head + b"\r\n\r\n" + body)
        stop.wait(1)  # hold the connection a little, as a lying server would

    return answer


@pytest.fixture
def raw() -> Iterator[Callable]:
    servers: list[RawServer] = []

    def start(answer) -> RawServer:
        servers.append(RawServer(answer).__enter__())
        return servers[-1]

    yield start
    for server in servers:
        server.__exit__()


@pytest.fixture
def untouched(tmp_path) -> Iterator[None]:
    """Nothing outside tmp_path changes: the files a hostile catalogue aims at keep their content and
    the working folder gains no file."""
    watched = [Path("/etc/passwd"), Path("/etc/hostname")]
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in watched if p.is_file()}
    cwd = set(os.listdir("."))
    yield
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in before} == before
    assert set(os.listdir(".")) <= cwd


def _sheet(**fields) -> SpreadsheetSource:
    return SpreadsheetSource(**fields)


# --- 1. containment ------------------------------------------------------------------------------------


@pytest.fixture
def catalogue(tmp_path) -> Path:
    base = tmp_path / "catalog"
    (base / "data").mkdir(parents=True)
    (base / "data" / "ok.csv").write_bytes(CSV)
    (tmp_path / "secret.csv").write_bytes(b"password;value\ndb;hunter2\n")
    return base


def test_a_file_inside_the_catalogue_is_read(catalogue):
    harvest = spreadsheet.harvest_spreadsheet(_sheet(path="data/ok.csv"), source_id="s", base_dir=catalogue)
    assert list(harvest.frame["nom"]) == ["A", "B"]


@pytest.mark.parametrize(
    ("path", "separator"),
    [
        ("../secret.csv", None),
        ("../../../../../../../../etc/passwd", "|"),
        ("/etc/passwd", "|"),
        ("/proc/self/environ", "="),
        ("data/../../secret.csv", None),
    ],
)
def test_paths_outside_the_catalogue_are_refused(catalogue, untouched, path, separator):
    config = _sheet(path=path, format="csv", separator=separator)
    with pytest.raises(SourceError) as caught:
        spreadsheet.harvest_spreadsheet(config, source_id="commune.velos", base_dir=catalogue)
    err = caught.value
    assert err.source_id == "commune.velos"
    assert "lies outside the catalogue folder" in err.reason and "refused" in err.reason
    assert "source 'commune.velos'" in str(err)
    assert "hunter2" not in str(err) and "root:" not in str(err)


def test_an_absolute_path_inside_the_catalogue_is_read(catalogue):
    config = _sheet(path=str(catalogue / "data" / "ok.csv"))
    assert len(spreadsheet.harvest_spreadsheet(config, source_id="s", base_dir=catalogue).frame) == 2


@pytest.mark.parametrize("target", ["../secret.csv", "/etc/passwd"])
def test_a_link_pointing_outside_is_refused(catalogue, untouched, target):
    (catalogue / "data" / "link.csv").symlink_to(
        target if target.startswith("/") else catalogue.parent / "secret.csv"
    )
    with pytest.raises(SourceError, match="lies outside the catalogue folder"):
        spreadsheet.harvest_spreadsheet(_sheet(path="data/link.csv"), source_id="s", base_dir=catalogue)


def test_a_link_inside_the_catalogue_is_followed(catalogue):
    (catalogue / "data" / "link.csv").symlink_to(catalogue / "data" / "ok.csv")
    harvest = spreadsheet.harvest_spreadsheet(_sheet(path="data/link.csv"), source_id="s", base_dir=catalogue)
    assert len(harvest.frame) == 2


def test_a_fifo_is_refused_without_blocking(catalogue, untouched):
    os.mkfifo(catalogue / "data" / "pipe.csv")
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"is not a regular file \(a FIFO\): refused"):
        spreadsheet.harvest_spreadsheet(_sheet(path="data/pipe.csv"), source_id="s", base_dir=catalogue)
    assert time.monotonic() - started < 2


def test_a_folder_is_refused(catalogue):
    (catalogue / "data" / "dir.csv").mkdir()
    with pytest.raises(SourceError, match=r"is not a regular file \(a folder\)"):
        spreadsheet.harvest_spreadsheet(_sheet(path="data/dir.csv"), source_id="s", base_dir=catalogue)


def test_a_file_above_the_size_limit_is_refused(catalogue, monkeypatch):
    monkeypatch.setattr(spreadsheet, "MAX_BYTES", 10)
    with pytest.raises(
        SourceError,
        match=r"ok.csv is 19 bytes, above the limit of 10 bytes \(OMV_SPREADSHEET_MAX_BYTES\): refused",
    ):
        spreadsheet.harvest_spreadsheet(_sheet(path="data/ok.csv"), source_id="s", base_dir=catalogue)


def test_sqlite_files_are_contained(catalogue, untouched):
    (catalogue / "data" / "db.sqlite").write_bytes(b"")
    assert paths.sqlite_file("data/db.sqlite", catalogue, "s") == (catalogue / "data" / "db.sqlite").resolve()
    for escape in ("../secret.csv", "/etc/passwd"):
        with pytest.raises(SourceError, match="SQLite file .* lies outside the catalogue folder"):
            paths.sqlite_file(escape, catalogue, "s")
    with pytest.raises(SourceError, match="SQLite URI filename .* is refused"):
        paths.sqlite_file("file:data/db.sqlite?mode=rwc", catalogue, "s")


# --- 1b. URL schemes, at harvest time as well as in the catalogue ----------------------------------------


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/data.csv"])
def test_spreadsheet_url_schemes_other_than_http_are_refused(url, untouched):
    config = SpreadsheetSource.model_construct(url=url, path=None, format="csv")  # past the catalogue check
    with pytest.raises(SourceError, match=r"url scheme (file|ftp): is refused: only http and https"):
        spreadsheet.harvest_spreadsheet(config, source_id="s")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/wfs"])
def test_wfs_url_schemes_other_than_http_are_refused(url, monkeypatch, untouched):
    monkeypatch.setenv("OMV_TEST_WFS_URL", url)  # an environment value, which the catalogue cannot check
    config = WfsSource(url_env="OMV_TEST_WFS_URL", typename="dea")
    with pytest.raises(SourceError, match=r"WFS url scheme (file|ftp): is refused: only http and https"):
        harvest_wfs(config, source_id="s")


# --- 2. bounds: time, size, inflation --------------------------------------------------------------------


def test_a_trickling_spreadsheet_server_is_cut_at_the_deadline(raw, monkeypatch):
    monkeypatch.setattr(spreadsheet, "DEADLINE_S", 2)
    server = raw(trickle(b"Content-Type: text/csv\r\n"))
    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        spreadsheet.harvest_spreadsheet(_sheet(url=server.url("/data.csv")), source_id="commune.velos")
    elapsed = time.monotonic() - started
    assert 1.5 < elapsed < 6
    assert "took longer than the limit of 2 s per request" in caught.value.reason
    assert "source 'commune.velos'" in str(caught.value) and caught.value.retryable


def test_a_lying_content_length_is_refused_at_once(raw):
    server = raw(fixed(b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: 2000000000", CSV))
    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        spreadsheet.harvest_spreadsheet(_sheet(url=server.url("/data.csv")), source_id="s")
    assert time.monotonic() - started < 1
    assert (
        "the server announces 2,000,000,000 bytes, above the limit of 200,000,000 bytes"
        in caught.value.reason
    )


def test_a_body_larger_than_allowed_is_cut_while_streaming(raw, monkeypatch):
    monkeypatch.setattr(spreadsheet, "MAX_BYTES", 1000)
    server = raw(fixed(b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nConnection: close", b"a;b\n" * 2000))
    with pytest.raises(SourceError, match=r"more than 1,000 bytes received, above the limit of 1,000 bytes"):
        spreadsheet.harvest_spreadsheet(_sheet(url=server.url("/data.csv")), source_id="s")


def _bomb(path: Path, inflated: int) -> Path:
    """A workbook: a real sheet, plus one part of `inflated` zero bytes (a few kB compressed)."""
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["nom", "valeur"])
    book.active.append(["A", 1])
    book.save(path)
    with (
        zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf,
        zf.open("xl/bomb.xml", "w") as out,
    ):
        block = b"\0" * 1_000_000
        for _ in range(inflated // len(block)):
            out.write(block)
    return path


def test_an_xlsx_zip_bomb_is_refused_before_inflating(tmp_path, monkeypatch, untouched):
    monkeypatch.setattr(spreadsheet, "MAX_UNZIPPED_BYTES", 10_000_000)
    bomb = _bomb(tmp_path / "bomb.xlsx", 50_000_000)
    assert bomb.stat().st_size < 1_000_000
    with pytest.raises(SourceError) as caught:
        spreadsheet.harvest_spreadsheet(_sheet(path="bomb.xlsx"), source_id="s", base_dir=tmp_path)
    assert "would inflate to 5" in caught.value.reason
    assert (
        "above the limit of 10,000,000 bytes (OMV_SPREADSHEET_MAX_UNZIPPED_BYTES): refused"
        in caught.value.reason
    )


def test_a_suspicious_compression_ratio_is_refused(tmp_path, untouched):
    _bomb(tmp_path / "bomb.xlsx", 5_000_000)
    with pytest.raises(SourceError, match=r"its part 'xl/bomb.xml' inflates .* times .* likely zip bomb"):
        spreadsheet.harvest_spreadsheet(_sheet(path="bomb.xlsx"), source_id="s", base_dir=tmp_path)


def test_an_ods_zip_bomb_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(spreadsheet, "MAX_UNZIPPED_BYTES", 10_000_000)
    with zipfile.ZipFile(tmp_path / "bomb.ods", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", b"\0" * 20_000_000)
    with pytest.raises(SourceError, match="would inflate to 20,000,"):
        spreadsheet.harvest_spreadsheet(_sheet(path="bomb.ods"), source_id="s", base_dir=tmp_path)


CAPS_ROUTE = "/geoserver/ows"


def test_a_trickling_wfs_is_cut_at_the_request_deadline(raw, monkeypatch):
    monkeypatch.setattr(wfs_client, "REQUEST_DEADLINE_S", 2)
    server = raw(trickle(b"Content-Type: application/xml\r\n"))
    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        harvest_wfs(WfsSource(url=server.url(CAPS_ROUTE), typename="dea"), source_id="commune.dea")
    assert 1.5 < time.monotonic() - started < 6
    assert "took longer than the limit of 2 s per request (OMV_WFS_REQUEST_DEADLINE_S)" in caught.value.reason
    assert caught.value.source_id == "commune.dea"


def test_a_wfs_harvest_is_cut_at_the_source_deadline(raw, monkeypatch):
    monkeypatch.setattr(wfs_client, "HARVEST_DEADLINE_S", 2)
    server = raw(trickle(b"Content-Type: application/xml\r\n"))
    with pytest.raises(SourceError, match=r"limit of 2 s per source \(OMV_WFS_HARVEST_DEADLINE_S\)"):
        harvest_wfs(WfsSource(url=server.url(CAPS_ROUTE), typename="dea"), source_id="s")


def test_a_wfs_lying_content_length_is_refused_at_once(raw):
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 2000000000"
    server = raw(fixed(head, b"<x/>"))
    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        harvest_wfs(WfsSource(url=server.url(CAPS_ROUTE), typename="dea"), source_id="s")
    assert time.monotonic() - started < 1
    assert (
        "announces 2,000,000,000 bytes, above the limit of 100,000,000 bytes per request"
        in caught.value.reason
    )


# --- 3. secrets echoed by servers ------------------------------------------------------------------------

TOKEN = "tok-3chO/ed+Secret=="


def _echoing(loopback, status: int, wrap: str = "<html><body>Forbidden: {} ({})</body></html>") -> str:
    """A server answering `status` with a page that repeats the request target (path and raw query) and
    each query value on its own, as error pages do."""
    from urllib.parse import unquote

    from omv_pipelines_tests.support import loopback as support

    def app(method, path, query, headers, body):
        target = server.requests[-1].target
        values = " ".join(f"value {v} is not valid" for v in query.values())  # bare, no name= before it
        return status, {"Content-Type": "text/html"}, wrap.format(values, target + " " + unquote(target))

    server = loopback(app)
    assert isinstance(server, support.Loopback)
    return server.url("/files/velos.csv")


def test_a_spreadsheet_server_echoing_the_token_does_not_leak_it(loopback):
    url = _echoing(loopback, 403) + "?token=" + TOKEN
    # The catalogue refuses such URLs; the harvest must not leak the token of one that got past it.
    config = SpreadsheetSource.model_construct(url=url, path=None, format="csv")
    with pytest.raises(SourceError) as caught:
        spreadsheet.harvest_spreadsheet(config, source_id="s")
    err = caught.value
    assert "HTTP 403" in err.reason and "Forbidden" in err.reason and "value *** is not valid" in err.reason
    for text in (str(err), err.reason, err.message, err.text, repr(err.args)):
        assert TOKEN not in text and "3chO" not in text


def test_a_wfs_echoing_the_token_does_not_leak_it(loopback, monkeypatch):
    report = (
        '<ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows/1.1"><ows:Exception exceptionCode="X">'
        "<ows:ExceptionText>bad request {} = {}</ows:ExceptionText></ows:Exception></ows:ExceptionReport>"
    )
    for status, wrap in ((403, "<p>denied {} {}</p>"), (200, report)):
        url = _echoing(loopback, status, wrap) + "?map=velos&access_token=" + TOKEN
        monkeypatch.setenv("OMV_TEST_WFS_URL", url)  # where a URL with a token belongs
        with pytest.raises(SourceError) as caught:
            harvest_wfs(WfsSource(url_env="OMV_TEST_WFS_URL", typename="dea"), source_id="s")
        err = caught.value
        assert "denied" in err.reason or "bad request" in err.reason
        assert "value velos is not valid" in err.reason  # the page is quoted, only the token masked
        for text in (str(err), err.reason, err.message, err.text):
            assert TOKEN not in text and "3chO" not in text


# --- 4. non-finite coordinates ---------------------------------------------------------------------------


def _nan_wfs(params: dict[str, str]) -> tuple[int, str, bytes]:
    request = params.get("REQUEST", "").lower()
    if request == "getcapabilities":
        return 200, "application/xml", GEOSERVER_CAPABILITIES
    geometries = [
        {"type": "Point", "coordinates": [4.8719, 50.4674]},
        {"type": "Point", "coordinates": [float("nan"), float("nan")]},
        {"type": "LineString", "coordinates": [[4.87, 50.46], [float("inf"), 50.5]]},
    ]
    features = [
        {"type": "Feature", "id": f"dea.{i}", "geometry": geometries[i], "properties": {"n": i}}
        for i in page_range(params, len(geometries))
    ]
    body = {
        "type": "FeatureCollection",
        "features": features,
        "numberMatched": len(geometries),
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4326"}},
    }
    return 200, "application/json", json.dumps(body).encode()  # NaN, Infinity: as a broken server writes


def test_non_finite_coordinates_never_reach_the_geojson(loopback):
    server = loopback(
        lambda m, p, q, h, b: (lambda c, t, d: (c, {"Content-Type": t}, d))(
            *_nan_wfs({k.upper(): v for k, v in q.items()})
        )
    )
    harvest = harvest_wfs(WfsSource(url=server.url("/ows"), typename="dea"), source_id="s")
    texts = dict(zip(harvest.frame["n"], harvest.frame[GEOMETRY], strict=True))
    assert json.loads(texts[0])["coordinates"] == pytest.approx([4.8719, 50.4674])
    assert texts[1] == texts[2] == NON_FINITE  # no JSON at all: normalise rejects it as unreadable
    assert not NON_FINITE.lstrip().startswith("{")
    assert harvest.stats["non_finite_geometries"] == 2


def test_a_catalogue_sqlite_url_cannot_read_a_database_outside_the_catalogue(tmp_path):
    """A `sqlite:` URL written in the catalogue (e.g. the Dagster instance's own runs.db) is held to the
    catalogue folder, like a spreadsheet path."""
    import sqlite3

    from omv_pipelines.sources.sql.config import SqlSource
    from omv_pipelines.sources.sql.harvest import harvest_sql

    outside = tmp_path / "dagster_home" / "runs.db"
    outside.parent.mkdir()
    with sqlite3.connect(outside) as db:
        db.execute("CREATE TABLE runs (run_id TEXT)")
        db.execute("INSERT INTO runs VALUES ('secret-run')")
    catalogue = tmp_path / "catalog"
    (catalogue / "data").mkdir(parents=True)
    (catalogue / "data" / "link.db").symlink_to(outside)
    source = SqlSource(url="sqlite:///{base_dir}/data/link.db", table="runs")
    with pytest.raises(SourceError, match="outside the catalogue folder"):
        harvest_sql(source, source_id="92094/x#1(sql)", base_dir=catalogue)
