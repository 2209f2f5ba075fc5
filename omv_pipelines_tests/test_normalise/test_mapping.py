"""Columns, ids, commune fields and record-level validation of the mapping engine."""

import pandas as pd
import pytest

from omv_pipelines.catalog.communes import lookup
from omv_pipelines.defs.checks import schema_problems
from omv_pipelines.normalise import Mapping, MappingError, normalise
from omv_pipelines.normalise.engine import PROBLEM_COLUMNS
from omv_pipelines.schemas import DATASETS, get_schema
from omv_pipelines_tests.test_normalise.helpers import (
    NAMUR,
    defibrillators,
    problems,
    raw_table,
    run,
    run_defib,
)

DTYPES = {
    "string": "string",
    "geojson": "string",
    "integer": "Int64",
    "year": "Int64",
    "number": "Float64",
    "boolean": "boolean",
    "date": "datetime64[us]",
    "datetime": "datetime64[us, Europe/Brussels]",
}


@pytest.mark.parametrize("dataset", sorted(DATASETS))
@pytest.mark.parametrize("shape", ["provenance only", "every schema column"])
def test_empty_source_gives_an_empty_table_with_the_schema_columns_and_dtypes(dataset, shape):
    """The assets_smoke_test idea: every dataset of the registry goes through the engine from nothing."""
    schema = get_schema(dataset)
    columns = (
        {} if shape == "provenance only" else {name: pd.Series(dtype=object) for name in schema.field_names}
    )
    raw = raw_table(columns)
    result = normalise(raw, schema, Mapping(), lookup(NAMUR))
    assert result.valid.empty and result.rejected.empty and result.warnings.empty
    assert list(result.valid.columns) == schema.field_names
    assert {f["name"]: str(result.valid[f["name"]].dtype) for f in schema.fields} == {
        f["name"]: DTYPES[f["type"]] for f in schema.fields
    }
    assert schema_problems(result.valid, schema) == []
    assert list(result.rejected.columns) == PROBLEM_COLUMNS == list(result.warnings.columns)


def test_valid_rows_have_the_schema_and_commune_fields():
    result = run_defib(defibrillators(2))
    schema = get_schema("resilience/defibrillateurs")
    assert list(result.valid.columns) == schema.field_names
    assert schema_problems(result.valid, schema) == []
    assert result.valid["municipality"].tolist() == ["Namur"] * 2
    assert result.valid["ins_code"].tolist() == [NAMUR] * 2
    assert result.valid["id"].tolist() == ["92094-2", "92094-3"]  # default: the source row number


def test_id_template_with_source_columns_gets_the_ins_prefix():
    result = run_defib(defibrillators(2, numero=[101, 102], site=["A", "B"]), id="DAE{numero}{site}")
    assert result.valid["id"].tolist() == ["92094-DAE101A", "92094-DAE102B"]


def test_id_template_with_ins_code_is_not_prefixed_twice():
    result = run_defib(defibrillators(2, numero=["101", "102"]), id="{ins_code}-{numero}")
    assert result.valid["id"].tolist() == ["92094-101", "92094-102"]


def test_source_ids_already_prefixed_are_kept_and_another_communes_prefix_is_rejected():
    result = run_defib(defibrillators(3, id=["92094-1", "7", "62063-5"]))
    assert result.valid["id"].tolist() == ["92094-1", "92094-7"]
    assert problems(result) == [("4", "id", "id_prefix", "62063-5")]
    assert "'92094-'" in result.rejected["message"].iloc[0]


def test_id_template_with_a_missing_value_is_rejected():
    result = run_defib(defibrillators(2, numero=[101, None]), id="{numero}")
    assert problems(result) == [("3", "id", "missing_value", None)]


def test_duplicate_ids_reject_every_copy():
    result = run_defib(defibrillators(4, numero=["1", "2", "2", "3"]), id="{numero}")
    assert problems(result) == [("3", "id", "duplicate", "92094-2"), ("4", "id", "duplicate", "92094-2")]
    assert result.valid["id"].tolist() == ["92094-1", "92094-3"]


