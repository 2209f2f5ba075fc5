"""Validate a CSV against a Table Schema with frictionless, checking the header by name first.

frictionless 5 matches columns by position: one missing or moved column gives dozens of cascading errors
about the wrong fields, and `schema_sync=True` silently accepts missing or extra columns. So the header is
compared with the schema's field names here, and a mismatch is the only error reported.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, NamedTuple

import frictionless


class CsvError(NamedTuple):
    row: int | None  # 1 is the header
    field: str | None
    type: str  # frictionless's error type ("constraint-error", …) or "header-names"
    note: str


class CsvErrors(list):
    """The errors found (a plain list, empty when valid), with the number of data rows read."""

    def __init__(self, errors: list[CsvError], rows: int):
        super().__init__(errors)
        self.rows = rows


def _header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle), [])


def validate_csv(path: Path, descriptor: dict[str, Any]) -> CsvErrors:
    """Errors of `path` against the Table Schema `descriptor` (header by name, then every row)."""
    expected = [field["name"] for field in descriptor["fields"]]
    found = _header(path)
    if found != expected:
        note = f"expected {expected}, found {found}"
        return CsvErrors([CsvError(1, None, "header-names", note)], rows=0)
    # Name and folder apart: frictionless refuses an absolute path unless told its base is trusted.
    resource = frictionless.Resource(
        path=path.name, basepath=str(path.parent), schema=frictionless.Schema.from_descriptor(descriptor)
    )
    report = resource.validate()
    errors = [
        CsvError(row, field, kind, note)
        for row, field, kind, note in report.flatten(["rowNumber", "fieldName", "type", "note"])
    ]
    return CsvErrors(errors, rows=report.tasks[0].stats["rows"] if report.tasks else 0)
