"""Fixtures for the SQL and spreadsheet source tests: real database servers and a loopback file server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_URL = os.environ.get("OMV_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("OMV_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


def _engine_or_skip(url: str, what: str):
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    engine = sa.create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.OperationalError as err:
        engine.dispose()
        pytest.skip(f"{what} not reachable at {engine.url.render_as_string(hide_password=True)}: {err.orig}")
    return engine


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[tuple[str, str]]:
    """(SQLAlchemy URL, name of a fresh schema) on the real PostgreSQL with PostGIS; dropped afterwards."""
    import sqlalchemy as sa

    engine = _engine_or_skip(PG_URL, "PostgreSQL")
    schema = f"omv_test_{uuid.uuid4().hex[:10]}"
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
    except sa.exc.DBAPIError as err:
        engine.dispose()
        pytest.skip(
            f"PostGIS is not installed in PostgreSQL (apt-get install postgresql-15-postgis-3): {err.orig}"
        )
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield PG_URL, schema
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        engine.dispose()


@pytest.fixture(scope="session")
def mariadb_table() -> Iterator[tuple[str, str]]:
    """(SQLAlchemy URL, name for a fresh table) in the real MariaDB database `test`; dropped afterwards."""
    engine = _engine_or_skip(MARIADB_URL, "MariaDB")
    table = f"omv_test_{uuid.uuid4().hex[:10]}"
    try:
        yield MARIADB_URL, table
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        engine.dispose()


@pytest.fixture()
def http_dir(tmp_path) -> Iterator[tuple[str, Path]]:
    """(base URL, folder) of a loopback HTTP server that serves the files put in the folder."""
    from omv_pipelines_tests.support.loopback import serve_directory

    folder = tmp_path / "served"
    folder.mkdir()
    with serve_directory(folder) as server:
        yield server.base_url, folder
