"""Building source-shaped tables for the engine tests."""

from __future__ import annotations

import pandas as pd

from omv_pipelines.catalog.communes import lookup
from omv_pipelines.normalise import Mapping, NormaliseResult, normalise
from omv_pipelines.schemas import get_schema
from omv_pipelines.sources.base import HARVESTED_AT, SOURCE_ID, SOURCE_ROW

SOURCE = "test#1(spreadsheet)"
NAMUR = "92094"


def raw_table(columns: dict[str, list], first_row: int = 2) -> pd.DataFrame:
    """A harvested table: the given columns plus provenance, rows numbered from `first_row`."""
    n = len(next(iter(columns.values()))) if columns else 0
    frame = pd.DataFrame(columns)
    frame[SOURCE_ID] = SOURCE
    frame[HARVESTED_AT] = pd.Timestamp("2025-01-01", tz="UTC")
    frame[SOURCE_ROW] = list(range(first_row, first_row + n))
    return frame


def defibrillators(n: int = 1, **columns: list) -> dict[str, list]:
    """n valid defibrillator rows in WGS84 lon/lat (Namur), with some columns replaced."""
    base = {
        "name": [f"DAE {i}" for i in range(n)],
        "street_name": ["Rue de Fer"] * n,
        "street_number": ["7730101"] * n,
        "lon": [4.867 + i / 1000 for i in range(n)],
        "lat": [50.465] * n,
        "Indoor": ["oui"] * n,
        "accessibility": ["Public"] * n,
        "permanently_accessible": ["non"] * n,
    }
    return base | columns


LONLAT = {"x": "lon", "y": "lat", "crs": "EPSG:4326"}


def run(dataset: str, data: dict[str, list], commune: str = NAMUR, **mapping) -> NormaliseResult:
    return normalise(raw_table(data), get_schema(dataset), Mapping(**mapping), lookup(commune))


def run_defib(data: dict[str, list], **mapping) -> NormaliseResult:
    mapping.setdefault("geometry", LONLAT)
    return run("resilience/defibrillateurs", data, **mapping)


def problems(result: NormaliseResult, severity: str = "error") -> list[tuple[str, str, str, str]]:
    """(source_row, field, error_type, raw_value) of each problem, in row order."""
    table = result.rejected if severity == "error" else result.warnings
    rows = table.sort_values(
        ["source_row", "field"], key=lambda s: s.astype(int) if s.name == "source_row" else s
    )
    return [
        (r.source_row, r.field, r.error_type, None if pd.isna(r.raw_value) else r.raw_value)
        for r in rows.itertuples(index=False)
    ]


def french(message: str) -> str:
    """The French part of a report message (`<français> — <English>`)."""
    return message.split(" — ", 1)[0]


def english(message: str) -> str:
    """The English part of a report message, after the French."""
    return message.split(" — ", 1)[1]
