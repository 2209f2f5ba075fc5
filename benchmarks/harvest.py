"""Harvest benchmark: our SQL and WFS sources against the tools people would use instead, in one run.

    python benchmarks/harvest.py                          # 1,000,000 rows and 100,000 features
    python benchmarks/harvest.py --rows 100000 --features 10000   # a quick run

(a) A PostgreSQL + PostGIS table (a dozen columns of mixed types and a point in Lambert 72) read by
    `harvest_sql` (geometry as WGS84 GeoJSON) and by `psql -c "\\copy (same SELECT) to file csv"`.
(b) A point layer in EPSG:31370 served by a loopback MapServer WFS, read by `harvest_wfs` and by GDAL
    `ogr2ogr -f GeoJSON out.geojson WFS:<url> <typename>`, both paging by the same page size.

Every contender runs in its own child process, --repeat times; time is the median of the child's
wall-clock times (Python start-up included) and memory its highest peak resident set (ru_maxrss from
wait4). Scratch tables live in a schema of their own,
dropped at the end. Needs the local PostgreSQL (OMV_BENCH_PG_URL), psql, ogr2ogr and mapserv.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

PG_URL = os.environ.get("OMV_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TYPENAME = "points"
PAGE_SIZE = 10_000
COLUMNS = [
    "id",
    "nom",
    "type",
    "places",
    "cout",
    "taux",
    "couvert",
    "installe",
    "modifie",
    "remarque",
    "code_postal",
]
TARGETS = {"sql": (2.0, 500), "wfs": (1.5, None)}  # time ratio to the peer, peak MB of our side


@dataclass
class Run:
    name: str
    seconds: float
    peak_mb: float
    detail: str


def median_of(repeat: int, name: str, argv: list[str], env: dict[str, str] | None = None) -> tuple[Run, str]:
    """The median time (and the highest peak memory) of `repeat` runs: one run is at the mercy of
    whatever else the machine is doing."""
    runs = [measure(name, argv, env) for _ in range(repeat)]
    times = sorted(run.seconds for run, _ in runs)
    peak = max(run.peak_mb for run, _ in runs)
    return Run(name, times[len(times) // 2], peak, ""), runs[-1][1]


def measure(name: str, argv: list[str], env: dict[str, str] | None = None) -> tuple[Run, str]:
    """Run one contender in a child process; its wall time, its own peak RSS, and its stdout."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if child.returncode != 0:
        raise RuntimeError(f"{name} failed (exit {child.returncode}): {stderr.strip()[-2000:]}")
    return Run(name, seconds, usage.ru_maxrss / 1024, ""), stdout  # ru_maxrss is in KiB on Linux


# ------------------------------------------------------------------------------------------- (a) SQL


def create_table(engine, schema: str, rows: int) -> str:
    table = f"{schema}.velos"
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        conn.exec_driver_sql(
            f"""CREATE TABLE {table} AS SELECT
                i AS id,
                'Rack ' || i AS nom,
                (ARRAY['arceau', 'range-vélos', 'box', 'autre'])[1 + mod(i, 4)] AS type,
                mod(i, 40) + 1 AS places,
                round(mod(i, 10000) / 7.0, 2)::numeric(10, 2) AS cout,
                mod(i, 997) / 997.0 AS taux,
                mod(i, 3) = 0 AS couvert,
                date '2015-01-01' + mod(i, 3650) AS installe,
                timestamptz '2024-01-01 00:00+00' + i * interval '1 minute' AS modifie,
                CASE WHEN mod(i, 5) = 0 THEN NULL ELSE 'Remarque numéro ' || i END AS remarque,
                lpad((5000 + mod(i, 900))::text, 4, '0') AS code_postal,
                ST_SetSRID(ST_MakePoint(150000 + mod(i, 1000) * 50, 100000 + (i / 1000) * 50), 31370)
                    AS geom
            FROM generate_series(1, {rows}) AS i"""
        )
        conn.exec_driver_sql(f"ANALYZE {table}")
    return table


