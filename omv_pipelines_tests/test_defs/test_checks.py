"""The asset checks on a commune's table, on small tables built from the schema."""

import dagster as dg
import pandas as pd

from omv_pipelines.catalog.communes import lookup
from omv_pipelines.defs.checks import IN_WALLONIA, ROW_DROP, UNIQUE_IDS, table_checks
from omv_pipelines.normalise import Mapping, normalise
from omv_pipelines.schemas import get_schema

ROADWORKS = get_schema("mobility/travaux_voiries")
KEY = dg.AssetKey(["mobility", "travaux_voiries"])


def _empty_table() -> pd.DataFrame:
    raw = pd.DataFrame({"_source_id": pd.Series(dtype="string"), "_source_row": pd.Series(dtype="string")})
    return normalise(raw, ROADWORKS, Mapping(), lookup("53053")).valid


def _with_geometries(geometries: list[str]) -> pd.DataFrame:
    table = _empty_table().reindex(range(len(geometries)))
    table["id"] = [f"53053-{n}" for n in range(len(geometries))]
    table["ins_code"] = "53053"
    geometry = next(f["name"] for f in ROADWORKS.fields if f["type"] == "geojson")
    table[geometry] = pd.Series(geometries, dtype="string")
    return table


def _results(table, previous=None, forced=False) -> dict[str, dg.AssetCheckResult]:
    return {r.check_name: r for r in table_checks(KEY, table, ROADWORKS, lookup("53053"), previous, 0.5, forced=forced)}


def test_a_line_leaving_wallonia_fails_the_check_even_if_it_starts_inside():
    inside = '{"coordinates": [[3.95, 50.45], [3.96, 50.46]], "type": "LineString"}'
    leaving = '{"coordinates": [[3.95, 50.45], [2.35, 48.85]], "type": "LineString"}'  # ends in Paris
    assert _results(_with_geometries([inside]))[IN_WALLONIA].passed
    result = _results(_with_geometries([inside, leaving]))[IN_WALLONIA]
    assert not result.passed and result.metadata["outside"].value == 1


def test_duplicate_ids_and_the_blocking_row_drop():
    table = _with_geometries(['{"coordinates": [3.95, 50.45], "type": "Point"}'] * 2)
    table["id"] = "53053-1"
    results = _results(table, previous=10)
    assert not results[UNIQUE_IDS].passed
    assert not results[ROW_DROP].passed and "2 rows against 10" in results[ROW_DROP].description
    assert _results(table, previous=10, forced=True)[ROW_DROP].passed
    empty = _results(_empty_table(), previous=10, forced=True)[ROW_DROP]
    assert not empty.passed and "empty" in empty.description  # never forced through
