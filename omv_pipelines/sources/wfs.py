"""Harvest one feature type from an OGC Web Feature Service (WFS 2.0, 1.1 or 1.0).

Plain HTTP (requests) rather than OWSLib: OWSLib sends GetFeature to the host named in the
capabilities (often an internal name), crashes on version mismatches and drops `startindex=0`.
Here every request goes to the URL the catalogue gives, and:

- the version is negotiated (2.0.0 → 1.1.0 → 1.0.0) unless pinned;
- features are paged with COUNT/MAXFEATURES + STARTINDEX until a short page; a server cap that is
  not declared is detected from the first page, and a feature id seen twice stops the harvest
  (paging that is not stable would silently lose rows);
- the next page is asked for while the current one is read (still one request at a time);
- the output format is picked from the advertised list: GeoJSON when offered and its features carry
  ids (asked with a one-feature request: MapServer's carry none) or `feature_id` names the attribute
  that identifies them, else GML 3.2/3.1/2;
- pages are asked in a stable order (SORTBY `sort_by`, else `feature_id`) when the server sorts;
- geometry is requested in the layer's native CRS and reprojected here with pyproj to WGS84
  [lon, lat] GeoJSON text (servers disagree on axis order for EPSG:4326; projected Belgian CRSs are
  unambiguous). Axis order: WFS 1.1/2.0 GML follows the CRS definition (lat,lon for EPSG:4326),
  WFS 1.0 GML and GeoJSON are x,y.

GML values arrive as text. No type is guessed ("0123" stays "0123"): numbers and booleans are cast as
the feature type's DescribeFeatureType declares them (ArcGIS writes a double as "1100.00000000"); dates
and date-times stay ISO text, since servers mix dates, zones and precisions and the standard being
filled decides what it needs. GeoJSON values keep their JSON types.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from omv_pipelines.sources.base import GEOMETRY, Harvest, SourceError, add_provenance

if TYPE_CHECKING:
    from lxml.etree import _Element as Element

log = logging.getLogger(__name__)

VERSIONS = ("2.0.0", "1.1.0", "1.0.0")
# Rough bounding box of Wallonia in WGS84, used to flag coordinates that are surely wrong.
WALLONIA_LON = (2.8, 6.5)
WALLONIA_LAT = (49.4, 50.9)
_RETRY_STATUS = {429, 500, 502, 503, 504}
_SECRET_PARAM = re.compile(r"key|token|pass|secret|auth|sig", re.IGNORECASE)
_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
_EPSG_CODE = re.compile(r"EPSG\D*?(?:[\d.]*[:/])?(\d+)$", re.IGNORECASE)


class WfsSource(BaseModel):
    """One feature type (layer) of a WFS server."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    kind: Literal["wfs"] = "wfs"
    """Source type discriminator."""
    url: str | None = None
    """Service URL, e.g. https://geoservices.wallonie.be/geoserver/ows (query parameters the server
    needs, like map=..., may be included; SERVICE/REQUEST/VERSION are added by the harvester)."""
    url_env: str | None = None
    """Name of an environment variable holding the service URL; when that variable is set it takes
    precedence over `url`."""
    typename: str
    """Feature type to harvest, as listed in the capabilities, e.g. 'ms:defibrillateurs' (the prefix
    may be left out when the name is unique)."""
    version: str | None = None
    """WFS version to speak ('2.0.0', '1.1.0' or '1.0.0'); empty = negotiate, newest first."""
    srs: str | None = None
    """CRS to request the geometry in, e.g. 'EPSG:31370'; empty = the layer's default CRS. Prefer the
    native projected CRS: the harvester reprojects to WGS84 itself."""
    output_format: str | None = None
    """GetFeature output format, one of the tokens the server advertises (case-insensitive); empty =
    GeoJSON when offered (and its features carry ids), else GML 3.2, 3.1, 2."""
    page_size: int = Field(1000, gt=0)
    """Features asked per GetFeature request (a smaller server cap is detected and followed)."""
    max_features: int | None = Field(None, gt=0)
    """Stop after this many features (for trials); empty = all."""
    sort_by: str | None = None
    """Attribute to page in the order of (SORTBY), when the server implements sorting (WFS 2.0): makes
    paging deterministic. Give a unique attribute such as OBJECTID; empty = feature_id, if given."""
    feature_id: str | None = None
    """Attribute identifying a feature, used as its row id when the output format carries no feature id
    (MapServer's GeoJSON), so that GeoJSON can be used and paging checked there."""
    username_env: str | None = None
    """Name of the environment variable holding the HTTP Basic user name, if the service needs one."""
    password_env: str | None = None
    """Name of the environment variable holding the HTTP Basic password."""
    timeout_s: float = Field(60, gt=0)
    """Seconds to wait for the server to connect and to answer each request."""
    retries: int = Field(3, ge=0)
    """Retries (with growing pauses) after a connection error, HTTP 429 or 5xx."""

    @model_validator(mode="after")
    def _check(self) -> WfsSource:
        if not self.url and not self.url_env:
            raise ValueError("give url (the WFS service URL) or url_env (an environment variable holding it)")
        if self.url and urlsplit(self.url).password:
            raise ValueError(
                "the url contains a password: never write secrets in the catalogue; use username_env and "
                "password_env (HTTP Basic) or put the URL in an environment variable named by url_env"
            )
        if self.version is not None and self.version not in VERSIONS:
            raise ValueError(f"version must be one of {', '.join(VERSIONS)} (or empty to negotiate)")
        if bool(self.username_env) != bool(self.password_env):
            raise ValueError("give both username_env and password_env, or neither")
        return self


