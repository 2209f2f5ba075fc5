"""Throughput and peak memory of our normalise() against frictionless, on synthetic defibrillator rows.

    python benchmarks/normalise.py                  # 1,000,000 rows for us, 50,000 for frictionless
    python benchmarks/normalise.py --rows 100000 --frictionless-rows 10000

The rows are shaped like a commune's source: x/y in Lambert 72, oui/non answers, dd/mm/yyyy dates, all
as text in a CSV, points inside Namur's real boundary, with about 1% defects (impossible dates, missing
names, unknown yes/no words, duplicate ids, coordinates outside Wallonia, points in Liège). Our side reads
that CSV with pandas and normalises it (typing, reprojection, validation with every point checked against
Namur's and Wallonia's polygons, quarantine); frictionless validates the same rows written in the standard's
shape (what a commune would publish) against the same Table Schema. Frictionless is slow, so it runs on a
subset and the two are compared in rows per second. Each side runs in its own subprocess; peak memory
is that process's ru_maxrss (interpreter and imports included).
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

DATASET = "resilience/defibrillateurs"
COMMUNE = "92094"
STREETS = [
    "Rue de Fer",
    "Place d'Armes",
    "Rue de l'Ange",
    "Boulevard Cauchy",
    "Avenue de la Plante",
    "Rue Godefroid",
    "Chaussée de Louvain",
    "Rue des Brasseurs",
    "Place de la Station",
    "Rue Saint-Nicolas",
]
MAPPING = {
    "id": "{numero}",
    "columns": {
        "name": "nom",
        "street_name": "rue",
        "street_number": "code_rue",
        "house_number": "num_police",
        "Indoor": "interieur",
        "accessibility": "acces",
        "permanently_accessible": "h24",
        "schedule": "horaires",
        "installation_date": "date_installation",
    },
    "formats": {"installation_date": "%d/%m/%Y"},
    "geometry": {"x": "lambert_x", "y": "lambert_y", "crs": "EPSG:31370"},
}


def _lambert_points_in(code: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n random points inside the commune's shipped boundary, as Lambert 72 x, y."""
    import shapely
    from pyproj import Transformer

    from omv_pipelines import geography

    b = geography.boundaries()
    polygon = b.polygons[b.index[code]]
    x_min, y_min, x_max, y_max = shapely.bounds(polygon)
    xs, ys = np.empty(0), np.empty(0)
    while len(xs) < n:
        x, y = rng.uniform(x_min, x_max, 2 * n), rng.uniform(y_min, y_max, 2 * n)
        inside = shapely.contains_xy(polygon, x, y)
        xs, ys = np.concatenate([xs, x[inside]]), np.concatenate([ys, y[inside]])
    lon, lat = xs[:n] / geography._K, ys[:n]  # the boundaries are kept with longitudes scaled by _K
    return Transformer.from_crs("EPSG:4326", "EPSG:31370", always_xy=True).transform(lon, lat)


