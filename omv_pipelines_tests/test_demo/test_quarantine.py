"""The demo source with deliberate defects (Liège's collective equipment CSV): its quarantine report,
line by line, and what was kept."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

LIEGE = "62063"
DATASET = "resilience/equipements_collectifs"
SOURCE = "62063/resilience/equipements_collectifs#1(spreadsheet)"

# (source_row, severity, field, error_type, raw_value) — rows as numbered in the office suite (header = 1).
EXPECTED = [
    ("4", "warning", "coordinates", "swapped_coordinates", "50,648068 5,581404"),
    ("6", "error", "installation_date", "invalid_date", "31/06/2022"),
    ("7", "error", "type", "missing_value", None),
    ("8", "error", "street_name", "missing_value", None),
    ("9", "error", "id", "duplicate", "62063-EQ-008"),
    ("10", "error", "id", "duplicate", "62063-EQ-008"),
    ("11", "error", "status", "not_in_enum", "hors service"),
    ("11", "error", "last_maintenance_date", "invalid_date", "bientôt"),
]


def _lines(report: pd.DataFrame) -> list[tuple]:
    return [
        (r.source_row, r.severity, r.field, r.error_type, None if pd.isna(r.raw_value) else r.raw_value)
        for r in report.itertuples(index=False)
    ]


def test_quarantine_report_line_by_line(demo_runs):
    run = demo_runs[(LIEGE, DATASET)]
    assert _lines(run.report) == EXPECTED
    assert set(run.report["source_id"]) == {SOURCE}
    assert run.report["record_id"].tolist() == [
        "62063-EQ-003",
        "62063-EQ-005",
        "62063-EQ-006",
        "62063-EQ-007",
        "62063-EQ-008",
        "62063-EQ-008",
        "62063-EQ-009",
        "62063-EQ-009",
    ]
    assert run.report["message"].notna().all() and (run.report["message"].str.len() > 10).all()


def test_report_csv_next_to_the_export_says_the_same(demo_runs):
    run = demo_runs[(LIEGE, DATASET)]
    path = Path(run.publication.location).with_name(f"{run.publication.dataset_id}.report.csv")
    written = pd.read_csv(
        path, sep=";", encoding="utf-8-sig", dtype="string", keep_default_na=False, na_values=[""]
    )
    assert _lines(written) == EXPECTED


def test_defective_rows_are_left_out_and_the_rest_is_published(demo_runs):
    run = demo_runs[(LIEGE, DATASET)]
    valid = run.result.valid.set_index("id")
    assert valid.index.tolist() == [
        "62063-EQ-001",
        "62063-EQ-002",
        "62063-EQ-003",
        "62063-EQ-004",
        "62063-EQ-010",
        "62063-EQ-011",
    ]
    assert run.result.source_rows == 12 and run.result.rejected_rows == 6
    lon, lat = json.loads(valid.loc["62063-EQ-003", "coordinates"])["coordinates"]
    assert (lon, lat) == (5.581404, 50.648068)  # the swapped pair, put right
    assert valid.loc["62063-EQ-010", ["type", "status"]].tolist() == ["Jardin partagé", "Non disponible"]


def test_column_name_with_other_case_and_accents_and_unknown_columns(demo_runs):
    result = demo_runs[(LIEGE, DATASET)].result
    assert result.matched_columns["type"] == "TYPE D'ÉQUIPEMENT"  # the catalogue says "type d'equipement"
    assert result.unknown_columns == ["Remarque interne"]


def test_defibrillators_of_the_demo_are_unchanged(demo_runs):
    counts = {
        code: (
            len(demo_runs[(code, "resilience/defibrillateurs")].result.valid),
            demo_runs[(code, "resilience/defibrillateurs")].result.rejected_rows,
            len(demo_runs[(code, "resilience/defibrillateurs")].result.warnings),
        )
        for code in ("92094", "62063", "53053")
    }
    assert counts == {"92094": (12, 0, 0), "62063": (9, 2, 1), "53053": (10, 0, 0)}


def test_other_demo_sources_are_clean(demo_runs):
    defective = {(LIEGE, DATASET), (LIEGE, "resilience/defibrillateurs")}
    dirty = {
        pair: len(run.report)
        for pair, run in demo_runs.items()
        if pair not in defective and not run.report.empty
    }
    assert dirty == {}
