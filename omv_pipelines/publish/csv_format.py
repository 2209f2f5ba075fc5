"""A schema table → the CSV bytes a commune would produce from the standard's template.

UTF-8 without BOM, `,` separator, every cell quoted, CRLF line ends (RFC 4180, as the FuturoCité
templates), columns in the schema's order, booleans `true`/`false`, ISO dates, datetimes with their
UTC offset, GeoJSON as text. Formatting is vectorised per column.

Published values are written as they are, even a text that a spreadsheet would run as a formula: the
standard's values must not change (`-3`, `+32 81 …`), so normalise warns about such cells instead (see the
README, "Spreadsheet formulas in published data"). The validation report, which a commune officer opens in
Excel, is neutralised instead (`report_csv`).
"""

from __future__ import annotations

import csv
import hashlib

import pandas as pd

from omv_pipelines.schemas import DatasetSchema


def _format_column(values: pd.Series, kind: str) -> pd.Series:
    if kind == "boolean":
        text = values.astype("boolean").map({True: "true", False: "false"})
    elif kind == "date":
        text = pd.to_datetime(values).dt.strftime("%Y-%m-%d")
    elif kind == "datetime":
        text = (
            pd.to_datetime(values)
            .dt.strftime("%Y-%m-%dT%H:%M:%S%z")
            .str.replace(r"([+-]\d\d)(\d\d)$", r"\1:\2", regex=True)
        )
    elif kind in ("integer", "year"):
        text = values.astype("Int64").astype("string")
    elif kind == "number":
        # 125.0 is written "125", as a person filling in the template would; 12.5 stays "12.5".
        numbers = values.astype("Float64")
        whole = numbers.notna() & (numbers == numbers.round()) & (numbers.abs() < 2**53)
        text = numbers.astype("string").mask(
            whole, numbers.where(whole).round().astype("Int64").astype("string")
        )
    else:
        text = values.astype("string")
    return text.astype("string").fillna("")


def to_csv_bytes(table: pd.DataFrame, schema: DatasetSchema) -> bytes:
    formatted = pd.DataFrame(
        {f["name"]: _format_column(table[f["name"]], f["type"]) for f in schema.fields}, index=table.index
    )
    return formatted.to_csv(index=False, quoting=csv.QUOTE_ALL, lineterminator="\r\n").encode("utf-8")


# OWASP CSV injection: a cell starting with one of these is read as a formula by spreadsheet software.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def escape_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Every text cell starting with a formula trigger gets a leading `'` (OWASP rule): Excel and
    LibreOffice then show it as text. Vectorised per column; numbers and other types are left alone."""
    escaped = {}
    for column in frame.columns:
        values = frame[column]
        if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
            continue
        text = values.astype("string")
        risky = text.str.startswith(FORMULA_TRIGGERS).fillna(False).astype(bool)
        if risky.any():
            escaped[column] = text.mask(risky, "'" + text)
    return frame.assign(**escaped) if escaped else frame


def report_csv(report: pd.DataFrame) -> bytes:
    """The validation report as the CSV a commune officer opens in a spreadsheet: formulas neutralised."""
    return escape_formulas(report).to_csv(index=False, lineterminator="\r\n").encode("utf-8")


def content_hash(data: bytes) -> str:
    """Identity of a published file: an unchanged table gives the same hash and is not published again."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def render(table: pd.DataFrame, schema: DatasetSchema) -> tuple[bytes, str]:
    """The published file and its content hash, as every target needs them."""
    data = to_csv_bytes(table, schema)
    return data, content_hash(data)
