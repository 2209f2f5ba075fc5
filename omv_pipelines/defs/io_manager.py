"""Parquet tables under a base folder (local path or any fsspec URL), one file per asset partition.

    <base>/<asset/key/path>/<partition>.parquet    partitioned by commune
    <base>/<asset/key/path>.parquet                 unpartitioned (regional)

An unpartitioned asset that reads a partitioned one receives {ins_code: table} for the communes whose
table exists: a commune that does not provide a dataset (or never published it) simply has no file.

An output that carries `REFUSED` in its metadata (a regional table its checks kept from publication) is
written beside the current value as `<name>.refused.parquet` (to look at), never over it, so readers
keep the last value that passed. (A commune's refused table is not stored at all: assets.py.)

Each write goes to its own temporary file beside the target (a unique name: two runs of the same commune
at once never share one) and replaces the target in one step, so a reader sees a complete table, old or
new, never a mix of two writers.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from typing import Any

import dagster as dg
import pandas as pd


def arrow_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Spreadsheet columns may mix dates, numbers and text; Parquet needs one type, so those become text."""
    import pyarrow as pa

    mixed = []
    for column in [c for c, dtype in frame.dtypes.items() if pd.api.types.is_object_dtype(dtype)]:
        try:
            pa.array(frame[column], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            mixed.append(column)
    if not mixed:
        return frame
    return frame.assign(**{column: frame[column].astype("string") for column in mixed})


def write_parquet(fs, path: str, frame: pd.DataFrame) -> None:
    """Replace `path` with `frame` as Parquet through a temporary file of its own in the same folder.

    Local folders: `tempfile.mkstemp` (a fresh name, created exclusively), fsync, `os.replace`. Other
    fsspec filesystems: a random temporary name, then a move.
    """
    from fsspec.implementations.local import LocalFileSystem

    folder, name = path.rsplit("/", 1)
    if isinstance(fs, LocalFileSystem):
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                frame.to_parquet(out, index=False)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        return
    tmp = f"{folder}/.{name}.{uuid.uuid4().hex}.tmp"
    try:
        with fs.open(tmp, "wb") as out:
            frame.to_parquet(out, index=False)
        fs.mv(tmp, path)
    except BaseException:
        if fs.exists(tmp):
            fs.rm(tmp)
        raise


# Output metadata set by an asset whose blocking check refused the output (value: the reason).
REFUSED = "omv/refused"


def is_refused(metadata) -> bool:
    value = metadata.get(REFUSED)
    value = getattr(value, "value", value)
    return bool(value)


class ParquetIOManager(dg.ConfigurableIOManager):
    base_path: str

    def _fs(self):
        import fsspec

        fs, root = fsspec.core.url_to_fs(self.base_path)
        return fs, root.rstrip("/")

    def _path(self, root: str, key: dg.AssetKey, partition: str | None, suffix: str = ".parquet") -> str:
        stem = "/".join([root, *key.path])
        return f"{stem}/{partition}{suffix}" if partition is not None else f"{stem}{suffix}"

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame | None) -> None:
        if obj is None:
            return
        fs, root = self._fs()
        partition = context.partition_key if context.has_partition_key else None
        refused = is_refused(context.output_metadata)
        path = self._path(root, context.asset_key, partition, ".refused.parquet" if refused else ".parquet")
        if refused:
            context.log.warning(
                f"{context.asset_key.to_user_string()}: refused by a blocking check, kept aside at {path}; "
                "downstream assets keep the last value that passed"
            )
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        # The previous good table stays until the new one is complete.
        write_parquet(fs, path, arrow_safe(obj))
        if not refused and fs.exists(
            aside := self._path(root, context.asset_key, partition, ".refused.parquet")
        ):
            try:
                fs.rm(aside)  # a value passed since: the refused one is history (its event log entry stays)
            except FileNotFoundError:
                pass  # another run of the same partition removed it first

    def load_input(self, context: dg.InputContext) -> pd.DataFrame | dict[str, pd.DataFrame]:
        fs, root = self._fs()
        key = context.asset_key
        # An input may name the only columns it reads (`AssetIn(metadata={"columns": [...]})`): a reader
        # of every commune's tables then holds just those (the scorecard, defs/scorecard.py).
        columns = (context.definition_metadata or {}).get("columns")
        if context.has_asset_partitions and (
            context.has_partition_key is False or len(context.asset_partition_keys) > 1
        ):
            tables: dict[str, pd.DataFrame] = {}
            for each in context.asset_partition_keys:
                path = self._path(root, key, each)
                if fs.exists(path):
                    with fs.open(path, "rb") as src:
                        tables[each] = read_columns(src, columns)
            return tables
        partition = context.asset_partition_key if context.has_asset_partitions else None
        path = self._path(root, key, partition)
        if not fs.exists(path):
            raise FileNotFoundError(
                f"no stored table for {key.to_user_string()}"
                + (f" partition {partition}" if partition else "")
                + f" at {path}: materialise it first"
            )
        with fs.open(path, "rb") as src:
            return read_columns(src, columns)


def read_columns(src: Any, columns: list[str] | None) -> pd.DataFrame:
    """A stored table, or only those of `columns` it has (an empty table of a commune that does not
    provide the dataset has none)."""
    if columns is None:
        return pd.read_parquet(src)
    import pyarrow.parquet as pq

    present = set(pq.read_schema(src).names)
    src.seek(0)
    return pd.read_parquet(src, columns=[name for name in columns if name in present])
