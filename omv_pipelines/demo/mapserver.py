"""A real MapServer WFS on loopback, for tests and for the demo.

MapServer is run as a CGI program (`mapserv`), once per request, behind a small threaded HTTP server:
this is how it runs in production too, and it needs nothing but the Debian packages `cgi-mapserver`
and `mapserver-bin`. The mapfile and the MapServer 8 config file are written to a temporary folder.

    with MapServerWfs([WfsLayer("defibrillateurs", path, epsg=31370, feature_id="ident")]) as server:
        harvest(server.url)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

INSTALL_HINT = "install MapServer: apt-get install cgi-mapserver mapserver-bin"
SERVED_SRS = ("EPSG:31370", "EPSG:4326", "EPSG:3812")
GeometryType = Literal["point", "line", "polygon"]
_MS_TYPES = {"point": "POINT", "line": "LINE", "polygon": "POLYGON"}
_MAX_BODY = 10 * 1024 * 1024


class MapServerNotFound(RuntimeError):
    """`mapserv` is not installed."""


@dataclass(frozen=True)
class WfsLayer:
    """One feature type served by the WFS."""

    name: str  # WFS typename (MapServer prefixes it with `ms:`)
    path: Path  # GeoJSON or GeoPackage file (anything OGR reads, with `geometry_type` given)
    epsg: int  # CRS of the data in the file
    feature_id: str  # attribute used as the WFS feature id (gml:id = `<name>.<value>`)
    # Server-side cap on features per GetFeature (hard: a larger COUNT is cut). MapServer only has a
    # service-wide cap (wfs_maxfeatures → CountDefault), so the smallest cap of all layers applies.
    max_features: int | None = None
    source_layer: str | None = None  # layer (table) inside the file; None = the file's only/first layer
    geometry_type: GeometryType | None = None  # None = read from the file (GeoJSON, GeoPackage)


def find_mapserv() -> str:
    """Path of the `mapserv` CGI program, or a clear error saying how to install it."""
    found = shutil.which("mapserv") or next(
        (p for p in ("/usr/bin/mapserv", "/usr/lib/cgi-bin/mapserv") if os.access(p, os.X_OK)), None
    )
    if not found:
        raise MapServerNotFound(f"`mapserv` was not found on PATH — {INSTALL_HINT}")
    return found


def _quote(value: object) -> str:
    """A mapfile string literal."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _geometry_type(layer: WfsLayer) -> GeometryType:
    """The MapServer layer type, read from the data when not given."""
    if layer.geometry_type:
        return layer.geometry_type
    path = Path(layer.path)
    name: str | None = None
    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        name = next((f["geometry"]["type"] for f in data.get("features", []) if f.get("geometry")), None)
    elif suffix == ".gpkg":
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
            rows = con.execute("SELECT table_name, geometry_type_name FROM gpkg_geometry_columns").fetchall()
        name = next((g for t, g in rows if layer.source_layer in (None, t)), None)
    lowered = (name or "").lower()
    for key, token in (("point", "point"), ("line", "line"), ("polygon", "polygon")):
        if token in lowered:
            return key  # type: ignore[return-value]
    raise ValueError(
        f"cannot tell the geometry type of {path} (layer {layer.name!r}, found {name!r}) — "
        "give WfsLayer(geometry_type='point' | 'line' | 'polygon')"
    )


def render_mapfile(layers: list[WfsLayer], online_resource: str) -> str:
    """The mapfile text serving `layers` as WFS 1.0/1.1/2.0 with GML and GeoJSON output."""
    srs = " ".join(SERVED_SRS)
    caps = [layer.max_features for layer in layers if layer.max_features]
    parts = [
        "MAP",
        '  NAME "omv_demo"',
        "  STATUS ON",
        "  EXTENT -180 -90 180 90",
        '  PROJECTION "init=epsg:4326" END',
        '  CONFIG "MS_ERRORFILE" "stderr"',
        "  WEB",
        "    METADATA",
        '      "wfs_title" "Ouvrir ma ville demo WFS"',
        f'      "wfs_onlineresource" {_quote(online_resource)}',
        f'      "wfs_srs" {_quote(srs)}',
        '      "wfs_enable_request" "*"',
        '      "wfs_getfeature_formatlist" "gml2,gml3,geojson"',
        *([f'      "wfs_maxfeatures" "{int(min(caps))}"'] if caps else []),
        "    END",
        "  END",
        "  OUTPUTFORMAT",
        '    NAME "geojson"',
        '    DRIVER "OGR/GEOJSON"',
        '    MIMETYPE "application/json; subtype=geojson"',
        '    FORMATOPTION "STORAGE=stream"',
        '    FORMATOPTION "FORM=SIMPLE"',
        "  END",
    ]
    for layer in layers:
        # The layer's own CRS comes first in wfs_srs: it is the DefaultCRS advertised to clients.
        layer_srs = [f"EPSG:{layer.epsg}"] + [s for s in SERVED_SRS if s != f"EPSG:{layer.epsg}"]
        parts += [
            "  LAYER",
            f"    NAME {_quote(layer.name)}",
            f"    TYPE {_MS_TYPES[_geometry_type(layer)]}",
            "    STATUS ON",
            "    CONNECTIONTYPE OGR",
            f"    CONNECTION {_quote(Path(layer.path).resolve())}",
            *([f"    DATA {_quote(layer.source_layer)}"] if layer.source_layer else []),
            f'    PROJECTION "init=epsg:{int(layer.epsg)}" END',
            "    METADATA",
            f'      "wfs_title" {_quote(layer.name)}',
            f'      "wfs_srs" {_quote(" ".join(layer_srs))}',
            f'      "wfs_featureid" {_quote(layer.feature_id)}',
            '      "gml_include_items" "all"',
            '      "gml_types" "auto"',
            "    END",
            "  END",
        ]
    parts.append("END")
    return "\n".join(parts) + "\n"


