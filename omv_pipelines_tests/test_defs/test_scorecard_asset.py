"""The scorecard asset (issue #14) after a demo night: materialised by the regional rebuild, its metadata
linking to the report, the scorecard exported with one row per commune × dataset, and the states the
Dagster instance knows (a commune blocked by its drop check reads `blocked`, not an older `published`).
"""

from pathlib import Path

import pandas as pd
import pytest
import yaml

from omv_pipelines.catalog.loader import load_catalog
from omv_pipelines.defs.local import run_commune, run_regional
from omv_pipelines.defs.scorecard import SCORECARD_KEY
from omv_pipelines.schemas import DATASETS
from omv_pipelines.scorecard import SCORECARD_DATASET_ID, STATE_LABELS

DEFIBRILLATORS = "resilience/defibrillateurs"
COMMUNES = ("53053", "62063", "92094")


def _failures(result) -> str:
    return " | ".join(e.step_failure_data.error.message for e in result.all_events if e.is_step_failure)


def _night(pipeline):
    catalog = load_catalog(pipeline.catalog_dir)
    results = {
        code: run_commune(pipeline.defs, pipeline.instance, catalog.get(code).config) for code in COMMUNES
    }
    provided = sorted({key for code in COMMUNES for key in catalog.get(code).config.datasets})
    regional = run_regional(pipeline.defs, pipeline.instance, provided, scorecard=True)
    return results, regional


def _scorecard_metadata(result) -> dict:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == SCORECARD_KEY]
    assert len(events) == 1, "the regional run materialises the scorecard once"
    metadata = events[0].step_materialization_data.materialization.metadata
    return {name: getattr(value, "value", value) for name, value in metadata.items()}


def _exported(pipeline) -> pd.DataFrame:
    return pd.read_csv(pipeline.export_dir / f"{SCORECARD_DATASET_ID}.csv", dtype="string")


def _state(table: pd.DataFrame, code: str, dataset: str) -> str:
    row = table[(table["ins_code"] == code) & (table["dataset"] == dataset)]
    assert len(row) == 1
    return str(row["state"].iloc[0])


@pytest.mark.integration
def test_the_scorecard_follows_the_regional_rebuild_and_sees_a_blocked_commune(demo_wfs, pipeline_factory):
    pipeline = pipeline_factory()
    results, regional = _night(pipeline)
    assert all(r.success for r in results.values()), [_failures(r) for r in results.values()]
    assert regional.success, _failures(regional)

    metadata = _scorecard_metadata(regional)
    index = Path(metadata["report"])
    assert index.name == "index.html" and index.is_file()
    assert index.parent == pipeline.export_dir / "report"
    assert all((index.parent / f"commune-{code}.html").is_file() for code in COMMUNES)
    assert metadata["communes"] == 3 and metadata["report_files"] == 4
    assert metadata["report_size_mb"] > 0
    assert metadata["dataset_id"] == SCORECARD_DATASET_ID and metadata["status"] == "published"
    assert "Namur" in metadata["scores"] and "| commune |" in metadata["scores"]
    assert f'href="../{SCORECARD_DATASET_ID}.csv"' in index.read_text(encoding="utf-8")

    table = _exported(pipeline)
    assert len(table) == len(COMMUNES) * len(DATASETS) == metadata["dagster/row_count"]
    assert sorted(set(zip(table["ins_code"], table["dataset"], strict=True))) == sorted(
        (code, dataset) for code in COMMUNES for dataset in DATASETS
    )
    assert _state(table, "92094", DEFIBRILLATORS) == STATE_LABELS["published"]
    assert _state(table, "92094", "mobility/travaux_voiries") == STATE_LABELS["not_provided"]
    namur = table[(table["ins_code"] == "92094") & (table["dataset"] == DEFIBRILLATORS)].iloc[0]
    assert int(namur["rows_online"]) == 12

    # Namur's defibrillator source collapses (12 rows → 1): its run is blocked by the drop check.
    path = pipeline.catalog_dir / "92094-namur.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    source = data["datasets"][DEFIBRILLATORS]["source"]
    source.pop("table", None)
    source["query"] = "SELECT * FROM dae WHERE numero <= 101"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    refused = run_commune(
        pipeline.defs, pipeline.instance, load_catalog(pipeline.catalog_dir).get("92094").config
    )
    assert not refused.success
    again = run_regional(pipeline.defs, pipeline.instance, [DEFIBRILLATORS], scorecard=True)
    assert again.success, _failures(again)
    assert _scorecard_metadata(again)["states"]["blocked"] == 1

    table = _exported(pipeline)
    assert _state(table, "92094", DEFIBRILLATORS) == STATE_LABELS["blocked"]
    namur = table[(table["ins_code"] == "92094") & (table["dataset"] == DEFIBRILLATORS)].iloc[0]
    assert int(namur["rows_online"]) == 12  # the last good publication stays online
    # Namur's other datasets were published by the same (blocked) run: they are not blocked.
    assert _state(table, "92094", "participation/processus_participatifs") == STATE_LABELS["unchanged"]
    assert _state(table, "62063", DEFIBRILLATORS) == STATE_LABELS["published"]
    page = (pipeline.export_dir / "report" / "commune-92094.html").read_text(encoding="utf-8")
    assert STATE_LABELS["blocked"] in page
