"""Materialisation metadata that makes the UI tell the story: row count, column schema, a preview."""

from __future__ import annotations

import math
import re

import dagster as dg
import pandas as pd

_SCHEMA_TYPES = {"geojson": "geojson (WGS84 [lon, lat])"}


def markdown_table(frame: pd.DataFrame, rows: int = 10, width: int | None = None) -> str:
    """A small Markdown table (no extra dependency). Cells are whole unless `width` asks to cut them (a
    person reads a rejected value as it was typed); `|` and line breaks are escaped, missing is empty.
    Plain Python over at most `rows` rows: a pandas string operation per column costs more than the whole
    preview (it is made for every table of every commune run)."""
    if frame.empty:
        return "_(no rows)_"

    def cell(value: object) -> str:
        text = "" if _missing(value) else str(value)
        text = text[:width] if width else text
        return _LINE_BREAK.sub(" ", text.replace("|", "\\|"))

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    head = frame.head(rows)
    # Dates as pandas writes a column of them ("2024-05-01", not "2024-05-01 00:00:00").
    dates = [c for c, dtype in head.dtypes.items() if pd.api.types.is_datetime64_any_dtype(dtype)]
    if dates:
        head = head.assign(**{str(c): head[c].astype("string") for c in dates})
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in head.itertuples(index=False, name=None)]
    more = f"\n\n_{len(frame) - rows} more rows_" if len(frame) > rows else ""
    return "\n".join(lines) + more


_LINE_BREAK = re.compile(r"\r?\n")


def _missing(value: object) -> bool:
    return (
        value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))
    )


def table_metadata(frame: pd.DataFrame, schema_fields: list[dict] | None = None) -> dict[str, object]:
    """`dagster/row_count`, `dagster/column_schema` (typed from the Table Schema when given) and a preview."""
    if schema_fields:
        columns = [
            dg.TableColumn(
                name=f["name"],
                type=_SCHEMA_TYPES.get(f["type"], f["type"]),
                description=f.get("title"),
                constraints=dg.TableColumnConstraints(
                    nullable=not f.get("constraints", {}).get("required", False),
                    unique=bool(f.get("constraints", {}).get("unique", False)),
                ),
            )
            for f in schema_fields
        ]
    else:
        columns = [dg.TableColumn(name=str(c), type=str(t)) for c, t in frame.dtypes.items()]
    return {
        "dagster/row_count": dg.MetadataValue.int(len(frame)),
        "dagster/column_schema": dg.TableSchema(columns=columns),
        "preview": dg.MetadataValue.md(markdown_table(frame)),
    }
