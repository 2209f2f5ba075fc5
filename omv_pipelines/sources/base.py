"""What every source returns, and the error every source raises.

A source turns a configuration into a source-shaped table. It knows nothing of schemas or communes:
the caller gives it a `source_id` (used in provenance and in error messages) and a `base_dir` against
which relative paths in the configuration are resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from omv_pipelines.errors import OmvError
from omv_pipelines.secrets import redact

# Provenance columns added to every raw row. They start with an underscore so that they never clash
# with a source column and are easy to drop.
SOURCE_ID = "_source_id"
HARVESTED_AT = "_harvested_at"
SOURCE_ROW = "_source_row"
PROVENANCE_COLUMNS = (SOURCE_ID, HARVESTED_AT, SOURCE_ROW)

# Geometry harvested from a spatial source (WFS, PostGIS) arrives in this column as GeoJSON geometry
# text in WGS84, [lon, lat] order, already reprojected.
GEOMETRY = "geometry"


@dataclass
class Harvest:
    """A harvested table and what the UI should say about how it was obtained."""

    frame: pd.DataFrame
    source_id: str
    location: str  # where the data came from, with any secret removed
    stats: dict[str, Any] = field(default_factory=dict)  # pages, chunks, bytes, duration_s, ...


class SourceError(OmvError, RuntimeError):
    """A source could not be read. The message says what happened and what to do; `retryable` is True
    only for what a later run may not meet again (a server down, a timeout, HTTP 5xx after retries)."""

    def __init__(self, source_id: str, message: str, hint: str | None = None, *, retryable: bool = False):
        self.source_id = source_id
        self.reason = redact(message)  # quoted into stats and other messages: scrubbed like the rest
        super().__init__(message, hint, retryable=retryable, source=source_id)

    @property
    def text(self) -> str:
        return f"source {self.source_id!r}: {super().text}"


def add_provenance(frame: pd.DataFrame, source_id: str, harvested_at: pd.Timestamp, rows) -> pd.DataFrame:
    """Add the provenance columns in place of a per-row loop (vectorised) and return the frame."""
    frame[SOURCE_ID] = source_id
    frame[HARVESTED_AT] = harvested_at
    frame[SOURCE_ROW] = rows
    return frame
