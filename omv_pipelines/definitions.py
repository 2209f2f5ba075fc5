"""The omv_pipelines code location: `omv_pipelines.definitions:defs`.

The graph (assets, checks, jobs, schedules, sensors) is whatever the modules of the `defs/` folder
declare, read the way `dg`'s defs-folder loader reads a Python file (its `@dg.definitions` functions,
else its module-level Dagster objects), so a module added there, by hand or with `dg scaffold`, is
picked up. Not `dg.load_from_defs_folder` itself: it also scans every installed package for component
types, ≈ 2 s at each load of the code location (each run worker loads it); a test checks that both
loaders see the same graph. The resources that depend on the environment are bound
here: paths, and the ODWB portal with its key through `EnvVar`.
Loading reads only local files (the catalogue, for its schedules); no network, nothing slow.
"""

import importlib
import os
import pkgutil
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition
from dagster.components.definitions import LazyDefinitions

import omv_pipelines.defs
from omv_pipelines import settings
from omv_pipelines.defs.io_manager import ParquetIOManager
from omv_pipelines.defs.resources import CatalogResource, PublisherResource


def resources() -> dg.Definitions:
    config = settings.from_environment()
    # The key is only referenced here; Dagster resolves it at run time and never shows it.
    api_key = dg.EnvVar("ODWB_API_KEY") if os.environ.get("ODWB_API_KEY") else None
    return dg.Definitions(
        resources={
            "io_manager": ParquetIOManager(base_path=str(config.tables_dir)),
            "catalog": CatalogResource(folder=str(config.catalog_dir), state_dir=str(config.state_dir)),
            "publisher": PublisherResource(
                export_dir=str(config.export_dir),
                odwb_url=config.odwb_url,
                odwb_api_key=api_key,
                odwb_license_id=config.odwb_license_id,
                odwb_theme_id=config.odwb_theme_id,
            ),
        },
    )


_KINDS = {
    "asset_checks": (dg.AssetChecksDefinition,),
    "assets": (dg.AssetsDefinition, dg.AssetSpec, dg.SourceAsset),
    "jobs": (dg.JobDefinition, UnresolvedAssetJobDefinition),
    "schedules": (dg.ScheduleDefinition,),
    "sensors": (dg.SensorDefinition,),
}


def _module_objects(module: ModuleType) -> Iterator[object]:
    for value in vars(module).values():
        yield from (value if isinstance(value, list) else [value])


def defs_folder() -> dg.Definitions:
    """Every module of `omv_pipelines.defs`, as the defs-folder loader reads it; an object imported
    into several modules counts once."""
    package = omv_pipelines.defs
    lazy: list[dg.Definitions] = []
    found: dict[str, dict[int, Any]] = {kind: {} for kind in _KINDS}
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        module = importlib.import_module(info.name)
        functions = [value for value in vars(module).values() if isinstance(value, LazyDefinitions)]
        lazy += [definitions() for definitions in functions]
        for value in [] if functions else _module_objects(module):
            kind = next((kind for kind, types in _KINDS.items() if isinstance(value, types)), None)
            if kind:
                found[kind][id(value)] = value
    module_level = dg.Definitions(
        assets=list(found["assets"].values()),
        asset_checks=list(found["asset_checks"].values()),
        jobs=list(found["jobs"].values()),
        schedules=list(found["schedules"].values()),
        sensors=list(found["sensors"].values()),
    )
    return dg.Definitions.merge(module_level, *lazy)


def build_definitions() -> dg.Definitions:
    return dg.Definitions.merge(defs_folder(), resources())


defs = build_definitions()
