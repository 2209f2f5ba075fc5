"""The scorecard: states → rows, the score's monotonicity, the export folder reader, its Table Schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import frictionless
import numpy as np
import pandas as pd
import pytest

from omv_pipelines.catalog.loader import DEMO_CATALOG, load_catalog
from omv_pipelines.publish.targets import ExportTarget
from omv_pipelines.report import write_report
from omv_pipelines.schemas import DATASETS
from omv_pipelines.scorecard import (
    SCORECARD_DATASET_ID,
    DatasetState,
    build_scorecard,
    dataset_score,
    from_export_folder,
    publish_scorecard,
    scorecard_schema,
)
from omv_pipelines.scorecard.synthetic import HOSTILE, synthetic_states
from omv_pipelines_tests.support.frictionless import validate_csv

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
DEFIB = "resilience/defibrillateurs"


def _report(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    """(source_row, severity, error_type, field) → a validation report."""
    return pd.DataFrame(
        [
            {
                "source_id": "s",
                "source_row": r,
                "record_id": f"92094-{r}",
                "field": f,
                "severity": sev,
                "error_type": kind,
                "message": kind,
                "raw_value": "",
            }
            for r, sev, kind, f in rows
        ],
        dtype="string",
    )


def test_states_become_one_row_per_commune_and_dataset():
    rng = np.random.default_rng(1)
    from omv_pipelines.scorecard.synthetic import published_table

    table = published_table(DEFIB, "92094", 4, rng)
    report = _report(
        [
            ("3", "error", "invalid_date", "installation_date"),
            ("3", "error", "missing_value", "name"),
            ("5", "error", "invalid_date", "installation_date"),
            ("7", "warning", "outside_commune", "coordinates"),
        ]
    )
    states = [
        DatasetState(
            "92094",
            DEFIB,
            True,
            "published",
            rows_online=4,
            rows_rejected=2,
            rejected_reasons={"invalid_date": 2, "missing_value": 1},
            published=table,
            quarantine=report,
            last_success=NOW - timedelta(days=3),
            source_kind="sql",
            dataset_id="namur-defibrillateurs",
        ),
        DatasetState("92094", "mobility/travaux_voiries", True, "failed", source_kind="wfs"),
    ]
    card = build_scorecard(states, NOW)
    assert len(card.datasets) == 2 and len(card.communes) == 1
    row = card.datasets.set_index("dataset").loc[DEFIB]
    assert (row.rows_online, row.rows_rejected, row.points_outside_commune) == (4, 2, 1)
    assert row.top_reasons == "invalid_date (2); missing_value (1)"
    assert row.days_since_success == 3.0
    assert 0.3 < row.completeness < 0.7  # optional fields filled half the time
    commune = card.communes.iloc[0]
    assert commune.municipality == "Namur"
    assert (commune.datasets_provided, commune.datasets_failed, commune.rows_online) == (2, 1, 4)
    assert card.datasets.set_index("dataset").loc["mobility/travaux_voiries", "score"] == 0.0
    assert commune.score == pytest.approx((row.score + 0.0) / 2, abs=0.06)


def test_score_is_monotone():
    base = dict(rows_online=100, rows_rejected=10, completeness=0.5, days=5.0)
    score = dataset_score(**base)
    better = [
        base | {"rows_online": 150},
        base | {"rows_rejected": 2},
        base | {"completeness": 0.9},
        base | {"days": 1.0},
    ]
    for changed in better:
        assert dataset_score(**changed) > score, changed
    assert dataset_score(0, 0, 1.0, 0.0) == 0.0
    assert dataset_score(10, 0, 1.0, 0.0) == 100.0
    assert dataset_score(10, 0, 1.0, 400.0) == 75.0  # stale beyond 30 days: freshness 0
    rng = np.random.default_rng(0)
    for _ in range(500):  # each term alone, anywhere in its range
        online, rejected = int(rng.integers(0, 1000)), int(rng.integers(0, 1000))
        complete, days = float(rng.random()), float(rng.random() * 60)
        here = dataset_score(online, rejected, complete, days)
        assert dataset_score(online + 1, rejected, complete, days) >= here
        assert dataset_score(online, rejected + 1, complete, days) <= here
        assert dataset_score(online, rejected, min(1.0, complete + 0.1), days) >= here
        assert dataset_score(online, rejected, complete, days + 1) <= here


def test_from_export_folder_reads_the_files(tmp_path):
    catalog = load_catalog(DEMO_CATALOG)
    config = catalog.get("62063").config
    dataset_id = config.dataset_id(DEFIB)
    (tmp_path / f"{dataset_id}.csv").write_text('"id","name"\r\n"62063-1","DEA"\r\n', encoding="utf-8")
    exported = (NOW - timedelta(days=2)).isoformat(timespec="seconds")
    (tmp_path / f"{dataset_id}.metadata.json").write_text(
        json.dumps({"row_count": 1, "exported_at": exported}), encoding="utf-8"
    )
    _report([("4", "error", "invalid_date", "installation_date")]).to_csv(
        tmp_path / f"{dataset_id}.report.csv", index=False
    )
    states = from_export_folder(tmp_path, catalog, NOW)
    assert len(states) == len(catalog.entries) * len(DATASETS)
    by_key = {(s.ins_code, s.dataset): s for s in states}
    liege = by_key[("62063", DEFIB)]
    assert liege.rows_online == 1 and liege.rows_rejected == 1
    assert liege.state == "unchanged"  # the report was written now, after the metadata's export time
    assert by_key[("62063", "mobility/emplacements_pmr")].state == "not_published"  # no files
    assert by_key[("62063", "mobility/travaux_voiries")].state == "not_provided"
    assert liege.source_kind == "spreadsheet"


def test_the_schema_is_valid_and_the_published_scorecard_conforms(tmp_path):
    descriptor = scorecard_schema().descriptor
    frictionless.Schema.from_descriptor(descriptor)  # raises when the descriptor is not a Table Schema
    assert all(f.get("title") and f.get("description") for f in descriptor["fields"])
    card = build_scorecard(synthetic_states(["92094", "62063", "53053"], NOW, rows=5), NOW)
    publication = publish_scorecard(ExportTarget(tmp_path), card)
    assert publication.dataset_id == SCORECARD_DATASET_ID and publication.row_count == 21
    errors = validate_csv(tmp_path / f"{SCORECARD_DATASET_ID}.csv", descriptor)
    assert errors == [] and errors.rows == 21


def test_report_escapes_untrusted_text(tmp_path):
    card = build_scorecard(synthetic_states(["92094"], NOW, rows=3, all_datasets=True), NOW)
    result = write_report(card, tmp_path)
    page = result.pages["92094"].read_text(encoding="utf-8")
    assert HOSTILE not in page and "&lt;script&gt;alert(" in page
    assert page.count("<script>") == 1  # ours only
