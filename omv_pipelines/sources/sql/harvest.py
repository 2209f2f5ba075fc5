"""Harvest a table or a query from a SQL database through SQLAlchemy (configuration: `config`).

Nothing but one plain read reaches the database: a `query` is checked first (`readonly`: a single
SELECT, WITH ... SELECT or VALUES, nothing that writes, locks or reaches files), the driver options that
let several statements through (MySQL's multi-statements client flag, an init command) are refused, and
the session itself is read-only where the database has such a mode (PostgreSQL and MySQL/MariaDB: the
session's default and the transaction; SQLite: the file opened read-only and `query_only`), so that even
a statement that slipped past the check could not write. The read has a statement timeout and
streams rows with a server-side cursor in chunks so that memory stays flat while the rows arrive.
PostGIS geometry is returned as GeoJSON text in WGS84 ([lon, lat]) in the `geometry` column.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from omv_pipelines import secrets
from omv_pipelines.sources.base import GEOMETRY, Harvest, SourceError, add_provenance
from omv_pipelines.sources.paths import sqlite_file
from omv_pipelines.sources.sql.config import SqlSource
from omv_pipelines.sources.sql.readonly import ALLOWED, QueryRefused, check_query

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlalchemy.engine import URL, Connection

URL_EXAMPLE = "postgresql+psycopg://user:pass@host/db"
# The pip extra that brings a driver for a dialect family, and the URL scheme that uses that driver.
DRIVER_EXTRAS = {
    "postgresql": ("postgres", "postgresql+psycopg"),
    "mysql": ("mysql", "mysql+pymysql"),
    "mariadb": ("mysql", "mariadb+pymysql"),
}
# The GeoJSON column is first read under this name so that it cannot clash with a source column.
_GEOJSON_TMP = "__omv_geojson"
# Bind parameter that carries the last watermark of an incremental read.
_SINCE = "omv_since"
# MySQL's CLIENT_MULTI_STATEMENTS capability: with it, one execute runs every statement of a "a; b" text.
_MYSQL_MULTI_STATEMENTS = 1 << 16
# MySQL/MariaDB driver options (URL query) refused: several statements per call, SQL run at connect time,
# option files that may set either, and client-side file loading.
_MYSQL_REFUSED_OPTIONS = (
    "client_flag",
    "client_flags",
    "init_command",
    "read_default_file",
    "read_default_group",
    "local_infile",
    "allow_local_infile",
    "autocommit",
)


def harvest_source(
    config: SqlSource,
    *,
    source_id: str,
    base_dir: Path | None = None,
    state_dir: Path | None = None,
    full_refresh: bool = False,
) -> Harvest:
    """The registry's entry: with `incremental` settings and a `state_dir`, only what changed since the
    last harvest is read (everything when `full_refresh`); otherwise the whole table or query."""
    if config.incremental is not None and state_dir is not None:
        from omv_pipelines.sources.sql.incremental import harvest_incremental

        return harvest_incremental(
            config, source_id=source_id, base_dir=base_dir, state_dir=state_dir, full_refresh=full_refresh
        )
    return harvest_sql(config, source_id=source_id, base_dir=base_dir)


def harvest_sql(
    config: SqlSource,
    *,
    source_id: str,
    base_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    since: Any = None,
) -> Harvest:
    """Read the configured table or query into one DataFrame with provenance columns.

    With `since` (needs `incremental`), only rows whose watermark column is at or after it are read:
    at, not only after, so that a row changed later within the same timestamp (or the same day, for a
    date column) is not missed; re-reading the boundary rows is harmless because merging is by key.
    """
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    started = time.perf_counter()
    url = _resolve_url(config, source_id, base_dir, os.environ if env is None else env)
    passwords = _passwords(url)
    secrets.register(*passwords)
    location = _shown(url, passwords)

    def fail(message: str, hint: str | None = None, retryable: bool = False) -> SourceError:
        shown_hint = secrets.redact(hint, *passwords) if hint else None
        return SourceError(source_id, secrets.redact(message, *passwords), shown_hint, retryable=retryable)

    if since is not None and config.incremental is None:
        raise fail("a watermark was given but the source has no `incremental` settings")
    params = dict(config.params)
    if since is not None:
        if _SINCE in params:
            raise fail(f"the parameter name {_SINCE!r} is reserved for incremental reads", "rename it")
        params[_SINCE] = since

    refused = _refused_url_option(url)
    if refused is not None:
        raise fail(
            f"the driver option {refused!r} in the database URL is refused: it could let more than one "
            "statement, or a statement other than the read, run on the database",
            f"remove {refused} from the URL; the harvest runs {ALLOWED}",
        )
    if config.query is not None:
        try:
            check_query(config.query, url.get_backend_name())
        except QueryRefused as err:
            raise fail(f"the query is refused: {err}", f"write {ALLOWED}") from None

    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        if not Path(url.database).is_file():
            raise fail(f"SQLite file not found: {url.database}", "check the url and the catalogue folder")
    try:
        engine = sa.create_engine(url, poolclass=NullPool, connect_args=_connect_args(url, config.timeout_s))
    except (ImportError, sa.exc.NoSuchModuleError) as err:
        if url.get_backend_name() in DRIVER_EXTRAS:
            extra, scheme = DRIVER_EXTRAS[url.get_backend_name()]
            hint: str | None = f"pip install 'omv_pipelines[{extra}]' and write the URL as {scheme}://..."
        else:
            hint = "install the SQLAlchemy dialect and driver for this database"
        raise fail(f"no database driver for {url.drivername!r} ({err})", hint) from None
    sa.event.listen(engine, "do_connect", _lock_connect)

    from omv_pipelines.sources.sql.pg_copy import CopyConversionError

    copy_fallback = None
    try:
        try:
            chunks, columns, count, method = _read(engine, config, params, since is not None, use_copy=True)
        except CopyConversionError as err:  # a value Arrow cannot type (e.g. numeric NaN): read row by row
            copy_fallback = _first_lines(str(err), 1)
            chunks, columns, count, method = _read(engine, config, params, since is not None, use_copy=False)
    except sa.exc.DBAPIError as err:
        message = _first_lines(str(err.orig))
        hint, unreachable = None, False
        if "timeout" in message.lower() or "max_statement_time" in message.lower():
            hint = f"the read took longer than timeout_s={config.timeout_s}: raise it or narrow the query"
        elif isinstance(err, sa.exc.OperationalError) and "connect" in message.lower():
            hint = "check that the database server is running and that host and port are right"
            unreachable = True  # a server that is down or restarting may answer the next run
        raise fail(f"reading {location} failed: {message}", hint, retryable=unreachable) from None
    except sa.exc.SQLAlchemyError as err:
        raise fail(f"reading {location} failed: {_first_lines(str(err))}") from None
    except QueryRefused as err:  # the statement as composed (wrapped for geometry or a watermark)
        raise fail(f"the query is refused: {err}", f"write {ALLOWED}") from None
    finally:
        engine.dispose()

    frame = _to_frame(chunks, columns, config, fail)
    add_provenance(frame, source_id, pd.Timestamp.now(tz="UTC"), pd.RangeIndex(1, len(frame) + 1))
    stats = {
        "chunks": count,
        "rows": len(frame),
        "duration_s": round(time.perf_counter() - started, 3),
        "dialect": engine.dialect.name,
        "method": method,
    }
    if copy_fallback:
        stats["copy_fallback"] = copy_fallback
    return Harvest(frame=frame, source_id=source_id, location=location, stats=stats)


def _read(
    engine, config: SqlSource, params: dict[str, Any], incremental: bool, *, use_copy: bool
) -> tuple[list[pa.Table], list[str], int, str]:
    """Chunks of the result, its column names, the number of chunks read, and how it was read: by COPY
    (PostgreSQL through psycopg 3, when every column type allows) or row by row from a server-side cursor."""
    from omv_pipelines.sources.sql.pg_copy import CopyConversionError

    with engine.connect() as conn:
        _lock_session(conn, config.timeout_s)
        _begin_read_only(conn, config.timeout_s)
        stmt = _statement(config, conn, incremental=incremental)
        if use_copy and conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
            try:
                copied = _read_by_copy(conn, stmt, params, skip=config.geometry_column)
            except CopyConversionError:
                conn.invalidate()  # the COPY was cut short: this connection is of no further use
                raise
            if copied is not None:
                conn.rollback()
                table, columns, blocks = copied
                return [table], columns, blocks, "copy"
        streaming = conn.execution_options(stream_results=True, yield_per=config.chunk_size)
        # Result.yield_per again: the execution option alone is not applied to text() statements.
        result = streaming.execute(stmt, params).yield_per(config.chunk_size)
        columns = list(result.keys())
        chunks = [_to_arrow(rows, columns) for rows in result.partitions()]
        conn.rollback()
        return chunks, columns, len(chunks), "rows"


def _read_by_copy(
    conn: Connection, stmt, params: dict[str, Any], skip: str | None
) -> tuple[pa.Table, list[str], int] | None:
    """The result read through COPY, or None when a column type (or a repeated name) needs the row read.
    The `skip` column (the raw geometry, replaced by its GeoJSON) is not transferred at all."""
    import sqlalchemy as sa

    from omv_pipelines.sources.sql import pg_copy

    compiled = stmt.compile(dialect=conn.dialect)
    sql, bound = str(compiled), compiled.construct_params(params)
    dbapi_error = conn.dialect.loaded_dbapi.Error
    dbapi_connection = conn.connection.dbapi_connection
    if dbapi_connection is None:  # only after the connection was invalidated, never in a read
        raise sa.exc.ResourceClosedError("the database connection was closed")
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"SELECT * FROM ({sql}) AS omv_t LIMIT 0", bound)  # the result's columns and types
        # psycopg2 describes columns with named Column objects, not the bare tuples of the DBAPI stubs.
        columns: Sequence[Any] = cursor.description
        description = [column for column in columns if column.name != skip]
        names = [column.name for column in description]
        if len(set(names)) < len(names) or pg_copy.column_types(description) is None:
            return None
        if skip is not None:
            ident = conn.dialect.identifier_preparer.quote
            sql = f"SELECT {', '.join(map(ident, names))} FROM ({sql}) AS omv_c"
        table, blocks = pg_copy.read(cursor, sql, bound, description)
        return table, names, blocks
    except dbapi_error as err:
        raise sa.exc.DBAPIError.instance(sql, bound, err, dbapi_error) from err
    finally:
        cursor.close()


def _resolve_url(config: SqlSource, source_id: str, base_dir: Path | None, env: Mapping[str, str]) -> URL:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if config.url_env is not None:
        raw = env.get(config.url_env)
        if not raw:
            raise SourceError(
                source_id,
                f"environment variable {config.url_env} is not set",
                f"set {config.url_env} to a SQLAlchemy URL like {URL_EXAMPLE}",
            )
        origin = f"the value of {config.url_env}"
    else:
        raw = config.url or ""
        if "{base_dir}" in raw:
            if base_dir is None:
                raise SourceError(source_id, "the url uses {base_dir} but no base folder was given")
            raw = raw.replace("{base_dir}", Path(base_dir).resolve().as_posix())
        origin = "the url"
    try:
        url = make_url(raw)
    except ArgumentError:
        # SQLAlchemy's message repeats the whole string, password included: say it without it.
        raise SourceError(
            source_id, f"{origin} is not a SQLAlchemy URL", f"write it like {URL_EXAMPLE}"
        ) from None
    if (
        config.url_env is None
        and url.get_backend_name() == "sqlite"
        and url.database not in (None, "", ":memory:")
    ):
        # A catalogue's SQLite file is held to the catalogue folder like any file it names (the
        # operator's url_env is trusted): no reading the Dagster instance's own database.
        url = url.set(database=str(sqlite_file(url.database, base_dir, source_id)))
    return url


def _passwords(url: URL) -> list[str]:
    """The URL's password and any `password` query value (some drivers take it there)."""
    values = [url.password or ""] + [v for k, v in url.query.items() if k.lower() == "password"]
    return [v for value in values for v in ([value] if isinstance(value, str) else value) if v]


