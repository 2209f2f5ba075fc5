"""The `sql` source kind: a table or a query in a SQL database.

`config` (pydantic only, loaded with the catalogue), `harvest` (SQLAlchemy, imported when a source is
read), `incremental` (changed rows merged into the table kept from the last run), `pg_copy` (PostgreSQL
COPY into Arrow).
"""

from omv_pipelines.sources.sql.config import SqlIncremental, SqlSource

__all__ = ["SqlIncremental", "SqlSource"]
