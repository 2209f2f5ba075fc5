"""Attribute types from one DescribeFeatureType: GML carries only text, the schema says which values
are numbers or booleans (ArcGIS writes a double as "1100.00000000"); dates stay ISO text."""

from __future__ import annotations

import logging

import pandas as pd

from omv_pipelines.sources.base import GEOMETRY
from omv_pipelines.sources.wfs.client import Client, local_name, parse_xml

log = logging.getLogger(__name__)

# XML Schema types whose GML text is cast; every other type (string, date, dateTime, gml:*) stays text.
_XSD_DTYPES = {
    **dict.fromkeys(
        (
            "int",
            "integer",
            "long",
            "short",
            "byte",
            "nonNegativeInteger",
            "positiveInteger",
            "nonPositiveInteger",
            "negativeInteger",
            "unsignedInt",
            "unsignedLong",
            "unsignedShort",
            "unsignedByte",
        ),
        "Int64",
    ),
    **dict.fromkeys(("double", "decimal", "float"), "Float64"),
    "boolean": "boolean",
}
_TRUE, _FALSE = ("true", "1"), ("false", "0")


def describe_types(client: Client, version: str, typename: str) -> dict[str, str] | None:
    """Column → pandas dtype for the numeric and boolean attributes of `typename`, read from one
    DescribeFeatureType; None when the server cannot say (the harvest goes on with text values)."""
    params = {"SERVICE": "WFS", "VERSION": version, "REQUEST": "DescribeFeatureType"}
    params["TYPENAMES" if version == "2.0.0" else "TYPENAME"] = typename
    try:
        root = parse_xml(client.get(params, f"DescribeFeatureType {typename}"))
    except Exception as err:  # a schema is a nicety: never fail the harvest for it
        log.warning("%s: no types from DescribeFeatureType (%s): values stay text", client.source_id, err)
        return None
    if local_name(root.tag) != "schema":
        log.warning(
            "%s: DescribeFeatureType answered <%s>, not a schema: values stay text",
            client.source_id,
            local_name(root.tag),
        )
        return None
    types = {}
    for node in root.iter():
        if not isinstance(node.tag, str) or local_name(node.tag) != "element" or not node.get("name"):
            continue
        xsd = node.get("type")
        if xsd is None:  # ArcGIS: <element name="NOM"><simpleType><restriction base="xsd:string">...
            base = next((r.get("base") for r in node.iter() if local_name(r.tag) == "restriction"), None)
            xsd = base or ""
        dtype = _XSD_DTYPES.get(xsd.rsplit(":", 1)[-1])
        if dtype:
            types[node.get("name")] = dtype
    return types


def apply_types(frame: pd.DataFrame, types: dict[str, str], source_id: str) -> list[str]:
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
