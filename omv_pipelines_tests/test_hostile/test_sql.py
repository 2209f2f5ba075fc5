"""Hostile SQL in the catalogue, against the real PostgreSQL, MariaDB and SQLite (issue #11).

Every hostile case asserts the refusal (naming the source and what is allowed) and that the database is
unchanged: same rows, table still there, no new table, no file written. The second lock, the read-only
session, is tested on its own by sending what the query check would refuse straight to the session.
Legitimate queries (CTEs, subqueries, ';' or DROP inside strings, comments) must still read.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from omv_pipelines.sources.base import SourceError
from omv_pipelines.sources.sql import SqlIncremental, SqlSource
from omv_pipelines.sources.sql import harvest as sql_harvest
from omv_pipelines.sources.sql.harvest import harvest_sql
from omv_pipelines.sources.sql.incremental import harvest_incremental
from omv_pipelines.sources.sql.readonly import QueryRefused, check_query
from omv_pipelines_tests.test_sources.conftest import (  # noqa: F401 (fixtures)
    PG_URL,
    mariadb_table,
    pg_schema,
)

ALLOWED = "one plain read"
PG_DRIVERS = ["psycopg", "psycopg2"]


def _refused(config: SqlSource, url: str, reason: str, **kwargs) -> SourceError:
    with pytest.raises(SourceError) as info:
        harvest_sql(config, source_id="92094/hostile", env={"DB": url}, **kwargs)
    text = str(info.value)
    assert "'92094/hostile'" in text and reason in text and ALLOWED in text, text
    return info.value


def _outfile() -> Path:
    return Path(f"/tmp/omv_hostile_{uuid.uuid4().hex[:10]}")


# --- the check alone, in each dialect ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "query", "reason"),
    [
        ("postgresql", "SELECT 1; COMMIT; INSERT INTO t VALUES (1)", "more than one statement"),
        ("postgresql", "SELECT 1 /* ; */; DELETE FROM t", "more than one statement"),
        ("postgresql", r"SELECT 'a\'; DELETE FROM t; --'", "more than one statement"),  # standard strings
        ("postgresql", "SELECT 1 FROM t) AS x; DROP TABLE t; SELECT (1", "more than one statement"),
        ("postgresql", "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "kind DELETE"),
        ("postgresql", "WITH u AS (UPDATE t SET a = 1 RETURNING a) SELECT * FROM u", "kind UPDATE"),
        ("postgresql", "SELECT * FROM t FOR UPDATE", "FOR UPDATE"),
        ("postgresql", "SELECT * FROM t FOR NO KEY UPDATE SKIP LOCKED", "FOR UPDATE"),
        ("postgresql", "SELECT * FROM t FOR SHARE", "FOR UPDATE / FOR SHARE"),
        ("postgresql", "SELECT * INTO newtable FROM t", "INTO writes"),
        ("postgresql", "COPY (SELECT 1) TO '/tmp/x'", "kind COPY"),
        ("postgresql", "SELECT pg_read_file('/etc/passwd')", "pg_read_file()"),
        ("postgresql", "SELECT pg_catalog.\"pg_read_file\"('/etc/passwd')", "pg_read_file()"),
        ("postgresql", "SELECT lo_import('/etc/passwd')", "lo_import()"),
        ("postgresql", "SELECT * FROM dblink('db', 'DELETE FROM t') AS d(n int)", "dblink()"),
        ("postgresql", "SELECT set_config('default_transaction_read_only', 'off', false)", "set_config()"),
        ("postgresql", "EXPLAIN ANALYZE DELETE FROM t", "kind EXPLAIN"),
        ("postgresql", "DO $$BEGIN DELETE FROM t; END$$", "kind DO"),
        ("postgresql", "", "empty"),
        ("mysql", "SELECT id INTO OUTFILE '/tmp/x' FROM t", "INTO writes"),
        ("mysql", "SELECT * FROM t INTO DUMPFILE '/tmp/x'", "INTO writes"),
        ("mysql", "SELECT 1 /*!50000 INTO OUTFILE '/tmp/x' */", "executable comment"),
        ("mysql", "SELECT * FROM t LOCK IN SHARE MODE", "LOCK IN SHARE MODE"),
        ("mysql", "SELECT LOAD_FILE('/etc/passwd')", "LOAD_FILE()"),
        ("mysql", "SELECT sys_exec('id')", "sys_exec()"),
        ("mysql", "SELECT 1 -- \n; DROP TABLE t", "more than one statement"),
        ("sqlite", "ATTACH DATABASE '/tmp/x' AS y", "kind ATTACH"),
        ("sqlite", "SELECT writefile('/tmp/x', 'y')", "writefile()"),
        ("sqlite", "SELECT load_extension('/tmp/x')", "load_extension()"),
        ("sqlite", "PRAGMA query_only = OFF", "kind PRAGMA"),
    ],
)
def test_check_refuses(backend, query, reason):
    with pytest.raises(QueryRefused, match=None) as info:
        check_query(query, backend)
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("backend", "query", "sent"),
    [
        ("postgresql", "SELECT id FROM t WHERE nom = :nom AND n::int > 1 -- last ; DROP", None),
        (
            "postgresql",
            "WITH x AS (SELECT 1 AS a) SELECT * FROM x;\n-- end",
            "WITH x AS (SELECT 1 AS a) SELECT * FROM x",
        ),
        ("postgresql", "SELECT 'a; DROP TABLE t' AS s, $$;$$ AS d, \"x;y\" FROM t", None),
        ("postgresql", "(SELECT 1) UNION ALL (SELECT 2)", None),
        ("postgresql", "VALUES (1), (2)", None),
        ("postgresql", 'SELECT substring(a FROM 1 FOR 2) AS "into" FROM t', None),
        ("mysql", r"SELECT 'a\'; DELETE FROM t; -- ' AS s", None),  # one string where \' is a quote
        ("mysql", "SELECT `update`, 'x; DROP' FROM t # c", "SELECT `update`, 'x; DROP' FROM t"),
        ("sqlite", "SELECT [a;b] FROM t;;", "SELECT [a;b] FROM t"),
    ],
)
def test_check_lets_reads_through_trimmed(backend, query, sent):
    expected = sent if sent is not None else query.split(" -- last")[0]
    assert check_query(query, backend) == expected


# --- SQLite -----------------------------------------------------------------------------------------


@pytest.fixture()
def lite(tmp_path) -> Path:
    path = tmp_path / "db.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, nom TEXT, modifie TEXT)")
        db.executemany(
            "INSERT INTO t VALUES (?, ?, ?)",
            [(1, "a", "2024-01-01"), (2, "b; DROP", "2024-01-02"), (3, "c", None)],
        )
    return path


def _lite_state(path: Path) -> tuple[list[str], int]:
    with sqlite3.connect(path) as db:
        tables = [
            r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ]
        return tables, db.execute("SELECT count(*) FROM t").fetchone()[0]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("SELECT 1; DELETE FROM t", "more than one statement"),
        ("SELECT 1 /* ; */; DELETE FROM t", "more than one statement"),
        ("SELECT * FROM t; DROP TABLE t", "more than one statement"),
        ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "kind DELETE"),
        ("DELETE FROM t RETURNING id", "kind DELETE"),
        ("ATTACH DATABASE '{out}' AS other", "kind ATTACH"),
        ("VACUUM INTO '{out}'", "kind VACUUM"),
        ("SELECT * INTO copy FROM t", "INTO writes"),
    ],
)
def test_sqlite_hostile_query_is_refused_and_nothing_changes(lite, query, reason):
    out = _outfile()
    config = SqlSource(url_env="DB", query=query.format(out=out))
    _refused(config, f"sqlite:///{lite}", reason)
    assert _lite_state(lite) == (["t"], 3) and not out.exists()


def test_sqlite_hostile_query_is_refused_on_the_incremental_path(lite, tmp_path):
    settings = SqlIncremental(watermark_column="modifie", key_column="id")
    config = SqlSource(url_env="DB", query="SELECT * FROM t; DELETE FROM t", incremental=settings)
    with pytest.raises(SourceError, match="more than one statement"):
        harvest_incremental(
            config,
            source_id="s",
            base_dir=None,
            state_dir=tmp_path / "state",
            full_refresh=False,
            env={"DB": f"sqlite:///{lite}"},
        )
    assert _lite_state(lite) == (["t"], 3) and not (tmp_path / "state").exists()


def test_sqlite_hostile_table_name_is_one_quoted_identifier(lite):
    config = SqlSource(url_env="DB", table="t; DROP TABLE t")
    with pytest.raises(SourceError, match="no such table: t; DROP TABLE t"):
        harvest_sql(config, source_id="s", env={"DB": f"sqlite:///{lite}"})
    assert _lite_state(lite) == (["t"], 3)


def test_sqlite_session_is_read_only_even_past_the_check(lite):
    """What the check would refuse, sent straight to a connection opened as a harvest opens it."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    engine = sa.create_engine(f"sqlite:///{lite}", poolclass=NullPool)
    sa.event.listen(engine, "do_connect", sql_harvest._lock_connect)
    with engine.connect() as conn:
        sql_harvest._lock_session(conn, 5)
        sql_harvest._begin_read_only(conn, 5)
        with pytest.raises(sa.exc.OperationalError, match="readonly|read-only"):
            conn.exec_driver_sql("DELETE FROM t")
        conn.rollback()
        conn.exec_driver_sql("PRAGMA query_only = OFF")  # even then: the file is open read-only
        with pytest.raises(sa.exc.OperationalError, match="readonly"):
            conn.exec_driver_sql("DELETE FROM t")
    engine.dispose()
    assert _lite_state(lite) == (["t"], 3)