# --------------------------------------------------------------------------------------------- HTTP


def safe_url(url: str) -> str:
    """`url` without user info and with secret-looking query values masked, for messages and metadata."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, "***" if _SECRET_PARAM.search(k) else v) for k, v in pairs]
    return urlunsplit((parts.scheme, host, parts.path, urlencode(query, safe=":/,*"), ""))


class _Refused(SourceError):
    """The server answered, but refused the request (HTTP 400 or an OGC exception report)."""


class _Client:
    """GET requests to one WFS endpoint, with retries and errors that say what to do."""

    def __init__(self, config: WfsSource, source_id: str, url: str):
        import requests

        self.config, self.source_id = config, source_id
        parts = urlsplit(url)
        self.base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        self.fixed = parse_qsl(parts.query, keep_blank_values=True)  # e.g. map=... kept on every call
        self.safe = safe_url(url)
        self.session = requests.Session()
        if config.username_env:
            self.session.auth = (_env(config.username_env, source_id), _env(config.password_env, source_id))
        self.bytes = 0

    def get(self, params: dict[str, Any], what: str) -> bytes:
        import requests

        ours = {k.upper() for k in params}
        query = [(k, v) for k, v in self.fixed if k.upper() not in ours] + list(params.items())
        shown = f"{self.safe} ({what})"
        for attempt in range(self.config.retries + 1):
            last = attempt == self.config.retries
            try:
                resp = self.session.get(self.base, params=query, timeout=self.config.timeout_s)
            except (requests.ConnectionError, requests.Timeout) as err:
                if last:
                    raise SourceError(
                        self.source_id,
                        f"cannot reach the WFS at {shown}: {type(err).__name__}: {_strip_urls(str(err))}",
                        "check the URL, that the server is up and reachable from here, or raise timeout_s",
                    ) from None
                self._pause(attempt, None)
                continue
            if resp.status_code in _RETRY_STATUS and not last:
                self._pause(attempt, resp.headers.get("Retry-After"))
                continue
            self.bytes += len(resp.content)
            if resp.status_code >= 400:
                hint = {
                    401: "check the credentials named by username_env/password_env",
                    403: "the account (or this machine) is not allowed to read this service",
                    404: "check the service URL",
                }.get(resp.status_code, "check the request parameters in the catalogue, or retry later")
                raise (_Refused if resp.status_code == 400 else SourceError)(
                    self.source_id,
                    f"the WFS at {shown} answered HTTP {resp.status_code}: {_server_message(resp.content)}",
                    hint,
                )
            _raise_ogc_exception(resp.content, self.source_id, shown)
            return resp.content
        raise AssertionError("unreachable")  # the loop always returns or raises

    def _pause(self, attempt: int, retry_after: str | None) -> None:
        delay = min(0.5 * 2**attempt, 8.0)
        if retry_after and retry_after.isdigit():
            delay = min(float(retry_after), 30.0)
        log.warning("WFS %s: retrying in %.1f s", self.safe, delay)
        time.sleep(delay)


def _env(name: str | None, source_id: str) -> str:
    value = os.environ.get(name or "")
    if not value:
        raise SourceError(source_id, f"environment variable {name} is not set", f"set {name} and retry")
    return value


def _strip_urls(text: str) -> str:
    """requests puts the full URL (with query) in its messages: keep only host and port."""
    return re.sub(r"url: \S+", "", text).strip()


@lru_cache(maxsize=4096)  # a page repeats the same few dozen tags tens of thousands of times
def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _parse_xml(content: bytes) -> Element:
    """Parse untrusted XML with libxml2 (lxml): no entity expansion, no network, and a document that
    declares entities is refused. libxml2 builds the tree in C, several times faster than defusedxml,
    whose parser calls back into Python for every element (most of the time of a GML harvest)."""
    from lxml import etree

    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True, remove_pis=True
    )
    root = etree.fromstring(content, parser)
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise ValueError("XML entity declarations are refused (possible entity expansion attack)")
    return root


def _server_message(content: bytes) -> str:
    """The text of an OGC exception report, or the start of whatever the server sent."""
    try:
        root = _parse_xml(content)
    except Exception:  # not XML: show the start of the text
        text = re.sub(r"<[^>]+>", " ", content[:2000].decode("utf-8", "replace"))
        return " ".join(text.split())[:300] or "(empty answer)"
    if "Exception" in _local(root.tag):
        return _exception_text(root)
    return " ".join(" ".join(root.itertext()).split())[:300] or "(empty answer)"


def _exception_text(root: Element) -> str:
    parts = []
    for node in root.iter():
        if _local(node.tag) in ("ServiceException", "Exception"):
            code = node.get("exceptionCode") or node.get("code")
            locator = node.get("locator")
            text = " ".join(" ".join(node.itertext()).split())
            label = ", ".join(x for x in (code, f"locator {locator}" if locator else None) if x)
            parts.append(f"[{label}] {text}" if label else text)
    return "; ".join(parts) or "(empty exception report)"


def _raise_ogc_exception(content: bytes, source_id: str, shown: str) -> None:
    """WFS servers often report errors with HTTP 200 and an exception report body."""
    head = content[:1000]
    if b"ExceptionReport" in head and content.lstrip()[:1] == b"<":
        raise _Refused(
            source_id,
            f"the WFS at {shown} reported an error: {_server_message(content)}",
            "check typename, version, srs and output_format against the server's capabilities",
        )


# ------------------------------------------------------------------------------------ Capabilities


@dataclass
class _FeatureType:
    name: str
    crs: list[str]  # default first
    formats: list[str]


@dataclass
class _Capabilities:
    version: str
    types: list[_FeatureType]
    formats: list[str]  # GetFeature output formats for the whole service
    count_default: int | None  # declared server cap (WFS 2.0 CountDefault)
    sorting: bool = False  # WFS 2.0 ImplementsSorting: GetFeature takes SORTBY


def _get_capabilities(client: _Client, version: str | None) -> bytes:
    """Capabilities in `version`, or in the newest version the server speaks (OWS negotiation first,
    then asking for each version in turn, for servers that refuse ACCEPTVERSIONS)."""
    params = {"SERVICE": "WFS", "REQUEST": "GetCapabilities"}
    if version:
        return client.get(dict(params, VERSION=version, ACCEPTVERSIONS=version), "GetCapabilities")
    try:
        return client.get(dict(params, ACCEPTVERSIONS=",".join(VERSIONS)), "GetCapabilities")
    except _Refused as refused:
        for candidate in VERSIONS:
            try:
                return client.get(dict(params, VERSION=candidate), f"GetCapabilities {candidate}")
            except _Refused:
                continue
        raise refused from None


def _capabilities(client: _Client, version: str | None) -> _Capabilities:
    content = _get_capabilities(client, version)
    try:
        root = _parse_xml(content)
    except Exception as err:
        raise SourceError(
            client.source_id,
            f"the capabilities of {client.safe} are not valid XML ({err}): {_server_message(content)}",
            "check that the URL points to a WFS service endpoint",
        ) from None
    if not _local(root.tag).endswith("Capabilities"):
        raise SourceError(
            client.source_id,
            f"{client.safe} did not answer with WFS capabilities but with <{_local(root.tag)}>",
            "check that the URL points to a WFS service endpoint",
        )
    got = root.get("version") or version or "1.0.0"
    if version and got != version:
        raise SourceError(
            client.source_id,
            f"the WFS at {client.safe} does not speak version {version} (it answered {got})",
            f"set version: {got} or leave version empty to negotiate",
        )
    types = []
    for node in root.iter():
        if _local(node.tag) != "FeatureType":
            continue
        kids = {_local(k.tag): k for k in node}
        name = (kids["Name"].text or "").strip() if "Name" in kids else ""
        crs = [
            (k.text or "").strip()
            for k in node
            if _local(k.tag) in ("DefaultCRS", "DefaultSRS", "SRS", "OtherCRS", "OtherSRS") and k.text
        ]
        formats = [(f.text or "").strip() for f in kids.get("OutputFormats", []) if f.text]
        types.append(_FeatureType(name, crs, formats))
    formats: list[str] = []
    count_default = None
    sorting = False
    for node in root.iter():
        tag = _local(node.tag)
        if tag == "Operation" and node.get("name") == "GetFeature":
            for param in node:
                if _local(param.tag) == "Parameter" and (param.get("name") or "").lower() == "outputformat":
                    values = [v for v in param.iter() if _local(v.tag) == "Value" and v.text]
                    formats += [(v.text or "").strip() for v in values]
        elif tag == "GetFeature":  # WFS 1.0: <ResultFormat><GML2/><geojson/></ResultFormat>
            for result in node:
                if _local(result.tag) == "ResultFormat":
                    formats += [_local(f.tag) for f in result]
        elif tag == "Constraint" and node.get("name") == "CountDefault":
            value = next((v.text for v in node.iter() if _local(v.tag) == "DefaultValue"), None)
            if value and value.strip().isdigit():
                count_default = int(value)
        elif tag == "Constraint" and node.get("name") == "ImplementsSorting":  # OWS or FES constraint
            value = next((v.text for v in node.iter() if _local(v.tag) == "DefaultValue"), None)
            sorting = (value or "").strip().upper() == "TRUE"
    return _Capabilities(got, types, formats, count_default, sorting)


def _find_type(caps: _Capabilities, typename: str, source_id: str, shown: str) -> _FeatureType:
    local = typename.rsplit(":", 1)[-1]
    exact = [t for t in caps.types if t.name == typename]
    loose = [t for t in caps.types if t.name.rsplit(":", 1)[-1] == local]
    if exact or len(loose) == 1:
        return (exact or loose)[0]
    names = sorted(t.name for t in caps.types)
    listed = ", ".join(names[:50]) + (f" … ({len(names)} in all)" if len(names) > 50 else "")
    problem = "is ambiguous" if loose else "is not offered"
    raise SourceError(
        source_id,
        f"feature type {typename!r} {problem} by the WFS at {shown}",
        f"use one of: {listed or '(the server lists no feature types)'}",
    )


def _format_kind(token: str) -> str | None:
    """'geojson', 'gml32', 'gml31', 'gml2' or None for an advertised output format token."""
    low = token.lower().replace(" ", "")
    if "json" in low:
        return "geojson"
    if "3.2" in low or "gml32" in low or low == "application/gml+xml":
        return "gml32"
    if "gml/3" in low or low in ("gml3", "gml31", "gml311"):
        return "gml31"
    if "gml/2" in low or low == "gml2":
        return "gml2"
    return None


def _choose_formats(advertised: list[str], wanted: str | None, source_id: str) -> list[str | None]:
    """Output formats to try, best first (None = the server's default GML)."""
    if wanted:
        match = [t for t in advertised if t.lower() == wanted.lower()]
        kind = _format_kind(wanted)  # "geojson" or "GML32" also match the server's MIME-type tokens
        match = match or [t for t in advertised if kind and _format_kind(t) == kind]
        if not match and advertised:
            raise SourceError(
                source_id,
                f"output format {wanted!r} is not offered",
                f"use one of: {', '.join(dict.fromkeys(advertised))} (or leave output_format empty)",
            )
        return [match[0] if match else wanted]
    ranked: dict[str, str] = {}
    for token in advertised:
        kind = _format_kind(token)
        if kind and kind not in ranked:
            ranked[kind] = token
    order = [ranked[k] for k in ("geojson", "gml32", "gml31", "gml2") if k in ranked]
    if not order or _format_kind(order[-1]) == "geojson":
        order.append(None)  # keep a GML fallback for GeoJSON without feature ids
    return order


def _request_srs(ftype: _FeatureType, wanted: str | None, version: str) -> str | None:
    """The CRS name to send: the server's own spelling when it lists the CRS, in URN form for 1.1/2.0."""
    if version == "1.0.0":  # no SRSNAME in WFS 1.0: features come in the type's only SRS
        wanted = None
    if wanted is None and not ftype.crs:
        return None
    name = wanted or ftype.crs[0]
    code = _EPSG_CODE.search(name.strip())
    if not code:
        return name
    if version == "1.0.0":
        return f"EPSG:{code.group(1)}"
    # An explicit URN leaves no doubt about the axis order of the answer.
    return f"urn:ogc:def:crs:EPSG::{code.group(1)}"


# -------------------------------------------------------------------------------- Attribute types

# XML Schema types whose GML text is cast; every other type (string, date, dateTime, gml:*) stays text.
_XSD_DTYPES = {
    **dict.fromkeys(
        ("int", "integer", "long", "short", "byte", "nonNegativeInteger", "positiveInteger",
         "nonPositiveInteger", "negativeInteger", "unsignedInt", "unsignedLong", "unsignedShort",
         "unsignedByte"),
        "Int64",
    ),
    **dict.fromkeys(("double", "decimal", "float"), "Float64"),
    "boolean": "boolean",
}
_TRUE, _FALSE = ("true", "1"), ("false", "0")


def _describe_types(client: _Client, version: str, typename: str) -> dict[str, str] | None:
    """Column → pandas dtype for the numeric and boolean attributes of `typename`, read from one
    DescribeFeatureType; None when the server cannot say (the harvest goes on with text values)."""
    params = {"SERVICE": "WFS", "VERSION": version, "REQUEST": "DescribeFeatureType"}
    params["TYPENAMES" if version == "2.0.0" else "TYPENAME"] = typename
    try:
        root = _parse_xml(client.get(params, f"DescribeFeatureType {typename}"))
    except Exception as err:  # a schema is a nicety: never fail the harvest for it
        log.warning("%s: no types from DescribeFeatureType (%s): values stay text", client.source_id, err)
        return None
    if _local(root.tag) != "schema":
        log.warning("%s: DescribeFeatureType answered <%s>, not a schema: values stay text",
                    client.source_id, _local(root.tag))
        return None
    types = {}
    for node in root.iter():
        if not isinstance(node.tag, str) or _local(node.tag) != "element" or not node.get("name"):
            continue
        xsd = node.get("type")
        if xsd is None:  # ArcGIS: <element name="NOM"><simpleType><restriction base="xsd:string">...
            base = next((r.get("base") for r in node.iter() if _local(r.tag) == "restriction"), None)
            xsd = base or ""
        dtype = _XSD_DTYPES.get(xsd.rsplit(":", 1)[-1])
        if dtype:
            types[node.get("name")] = dtype
    return types


def _apply_types(frame: pd.DataFrame, types: dict[str, str], source_id: str) -> list[str]:
    """Cast the text columns named in `types`, in place and vectorised; return the columns left as text
    because a value does not fit the declared type (the schema is then wrong, the data are kept)."""
    untyped = []
    for column, dtype in types.items():
        if column not in frame.columns or column == GEOMETRY:
            continue
        text = frame[column].astype("string").str.strip().replace("", pd.NA)
        if dtype == "boolean":
            lowered = text.str.lower()
            cast = pd.Series(pd.NA, index=frame.index, dtype="boolean")
            cast[lowered.isin(_TRUE)] = True
            cast[lowered.isin(_FALSE)] = False
        else:
            cast = pd.to_numeric(text, errors="coerce")  # "1100.00000000" → 1100.0
            if dtype == "Int64":
                cast = cast.where(cast.isna() | (cast % 1 == 0))  # a fraction does not fit: a bad value
            cast = cast.astype(dtype)
        bad = cast.isna() & text.notna()
        if bad.any():
            example = text[bad].iloc[0]
            log.warning("%s: column %s declared %s holds %r: kept as text", source_id, column, dtype, example)
            untyped.append(column)
            continue
        frame[column] = cast
    return untyped


# --------------------------------------------------------------------------------------- Geometry


class _Geometries:
    """The geometries of a page: templates + coordinate leaves, reprojected in one pyproj call per CRS.

    A leaf is an (n, 2) array, or the text of a GML pos/posList with its dimension: all the texts of a
    page are parsed in one numpy call rather than one per feature."""

    def __init__(self) -> None:
        self.leaves: list[np.ndarray | tuple[str, int]] = []  # in source axis order
        self.items: list[tuple[int, str, str, Any, str]] = []  # (row, column, type, template, crs key)

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
        tokens = [self.leaves[i][0].split() for i in texts]  # type: ignore[union-attr]
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
        """GeoJSON text per (row, column), and the rows having a vertex outside Wallonia."""
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
        outside = (lon < WALLONIA_LON[0]) | (lon > WALLONIA_LON[1])
        outside |= (lat < WALLONIA_LAT[0]) | (lat > WALLONIA_LAT[1])
        outside_rows = np.unique(np.repeat(leaf_row, sizes)[outside])
        points = len(arrays) == len(self.items) and all(item[2] == "Point" for item in self.items)
        if points and (sizes == 1).all() and np.isfinite(lon).all() and np.isfinite(lat).all():
            return self._points(lon, lat), outside_rows
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        lonlat = np.column_stack([lon, lat]).tolist()
        leaves = [lonlat[bounds[i] : bounds[i + 1]] for i in range(len(arrays))]
        out = {}
        for row, column, gtype, template, _ in self.items:
            coordinates = _fill(template, leaves)
            if gtype == "Point":
                coordinates = coordinates[0]
            geometry = {"type": gtype, "coordinates": coordinates}
            out[(row, column)] = json.dumps(geometry, separators=(",", ":"))
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
        code = _EPSG_CODE.search(crs_name.strip())
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


# Nesting of positions in GeoJSON coordinates: 0 = one position, 1 = a list of positions, ...
_JSON_DEPTH = {
    "Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3,
}


def _json_template(geometry: dict, geoms: _Geometries) -> tuple[str, Any]:
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
    "MultiGeometry", "CompositeCurve", "CompositeSurface", "CompositeSolid", "OrientableCurve",
    "OrientableSurface", "PolyhedralSurface", "TriangulatedSurface", "Tin", "Solid", "MultiSolid",
    "Envelope", "Box", "Geometry",
}


