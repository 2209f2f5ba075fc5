"""Incremental SQL harvests against SQLite, the real PostgreSQL and the real MariaDB: a full first read,
then only the changed rows merged by key, soft deletes, full refresh, and a state that never advances
past a failure."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pydantic
import pytest

from omv_pipelines.sources import harvest
from omv_pipelines.sources.base import HARVESTED_AT, SOURCE_ROW, SourceError
from omv_pipelines.sources.sql import SqlSource
from omv_pipelines.sources.sql import incremental as inc

START = dt.datetime(2024, 3, 1, 8, 0)


def at(hours: int) -> str:
    """SQL literal of a watermark `hours` after START (every database here casts it to its column type)."""
    return f"'{(START + dt.timedelta(hours=hours)).isoformat(' ')}'"


@dataclass
class Db:
    """A database with an `items` table behind a view whose `nom` makes the read fail for 'boom'."""

    url: str
    view: str
    run: Callable[[str], None]
    table: str
    deleted: str  # SQL literal that marks a row deleted
    deleted_value: bool | str | None  # the same, in the catalogue


def _run_sql(url: str) -> Callable[[str], None]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)

    def run(sql: str) -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql(sql)

    return run


@pytest.fixture()
def sqlite_db(tmp_path) -> Db:
    path = tmp_path / "commune.sqlite"

    def run(sql: str) -> None:
        with sqlite3.connect(path) as db:
            db.execute(sql)

    run("CREATE TABLE items (id INTEGER PRIMARY KEY, nom TEXT, modifie TEXT, supprime TEXT)")
    # json('boom') is malformed JSON: SQLite raises while producing that row, not before.
    run(
        "CREATE VIEW items_v AS SELECT id, CASE WHEN nom = 'boom' THEN json(nom) ELSE nom END AS nom, "
        "modifie, supprime FROM items"
    )
    return Db(f"sqlite:///{path}", "items_v", run, "items", "'oui'", "oui")


@pytest.fixture()
def pg_db(pg_schema) -> Iterator[Db]:
    url, schema = pg_schema
    run = _run_sql(url)
    table = f"{schema}.items_{uuid.uuid4().hex[:6]}"
    run(f"CREATE TABLE {table} (id integer PRIMARY KEY, nom text, modifie timestamptz, supprime timestamptz)")
    # 1 / (length('boom') - 4) divides by zero at run time, for that row only.
    run(
        f"CREATE VIEW {table}_v AS SELECT id, CASE WHEN nom = 'boom' THEN (1 / (length(nom) - 4))::text "
        f"ELSE nom END AS nom, modifie, supprime FROM {table}"
    )
    yield Db(url, f"{table}_v", run, table, "now()", None)
    run(f"DROP VIEW {table}_v; DROP TABLE {table}")


@pytest.fixture()
def maria_db(mariadb_table) -> Iterator[Db]:
    url, _ = mariadb_table  # its table name belongs to test_sql: take our own
    name = f"omv_inc_{uuid.uuid4().hex[:10]}"
    run = _run_sql(url)
    boom = f"{name}_boom"
    run(f"CREATE TABLE {name} (id INT PRIMARY KEY, nom VARCHAR(50), modifie DATETIME(6), supprime BOOLEAN)")
    run(
        f"CREATE FUNCTION {boom}(v VARCHAR(50)) RETURNS VARCHAR(50) DETERMINISTIC BEGIN "
        f"IF v = 'boom' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'cannot read this row'; END IF; "
        f"RETURN v; END"
    )
    run(f"CREATE VIEW {name}_v AS SELECT id, {boom}(nom) AS nom, modifie, supprime FROM {name}")
    yield Db(url, f"{name}_v", run, name, "TRUE", True)
    run(f"DROP VIEW IF EXISTS {name}_v")
    run(f"DROP FUNCTION IF EXISTS {boom}")
    run(f"DROP TABLE IF EXISTS {name}")


DB_ENV = "OMV_TEST_INC_DB"


def _config(db: Db, **incremental) -> SqlSource:
    settings: dict[str, Any] = {
        "watermark_column": "modifie",
        "key_column": "id",
        "soft_delete_column": "supprime",
    }
    if db.deleted_value is not None:
        settings["deleted_value"] = db.deleted_value
    # Through an environment variable: a catalogue url may name neither a user nor an absolute path.
    return SqlSource(url_env=DB_ENV, table=db.view, chunk_size=2, incremental=settings | incremental)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.integration
@pytest.mark.parametrize("db_fixture", ["sqlite_db", "pg_db", "maria_db"])
def test_incremental_cycle(db_fixture, request, tmp_path):
    db: Db = request.getfixturevalue(db_fixture)
    state = tmp_path / "state"
    config = _config(db)

    def read(full_refresh: bool = False):
        return inc.harvest_incremental(
            config,
            source_id="92094/mobility/velos#1(sql)",
            base_dir=None,
            state_dir=state,
            full_refresh=full_refresh,
            env={DB_ENV: db.url},
        )

    values = ", ".join(f"({i}, 'Rack {i}', {at(i)}, NULL)" for i in range(1, 6))
    db.run(f"INSERT INTO {db.table} VALUES {values}")
    first = read()
    assert first.stats["mode"] == "full" and first.stats["full_read_reason"] == "no stored state"
    assert first.frame["id"].tolist() == [1, 2, 3, 4, 5] and first.stats["new_rows"] == 5
    assert first.stats["watermark_before"] is None and first.stats["watermark_after"] is not None
    assert first.frame[SOURCE_ROW].tolist() == [1, 2, 3, 4, 5]  # the key, not a position

    db.run(f"UPDATE {db.table} SET nom = 'Rack deux', modifie = {at(10)} WHERE id = 2")
    db.run(f"INSERT INTO {db.table} VALUES (6, 'Rack 6', {at(11)}, NULL), (7, 'Rack 7', {at(12)}, NULL)")
    db.run(f"UPDATE {db.table} SET supprime = {db.deleted}, modifie = {at(13)} WHERE id = 3")
    db.run(f"DELETE FROM {db.table} WHERE id = 4")  # a hard delete leaves no trace to read
    second = read()
    frame = second.frame
    assert second.stats["mode"] == "incremental"
    # rows 2, 3, 6, 7 changed; row 5 carries the last watermark and is read again (merged by key: harmless)
    assert second.stats["new_rows"] == 5 and second.stats["soft_deleted_rows"] == 1
    assert second.stats["watermark_before"] == first.stats["watermark_after"]
    assert second.stats["watermark_after"] > second.stats["watermark_before"]
    assert frame["id"].tolist() == [1, 2, 4, 5, 6, 7]
    assert frame["nom"].tolist() == ["Rack 1", "Rack deux", "Rack 4", "Rack 5", "Rack 6", "Rack 7"]
    assert frame[SOURCE_ROW].tolist() == frame["id"].tolist()
    kept = frame.set_index("id")[HARVESTED_AT]
    assert kept[1] == first.frame.set_index("id")[HARVESTED_AT][1] and kept[2] > kept[1]

    # A read that fails half-way leaves the state exactly as it was ...
    before = _files(state)
    db.run(f"INSERT INTO {db.table} VALUES (8, 'boom', {at(14)}, NULL), (9, 'Rack 9', {at(15)}, NULL)")
    with pytest.raises(SourceError, match="reading .* failed"):
        read()
    assert _files(state) == before
    # ... so once the source is fixed, nothing between the two watermarks is lost.
    db.run(f"UPDATE {db.table} SET nom = 'Rack 8' WHERE id = 8")
    third = read()
    assert third.stats["mode"] == "incremental"
    assert third.stats["watermark_before"] == second.stats["watermark_after"]
    assert third.frame["id"].tolist() == [1, 2, 4, 5, 6, 7, 8, 9]

    # A full refresh reads everything again, which also drops the hard-deleted row.
    full = read(full_refresh=True)
    assert full.stats["mode"] == "full" and full.stats["full_read_reason"] == "full refresh requested"
    assert full.frame["id"].tolist() == [1, 2, 5, 6, 7, 8, 9]
    data = ["id", "nom", "modifie", "supprime", SOURCE_ROW]
    merged = third.frame[third.frame["id"] != 4].reset_index(drop=True)
    pd.testing.assert_frame_equal(merged[data], full.frame[data], check_dtype=False)
    assert read().stats["new_rows"] == 1  # back to incremental from the refreshed state: row 9 only


def test_merge_replaces_by_key_and_drops_soft_deleted_rows():
    previous = pd.DataFrame({"id": [1, 2, 3], "nom": ["a", "b", "c"], "gone": [False, False, False]})
    new = pd.DataFrame({"id": [3, 4, 2], "nom": ["c2", "d", "b2"], "gone": [None, False, True]})
    merged = inc.merge(previous, new, "id", "gone", True)
    assert merged.to_dict("list") == {"id": [1, 3, 4], "nom": ["a", "c2", "d"], "gone": [False, None, False]}
    # without a soft-delete value, any non-empty value of the column means deleted
    stamps = pd.DataFrame({"id": ["x", "y"], "deleted_at": [None, pd.Timestamp("2024-01-01")]})
    assert inc.merge(None, stamps, "id", "deleted_at")["id"].tolist() == ["x"]


def test_merge_takes_the_type_of_a_column_that_was_empty_before():
    previous = pd.DataFrame({"id": [1], "note": [None]}, dtype=object)
    new = pd.DataFrame({"id": [2], "note": [1.5]})
    merged = inc.merge(previous, new, "id")
    assert merged["note"].tolist()[1] == 1.5 and pd.isna(merged["note"].iloc[0])


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2024, 3, 1, 8, 0, 0, 123456, tzinfo=dt.UTC),
        dt.datetime(2024, 3, 1, 8, 0),
        dt.date(2024, 3, 1),
        Decimal("12.50"),
        42,
        2.5,
        "2024-03-01 08:00:00",
    ],
)
def test_watermark_round_trips_through_json_with_its_type(value):
    back = inc.decode_watermark(json.loads(json.dumps(inc.encode_watermark(value))))
    assert back == value and type(back) is type(value)


def _sqlite_items(tmp_path: Path, rows: int = 3) -> tuple[Path, Callable[[str], None]]:
    path = tmp_path / "c.sqlite"

    def run(sql: str) -> None:
        with sqlite3.connect(path) as db:
            db.execute(sql)

    run("CREATE TABLE items (id INTEGER PRIMARY KEY, nom TEXT, modifie INTEGER)")
    run("INSERT INTO items VALUES " + ", ".join(f"({i}, 'n{i}', {i * 10})" for i in range(1, rows + 1)))
    return path, run


def test_interrupted_save_keeps_the_previous_state(tmp_path, monkeypatch):
    path, run = _sqlite_items(tmp_path)
    config = SqlSource(
        url="sqlite:///{base_dir}/" + path.name,
        table="items",
        incremental={"watermark_column": "modifie", "key_column": "id"},
    )
    state = tmp_path / "state"
    args = {"source_id": "s", "base_dir": tmp_path, "state_dir": state, "full_refresh": False}
    assert inc.harvest_incremental(config, **args).stats["watermark_after"] == 30
    before = _files(state)
    run("INSERT INTO items VALUES (4, 'n4', 40)")

    def crash(path, data):
        raise OSError("disk full")

    monkeypatch.setattr(inc, "atomic_write", crash)  # the new table is written, the JSON switch fails
    with pytest.raises(OSError, match="disk full"):
        inc.harvest_incremental(config, **args)
    monkeypatch.undo()
    assert inc.SqlStateStore(state).load("s").watermark == 30
    again = inc.harvest_incremental(config, **args)
    assert again.stats["mode"] == "incremental" and again.frame["id"].tolist() == [1, 2, 3, 4]
    # the table written by the crashed run is cleaned up: one JSON and one Parquet file remain
    assert sorted(p.suffix for p in state.iterdir()) == [".json", ".parquet"]
    assert set(before) != set(_files(state))


def test_changed_configuration_or_columns_force_a_full_read(tmp_path):
    path, run = _sqlite_items(tmp_path)
    settings = {"watermark_column": "modifie", "key_column": "id"}
    args = {"source_id": "s", "base_dir": tmp_path, "state_dir": tmp_path / "state", "full_refresh": False}
    inc.harvest_incremental(
        SqlSource(url="sqlite:///{base_dir}/" + path.name, table="items", incremental=settings), **args
    )
    query = SqlSource(
        url="sqlite:///{base_dir}/" + path.name, query="SELECT id, modifie FROM items", incremental=settings
    )
    changed = inc.harvest_incremental(query, **args)
    assert changed.stats["full_read_reason"] == "the source configuration changed"
    assert list(changed.frame.columns)[:2] == ["id", "modifie"] and len(changed.frame) == 3
    run("ALTER TABLE items ADD COLUMN places INTEGER")
    run("UPDATE items SET places = id")
    wider = SqlSource(
        url="sqlite:///{base_dir}/" + path.name, query="SELECT * FROM items", incremental=settings
    )
    inc.harvest_incremental(wider, **args)
    run("ALTER TABLE items ADD COLUMN ville TEXT")
    grown = inc.harvest_incremental(wider, **args)
    assert grown.stats["full_read_reason"] == "the source's columns changed"
    assert grown.frame["places"].tolist() == [1, 2, 3] and "ville" in grown.frame.columns


def test_unreadable_state_means_a_full_read(tmp_path):
    path, _ = _sqlite_items(tmp_path)
    config = SqlSource(
        url="sqlite:///{base_dir}/" + path.name,
        table="items",
        incremental={"watermark_column": "modifie", "key_column": "id"},
    )
    state = tmp_path / "state"
    args = {"source_id": "s", "base_dir": tmp_path, "state_dir": state, "full_refresh": False}
    inc.harvest_incremental(config, **args)
    for parquet in state.glob("*.parquet"):
        parquet.write_bytes(b"not parquet")
    result = inc.harvest_incremental(config, **args)
    assert result.stats["full_read_reason"].startswith("stored state unreadable")
    assert result.frame["id"].tolist() == [1, 2, 3]


def test_bad_keys_and_columns_are_named(tmp_path):
    path, run = _sqlite_items(tmp_path)
    args = {
        "source_id": "92094/velos",
        "base_dir": tmp_path,
        "state_dir": tmp_path / "state",
        "full_refresh": False,
    }
    repeated = SqlSource(
        url="sqlite:///{base_dir}/" + path.name,
        query="SELECT id % 2 AS k, modifie FROM items",
        incremental={"watermark_column": "modifie", "key_column": "k"},
    )
    with pytest.raises(SourceError, match=r"key_column 'k' is not unique: 1 repeated value\(s\), e\.g\. 1"):
        inc.harvest_incremental(repeated, **args)
    absent = SqlSource(
        url="sqlite:///{base_dir}/" + path.name,
        table="items",
        incremental={"watermark_column": "updated_at", "key_column": "id"},
    )
    with pytest.raises(SourceError, match="watermark_column 'updated_at' is not a column.*id, nom, modifie"):
        inc.harvest_incremental(absent, **args)
    assert not (tmp_path / "state").exists()


def test_config_checks_and_descriptions():
    with pytest.raises(pydantic.ValidationError, match="deleted_value goes with soft_delete_column"):
        SqlSource(
            url="sqlite://",
            table="t",
            incremental={"watermark_column": "m", "key_column": "id", "deleted_value": True},
        )
    schema = inc.SqlSource.model_json_schema()["$defs"]["SqlIncremental"]
    assert all(prop.get("description") for prop in schema["properties"].values()), schema


def test_harvest_dispatches_to_incremental_only_with_a_state_folder(tmp_path):
    path, run = _sqlite_items(tmp_path)
    config = SqlSource(
        url="sqlite:///{base_dir}/" + path.name,
        table="items",
        incremental={"watermark_column": "modifie", "key_column": "id"},
    )
    plain = harvest(config, source_id="s", base_dir=tmp_path)
    assert "mode" not in plain.stats and plain.frame[SOURCE_ROW].tolist() == [1, 2, 3]
    state = tmp_path / "state"
    assert harvest(config, source_id="s", base_dir=tmp_path, state_dir=state).stats["mode"] == "full"
    run("UPDATE items SET nom = 'new', modifie = 99 WHERE id = 1")
    again = harvest(config, source_id="s", base_dir=tmp_path, state_dir=state)
    assert (
        again.stats["mode"] == "incremental" and again.stats["new_rows"] == 2
    )  # + row 3, at the old watermark
    assert (
        harvest(config, source_id="s", base_dir=tmp_path, state_dir=state, full_refresh=True).stats["mode"]
        == "full"
    )
