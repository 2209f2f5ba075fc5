"""SqlSource against SQLite files, the real PostgreSQL + PostGIS and the real MariaDB."""

from __future__ import annotations

import datetime as dt
import json
import math
import socket
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pydantic
import pytest

from omv_pipelines.sources.base import GEOMETRY, HARVESTED_AT, SOURCE_ID, SOURCE_ROW, SourceError
from omv_pipelines.sources.sql import SqlSource
from omv_pipelines.sources.sql.harvest import harvest_sql

SECRET = "Sup3r-s3cret"


def _sqlite_db(path: Path, n: int = 100) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE velos (id INTEGER PRIMARY KEY, nom TEXT, places INTEGER, mixte)")
        db.executemany(
            "INSERT INTO velos VALUES (?, ?, ?, ?)",
            [(i, f"Rack {i}", i % 7 or None, i if i % 2 else f"t{i}") for i in range(1, n + 1)],
        )
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _with_password(url: str) -> str:
    """The test server URL with a password added (the servers trust loopback, so it is accepted)."""
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{SECRET}@{host}"


# --- configuration -----------------------------------------------------------------------------------


def test_config_refuses_a_password_in_the_url():
    for url in (f"postgresql+psycopg://u:{SECRET}@h/db", f"postgresql+psycopg://u@h/db?password={SECRET}"):
        with pytest.raises(pydantic.ValidationError) as info:
            SqlSource(url=url, table="t")
        assert "url_env" in str(info.value) and SECRET not in str(info.value)


def test_config_needs_one_url_and_one_table_or_query():
    with pytest.raises(pydantic.ValidationError, match="exactly one of url_env"):
        SqlSource(table="t")
    with pytest.raises(pydantic.ValidationError, match="exactly one of table or query"):
        SqlSource(url="sqlite://", table="t", query="SELECT 1")
    with pytest.raises(pydantic.ValidationError, match="params go with a query"):
        SqlSource(url="sqlite://", table="t", params={"a": 1})
    with pytest.raises(pydantic.ValidationError, match="extra"):
        SqlSource(url="sqlite://", table="t", sheet=1)


def test_json_schema_describes_every_field():
    schema = SqlSource.model_json_schema()
    assert all(prop.get("description") for prop in schema["properties"].values()), schema["properties"]


