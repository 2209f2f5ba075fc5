"""The code location loads fast, offline, and passes Dagster's own validation."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg

from omv_pipelines.defs.keys import DatasetKeys
from omv_pipelines.schemas import DATASETS

REPO = Path(__file__).parents[2]


def test_every_dataset_has_its_five_assets_and_checks():
    from omv_pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    all_keys = graph.get_all_asset_keys()
    for dataset_key in DATASETS:
        for key in (*DatasetKeys.of(dataset_key).commune_keys, DatasetKeys.of(dataset_key).regional):
            assert key in all_keys, key
        checks = {c.name for c in graph.asset_check_keys if c.asset_key == DatasetKeys.of(dataset_key).table}
        assert {
            "schema_conformance",
            "coordinates_in_wallonia",
            "no_rejected_rows",
            "no_unexplained_row_drop",
        } <= checks
    table = graph.get(DatasetKeys.of("resilience/defibrillateurs").table)
    assert table.partitions_def == dg.DynamicPartitionsDefinition(name="communes")
    assert "resilience" == table.group_name
    assert graph.get(DatasetKeys.of("resilience/defibrillateurs").regional).partitions_def is None


def test_nodes_read_apart_have_owners_and_descriptions_and_checks_are_per_commune():
    from omv_pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    last = [key.path[-1] for key in graph.get_all_asset_keys()]
    assert len(last) == len(set(last)), "two asset nodes would show the same name in the graph"
    keys = DatasetKeys.of("resilience/defibrillateurs")
    assert [k.path[-1] for k in (*keys.commune_keys, keys.regional)] == [
        "defibrillateurs_raw",
        "defibrillateurs",
        "defibrillateurs_quarantine",
        "defibrillateurs_publication",
        "defibrillateurs_regional",
    ]
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert "team:ouvrir-ma-ville" in node.owners, key
        assert node.description, key
    for check_key in graph.asset_check_keys:
        spec = graph.get_check_spec(check_key)
        asset = graph.get(check_key.asset_key)
        if asset.partitions_def is not None:
            assert spec.partitions_def == asset.partitions_def, check_key
        assert not spec.blocking, f"{check_key}: a blocked publication fails in the project's words"


def test_a_ui_launch_of_a_commune_carries_the_scheduled_runs_tags(monkeypatch):
    from omv_pipelines.catalog.loader import DEMO_CATALOG, load_catalog
    from omv_pipelines.definitions import defs
    from omv_pipelines.defs.jobs import commune_run_request, commune_tags

    monkeypatch.setenv("OMV_CATALOG", str(DEMO_CATALOG))
    monkeypatch.setenv("OMV_DEMO_WFS_URL", "http://wfs.mons.example/ows")
    job = defs.resolve_job_def("commune_sync")
    mons = load_catalog(DEMO_CATALOG).get("53053").config
    launched = job.partitioned_config.get_tags_for_partition_key("53053-mons")
    scheduled = commune_run_request(mons, reason="schedule")
    assert scheduled.partition_key == "53053-mons"
    for name, value in commune_tags(mons).items():
        assert launched[name] == scheduled.tags[name] == value
    assert launched["omv/commune_name"] == "Mons" and launched["omv/wfs_host"] == "wfs.mons.example"
    assert scheduled.asset_selection is None  # the whole job: every dataset, 'not provided' ones empty


def test_schedules_and_sensor_are_declared():
    from omv_pipelines.definitions import defs

    schedules = {s.name: s for s in defs.schedules}
    assert schedules["nightly_commune_sync"].execution_timezone == "Europe/Brussels"
    assert schedules["nightly_commune_sync"].cron_schedule == "0 2 * * *"
    assert "commune_sync_0230" in schedules  # Liège's override in the demo catalogue
    assert "Liège" in schedules["commune_sync_0230"].description  # whom it serves
    assert "Mons, Namur" in schedules["nightly_commune_sync"].description
    assert not any(
        "regional" in name for name in schedules
    )  # the regional rebuild follows the communes (a sensor)
    assert {s.name for s in defs.sensors} >= {
        "commune_catalog_sensor",
        "regional_after_communes",
        "commune_freshness_sensor",
    }


def test_dagster_definitions_validate():
    dagster = shutil.which("dagster", path=os.path.dirname(sys.executable)) or "dagster"
    result = subprocess.run(
        [dagster, "definitions", "validate", "-m", "omv_pipelines.definitions"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_loading_makes_no_network_call_and_is_not_grossly_slow(tmp_path):
    """Guard, not a benchmark: any socket use fails the load; the time bound is generous on purpose."""
    script = textwrap.dedent(
        """
        import json, socket, sys, time
        def refuse(*args, **kwargs):
            raise AssertionError(f"network call while loading definitions: {args!r}")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        started = time.perf_counter()
        import dagster, pandas
        baseline = time.perf_counter()
        from omv_pipelines.definitions import defs
        defs.resolve_asset_graph()
        heavy = ("owslib", "pyproj", "sqlalchemy", "openpyxl", "requests", "odf")
        print(json.dumps({
            "dagster_and_pandas_s": baseline - started,
            "ours_s": time.perf_counter() - baseline,
            "heavy": sorted(m for m in heavy if m in sys.modules),
        }))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    timing = json.loads(result.stdout.strip().splitlines()[-1])
    assert timing["heavy"] == [], f"heavy libraries imported at load: {timing['heavy']}"
    assert timing["ours_s"] < 5.0, timing
