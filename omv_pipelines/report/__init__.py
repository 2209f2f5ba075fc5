"""The scorecard as a static HTML report (issue #14): see `omv_pipelines.report.html`."""

from omv_pipelines.report.build import Built, report_from_export_folder
from omv_pipelines.report.html import ReportResult, write_report

__all__ = ["Built", "ReportResult", "report_from_export_folder", "write_report"]
