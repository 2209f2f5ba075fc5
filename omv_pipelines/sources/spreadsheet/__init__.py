"""The `spreadsheet` source kind: one sheet of an xlsx/ods workbook, or a CSV file, from a path or a URL.

`config` (pydantic only, loaded with the catalogue), `harvest` (the office readers, imported when a
source is read).
"""

from omv_pipelines.sources.spreadsheet.config import SpreadsheetSource

__all__ = ["SpreadsheetSource"]