def test_import_does_not_load_sqlalchemy():
    code = (
        "import sys, omv_pipelines.sources.sql.harvest; "
        "assert 'sqlalchemy' not in sys.modules, 'sqlalchemy loaded'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- SQLite -------------------------------------------------------------------------------------------


def test_sqlite_table_with_base_dir_placeholder(tmp_path):
    _sqlite_db(tmp_path / "namur.sqlite", n=5)
    config = SqlSource(url="sqlite:///{base_dir}/namur.sqlite", table="velos")
    harvest = harvest_sql(config, source_id="92094/velos", base_dir=tmp_path)
    frame = harvest.frame
    assert list(frame.columns) == ["id", "nom", "places", "mixte", SOURCE_ID, HARVESTED_AT, SOURCE_ROW]
    assert frame["id"].tolist() == [1, 2, 3, 4, 5]
    assert frame["nom"].tolist() == [f"Rack {i}" for i in range(1, 6)]
    assert frame["places"].tolist() == [1, 2, 3, 4, 5]
    # a SQLite column holding both integers and text comes back as text, nothing lost
    assert frame["mixte"].tolist() == ["1", "t2", "3", "t4", "5"]
    assert frame[SOURCE_ROW].tolist() == [1, 2, 3, 4, 5]
    assert (frame[SOURCE_ID] == "92094/velos").all()
    assert frame[HARVESTED_AT].notna().all()
    assert harvest.location == f"sqlite:///{tmp_path.resolve().as_posix()}/namur.sqlite"
    assert (
        harvest.stats["rows"] == 5 and harvest.stats["dialect"] == "sqlite" and harvest.stats["chunks"] == 1
    )


def test_sqlite_chunks_smaller_than_the_table_keep_every_row_in_order(tmp_path):
    _sqlite_db(tmp_path / "db.sqlite", n=100)
    config = SqlSource(url="sqlite:///{base_dir}/db.sqlite", table="velos", chunk_size=7)
    harvest = harvest_sql(config, source_id="s", base_dir=tmp_path)
    assert harvest.frame["id"].tolist() == list(range(1, 101))
    assert harvest.frame[SOURCE_ROW].tolist() == list(range(1, 101))
    # null-only chunks of `places` and text/integer chunks of `mixte` are merged into one column type
    assert harvest.frame["places"].isna().sum() == 14
    assert harvest.frame["mixte"].iloc[:3].tolist() == ["1", "t2", "3"]
    assert harvest.stats["chunks"] == 15


def test_sqlite_query_params_are_bound_not_pasted(tmp_path):
    _sqlite_db(tmp_path / "db.sqlite", n=10)
    config = SqlSource(
        url="sqlite:///{base_dir}/db.sqlite",
        query="SELECT id, nom FROM velos WHERE places >= :min OR nom = :nom ORDER BY id;",
        params={"min": 5, "nom": "x' OR '1'='1"},
    )
    frame = harvest_sql(config, source_id="s", base_dir=tmp_path).frame
    assert frame["id"].tolist() == [5, 6]


def test_sqlite_is_read_only(tmp_path):
    path = _sqlite_db(tmp_path / "db.sqlite", n=3)
    config = SqlSource(url="sqlite:///{base_dir}/db.sqlite", query="DELETE FROM velos RETURNING id")
    with pytest.raises(SourceError, match="query is refused: .*kind DELETE, not a SELECT"):
        harvest_sql(config, source_id="s", base_dir=tmp_path)
    # The session is read-only too (beyond the query check): see test_hostile/test_sql.py.
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM velos").fetchone() == (3,)


def test_sqlite_missing_file_is_named_and_not_created(tmp_path):
    config = SqlSource(url="sqlite:///{base_dir}/absent.sqlite", table="velos")
    with pytest.raises(SourceError, match="SQLite file not found: .*absent.sqlite"):
        harvest_sql(config, source_id="s", base_dir=tmp_path)
    assert not (tmp_path / "absent.sqlite").exists()


def test_unknown_table_gives_the_database_message(tmp_path):
    _sqlite_db(tmp_path / "db.sqlite", n=1)
    config = SqlSource(url="sqlite:///{base_dir}/db.sqlite", table="nope")
    with pytest.raises(SourceError, match="no such table: nope"):
        harvest_sql(config, source_id="s", base_dir=tmp_path)


def test_empty_result_keeps_the_columns(tmp_path):
    _sqlite_db(tmp_path / "db.sqlite", n=3)
    config = SqlSource(url="sqlite:///{base_dir}/db.sqlite", query="SELECT id, nom FROM velos WHERE id > 99")
    harvest = harvest_sql(config, source_id="s", base_dir=tmp_path)
    assert list(harvest.frame.columns) == ["id", "nom", SOURCE_ID, HARVESTED_AT, SOURCE_ROW]
    assert len(harvest.frame) == 0 and harvest.stats["chunks"] == 0


def test_duplicate_result_columns_are_refused(tmp_path):
    _sqlite_db(tmp_path / "db.sqlite", n=1)
    config = SqlSource(url="sqlite:///{base_dir}/db.sqlite", query="SELECT id, id FROM velos")
    with pytest.raises(SourceError, match="several columns named id"):
        harvest_sql(config, source_id="s", base_dir=tmp_path)


# --- errors that must name what to do and never the password -----------------------------------------


def test_unset_env_var_names_it_with_an_example():
    config = SqlSource(url_env="OMV_TEST_UNSET_DB", table="t")
    with pytest.raises(SourceError) as info:
        harvest_sql(config, source_id="92094/velos", env={})
    text = str(info.value)
    assert "OMV_TEST_UNSET_DB" in text and "postgresql+psycopg://" in text and "92094/velos" in text


def test_unparsable_url_does_not_echo_it():
    config = SqlSource(url_env="DB", table="t")
    with pytest.raises(SourceError, match="value of DB is not a SQLAlchemy URL") as info:
        harvest_sql(config, source_id="s", env={"DB": f"not a url {SECRET}"})
    assert SECRET not in str(info.value)


def test_missing_driver_names_the_pip_extra():
    config = SqlSource(url_env="DB", table="t")
    env = {"DB": f"postgresql+pg8000://u:{SECRET}@127.0.0.1/db"}
    with pytest.raises(
        SourceError, match=r"omv_pipelines\[postgres\]' and write the URL as postgresql\+psycopg://"
    ) as info:
        harvest_sql(config, source_id="s", env=env)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("scheme", ["postgresql+psycopg", "mysql+pymysql"])
def test_unreachable_port_says_so_without_the_password(scheme):
    config = SqlSource(url_env="DB", table="t", timeout_s=5)
    env = {"DB": f"{scheme}://user:{SECRET}@127.0.0.1:{_free_port()}/db"}
    with pytest.raises(SourceError) as info:
        harvest_sql(config, source_id="s", env=env)
    text = str(info.value)
    assert "refused" in text.lower() and "database server is running" in text
    assert "user:***@127.0.0.1" in text
    assert SECRET not in text


# --- PostgreSQL + PostGIS ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg(pg_schema):
    """A table of bicycle racks in Lambert 72 (EPSG:31370) in the test schema."""
    import sqlalchemy as sa

    url, schema = pg_schema
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TABLE {schema}.velos (id integer PRIMARY KEY, nom text, places numeric(5,1), "
            f"installe date, vu timestamptz, geom geometry(Point, 31370))"
        )
        conn.exec_driver_sql(
            f"INSERT INTO {schema}.velos SELECT i, 'Rack ' || i, i / 2.0, date '2024-01-01' + i, "
            f"timestamptz '2024-05-01 12:00:00+02', ST_SetSRID(ST_MakePoint(185000 + i, 128000 + i), 31370) "
            f"FROM generate_series(1, 250) AS i"
        )
        conn.exec_driver_sql(
            f"CREATE FUNCTION {schema}.drop_rack(rack integer) RETURNS integer LANGUAGE sql "
            f"AS 'DELETE FROM {schema}.velos WHERE id = rack RETURNING id'"
        )
    engine.dispose()
    return url, schema


def test_postgis_table_geometry_is_geojson_lon_lat(pg):
    from pyproj import Transformer

    url, schema = pg
    config = SqlSource(url_env="DB", table=f"{schema}.velos", geometry_column="geom")
    harvest = harvest_sql(config, source_id="92094/velos", env={"DB": url})
    frame = harvest.frame
    assert list(frame.columns) == [
        "id",
        "nom",
        "places",
        "installe",
        "vu",
        GEOMETRY,
        SOURCE_ID,
        HARVESTED_AT,
        SOURCE_ROW,
    ]
    assert len(frame) == 250 and harvest.stats["dialect"] == "postgresql"
    first = frame.sort_values("id").iloc[0]
    assert first["nom"] == "Rack 1" and first["places"] == Decimal("0.5")
    assert first["installe"] == dt.date(2024, 1, 2)
    assert first["vu"] == dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)
    point = json.loads(first[GEOMETRY])
    assert point["type"] == "Point"
    lon, lat = point["coordinates"]
    expected = Transformer.from_crs(31370, 4326, always_xy=True).transform(185001, 128001)
    assert lon == pytest.approx(expected[0], abs=1e-6) and lat == pytest.approx(expected[1], abs=1e-6)
    assert lon == pytest.approx(4.86, abs=0.05) and lat == pytest.approx(50.46, abs=0.05)  # Namur


