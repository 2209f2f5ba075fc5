"""omv_pipelines: the "Ouvrir ma ville" open-data programme as a Dagster code location."""

__version__ = "0.1.0"