def test_sqlite_legitimate_queries_still_read(lite, tmp_path):
    url = f"sqlite:///{lite}"
    queries = {
        "WITH x AS (SELECT id, nom FROM t WHERE id > 1) SELECT * FROM x ORDER BY id": [2, 3],
        "SELECT id FROM t WHERE id IN (SELECT id FROM t WHERE nom <> 'a') ORDER BY id": [2, 3],
        "SELECT id, 'x; DROP TABLE t' AS s FROM t WHERE nom = 'b; DROP' ORDER BY id;": [2],
        "/* lead ; */ SELECT id -- DELETE FROM t;\nFROM t /* ; DROP TABLE t */ ORDER BY id; -- end": [
            1,
            2,
            3,
        ],
    }
    for query, ids in queries.items():
        frame = harvest_sql(SqlSource(url_env="DB", query=query), source_id="s", env={"DB": url}).frame
        assert frame["id"].tolist() == ids, query
    # a trailing line comment does not swallow the incremental wrapping
    settings = SqlIncremental(watermark_column="modifie", key_column="id")
    config = SqlSource(url_env="DB", query="SELECT * FROM t -- all of it", incremental=settings)
    harvest = harvest_incremental(
        config, source_id="s", base_dir=None, state_dir=tmp_path / "st", full_refresh=False, env={"DB": url}
    )
    assert harvest.frame["id"].tolist() == [1, 2, 3]
    again = harvest_incremental(
        config, source_id="s", base_dir=None, state_dir=tmp_path / "st", full_refresh=False, env={"DB": url}
    )
    assert again.stats["mode"] == "incremental" and again.frame["id"].tolist() == [1, 2, 3]
    assert _lite_state(lite) == (["t"], 3)


