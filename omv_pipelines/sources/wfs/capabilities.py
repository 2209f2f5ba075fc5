"""What the server offers, and the choices made from it: WFS version, feature type, output format, CRS."""

from __future__ import annotations

from dataclasses import dataclass

from omv_pipelines import secrets
from omv_pipelines.sources.base import SourceError
from omv_pipelines.sources.wfs.client import (
    Client,
    Refused,
    local_name,
    parse_xml,
    server_message,
)
from omv_pipelines.sources.wfs.config import VERSIONS
from omv_pipelines.sources.wfs.geometry import EPSG_CODE


@dataclass
class FeatureType:
    name: str
    crs: list[str]  # default first
    formats: list[str]


@dataclass
class Capabilities:
    version: str
    types: list[FeatureType]
    formats: list[str]  # GetFeature output formats for the whole service
    count_default: int | None  # declared server cap (WFS 2.0 CountDefault)
    sorting: bool = False  # WFS 2.0 ImplementsSorting: GetFeature takes SORTBY


def _get_capabilities(client: Client, version: str | None) -> bytes:
    """Capabilities in `version`, or in the newest version the server speaks (OWS negotiation first,
    then asking for each version in turn, for servers that refuse ACCEPTVERSIONS)."""
    params = {"SERVICE": "WFS", "REQUEST": "GetCapabilities"}
    if version:
        return client.get(dict(params, VERSION=version, ACCEPTVERSIONS=version), "GetCapabilities")
    try:
        return client.get(dict(params, ACCEPTVERSIONS=",".join(VERSIONS)), "GetCapabilities")
    except Refused as refused:
        for candidate in VERSIONS:
            try:
                return client.get(dict(params, VERSION=candidate), f"GetCapabilities {candidate}")
            except Refused:
                continue
        raise refused from None


def read_capabilities(client: Client, version: str | None) -> Capabilities:
    content = _get_capabilities(client, version)
    try:
        root = parse_xml(content)
    except Exception as err:
        raise SourceError(
            client.source_id,
            f"the capabilities of {client.safe} are not valid XML ({err}): "
            + secrets.redact(server_message(content), *client.hidden),
            "check that the URL points to a WFS service endpoint",
        ) from None
    if not local_name(root.tag).endswith("Capabilities"):
        raise SourceError(
            client.source_id,
            f"{client.safe} did not answer with WFS capabilities but with <{local_name(root.tag)}>",
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
        if local_name(node.tag) != "FeatureType":
            continue
        kids = {local_name(k.tag): k for k in node}
        name = (kids["Name"].text or "").strip() if "Name" in kids else ""
        crs = [
            (k.text or "").strip()
            for k in node
            if local_name(k.tag) in ("DefaultCRS", "DefaultSRS", "SRS", "OtherCRS", "OtherSRS") and k.text
        ]
        type_formats = [(f.text or "").strip() for f in kids.get("OutputFormats", []) if f.text]
        types.append(FeatureType(name, crs, type_formats))
    formats: list[str] = []
    count_default = None
    sorting = False
    for node in root.iter():
        tag = local_name(node.tag)
        if tag == "Operation" and node.get("name") == "GetFeature":
            for param in node:
                name = (param.get("name") or "").lower()
                if local_name(param.tag) == "Parameter" and name == "outputformat":
                    values = [v for v in param.iter() if local_name(v.tag) == "Value" and v.text]
                    formats += [(v.text or "").strip() for v in values]
        elif tag == "GetFeature":  # WFS 1.0: <ResultFormat><GML2/><geojson/></ResultFormat>
            for result in node:
                if local_name(result.tag) == "ResultFormat":
                    formats += [local_name(f.tag) for f in result]
        elif tag == "Constraint" and node.get("name") == "CountDefault":
            value = next((v.text for v in node.iter() if local_name(v.tag) == "DefaultValue"), None)
            if value and value.strip().isdigit():
                count_default = int(value)
        elif tag == "Constraint" and node.get("name") == "ImplementsSorting":  # OWS or FES constraint
            value = next((v.text for v in node.iter() if local_name(v.tag) == "DefaultValue"), None)
            sorting = (value or "").strip().upper() == "TRUE"
    return Capabilities(got, types, formats, count_default, sorting)


def find_type(caps: Capabilities, typename: str, source_id: str, shown: str) -> FeatureType:
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


def format_kind(token: str) -> str | None:
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


def choose_formats(advertised: list[str], wanted: str | None, source_id: str) -> list[str | None]:
    """Output formats to try, best first (None = the server's default GML)."""
    if wanted:
        match = [t for t in advertised if t.lower() == wanted.lower()]
        kind = format_kind(wanted)  # "geojson" or "GML32" also match the server's MIME-type tokens
        match = match or [t for t in advertised if kind and format_kind(t) == kind]
        if not match and advertised:
            raise SourceError(
                source_id,
                f"output format {wanted!r} is not offered",
                f"use one of: {', '.join(dict.fromkeys(advertised))} (or leave output_format empty)",
            )
        return [match[0] if match else wanted]
    ranked: dict[str, str] = {}
    for token in advertised:
        kind = format_kind(token)
        if kind and kind not in ranked:
            ranked[kind] = token
    order: list[str | None] = [ranked[k] for k in ("geojson", "gml32", "gml31", "gml2") if k in ranked]
    if not order or format_kind(order[-1] or "") == "geojson":
        order.append(None)  # keep a GML fallback for GeoJSON without feature ids
    return order


def request_srs(ftype: FeatureType, wanted: str | None, version: str) -> str | None:
    """The CRS name to send: the server's own spelling when it lists the CRS, in URN form for 1.1/2.0."""
    if version == "1.0.0":  # no SRSNAME in WFS 1.0: features come in the type's only SRS
        wanted = None
    if wanted is None and not ftype.crs:
        return None
    name = wanted or ftype.crs[0]
    code = EPSG_CODE.search(name.strip())
    if not code:
        return name
    if version == "1.0.0":
        return f"EPSG:{code.group(1)}"
    # An explicit URN leaves no doubt about the axis order of the answer.
    return f"urn:ogc:def:crs:EPSG::{code.group(1)}"
