"""Scorecard and report from the export folder, in one call (`omv report`, without Dagster); and the report
written beside the exports with its links, as the Dagster asset `regional/tableau_de_bord` writes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from omv_pipelines.catalog.loader import Catalog
from omv_pipelines.publish.targets import ExportTarget, Publication
from omv_pipelines.report.html import ReportResult, write_report
from omv_pipelines.scorecard import (
    SCORECARD_DATASET_ID,
    Scorecard,
    build_scorecard,
    from_export_folder,
    publish_scorecard,
)

REPORT_FOLDER = "report"  # inside the export folder


@dataclass(frozen=True)
class Built:
    scorecard: Scorecard
    report: ReportResult
    publication: Publication | None


def report_from_export_folder(
    export_dir: Path | str,
    catalog: Catalog,
    out_dir: Path | str | None = None,
    *,
    publish: bool = False,
    now: datetime | None = None,
) -> Built:
    """Read the export folder, build the scorecard, optionally export it as a dataset (next to the
    others), and write the report (default: `<export_dir>/report/`)."""
    export_dir = Path(export_dir)
    now = now or datetime.now(UTC)
    scorecard = build_scorecard(from_export_folder(export_dir, catalog, now), now)
    publication = publish_scorecard(ExportTarget(export_dir), scorecard) if publish else None
    scorecard_csv = None
    if (export_dir / f"{SCORECARD_DATASET_ID}.csv").exists():
        scorecard_csv = f"{SCORECARD_DATASET_ID}.csv"
    report = write_report_beside_exports(
        scorecard, export_dir, out_dir, scorecard_link=scorecard_csv, link_exports=True
    )
    return Built(scorecard, report, publication)


def write_report_beside_exports(
    scorecard: Scorecard,
    export_dir: Path | str,
    out_dir: Path | str | None = None,
    *,
    scorecard_link: str | None = None,
    link_exports: bool = True,
) -> ReportResult:
    """Write the report (default: `<export_dir>/report/`), its links relative to the export folder.

    `scorecard_link`: the published scorecard, a file name in the export folder or an absolute URL (ODWB);
    `link_exports`: link each validation report (`<id>.report.csv`, only in the export folder)."""
    export_dir = Path(export_dir)
    out = Path(out_dir) if out_dir is not None else export_dir / REPORT_FOLDER
    try:  # the export folder as seen from the report: ".." for the default place
        up = len(out.resolve().relative_to(export_dir.resolve()).parts)
        exports_href = "/".join([".."] * up) or "."
    except ValueError:
        exports_href = export_dir.resolve().as_uri()
    if scorecard_link is not None and "://" not in scorecard_link:
        scorecard_link = f"{exports_href}/{scorecard_link}"
    return write_report(
        scorecard,
        out,
        scorecard_csv=scorecard_link,
        exports_href=exports_href if link_exports else None,
    )
