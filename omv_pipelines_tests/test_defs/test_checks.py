"""The asset checks on a commune's table, on small tables built from the schema."""

import dagster as dg
import pandas as pd

from omv_pipelines.catalog.communes import lookup
from omv_pipelines.defs.checks import (
    IN_WALLONIA,
    REGIONAL_MAX_ROW_DROP,
    ROW_DROP,
    SCHEMA,
    previous_row_count,
    regional_checks,
    table_checks,
)
from omv_pipelines.defs.io_manager import REFUSED
from omv_pipelines.errors import OmvError
from omv_pipelines.normalise import Mapping, normalise
from omv_pipelines.publish.targets import LastPublication
from omv_pipelines.schemas import get_schema

ROADWORKS = get_schema("mobility/travaux_voiries")
KEY = dg.AssetKey(["mobility", "travaux_voiries"])
REGIONAL_KEY = dg.AssetKey(["regional", "mobility", "travaux_voiries"])


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
    return {
        str(r.check_name): r  # every table check result names its check
        for r in table_checks(KEY, table, ROADWORKS, lookup("53053"), previous, 0.5, forced=forced)
    }


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
    conformance = results[SCHEMA]  # one check for the schema, the INS code and the ids
    assert not conformance.passed and "duplicated ids: 53053-1" in (conformance.description or "")
    assert conformance.metadata["duplicates"].value == ["53053-1"]
    assert not results[ROW_DROP].passed and "2 rows against 10" in results[ROW_DROP].description
    assert _results(table, previous=10, forced=True)[ROW_DROP].passed
    empty = _results(_empty_table(), previous=10, forced=True)[ROW_DROP]
    assert not empty.passed and "empty" in empty.description  # never forced through


def test_rows_of_another_commune_fail_the_conformance_check_and_say_which():
    table = _with_geometries(['{"coordinates": [3.95, 50.45], "type": "Point"}'] * 2)
    table.loc[1, "ins_code"] = "92094"
    table.loc[1, "id"] = "92094-1"
    result = _results(table)[SCHEMA]
    assert not result.passed
    assert "rows of other communes: 92094" in (result.description or "")
    assert "1 id(s) not starting with 53053-" in (result.description or "")
    assert result.metadata["other_codes"].value == ["92094"]


def _regional(table, previous, forced=False) -> dg.AssetCheckResult:
    results = {
        r.check_name: r for r in regional_checks(REGIONAL_KEY, table, ROADWORKS, previous, forced=forced)
    }
    return results[ROW_DROP]


def test_the_regional_drop_check_holds_the_regional_dataset_to_its_last_publication():
    point = '{"coordinates": [3.95, 50.45], "type": "Point"}'
    eight = _with_geometries([point] * 8)
    assert _regional(eight, previous=9).passed  # -11%: allowed
    assert not _regional(eight, previous=10).passed  # exactly -20%: the boundary is refused
    refused = _regional(eight, previous=11)
    assert not refused.passed and "8 rows against 11" in refused.description
    assert refused.metadata["max_row_drop"].value == REGIONAL_MAX_ROW_DROP
    assert _regional(eight, previous=11, forced=True).passed
    assert not _regional(_empty_table(), previous=11, forced=True).passed  # never emptied, even forced
    assert _regional(_empty_table(), previous=None).passed  # nothing online, nothing published yet


class _Target:
    name = "fake"

    def __init__(self, answer):
        self.answer = answer

    def last_publication(self, dataset_id):
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_the_drop_guard_asks_the_target_first_and_the_event_log_when_it_cannot_tell():
    key = dg.AssetKey(["regional", "mobility", "travaux_voiries"])
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization(key, metadata={"dagster/row_count": 7}))
        assert previous_row_count(_Target(LastPublication(31, "sha256:x")), "d", instance, key, None) == 31
        assert previous_row_count(_Target(None), "d", instance, key, None) == 7
        assert previous_row_count(_Target(OmvError("portal down")), "d", instance, key, None) == 7
        # A refused materialisation is not a publication.
        instance.report_runless_asset_event(
            dg.AssetMaterialization(key, metadata={"dagster/row_count": 2, REFUSED: "not published"})
        )
        assert previous_row_count(_Target(None), "d", instance, key, None) == 7


def test_markdown_tables_show_values_whole_with_pipes_and_line_breaks_escaped():
    """The UI's reports show a rejected value as it was typed: never cut, never `<NA>`."""
    import pandas as pd

    from omv_pipelines.defs.metadata import markdown_table

    long = "Rue " + "très " * 30 + "longue"
    text = markdown_table(pd.DataFrame({"raw_value": [long, "a|b\nc", None]}))
    assert long in text and "a\\|b c" in text
    assert "<NA>" not in text and "None" not in text
