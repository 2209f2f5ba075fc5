"""No secret reaches anything a person or a log can see, even when a server echoes it back.

A commune's run with a WFS whose URL (from the operator's environment) carries a token, answered by a
server that repeats the request URL and the bare token in its error page, and a database URL with a
password: afterwards, neither value may appear in stdout/stderr, in any file of the Dagster instance
(event log, compute logs, run storage) or of the data folder (Parquet tables, exports, reports).
"""

from pathlib import Path

import pytest

from omv_pipelines.catalog.loader import load_catalog
from omv_pipelines.defs.local import run_commune

TOKEN = "tok-7f3a9c-SECRET-e41b"
PASSWORD = "Pw-5c1d-SECRET-92aa"

CATALOGUE = """\
ins_code: "92094"
name: Namur
datasets:
  resilience/defibrillateurs:
    source:
      kind: wfs
      url_env: NAMUR_WFS_URL
      typename: ms:dae
      retries: 0
  mobility/stationnements_velos:
    source:
      kind: sql
      url_env: NAMUR_DB_URL
      table: arceaux
      timeout_s: 5
"""


def _echo(method, path, query, headers, body):
    """A server error page that quotes the whole request and the token, as some servers do."""
    page = f"<html>Internal error while serving {path}?{'&'.join(f'{k}={v}' for k, v in query.items())}"
    return 500, {"Content-Type": "text/html"}, page + f" (value {TOKEN} rejected)</html>"


def _files_containing(root: Path, secrets: tuple[str, ...]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {secret}" for secret in secrets if secret.encode() in data]
    return found


@pytest.mark.integration
def test_no_secret_in_output_event_log_tables_or_exports(tmp_path, loopback, pipeline_factory, capfd):
    server = loopback(_echo)
    catalog_dir = tmp_path / "catalog"
    catalog_dir.mkdir()
    (catalog_dir / "92094-namur.yaml").write_text(CATALOGUE, encoding="utf-8")
    pipeline = pipeline_factory(
        catalog_dir,
        env={
            "NAMUR_WFS_URL": server.url(f"/wfs?map=namur&token={TOKEN}"),
            "NAMUR_DB_URL": f"postgresql+psycopg2://postgres:{PASSWORD}@127.0.0.1:5432/omv_no_such_database",
        },
    )
    config = load_catalog(catalog_dir).get("92094").config

    result = run_commune(pipeline.defs, pipeline.instance, config)

    assert not result.success  # both sources fail, each with its own error
    failures = " ".join(
        event.step_failure_data.error.message
        for event in result.all_events
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error
    )
    assert "HTTP 500" in failures and "omv_no_such_database" in failures
    secrets = (TOKEN, PASSWORD)
    assert not any(secret in failures for secret in secrets)
    records = pipeline.instance.all_logs(result.run_id)
    assert records and not any(secret in str(record) for record in records for secret in secrets)
    captured = capfd.readouterr()
    assert not any(secret in captured.out + captured.err for secret in secrets)
    assert _files_containing(Path(pipeline.instance.root_directory), secrets) == []
    assert _files_containing(pipeline.data_dir, secrets) == []