# --- PostgreSQL (psycopg 3: COPY and server-side cursor; psycopg2: named cursor) ---------------------


@pytest.fixture()
def pg(pg_schema) -> Iterator[tuple[str, str]]:  # noqa: F811 (the imported fixture)
    """A fresh table t (3 rows) in the test schema; dropped afterwards with anything a case created."""
    import sqlalchemy as sa

    url, schema = pg_schema
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {schema}.t (id integer PRIMARY KEY, nom text, modifie date)")
        conn.exec_driver_sql(
            f"INSERT INTO {schema}.t VALUES "
            "(1, 'a', '2024-01-01'), (2, 'b; DROP', '2024-01-02'), (3, 'c', NULL)"
        )
    try:
        yield url, schema
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {schema}.t, {schema}.newtable")
        engine.dispose()


def _pg_url(url: str, driver: str) -> str:
    return url.replace("postgresql+psycopg://", f"postgresql+{driver}://", 1)


def _pg_state(url: str, schema: str) -> tuple[list[str], int]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        tables = conn.exec_driver_sql(
            f"SELECT tablename FROM pg_tables WHERE schemaname = '{schema}' ORDER BY tablename"
        ).scalars()
        names = list(tables)
        count = conn.exec_driver_sql(f"SELECT count(*) FROM {schema}.t").scalar() if "t" in names else -1
    engine.dispose()
    return names, int(count or 0)


