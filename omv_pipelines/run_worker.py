"""The Celery app of the run workers (deploy/README.md "A whole night").

    celery -A omv_pipelines.run_worker worker -Q dagster --pool=prefork --concurrency=2 \\
        --max-tasks-per-child=10 --max-memory-per-child=409600 --prefetch-multiplier=1

dagster-celery's own tasks (the `CeleryRunLauncher` sends `execute_job`), with one difference from
`dagster-celery worker start -A dagster_celery.app`: the worker's main process imports the code location
and the libraries a run uses before it forks its pool. The processes that execute the runs are forks of
that warm process: no import and no definitions load per run (≈ 4 CPU-s each), and they share its pages
instead of each holding its own copy of Dagster, pandas and the project. Replaced after a few runs, or
after a run that left one large (`--max-memory-per-child`, KiB), they give back what runs allocated.

The broker and result backend come from the environment (`OMV_CELERY_BROKER`, `OMV_CELERY_BACKEND`), the
same URLs as the instance's `run_launcher` block; no wrapper process stays behind as with `dagster-celery
worker start`. The main process keeps the code it loaded: restart the worker after upgrading the project.
"""

from __future__ import annotations

import gc
import os

# Arrow's buffers from the C library's allocator rather than its own pool (mimalloc), which kept what the
# scorecard's reading of every commune's tables had used: ≈ 75 MB less at the night's peak (N=261).
# Before pyarrow is imported; a value set in the environment wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

from dagster_celery.app import app, execute_job, resume_job  # noqa: E402, F401 (the tasks it serves)

DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
DEFAULT_BACKEND = "redis://127.0.0.1:6379/1"

app.conf.update(
    broker_url=os.environ.get("OMV_CELERY_BROKER", DEFAULT_BROKER),
    result_backend=os.environ.get("OMV_CELERY_BACKEND", DEFAULT_BACKEND),
    worker_prefetch_multiplier=1,  # a worker takes a run only when it has a free process for it
)


def preload() -> None:
    """Import what every run needs, resolve the jobs, then freeze the heap: the children forked for runs
    inherit all of it, and the collector never walks (and so never copies) these objects in them."""
    import alembic  # noqa: F401 (Dagster's SQLite storages)
    import fsspec  # noqa: F401
    import openpyxl  # noqa: F401
    import owslib.wfs  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import pyproj  # noqa: F401
    import shapely  # noqa: F401
    import sqlalchemy  # noqa: F401

    from omv_pipelines import definitions, instance_storage  # noqa: F401

    for job_name in ("commune_sync", "regional_rebuild"):
        definitions.defs.resolve_job_def(job_name)
    gc.freeze()


preload()
