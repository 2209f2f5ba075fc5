"""The one publish interface: both targets publish a schema table, say what is online, word their failures."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from omv_pipelines.errors import OmvError
from omv_pipelines.publish.csv_format import read_report_csv
from omv_pipelines.publish.targets import (
    ExportTarget,
    LastPublication,
    OdwbTarget,
    PublicationFailed,
    Target,
)
from omv_pipelines.schemas import get_schema
from omv_pipelines_tests.odwb_emulator import OdsEmulator
from omv_pipelines_tests.test_publish import record_retry_waits

SCHEMA = get_schema("resilience/defibrillateurs")
METADATA = {"title": "Défibrillateurs — Namur", "publisher": "Ville de Namur", "contact_name": "Service"}


def table(rows: int) -> pd.DataFrame:
    frame = pd.DataFrame({name: pd.Series([None] * rows, dtype="object") for name in SCHEMA.field_names})
    frame["id"] = [f"92094-{n + 1}" for n in range(rows)]
    frame["name"] = [f"DAE {n + 1}" for n in range(rows)]
    return frame


def test_the_export_target_publishes_once_and_remembers_what_it_published(tmp_path):
    target: Target = ExportTarget(tmp_path)
    assert target.last_publication("namur-dae") is None
    report = pd.DataFrame({"source_row": ["2"], "message": ["bad"]})
    first = target.publish(table(3), SCHEMA, dataset_id="namur-dae", metadata=METADATA, report=report)
    assert (first.target, first.status, first.row_count) == ("export", "published", 3)
    assert (tmp_path / "namur-dae.csv").exists() and (tmp_path / "namur-dae.report.csv").exists()
    again = target.publish(table(3), SCHEMA, dataset_id="namur-dae", metadata=METADATA)
    assert again.status == "unchanged" and again.content_hash == first.content_hash
    assert target.last_publication("namur-dae") == LastPublication(3, first.content_hash)


def test_the_export_report_opens_in_a_french_excel_and_the_metadata_counts_it(tmp_path):
    """UTF-8 with BOM, `;` between columns, CRLF; missing values empty, long values whole; the metadata
    says how many rows were published, rejected and warned about, and where the report is."""
    long_message = "valeur hors liste ; valeurs admises : " + ", ".join(f"choix {n}" for n in range(40))
    report = pd.DataFrame(
        {
            "source_id": ["s", "s", "s", "s"],
            "source_row": ["2", "2", "3", "4"],
            "severity": ["error", "error", "error", "warning"],
            "message": [long_message, "pas une date", "valeur obligatoire manquante", "inversées"],
            "raw_value": pd.Series(["Publique", "31/02/2021", pd.NA, "50,6 5,5"], dtype="string"),
            "number": [1.5, None, float("nan"), 2.0],
        }
    )
    published = ExportTarget(tmp_path).publish(
        table(3), SCHEMA, dataset_id="namur-dae", metadata=METADATA, report=report
    )
    data = (tmp_path / "namur-dae.report.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbfsource_id;source_row;severity;message;raw_value;number\r\n")
    text = data.decode("utf-8-sig")
    assert long_message in text  # never cut
    assert "<NA>" not in text and "nan" not in text and "None" not in text
    assert text.splitlines()[3] == "s;3;error;valeur obligatoire manquante;;"
    back = read_report_csv(tmp_path / "namur-dae.report.csv")
    assert back["message"].iloc[0] == long_message and back["raw_value"].tolist() == [
        "Publique",
        "31/02/2021",
        "",
        "50,6 5,5",
    ]
    metadata = json.loads((tmp_path / "namur-dae.metadata.json").read_text(encoding="utf-8"))
    assert (metadata["rows_published"], metadata["rows_rejected"], metadata["warnings"]) == (3, 2, 1)
    assert metadata["report_path"] == str((tmp_path / "namur-dae.report.csv").resolve())
    assert published.status == "published"

    # Same table, one problem fixed: the CSV is not rewritten, the counts follow the new report.
    fixed = report.iloc[[0, 1, 3]]
    again = ExportTarget(tmp_path).publish(
        table(3), SCHEMA, dataset_id="namur-dae", metadata=METADATA, report=fixed
    )
    metadata = json.loads((tmp_path / "namur-dae.metadata.json").read_text(encoding="utf-8"))
    assert again.status == "unchanged" and (metadata["rows_rejected"], metadata["warnings"]) == (1, 1)


def test_an_older_comma_separated_report_is_still_read(tmp_path):
    (tmp_path / "old.report.csv").write_text("source_row,message\n2,bad\n", encoding="utf-8")
    assert read_report_csv(tmp_path / "old.report.csv").to_dict("list") == {
        "source_row": ["2"],
        "message": ["bad"],
    }


def test_the_odwb_target_publishes_and_reads_back_what_is_online(monkeypatch):
    record_retry_waits(monkeypatch)
    progress: list[str] = []
    with OdsEmulator(queue_delay_s=0.01, processing_delay_s=0.01) as ods:
        target: Target = OdwbTarget(ods.url, ods.api_key, license_id="cc_by", max_wait_s=10)
        assert target.last_publication("namur-dae") is None
        published = target.publish(
            table(2), SCHEMA, dataset_id="namur-dae", metadata=METADATA, on_progress=progress.append
        )
        assert (published.target, published.status, published.row_count) == ("odwb", "published", 2)
        assert published.uid and published.uid.startswith("da_")
        assert ods.dataset("namur-dae").metadata["internal"]["license_id"]["value"] == "cc_by"
        assert "contact_name" not in ods.dataset("namur-dae").metadata["default"]  # not in the ODS template
        assert any(line.startswith("namur-dae: publish") for line in progress)
        assert target.last_publication("namur-dae") == LastPublication(2, published.content_hash)
        assert ods.api_key not in repr(target) and ods.api_key not in str(target)


def test_an_odwb_failure_names_the_dataset_keeps_the_good_one_and_says_whether_to_retry(monkeypatch):
    record_retry_waits(monkeypatch)
    with OdsEmulator() as ods:
        wrong = OdwbTarget(ods.url, "not-a-valid-key-0123456789")
        with pytest.raises(PublicationFailed) as refused:
            wrong.publish(table(1), SCHEMA, dataset_id="namur-dae", metadata=METADATA)
        text = str(refused.value)
        assert text.startswith("namur-dae: publication to ODWB failed: ") and "ODWB_API_KEY" in text
        assert "last good publication stays online" in text and "not-a-valid-key-0123456789" not in text
        assert isinstance(refused.value, OmvError) and not refused.value.retryable
        assert refused.value.context["dataset_id"] == "namur-dae"

        ods.inject(r"/datasets/$", 503, times=None, method="GET")
        target = OdwbTarget(ods.url, ods.api_key)
        with pytest.raises(PublicationFailed) as busy:
            target.publish(table(1), SCHEMA, dataset_id="namur-dae", metadata=METADATA)
        assert busy.value.retryable and "HTTP 503" in str(busy.value)