def _is_gml_geometry(name: str) -> bool:
    return name in _GML_TYPES or name in _GML_UNSUPPORTED


def _gml_positions(node: Element, dim: int) -> tuple[str, int] | np.ndarray:
    """Positions under a GML point/curve/ring element (source axis order): the text of its posList or
    pos elements with their dimension, left for _Geometries to parse with the whole page; or an (n, 2)
    array for GML 2 coordinates."""
    positions = []
    for child in node.iter():
        tag = _local(child.tag)
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
    if all(_local(p.tag) == "pos" for p in positions):
        d = int(positions[0].get("srsDimension") or dim) if positions else dim
        text = (positions[0].text or "") if len(positions) == 1 else " ".join(p.text or "" for p in positions)
        return text, d
    rows = []
    for p in positions:
        if _local(p.tag) == "pos":
            rows.append([float(v) for v in (p.text or "").split()][:2])
        else:
            parts = {_local(c.tag): float(c.text or "nan") for c in p}
            rows.append([parts.get("X", np.nan), parts.get("Y", np.nan)])
    return np.array(rows, dtype=float).reshape(-1, 2)


def _gml_leaf(node: Element, geoms: _Geometries, dim: int) -> int:
    found = _gml_positions(node, dim)
    return geoms.leaf(found) if isinstance(found, np.ndarray) else geoms.text_leaf(*found)


