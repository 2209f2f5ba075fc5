"""Scorecard + HTML report for a synthetic region: 261 communes × 7 datasets (issue #14: ≤ 10 s).

    python benchmarks/report.py                 # 261 communes, all 7 datasets, 40 rows each
    python benchmarks/report.py --rows 200

The states are built in memory (omv_pipelines/scorecard/synthetic.py: published tables in the
schemas' columns with points in each commune, a few rejected rows each). Timed: `build_scorecard` and
`write_report` (index + 261 commune pages), after one warm-up read of the boundaries. Peers in the same
run: reading and decoding the shipped boundary file, and writing the same published rows as CSV with
pandas `to_csv` (one file per commune × dataset), a floor for anything that reads all the rows.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from omv_pipelines.report import geo, write_report  # noqa: E402
from omv_pipelines.scorecard import build_scorecard  # noqa: E402
from omv_pipelines.scorecard.synthetic import synthetic_states  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=40, help="published rows per commune and dataset")
    args = parser.parse_args()
    now = datetime.now(UTC)

    started = time.perf_counter()
    geo.communes.cache_clear()
    codes = sorted(geo.communes())
    boundaries_s = time.perf_counter() - started
    print(f"peer: read and decode the boundaries of {len(codes)} communes: {boundaries_s:.2f}s")

    print(f"generating {len(codes)} communes × 7 datasets × {args.rows} rows…", flush=True)
    states = synthetic_states(codes, now, rows=args.rows, all_datasets=True)
    rows = sum(s.rows_online for s in states)

    started = time.perf_counter()
    csv_bytes = sum(len(s.published.to_csv(index=False).encode()) for s in states if s.published is not None)
    csv_s = time.perf_counter() - started
    print(
        f"peer: the same {rows} rows written as CSV (pandas to_csv): {csv_s:.2f}s, {csv_bytes / 1e6:.1f} MB"
    )

    started = time.perf_counter()
    scorecard = build_scorecard(states, now)
    scorecard_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as out:
        result = write_report(scorecard, out)
        index_mb = (Path(out) / "index.html").stat().st_size / 1e6
    total = scorecard_s + result.seconds
    print(
        f"scorecard: {scorecard_s:.2f}s ({len(scorecard.datasets)} rows, {len(scorecard.communes)} communes)"
    )
    print(
        f"report:    {result.seconds:.2f}s, {len(result.pages) + 1} files, {result.size_bytes / 1e6:.1f} MB "
        f"(index {index_mb:.2f} MB, commune pages "
        f"{(result.size_bytes / 1e6 - index_mb) / len(result.pages):.3f} MB each on average)"
    )
    print(f"total:     {total:.2f}s (target ≤ 10 s); {total / csv_s:.1f}× writing the rows as CSV")


if __name__ == "__main__":
    main()
