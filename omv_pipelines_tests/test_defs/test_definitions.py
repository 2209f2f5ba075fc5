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
            "ins_code_is_partition",
            "unique_ids",
            "no_unexplained_row_drop",
        } <= checks
    table = graph.get(DatasetKeys.of("resilience/defibrillateurs").table)
    assert table.partitions_def == dg.DynamicPartitionsDefinition(name="communes")
    assert "resilience" == table.group_name
    assert graph.get(DatasetKeys.of("resilience/defibrillateurs").regional).partitions_def is None


def test_schedules_and_sensor_are_declared():
    from omv_pipelines.definitions import defs

    schedules = {s.name: s for s in defs.schedules}
    assert schedules["nightly_commune_sync"].execution_timezone == "Europe/Brussels"
    assert schedules["nightly_commune_sync"].cron_schedule == "0 2 * * *"
    assert "commune_sync_30_2_x_x_x" in schedules  # Liège's override in the demo catalogue
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
