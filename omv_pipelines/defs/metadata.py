"""Materialisation metadata that makes the UI tell the story: row count, column schema, a preview."""

from __future__ import annotations

import dagster as dg
import pandas as pd

_SCHEMA_TYPES = {"geojson": "geojson (WGS84 [lon, lat])"}


def markdown_table(frame: pd.DataFrame, rows: int = 10, width: int | None = None) -> str:
    """A small Markdown table (no extra dependency). Cells are whole unless `width` asks to cut them (a
    person reads a rejected value as it was typed); `|` and line breaks are escaped, missing is empty."""
    if frame.empty:
        return "_(no rows)_"
    head = frame.head(rows).astype("string").fillna("")

    def cell(column: pd.Series) -> pd.Series:
        text = column.str.slice(0, width) if width else column
        return text.str.replace("|", "\\|", regex=False).str.replace(r"\r?\n", " ", regex=True)

    head = head.apply(cell)
    lines = ["| " + " | ".join(map(str, head.columns)) + " |", "|" + "---|" * len(head.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in head.itertuples(index=False, name=None)]
    more = f"\n\n_{len(frame) - rows} more rows_" if len(frame) > rows else ""
    return "\n".join(lines) + more


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
