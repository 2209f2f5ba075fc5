"""The `wfs` source kind: harvest one feature type from an OGC Web Feature Service (WFS 2.0, 1.1 or 1.0).

Plain HTTP (requests) rather than OWSLib: OWSLib sends GetFeature to the host named in the
capabilities (often an internal name), crashes on version mismatches and drops `startindex=0`.
Here every request goes to the URL the catalogue gives, and:

- the version is negotiated (2.0.0 → 1.1.0 → 1.0.0) unless pinned;
- features are paged with COUNT/MAXFEATURES + STARTINDEX; when the server states a total (numberMatched,
  RESULTTYPE=hits) exactly that many must come (a short page is asked again once, then the harvest
  fails), else paging ends at an empty page or one below the cap; a server cap that is not declared is
  detected from the first page, and a feature id seen twice stops the harvest (paging that is not
  stable would silently lose rows);
- the next page is asked for while the current one is read (still one request at a time);
- the output format is picked from the advertised list: GeoJSON when offered and its features carry
  ids (asked with a one-feature request: MapServer's carry none) or `feature_id` names the attribute
  that identifies them, else GML 3.2/3.1/2 (also when the GeoJSON probe is refused);
- pages are asked in a stable order (SORTBY `sort_by`, else `feature_id`) when the server sorts;
- geometry is requested in the layer's native CRS and reprojected here with pyproj to WGS84
  [lon, lat] GeoJSON text (servers disagree on axis order for EPSG:4326; projected Belgian CRSs are
  unambiguous). Axis order: WFS 1.1/2.0 GML follows the CRS definition (lat,lon for EPSG:4326),
  WFS 1.0 GML and GeoJSON are x,y.

GML values arrive as text. No type is guessed ("0123" stays "0123"): numbers and booleans are cast as
the feature type's DescribeFeatureType declares them (ArcGIS writes a double as "1100.00000000"); dates
and date-times stay ISO text, since servers mix dates, zones and precisions and the standard being

Modules: `config` (the catalogue's WfsSource, pydantic only), `client` (HTTP and OGC exception reports),
`capabilities` (version, feature type, output format and CRS negotiation), `schema` (attribute types
from DescribeFeatureType), `geometry` (reprojection to WGS84 GeoJSON), `parsing` (GML and GeoJSON
pages), `paging` (the pager), `harvest` (the whole harvest).
"""

from omv_pipelines.sources.wfs.config import WfsSource

__all__ = ["WfsSource"]