class _CgiHandler(BaseHTTPRequestHandler):
    """Runs `mapserv` as CGI for each GET/POST and relays its answer."""

    server: _WfsHttpServer

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self._run(b"")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self.send_error(413, "request body too large")
            return
        self._run(self.rfile.read(length))

    def _run(self, body: bytes) -> None:
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "MAPSERVER_CONFIG_FILE": str(self.server.config_file),
            "GATEWAY_INTERFACE": "CGI/1.1",
            "REQUEST_METHOD": self.command,
            "QUERY_STRING": query,
            "SCRIPT_NAME": path,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": self.client_address[0],
        }
        if self.command == "POST":
            env["CONTENT_TYPE"] = self.headers.get("Content-Type") or "application/xml"
            env["CONTENT_LENGTH"] = str(len(body))
        done = subprocess.run(
            [self.server.mapserv], input=body, env=env, capture_output=True, timeout=120, check=False
        )
        if done.stderr:
            log.debug("mapserv: %s", done.stderr.decode("utf-8", "replace").strip())
        head, sep, payload = done.stdout.partition(b"\r\n\r\n")
        if not sep:
            head, sep, payload = done.stdout.partition(b"\n\n")
        if not sep:
            self.send_error(502, "mapserv gave no CGI answer", done.stderr.decode("utf-8", "replace")[:500])
            return
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() == "status":
                status = int(value.split()[0])
            elif key.strip():
                headers.append((key.strip(), value.strip()))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        log.debug("wfs %s - %s", self.address_string(), format % args)


class _WfsHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    mapserv: str
    config_file: Path


class MapServerWfs:
    """Serve `layers` as a MapServer WFS on 127.0.0.1 (a free port unless `port` is given).

    Use as a context manager; `.url` is the service URL to give a WFS client.
    """

    def __init__(self, layers: list[WfsLayer], port: int | None = None, path: str = "/wfs"):
        if not layers:
            raise ValueError("MapServerWfs needs at least one layer")
        self.layers = list(layers)
        self.port = port
        self.path = path
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._httpd: _WfsHttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if not self._httpd:
            raise RuntimeError("MapServerWfs is not running: use it in a `with` block or call start()")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{self.path}"

    def start(self) -> MapServerWfs:
        mapserv = find_mapserv()
        for layer in self.layers:
            if not Path(layer.path).is_file():
                raise FileNotFoundError(f"WFS layer {layer.name!r}: data file {layer.path} does not exist")
        httpd = _WfsHttpServer(("127.0.0.1", self.port or 0), _CgiHandler)
        self._httpd = httpd
        try:
            self._tmp = tempfile.TemporaryDirectory(prefix="omv-mapserver-")
            folder = Path(self._tmp.name)
            mapfile, config = folder / "wfs.map", folder / "mapserver.conf"
            mapfile.write_text(render_mapfile(self.layers, self.url + "?"), encoding="utf-8")
            config_text = f"CONFIG\n  ENV\n    MS_MAPFILE {_quote(mapfile)}\n  END\nEND\n"
            config.write_text(config_text, encoding="utf-8")
            httpd.mapserv, httpd.config_file = mapserv, config
        except BaseException:
            self.stop()
            raise
        self._thread = threading.Thread(target=httpd.serve_forever, name="mapserver-wfs", daemon=True)
        self._thread.start()
        log.info("MapServer WFS serving %s at %s", ", ".join(x.name for x in self.layers), self.url)
        return self

    def stop(self) -> None:
        if self._httpd:
            if self._thread:
                self._httpd.shutdown()
                self._thread.join(timeout=10)
            self._httpd.server_close()
        if self._tmp:
            self._tmp.cleanup()
        self._httpd = self._thread = self._tmp = None

    def __enter__(self) -> MapServerWfs:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
