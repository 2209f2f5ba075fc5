"""Build the package's commune boundaries from the Statbel boundary file, once, by hand.

    .venv/bin/python scripts/build_communes.py ../shared/reference/communes
    .venv/bin/python scripts/build_communes.py REFERENCE_DIR --check   # rebuild in memory, compare, no write

Reads `be-communes-2025.geojson` (the 565 Belgian communes of 2025, generalised; Statbel via Opendatasoft
georef-belgium-municipality, attribution required) from the folder given as argument and writes
`omv_pipelines/catalog/data/be_communes_2025.json`, which the project ships and reads at run time
(`omv_pipelines/geography.py`); the reference folder itself is never read at run time.

What is kept: for every commune its REFNIS code, one display name (the package's French name for the
261 Walloon communes, the French name for Brussels, the Dutch name for Flanders), its region and its label
point, and its polygons at the source's own precision (1e-5 degree, about 1 m; nothing is simplified
further, so the tolerance stated in the README covers the source's generalisation only). Each ring is
stored as a Google encoded polyline (precision 5): about 5 bytes per vertex instead of 20 in GeoJSON.
The Walloon communes are all needed (every point is checked against its commune and against Wallonia);
the 304 others are kept whole so that a point outside Wallonia can be named ("lies in Anderlecht,
Brussels-Capital Region") and so that "outside Belgium" means it.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "omv_pipelines" / "catalog" / "data" / "be_communes_2025.json"
WALLOON_CSV = ROOT / "omv_pipelines" / "catalog" / "data" / "walloon_communes.csv"
SOURCE_NAME = "be-communes-2025.geojson"
SOURCE_SHA256 = "48d7e30301ea3bc5b5cf910448ba7694705d8402f8e9acb7f66823d52e755ed4"
REGIONS = {
    "Waals Gewest": "wallonia",
    "Vlaams Gewest": "flanders",
    "Brussels Hoofdstedelijk Gewest": "brussels",
}
EXPECTED = {"wallonia": 261, "flanders": 285, "brussels": 19}

HEADER = {
    "about": "Boundaries of the 565 Belgian communes of 2025 (261 in Wallonia), for checking that a point "
    "lies in its commune and in Wallonia. Generalised boundaries: use with the tolerance stated in the "
    "README.",
    "attribution": "Source: Statbel (FOD Economie / SPF Economie), "
    "via Opendatasoft georef-belgium-municipality (2025)",
    "licence": "Open data Statbel, attribution required "
    "(bronvermelding vereist / mention de la source obligatoire)",
    "source_url": "https://public.opendatasoft.com/explore/dataset/georef-belgium-municipality/",
    "built_by": "scripts/build_communes.py from " + SOURCE_NAME + " (sha256 " + SOURCE_SHA256 + ")",
    "format": "communes[]: id (REFNIS code), name (display name), region (wallonia, flanders, brussels), "
    "label ([lon, lat] label point), polygons (list of polygons, each a list of rings, exterior first; "
    "each ring a Google encoded polyline, precision 5, lat/lon pairs as that algorithm defines them).",
}


def encode_ring(ring: list[list[float]]) -> str:
    """Google's encoded polyline of one ring of [lon, lat] vertices (integers of 1e-5 degree, deltas)."""
    out = []
    previous = (0, 0)
    for lon, lat in ring:
        point = (round(lat * 1e5), round(lon * 1e5))
        for value, before in zip(point, previous, strict=True):
            delta = value - before
            delta = ~(delta << 1) if delta < 0 else delta << 1
            while delta >= 0x20:
                out.append(chr((0x20 | (delta & 0x1F)) + 63))
                delta >>= 5
            out.append(chr(delta + 63))
        previous = point
    return "".join(out)


def build(reference: Path) -> dict:
    path = reference / SOURCE_NAME
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SOURCE_SHA256:
        sys.exit(f"{path}: sha256 {digest}, expected {SOURCE_SHA256} (see the reference's SOURCES.md)")
    source = json.loads(raw)
    with WALLOON_CSV.open(encoding="utf-8") as handle:
        walloon = {
            row["ins_code"]: row["name_fr"] for row in csv.DictReader(handle) if not row["valid_until"]
        }
    communes = []
    for feature in sorted(source["features"], key=lambda f: f["properties"]["id"]):
        props, geometry = feature["properties"], feature["geometry"]
        region = REGIONS[props["groups"][0]]
        names = props["names"]
        if region == "wallonia":
            name = walloon[props["id"]]  # the package's spelling, as in every other message
        else:
            name = names["nl"] if region == "flanders" else names["fr"]
        polygons = (
            geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
        )
        communes.append(
            {
                "id": props["id"],
                "name": name,
                "region": region,
                "label": props["c"],
                "polygons": [[encode_ring(ring) for ring in polygon] for polygon in polygons],
            }
        )
    counts = {r: sum(c["region"] == r for c in communes) for r in EXPECTED}
    if counts != EXPECTED:
        sys.exit(f"unexpected commune counts {counts}, expected {EXPECTED}")
    missing = set(walloon) - {c["id"] for c in communes if c["region"] == "wallonia"}
    if missing:
        sys.exit(f"Walloon communes of the package without a boundary: {sorted(missing)}")
    return HEADER | {"communes": communes}


def render(data: dict) -> str:
    # One commune per line: small diffs when the source changes, still one JSON document.
    head = json.dumps({k: v for k, v in data.items() if k != "communes"}, ensure_ascii=False, indent=1)[:-2]
    lines = [json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in data["communes"]]
    return head + ',\n "communes": [\n' + ",\n".join(lines) + "\n ]\n}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "reference",
        type=Path,
        help="folder holding be-communes-2025.geojson (e.g. ../shared/reference/communes)",
    )
    parser.add_argument(
        "--check", action="store_true", help="compare with the committed file instead of writing it"
    )
    args = parser.parse_args()
    text = render(build(args.reference))
    json.loads(text)  # still valid JSON
    if args.check:
        same = TARGET.exists() and TARGET.read_text(encoding="utf-8") == text
        print(f"{TARGET.relative_to(ROOT)} is {'up to date' if same else 'OUT OF DATE: run without --check'}")
        sys.exit(0 if same else 1)
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}: {len(text.encode()):,} bytes")


if __name__ == "__main__":
    main()