@pytest.mark.parametrize("driver", PG_DRIVERS)
@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("SELECT 1; COMMIT; INSERT INTO {s}.t VALUES (99, 'x')", "more than one statement"),
        ("SELECT 1; ROLLBACK; INSERT INTO {s}.t VALUES (99, 'x')", "more than one statement"),
        ("SELECT * FROM {s}.t; DROP TABLE {s}.t", "more than one statement"),
        ("SELECT 1 /* ; */; DELETE FROM {s}.t", "more than one statement"),
        (r"SELECT 'a\'; DELETE FROM {s}.t; --'", "more than one statement"),
        ("WITH d AS (DELETE FROM {s}.t RETURNING *) SELECT * FROM d", "kind DELETE"),
        ("SELECT * FROM {s}.t FOR UPDATE", "FOR UPDATE"),
        ("SELECT pg_read_file('/etc/passwd')", "pg_read_file()"),
        ("SELECT * INTO {s}.newtable FROM {s}.t", "INTO writes"),
        ("COPY (SELECT * FROM {s}.t) TO '{out}'", "kind COPY"),
        ("SELECT lo_import('/etc/passwd')", "lo_import()"),
        ("SELECT set_config('default_transaction_read_only', 'off', false)", "set_config()"),
    ],
)
def test_postgres_hostile_query_is_refused_and_nothing_changes(pg, driver, query, reason):
    url, schema = pg
    out = _outfile()
    config = SqlSource(url_env="DB", query=query.format(s=schema, out=out))
    _refused(config, _pg_url(url, driver), reason)
    assert _pg_state(url, schema) == (["t"], 3) and not out.exists()


def test_postgres_hostile_query_refused_with_geometry_and_incremental_wrapping(pg, tmp_path):
    url, schema = pg
    # Built to balance the parentheses of the wrapping: refused alone, and the wrapped text again.
    query = f"SELECT * FROM {schema}.t) AS x; DELETE FROM {schema}.t; SELECT * FROM ({schema}.t"
    settings = SqlIncremental(watermark_column="modifie", key_column="id")
    for config in (
        SqlSource(url_env="DB", query=query, geometry_column="g"),
        SqlSource(url_env="DB", query=query, incremental=settings),
    ):
        _refused(config, url, "more than one statement")
    with pytest.raises(SourceError, match="more than one statement"):
        harvest_incremental(
            SqlSource(url_env="DB", query=query, incremental=settings),
            source_id="s",
            base_dir=None,
            state_dir=tmp_path,
            full_refresh=True,
            env={"DB": url},
        )
    assert _pg_state(url, schema) == (["t"], 3)


@pytest.mark.parametrize("driver", PG_DRIVERS)
def test_postgres_hostile_names_are_quoted_identifiers(pg, driver):
    url, schema = pg
    db = _pg_url(url, driver)
    with pytest.raises(SourceError, match="does not exist"):
        harvest_sql(
            SqlSource(url_env="DB", table=f"{schema}.t; DROP TABLE {schema}.t"), source_id="s", env={"DB": db}
        )
    hostile_column = f'id") FROM {schema}.t; DROP TABLE {schema}.t; --'
    with pytest.raises(SourceError, match="does not exist"):
        harvest_sql(
            SqlSource(url_env="DB", table=f"{schema}.t", geometry_column=hostile_column),
            source_id="s",
            env={"DB": db},
        )
    settings = SqlIncremental(watermark_column=hostile_column, key_column="id")
    with pytest.raises(SourceError, match="does not exist"):
        harvest_sql(
            SqlSource(url_env="DB", query=f"SELECT * FROM {schema}.t", incremental=settings),
            source_id="s",
            env={"DB": db},
            since=1,
        )
    assert _pg_state(url, schema) == (["t"], 3)


