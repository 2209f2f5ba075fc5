"""The SQLite event log of dagster.yaml (omv_pipelines/instance_storage.py): the same files and answers as
Dagster's own storage, a bounded number of open files, safe after a fork and after a wipe."""

import multiprocessing
import shutil
from pathlib import Path

import dagster as dg
import sqlalchemy as db
from dagster._core.storage.event_log import SqliteEventLogStorage

from omv_pipelines.instance_storage import MAX_OPEN_SHARDS, PooledSqliteEventLogStorage

REPO = Path(__file__).parents[2]
PARTS = dg.StaticPartitionsDefinition(["a", "b"])


@dg.asset(partitions_def=PARTS)
def numbers() -> int:
    return 1


@dg.asset(partitions_def=PARTS, check_specs=[dg.AssetCheckSpec("positive", asset="doubled")])
def doubled(numbers: int):
    yield dg.Output(numbers * 2, metadata={"rows": 2})
    yield dg.AssetCheckResult(check_name="positive", passed=True)


def _instance(home: Path, monkeypatch) -> dg.DagsterInstance:
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return dg.DagsterInstance.get()


def _run(instance, partition: str) -> dg.ExecuteInProcessResult:
    result = dg.materialize([numbers, doubled], instance=instance, partition_key=partition)
    assert result.success
    return result


def _story(instance, run_id: str) -> list[str]:
    records = instance.get_records_for_run(run_id, limit=1000).records
    return [r.event_log_entry.dagster_event_type or "LOG" for r in records]


def test_the_project_instance_uses_it_where_dagster_keeps_event_logs(tmp_path, monkeypatch):
    instance = _instance(tmp_path / "home", monkeypatch)
    storage = instance.event_log_storage
    assert isinstance(storage, PooledSqliteEventLogStorage)
    run = _run(instance, "a")
    assert (tmp_path / "home" / "history" / "runs" / f"{run.run_id}.db").exists()
    assert (tmp_path / "home" / "history" / "runs" / "index.db").exists()
    with storage.index_connection() as conn:  # SQLite's advice for WAL: no fsync per commit
        assert conn.execute(db.text("PRAGMA synchronous")).scalar() == 1
        assert conn.execute(db.text("PRAGMA journal_mode")).scalar() == "wal"
    instance.dispose()


def test_same_events_and_answers_as_dagsters_own_storage_on_the_same_files(tmp_path, monkeypatch):
    instance = _instance(tmp_path / "home", monkeypatch)
    first, second = _run(instance, "a"), _run(instance, "b")
    ours = [_story(instance, r.run_id) for r in (first, second)]
    assert "ASSET_MATERIALIZATION" in ours[0] and "ASSET_CHECK_EVALUATION" in ours[0]
    instance.dispose()

    # Dagster's own storage reads the same files and sees the same history, and vice versa.
    plain = SqliteEventLogStorage(str(tmp_path / "home" / "history" / "runs"))
    for run, story in zip((first, second), ours, strict=True):
        records = plain.get_records_for_run(run.run_id, limit=1000).records
        assert [r.event_log_entry.dagster_event_type or "LOG" for r in records] == story
    key = dg.AssetKey("doubled")
    assert plain.get_materialized_partitions(key) == {"a", "b"}
    plain.dispose()

    again = _instance(tmp_path / "home", monkeypatch)
    assert again.get_materialized_partitions(key) == {"a", "b"}
    latest = again.get_latest_materialization_event(key)
    assert latest is not None and latest.run_id == second.run_id
    assert latest.asset_materialization.metadata["rows"].value == 2
    again.dispose()


def test_open_files_stay_bounded_and_a_wipe_leaves_no_connection_to_deleted_files(tmp_path, monkeypatch):
    instance = _instance(tmp_path / "home", monkeypatch)
    storage = instance.event_log_storage
    assert isinstance(storage, PooledSqliteEventLogStorage)
    for n in range(MAX_OPEN_SHARDS + 3):
        _run(instance, "ab"[n % 2])
    assert len([shard for shard in storage._engines if shard != "index"]) == MAX_OPEN_SHARDS
    instance.wipe()
    assert list(storage._engines) == ["index"]  # the run files are gone, so are their connections
    run = _run(instance, "a")  # written to new files, read back
    assert "ASSET_MATERIALIZATION" in _story(instance, run.run_id)
    instance.dispose()


_INHERITED: list[dg.DagsterInstance] = []  # the parent's instance, as a forked child inherits it


def _child_run(queue) -> None:
    result = dg.materialize([numbers, doubled], instance=_INHERITED[0], partition_key="b")
    queue.put(result.run_id if result.success else None)


def test_a_forked_worker_opens_its_own_connections(tmp_path, monkeypatch):
    """As a Celery worker's pool process does: the parent's kept connections stay the parent's."""
    instance = _instance(tmp_path / "home", monkeypatch)
    storage = instance.event_log_storage
    parent = _run(instance, "a")
    kept = dict(storage._engines)
    _INHERITED[:] = [instance]
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_run, args=(queue,))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    child_run = queue.get(timeout=5)
    assert child_run
    assert storage._engines == kept  # untouched by the child
    assert "ASSET_MATERIALIZATION" in _story(instance, child_run)
    assert "ASSET_MATERIALIZATION" in _story(instance, parent.run_id)
    assert instance.get_materialized_partitions(dg.AssetKey("doubled")) == {"a", "b"}
    instance.dispose()


def test_the_files_follow_the_instance_not_the_environment(tmp_path, monkeypatch):
    """An instance opened from its folder (DagsterInstance.from_config, DAGSTER_HOME elsewhere or unset)
    reads the event log in that folder, where its runs wrote it."""
    writer = _instance(tmp_path / "home", monkeypatch)
    run = _run(writer, "a")
    writer.dispose()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "elsewhere"))
    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as reader:
        assert isinstance(reader.event_log_storage, PooledSqliteEventLogStorage)
        assert "ASSET_MATERIALIZATION" in _story(reader, run.run_id)
        assert reader.get_materialized_partitions(dg.AssetKey("doubled")) == {"a"}
    assert not (tmp_path / "elsewhere").exists()
