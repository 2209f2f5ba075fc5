"""Fixtures shared across the test packages: the demo WFS and an isolated pipeline setup.

Tests skip, saying why, when a server or reference they need is missing on a user's machine. In CI
(`CI` set, as `.ci/run` runs) a skip proves nothing, so it fails instead: CI must provide everything.
"""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from omv_pipelines.catalog.loader import DEMO_CATALOG
from omv_pipelines_tests.support.loopback import App, Loopback, Routes, loopback_server


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where everything must be provided: {reason}"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The official references folder (FuturoCité schemas, Opendatasoft specs), never read at run time."""
    value = os.environ.get("OMV_REFERENCE_DIR")
    if not value:
        pytest.skip(
            "set OMV_REFERENCE_DIR to the official references folder (…/reference)"
            " to run the conformance tests"
        )
    path = Path(value)
    assert path.is_dir(), f"OMV_REFERENCE_DIR={value!r} is not a folder"
    return path


@pytest.fixture
def loopback():
    """`loopback(app)` starts a loopback HTTP server (see support/loopback.py), stopped at teardown."""
    servers: list[Loopback] = []

    def start(app: App | Routes) -> Loopback:
        servers.append(loopback_server(app).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def demo_wfs():
    """The demo's WFS layers served by a real MapServer on loopback; sets OMV_DEMO_WFS_URL."""
    from omv_pipelines.demo import DEMO_WFS_ENV, demo_wfs_layers
    from omv_pipelines.demo.mapserver import MapServerNotFound, MapServerWfs

    server = MapServerWfs(demo_wfs_layers())
    try:
        server.start()
    except MapServerNotFound as exc:
        pytest.skip(f"MapServer is not installed ({exc}); scripts/bootstrap.sh --dev installs it")
    previous = os.environ.get(DEMO_WFS_ENV)
    os.environ[DEMO_WFS_ENV] = server.url
    yield server
    server.stop()
    if previous is None:
        os.environ.pop(DEMO_WFS_ENV, None)
    else:
        os.environ[DEMO_WFS_ENV] = previous


@dataclass
class Pipeline:
    """Definitions built against a private data folder and catalogue, with a throwaway instance."""

    defs: dg.Definitions
    instance: dg.DagsterInstance
    data_dir: Path
    catalog_dir: Path

    @property
    def export_dir(self) -> Path:
        return self.data_dir / "export"


class _PipelineFactory:
    """Builds Pipelines in `base`; `catalog_dir` defaults to a copy of the demo catalogue (tests edit it)."""

    def __init__(self, base: Path, monkeypatch: pytest.MonkeyPatch):
        self.base, self.monkeypatch = base, monkeypatch
        self._instance_context = None
        self.instance = None

    def __call__(self, catalog_dir: Path | None = None, env: dict[str, str] | None = None) -> Pipeline:
        from omv_pipelines.definitions import build_definitions

        if catalog_dir is None:
            catalog_dir = self.base / "catalog"
            if not catalog_dir.exists():
                shutil.copytree(DEMO_CATALOG, catalog_dir)
        data_dir = self.base / "data"
        self.monkeypatch.setenv("OMV_CATALOG", str(catalog_dir))
        self.monkeypatch.setenv("OMV_DATA_DIR", str(data_dir))
        for name in ("ODWB_URL", "ODWB_API_KEY"):
            self.monkeypatch.delenv(name, raising=False)
        for name, value in (env or {}).items():
            self.monkeypatch.setenv(name, value)
        if self.instance is None:
            self._instance_context = dg.instance_for_test()
            self.instance = self._instance_context.__enter__()
        return Pipeline(build_definitions(), self.instance, data_dir, catalog_dir)

    def close(self) -> None:
        if self._instance_context is not None:
            self._instance_context.__exit__(None, None, None)


@pytest.fixture
def pipeline_factory(tmp_path, monkeypatch):
    factory = _PipelineFactory(tmp_path, monkeypatch)
    yield factory
    factory.close()


@pytest.fixture(scope="module")
def module_pipeline_factory(tmp_path_factory):
    """Like pipeline_factory, shared by a module's tests that only read what a run produced."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        factory = _PipelineFactory(tmp_path_factory.mktemp("pipeline"), monkeypatch)
        yield factory
        factory.close()