@pytest.mark.parametrize("closer", ["COMMIT", "ROLLBACK"])
def test_postgres_session_is_read_only_even_past_the_check(pg, closer):
    """psycopg2 runs every statement of one execute: sent past the check, a COMMIT or ROLLBACK then an
    INSERT still meets a read-only session (the session default was committed before the read)."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    url, schema = pg
    engine = sa.create_engine(_pg_url(url, "psycopg2"), poolclass=NullPool)
    with engine.connect() as conn:
        sql_harvest._lock_session(conn, 5)
        sql_harvest._begin_read_only(conn, 5)
        with pytest.raises(sa.exc.DBAPIError, match="read-only transaction"):
            conn.exec_driver_sql(f"SELECT 1; {closer}; INSERT INTO {schema}.t VALUES (99, 'x')")
        conn.rollback()
        with pytest.raises(sa.exc.DBAPIError, match="read-only transaction"):
            conn.exec_driver_sql(f"DROP TABLE {schema}.t")
    engine.dispose()
    assert _pg_state(url, schema) == (["t"], 3)


@pytest.mark.parametrize("driver", PG_DRIVERS)
def test_postgres_legitimate_queries_still_read_on_every_path(pg, driver, tmp_path):
    url, schema = pg
    db = _pg_url(url, driver)
    cases = {
        f"WITH x AS (SELECT id, nom FROM {schema}.t WHERE id > 1) SELECT * FROM x ORDER BY id": [2, 3],
        f"SELECT id FROM {schema}.t WHERE id IN (SELECT id FROM {schema}.t WHERE nom <> 'a') ORDER BY id": [
            2,
            3,
        ],
        f"SELECT id, 'x; DROP TABLE t' AS s, $$;$$ AS d FROM {schema}.t WHERE nom = 'b; DROP'": [2],
        f"/* lead ; */ SELECT id -- ; DELETE\nFROM {schema}.t /* ; DROP */ ORDER BY id; -- end": [1, 2, 3],
        # an array column is read row by row (server-side cursor), the others by COPY with psycopg 3
        f"SELECT id, ARRAY[id] AS a FROM {schema}.t ORDER BY id -- rows": [1, 2, 3],
    }
    methods = set()
    for query, ids in cases.items():
        harvest = harvest_sql(SqlSource(url_env="DB", query=query), source_id="s", env={"DB": db})
        assert harvest.frame["id"].tolist() == ids, query
        methods.add(harvest.stats["method"])
    assert methods == ({"copy", "rows"} if driver == "psycopg" else {"rows"})
    geo = SqlSource(
        url_env="DB",
        query="SELECT 1 AS id, ST_SetSRID(ST_MakePoint(185000, 128000), 31370) AS g -- trailing",
        geometry_column="g",
    )
    assert (
        harvest_sql(geo, source_id="s", env={"DB": db})
        .frame["geometry"]
        .iloc[0]
        .startswith('{"type":"Point"')
    )
    settings = SqlIncremental(watermark_column="modifie", key_column="id")
    inc = SqlSource(url_env="DB", query=f"SELECT * FROM {schema}.t -- all", incremental=settings)
    for _ in range(2):
        harvest = harvest_incremental(
            inc, source_id="s", base_dir=None, state_dir=tmp_path, full_refresh=False, env={"DB": db}
        )
        assert harvest.frame["id"].tolist() == [1, 2, 3]
    assert harvest.stats["mode"] == "incremental"
    assert _pg_state(url, schema) == (["t"], 3)


# --- MariaDB ----------------------------------------------------------------------------------------


@pytest.fixture()
def maria(mariadb_table) -> Iterator[tuple[str, str]]:  # noqa: F811 (the imported fixture)
    import sqlalchemy as sa

    url, table = mariadb_table
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table} (id INT PRIMARY KEY, nom VARCHAR(20), modifie DATE)")
        conn.exec_driver_sql(
            f"INSERT INTO {table} VALUES (1, 'a', '2024-01-01'), (2, 'b; DROP', '2024-01-02'), (3, 'c', NULL)"
        )
    try:
        yield url, table
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        engine.dispose()


def _maria_state(url: str, table: str) -> int:
    """Rows in the table (-1 when it is gone)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        exists = conn.exec_driver_sql(f"SHOW TABLES LIKE '{table}'").first() is not None
        count = conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() if exists else -1
    engine.dispose()
    return int(count or 0)


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("SELECT id FROM {t} INTO OUTFILE '{out}'", "INTO writes"),
        ("SELECT id INTO DUMPFILE '{out}' FROM {t} LIMIT 1", "INTO writes"),
        ("SELECT 1 /*!50000 INTO OUTFILE '{out}' */", "executable comment"),
        ("SELECT 1; DROP TABLE {t}", "more than one statement"),
        ("SELECT 1 /* ; */; DELETE FROM {t}", "more than one statement"),
        ("SELECT * FROM {t} FOR UPDATE", "FOR UPDATE"),
        ("SELECT * FROM {t} LOCK IN SHARE MODE", "LOCK IN SHARE MODE"),
        ("SELECT LOAD_FILE('/etc/passwd')", "LOAD_FILE()"),
        ("DELETE FROM {t}", "kind DELETE"),
    ],
)
def test_mariadb_hostile_query_is_refused_and_nothing_changes(maria, query, reason):
    url, table = maria
    out = _outfile()
    _refused(SqlSource(url_env="DB", query=query.format(t=table, out=out)), url, reason)
    assert _maria_state(url, table) == 3 and not out.exists()


