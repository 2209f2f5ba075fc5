"""Non-secret settings from the environment, with the defaults a newcomer needs (the bundled demo).

OMV_CATALOG   folder of commune YAML files (default: the bundled demo catalogue)
OMV_DATA_DIR  where tables (Parquet) and exports go (default: ./data); any fsspec URL for tables
ODWB_URL      portal base URL, e.g. https://www.odwb.be (publication goes to ODWB only with a key)
ODWB_API_KEY  secret; read only through dagster.EnvVar, never here
ODWB_LICENSE_ID, ODWB_THEME_ID  the portal's ids of the licence and theme to set on datasets
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from omv_pipelines.catalog.loader import DEMO_CATALOG


@dataclass(frozen=True)
class Settings:
    catalog_dir: Path
    data_dir: Path
    odwb_url: str | None
    odwb_license_id: str | None = None
    odwb_theme_id: str | None = None

    @property
    def tables_dir(self) -> Path:
        return self.data_dir / "tables"

    @property
    def export_dir(self) -> Path:
        return self.data_dir / "export"

    @property
    def state_dir(self) -> Path:
        """What sources remember between runs (incremental SQL tables, downloaded spreadsheets)."""
        return self.data_dir / "state"


def from_environment(environment: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environment is None else environment
    return Settings(
        catalog_dir=Path(env.get("OMV_CATALOG") or DEMO_CATALOG).resolve(),
        data_dir=Path(env.get("OMV_DATA_DIR") or "data").resolve(),
        odwb_url=(env.get("ODWB_URL") or "").rstrip("/") or None,
        odwb_license_id=env.get("ODWB_LICENSE_ID") or None,
        odwb_theme_id=env.get("ODWB_THEME_ID") or None,
    )