def _gml_array(node: Element, dim: int) -> np.ndarray:
    found = _gml_positions(node, dim)
    if isinstance(found, np.ndarray):
        return found
    text, d = found
    return np.array(text.split(), dtype=float).reshape(-1, d)[:, :2]


def _gml_template(node: Element, geoms: _Geometries, dim: int) -> Any:
    tag = _local(node.tag)
    dim = int(node.get("srsDimension") or dim)
    if tag in ("Point", "LineString", "LinearRing"):
        return _gml_leaf(node, geoms, dim)
    if tag == "Curve":
        segments = [s for s in node.iter() if _local(s.tag) == "LineStringSegment"]
        if not segments:
            raise ValueError("gml:Curve without LineStringSegment (arcs are not supported)")
        return geoms.leaf(np.concatenate([_gml_array(s, dim) for s in segments]))
    if tag in ("Polygon", "PolygonPatch"):
        rings = []
        for part in node:  # exterior first, then interiors, in document order
            if _local(part.tag) in ("exterior", "outerBoundaryIs", "interior", "innerBoundaryIs"):
                ring = next((r for r in part if _local(r.tag) in ("LinearRing", "Ring")), None)
                if ring is not None:
                    rings.append(_gml_leaf(ring, geoms, dim))
        return rings
    if tag == "Surface":
        return next(_gml_template(p, geoms, dim) for p in node.iter() if _local(p.tag) == "PolygonPatch")
    if tag == "MultiPoint":  # one leaf holding all its points
        arrays = [_gml_array(p, dim) for p in node.iter() if _local(p.tag) == "Point"]
        return geoms.leaf(np.concatenate(arrays) if arrays else np.empty((0, 2)))
    if tag.startswith("Multi"):  # members in curveMember(s), surfaceMember(s), polygonMember, ...
        return [
            _gml_template(part, geoms, dim)
            for holder in node
            if _local(holder.tag).endswith(("Member", "Members"))
            for part in holder
        ]
    raise ValueError(f"unsupported GML geometry <{tag}>")