@pytest.mark.parametrize(
    "option",
    [
        "client_flag=65536",
        "CLIENT_FLAG=65536",
        "init_command=DROP%20TABLE%20{t}",
        "read_default_file=/tmp/x",
        "local_infile=1",
    ],
)
def test_mariadb_driver_options_that_run_more_are_refused(maria, option):
    url, table = maria
    name = option.split("=")[0]
    config = SqlSource(url_env="DB", query=f"SELECT 1; DROP TABLE {table}")
    err = _refused(config, f"{url}?{option.format(t=table)}", f"driver option {name!r}")
    assert "remove" in str(err)
    _refused(
        SqlSource(url_env="DB", table=table), f"{url}?{option.format(t=table)}", f"driver option {name!r}"
    )
    assert _maria_state(url, table) == 3


def test_mariadb_multi_statements_flag_is_masked_at_connect(maria):
    """Even when the flag comes through connect_args (not the URL), a harvest connection cannot run two
    statements in one call."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    url, table = maria
    engine = sa.create_engine(url, poolclass=NullPool, connect_args={"client_flag": 65536})
    sa.event.listen(engine, "do_connect", sql_harvest._lock_connect)
    with engine.connect() as conn, pytest.raises(sa.exc.ProgrammingError, match="syntax"):
        conn.exec_driver_sql(f"SELECT 1; DROP TABLE {table}")
    engine.dispose()
    assert _maria_state(url, table) == 3


def test_mariadb_session_is_read_only_even_after_a_commit(maria):
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    url, table = maria
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        sql_harvest._lock_session(conn, 5)
        sql_harvest._begin_read_only(conn, 5)
        conn.exec_driver_sql("COMMIT")  # what a second statement would do, were one let through
        with pytest.raises(sa.exc.DBAPIError, match="READ ONLY"):
            conn.exec_driver_sql(f"DELETE FROM {table}")
        conn.rollback()
        with pytest.raises(sa.exc.DBAPIError, match="READ ONLY"):
            conn.exec_driver_sql(f"INSERT INTO {table} VALUES (99, 'x', NULL)")
    engine.dispose()
    assert _maria_state(url, table) == 3


def test_mariadb_legitimate_queries_still_read(maria, tmp_path):
    url, table = maria
    cases = {
        f"WITH x AS (SELECT id FROM {table} WHERE id > 1) SELECT * FROM x ORDER BY id": [2, 3],
        f"SELECT id FROM {table} WHERE id IN (SELECT id FROM {table} WHERE nom <> 'a') ORDER BY id": [2, 3],
        f"SELECT id, 'x; DROP TABLE t' AS s FROM {table} WHERE nom = 'b; DROP'": [2],
        f"SELECT id, 'it\\'s; DELETE FROM {table}; -- ' AS s FROM {table} WHERE id = 1": [1],
        f"/* lead ; */ SELECT id -- ; DELETE\nFROM {table} # ; DROP\nORDER BY id; -- end": [1, 2, 3],
    }
    for query, ids in cases.items():
        frame = harvest_sql(SqlSource(url_env="DB", query=query), source_id="s", env={"DB": url}).frame
        assert frame["id"].tolist() == ids, query
    settings = SqlIncremental(watermark_column="modifie", key_column="id")
    inc = SqlSource(url_env="DB", query=f"SELECT * FROM {table} # all", incremental=settings)
    for _ in range(2):
        harvest = harvest_incremental(
            inc, source_id="s", base_dir=None, state_dir=tmp_path, full_refresh=False, env={"DB": url}
        )
    assert harvest.frame["id"].tolist() == [1, 2, 3] and harvest.stats["mode"] == "incremental"
    assert _maria_state(url, table) == 3