def _shown(url: URL, passwords: list[str]) -> str:
    """The URL as text fit to show: SQLAlchemy renders it, the secrets module masks it."""
    return secrets.redact(url.render_as_string(hide_password=False), *passwords)


def _first_lines(text: str, n: int = 2) -> str:
    return " ".join(line.strip() for line in text.strip().splitlines()[:n])


def _connect_args(url: URL, timeout_s: float) -> dict[str, Any]:
    """A bounded connection wait, so an unreachable host fails instead of hanging."""
    seconds = max(1, min(30, math.ceil(timeout_s)))
    backend = url.get_backend_name()
    if backend == "postgresql" and url.get_driver_name() in ("psycopg", "psycopg2"):
        return {"connect_timeout": seconds}
    if backend in ("mysql", "mariadb") and url.get_driver_name() == "pymysql":
        return {"connect_timeout": seconds}
    return {}


def _refused_url_option(url: URL) -> str | None:
    """The first driver option of a MySQL/MariaDB URL that could run more than the read, if any."""
    if url.get_backend_name() not in ("mysql", "mariadb"):
        return None
    for key in url.query:
        if key.lower() in _MYSQL_REFUSED_OPTIONS or "multi" in key.lower():
            return key
    return None


def _lock_connect(dialect, conn_rec, cargs: list[Any], cparams: dict[str, Any]) -> None:
    """Just before the driver connects: MySQL/MariaDB without the multi-statements capability, whatever
    set it; a SQLite file opened read-only (`mode=ro`), so that nothing can write to it."""
    if dialect.name in ("mysql", "mariadb"):
        if "client_flag" in cparams:
            cparams["client_flag"] = int(cparams["client_flag"]) & ~_MYSQL_MULTI_STATEMENTS
    elif dialect.name == "sqlite" and dialect.driver == "pysqlite" and cargs:
        cargs[0] = _sqlite_read_only_uri(str(cargs[0]), bool(cparams.get("uri")))
        cparams["uri"] = True