def sql_child(table: str) -> None:
    """Our side, in the child: harvest the table (geometry as GeoJSON) into a DataFrame."""
    from omv_pipelines.sources.sql import SqlSource
    from omv_pipelines.sources.sql.harvest import harvest_sql

    config = SqlSource(url_env="OMV_BENCH_PG_URL", table=table, geometry_column="geom")
    harvest = harvest_sql(config, source_id="bench")
    print(json.dumps({"rows": len(harvest.frame), **harvest.stats}))


def bench_sql(rows: int, workdir: Path, repeat: int) -> list[Run]:
    import sqlalchemy as sa

    engine = sa.create_engine(PG_URL)
    schema = f"omv_bench_{uuid.uuid4().hex[:8]}"
    try:
        started = time.perf_counter()
        table = create_table(engine, schema, rows)
        print(f"  table {table}: {rows:,} rows created in {time.perf_counter() - started:.1f} s", flush=True)
        env = {**os.environ, "OMV_BENCH_PG_URL": PG_URL}
        ours, out = median_of(repeat, "harvest_sql", [sys.executable, __file__, "--child-sql", table], env)
        stats = json.loads(out.strip().splitlines()[-1])
        assert stats["rows"] == rows, stats
        ours.detail = (
            f"{stats['rows']:,} rows in {stats['chunks']} chunks, in-process {stats['duration_s']} s"
        )
        # The same result as harvest_sql fetches: every column but the raw geometry, and its WGS84 GeoJSON.
        select = (
            f"SELECT {', '.join(COLUMNS)}, ST_AsGeoJSON(ST_Transform(geom, 4326)) AS geojson FROM {table}"
        )
        csv = workdir / "velos.csv"
        url = engine.url
        psql = [
            "psql",
            "-X",
            "-q",
            "-h",
            url.host or "127.0.0.1",
            "-p",
            str(url.port or 5432),
            "-U",
            url.username or "postgres",
            "-d",
            url.database or "postgres",
            "-c",
            f"\\copy ({select}) to '{csv}' csv header",
        ]
        peer, _ = median_of(repeat, "psql \\copy", psql)
        peer.detail = f"{csv.stat().st_size / 1e6:,.0f} MB of CSV"
        return [ours, peer]
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        engine.dispose()


# ------------------------------------------------------------------------------------------- (b) WFS


