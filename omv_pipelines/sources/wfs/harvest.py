"""One WFS harvest, from the configuration to the table: negotiate, choose, page, type, report."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pandas as pd

from omv_pipelines.sources.base import GEOMETRY, Harvest, SourceError, add_provenance
from omv_pipelines.sources.wfs.capabilities import (
    choose_formats,
    find_type,
    format_kind,
    read_capabilities,
    request_srs,
)
from omv_pipelines.sources.wfs.client import Client, Refused
from omv_pipelines.sources.wfs.config import WfsSource
from omv_pipelines.sources.wfs.geometry import NON_FINITE, wallonia_envelope
from omv_pipelines.sources.wfs.paging import Pager, getfeature_params
from omv_pipelines.sources.wfs.schema import apply_types, describe_types

log = logging.getLogger(__name__)


def _service_url(config: WfsSource, source_id: str) -> str:
    if config.url_env:
        value = os.environ.get(config.url_env)
        if value:
            return value
        if not config.url:
            raise SourceError(
                source_id,
                f"environment variable {config.url_env} (the WFS URL) is not set",
                f"set {config.url_env} and retry",
            )
        log.info("%s: %s is not set, using url from the catalogue", source_id, config.url_env)
    return config.url or ""


def harvest_wfs(
    config: WfsSource,
    *,
    source_id: str,
    base_dir: Path | None = None,
    state_dir: Path | None = None,
    full_refresh: bool = False,
) -> Harvest:
    """All features of `config.typename`, one row each, properties as columns, geometry as WGS84 GeoJSON.

    `base_dir`, `state_dir` and `full_refresh` are accepted for the common source signature: a WFS has
    no local paths and is always read whole.
    """
    started = time.monotonic()
    harvested_at = pd.Timestamp.now(tz="UTC")
    client = Client(config, source_id, _service_url(config, source_id))
    caps = read_capabilities(client, config.version)
    version = caps.version
    ftype = find_type(caps, config.typename, source_id, client.safe)
    formats = choose_formats(ftype.formats or caps.formats, config.output_format, source_id)
    srs = request_srs(ftype, config.srs, version)
    # GeoJSON first needs feature ids: from feature_id, or from the features themselves (asked).
    stats: dict[str, Any] = {"version": version, "typename": ftype.name, "srs": srs}
    probe = len(formats) > 1 and format_kind(formats[0] or "") == "geojson" and not config.feature_id
    if probe and not _geojson_has_ids(client, getfeature_params(version, ftype.name, formats[0], srs), stats):
        log.info("%s: no usable GeoJSON (%s), harvesting as GML instead", source_id, stats["geojson_skipped"])
        formats = formats[1:]
    cap = caps.count_default
    # GML carries only text: its numbers and booleans are typed from the feature type's schema.
    is_gml = formats[0] is None or format_kind(formats[0]) != "geojson"
    types = describe_types(client, version, ftype.name) if is_gml else None
    sort_by = (config.sort_by or config.feature_id) if caps.sorting and version == "2.0.0" else None
    if config.sort_by and not sort_by:
        log.warning("%s: the WFS does not implement sorting (WFS 2.0): paging in its own order", source_id)
    pager = Pager(client, config, version, ftype.name, formats[0], srs, cap, sort_by, stats)
    frames, ids, outside = pager.run()
    empty = pd.DataFrame({GEOMETRY: pd.Series([], dtype=object)})
    frame = pd.concat(frames, ignore_index=True) if frames else empty
    if is_gml:
        stats["typed_from_schema"] = types is not None
        untyped = apply_types(frame, types or {}, source_id)
        if untyped:
            stats["untyped_columns"] = untyped
    if outside:
        lon_min, lat_min, lon_max, lat_max = wallonia_envelope()
        log.warning(
            "%s: %d of %d features have coordinates outside Wallonia (lon %.2f..%.2f, lat %.2f..%.2f) "
            "after reprojection",
            source_id,
            outside,
            len(frame),
            lon_min,
            lon_max,
            lat_min,
            lat_max,
        )
    if stats.get("non_finite_geometries"):
        log.warning(
            "%s: %d geometries have coordinates that are not finite numbers: marked %r",
            source_id,
            stats["non_finite_geometries"],
            NON_FINITE,
        )
    stats.update(
        features=len(frame),
        bytes=client.bytes,
        outside_wallonia=outside,
        duration_s=round(time.monotonic() - started, 3),
    )
    add_provenance(frame, source_id, harvested_at, ids)
    getfeature = getfeature_params(version, ftype.name, None, None)
    location = client.safe + ("&" if "?" in client.safe else "?") + urlencode(getfeature, safe=":")
    return Harvest(frame=frame, source_id=source_id, location=location, stats=stats)


def _geojson_has_ids(client: Client, params: dict[str, Any], stats: dict[str, Any]) -> bool:
    """Ask for one feature: do this server's GeoJSON features carry ids (GeoServer's do, MapServer's do
    not)? Without ids paging cannot be checked, and GML, which always has them, is the better choice.
    One feature rather than a first page thrown away. A refusal (ArcGIS advertises GEOJSON that some
    layers refuse) also means GML; `stats["geojson_skipped"]` says why GeoJSON was not used."""
    one = dict(params, STARTINDEX=0)
    one["COUNT" if params["VERSION"] == "2.0.0" else "MAXFEATURES"] = 1
    typename = params.get("TYPENAMES") or params.get("TYPENAME")
    try:
        content = client.get(one, f"GetFeature {typename}, one feature")
    except Refused as refused:
        stats["geojson_skipped"] = f"refused: {refused.reason}"
        return False
    try:
        features = json.loads(content).get("features") or []
    except (ValueError, AttributeError):
        stats["geojson_skipped"] = "the answer was not GeoJSON"
        return False
    if features and features[0].get("id") is None:
        stats["geojson_skipped"] = "its features carry no ids"
        return False
    return True
