"""The event log of the SQLite instance (dagster.yaml), without a new connection per event.

Dagster's `SqliteEventLogStorage` makes a new SQLAlchemy engine and a new SQLite connection for every
read and write, then closes both: each of the ≈ 400 events of a commune run pays an engine (and the
recompilation of its statement, the cache lives on the engine), a connection, an fsync on commit and, on
closing the last connection to a WAL database, a checkpoint. Measured in one process (a commune run's
CPU, the same work beside it as the floor): 10.0 CPU-s per commune with Dagster's storage, 5.5 with one
engine and one kept connection per database file, 3.2 with `synchronous=NORMAL` on top (`benchmarks/`,
docs in deploy/README.md "Scale").

Same files, same tables, same layout (`$DAGSTER_HOME/history/runs/<run>.db` and `index.db`), so an
instance can switch to it and back. What changes:

- one engine per database file, each with one kept connection (the storage already serialises its
  connections with a lock); at most `MAX_OPEN_SHARDS` run files stay open, the oldest closed first;
- after a fork (a Celery worker's pool), the child never reuses the parent's connections;
- `PRAGMA synchronous=NORMAL`, SQLite's advice for WAL databases: a crash of the process loses nothing;
  a power cut may lose the last events written before it, never corrupts the database. The project's
  data (tables, publications) does not live here, and a run whose end was lost is marked failed by run
  monitoring.

Production runs on PostgreSQL (deploy/dagster.production.yaml), which this does not touch.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
import sqlalchemy as db
from dagster._config import StringSource
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy.pool import QueuePool

MAX_OPEN_SHARDS = 16  # run databases kept open at once (plus the index); a run writes to its own


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` with one engine and one kept connection per database file."""

    def __init__(self, base_dir: str | None = None, inst_data: ConfigurableClassData | None = None):
        """Without `base_dir` (dagster.yaml gives none), the files are where Dagster's default storage keeps
        them, `<instance root>/history/runs`: known once the instance registers itself, which it does as
        soon as it is made, before any read or write."""
        self._engines: OrderedDict[str, db.engine.Engine] = OrderedDict()
        self._engines_pid = os.getpid()
        self._inst_data = inst_data
        self._opened = False
        if base_dir is not None:
            self._open(base_dir)

    def _open(self, base_dir: str) -> None:
        super().__init__(base_dir, inst_data=self._inst_data)
        self._opened = True

    def register_instance(self, instance: dg.DagsterInstance) -> None:
        if not self._opened:
            self._open(os.path.join(instance.root_directory, "history", "runs"))
        super().register_instance(instance)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"base_dir": dg.Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: dict[str, Any]
    ) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> db.engine.Engine:
        if self._engines_pid != os.getpid():  # forked: the parent's connections are not ours to use
            for engine in self._engines.values():
                engine.dispose(close=False)
            self._engines.clear()
            self._engines_pid = os.getpid()
        if (kept := self._engines.get(shard)) is not None:
            self._engines.move_to_end(shard)
            return kept
        engine = db.create_engine(
            self.conn_string_for_shard(shard),
            poolclass=QueuePool,
            pool_size=1,  # kept; Dagster's first-use set-up of a file opens a second one for a moment
            max_overflow=2,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
        )
        db.event.listen(engine, "connect", _synchronous_normal)
        self._engines[shard] = engine
        runs_open = [name for name in self._engines if name != INDEX_SHARD_NAME]
        if len(runs_open) > MAX_OPEN_SHARDS:
            self._engines.pop(runs_open[0]).dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[db.engine.Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _close_all(self) -> None:
        with self._db_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()

    def wipe(self) -> None:
        self._close_all()  # the run files are deleted: no connection may keep writing to them
        super().wipe()

    def upgrade(self) -> None:
        self._close_all()
        super().upgrade()

    def dispose(self) -> None:
        if not self._opened:  # never registered with an instance: nothing was opened
            return
        self._close_all()
        super().dispose()


def _synchronous_normal(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