# ---------------------------------------------------------------------------------------- Parsing


@dataclass
class _Page:
    records: list[dict[str, Any]] = field(default_factory=list)
    ids: list[Any] = field(default_factory=list)
    number_matched: int | None = None
    crs: str | None = None  # CRS named in the answer (page level)


def _parse_geojson(
    content: bytes, geoms: _Geometries, default_crs: str, on_count: Callable[[int], None] | None = None
) -> _Page:
    """Features of a GeoJSON page; `on_count` hears their number before they are read."""
    data = json.loads(content)
    features = data.get("features") or []
    if on_count:
        on_count(len(features))
    page = _Page()
    matched = data.get("numberMatched", data.get("totalFeatures"))
    page.number_matched = matched if isinstance(matched, int) else None
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


def _parse_gml(
    content: bytes, geoms: _Geometries, default_crs: str, on_count: Callable[[int], None] | None = None
) -> _Page:
    """Features of a GML page; `on_count` hears their number before they are read."""
    root = _parse_xml(content)
    page = _Page()
    matched = root.get("numberMatched") or root.get("numberOfFeatures")
    page.number_matched = int(matched) if matched and matched.isdigit() else None
    features: list[Element] = []
    for holder in root:
        tag = _local(holder.tag)
        if tag in ("featureMember", "member", "featureMembers"):
            features += [f for f in holder if _local(f.tag) not in ("FeatureCollection", "Tuple")]
    if on_count:
        on_count(len(features))
    for row, feature in enumerate(features):
        record: dict[str, Any] = {}
        has_geometry = False
        fid = next((v for k, v in feature.items() if _local(k) in ("id", "fid")), None)
        for prop in feature:
            name = _local(prop.tag)
            if name == "boundedBy":
                continue
            if not len(prop):  # a plain value
                record[name] = None if prop.get(_XSI_NIL) in ("true", "1") else prop.text
                continue
            geometry = prop[0]
            kind = _local(geometry.tag)
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


