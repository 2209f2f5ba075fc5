"""A synthetic region for the report's tests and benchmark (`benchmarks/report.py`): states as the pipeline
would leave them. Not used by the pipelines; shipped in the package so the benchmark needs no test code."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from omv_pipelines.report import geo
from omv_pipelines.schemas import DATASETS, get_schema
from omv_pipelines.scorecard import DatasetState

HOSTILE = '<script>alert("x")</script>&amp;'


def published_table(dataset: str, ins_code: str, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """Rows in the schema's columns: required fields filled, optional ones half the time, points in the
    commune (around its label point)."""
    schema = get_schema(dataset)
    lon0, lat0 = geo.communes()[ins_code].label
    lon = lon0 + rng.normal(0, 0.006, rows)
    lat = lat0 + rng.normal(0, 0.004, rows)
    table = {}
    for spec in schema.fields:
        name, required = spec["name"], spec.get("constraints", {}).get("required", False)
        if spec["type"] == "geojson":
            values = [
                json.dumps({"type": "Point", "coordinates": [round(x, 6), round(y, 6)]})
                for x, y in zip(lon, lat, strict=True)
            ]
        elif name == schema.primary_key:
            values = [f"{ins_code}-{i}" for i in range(rows)]
        else:
            values = [f"{name} {i}" for i in range(rows)]
        column = pd.Series(values, dtype="string")
        if not required:
            column = column.mask(rng.random(rows) < 0.5)
        table[name] = column
    return pd.DataFrame(table)


def quarantine(dataset: str, ins_code: str, rejected: int, rng: np.random.Generator) -> pd.DataFrame:
    """Errors on `rejected` source rows, one of them a geometry outside the commune with readable
    coordinates (lat lon order, decimal comma), and a hostile raw value."""
    geometry = next((f["name"] for f in get_schema(dataset).fields if f["type"] == "geojson"), "name")
    lon0, lat0 = geo.communes()[ins_code].label
    kinds = ["invalid_date", "missing_value", "not_in_enum"]
    rows = []
    for i in range(rejected):
        kind = kinds[i % len(kinds)]
        raw = HOSTILE if i == 1 else "31/02/2021"
        field = "name"
        if i == 0:
            kind, field = "outside_wallonia", geometry
            raw = f"{lat0 + 0.03:.6f} {lon0 + 0.05:.6f}".replace(".", ",")
        rows.append(
            {
                "source_id": f"{ins_code}/{dataset}#1(sql)",
                "source_row": str(i + 2),
                "record_id": f"{ins_code}-R{i}",
                "field": field,
                "severity": "error",
                "error_type": kind,
                "message": f"problem {kind} on row {i + 2}",
                "raw_value": raw,
            }
        )
    return pd.DataFrame(rows, dtype="string")


def synthetic_states(
    codes: list[str], now: datetime, *, rows: int = 40, seed: int = 14, all_datasets: bool = False
) -> list[DatasetState]:
    """Each commune provides a varying number of datasets (all of them with `all_datasets`)."""
    rng = np.random.default_rng(seed)
    states = []
    for n, code in enumerate(codes):
        provided = len(DATASETS) if all_datasets else 1 + n % len(DATASETS)
        for i, dataset in enumerate(DATASETS):
            if i >= provided:
                states.append(
                    DatasetState(ins_code=code, dataset=dataset, provided=False, state="not_provided")
                )
                continue
            rejected = int(rng.integers(0, 6))
            report = quarantine(dataset, code, rejected, rng)
            reasons = report["error_type"].value_counts().to_dict() if rejected else {}
            states.append(
                DatasetState(
                    ins_code=code,
                    dataset=dataset,
                    provided=True,
                    state="published" if i % 3 else "unchanged",
                    rows_online=rows,
                    rows_rejected=rejected,
                    rejected_reasons={str(k): int(v) for k, v in reasons.items()},
                    published=published_table(dataset, code, rows, rng),
                    quarantine=report if rejected else None,
                    last_success=now - timedelta(days=float(rng.integers(0, 40))),
                    source_kind="sql",
                    dataset_id=f"{code}-{dataset.split('/')[1]}",
                )
            )
    return states