def test_missing_required_values_are_reported_per_field():
    result = run_defib(
        defibrillators(3, name=["DAE", None, "  "], street_name=["Rue de Fer", "Rue de Fer", None])
    )
    assert problems(result) == [
        ("3", "name", "missing_value", None),
        ("4", "name", "missing_value", None),
        ("4", "street_name", "missing_value", None),
    ]
    assert result.rejected_rows == 2
    assert result.rejected["record_id"].tolist() == ["92094-3", "92094-4", "92094-4"]
    assert set(result.rejected["source_id"]) == {"test#1(spreadsheet)"}


def test_ins_code_of_another_commune_is_rejected():
    result = run_defib(defibrillators(2, ins_code=["92094", "62063"], municipality=["Namur", "Liège"]))
    assert problems(result) == [("3", "ins_code", "wrong_commune", "62063")]
    assert "92094 Namur" in result.rejected["message"].iloc[0]


def test_constants_fill_a_field_for_every_row():
    result = run_defib(defibrillators(2), constants={"provider": "Ville de Namur", "Indoor": "oui"})
    assert result.valid["provider"].tolist() == ["Ville de Namur"] * 2


def test_mapped_column_that_does_not_exist_names_field_column_and_available_columns():
    with pytest.raises(MappingError) as raised:
        run_defib(defibrillators(1, nom=["DAE"]), columns={"name": "denomination"})
    message = str(raised.value)
    assert "'name'" in message and "'denomination'" in message
    assert "nom" in message and "street_name" in message and "_source_row" not in message


@pytest.mark.parametrize("mapping", [{"id": "{numero}"}, {"geometry": {"x": "X", "y": "lat"}}])
def test_template_and_geometry_columns_must_exist(mapping):
    with pytest.raises(MappingError, match="which the source does not have"):
        run("resilience/defibrillateurs", defibrillators(1), **mapping)


def test_mapping_a_field_the_schema_does_not_have_is_refused():
    with pytest.raises(MappingError, match="not in the schema resilience/defibrillateurs: nom"):
        run_defib(defibrillators(1), columns={"nom": "name"})


def test_columns_the_standard_does_not_know_are_listed_and_left_out():
    result = run_defib(
        defibrillators(1, **{"remarque interne": ["ok"], "Marque": ["Zoll"], "gestionnaire": ["x"]})
    )
    assert result.unknown_columns == ["remarque interne", "Marque", "gestionnaire"]
    assert "remarque interne" not in result.valid.columns
    assert result.valid["brand"].isna().all()


def test_column_names_differing_in_case_accents_and_punctuation_are_matched():
    data = defibrillators(1)
    data["STREET_NAME"] = data.pop("street_name")
    data["Street number"] = data.pop("street_number")
    data["Brând"] = ["Zoll"]
    data["ÎNDOOR"] = data.pop("Indoor")
    result = run_defib(data)
    assert result.rejected.empty and result.unknown_columns == []
    assert result.matched_columns["street_name"] == "STREET_NAME"
    assert result.matched_columns["street_number"] == "Street number"
    assert result.matched_columns["brand"] == "Brând"
    assert result.valid[["street_name", "brand", "Indoor"]].iloc[0].tolist() == ["Rue de Fer", "Zoll", True]


def test_mapping_names_a_column_with_other_case_and_accents():
    data = defibrillators(1)
    data["Dénomination"] = data.pop("name")
    result = run_defib(data, columns={"name": "denomination"})
    assert result.valid["name"].tolist() == ["DAE 0"]
    assert result.matched_columns["name"] == "Dénomination"


def test_raw_table_without_provenance_is_a_mapping_error():
    with pytest.raises(MappingError, match="_source_id"):
        normalise(
            pd.DataFrame({"name": ["x"]}), get_schema("resilience/defibrillateurs"), Mapping(), lookup(NAMUR)
        )


def test_rows_from_several_sources_keep_their_own_source_and_row():
    first = raw_table(defibrillators(2))
    second = raw_table(defibrillators(2, name=["DAE A", None]), first_row=5).assign(_source_id="test#2(wfs)")
    raw = pd.concat([first, second], ignore_index=True).assign(id=["1", "2", "3", "4"])
    result = normalise(
        raw,
        get_schema("resilience/defibrillateurs"),
        Mapping(geometry={"x": "lon", "y": "lat"}),
        lookup(NAMUR),
    )
    assert result.rejected[["source_id", "source_row", "field"]].values.tolist() == [
        ["test#2(wfs)", "6", "name"]
    ]
    assert result.source_rows == 4 and len(result.valid) == 3
