"""The production instance config (deploy/dagster.production.yaml) with the demo, on the real PostgreSQL."""

import gc
import shutil
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest

from omv_pipelines.catalog.loader import load_catalog
from omv_pipelines.defs.freshness import late_communes
from omv_pipelines.defs.keys import DatasetKeys
from omv_pipelines.defs.local import run_commune, run_regional
from omv_pipelines.defs.sensors import regional_rebuild_sensor
from omv_pipelines_tests.test_ops.helpers import demo_catalog

REPO = Path(__file__).parents[2]
SERVER = "postgresql://postgres@127.0.0.1:5432"
# What dagster-postgres needs (deploy/dagster.production.yaml).
DRIVER = "postgresql+psycopg2://postgres@127.0.0.1:5432"


@pytest.fixture
def postgres_database():
    """A fresh database for one test, dropped afterwards (even with connections left open)."""
    psycopg = pytest.importorskip("psycopg")
    name = f"omv_dagster_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(f"{SERVER}/postgres", autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable on 127.0.0.1:5432 ({exc}); scripts/services.sh starts it")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield name
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.integration
def test_demo_runs_with_postgres_storage(postgres_database, demo_wfs, tmp_path, monkeypatch):
    import psycopg

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.production.yaml", home / "dagster.yaml")
    catalog_dir = demo_catalog(tmp_path / "catalog", ["92094", "62063"])
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_PG_URL", f"{DRIVER}/{postgres_database}")
    monkeypatch.setenv("OMV_CATALOG", str(catalog_dir))
    monkeypatch.setenv("OMV_DATA_DIR", str(tmp_path / "data"))
    for name in ("ODWB_URL", "ODWB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    from omv_pipelines.definitions import build_definitions

    catalog = load_catalog(catalog_dir)
    # An instance left undisposed by an earlier test resets Dagster's current defs-state storage when the
    # garbage collector finally disposes it, possibly in the middle of this test: collect it first.
    gc.collect()
    # As a context manager the instance is also the one Dagster consults while resolving definitions.
    with dg.DagsterInstance.from_config(str(home)) as instance:
        defs = build_definitions()
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        results = {code: run_commune(defs, instance, catalog.get(code).config) for code in ("92094", "62063")}
        assert all(r.success for r in results.values()), results
        request = regional_rebuild_sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(request, dg.RunRequest)
        assert run_regional(defs, instance, ["resilience/defibrillateurs"]).success

        publication = DatasetKeys.of("resilience/defibrillateurs").odwb
        assert instance.get_materialized_partitions(publication) == {"92094-namur", "62063-liege"}
        assert late_communes(instance, catalog, "resilience/defibrillateurs", time.time()) == {}
        assert (tmp_path / "data" / "export" / "wallonie-defibrillateurs.csv").is_file()
    with psycopg.connect(
        f"{SERVER}/{postgres_database}"
    ) as conn:  # the history is in PostgreSQL, not in DAGSTER_HOME
        runs = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
        materialisations = conn.execute(
            "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
        ).fetchone()[0]
    assert runs == 3 and materialisations > 0
    assert not list(home.glob("*.db")) and not (home / "history").exists()
