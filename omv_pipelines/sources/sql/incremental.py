"""Incremental SQL harvests: read only the rows changed since the last run, merge them into the table kept
from that run, and remember the new watermark.

State, per source id, in the state folder:

    <name>.json                 the last watermark, the Parquet file that holds the table, a fingerprint
                                of the configuration (a changed configuration forces a full read)
    <name>.<token>.parquet      the whole merged table of the last successful harvest

The JSON file is the commit point. It is replaced atomically, and only after the whole harvest and the
merge succeeded and the Parquet file it names is completely on disk; a failure before that leaves the
previous state untouched, and the next run reads from the previous watermark again.

Why the state may advance before the rest of the run (normalise, publish) has succeeded: the state keeps
the whole merged table, not only a cursor. If a later step fails, the next run reads the rows changed since
the stored watermark (perhaps none), merges them by key into the stored table and hands on the same full
table again. Re-reading a row is idempotent because rows are merged by key, so no row is ever lost.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from omv_pipelines.files import atomic_write, fsync_file
from omv_pipelines.sources.base import (
    PROVENANCE_COLUMNS,
    SOURCE_ROW,
    Harvest,
    SourceError,
)
from omv_pipelines.sources.sql.config import SqlSource
from omv_pipelines.sources.sql.harvest import _concat, harvest_sql
from omv_pipelines.sources.state import state_name

STATE_VERSION = 1


@dataclass
class SqlState:
    """What the last successful harvest of one source left behind."""

    table: pd.DataFrame
    watermark: Any  # None when every watermark was empty
    fingerprint: str


class SqlStateStore:
    """One folder holding the last table and watermark of each incremental SQL source."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def _json(self, source_id: str) -> Path:
        return self.folder / f"{state_name(source_id)}.json"

    def load(self, source_id: str) -> SqlState | None:
        """The stored state, or None when there is none. Raises ValueError when it cannot be read."""
        import pyarrow.parquet as pq

        path = self._json(source_id)
        if not path.is_file():
            return None
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            table = pq.read_table(self.folder / doc["table"]).to_pandas(types_mapper=pd.ArrowDtype)
            return SqlState(table, decode_watermark(doc["watermark"]), doc["fingerprint"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path.name}: {type(err).__name__}: {err}") from err

    def save(self, source_id: str, state: SqlState) -> None:
        """Write the table, then switch the JSON file over to it in one step, then drop older tables."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.folder.mkdir(parents=True, exist_ok=True)
        name = state_name(source_id)
        table_file = f"{name}.{uuid.uuid4().hex[:12]}.parquet"
        pq.write_table(pa.Table.from_pandas(state.table, preserve_index=False), self.folder / table_file)
        fsync_file(self.folder / table_file)
        doc = {
            "version": STATE_VERSION,
            "source_id": source_id,
            "table": table_file,
            "rows": len(state.table),
            "watermark": encode_watermark(state.watermark),
            "fingerprint": state.fingerprint,
            "saved_at": pd.Timestamp.now(tz="UTC").isoformat(),
        }
        atomic_write(self._json(source_id), json.dumps(doc, indent=1).encode("utf-8"))
        for old in self.folder.glob(f"{name}.*.parquet"):  # earlier tables and leftovers of crashed runs
            if old.name != table_file:
                old.unlink(missing_ok=True)


def encode_watermark(value: Any) -> dict[str, Any] | None:
    """A watermark as JSON that keeps its type (a timestamp stays a timestamp, with its time zone)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return {"type": "datetime", "value": pd.Timestamp(value).isoformat()}
    if isinstance(value, dt.date):
        return {"type": "date", "value": value.isoformat()}
    if isinstance(value, Decimal):
        return {"type": "decimal", "value": str(value)}
    if isinstance(value, bool):
        raise ValueError("a true/false column cannot be a watermark")
    if isinstance(value, int | float | str):
        return {"type": type(value).__name__, "value": value}
    raise ValueError(f"values of type {type(value).__name__} cannot be a watermark")


def _watermark_value(value: Any) -> Any:
    """The JSON value of a watermark as shown in the run's stats (None when there is none)."""
    encoded = encode_watermark(value)
    return encoded["value"] if encoded is not None else None


def decode_watermark(doc: dict[str, Any] | None) -> Any:
    """The Python value to bind in the next read (a plain datetime: drivers know how to send it)."""
    if doc is None:
        return None
    kind, value = doc["type"], doc["value"]
    if kind == "datetime":
        return pd.Timestamp(value).to_pydatetime()
    if kind == "date":
        return dt.date.fromisoformat(value)
    if kind == "decimal":
        return Decimal(value)
    if kind in ("int", "float", "str"):
        return {"int": int, "float": float, "str": str}[kind](value)
    raise ValueError(f"unknown watermark type {kind!r}")


def merge(
    previous: pd.DataFrame | None,
    new_rows: pd.DataFrame,
    key_column: str,
    soft_delete_column: str | None = None,
    deleted_value: Any = None,
) -> pd.DataFrame:
    """The previous table with the new rows applied: a new row replaces the previous one with its key,
    rows marked deleted go, and the result is sorted by key (the same order as a full read's merge)."""
    import pyarrow as pa

    frames = [f for f in (previous, new_rows) if f is not None]
    # Concatenated as Arrow so that a column typed null in one part (all empty) takes the other's type.
    combined = _concat([pa.Table.from_pandas(f, preserve_index=False) for f in frames])
    frame = combined.to_pandas(types_mapper=pd.ArrowDtype)
    frame = frame[~frame[key_column].duplicated(keep="last")]
    if soft_delete_column is not None:
        frame = frame[~deleted_rows(frame[soft_delete_column], deleted_value)]
    return frame.sort_values(key_column, kind="stable").reset_index(drop=True)


def deleted_rows(column: pd.Series, deleted_value: Any = None) -> np.ndarray:
    """True where the soft-delete column marks the row deleted: any value, or the given one."""
    if deleted_value is None:
        return column.notna().to_numpy(dtype=bool)
    try:
        flags = column.isin([deleted_value])
    except (TypeError, ValueError):  # Arrow refuses a value of another type (or a column of nulls only)
        flags = column.astype(object).isin([deleted_value])
    return flags.to_numpy(dtype=bool, na_value=False)


def fingerprint(config: SqlSource) -> str:
    """What the stored table depends on: a change of table, query, URL or incremental settings means the
    stored rows may no longer match, so the next read is a full one."""
    kept = config.model_dump(mode="json", exclude={"chunk_size", "timeout_s"})
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()


def harvest_incremental(
    config: SqlSource,
    *,
    source_id: str,
    base_dir: Path | None,
    state_dir: Path,
    full_refresh: bool,
    env: Mapping[str, str] | None = None,
) -> Harvest:
    """Harvest the rows changed since the stored watermark (everything on a full refresh or without a
    usable state), merge them into the stored table, save the new state and return the whole table.

    `_source_row` is the key value: row positions mean nothing once rows from several reads are merged,
    and the key is what a person looks up in the database.
    """
    if config.incremental is None:
        raise SourceError(source_id, "harvest_incremental needs a source with `incremental` settings")
    inc = config.incremental
    started = time.perf_counter()
    store = SqlStateStore(state_dir)
    current = fingerprint(config)
    state, reason = None, "full refresh requested"
    if not full_refresh:
        try:
            state = store.load(source_id)
        except ValueError as err:
            reason = f"stored state unreadable ({err})"
        else:
            reason = "no stored state"
            if state is not None and state.fingerprint != current:
                state, reason = None, "the source configuration changed"

    harvest = harvest_sql(
        config, source_id=source_id, base_dir=base_dir, env=env, since=state.watermark if state else None
    )
    if state is not None:
        expected = set(state.table.columns)
        if set(harvest.frame.columns) != expected:
            state, reason = None, "the source's columns changed"
            harvest = harvest_sql(config, source_id=source_id, base_dir=base_dir, env=env)
    new = harvest.frame
    _check_columns(new, inc, source_id)
    _check_keys(new, inc.key_column, source_id)
    new[SOURCE_ROW] = new[inc.key_column]

    table = merge(
        state.table if state else None, new, inc.key_column, inc.soft_delete_column, inc.deleted_value
    )
    before = state.watermark if state else None
    read_max = new[inc.watermark_column].max() if len(new) else None
    after = _later(before, None if pd.isna(read_max) else read_max)
    if isinstance(after, pd.Timestamp):
        after = after.to_pydatetime()
    try:
        encode_watermark(after)
    except ValueError as err:
        raise SourceError(
            source_id,
            f"watermark_column {inc.watermark_column!r}: {err}",
            "choose a timestamp, date or increasing number column",
        ) from None
    store.save(source_id, SqlState(table, after, current))

    deleted = 0
    if inc.soft_delete_column is not None and len(new):
        deleted = int(deleted_rows(new[inc.soft_delete_column], inc.deleted_value).sum())
    stats = {
        **harvest.stats,
        "mode": "incremental" if state is not None else "full",
        "rows": len(table),
        "new_rows": len(new),
        "soft_deleted_rows": deleted,
        "watermark_before": _watermark_value(before),
        "watermark_after": _watermark_value(after),
        "duration_s": round(time.perf_counter() - started, 3),
    }
    if state is None:
        stats["full_read_reason"] = reason
    return Harvest(frame=table, source_id=source_id, location=harvest.location, stats=stats)


def _later(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return b if a is None else a
    if isinstance(a, dt.datetime) or isinstance(b, dt.datetime):
        a, b = pd.Timestamp(a), pd.Timestamp(b)
    return max(a, b)


def _check_columns(frame: pd.DataFrame, inc, source_id: str) -> None:
    fields = {
        "watermark_column": inc.watermark_column,
        "key_column": inc.key_column,
        "soft_delete_column": inc.soft_delete_column,
    }
    available = [c for c in frame.columns if c not in PROVENANCE_COLUMNS]
    for field, name in fields.items():
        if name is not None and name not in frame.columns:
            raise SourceError(
                source_id,
                f"incremental.{field} {name!r} is not a column of the result",
                f"the columns are {', '.join(available)}",
            )


def _check_keys(frame: pd.DataFrame, key: str, source_id: str) -> None:
    """A key that is empty or repeated cannot identify rows: merging by it would silently drop data."""
    keys = frame[key]
    if keys.isna().any():
        raise SourceError(
            source_id,
            f"incremental.key_column {key!r} is empty in {int(keys.isna().sum())} row(s)",
            "choose the table's primary key as key_column",
        )
    repeated = keys[keys.duplicated()]
    if len(repeated):
        examples = ", ".join(map(str, repeated.unique()[:5]))
        raise SourceError(
            source_id,
            f"incremental.key_column {key!r} is not unique: "
            f"{len(repeated)} repeated value(s), e.g. {examples}",
            "choose the table's primary key as key_column",
        )
