"""Harvest one sheet of an xlsx or ods workbook, or a CSV file, from a path or an http(s) URL
(configuration: `config`).

Cells are kept as the office suite shows them (text, numbers, dates as pandas Timestamps; CSV cells stay
text) so that the mapping step decides what they mean. `_source_row` is the row number a person sees in
the office suite, so that every error further down can point at the very row to fix.
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import io
import json
import time
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pandas as pd

from omv_pipelines import http, secrets
from omv_pipelines.files import atomic_write
from omv_pipelines.sources.base import SOURCE_ROW, Harvest, SourceError, add_provenance
from omv_pipelines.sources.paths import read_contained
from omv_pipelines.sources.spreadsheet.config import SpreadsheetSource
from omv_pipelines.sources.state import state_name

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import requests

SEPARATORS = (";", ",", "\t")
HTTP_TIMEOUT_S = 60  # each wait for the server (connect, then every read)
HTTP_RETRIES = 3  # after a connection error, HTTP 429 or 5xx (with growing pauses, Retry-After honoured)
# Bounds (#11). A file or download above MAX_BYTES is refused; a download must arrive whole within
# DEADLINE_S; a workbook (a zip) must not inflate beyond MAX_UNZIPPED_BYTES, nor any member of it by more
# than MAX_COMPRESSION_RATIO (the XML of real sheets compresses 5-30 times; a zip bomb, hundreds).
MAX_BYTES = int(http.env_number("OMV_SPREADSHEET_MAX_BYTES", 200_000_000))
DEADLINE_S = http.env_number("OMV_SPREADSHEET_DEADLINE_S", http.DEADLINE_S)
MAX_UNZIPPED_BYTES = int(http.env_number("OMV_SPREADSHEET_MAX_UNZIPPED_BYTES", 500_000_000))
MAX_COMPRESSION_RATIO = 200
RATIO_MIN_BYTES = 1_000_000  # smaller members may compress as well as they like
URL_SCHEMES = ("http", "https")
# Header detection looks at this many rows from the top, and at this many rows below a candidate.
HEADER_SEARCH_ROWS = 50
HEADER_LOOKAHEAD_ROWS = 5


def harvest_spreadsheet(
    config: SpreadsheetSource,
    *,
    source_id: str,
    base_dir: Path | None = None,
    state_dir: Path | None = None,
    full_refresh: bool = False,
) -> Harvest:
    """Read the configured sheet into a DataFrame with provenance columns.

    With a `state_dir`, a URL's last copy and its ETag / Last-Modified are kept there, the next request
    asks the server whether the file changed, and an unchanged file (HTTP 304) is read from that copy.
    The copy is kept only once the file has been read without error. `full_refresh` is accepted for the
    common source signature: a sheet is always read whole.
    """
    started = time.perf_counter()
    fmt = config.resolved_format()
    cache = _HttpCache(state_dir, config.url) if config.url is not None and state_dir is not None else None
    data, location, name, response = _fetch(config, source_id, base_dir, cache)

    def fail(message: str, hint: str | None = None) -> SourceError:
        return SourceError(source_id, message, hint)

    stats: dict[str, object] = {"format": fmt, "bytes": len(data)}
    if cache is not None:
        stats["not_modified"] = response is None
    if fmt == "csv":
        grid, encoding, separator = _read_csv(data, config, name, fail)
        where = f"File {name!r}"
        stats |= {"encoding": encoding, "separator": separator}
    else:
        reader = _read_xlsx if fmt == "xlsx" else _read_ods
        grid, sheet = reader(data, config.sheet, name, fail)
        where = f"Sheet {sheet!r}"
        stats["sheet"] = sheet
    frame, header_row = _table(grid, config.header_row, where, fail)
    frame = _tidy(frame)
    add_provenance(frame, source_id, pd.Timestamp.now(tz="UTC"), frame.pop(SOURCE_ROW).to_numpy())
    stats |= {
        "header_row": header_row,
        "rows": len(frame),
        "duration_s": round(time.perf_counter() - started, 3),
    }
    if cache is not None and response is not None:
        cache.remember(data, response.headers)
    return Harvest(frame=frame, source_id=source_id, location=location, stats=stats)


class _HttpCache:
    """The last copy of a file at a URL and the validators the server gave with it, in the state folder."""

    def __init__(self, folder: Path, url: str):
        name = state_name(f"http-{secrets.redact_url(url)}", identity=url)
        self.meta = Path(folder) / f"{name}.json"
        self.body = Path(folder) / f"{name}.download"

    def cached(self) -> tuple[bytes, dict[str, str]] | None:
        """The copy and the conditional request headers that go with it; None without a sound copy."""
        try:
            doc = json.loads(self.meta.read_text(encoding="utf-8"))
            data = self.body.read_bytes()
        except (OSError, ValueError):
            return None
        if hashlib.sha256(data).hexdigest() != doc.get("sha256"):
            return None  # a copy from an interrupted run: download afresh
        headers = {"If-None-Match": doc.get("etag"), "If-Modified-Since": doc.get("last_modified")}
        headers = {k: v for k, v in headers.items() if v}
        return (data, headers) if headers else None

    def remember(self, data: bytes, headers: Mapping[str, str]) -> None:
        """Keep the copy with its validators (the file first, then the record that points at it)."""
        etag, modified = headers.get("ETag"), headers.get("Last-Modified")
        if not (etag or modified):
            self.meta.unlink(missing_ok=True)  # nothing to ask the server with next time
            self.body.unlink(missing_ok=True)
            return
        atomic_write(self.body, data)
        doc = {"etag": etag, "last_modified": modified, "sha256": hashlib.sha256(data).hexdigest()}
        atomic_write(self.meta, json.dumps(doc, indent=1).encode("utf-8"))


def _fetch(
    config: SpreadsheetSource, source_id: str, base_dir: Path | None, cache: _HttpCache | None
) -> tuple[bytes, str, str, requests.Response | None]:
    """The file's bytes, where they came from (no secrets), a short name for messages, and the HTTP
    response when the file was downloaded (None for a file, or for an unchanged URL read from the cache)."""
    if config.path is not None:
        data, path = read_contained(
            config.path, base_dir, source_id, max_bytes=MAX_BYTES, setting="OMV_SPREADSHEET_MAX_BYTES"
        )
        return data, str(path), path.name, None
    import requests

    url = config.url or ""
    shown = secrets.redact_url(url)
    hidden = http.url_secrets(url)  # registered first: a server echoing them back is masked everywhere
    scheme = urlsplit(url).scheme.lower()
    if scheme not in URL_SCHEMES:
        raise SourceError(
            source_id,
            f"the url scheme {scheme + ':' if scheme else '(none)'} is refused: only http and https are read",
            "give an http(s) URL, or a `path` inside the catalogue folder",
        )
    name = PurePosixPath(urlsplit(url).path).name or shown
    cached = cache.cached() if cache is not None else None
    try:
        with http.session(retries=HTTP_RETRIES, methods=("GET",)) as download:
            response, content = http.bounded_get(
                download,
                url,
                timeout=HTTP_TIMEOUT_S,
                headers=cached[1] if cached else None,
                deadline_s=DEADLINE_S,
                max_bytes=MAX_BYTES,
            )
    except http.TooSlow as err:
        raise SourceError(
            source_id,
            f"downloading {shown} took longer than the limit of {err.limit} "
            f"(OMV_SPREADSHEET_DEADLINE_S); {err}: refused",
            "the server is too slow or trickles its answer: retry later, or ask its administrator",
            retryable=True,
        ) from None
    except http.TooLarge as err:
        raise SourceError(
            source_id,
            f"downloading {shown} was refused: {err}, above the limit of {err.limit} "
            "(OMV_SPREADSHEET_MAX_BYTES)",
            "check that the URL names the right file; a larger one needs the limit raised by the operator",
        ) from None
    except requests.RequestException as err:
        raise SourceError(
            source_id,
            f"could not download {shown}: {type(err).__name__}",
            "check the URL and that the server is up",
            retryable=True,
        ) from None
    if response.status_code >= 400:
        body = secrets.redact(" ".join(response.text.split())[:200], *hidden)
        raise SourceError(
            source_id,
            f"downloading {shown} failed: HTTP {response.status_code} {response.reason}"
            + (f": {body}" if body else ""),
            "check the URL; a 401/403 means the file is not public",
            retryable=response.status_code in http.RETRY_STATUS,  # still busy or down after the retries
        )
    if response.status_code == 304 and cached is not None:
        return cached[0], shown, name, None
    if response.status_code == 304:
        raise SourceError(
            source_id,
            f"downloading {shown} failed: HTTP 304 Not Modified to an unconditional request",
            "the server is misconfigured: ask its administrator",
        )
    return content, shown, name, response


def _unreadable(fmt: str, name: str, data: bytes, err: Exception, fail: Callable) -> SourceError:
    if data[:4] == b"\xd0\xcf\x11\xe0":
        return fail(
            f"{name} is an old .xls (or password-protected) workbook, not {fmt}",
            "save it as .xlsx or .ods without a password",
        )
    return fail(
        f"{name} is unreadable as {fmt} ({type(err).__name__}: {err})",
        f"check that it is a complete {fmt} file (re-save it from the office suite) or set `format`",
    )


def _check_unzipped(data: bytes, name: str, fail: Callable) -> None:
    """Refuse a workbook (a zip) that would inflate beyond MAX_UNZIPPED_BYTES, or a member compressed
    suspiciously well (a zip bomb), before any reader inflates it. Sizes come from the zip directory;
    a member lying about its size fails in the reader (zipfile checks the size while inflating)."""
    import zipfile

    try:
        members = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return  # not a zip: the reader says what it is
    total = sum(m.file_size for m in members)
    if total > MAX_UNZIPPED_BYTES:
        raise fail(
            f"{name} would inflate to {total:,} bytes, above the limit of {MAX_UNZIPPED_BYTES:,} bytes "
            "(OMV_SPREADSHEET_MAX_UNZIPPED_BYTES): refused",
            "a workbook this large is likely a zip bomb; a real one needs the limit raised by the operator",
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > RATIO_MIN_BYTES and ratio > MAX_COMPRESSION_RATIO:
            raise fail(
                f"{name}: its part {member.filename!r} inflates {ratio:,.0f} times ({member.compress_size:,} "
                f"to {member.file_size:,} bytes), above the limit of {MAX_COMPRESSION_RATIO} times: refused "
                "as a likely zip bomb",
                "re-save the workbook from the office suite; if it is genuine, ask the operator",
            )


def _pick_sheet(names: list[str], sheet: str | int | None, fail: Callable) -> str:
    if sheet is None:
        sheet = 0
    if isinstance(sheet, int):
        if not 0 <= sheet < len(names):
            raise fail(
                f"there is no sheet number {sheet} (0-based) in a workbook of {len(names)} sheet(s): {names}"
            )
        return names[sheet]
    if sheet not in names:
        raise fail(f"there is no sheet named {sheet!r}; the sheets are {names}")
    return sheet


def _read_xlsx(data: bytes, sheet: str | int | None, name: str, fail: Callable) -> tuple[pd.DataFrame, str]:
    """The sheet as a grid (row i, column j = office row i+1, column j+1), merged ranges filled."""
    import openpyxl

    _check_unzipped(data, name, fail)
    try:
        # Not read-only: merged ranges are only known in the full mode. data_only: formulas' cached values.
        book = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
    except Exception as err:  # openpyxl raises zip, XML, key and value errors for broken files
        raise _unreadable("xlsx", name, data, err, fail) from None
    title = _pick_sheet(book.sheetnames, sheet, fail)
    ws = book[title]
    columns = list(zip(*ws.iter_rows(min_row=1, min_col=1, values_only=True), strict=True))
    grid = pd.DataFrame({j: pd.Series(col, dtype=object) for j, col in enumerate(columns)})
    for merged in ws.merged_cells.ranges:
        top_left = grid.iat[merged.min_row - 1, merged.min_col - 1]
        grid.iloc[merged.min_row - 1 : merged.max_row, merged.min_col - 1 : merged.max_col] = top_left
    return grid, title


def _read_ods(data: bytes, sheet: str | int | None, name: str, fail: Callable) -> tuple[pd.DataFrame, str]:
    _check_unzipped(data, name, fail)
    try:
        book = pd.ExcelFile(io.BytesIO(data), engine="odf")
        title = _pick_sheet([str(s) for s in book.sheet_names], sheet, fail)
        grid = pd.read_excel(book, sheet_name=title, header=None, dtype=object, na_filter=False)
    except SourceError:
        raise
    except Exception as err:  # odfpy raises zip and XML errors for broken files
        raise _unreadable("ods", name, data, err, fail) from None
    grid.columns = range(grid.shape[1])
    return grid, title


def _read_csv(
    data: bytes, config: SpreadsheetSource, name: str, fail: Callable
) -> tuple[pd.DataFrame, str, str]:
    import csv
    import itertools

    encoding = config.encoding or _detect_encoding(data)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        raise fail(
            f"{name} is not valid {encoding} (byte {err.start})", "set `encoding` (e.g. utf-8 or cp1252)"
        ) from None
    separator = config.separator or _detect_separator(text)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=separator))
    except csv.Error as err:
        raise fail(f"{name} is unreadable as csv: {err}") from None
    columns = itertools.zip_longest(*rows)  # transposes and pads short rows with None
    grid = pd.DataFrame({j: pd.Series(col, dtype=object) for j, col in enumerate(columns)})
    return grid, encoding, separator


def _detect_encoding(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def _detect_separator(text: str) -> str:
    """The candidate that splits the first lines into the same number (>1) of fields most consistently."""
    import csv

    sample = "\n".join(text.splitlines()[:HEADER_SEARCH_ROWS])
    best, best_score = ",", (0.0, 0)
    for sep in SEPARATORS:
        counts = [len(row) for row in csv.reader(io.StringIO(sample), delimiter=sep) if any(row)]
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        score = (counts.count(mode) / len(counts), mode)
        if mode > 1 and score > best_score:
            best, best_score = sep, score
    return best


def _empty(grid: pd.DataFrame) -> pd.DataFrame:
    """True where a cell is empty or only whitespace."""
    return grid.apply(lambda col: col.astype("string").str.strip().fillna("").eq(""))


def _column_letter(j: int) -> str:
    letters = ""
    j += 1
    while j:
        j, rest = divmod(j - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _detect_header(grid: pd.DataFrame, empty: pd.DataFrame) -> int:
    """Index of the first row whose non-empty cells are mostly distinct text and as wide as the data below.

    A row with repeated names right above a row of distinct names is the group row of a two-level header
    (e.g. "Coordonnées" merged over "Longitude" and "Latitude"): the lower row names the columns.
    """
    filled = (~empty).sum(axis=1).to_numpy()

    def verdict(i: int) -> tuple[bool, bool]:  # (looks like a header, has repeated names)
        below = filled[i + 1 : i + 1 + HEADER_LOOKAHEAD_ROWS]
        width = int(below.max()) if len(below) else 0
        if (width == 0 and filled[i + 1 :].any()) or filled[i] < 0.5 * width:
            return False, False  # a title or a note: narrower than the table, or apart from it
        cells = [v for v, e in zip(grid.iloc[i], empty.iloc[i], strict=True) if not e]
        texts = [" ".join(v.split()).lower() for v in cells if isinstance(v, str)]
        distinct = len(set(texts))
        return len(texts) >= 0.8 * len(cells) and distinct > 0.5 * len(cells), distinct < len(cells)

    for i in range(min(len(grid), HEADER_SEARCH_ROWS)):
        if not filled[i]:
            continue
        header, repeated = verdict(i)
        if header:
            if repeated and i + 1 < len(grid) and verdict(i + 1) == (True, False):
                return i + 1
            return i
    return int(filled.nonzero()[0][0])


def _header_name(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, dt.datetime | dt.date):
        value = value.isoformat()
    return " ".join(str(value).split())


def _table(
    grid: pd.DataFrame, header_row: int | None, where: str, fail: Callable
) -> tuple[pd.DataFrame, int]:
    """Columns named after the header row, empty rows and columns dropped, office row numbers kept."""
    empty = _empty(grid)
    if empty.to_numpy().all():
        raise fail(f"{where} is empty", "check that the catalogue names the right file and sheet")
    if header_row is None:
        h = _detect_header(grid, empty)
    else:
        h = header_row - 1
        if h >= len(grid) or empty.iloc[h].all():
            raise fail(
                f"{where}: header_row {header_row} is empty", "set header_row to the row of the column names"
            )
    keep = list(grid.columns[~empty.iloc[h:].all(axis=0).to_numpy(dtype=bool)])
    names: dict[str, str] = {}
    for j in keep:
        cell = f"{where}, cell {_column_letter(j)}{h + 1}"
        if empty.iat[h, j]:
            raise fail(f"{cell}: the header cell of a column with data is empty", "give every column a name")
        name = _header_name(grid.iat[h, j])
        if name in names:
            raise fail(
                f"{cell}: column name {name!r} is already used in cell {names[name]}",
                "give every column a distinct name",
            )
        names[name] = f"{_column_letter(j)}{h + 1}"
    body = grid.iloc[h + 1 :][keep]
    body_empty = empty.iloc[h + 1 :][keep]
    rows = (~body_empty.all(axis=1)).to_numpy(dtype=bool)
    # Blank out empty cells through numpy: DataFrame.mask would turn a column of integers into floats.
    values = body.to_numpy(dtype=object)[rows]
    values[body_empty.to_numpy(dtype=bool)[rows]] = None
    frame = pd.DataFrame(values, index=body.index[rows], columns=list(names), dtype=object)
    frame[SOURCE_ROW] = frame.index + 1
    return frame.reset_index(drop=True), h + 1


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Typed columns where a column holds one kind of value (CSV text stays text); pandas Timestamps for
    dates in mixed columns."""
    frame = frame.convert_dtypes(dtype_backend="pyarrow")
    for name in frame.select_dtypes(include=object).columns:
        frame[name] = frame[name].map(
            lambda v: pd.Timestamp(v) if isinstance(v, dt.datetime | dt.date) else v, na_action="ignore"
        )
    return frame
