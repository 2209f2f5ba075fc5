"""Catalogue files: the demo loads, broken files give one clear error each, naming file and key path."""

import json
import textwrap
from pathlib import Path

import pytest

from omv_pipelines.catalog.loader import (
    DEMO_CATALOG,
    CatalogError,
    catalog_json_schema,
    load_catalog,
    load_file,
)
from omv_pipelines.sources.registry import known_kinds
from omv_pipelines.sources.spreadsheet import SpreadsheetSource

GOOD = """
ins_code: "92094"
name: Namur
contact: {name: Cellule données, email: opendata@ville.namur.be}
datasets:
  resilience/defibrillateurs:
    source: {kind: spreadsheet, path: dae.csv}
    mapping:
      columns: {name: nom}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_demo_catalogue_loads_three_communes():
    catalog = load_catalog(DEMO_CATALOG)
    assert catalog.errors == []
    assert {"92094", "62063", "53053"} <= set(catalog.entries)
    namur = catalog.get("92094").config
    assert namur.commune.name == "Namur"
    assert namur.dataset_id("resilience/defibrillateurs") == "namur-defibrillateurs"


def test_good_file(tmp_path):
    config = load_file(write(tmp_path, "namur.yaml", GOOD))
    dataset = config.datasets["resilience/defibrillateurs"]
    assert isinstance(dataset.sources[0], SpreadsheetSource)  # `source:` is accepted for one source
    assert dataset.mapping.columns == {"name": "nom"}
    assert config.publisher == "Ville de Namur"
    assert config.active and config.schedule is None


def test_integer_ins_code_is_read_as_text(tmp_path):
    config = load_file(write(tmp_path, "namur.yaml", GOOD.replace('"92094"', "92094")))
    assert config.ins_code == "92094"


@pytest.mark.parametrize(
    "change, expected",
    [
        (
            ('ins_code: "92094"', 'ins_code: "82003"'),
            r"ins_code: INS code 82003 \(Bastogne\) was retired .* use 82039",
        ),
        (('ins_code: "92094"', 'ins_code: "11002"'), r"ins_code: INS code 11002 is not a Walloon commune"),
        (("name: Namur", "name: Mons"), r"name 'Mons' does not match INS code 92094, which is Namur"),
        (
            ("resilience/defibrillateurs:", "resilience/defibrilateurs:"),
            r"datasets: .*unknown dataset\(s\) resilience/defibrilateurs",
        ),
        (
            ("kind: spreadsheet", "kind: ftp"),
            rf"datasets\.resilience/defibrillateurs\.source: unknown source kind 'ftp'; use {known_kinds()}",
        ),
        (
            ("columns: {name: nom}", "colums: {name: nom}"),
            r"datasets\.resilience/defibrillateurs\.mapping\.colums: unknown key",
        ),
        (("email: opendata@ville.namur.be", "email: not-an-email"), r"contact\.email: "),
        (('ins_code: "92094"\n', ""), r"ins_code: required key is missing"),
        (
            (
                "{kind: spreadsheet, path: dae.csv}",
                "{kind: sql, url: 'postgresql://omv:s3cret@db/omv', table: dae}",
            ),
            r"never write secrets in the catalogue",
        ),
    ],
)
def test_broken_file_names_file_key_path_and_expectation(tmp_path, change, expected):
    path = write(tmp_path, "92094-namur.yaml", GOOD.replace(*change))
    with pytest.raises(CatalogError, match=expected) as error:
        load_file(path)
    assert str(path) in str(error.value)
    assert "s3cret" not in str(error.value)


@pytest.mark.parametrize(
    "cron", ["every night", "30 25 * * *", "60 3 * * *", "0 3 31 2 *", "0 3 * * * *", "0 3 * 13 *"]
)
def test_schedule_must_be_a_cron_dagster_accepts(tmp_path, cron):
    """Five fields is not enough: hour 25 passed a regex, then stopped the whole code location at load."""
    with pytest.raises(CatalogError, match=r"schedule: .*not a valid cron expression with 5 fields, e\.g\."):
        load_file(write(tmp_path, "n.yaml", GOOD + f'schedule: "{cron}"\n'))


def test_schedule_step_beyond_its_range_is_refused(tmp_path):
    """'*/90' minutes is valid cron that runs every hour: not what the file says."""
    with pytest.raises(CatalogError, match=r"schedule: '\*/90 \* \* \* \*' has a step larger"):
        load_file(write(tmp_path, "n.yaml", GOOD + 'schedule: "*/90 * * * *"\n'))


@pytest.mark.parametrize("cron", ["0 3 * * *", "30 1 * * mon-fri", "0 */6 * * *", "15 4 1,15 * *"])
def test_good_schedules_are_kept(tmp_path, cron):
    assert load_file(write(tmp_path, "n.yaml", GOOD + f'schedule: "  {cron} "\n')).schedule == cron


def test_malformed_yaml_gives_line_and_column(tmp_path):
    path = write(tmp_path, "bad.yaml", 'ins_code: "92094"\ndatasets: [unclosed\n')
    with pytest.raises(CatalogError, match=r"bad\.yaml: line \d+, column \d+: not valid YAML"):
        load_file(path)


def test_one_broken_file_does_not_hide_the_others(tmp_path):
    write(tmp_path, "92094-namur.yaml", GOOD)
    write(tmp_path, "broken.yaml", "ins_code: [")
    write(tmp_path, "92094-copy.yaml", GOOD)
    catalog = load_catalog(tmp_path)
    assert list(catalog.entries) == ["92094"]
    messages = sorted(str(e) for e in catalog.errors)
    assert len(messages) == 2
    assert any("already described by" in m for m in messages)
    assert any("broken.yaml" in m for m in messages)
    with pytest.raises(KeyError, match="not in the catalogue"):
        catalog.get("62063")


def test_missing_folder_is_reported(tmp_path):
    catalog = load_catalog(tmp_path / "nowhere")
    assert catalog.entries == {}
    assert "does not exist" in str(catalog.errors[0])


def test_dataset_id_template(tmp_path):
    text = GOOD + "odwb: {dataset_id: 'omv-{ins_code}-{theme}-{dataset}'}\n"
    config = load_file(write(tmp_path, "n.yaml", text))
    assert config.dataset_id("resilience/defibrillateurs") == "omv-92094-resilience-defibrillateurs"
    with pytest.raises(CatalogError, match="unknown placeholder"):
        load_file(write(tmp_path, "m.yaml", GOOD + "odwb: {dataset_id: '{town}-{dataset}'}\n"))


def test_exported_json_schema_is_current():
    shipped = (Path(__file__).parents[2] / "omv_pipelines" / "catalog" / "commune.schema.json").read_text(
        encoding="utf-8"
    )
    assert shipped == catalog_json_schema(), (
        "run: omv catalog-schema -o omv_pipelines/catalog/commune.schema.json"
    )


def test_json_schema_accepts_the_demo_files():
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    schema = json.loads(catalog_json_schema())
    for path in DEMO_CATALOG.glob("*.yaml"):
        jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), schema)


def test_bbox_must_be_ordered_and_inside_wallonia(tmp_path):
    config = load_file(write(tmp_path, "n.yaml", GOOD + "bbox: [4.72, 50.38, 4.98, 50.53]\n"))
    assert config.bbox == (4.72, 50.38, 4.98, 50.53)
    with pytest.raises(CatalogError, match=r"bbox: .*not inside Wallonia .*check the lon/lat order"):
        load_file(write(tmp_path, "m.yaml", GOOD + "bbox: [50.38, 4.72, 50.53, 4.98]\n"))
    with pytest.raises(CatalogError, match=r"bbox: .*min < max"):
        load_file(write(tmp_path, "o.yaml", GOOD + "bbox: [4.98, 50.38, 4.72, 50.53]\n"))