def make_points(path: Path, features: int) -> None:
    """A GeoPackage of points spread over Wallonia in Lambert 72, written via ogr2ogr from a CSV."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(31370)
    ids = np.arange(1, features + 1)
    frame = pd.DataFrame(
        {
            "ident": ids,
            "nom": "Point " + pd.Series(ids).astype(str),
            "places": rng.integers(1, 40, features),
            "taux": rng.random(features).round(4),
            "x": rng.uniform(120_000, 260_000, features).round(2),
            "y": rng.uniform(60_000, 160_000, features).round(2),
        }
    )
    csv = path.with_suffix(".csv")
    frame.to_csv(csv, index=False)
    subprocess.run(
        [
            "ogr2ogr",
            "-f",
            "GPKG",
            str(path),
            str(csv),
            "-nln",
            TYPENAME,
            "-lco",
            "FID=fid",
            "-oo",
            "X_POSSIBLE_NAMES=x",
            "-oo",
            "Y_POSSIBLE_NAMES=y",
            "-oo",
            "AUTODETECT_TYPE=YES",
            "-a_srs",
            "EPSG:31370",
            "-nlt",
            "POINT",
        ],
        check=True,
        capture_output=True,
    )


def wfs_child(url: str, features: int) -> None:
    """Our side, in the child: harvest every feature of the layer (reprojected to WGS84 GeoJSON)."""
    from omv_pipelines.sources.wfs import WfsSource
    from omv_pipelines.sources.wfs.harvest import harvest_wfs

    config = WfsSource(url=url, typename=TYPENAME, srs="EPSG:31370", page_size=PAGE_SIZE, timeout_s=300)
    harvest = harvest_wfs(config, source_id="bench")
    print(json.dumps({"rows": len(harvest.frame), **harvest.stats}, default=str))


def bench_wfs(features: int, workdir: Path, repeat: int) -> list[Run]:
    from omv_pipelines.demo.mapserver import MapServerWfs, WfsLayer

    gpkg = workdir / "points.gpkg"
    make_points(gpkg, features)
    layer = WfsLayer(TYPENAME, gpkg, epsg=31370, feature_id="ident", max_features=PAGE_SIZE)
    with MapServerWfs([layer]) as server:
        argv = [sys.executable, __file__, "--child-wfs", server.url, str(features)]
        ours, out = median_of(repeat, "harvest_wfs", argv)
        stats = json.loads(out.strip().splitlines()[-1])
        assert stats["rows"] == features, stats
        ours.detail = ", ".join(
            f"{k} {stats[k]}" for k in ("pages", "version", "output_format") if k in stats
        )
        target = workdir / "points.geojson"
        # GDAL pages with the same page size (STARTINDEX/COUNT), reads the feature type's schema from this
        # server's DescribeFeatureType and never fetches schemas named in the documents from elsewhere.
        env = {
            **os.environ,
            "OGR_WFS_PAGING_ALLOWED": "ON",
            "OGR_WFS_PAGE_SIZE": str(PAGE_SIZE),
            "OGR_WFS_LOAD_MULTIPLE_LAYER_DEFN": "NO",
            "GML_DOWNLOAD_WFS_SCHEMA": "NO",
            "GDAL_HTTP_TIMEOUT": "300",
            "CPL_CURL_VERBOSE": "NO",
        }
        argv = ["ogr2ogr", "-f", "GeoJSON", str(target), f"WFS:{server.url}", TYPENAME]
        peer, _ = median_of(repeat, "ogr2ogr WFS", argv, env)
        written = json.loads(target.read_text())["features"]
        assert len(written) == features, f"ogr2ogr wrote {len(written)} features, expected {features}"
        peer.detail = f"{len(written):,} features, {target.stat().st_size / 1e6:,.0f} MB of GeoJSON"
    return [ours, peer]


# ---------------------------------------------------------------------------------------------- main


def report(title: str, runs: list[Run], targets: tuple[float, float | None]) -> None:
    ours, peer = runs
    ratio = ours.seconds / peer.seconds
    max_ratio, max_mb = targets
    print(f"\n{title}")
    print(f"  {'contender':<14} {'median s':>8} {'peak MB':>8}  detail")
    for run in runs:
        print(f"  {run.name:<14} {run.seconds:>8.2f} {run.peak_mb:>8.0f}  {run.detail}")
    verdict = "ok" if ratio <= max_ratio else "MISSED"
    print(f"  time ratio ours/peer: {ratio:.2f}× (target ≤ {max_ratio}×: {verdict})")
    if max_mb is not None:
        verdict = "ok" if ours.peak_mb <= max_mb else "MISSED"
        print(f"  our peak memory: {ours.peak_mb:.0f} MB (target < {max_mb} MB: {verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the PostgreSQL table")
    parser.add_argument("--features", type=int, default=100_000, help="features of the WFS layer")
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender (the median time is shown)")
    parser.add_argument("--only", choices=["sql", "wfs"], help="run one of the two benchmarks")
    parser.add_argument("--child-sql", metavar="TABLE", help=argparse.SUPPRESS)
    parser.add_argument("--child-wfs", nargs=2, metavar=("URL", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_sql:
        return sql_child(args.child_sql)
    if args.child_wfs:
        return wfs_child(args.child_wfs[0], int(args.child_wfs[1]))
    for tool in ("psql", "ogr2ogr"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (apt-get install postgresql-client gdal-bin)")
    with tempfile.TemporaryDirectory(prefix="omv-bench-") as tmp:
        workdir = Path(tmp)
        if args.only in (None, "sql"):
            print(f"(a) PostgreSQL table of {args.rows:,} rows", flush=True)
            report(f"(a) SQL, {args.rows:,} rows", bench_sql(args.rows, workdir, args.repeat), TARGETS["sql"])
        if args.only in (None, "wfs"):
            print(f"\n(b) WFS layer of {args.features:,} points, pages of {PAGE_SIZE:,}", flush=True)
            report(
                f"(b) WFS, {args.features:,} features",
                bench_wfs(args.features, workdir, args.repeat),
                TARGETS["wfs"],
            )


if __name__ == "__main__":
    main()
