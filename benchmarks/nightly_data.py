"""Synthetic communes for `benchmarks/nightly.py`: real Walloon INS codes, the demo's source kinds, sizes of
a municipality.

Each commune gets one catalogue file and its sources, with all seven datasets:

- one commune in three keeps a municipal SQLite database (one table per dataset);
- one in three keeps office files: xlsx for three datasets, CSV (';', decimal commas) for the others;
- one in three serves defibrillators and roadworks from the shared loopback MapServer WFS (Lambert 72),
  the rest from SQLite: every WFS commune is tagged with the same host, so they run one at a time.

Columns are named like the schema's fields (as a FuturoCité template filled in), ids come from a `ref`
column, points lie around the commune's label point; about 1% of the rows carry a defect (a missing
required value) so that every quarantine table has rows. Seeded: the same N gives the same files.
"""

from __future__ import annotations

import json
import sqlite3
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from omv_pipelines.schemas import DATASETS, get_schema

# Rows per dataset (min, max) for a commune; a commune's size factor picks within the range.
SIZES = {
    "resilience/defibrillateurs": (20, 150),
    "mobility/stationnements_velos": (100, 1500),
    "mobility/travaux_voiries": (20, 300),
    "mobility/emplacements_pmr": (30, 600),
    "resilience/equipements_collectifs": (80, 1200),
    "participation/processus_participatifs": (3, 30),
    "participation/projets_budget_participatif": (10, 150),
}
XLSX = {"resilience/defibrillateurs", "participation/processus_participatifs", "mobility/travaux_voiries"}
WFS = {"resilience/defibrillateurs", "mobility/travaux_voiries"}
SKIP = {"municipality", "ins_code", "id"}  # filled by normalise from the commune, or from `ref`


@dataclass(frozen=True)
class Commune:
    ins_code: str
    name: str
    kind: str  # sql | files | wfs
    rows: dict[str, int]


def communes(n: int, seed: int = 12) -> list[Commune]:
    """The first `n` communes of a fixed shuffle of the 261 (so N=10 ⊂ N=40 ⊂ N=261)."""
    from omv_pipelines.catalog.communes import lookup
    from omv_pipelines.report import geo

    codes = sorted(geo.communes())
    rng = np.random.default_rng(seed)
    rng.shuffle(codes)
    result = []
    for i, code in enumerate(codes[:n]):
        size = float(rng.beta(1.3, 3.0))  # most communes are small, a few are cities
        rows = {d: int(lo + (hi - lo) * size) for d, (lo, hi) in SIZES.items()}
        result.append(Commune(code, lookup(code).name, ("sql", "files", "wfs")[i % 3], rows))
    return result


def _value(spec: dict, i: np.ndarray, rng: np.random.Generator, code: str) -> list:
    name, kind = spec["name"], spec["type"]
    constraints = spec.get("constraints", {})
    n = len(i)
    if "enum" in constraints:
        enum = constraints["enum"]
        return [enum[k % len(enum)] for k in i]
    if name == "process_id":
        return [f"{code}-P{k % 5 + 1}" for k in i]
    if spec.get("format") == "uri":
        return [f"https://participation.example.be/{code}/{k}" for k in i]
    if spec.get("format") == "email":
        return [f"contact{k}@commune.example.be" for k in i]
    if kind == "boolean":
        return ["oui" if b else "non" for b in rng.random(n) < 0.5]
    if kind == "integer":
        return [int(v) for v in rng.integers(0, 500, n)]
    if kind == "number":
        return [round(float(v), 2) for v in rng.uniform(1, 5000, n)]
    if kind == "year":
        return [int(v) for v in rng.integers(2022, 2026, n)]
    if kind == "date":
        days = rng.integers(0, 900, n)
        return [str(np.datetime64("2023-01-01") + int(d)) for d in days]
    if kind == "datetime":
        days = rng.integers(0, 900, n)
        return [f"{np.datetime64('2023-01-01') + int(d)}T10:30:00+01:00" for d in days]
    if name == "street_number":
        return [str(7_000_000 + k) for k in i]
    return [f"{name.replace('_', ' ')} {k}" for k in i]