def test_postgres_query_in_chunks_with_params_and_geometry(pg):
    url, schema = pg
    config = SqlSource(
        url_env="DB",
        query=f"SELECT id, geom FROM {schema}.velos WHERE id > :after ORDER BY id",
        params={"after": 10},
        geometry_column="geom",
        chunk_size=60,
    )
    harvest = harvest_sql(config, source_id="s", env={"DB": url})
    assert harvest.frame["id"].tolist() == list(range(11, 251))
    assert harvest.frame[SOURCE_ROW].tolist() == list(range(1, 241))
    assert harvest.stats["method"] == "copy"  # streamed by COPY: chunk_size is for row-by-row reads
    assert json.loads(harvest.frame[GEOMETRY].iloc[-1])["coordinates"][0] == pytest.approx(4.87, abs=0.05)


def test_postgres_row_read_in_chunks_when_a_type_needs_it(pg):
    url, schema = pg
    # An array column is left to the row-by-row read, which fetches chunk_size rows at a time.
    config = SqlSource(
        url_env="DB",
        query=f"SELECT id, ARRAY[id, id + 1] AS pair FROM {schema}.velos ORDER BY id",
        chunk_size=60,
    )
    harvest = harvest_sql(config, source_id="s", env={"DB": url})
    assert harvest.stats["method"] == "rows" and harvest.stats["chunks"] == 5
    assert harvest.frame["pair"].iloc[0] == [1, 2] and len(harvest.frame) == 250


