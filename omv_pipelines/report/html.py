"""The scorecard as a static HTML report: `index.html` for the region, one page per participating commune.

Every page is one self-contained file: inline CSS, inline SVG (maps and bar charts generated here, in
Python), a few lines of inline JavaScript (table sorting, map colouring by coverage or score). No CDN,
no web font, no tile server, no request at view time: it opens from a file share, a mail attachment or
the export folder, and can be archived as is. Every text taken from the data is escaped.

This module writes the files; the pages are built in `region` and `commune`, on the frame of `page`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from omv_pipelines.files import atomic_write
from omv_pipelines.report.commune import COMMUNE_MAP_WIDTH, MAX_ROWS_TO_FIX, commune_page, prepare
from omv_pipelines.report.page import (
    COVERAGE_COLOURS,
    CSS,
    DATASET_COLOURS,
    JS,
    OK,
    REJECTED,
    SCORE_CLASSES,
    WARNING,
    coverage_colour,
    freshness_colour,
    page_name,
    score_colour,
)
from omv_pipelines.report.region import MAP_WIDTH, MAX_MAP_LABELS, NOT_PARTICIPATING, region_page
from omv_pipelines.scorecard.model import Scorecard

__all__ = [
    "COMMUNE_MAP_WIDTH",
    "COVERAGE_COLOURS",
    "CSS",
    "DATASET_COLOURS",
    "JS",
    "MAP_WIDTH",
    "MAX_MAP_LABELS",
    "MAX_ROWS_TO_FIX",
    "NOT_PARTICIPATING",
    "OK",
    "REJECTED",
    "SCORE_CLASSES",
    "WARNING",
    "ReportResult",
    "commune_page",
    "coverage_colour",
    "freshness_colour",
    "region_page",
    "score_colour",
    "write_report",
]


@dataclass(frozen=True)
class ReportResult:
    index: Path
    pages: dict[str, Path]  # INS code → commune page
    size_bytes: int  # all files written
    seconds: float


def write_report(
    scorecard: Scorecard,
    out_dir: Path | str,
    *,
    scorecard_csv: str | None = None,
    exports_href: str | None = None,
) -> ReportResult:
    """Write `index.html` and one `commune-<INS>.html` per commune of the scorecard into `out_dir`.

    `scorecard_csv`: a link (relative to `out_dir`) to the published scorecard, shown on the index;
    `exports_href`: the export folder relative to `out_dir` (e.g. ".."), to link each validation report.
    """
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    generated = scorecard.now.strftime("%d/%m/%Y à %H:%M UTC")
    size = 0
    index_html = region_page(scorecard, generated, scorecard_csv).encode("utf-8")
    atomic_write(out / "index.html", index_html)
    (out / "index.html").chmod(0o644)
    size += len(index_html)
    pages = {}
    prepared = prepare(scorecard, exports_href)
    for code in scorecard.communes["ins_code"]:
        page = commune_page(scorecard, code, generated, exports_href, prepared).encode("utf-8")
        pages[code] = out / page_name(code)
        atomic_write(pages[code], page)
        pages[code].chmod(0o644)  # meant to be read by people and served as is
        size += len(page)
    return ReportResult(out / "index.html", pages, size, time.perf_counter() - started)
