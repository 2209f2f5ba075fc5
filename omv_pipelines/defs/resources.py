"""Resources: where the catalogue is, and where publication goes (ODWB or the export folder).

Secrets come only through `EnvVar` (see definitions.py); nothing here reads the environment.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from omv_pipelines import secrets
from omv_pipelines.catalog.loader import Catalog, CatalogEntry, find_entry, load_catalog
from omv_pipelines.publish.targets import ExportTarget, OdwbTarget, Target


class CatalogResource(dg.ConfigurableResource):
    """The commune catalogue folder, read afresh at each call so that edits apply without a reload.

    Reading is cheap: the loader re-parses a file only when its content changed, and `entry` reads only
    the commune's own file when the '<ins_code>-<slug>.yaml' naming allows (see `loader.find_entry`).
    """

    folder: str
    state_dir: str | None = None  # what sources remember between runs; None: every run reads everything

    def load(self) -> Catalog:
        return load_catalog(Path(self.folder))

    def entry(self, ins_code: str) -> CatalogEntry:
        return find_entry(Path(self.folder), ins_code)


class PublisherResource(dg.ConfigurableResource):
    """ODWB when both a portal URL and an API key are set; otherwise the export folder.

    Assets publish only through `target()`: the `publish/targets.py` interface, free of Dagster, that any
    other caller (a script, the CLI) uses the same way.
    """

    export_dir: str
    odwb_url: str | None = None
    odwb_api_key: str | None = None
    odwb_license_id: str | None = None  # per-portal opaque id of the licence (e.g. of CC BY 4.0)
    odwb_theme_id: str | None = None  # per-portal opaque id of the theme
    odwb_max_wait_s: float = 600  # how long to wait for ODWB to process a publication

    @property
    def uses_odwb(self) -> bool:
        return bool(self.odwb_url and self.odwb_api_key)

    def target(self) -> Target:
        if not (self.odwb_url and self.odwb_api_key):
            return ExportTarget(Path(self.export_dir))
        secrets.register(self.odwb_api_key)  # resolved from its EnvVar here: masked in every text from now on
        return OdwbTarget(
            self.odwb_url,
            self.odwb_api_key,
            license_id=self.odwb_license_id,
            theme_id=self.odwb_theme_id,
            max_wait_s=self.odwb_max_wait_s,
        )