def _sqlite_read_only_uri(filename: str, is_uri: bool) -> str:
    """The SQLite URI that opens `filename` (a path, or already a file: URI) read-only."""
    from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

    if not is_uri:
        if filename in ("", ":memory:"):
            return "file::memory:"
        return f"file:{quote(Path(filename).resolve().as_posix())}?mode=ro"
    parts = urlsplit(filename)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "mode"]
    if "memory" not in dict(query).get("vfs", "") and ":memory:" not in parts.path:
        query.append(("mode", "ro"))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _lock_session(conn: Connection, timeout_s: float) -> None:
    """Make the whole session read-only and bounded in time, and commit that: a COMMIT or a ROLLBACK
    inside a query (were one to get past the check) cannot then give a later statement write access.
    The session also reads quotes and backslashes as the query check did."""
    from sqlalchemy import text

    name = conn.dialect.name
    if name == "postgresql":
        conn.exec_driver_sql("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        conn.exec_driver_sql("SET SESSION standard_conforming_strings = on")
        conn.execute(
            text("SELECT set_config('statement_timeout', :ms, false)"), {"ms": str(int(timeout_s * 1000))}
        )
        conn.commit()
    elif name in ("mysql", "mariadb"):
        conn.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
        # Backslash escapes on, as the check reads strings: NO_BACKSLASH_ESCAPES would end a string early.
        conn.exec_driver_sql("SET SESSION sql_mode = REPLACE(@@SESSION.sql_mode, 'NO_BACKSLASH_ESCAPES', '')")
        conn.commit()
    elif name == "sqlite":
        conn.exec_driver_sql("PRAGMA query_only = ON")  # for the connection, whatever the transaction
        conn.commit()


def _begin_read_only(conn: Connection, timeout_s: float) -> None:
    """Make the transaction read-only and bounded in time, with whatever the dialect offers."""
    from sqlalchemy import text

    name = conn.dialect.name
    if name == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        conn.execute(
            text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(int(timeout_s * 1000))}
        )
    elif name in ("mysql", "mariadb"):
        if getattr(conn.dialect, "is_mariadb", False):
            conn.execute(text("SET SESSION max_statement_time = :s"), {"s": float(timeout_s)})
        else:
            conn.execute(text("SET SESSION max_execution_time = :ms"), {"ms": int(timeout_s * 1000)})
        conn.exec_driver_sql("START TRANSACTION READ ONLY")
    elif name == "sqlite":
        conn.exec_driver_sql("PRAGMA query_only = ON")


