"""Parquet tables under a base folder (local path or any fsspec URL), one file per asset partition.

    <base>/<asset/key/path>/<partition>.parquet    partitioned by commune
    <base>/<asset/key/path>.parquet                 unpartitioned (regional)

An unpartitioned asset that reads a partitioned one receives {ins_code: table} for the communes whose
table exists: a commune that does not provide a dataset simply has no file.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd


def arrow_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Spreadsheet columns may mix dates, numbers and text; Parquet needs one type, so those become text."""
    import pyarrow as pa

    mixed = []
    for column in frame.columns[frame.dtypes == object]:
        try:
            pa.array(frame[column], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            mixed.append(column)
    if not mixed:
        return frame
    return frame.assign(**{column: frame[column].astype("string") for column in mixed})


class ParquetIOManager(dg.ConfigurableIOManager):
    base_path: str

    def _fs(self):
        import fsspec

        fs, root = fsspec.core.url_to_fs(self.base_path)
        return fs, root.rstrip("/")

    def _path(self, root: str, key: dg.AssetKey, partition: str | None) -> str:
        stem = "/".join([root, *key.path])
        return f"{stem}/{partition}.parquet" if partition is not None else f"{stem}.parquet"

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame | None) -> None:
        if obj is None:
            return
        fs, root = self._fs()
        partition = context.partition_key if context.has_partition_key else None
        path = self._path(root, context.asset_key, partition)
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        tmp = path + ".tmp"
        with fs.open(tmp, "wb") as out:
            arrow_safe(obj).to_parquet(out, index=False)
        fs.mv(tmp, path)  # the previous good table stays until the new one is complete

    def load_input(self, context: dg.InputContext) -> pd.DataFrame | dict[str, pd.DataFrame]:
        fs, root = self._fs()
        key = context.asset_key
        if context.has_asset_partitions and (context.has_partition_key is False or len(context.asset_partition_keys) > 1):
            tables = {}
            for partition in context.asset_partition_keys:
                path = self._path(root, key, partition)
                if fs.exists(path):
                    with fs.open(path, "rb") as src:
                        tables[partition] = pd.read_parquet(src)
            return tables
        partition = context.asset_partition_key if context.has_asset_partitions else None
        path = self._path(root, key, partition)
        if not fs.exists(path):
            raise FileNotFoundError(
                f"no stored table for {key.to_user_string()}" + (f" partition {partition}" if partition else "")
                + f" at {path}: materialise it first"
            )
        with fs.open(path, "rb") as src:
            return pd.read_parquet(src)
