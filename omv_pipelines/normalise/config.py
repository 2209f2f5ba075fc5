"""The column mapping a commune writes in its catalogue, as a pydantic model.

The mapping says how a source-shaped table becomes a dataset of the shared schema. Everything has a
sensible default, so that a spreadsheet filled in from the standard's own template needs no mapping.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class GeometryMapping(BaseModel):
    """Where the geometry of a row comes from. Give one of: x/y, wkt, geojson.

    With none given, a `geometry` column (from a WFS or PostGIS source) or a column named like the
    schema's geometry field is used.
    """

    model_config = ConfigDict(extra="forbid")

    x: str | None = Field(None, description="Column holding the easting or longitude.")
    y: str | None = Field(None, description="Column holding the northing or latitude.")
    wkt: str | None = Field(None, description="Column holding a WKT geometry, e.g. 'POINT (185000 128000)'.")
    geojson: str | None = Field(None, description="Column holding a GeoJSON geometry (or Feature) as text.")
    crs: str = Field(
        "EPSG:4326",
        description="CRS of x/y or WKT, e.g. 'EPSG:31370' (Lambert 72) or 'EPSG:3812' (Lambert 2008). "
        "Coordinates are always published in WGS84, [lon, lat].",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> GeometryMapping:
        kinds = [k for k in ("wkt", "geojson") if getattr(self, k)] + (["x/y"] if self.x or self.y else [])
        if len(kinds) > 1:
            raise ValueError(f"give only one of x/y, wkt, geojson (got {', '.join(kinds)})")
        if bool(self.x) != bool(self.y):
            raise ValueError("x and y go together: give both column names")
        return self


class Mapping(BaseModel):
    """How the source's columns become the schema's fields."""

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Schema field → source column. Source columns already named like a schema field "
        "(ignoring case and accents) are taken without being listed.",
    )
    constants: dict[str, Any] = Field(
        default_factory=dict,
        description="Schema field → a value used for every row, e.g. provider: Ville de Namur.",
    )
    values: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Schema field → {source value: published value}, applied before typing, e.g. "
        "accessibility: {'Accès libre': Public}.",
    )
    formats: dict[str, list[str] | str] = Field(
        default_factory=dict,
        description="Date or datetime field → its source format(s) in strftime syntax, e.g. '%d/%m/%Y', or "
        "'excel' for Excel day serials. Unlisted date fields accept ISO, dd/mm/yyyy and Excel serials.",
    )
    id: str | None = Field(
        None,
        description="Template of the local number, with source columns in braces, e.g. '{numero}'. The "
        "published id is '<ins_code>-<local number>'. "
        "Default: the source's 'id' column, else the row number.",
    )
    geometry: GeometryMapping | None = Field(None, description="Where the coordinates come from.")
