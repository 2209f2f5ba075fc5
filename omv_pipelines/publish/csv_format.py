"""A schema table → the CSV bytes a commune would produce from the standard's template.

UTF-8 without BOM, `,` separator, every cell quoted, CRLF line ends (RFC 4180, as the FuturoCité
templates), columns in the schema's order, booleans `true`/`false`, ISO dates, datetimes with their
UTC offset, GeoJSON as text. Formatting is vectorised per column.

Published values are written as they are, even a text that a spreadsheet would run as a formula: the
standard's values must not change (`-3`, `+32 81 …`), so normalise warns about such cells instead (see the
README, "Spreadsheet formulas in published data"). The validation report, which a commune officer opens in
Excel, is neutralised instead (`report_csv`), and written as a French Excel opens it: UTF-8 with a BOM and
`;` between columns (a French Excel splits on `;`, since `,` is its decimal mark).
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


REPORT_SEPARATOR = ";"
REPORT_ENCODING = "utf-8-sig"  # UTF-8 with a BOM: Excel then reads the accents right


def report_csv(report: pd.DataFrame) -> bytes:
    """The validation report as the CSV a commune officer opens in a spreadsheet (a French Excel by
    double-click): UTF-8 with BOM, `;` separator, CRLF, formulas neutralised, every value whole, and a
    missing value as an empty cell (never `<NA>`, `nan` or `None`)."""
    text = escape_formulas(report).astype("string").fillna("")
    return text.to_csv(index=False, sep=REPORT_SEPARATOR, lineterminator="\r\n").encode(REPORT_ENCODING)


def read_report_csv(path) -> pd.DataFrame:
    """A `.report.csv` back as text, empty cells as "": this format, or the `,`/UTF-8 one of older exports."""
    with open(path, "rb") as handle:
        head = handle.readline().decode("utf-8-sig", errors="replace")
    separator = REPORT_SEPARATOR if head.count(REPORT_SEPARATOR) > head.count(",") else ","
    return pd.read_csv(path, sep=separator, dtype="string", keep_default_na=False, encoding="utf-8-sig")


def report_counts(report: pd.DataFrame) -> dict[str, int]:
    """Rows rejected (distinct source rows with an error) and warnings in a validation report."""
    if report.empty:
        return {"rows_rejected": 0, "warnings": 0}
    severity = report["severity"] if "severity" in report.columns else pd.Series("error", index=report.index)
    errors = report[severity == "error"]
    keys = [c for c in ("source_id", "source_row") if c in report.columns]
    rejected = len(errors[keys].drop_duplicates()) if keys else len(errors)
    return {"rows_rejected": int(rejected), "warnings": int((severity == "warning").sum())}


def content_hash(data: bytes) -> str:
    """Identity of a published file: an unchanged table gives the same hash and is not published again."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def render(table: pd.DataFrame, schema: DatasetSchema) -> tuple[bytes, str]:
    """The published file and its content hash, as every target needs them."""
    data = to_csv_bytes(table, schema)
    return data, content_hash(data)
