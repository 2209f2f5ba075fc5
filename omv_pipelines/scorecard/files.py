"""Dataset states from the export folder alone (for `omv report` and the demo).

Per catalogue commune and dataset, with `CommuneConfig.dataset_id` as the file name:

- `<id>.metadata.json` → rows online (`row_count`) and when the content last changed (`exported_at`);
- `<id>.report.csv` → the validation report: rows rejected and their reasons, points outside the commune.
  It is rewritten at every publication that reached the folder, the metadata only when the content
  changed: a report newer than `exported_at` means the last run found the table unchanged, and the
  report's time is then the last successful publication;
- `<id>.csv` → the rows online (completeness, points on the commune's map).

What the files cannot say: whether the last run was blocked by its drop check or failed. A blocked or
failed run leaves the last good files in place, so such a dataset reads "published" (or "unchanged")
with an older date — its freshness drops, which the score shows. A provided dataset with no files at
all is "not_published" (never published: blocked, failed or not run yet). The Dagster adapter, which
sees the runs, sets "blocked" and "failed".
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from omv_pipelines.catalog.loader import Catalog
from omv_pipelines.publish.csv_format import read_report_csv
from omv_pipelines.schemas import DATASETS
from omv_pipelines.scorecard.model import DatasetState, rejects_from_report

# A report written more than this after the metadata comes from a later run (unchanged content).
_LATER_RUN_S = 60


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype="string", keep_default_na=False, encoding="utf-8")


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)


def dataset_state(export_dir: Path, ins_code: str, dataset: str, dataset_id: str, kind: str) -> DatasetState:
    """The state of one provided dataset, from its files in the export folder."""
    metadata_path = export_dir / f"{dataset_id}.metadata.json"
    report_path = export_dir / f"{dataset_id}.report.csv"
    csv_path = export_dir / f"{dataset_id}.csv"
    report = read_report_csv(report_path) if report_path.exists() else None
    rejected, reasons = rejects_from_report(report)
    common = dict(
        ins_code=ins_code,
        dataset=dataset,
        provided=True,
        rows_rejected=rejected,
        rejected_reasons=reasons,
        quarantine=report,
        source_kind=kind,
        dataset_id=dataset_id,
    )
    if not metadata_path.exists():
        return DatasetState(state="not_published", **common)  # type: ignore[arg-type]
    metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    exported = datetime.fromisoformat(metadata["exported_at"])
    if exported.tzinfo is None:
        exported = exported.replace(tzinfo=UTC)
    state, last = "published", exported
    if report_path.exists():
        reported = _mtime(report_path)
        if (reported - exported).total_seconds() > _LATER_RUN_S:
            state, last = "unchanged", reported
    return DatasetState(
        state=state,
        rows_online=int(metadata.get("row_count") or 0),
        published=_read_csv(csv_path) if csv_path.exists() else None,
        last_success=last,
        **common,  # type: ignore[arg-type]
    )


def from_export_folder(
    export_dir: Path | str, catalog: Catalog, now: datetime | None = None
) -> list[DatasetState]:
    """Every catalogue commune × every dataset (7), from the export folder's files.

    `now` is unused here (the states hold dates, `build_scorecard` measures freshness) but accepted so
    callers can pass the same instant to both.
    """
    del now
    export_dir = Path(export_dir)
    states = []
    for code, entry in sorted(catalog.entries.items()):
        config = entry.config
        for dataset in DATASETS:
            if dataset not in config.datasets:
                states.append(
                    DatasetState(ins_code=code, dataset=dataset, provided=False, state="not_provided")
                )
                continue
            kinds = dict.fromkeys(source.kind for source in config.datasets[dataset].sources)
            states.append(
                dataset_state(export_dir, code, dataset, config.dataset_id(dataset), "+".join(kinds))
            )
    return states
