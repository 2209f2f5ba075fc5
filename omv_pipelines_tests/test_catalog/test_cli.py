"""`omv validate`, `omv catalog-schema` (what a data officer runs on a catalogue folder) and `omv ui`."""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from omv_pipelines.catalog.loader import DEMO_CATALOG
from omv_pipelines.cli import PROJECT_DIR, main


def test_validate_lists_good_files_and_explains_bad_ones(tmp_path, capsys):
    for path in DEMO_CATALOG.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "82005-bertogne.yaml").write_text(
        'ins_code: "82005"\ndatasets:\n  resilience/defibrillateurs:\n'
        "    source: {kind: spreadsheet, path: dae.xlsx}\n",
        encoding="utf-8",
    )
    assert main(["validate", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert "ok     92094-namur.yaml: Namur (92094)" in out
    assert "3 commune(s) valid, 1 file(s) with errors" in out
    assert (
        "82005-bertogne.yaml: ins_code: INS code 82005 (Bertogne) was retired" in err
        and "use 82039 (Bastogne)" in err
    )


def test_validate_the_demo_catalogue_succeeds(capsys, monkeypatch):
    monkeypatch.delenv("OMV_CATALOG", raising=False)
    assert main(["validate"]) == 0
    assert "0 file(s) with errors" in capsys.readouterr().out


def test_catalog_schema_is_written_for_editors(tmp_path):
    target = tmp_path / "commune.schema.json"
    assert main(["catalog-schema", "-o", str(target)]) == 0
    schema = json.loads(target.read_text(encoding="utf-8"))
    assert schema["title"] == "omv_pipelines commune catalogue file"
    assert {"ins_code", "datasets"} <= set(schema["required"])


def test_omv_ui_names_the_code_location_as_workspace_yaml_and_pyproject_do():
    import tomllib

    import yaml

    from omv_pipelines.cli import DEFINITIONS_MODULE, LOCATION_NAME, PROJECT_DIR

    workspace = yaml.safe_load((PROJECT_DIR / "workspace.yaml").read_text(encoding="utf-8"))
    [entry] = workspace["load_from"]
    assert entry["python_module"] == {"module_name": DEFINITIONS_MODULE, "location_name": LOCATION_NAME}
    dagster = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["dagster"]
    assert (dagster["module_name"], dagster["code_location_name"]) == (DEFINITIONS_MODULE, LOCATION_NAME)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _location_names(url: str) -> list[str] | None:
    query = b'{"query": "{ workspaceOrError { ... on Workspace { locationEntries { name } } } }"}'
    request = urllib.request.Request(url, data=query, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            body = json.load(response)
    except OSError:
        return None
    return [e["name"] for e in body["data"]["workspaceOrError"]["locationEntries"]]


@pytest.mark.integration
def test_omv_ui_serves_the_code_location_on_the_given_host_and_port_without_warnings(tmp_path):
    """Started from another folder with a fresh DAGSTER_HOME: the project's dagster.yaml is put there, the
    location is `omv_pipelines` as with `dagster dev` and workspace.yaml, and nothing warns on stderr."""
    port, catalog = _free_port(), tmp_path / "catalog"
    catalog.mkdir()  # no commune: the daemon has nothing to run
    env = os.environ | {
        "DAGSTER_HOME": str(tmp_path / "home"),
        "OMV_CATALOG": str(catalog),
        "OMV_DATA_DIR": str(tmp_path / "data"),
    }
    command = [sys.executable, "-m", "omv_pipelines.cli", "ui", "--host", "127.0.0.1", "--port", str(port)]
    with (tmp_path / "out").open("wb") as out, (tmp_path / "err").open("wb") as err:
        ui = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out, stderr=err, start_new_session=True)
        try:
            deadline, names = time.monotonic() + 180, None
            while names is None and time.monotonic() < deadline and ui.poll() is None:
                time.sleep(1)
                names = _location_names(f"http://127.0.0.1:{port}/graphql")
        finally:
            os.killpg(ui.pid, signal.SIGINT)
            try:
                ui.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            with contextlib.suppress(ProcessLookupError):
                os.killpg(ui.pid, signal.SIGKILL)  # dagster dev's children, if still shutting down
            ui.wait(timeout=10)
    stdout = (tmp_path / "out").read_text(encoding="utf-8", errors="replace")
    stderr = (tmp_path / "err").read_text(encoding="utf-8", errors="replace")
    assert names == ["omv_pipelines"], stdout + stderr
    assert f"Dagster UI on http://127.0.0.1:{port}" in stdout
    assert [line for line in stderr.splitlines() if "warning" in line.lower()] == []
    assert (tmp_path / "home" / "dagster.yaml").read_bytes() == (PROJECT_DIR / "dagster.yaml").read_bytes()


def _spreadsheet_liege(folder):
    """Liège's demo file with only its spreadsheet datasets (no WFS needed), and their data."""
    import yaml

    source = DEMO_CATALOG / "62063-liege.yaml"
    config = yaml.safe_load(source.read_text(encoding="utf-8"))
    config["datasets"] = {
        key: dataset
        for key, dataset in config["datasets"].items()
        if dataset["source"]["kind"] == "spreadsheet"
    }
    folder.mkdir()
    shutil.copytree(DEMO_CATALOG / "data", folder / "data")
    path = folder / source.name
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path, sorted(config["datasets"])


def test_preview_ends_with_a_summary_and_shows_at_most_n_problem_rows(tmp_path, capsys, monkeypatch):
    import pandas as pd

    from omv_pipelines import cli
    from omv_pipelines.publish.csv_format import read_report_csv

    path, datasets = _spreadsheet_liege(tmp_path / "catalog")
    monkeypatch.setattr(cli, "PREVIEW_ROWS", 2)
    assert main(["preview", str(path), "--report-dir", str(tmp_path / "reports")]) == 0
    out = capsys.readouterr().out
    lines = [line.strip() for line in out.splitlines()]
    assert "<NA>" not in out and "nan" not in out.split() and "None" not in out
    assert len([line for line in lines if line.startswith("row ")]) == 2 * len(datasets)
    report = read_report_csv(tmp_path / "reports" / "liege-equipements-collectifs.report.csv")
    assert f"… and {len(report) - 2} more, see the report {tmp_path / 'reports'}" in out
    assert "(value: (vide))" in out  # the name missing on row 13 of the DAE file
    summary = [" ".join(line.split()) for line in lines[lines.index("Summary — Liège (62063):") + 1 :]]
    assert [line.split()[0] for line in summary] == datasets
    assert summary[0].startswith(
        "resilience/defibrillateurs 11 rows, 9 valid, 2 rejected, 1 warnings; top reasons:"
    )
    counts = report.groupby(["severity", "error_type"]).size().sort_values(ascending=False, kind="stable")
    (severity, error_type), n = next(iter(counts.items()))
    assert f"top reasons: {error_type} ({severity}) {n}" in summary[1]
    assert isinstance(report, pd.DataFrame) and report["message"].str.contains(" — ").all()

    assert main(["preview", str(path), "--verbose"]) == 0
    verbose = capsys.readouterr().out
    assert len([line for line in verbose.splitlines() if line.strip().startswith("row ")]) > 2 * len(datasets)
    assert "more, see the report" not in verbose


def test_a_failed_step_is_reported_with_its_real_cause_and_each_dataset_with_where_it_went():
    """After retries, Dagster's step failure says `Exceeded max_retries of 2`; `omv demo` prints the
    description our code gave instead, and each publication with its URL (ODWB) or path (export)."""
    import dagster as dg

    from omv_pipelines.run_report import publications, run_failure_reason, summary_lines

    @dg.op
    def published(context: dg.OpExecutionContext):
        context.log_event(
            dg.AssetMaterialization(
                "odwb_dae",
                metadata={
                    "dataset_id": "namur-dae",
                    "status": "published",
                    "url": dg.MetadataValue.url("https://www.odwb.be/explore/dataset/namur-dae/"),
                },
            )
        )
        context.log_event(
            dg.AssetMaterialization(
                "export_dae",
                metadata={
                    "dataset_id": "liege-dae",
                    "status": "unchanged",
                    "path": dg.MetadataValue.path("/x.csv"),
                },
            )
        )

    @dg.op(retry_policy=dg.RetryPolicy(max_retries=2))
    def busy_portal():
        raise dg.Failure(
            description="namur-dae: publication to ODWB failed: 503 maintenance", allow_retries=True
        )

    @dg.job
    def run():
        published()
        busy_portal()

    result = run.execute_in_process(raise_on_error=False)
    lines = summary_lines(result)
    assert "namur-dae: published → https://www.odwb.be/explore/dataset/namur-dae/" in lines
    assert "liege-dae: unchanged → /x.csv" in lines
    assert (
        "step busy_portal failed: namur-dae: publication to ODWB failed: 503 maintenance (after 3 attempts)"
        in lines
    )
    assert not any("Exceeded max_retries" in line for line in lines)
    assert run_failure_reason(result) == (
        "busy_portal: namur-dae: publication to ODWB failed: 503 maintenance (after 3 attempts)"
    )
    assert sorted(publications(result)) == [
        ("liege-dae", "unchanged", "/x.csv"),
        ("namur-dae", "published", "https://www.odwb.be/explore/dataset/namur-dae/"),
    ]


def test_an_error_that_is_not_a_failure_is_reported_by_its_message():
    import dagster as dg

    from omv_pipelines.run_report import run_failure_reason

    @dg.op
    def broken():
        raise ValueError("the mapping names a column the source does not have")

    result = dg.GraphDefinition("g", node_defs=[broken]).to_job().execute_in_process(raise_on_error=False)
    assert (
        run_failure_reason(result)
        == "broken: ValueError: the mapping names a column the source does not have"
    )