def test_postgres_copy_keeps_every_type_and_value(pg):
    url, schema = pg
    query = """SELECT * FROM (VALUES
        (1, true, 7::smallint, 9000000000::bigint, 1.5::real, 'NaN'::float8, 12.34::numeric(6,2),
         123.456::numeric, '', 'NULL', e'deux\nlignes, "guillemets"; point-virgule', date '2024-02-29',
         timestamp '2024-05-01 12:00:00.25', timestamptz '2024-05-01 12:00:00+02',
         'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{"k": [1, 2]}'::jsonb,
         ST_SetSRID(ST_MakePoint(185000, 128000), 31370)),
        (2, NULL, NULL, NULL, NULL, '-Infinity', NULL, -0.5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
         NULL)
    ) AS t(id, b, i2, i8, f4, f8, n, nfree, empty, word, odd, d, ts, tstz, u, j, g)"""
    harvest = harvest_sql(SqlSource(url_env="DB", query=query), source_id="s", env={"DB": url})
    assert harvest.stats["method"] == "copy"
    first, second = harvest.frame.iloc[0], harvest.frame.iloc[1]
    assert first["b"] is True and first["i2"] == 7 and first["i8"] == 9_000_000_000 and first["f4"] == 1.5
    assert math.isnan(first["f8"]) and second["f8"] == float("-inf")
    assert first["n"] == Decimal("12.34") and [first["nfree"], second["nfree"]] == [
        Decimal("123.456"),
        Decimal("-0.5"),
    ]
    assert first["empty"] == "" and pd.isna(second["empty"]) and first["word"] == "NULL"
    assert first["odd"] == 'deux\nlignes, "guillemets"; point-virgule'
    assert first["d"] == dt.date(2024, 2, 29) and first["ts"] == dt.datetime(2024, 5, 1, 12, 0, 0, 250000)
    assert first["tstz"] == dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)
    assert first["u"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11" and json.loads(first["j"]) == {"k": [1, 2]}
    assert first["g"].startswith("0101000020") and pd.isna(second["g"])  # EWKB hex, as the row read gives
    assert all(pd.isna(second[c]) for c in ("b", "i2", "i8", "f4", "n", "d", "ts", "tstz", "u", "j"))


def test_postgres_value_copy_cannot_type_falls_back_to_rows(pg):
    url, _ = pg
    query = "SELECT * FROM (VALUES (1, 1.5::numeric(4,2)), (2, 'NaN'::numeric(4,2))) AS t(id, n)"
    harvest = harvest_sql(SqlSource(url_env="DB", query=query), source_id="s", env={"DB": url})
    assert harvest.stats["method"] == "rows" and "NaN" in harvest.stats["copy_fallback"]
    assert harvest.frame["n"].tolist() == ["1.50", "NaN"]


def test_postgres_empty_result_by_copy_keeps_typed_columns(pg):
    url, schema = pg
    config = SqlSource(url_env="DB", query=f"SELECT id, nom FROM {schema}.velos WHERE id < 0")
    harvest = harvest_sql(config, source_id="s", env={"DB": url})
    assert harvest.stats["method"] == "copy" and len(harvest.frame) == 0
    assert list(harvest.frame.columns)[:2] == ["id", "nom"]


def test_postgres_transaction_is_read_only(pg):
    url, schema = pg
    # A server-side cursor only takes a SELECT, but a SELECT can still write through a function.
    config = SqlSource(url_env="DB", query=f"SELECT {schema}.drop_rack(1) AS id")
    with pytest.raises(SourceError, match="cannot execute DELETE in a read-only transaction"):
        harvest_sql(config, source_id="s", env={"DB": url})
    count = SqlSource(url_env="DB", query=f"SELECT count(*) AS n FROM {schema}.velos")
    assert harvest_sql(count, source_id="s", env={"DB": url}).frame["n"].tolist() == [250]


def test_postgres_statement_timeout(pg):
    url, _ = pg
    config = SqlSource(url_env="DB", query="SELECT pg_sleep(3)", timeout_s=0.2)
    with pytest.raises(SourceError, match="statement timeout.*raise it"):
        harvest_sql(config, source_id="s", env={"DB": url})


def test_postgres_unknown_table_and_column_without_password(pg):
    url, schema = pg
    env = {"DB": _with_password(url)}
    with pytest.raises(SourceError, match=f'relation "{schema}.nope" does not exist') as info:
        harvest_sql(SqlSource(url_env="DB", table=f"{schema}.nope"), source_id="s", env=env)
    assert SECRET not in str(info.value) and "postgres:***@" in str(info.value)
    config = SqlSource(url_env="DB", table=f"{schema}.velos", geometry_column="the_geom")
    with pytest.raises(SourceError, match="column velos.the_geom does not exist") as info:
        harvest_sql(config, source_id="s", env=env)
    assert SECRET not in str(info.value)


def test_location_masks_the_password(pg):
    url, schema = pg
    harvest = harvest_sql(
        SqlSource(url_env="DB", table=f"{schema}.velos"), source_id="s", env={"DB": _with_password(url)}
    )
    assert SECRET not in harvest.location and harvest.location.startswith(
        "postgresql+psycopg://postgres:***@"
    )
    assert SECRET not in json.dumps(harvest.stats)


# --- MariaDB ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def maria(mariadb_table):
    import sqlalchemy as sa

    url, table = mariadb_table
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TABLE {table} (id INT PRIMARY KEY, nom VARCHAR(50), prix DECIMAL(6,2), jour DATE)"
        )
        conn.exec_driver_sql(
            f"INSERT INTO {table} SELECT seq, CONCAT('Défibrillateur ', seq), seq / 4, "
            f"DATE '2024-01-01' + INTERVAL seq DAY FROM seq_1_to_120"
        )
    engine.dispose()
    return url, table


