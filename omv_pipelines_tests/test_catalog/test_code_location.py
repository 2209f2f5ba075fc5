"""One bad catalogue file never takes the code location down: it is skipped with its error."""

import textwrap

import dagster as dg

from omv_pipelines.catalog.loader import load_catalog

GOOD = """
ins_code: "92094"
name: Namur
schedule: "30 4 * * *"
datasets:
  resilience/defibrillateurs:
    source: {kind: spreadsheet, path: dae.csv}
"""
BAD_CRON = GOOD.replace("92094", "62063").replace("Namur", "Liège").replace("30 4 * * *", "30 25 * * *")


def test_a_bad_cron_file_is_skipped_and_the_definitions_still_load(tmp_path, monkeypatch):
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "92094-namur.yaml").write_text(textwrap.dedent(GOOD), encoding="utf-8")
    (catalog / "62063-liege.yaml").write_text(textwrap.dedent(BAD_CRON), encoding="utf-8")
    monkeypatch.setenv("OMV_CATALOG", str(catalog))
    monkeypatch.setenv("OMV_DATA_DIR", str(tmp_path / "data"))
    for name in ("ODWB_URL", "ODWB_API_KEY"):
        monkeypatch.delenv(name, raising=False)

    loaded = load_catalog(catalog)
    assert list(loaded.entries) == ["92094"]
    [error] = loaded.errors
    assert "62063-liege.yaml" in str(error) and "schedule: '30 25 * * *' is not a valid cron" in str(error)

    from omv_pipelines.definitions import build_definitions

    defs = build_definitions()
    dg.Definitions.validate_loadable(defs)  # what `dagster definitions validate` checks
    crons = {schedule.cron_schedule for schedule in defs.schedules or []}
    assert "30 4 * * *" in crons and "30 25 * * *" not in crons