def source_rows(n: int, seed: int = 42) -> pd.DataFrame:
    """n source-shaped rows, all text, about 1% of them defective (six kinds, equally often)."""
    rng = np.random.default_rng(seed)
    lambert_x, lambert_y = _lambert_points_in(COMMUNE, n, rng)
    numero = pd.Series(np.arange(1, n + 1)).astype("string")
    day = pd.Series(rng.integers(1, 29, n)).astype("string").str.zfill(2)
    month = pd.Series(rng.integers(1, 13, n)).astype("string").str.zfill(2)
    year = pd.Series(rng.integers(2010, 2025, n)).astype("string")
    frame = pd.DataFrame(
        {
            "numero": numero,
            "nom": "DAE " + numero,
            "rue": pd.Series(np.array(STREETS)[rng.integers(0, len(STREETS), n)], dtype="string"),
            "code_rue": (7730000 + rng.integers(0, 9999, n)).astype(str),
            "num_police": rng.integers(1, 300, n).astype(str),
            "lambert_x": lambert_x.round(2).astype(str),
            "lambert_y": lambert_y.round(2).astype(str),
            "interieur": np.where(rng.random(n) < 0.7, "oui", "non"),
            "acces": np.where(rng.random(n) < 0.9, "public", "prive"),
            "h24": np.where(rng.random(n) < 0.3, "Oui", "Non"),
            "horaires": "Mo-Fr 08:00-17:00",
            "date_installation": day + "/" + month + "/" + year,
        }
    ).astype("string")
    defects = rng.choice(np.arange(1, n), size=n // 100, replace=False)
    bad_date, no_name, bad_bool, duplicate, outside, elsewhere = np.array_split(defects, 6)
    frame.loc[bad_date, "date_installation"] = "31/02/2021"
    frame.loc[no_name, "nom"] = pd.NA
    frame.loc[bad_bool, "interieur"] = "peut-être"
    frame.loc[duplicate, "numero"] = frame["numero"].iloc[duplicate - 1].to_numpy()
    frame.loc[outside, ["lambert_x", "lambert_y"]] = "0"
    x, y = _lambert_points_in("62063", len(elsewhere), rng)  # in Liège: kept, with a warning
    frame.loc[elsewhere, "lambert_x"], frame.loc[elsewhere, "lambert_y"] = (
        x.round(2).astype(str),
        y.round(2).astype(str),
    )
    return frame


def standard_rows(source: pd.DataFrame) -> pd.DataFrame:
    """The same rows in the standard's shape (the CSV a commune would publish), defects carried over."""
    from pyproj import Transformer

    from omv_pipelines.schemas import get_schema

    schema = get_schema(DATASET)
    lon, lat = Transformer.from_crs("EPSG:31370", "EPSG:4326", always_xy=True).transform(
        source["lambert_x"].astype(float).to_numpy(), source["lambert_y"].astype(float).to_numpy()
    )
    coordinates = (
        '{"coordinates": ['
        + pd.Series(lon.round(8)).astype("string")
        + ", "
        + pd.Series(lat.round(8)).astype("string")
        + '], "type": "Point"}'
    )
    day_month_year = source["date_installation"].str.split("/", expand=True)
    iso = day_month_year[2] + "-" + day_month_year[1] + "-" + day_month_year[0]
    yes_no = {"oui": "true", "non": "false"}
    columns = {
        "id": COMMUNE + "-" + source["numero"],
        "name": source["nom"],
        "municipality": "Namur",
        "ins_code": COMMUNE,
        "street_name": source["rue"],
        "street_number": source["code_rue"],
        "house_number": source["num_police"],
        "coordinates": coordinates,
        "Indoor": source["interieur"].str.lower().map(yes_no).fillna(source["interieur"]),
        "accessibility": source["acces"].map({"public": "Public", "prive": "Privé"}),
        "permanently_accessible": source["h24"].str.lower().map(yes_no),
        "schedule": source["horaires"],
        "installation_date": iso,
    }
    return pd.DataFrame({name: columns.get(name, "") for name in schema.field_names}).astype("string")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def worker_ours(path: Path) -> dict:
    from omv_pipelines.catalog.communes import lookup
    from omv_pipelines.normalise import Mapping, normalise
    from omv_pipelines.schemas import get_schema
    from omv_pipelines.sources.base import HARVESTED_AT, SOURCE_ID, SOURCE_ROW

    schema, mapping, commune = get_schema(DATASET), Mapping(**MAPPING), lookup(COMMUNE)
    started = time.perf_counter()
    raw = pd.read_csv(path, dtype="string", keep_default_na=False, na_values=[""])
    raw[SOURCE_ID], raw[HARVESTED_AT], raw[SOURCE_ROW] = (
        "bench",
        pd.Timestamp.now(tz="UTC"),
        np.arange(2, len(raw) + 2),
    )
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    result = normalise(raw, schema, mapping, commune)
    normalise_s = time.perf_counter() - started
    return {
        "rows": len(raw),
        "read_s": read_s,
        "normalise_s": normalise_s,
        "valid": len(result.valid),
        "rejected_rows": result.rejected_rows,
        "problems": len(result.rejected) + len(result.warnings),
        "peak_mib": _peak_mib(),
    }


def worker_frictionless(path: Path) -> dict:
    import frictionless

    from omv_pipelines.schemas import get_schema

    schema = frictionless.Schema.from_descriptor(get_schema(DATASET).descriptor)
    started = time.perf_counter()
    report = frictionless.Resource(path=path.name, basepath=str(path.parent), schema=schema).validate(
        limit_errors=10**9
    )
    seconds = time.perf_counter() - started
    task = report.tasks[0]
    invalid_rows = len({e.row_number for e in task.errors if getattr(e, "row_number", None)})
    return {
        "rows": task.stats["rows"],
        "seconds": seconds,
        "errors": len(task.errors),
        "invalid_rows": invalid_rows,
        "peak_mib": _peak_mib(),
    }


def _run_worker(kind: str, path: Path) -> dict:
    command = [sys.executable, __file__, "--worker", kind, "--data", str(path)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="rows normalised by us (default 1,000,000)"
    )
    parser.add_argument(
        "--frictionless-rows",
        type=int,
        default=50_000,
        help="rows validated by frictionless (default 50,000)",
    )
    parser.add_argument("--worker", choices=["ours", "frictionless"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = worker_ours(args.data) if args.worker == "ours" else worker_frictionless(args.data)
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory(prefix="omv-bench-") as folder:
        print(
            f"Generating {args.rows:,} synthetic source rows (Lambert 72, oui/non, dd/mm/yyyy, ~1% defects)…",
            flush=True,
        )
        source = source_rows(args.rows)
        source_csv = Path(folder) / "source.csv"
        source.to_csv(source_csv, index=False)
        subset = min(args.frictionless_rows, args.rows)
        standard_csv = Path(folder) / "standard.csv"
        standard_rows(source.iloc[:subset]).to_csv(
            standard_csv, index=False, quoting=csv.QUOTE_ALL, lineterminator="\r\n"
        )
        del source

        print(f"omv normalise(): reading and normalising {args.rows:,} rows…", flush=True)
        ours = _run_worker("ours", source_csv)
        print(
            f"frictionless {_frictionless_version()}: validating {subset:,} rows in the standard's shape…",
            flush=True,
        )
        theirs = _run_worker("frictionless", standard_csv)

    ours_total = ours["read_s"] + ours["normalise_s"]
    ours_rate, ours_rate_normalise = ours["rows"] / ours_total, ours["rows"] / ours["normalise_s"]
    theirs_rate = theirs["rows"] / theirs["seconds"]
    print()
    print(f"{'':30}{'rows':>11}{'seconds':>10}{'rows/s':>12}{'peak RSS MiB':>14}  found")
    print(
        f"{'omv read_csv + normalise()':30}{ours['rows']:>11,}{ours_total:>10.2f}{ours_rate:>12,.0f}"
        f"{ours['peak_mib']:>14,.0f}"
        f"  {ours['rejected_rows']:,} rows rejected, {ours['problems']:,} problems"
    )
    print(
        f"{'  of which normalise()':30}{ours['rows']:>11,}{ours['normalise_s']:>10.2f}"
        f"{ours_rate_normalise:>12,.0f}"
    )
    print(
        f"{'frictionless validate':30}{theirs['rows']:>11,}{theirs['seconds']:>10.2f}{theirs_rate:>12,.0f}"
        f"{theirs['peak_mib']:>14,.0f}"
        f"  {theirs['invalid_rows']:,} rows invalid, {theirs['errors']:,} errors"
    )
    print()
    print(
        f"Throughput ratio (rows/s, read + normalise vs frictionless): {ours_rate / theirs_rate:,.1f}x "
        f"(normalise alone: {ours_rate_normalise / theirs_rate:,.1f}x); target >= 20x."
    )
    if subset < ours["rows"]:
        print(
            f"Frictionless ran on the first {subset:,} rows only (it is slow); "
            "rates are compared, not totals."
        )
    print("Peak memory: ru_maxrss of each side's own subprocess (interpreter, imports and data included).")
    print(
        "Frictionless cannot check what the standard does not say (points in Wallonia, in the commune), "
        "so it finds fewer problems."
    )


def _frictionless_version() -> str:
    from importlib.metadata import version

    return version("frictionless")


if __name__ == "__main__":
    main()
