"""`omv validate` and `omv catalog-schema`: what a data officer runs on a catalogue folder."""

import json
import shutil

from omv_pipelines.catalog.loader import DEMO_CATALOG
from omv_pipelines.cli import main


def test_validate_lists_good_files_and_explains_bad_ones(tmp_path, capsys):
    for path in DEMO_CATALOG.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "82005-bertogne.yaml").write_text(
        'ins_code: "82005"\ndatasets:\n  resilience/defibrillateurs:\n'
        "    source: {kind: spreadsheet, path: dae.xlsx}\n",
        encoding="utf-8",
    )
    assert main(["validate", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert "ok     92094-namur.yaml: Namur (92094)" in out
    assert "3 commune(s) valid, 1 file(s) with errors" in out
    assert (
        "82005-bertogne.yaml: ins_code: INS code 82005 (Bertogne) was retired" in err
        and "use 82039 (Bastogne)" in err
    )


def test_validate_the_demo_catalogue_succeeds(capsys, monkeypatch):
    monkeypatch.delenv("OMV_CATALOG", raising=False)
    assert main(["validate"]) == 0
    assert "0 file(s) with errors" in capsys.readouterr().out


def test_catalog_schema_is_written_for_editors(tmp_path):
    target = tmp_path / "commune.schema.json"
    assert main(["catalog-schema", "-o", str(target)]) == 0
    schema = json.loads(target.read_text(encoding="utf-8"))
    assert schema["title"] == "omv_pipelines commune catalogue file"
    assert {"ins_code", "datasets"} <= set(schema["required"])
