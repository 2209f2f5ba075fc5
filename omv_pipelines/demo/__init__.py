"""The bundled demo: a catalogue of real Walloon communes with invented data, and its local WFS."""

from __future__ import annotations

import json
import re
from pathlib import Path

DEMO_DIR = Path(__file__).parent
WFS_DATA = DEMO_DIR / "catalog" / "data" / "wfs"
# Demo catalogue files read the WFS URL from this variable; `omv demo` and the tests set it.
DEMO_WFS_ENV = "OMV_DEMO_WFS_URL"


def demo_wfs_layers() -> list:
    """Every GeoJSON file in data/wfs/ is a layer named after the file, ids in its `ident` property."""
    from omv_pipelines.demo.mapserver import WfsLayer

    layers = []
    for path in sorted(WFS_DATA.glob("*.geojson")):
        crs = (
            json.loads(path.read_text(encoding="utf-8"))
            .get("crs", {})
            .get("properties", {})
            .get("name", "EPSG:4326")
        )
        number = re.search(r"(\d+)$", crs)
        epsg = int(number.group(1)) if number else 4326
        layers.append(WfsLayer(name=path.stem, path=path, epsg=epsg, feature_id="ident"))
    return layers
