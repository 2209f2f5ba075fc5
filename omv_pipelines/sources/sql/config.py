"""What a SQL source says in the catalogue: which database (through an environment variable when it
needs a password), which table or query, and how to read it incrementally.

Only pydantic here, so that the catalogue loads without SQLAlchemy; reading is in `harvest`.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from omv_pipelines.secrets import SECRET_PARAM, has_credentials

# SQLAlchemy dialect+driver accepted in a catalogue url (an environment variable's url is the operator's).
DRIVERS = (
    "postgresql",
    "postgresql+psycopg",
    "postgresql+psycopg2",
    "mysql",
    "mysql+pymysql",
    "mariadb",
    "mariadb+pymysql",
    "sqlite",
    "sqlite+pysqlite",
)
BASE_DIR = "{base_dir}"


class SqlIncremental(BaseModel):
    """Read only the rows changed since the last harvest, and merge them into the table kept from before."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    watermark_column: str
    """Column that grows whenever a row is added or changed, e.g. last_modified (a timestamp, a date or an
    increasing number). Rows where it is empty are only read by a full refresh."""
    key_column: str
    ("Column that identifies a row (its primary key): a changed row replaces the earlier copy with that key.")
    soft_delete_column: str | None = None
    """Column that marks a deleted row, e.g. deleted_at or is_deleted; such rows are removed from the table.
    Without it, rows deleted in the database only disappear at the next full refresh."""
    deleted_value: bool | int | str | None = None
    """Value of soft_delete_column that means deleted (e.g. true or 1). By default any non-empty value
    (a deleted_at date) means deleted."""

    @model_validator(mode="after")
    def _check(self) -> SqlIncremental:
        if self.deleted_value is not None and self.soft_delete_column is None:
            raise ValueError("deleted_value goes with soft_delete_column")
        return self


class SqlSource(BaseModel):
    """A table or a query in a SQL database reachable with a SQLAlchemy URL."""

    # hide_input_in_errors: a refused url must not be echoed, password and all, in the validation error.
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, hide_input_in_errors=True)

    kind: Literal["sql"] = "sql"
    """Source type discriminator."""
    url_env: str | None = None
    """Name of the environment variable that holds the SQLAlchemy URL (with its password), e.g.
    OMV_NAMUR_DB=postgresql+psycopg://user:pass@host/db. Use this whenever the database needs a password."""
    url: str | None = None
    """SQLAlchemy URL without a password, e.g. sqlite:///{base_dir}/namur.sqlite ({base_dir} is the
    catalogue folder). A URL with a password is refused: put it in an environment variable (url_env)."""
    table: str | None = None
    """Table (or view) to read whole, optionally schema-qualified: 'mobilite.velos'."""
    query: str | None = None
    """SELECT statement to run instead of a table. Values go in `params` as :name placeholders."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Values bound to the :name placeholders of `query` (bound by the driver, never pasted into SQL)."""
    geometry_column: str | None = None
    """PostGIS geometry column, returned reprojected to WGS84 as GeoJSON text in the `geometry` column."""
    chunk_size: int = Field(50_000, gt=0)
    """Rows fetched per round trip from the server-side cursor."""
    timeout_s: float = Field(300, gt=0)
    """Statement timeout in seconds (PostgreSQL, MariaDB, MySQL)."""
    incremental: SqlIncremental | None = None
    """Harvest only the rows changed since the last run and merge them into the table kept from that run
    (a full read on the first run and on demand). By default every run reads the whole table."""

    @model_validator(mode="after")
    def _check(self) -> SqlSource:
        if (self.url_env is None) == (self.url is None):
            raise ValueError("give exactly one of url_env (name of an environment variable) or url")
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of table or query")
        if self.params and self.query is None:
            raise ValueError("params go with a query, not with a table")
        if self.url is not None:
            _check_url(self.url)
        return self


def _check_url(url: str) -> None:
    """A catalogue url: a known driver, no credential, and for SQLite a file under the catalogue folder."""
    parts = urlsplit(url)
    never = (
        "never write secrets in the catalogue; put the URL in an environment variable "
        "and name it with url_env"
    )
    if has_credentials(url):
        raise ValueError(f"the url contains a user name or password: {never}")
    names = sorted({k for k, _ in parse_qsl(parts.query, keep_blank_values=True) if SECRET_PARAM.search(k)})
    if names:
        raise ValueError(f"the url has secret-looking query parameter(s) {', '.join(names)}: {never}")
    driver = parts.scheme.lower()
    if driver not in DRIVERS:
        raise ValueError(
            f"the url's driver {parts.scheme or '(none)'!r} is not accepted; use one of {', '.join(DRIVERS)}"
        )
    if driver.startswith("sqlite"):
        _check_sqlite(parts.netloc, unquote(parts.path), parts.query)


def _check_sqlite(host: str, path: str, query: str) -> None:
    """sqlite:///<relative path>, {base_dir}/<path> or :memory: — never an absolute path or '..'."""
    example = f"e.g. sqlite:///{BASE_DIR}/data/namur.sqlite"
    database = path[1:] if path.startswith("/") else path
    relative = database.removeprefix(f"{BASE_DIR}/")
    parts = re.split(r"[/\\]", relative)
    query_names = {k.lower() for k, _ in parse_qsl(query, keep_blank_values=True)}
    if (
        host
        or relative.startswith(("/", "\\", "file:"))
        or re.match(r"^[A-Za-z]:", relative)
        or ".." in parts
        or BASE_DIR in relative
        or "uri" in query_names
    ):
        raise ValueError(
            "a sqlite url in the catalogue names a file inside the catalogue folder, by a relative path "
            f"({example}, or sqlite:///:memory:): not an absolute path, a host, a file: URI or '..'"
        )
