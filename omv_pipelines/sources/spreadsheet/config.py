"""What a spreadsheet source says in the catalogue: a file or an http(s) URL, its format, sheet and header.

Only pydantic here, so that the catalogue loads without the office readers; reading is in `harvest`.
"""

from __future__ import annotations

import codecs
from pathlib import PurePosixPath
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from omv_pipelines.secrets import SECRET_PARAM, has_credentials

Format = Literal["xlsx", "ods", "csv"]
EXTENSIONS: dict[str, Format] = {
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".ods": "ods",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
}


class SpreadsheetSource(BaseModel):
    """One sheet of a workbook (xlsx, ods) or a CSV file, read from a file or an http(s) URL."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, hide_input_in_errors=True)

    kind: Literal["spreadsheet"] = "spreadsheet"
    """Source type discriminator."""
    path: str | None = None
    """File path, relative to the catalogue folder (or absolute)."""
    url: str | None = None
    """http(s) URL of the file, e.g. a commune's published spreadsheet."""
    format: Format | None = None
    """File format; by default taken from the file extension (.xlsx/.xlsm, .ods, .csv/.tsv/.txt)."""
    sheet: str | int | None = None
    """Sheet name, or 0-based sheet index (xlsx, ods). By default the first sheet."""
    header_row: int | None = Field(None, ge=1)
    """Row of the column names as numbered in the office suite (1 = first row). By default the first row
    whose cells are mostly distinct text and that is followed by data (title rows above it are skipped)."""
    encoding: str | None = None
    """Text encoding of a CSV file. By default UTF-8 (with or without BOM), else Windows-1252."""
    separator: str | None = Field(None, min_length=1, max_length=1)
    """Field separator of a CSV file. By default detected among ';', ',' and tab."""

    @model_validator(mode="after")
    def _check(self) -> SpreadsheetSource:
        if (self.path is None) == (self.url is None):
            raise ValueError("give exactly one of path or url")
        if self.url is not None:
            _check_url(self.url)
        fmt = self.resolved_format()
        if fmt == "csv" and self.sheet is not None:
            raise ValueError("sheet applies to xlsx and ods workbooks, not to csv")
        if fmt != "csv" and (self.encoding is not None or self.separator is not None):
            raise ValueError("encoding and separator apply to csv files only")
        if self.encoding is not None:
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise ValueError(f"unknown encoding {self.encoding!r} (try utf-8 or cp1252)") from None
        return self

    def resolved_format(self) -> Format:
        """The format given, or the one the file name's extension says."""
        if self.format is not None:
            return self.format
        name = self.path if self.path is not None else urlsplit(self.url or "").path
        suffix = PurePosixPath(name.replace("\\", "/")).suffix.lower()
        if suffix == ".xls":
            raise ValueError("old .xls workbooks are not read: save the file as .xlsx or .ods")
        if suffix not in EXTENSIONS:
            raise ValueError(f"cannot tell the format from the name {name!r}: set format to xlsx, ods or csv")
        return EXTENSIONS[suffix]


def _check_url(url: str) -> None:
    """An http(s) URL with no credential in it: the catalogue is read by people and kept in git."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        scheme = f"{parts.scheme}://" if parts.scheme else "no scheme"
        raise ValueError(
            f"url must start with http:// or https:// (not {scheme}); a file next to the catalogue is "
            "given with path"
        )
    never = "never write credentials in the catalogue; publish the file at a URL that needs none, or "
    if has_credentials(url):
        raise ValueError(f"the url contains a user name or password: {never}copy it next to the catalogue")
    names = sorted({k for k, _ in parse_qsl(parts.query, keep_blank_values=True) if SECRET_PARAM.search(k)})
    if names:
        raise ValueError(
            f"the url has secret-looking query parameter(s) {', '.join(names)}: {never}copy it next to the "
            "catalogue"
        )
