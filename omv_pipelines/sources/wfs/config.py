"""What a WFS source says in the catalogue: the service, the feature type, and how to ask for it.

Only pydantic here, so that the catalogue loads without lxml or pyproj; harvesting is in `harvest`.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from omv_pipelines.secrets import SECRET_PARAM, has_credentials

VERSIONS = ("2.0.0", "1.1.0", "1.0.0")


class WfsSource(BaseModel):
    """One feature type (layer) of a WFS server."""

    # hide_input_in_errors: a refused url must not be echoed, credentials and all, in the validation error.
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, hide_input_in_errors=True)

    kind: Literal["wfs"] = "wfs"
    """Source type discriminator."""
    url: str | None = None
    """Service URL, e.g. https://geoservices.wallonie.be/geoserver/ows (query parameters the server
    needs, like map=..., may be included; SERVICE/REQUEST/VERSION are added by the harvester)."""
    url_env: str | None = None
    """Name of an environment variable holding the service URL; when that variable is set it takes
    precedence over `url`."""
    typename: str
    """Feature type to harvest, as listed in the capabilities, e.g. 'ms:defibrillateurs' (the prefix
    may be left out when the name is unique)."""
    version: str | None = None
    """WFS version to speak ('2.0.0', '1.1.0' or '1.0.0'); empty = negotiate, newest first."""
    srs: str | None = None
    """CRS to request the geometry in, e.g. 'EPSG:31370'; empty = the layer's default CRS. Prefer the
    native projected CRS: the harvester reprojects to WGS84 itself."""
    output_format: str | None = None
    """GetFeature output format, one of the tokens the server advertises (case-insensitive); empty =
    GeoJSON when offered (and its features carry ids), else GML 3.2, 3.1, 2."""
    page_size: int = Field(1000, gt=0)
    """Features asked per GetFeature request (a smaller server cap is detected and followed)."""
    max_features: int | None = Field(None, gt=0)
    """Stop after this many features (for trials); empty = all."""
    sort_by: str | None = None
    """Attribute to page in the order of (SORTBY), when the server implements sorting (WFS 2.0): makes
    paging deterministic. Give a unique attribute such as OBJECTID; empty = feature_id, if given."""
    feature_id: str | None = None
    """Attribute identifying a feature, used as its row id when the output format carries no feature id
    (MapServer's GeoJSON), so that GeoJSON can be used and paging checked there."""
    username_env: str | None = None
    """Name of the environment variable holding the HTTP Basic user name, if the service needs one."""
    password_env: str | None = None
    """Name of the environment variable holding the HTTP Basic password."""
    timeout_s: float = Field(60, gt=0)
    """Seconds to wait for the server to connect and to answer each request."""
    retries: int = Field(3, ge=0)
    """Retries (with growing pauses) after a connection error, HTTP 429 or 5xx."""

    @model_validator(mode="after")
    def _check(self) -> WfsSource:
        if not self.url and not self.url_env:
            raise ValueError("give url (the WFS service URL) or url_env (an environment variable holding it)")
        if self.url:
            parts = urlsplit(self.url)
            if parts.scheme.lower() not in ("http", "https"):
                scheme = f"{parts.scheme}://" if parts.scheme else "no scheme"
                raise ValueError(f"url must start with http:// or https:// (not {scheme})")
            if has_credentials(self.url):
                raise ValueError(
                    "the url contains a user name or password: never write secrets in the catalogue; use "
                    "username_env and password_env (HTTP Basic) or put the URL in an environment variable "
                    "named by url_env"
                )
            query = parse_qsl(parts.query, keep_blank_values=True)
            names = sorted({k for k, _ in query if SECRET_PARAM.search(k)})
            if names:
                raise ValueError(
                    f"the url has secret-looking query parameter(s) {', '.join(names)}: never write secrets "
                    "in the catalogue; put the URL in an environment variable named by url_env"
                )
        if self.version is not None and self.version not in VERSIONS:
            raise ValueError(f"version must be one of {', '.join(VERSIONS)} (or empty to negotiate)")
        if bool(self.username_env) != bool(self.password_env):
            raise ValueError("give both username_env and password_env, or neither")
        return self