def _statement(config: SqlSource, conn: Connection, *, incremental: bool = False):
    """The SELECT to run; with a geometry column it adds the GeoJSON of that column under a temporary name,
    and an incremental read keeps only rows whose watermark is at or after :omv_since."""
    import sqlalchemy as sa

    geom = config.geometry_column
    if geom is not None and conn.dialect.name != "postgresql":
        raise sa.exc.ArgumentError(
            f"geometry_column needs PostGIS (PostgreSQL); this database is {conn.dialect.name}"
        )
    mark = config.incremental.watermark_column if incremental and config.incremental else None
    if config.table is not None:
        schema, _, name = config.table.rpartition(".")
        names = [n for n in (geom, mark) if n]
        table = sa.table(name, *(sa.column(n) for n in dict.fromkeys(names)), schema=schema or None)
        columns: list[Any] = [sa.literal_column("*")]
        if geom:
            columns.append(_geojson(table.c[geom]).label(_GEOJSON_TMP))
        select = sa.select(*columns).select_from(table)
        return select.where(table.c[mark] >= sa.bindparam(_SINCE)) if mark else select
    if config.query is None:  # SqlSource's validator requires exactly one of table or query
        raise ValueError("give exactly one of table or query")
    # Trimmed of trailing semicolons and comments by the check, so that it can be wrapped in a subquery.
    query = check_query(config.query, conn.dialect.name)
    ident = conn.dialect.identifier_preparer.quote
    if mark:
        query = f"SELECT omv_i.* FROM ({query}) AS omv_i WHERE omv_i.{ident(mark)} >= :{_SINCE}"
    if geom is not None:
        query = (
            f"SELECT omv_q.*, ST_AsGeoJSON(ST_Transform(omv_q.{ident(geom)}, 4326)) AS {_GEOJSON_TMP} "
            f"FROM ({query}) AS omv_q"
        )
    # What is sent is checked again as a whole: the wrapping must not have opened the query up.
    return sa.text(check_query(query, conn.dialect.name))


