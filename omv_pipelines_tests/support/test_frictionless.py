"""The shared frictionless helper: header by name, then rows, with the row count."""

from omv_pipelines_tests.support.frictionless import CsvError, validate_csv

SCHEMA = {
    "fields": [
        {"name": "id", "type": "string", "constraints": {"required": True}},
        {"name": "n", "type": "integer"},
    ]
}


def test_a_valid_csv_has_no_errors_and_counts_its_rows(tmp_path):
    (tmp_path / "ok.csv").write_text('"id","n"\n"a","1"\n"b","2"\n', encoding="utf-8")
    errors = validate_csv(tmp_path / "ok.csv", SCHEMA)
    assert errors == [] and errors.rows == 2


def test_swapped_columns_are_one_header_error_not_a_cascade(tmp_path):
    (tmp_path / "swapped.csv").write_text("n,id\n1,a\n", encoding="utf-8")
    [error] = validate_csv(tmp_path / "swapped.csv", SCHEMA)
    assert (error.row, error.type) == (1, "header-names") and "['n', 'id']" in error.note


def test_row_errors_name_the_field(tmp_path):
    (tmp_path / "bad.csv").write_text("id,n\n,x\n", encoding="utf-8")
    errors = validate_csv(tmp_path / "bad.csv", SCHEMA)
    found = {(e.row, e.field, e.type) for e in errors}
    assert found == {(2, "id", "constraint-error"), (2, "n", "type-error")}
    assert all(isinstance(e, CsvError) for e in errors)