def table(dataset: str, commune: Commune, rng: np.random.Generator) -> pd.DataFrame:
    """Source rows for one dataset: schema-named columns, `ref`, `lon`/`lat` (WGS84) for the point."""
    from omv_pipelines.report import geo

    schema = get_schema(dataset)
    n = commune.rows[dataset]
    i = np.arange(1, n + 1)
    columns: dict[str, list] = {"ref": [int(k) for k in i]}
    for spec in schema.fields:
        if spec["name"] in SKIP or spec["type"] == "geojson":
            continue
        columns[spec["name"]] = _value(spec, i, rng, commune.ins_code)
    if dataset == "mobility/travaux_voiries":  # end after start
        columns["end_date"] = [str(np.datetime64(s) + 30) for s in columns["start_date"]]
    lon0, lat0 = geo.communes()[commune.ins_code].label
    columns["lon"] = [round(float(v), 6) for v in lon0 + rng.normal(0, 0.004, n)]
    columns["lat"] = [round(float(v), 6) for v in lat0 + rng.normal(0, 0.003, n)]
    frame = pd.DataFrame(columns)
    defects = rng.random(n) < 0.01  # ~1%: a required text missing → quarantine
    required = next(
        s["name"]
        for s in schema.fields
        if s.get("constraints", {}).get("required") and s["name"] not in SKIP and s["type"] == "string"
    )
    frame.loc[defects, required] = None
    return frame


def _geometry_field(dataset: str) -> str:
    schema = get_schema(dataset)
    fields = [s for s in schema.fields if s["type"] == "geojson"]
    return next((s["name"] for s in fields if s.get("constraints", {}).get("required")), fields[0]["name"])


def write(folder: Path, wfs_url: str, n: int) -> list[tuple[str, Path, str]]:
    """The catalogue folder for `n` communes; returns the WFS layers to serve (name, GeoJSON path, fid)."""
    from pyproj import Transformer

    to_lambert = Transformer.from_crs("EPSG:4326", "EPSG:31370", always_xy=True)
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    layers = []
    for commune in communes(n):
        rng = np.random.default_rng(int(commune.ins_code))
        datasets = {}
        db = data / f"{commune.ins_code}.sqlite"
        db.unlink(missing_ok=True)
        for dataset in DATASETS:
            frame = table(dataset, commune, rng)
            name = dataset.split("/")[1]
            mapping: dict = {"id": "{ref}", "geometry": {"x": "lon", "y": "lat", "crs": "EPSG:4326"}}
            if commune.kind == "wfs" and dataset in WFS:
                layer = f"c{commune.ins_code}_{name}"
                path = data / f"{layer}.geojson"
                x, y = to_lambert.transform(frame["lon"].to_numpy(), frame["lat"].to_numpy())
                props = frame.drop(columns=["lon", "lat"]).astype(object).where(frame.notna(), None)
                features = [
                    {
                        "type": "Feature",
                        "properties": record,
                        "geometry": {"type": "Point", "coordinates": [round(a, 2), round(b, 2)]},
                    }
                    for record, a, b in zip(props.to_dict("records"), x, y, strict=True)
                ]
                path.write_text(
                    json.dumps(
                        {
                            "type": "FeatureCollection",
                            "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::31370"}},
                            "features": features,
                        }
                    ),
                    encoding="utf-8",
                )
                layers.append((layer, path, "ref"))
                source = {"kind": "wfs", "url": wfs_url, "typename": layer, "srs": "EPSG:31370"}
                mapping = {"id": "{ref}"}
            elif commune.kind == "files" and dataset in XLSX:
                path = data / f"{commune.ins_code}_{name}.xlsx"
                frame.to_excel(path, index=False, sheet_name="data")
                source = {"kind": "spreadsheet", "path": f"data/{path.name}", "sheet": "data"}
            elif commune.kind == "files":
                path = data / f"{commune.ins_code}_{name}.csv"
                frame.to_csv(path, index=False, sep=";", decimal=",")
                source = {"kind": "spreadsheet", "path": f"data/{path.name}"}
            else:
                with sqlite3.connect(db) as con:
                    frame.to_sql(name, con, index=False)
                source = {"kind": "sql", "url": "sqlite:///{base_dir}/data/" + db.name, "table": name}
            datasets[dataset] = {"source": source, "mapping": mapping}
        config = {
            "ins_code": commune.ins_code,
            "name": commune.name,
            "contact": {"name": "Service informatique", "email": "opendata@commune.example.be"},
            "datasets": datasets,
        }
        plain = unicodedata.normalize("NFKD", commune.name).encode("ascii", "ignore").decode().lower()
        slug = "-".join("".join(c if c.isalnum() else " " for c in plain).split())
        (folder / f"{commune.ins_code}-{slug}.yaml").write_text(
            yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )
    return layers
