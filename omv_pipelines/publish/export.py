"""The export-folder target: what publication does when no ODWB API key is set.

For each dataset: `<dataset_id>.csv` (the standard's CSV), `<dataset_id>.metadata.json` (metadata,
content hash, row count) and, for commune datasets, `<dataset_id>.report.csv` (the validation report: UTF-8
with BOM, `;` separator, see csv_format.report_csv). The metadata of a commune dataset also carries the
counts (`rows_published`, `rows_rejected`, `warnings`) and `report_path`, the report's path; they are
brought up to date even when the table itself is unchanged.
Files are replaced atomically, so a crash never leaves half a file where a good one was, and an
unchanged table (same content hash) is not rewritten.

Two writers of the same dataset (two runs of one commune, or a run and the command line) take turns:
`dataset_lock` holds an exclusive `fcntl.flock` on `<folder>/.locks/<dataset_id>.lock` around reading what
is published, comparing and writing, so neither decides on a state the other is replacing.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from omv_pipelines.files import atomic_write


@dataclass(frozen=True)
class ExportResult:
    dataset_id: str
    csv_path: Path
    metadata_path: Path
    content_hash: str
    row_count: int
    status: str  # "published" or "unchanged"


LOCKS = ".locks"


@contextmanager
def dataset_lock(folder: Path | str, dataset_id: str) -> Iterator[None]:
    """Exclusive per-dataset lock of the export folder, held until the block ends (released if the process
    dies: the kernel drops a dead process's flock)."""
    locks = Path(folder) / LOCKS
    locks.mkdir(parents=True, exist_ok=True)
    fd = os.open(locks / f"{dataset_id}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the lock


def previous_export(folder: Path, dataset_id: str) -> dict | None:
    """The metadata of the last export of this dataset, if any (row count and hash of the last good one)."""
    path = Path(folder) / f"{dataset_id}.metadata.json"
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def export_dataset(
    folder: Path,
    dataset_id: str,
    csv_bytes: bytes,
    *,
    content_hash: str,
    row_count: int,
    metadata: dict[str, object],
    report_csv: bytes | None = None,
    report_counts: dict[str, int] | None = None,
) -> ExportResult:
    """Write the dataset (unless unchanged), its report and its metadata. `report_counts` (rows_rejected,
    warnings) go into the metadata with rows_published and the report's path."""
    folder = Path(folder)
    csv_path = folder / f"{dataset_id}.csv"
    metadata_path = folder / f"{dataset_id}.metadata.json"
    report_fields: dict[str, object] = {}
    if report_csv is not None:
        report_path = folder / f"{dataset_id}.report.csv"
        atomic_write(report_path, report_csv)
        report_fields = {
            "rows_published": row_count,
            **(report_counts or {}),
            "report_path": str(report_path.resolve()),
        }
    previous = previous_export(folder, dataset_id)
    if previous and previous.get("content_hash") == content_hash and csv_path.exists():
        if report_fields and any(previous.get(k) != v for k, v in report_fields.items()):
            # Same table, another report (e.g. a warning fixed): the counts follow; exported_at stays the
            # CSV's export time.
            _write_metadata(metadata_path, previous | report_fields)
        return ExportResult(dataset_id, csv_path, metadata_path, content_hash, row_count, "unchanged")
    atomic_write(csv_path, csv_bytes)
    record = {
        "dataset_id": dataset_id,
        **metadata,
        "row_count": row_count,
        **report_fields,
        "content_hash": content_hash,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    # Metadata last: it is what marks the CSV as the good one.
    _write_metadata(metadata_path, record)
    return ExportResult(dataset_id, csv_path, metadata_path, content_hash, row_count, "published")


def _write_metadata(path: Path, record: dict) -> None:
    atomic_write(path, (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