# -------------------------------------------------------------------------------------- Harvesting


def _service_url(config: WfsSource, source_id: str) -> str:
    if config.url_env:
        value = os.environ.get(config.url_env)
        if value:
            return value
        if not config.url:
            raise SourceError(
                source_id,
                f"environment variable {config.url_env} (the WFS URL) is not set",
                f"set {config.url_env} and retry",
            )
        log.info("%s: %s is not set, using url from the catalogue", source_id, config.url_env)
    return config.url or ""


def harvest_wfs(config: WfsSource, *, source_id: str, base_dir: Path | None = None) -> Harvest:
    """All features of `config.typename`, one row each, properties as columns, geometry as WGS84 GeoJSON.

    `base_dir` is accepted for the common source signature; a WFS has no local paths.
    """
    started = time.monotonic()
    harvested_at = pd.Timestamp.now(tz="UTC")
    client = _Client(config, source_id, _service_url(config, source_id))
    caps = _capabilities(client, config.version)
    version = caps.version
    ftype = _find_type(caps, config.typename, source_id, client.safe)
    formats = _choose_formats(ftype.formats or caps.formats, config.output_format, source_id)
    srs = _request_srs(ftype, config.srs, version)
    # GeoJSON first needs feature ids: from feature_id, or from the features themselves (asked).
    probe = len(formats) > 1 and _format_kind(formats[0] or "") == "geojson" and not config.feature_id
    if probe and not _geojson_has_ids(client, _getfeature(version, ftype.name, formats[0], srs)):
        log.info("%s: GeoJSON features carry no ids, harvesting as GML instead", source_id)
        formats = formats[1:]
    stats: dict[str, Any] = {"version": version, "typename": ftype.name, "srs": srs}
    cap = caps.count_default
    # GML carries only text: its numbers and booleans are typed from the feature type's schema.
    is_gml = formats[0] is None or _format_kind(formats[0]) != "geojson"
    types = _describe_types(client, version, ftype.name) if is_gml else None
    sort_by = (config.sort_by or config.feature_id) if caps.sorting and version == "2.0.0" else None
    if config.sort_by and not sort_by:
        log.warning("%s: the WFS does not implement sorting (WFS 2.0): paging in its own order", source_id)
    frames, ids, outside = _harvest_pages(
        client, config, version, ftype.name, formats[0], srs, cap, sort_by, stats
    )
    empty = pd.DataFrame({GEOMETRY: pd.Series([], dtype=object)})
    frame = pd.concat(frames, ignore_index=True) if frames else empty
    if is_gml:
        stats["typed_from_schema"] = types is not None
        untyped = _apply_types(frame, types or {}, source_id)
        if untyped:
            stats["untyped_columns"] = untyped
    if outside:
        log.warning(
            "%s: %d of %d features have coordinates outside Wallonia (lon %s, lat %s) after reprojection",
            source_id, outside, len(frame), WALLONIA_LON, WALLONIA_LAT,
        )
    stats.update(
        features=len(frame),
        bytes=client.bytes,
        outside_wallonia=outside,
        duration_s=round(time.monotonic() - started, 3),
    )
    add_provenance(frame, source_id, harvested_at, ids)
    getfeature = _getfeature(version, ftype.name, None, None)
    location = client.safe + ("&" if "?" in client.safe else "?") + urlencode(getfeature, safe=":")
    return Harvest(frame=frame, source_id=source_id, location=location, stats=stats)