def test_mariadb_table_in_chunks(maria):
    url, table = maria
    harvest = harvest_sql(
        SqlSource(url_env="DB", table=f"test.{table}", chunk_size=50), source_id="s", env={"DB": url}
    )
    frame = harvest.frame
    assert frame["id"].tolist() == list(range(1, 121))
    assert frame["nom"].iloc[0] == "Défibrillateur 1"
    assert frame["prix"].iloc[1] == Decimal("0.50") and frame["jour"].iloc[0] == dt.date(2024, 1, 2)
    assert harvest.stats["chunks"] == 3 and harvest.stats["dialect"] in ("mysql", "mariadb")


def test_mariadb_query_with_params(maria):
    url, table = maria
    config = SqlSource(
        url_env="DB", query=f"SELECT id FROM {table} WHERE nom LIKE :p ORDER BY id", params={"p": "%11_"}
    )
    assert harvest_sql(config, source_id="s", env={"DB": url}).frame["id"].tolist() == list(range(110, 120))


def test_mariadb_is_read_only(maria):
    url, table = maria
    config = SqlSource(url_env="DB", query=f"DELETE FROM {table} WHERE id = 1")
    with pytest.raises(SourceError, match="query is refused: .*DELETE"):
        harvest_sql(config, source_id="s", env={"DB": url})
    count = SqlSource(url_env="DB", query=f"SELECT count(*) AS n FROM {table}")
    assert harvest_sql(count, source_id="s", env={"DB": url}).frame["n"].tolist() == [120]


def test_mariadb_wrong_password_is_not_repeated(maria):
    url, table = maria
    with pytest.raises(SourceError, match="Access denied") as info:
        harvest_sql(SqlSource(url_env="DB", table=table), source_id="s", env={"DB": _with_password(url)})
    assert SECRET not in str(info.value) and "root:***@" in str(info.value)


def test_mariadb_unknown_table_and_geometry_column(maria):
    url, _ = maria
    with pytest.raises(SourceError, match="doesn't exist"):
        harvest_sql(SqlSource(url_env="DB", table="omv_absent_table"), source_id="s", env={"DB": url})
    with pytest.raises(SourceError, match="geometry_column needs PostGIS"):
        harvest_sql(SqlSource(url_env="DB", table="t", geometry_column="g"), source_id="s", env={"DB": url})
