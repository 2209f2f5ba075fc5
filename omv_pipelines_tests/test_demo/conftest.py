"""The demo catalogue run through the flow (harvest → normalise → export) once for the whole package."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from omv_pipelines import flow
from omv_pipelines.catalog.loader import DEMO_CATALOG, load_catalog
from omv_pipelines.normalise import NormaliseResult
from omv_pipelines.publish.targets import ExportTarget, Publication

CATALOG = load_catalog(DEMO_CATALOG)
# (ins_code, dataset) for every dataset every demo commune provides: known when tests are collected.
PAIRS = sorted((code, key) for code, entry in CATALOG.entries.items() for key in entry.config.datasets)


@dataclass
class Run:
    result: NormaliseResult
    report: pd.DataFrame
    publication: Publication


@pytest.fixture(scope="session")
def demo_wfs_url(demo_wfs):
    """The demo's WFS (root conftest), for the demo catalogue's url_env."""
    return demo_wfs.url


@pytest.fixture(scope="session")
def export_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("export")


@pytest.fixture(scope="session")
def demo_runs(demo_wfs_url, export_dir) -> dict[tuple[str, str], Run]:
    """Every demo commune's every dataset, harvested, normalised and exported like a scheduled run."""
    from omv_pipelines.schemas import get_schema

    runs = {}
    for code, key in PAIRS:
        entry = CATALOG.entries[code]
        schema = get_schema(key)
        harvested = flow.harvest_dataset(entry, key)
        result = flow.normalise_dataset(entry, key, harvested.frame)
        report = flow.report_table(result)
        publication = ExportTarget(export_dir).publish(
            result.valid,
            schema,
            dataset_id=entry.config.dataset_id(key),
            metadata=flow.commune_metadata(entry, schema),
            report=report,
        )
        runs[(code, key)] = Run(result, report, publication)
    return runs