def _getfeature(version: str, typename: str, fmt: str | None, srs: str | None) -> dict[str, Any]:
    """GetFeature parameters, without the paging ones."""
    params = {"SERVICE": "WFS", "VERSION": version, "REQUEST": "GetFeature"}
    params["TYPENAMES" if version == "2.0.0" else "TYPENAME"] = typename
    if srs and version != "1.0.0":
        params["SRSNAME"] = srs
    if fmt:
        params["OUTPUTFORMAT"] = fmt
    return params


def _geojson_has_ids(client: _Client, params: dict[str, Any]) -> bool:
    """Ask for one feature: do this server's GeoJSON features carry ids (GeoServer's do, MapServer's do
    not)? Without ids paging cannot be checked, and GML, which always has them, is the better choice.
    One feature rather than a first page thrown away."""
    one = dict(params, STARTINDEX=0)
    one["COUNT" if params["VERSION"] == "2.0.0" else "MAXFEATURES"] = 1
    content = client.get(one, f"GetFeature {params.get('TYPENAMES') or params.get('TYPENAME')}, one feature")
    try:
        features = json.loads(content).get("features") or []
    except (ValueError, AttributeError):
        return False  # not GeoJSON after all
    return not features or features[0].get("id") is not None


def _harvest_pages(
    client: _Client,
    config: WfsSource,
    version: str,
    typename: str,
    fmt: str | None,
    srs: str | None,
    cap: int | None,
    sort_by: str | None,
    stats: dict[str, Any],
) -> tuple[list[pd.DataFrame], list[Any], int]:
    """Page through the feature type, in `sort_by` order when given and more than one page may come."""
    source_id = client.source_id
    page_size = min(config.page_size, cap) if cap else config.page_size
    cap_known = cap is not None
    base = _getfeature(version, typename, fmt, srs)
    if sort_by and (config.max_features is None or config.max_features > page_size):
        base["SORTBY"] = f"{sort_by} ASC"
        stats["sorted_by"] = sort_by
    default_crs = srs or "EPSG:4326"  # the CRS of the answer is named in it; this is the last resort
    frames: list[pd.DataFrame] = []
    all_ids: list[Any] = []
    seen: set[Any] = set()
    ids_are_positions = False
    outside = 0
    start = pages = 0

    def wanted(start: int) -> int:
        return page_size if config.max_features is None else min(page_size, config.max_features - start)

    def fetch(start: int, want: int) -> bytes:
        params = dict(base, STARTINDEX=start)
        params["COUNT" if version == "2.0.0" else "MAXFEATURES"] = want
        return client.get(params, f"GetFeature {typename} from {start}")

    # Requests go out from one thread, one at a time as before; but the next page is asked for as soon
    # as this one is known to be full (before its features are read), so the server prepares it meanwhile.
    ahead: dict[tuple[int, int], Future[bytes]] = {}

    def ask_ahead(start: int, want: int, n: int) -> None:
        if n >= want and wanted(start + n) > 0:
            ahead[(start + n, wanted(start + n))] = pool.submit(fetch, start + n, wanted(start + n))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="wfs-pages") as pool:
        while True:
            want = wanted(start)
            if want <= 0:
                break
            try:
                content = (ahead.pop((start, want), None) or pool.submit(fetch, start, want)).result()
            except _Refused as refused:
                if pages or "SORTBY" not in base:
                    raise
                if not config.sort_by:  # the order was our idea (feature_id): page in the server's own
                    log.warning("%s: the WFS refused SORTBY (%s): paging unsorted", source_id, refused.reason)
                    del base["SORTBY"], stats["sorted_by"]
                    continue
                raise SourceError(
                    source_id,
                    f"the WFS at {client.safe} refused to sort {typename} by {sort_by!r}: {refused.reason}",
                    "check that sort_by names an attribute of the feature type (some server backends "
                    "cannot sort although the service says it can), or leave sort_by empty",
                ) from None
            ahead.clear()
            pages += 1
            geoms = _Geometries()
            try:
                is_json = content.lstrip()[:1] in (b"{", b"[")
                parse = _parse_geojson if is_json else _parse_gml
                page = parse(content, geoms, default_crs, partial(ask_ahead, start, want))
                xy_order = is_json or version == "1.0.0"
                geo_text, outside_rows = geoms.to_geojson(xy_order=xy_order, source_id=source_id)
            except SourceError:
                raise
            except Exception as err:
                raise SourceError(
                    source_id,
                    f"cannot read the GetFeature answer of {client.safe} ({typename}, from {start}): "
                    f"{type(err).__name__}: {err}",
                    "try another output_format, or report the server's answer to its administrator",
                ) from None
            n = len(page.records)
            if n == 0:
                break
            if config.feature_id and any(i is None for i in page.ids):
                page.ids = _attribute_ids(page, config.feature_id, typename, source_id)
            ids = pd.Series(page.ids, dtype=object)
            if pages == 1 and (ids.isna().any() or ids.duplicated().any()):
                ids_are_positions = True  # missing or repeated ids cannot identify rows
            if ids_are_positions:
                page.ids = list(range(start, start + n))
            else:
                again = seen.intersection(page.ids) | set(ids[ids.duplicated()])
                if again:
                    if len(seen.intersection(page.ids)) == n:
                        problem = f"ignores STARTINDEX (the page from {start} repeats features already read)"
                    else:
                        example = sorted(map(str, again))[0]
                        problem = f"returned {len(again)} feature id(s) twice (e.g. {example!r})"
                    raise SourceError(
                        source_id,
                        f"the WFS at {client.safe} {problem} while paging {typename}",
                        "paging is not reliable on this server: set page_size above the number of features, "
                        "or ask the administrator for a stable order and unique feature ids",
                    )
                seen.update(page.ids)
            for (row, column), text in geo_text.items():
                page.records[row][column] = text
            frames.append(pd.DataFrame.from_records(page.records))
            all_ids += page.ids
            outside += len(outside_rows)
            start += n
            if n >= want:
                continue
            # A short first page is the end, or an undeclared server cap: keep paging at that size.
            if pages == 1 and not cap_known and (page.number_matched is None or start < page.number_matched):
                page_size, cap_known = n, True
                stats["page_cap"] = n
                continue
            break
    if pages > 1 and "page_cap" in stats and start == stats["page_cap"]:
        del stats["page_cap"]  # the "cap" was just the number of features
    stats.update(pages=pages, output_format=fmt or "(server default GML)")
    if ids_are_positions:
        stats["feature_ids"] = "position"
        log.warning("%s: features carry no (unique) ids; _source_row holds their position", source_id)
    return frames, all_ids, outside


def _attribute_ids(page: _Page, name: str, typename: str, source_id: str) -> list[Any]:
    """The `feature_id` attribute of the page's features, as their ids."""
    if name not in page.records[0]:
        attributes = ", ".join(k for k in page.records[0] if k != GEOMETRY)
        raise SourceError(
            source_id, f"feature_id {name!r} is not an attribute of {typename}", f"use one of: {attributes}"
        )
    return [record.get(name) for record in page.records]
