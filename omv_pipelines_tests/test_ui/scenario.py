"""A failing morning, run in process on a persistent Dagster instance, for the UI test to look at.

Night 1: Namur, Liège and Mons (the demo catalogue) publish; the regional rebuild and the scorecard.
Night 2:
- Namur's defibrillator source shrinks (12 rows → 2): its publication is refused (blocked);
- Gembloux joins with a typo in its mapping (`nomm` for `nom`): its run fails;
- Mons's WFS is unreachable: its run fails;
- Liège does not run (its own schedule has not come yet) and its `freshness_hours` is short: late;
then the regional rebuild and the scorecard.
"""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import yaml

from omv_pipelines.catalog.loader import DEMO_CATALOG, load_catalog

DEFIBRILLATORS = "resilience/defibrillateurs"
GEMBLOUX = """\
ins_code: "92142"
name: Gembloux
contact: {name: Service informatique, email: opendata@gembloux.be}
datasets:
  resilience/defibrillateurs:
    source:
      kind: sql
      url: "sqlite:///{base_dir}/data/namur_dae.sqlite"
      table: dae
    mapping:
      id: "G{numero}"
      columns: {name: nomm, street_name: rue}
      constants: {provider: Ville de Gembloux}
      geometry: {x: lambert_x, y: lambert_y, crs: "EPSG:31370"}
"""


@dataclass
class Morning:
    home: Path
    instance_yaml: Path
    catalog_dir: Path
    data_dir: Path
    env: dict[str, str]
    runs: dict[str, str]  # what → run id


def _edit(path: Path, edit) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def build(base: Path, wfs_url: str) -> Morning:
    from omv_pipelines.definitions import build_definitions
    from omv_pipelines.defs.local import run_commune, run_regional

    home, catalog_dir, data_dir = base / "dagster_home", base / "catalog", base / "data"
    home.mkdir(parents=True)
    instance_yaml = base / "instance.yaml"  # what DagsterProcesses copies into the home for the webserver
    instance_yaml.write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    shutil.copy(instance_yaml, home / "dagster.yaml")
    shutil.copytree(DEMO_CATALOG, catalog_dir)
    env = {"OMV_CATALOG": str(catalog_dir), "OMV_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(home)}
    saved = {name: os.environ.get(name) for name in [*env, "OMV_DEMO_WFS_URL", "ODWB_URL", "ODWB_API_KEY"]}
    os.environ.update(env)
    os.environ.pop("ODWB_URL", None)
    os.environ.pop("ODWB_API_KEY", None)
    os.environ["OMV_DEMO_WFS_URL"] = wfs_url
    runs: dict[str, str] = {}
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            defs = build_definitions()
            catalog = load_catalog(catalog_dir)
            for code in ("92094", "62063", "53053"):
                result = run_commune(defs, instance, catalog.get(code).config, tags={"omv/reason": "night 1"})
                assert result.success, code
            assert run_regional(defs, instance, sorted(_provided(catalog)), scorecard=True).success

            # Night 2.
            def shrink(data):
                source = data["datasets"][DEFIBRILLATORS]["source"]
                source.pop("table", None)
                source["query"] = "SELECT * FROM dae WHERE numero <= 102"

            _edit(catalog_dir / "92094-namur.yaml", shrink)
            _edit(catalog_dir / "62063-liege.yaml", lambda d: d.update(freshness_hours=0.001))

            def unreachable(data):
                for dataset in data["datasets"].values():
                    if dataset["source"]["kind"] == "wfs":
                        dataset["source"].update(timeout_s=2, retries=0)

            _edit(catalog_dir / "53053-mons.yaml", unreachable)
            (catalog_dir / "92142-gembloux.yaml").write_text(GEMBLOUX, encoding="utf-8")
            os.environ["OMV_DEMO_WFS_URL"] = "http://127.0.0.1:9/wfs"  # discard port: nothing listens
            defs = build_definitions()
            catalog = load_catalog(catalog_dir)
            for code, what in (("92094", "namur"), ("92142", "gembloux"), ("53053", "mons")):
                result = run_commune(defs, instance, catalog.get(code).config, tags={"omv/reason": "night 2"})
                assert not result.success, code
                runs[what] = result.run_id
            regional = run_regional(defs, instance, sorted(_provided(catalog)), scorecard=True)
            assert regional.success
            runs["regional"] = regional.run_id
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    env["OMV_DEMO_WFS_URL"] = "http://127.0.0.1:9/wfs"
    return Morning(home, instance_yaml, catalog_dir, data_dir, env, runs)


def _provided(catalog) -> set[str]:
    return {key for entry in catalog.active.values() for key in entry.config.datasets}