def _geojson(column):
    import sqlalchemy as sa

    return sa.func.ST_AsGeoJSON(sa.func.ST_Transform(column, sa.literal(4326, sa.Integer)))


def _to_arrow(rows: list, columns: list[str]) -> pa.Table:
    """One chunk of rows as an Arrow table; a column of mixed Python types (SQLite) becomes text."""
    import pyarrow as pa

    arrays = []
    for values in zip(*rows, strict=True):
        try:
            arrays.append(pa.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays.append(pa.array([None if v is None else str(v) for v in values], pa.string()))
    return pa.Table.from_arrays(arrays, names=columns)


def _concat(chunks: list[pa.Table]) -> pa.Table:
    """Concatenate chunks whose inferred types may differ (a null-only chunk, or text in one chunk)."""
    import pyarrow as pa

    try:
        return pa.concat_tables(chunks, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        names = chunks[0].column_names
        clash = {name for name in names if len({c.schema.field(name).type for c in chunks} - {pa.null()}) > 1}
        as_text = [
            c.select(names).cast(
                pa.schema([pa.field(f.name, pa.string() if f.name in clash else f.type) for f in c.schema])
            )
            for c in chunks
        ]
        return pa.concat_tables(as_text, promote_options="permissive")


def _to_frame(chunks: list[pa.Table], columns: list[str], config: SqlSource, fail) -> pd.DataFrame:
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise fail(
            f"the result has several columns named {', '.join(duplicated)}", "give them distinct aliases"
        )
    if chunks:
        frame = _concat(chunks).to_pandas(types_mapper=pd.ArrowDtype)
    else:
        frame = pd.DataFrame({name: pd.Series(dtype=object) for name in columns})
    if config.geometry_column is not None:
        frame = frame.drop(columns=[config.geometry_column], errors="ignore")  # COPY reads skip it
        if GEOMETRY in frame.columns:
            raise fail(
                f"the result already has a column named {GEOMETRY!r} besides the geometry column",
                "rename it in a query",
            )
        frame = frame.rename(columns={_GEOJSON_TMP: GEOMETRY})
    return frame
