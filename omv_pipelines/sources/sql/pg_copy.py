"""The fast way to read a PostgreSQL result: COPY (SELECT ...) TO STDOUT as CSV, parsed by Arrow.

Fetching rows as Python tuples costs a Python object per value (about six times the time of `psql \\copy`
and a large transient heap for a million rows). COPY streams the result as text and Arrow's CSV reader
turns it into typed columns in C, block by block, so memory stays close to the size of the table itself.

Columns are typed from the result's own column types, so the table is what the row-by-row read gives:
integers, floats, booleans, numeric as decimals, dates, timestamps (UTC for timestamptz), and text for
text, json, uuid and extension types such as PostGIS geometry. A result with any other type (arrays,
intervals, bytea, ...) is left to the row-by-row read: `column_types` returns None for it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

# PostgreSQL type OIDs (pg_type.dat) read as themselves; OIDs from FIRST_USER_OID on belong to
# extensions (PostGIS geometry and geography among them) and arrive as text.
_BOOL, _INT8, _INT2, _INT4, _TEXT, _JSON, _FLOAT4, _FLOAT8 = 16, 20, 21, 23, 25, 114, 700, 701
_BPCHAR, _VARCHAR, _DATE, _TIMESTAMP, _TIMESTAMPTZ, _NUMERIC, _UUID, _JSONB = (
    1042,
    1043,
    1082,
    1114,
    1184,
    1700,
    2950,
    3802,
)
_NAME = 19
FIRST_USER_OID = 16384
_TEXT_LIKE = {_TEXT, _JSON, _BPCHAR, _VARCHAR, _UUID, _JSONB, _NAME}
BLOCK_BYTES = 1 << 22  # Arrow parses the CSV stream in blocks of this size (one record batch each)


class CopyConversionError(Exception):
    """A value of the COPY stream did not convert to its column's type (e.g. a date 'infinity')."""


def column_types(description) -> dict[str, pa.DataType] | None:
    """Arrow types for the result columns (a DB-API cursor description), or None when a column has a
    type that only the row-by-row read renders faithfully."""
    import pyarrow as pa

    simple = {
        _BOOL: pa.bool_(),
        _INT2: pa.int16(),
        _INT4: pa.int32(),
        _INT8: pa.int64(),
        _FLOAT4: pa.float32(),
        _FLOAT8: pa.float64(),
        _DATE: pa.date32(),
        _TIMESTAMP: pa.timestamp("us"),
        _TIMESTAMPTZ: pa.timestamp("us", tz="UTC"),
    }
    types: dict[str, pa.DataType] = {}
    for column in description:
        oid = column.type_code
        if oid in simple:
            types[column.name] = simple[oid]
        elif oid == _NUMERIC and column.precision and column.precision <= 38:
            types[column.name] = pa.decimal128(column.precision, column.scale or 0)
        elif oid in _TEXT_LIKE or oid == _NUMERIC or oid >= FIRST_USER_OID:
            types[column.name] = pa.string()  # numeric without a declared precision: see _numeric
        else:
            return None
    return types


def read(cursor, sql: str, params: dict[str, Any], description) -> tuple[pa.Table, int]:
    """Run `sql` through COPY on `cursor` (a psycopg 3 cursor inside the read-only transaction) and
    return the table and the number of blocks it was parsed in."""
    import pyarrow as pa

    types = column_types(description)
    if types is None:
        raise ValueError("this result has column types that COPY cannot read faithfully: use the row read")
    names = [column.name for column in description]
    # The text forms Arrow parses: ISO dates, timestamps in UTC with their offset.
    cursor.execute("SET LOCAL TimeZone = 'UTC'")
    cursor.execute("SET LOCAL DateStyle = 'ISO, YMD'")
    batches: list[pa.RecordBatch] = []
    with cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params or None) as copy:
        stream = _Blocks(iter(copy))
        if stream.peek():
            batches = _parse(stream, names, types)
    schema = pa.schema([pa.field(name, types[name]) for name in names])
    table = pa.Table.from_batches(batches, schema=schema)
    for column in description:
        if column.type_code == _NUMERIC and not pa.types.is_decimal(types[column.name]):
            index = names.index(column.name)
            table = table.set_column(index, column.name, _numeric(table.column(index)))
    return table, len(batches)


def _parse(stream: io.RawIOBase, names: list[str], types: dict[str, pa.DataType]) -> list[pa.RecordBatch]:
    import pyarrow as pa
    import pyarrow.csv as csv

    options = {
        "read_options": csv.ReadOptions(column_names=names, block_size=BLOCK_BYTES),
        # COPY writes NULL as an empty field and an empty string as "": only the former is null.
        "convert_options": csv.ConvertOptions(
            column_types=types,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
        "parse_options": csv.ParseOptions(newlines_in_values=True),
    }
    try:
        return list(csv.open_csv(io.BufferedReader(stream, BLOCK_BYTES), **options))
    except pa.ArrowInvalid as err:
        raise CopyConversionError(str(err)) from None


def _numeric(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """Numeric of no declared precision, read as text: decimals with the largest scale present, as the
    row-by-row read gives; text when a value is NaN or does not fit 38 digits."""
    import pyarrow as pa
    import pyarrow.compute as pc

    present = values.drop_null()
    if len(present) == 0:
        return values
    dot = pc.find_substring(present, ".")
    length = pc.utf8_length(present)
    scale = pc.max(pc.if_else(pc.greater_equal(dot, 0), pc.subtract(pc.subtract(length, dot), 1), 0)).as_py()
    digits = pc.max(pc.if_else(pc.greater_equal(dot, 0), dot, length)).as_py()
    if digits + scale > 38:
        return values
    try:
        return pc.cast(values, pa.decimal128(min(38, digits + scale), scale))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return values


class _Blocks(io.RawIOBase):
    """The COPY data (libpq hands over one row per message) as a readable byte stream, without joining."""

    def __init__(self, rows: Iterator):
        self._rows = rows
        self._current = memoryview(b"")

    def peek(self) -> bool:
        """Whether any data is left (COPY of an empty result sends none)."""
        while not self._current:
            row = next(self._rows, None)
            if row is None:
                return False
            self._current = memoryview(row).cast("B")
        return True

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        filled = 0
        while filled < len(buffer) and self.peek():
            n = min(len(buffer) - filled, len(self._current))
            buffer[filled : filled + n] = self._current[:n]
            self._current = self._current[n:]
            filled += n
        return filled
