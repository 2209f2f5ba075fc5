"""A tiny partitioned asset job run through dagster-celery (test_celery.py): three assets whose steps the
Celery workers execute, tables written by the project's IO manager to the URL in OMV_TEST_TABLES_URL
(any fsspec URL: the storage every worker shares)."""

import os

import dagster as dg
import pandas as pd
from dagster_celery import celery_executor

from omv_pipelines.defs.io_manager import ParquetIOManager

communes = dg.StaticPartitionsDefinition(["92094", "62063"])


def _where() -> pd.DataFrame:
    return pd.DataFrame({"pid": [os.getpid()], "worker": [os.environ.get("OMV_TEST_WORKER", "?")]})


@dg.asset(partitions_def=communes, key=["raw", "tiny"])
def raw() -> pd.DataFrame:
    return _where()


@dg.asset(partitions_def=communes, key=["tiny"], ins={"raw": dg.AssetIn(["raw", "tiny"])})
def table(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([raw, _where()], ignore_index=True)


@dg.asset(partitions_def=communes, key=["quarantine", "tiny"], ins={"raw": dg.AssetIn(["raw", "tiny"])})
def quarantine(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([raw, _where()], ignore_index=True)


tiny_job = dg.define_asset_job("tiny_celery", executor_def=celery_executor, partitions_def=communes)

defs = dg.Definitions(
    assets=[raw, table, quarantine],
    jobs=[tiny_job],
    resources={
        "io_manager": ParquetIOManager(base_path=os.environ.get("OMV_TEST_TABLES_URL", "file:///tmp"))
    },
)


def tiny_job_def() -> dg.JobDefinition:
    """Module-level, so that `dg.reconstructable` can hand it to the workers."""
    return defs.resolve_job_def("tiny_celery")
