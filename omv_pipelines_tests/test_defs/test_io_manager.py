"""The Parquet IO manager: a refused output never becomes the value downstream assets read, and an
unpartitioned reader gets only the partitions that have a stored value."""

import dagster as dg
import pandas as pd

from omv_pipelines.defs.io_manager import REFUSED, ParquetIOManager

PARTS = dg.StaticPartitionsDefinition(["a", "b", "c"])


@dg.asset(partitions_def=PARTS, config_schema={"rows": int, "refuse": bool})
def table(context: dg.AssetExecutionContext):
    rows = context.op_execution_context.op_config["rows"]
    refused = {REFUSED: "lost rows"} if context.op_execution_context.op_config["refuse"] else {}
    return dg.Output(pd.DataFrame({"n": list(range(rows))}), metadata=refused)


@dg.asset(ins={"tables": dg.AssetIn("table")})
def together(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.DataFrame({"part": sorted(tables), "rows": [len(tables[p]) for p in sorted(tables)]})


def _materialise(io_manager, selection, partition=None, rows=0, refuse=False):
    config = {"ops": {"table": {"config": {"rows": rows, "refuse": refuse}}}} if partition else None
    result = dg.materialize(
        [table, together],
        selection=selection,
        partition_key=partition,
        run_config=config,
        resources={"io_manager": io_manager},
    )
    assert result.success
    return result


def test_a_refused_output_is_kept_aside_and_readers_keep_the_last_value_that_passed(tmp_path):
    io_manager = ParquetIOManager(base_path=str(tmp_path))
    _materialise(io_manager, [table], "a", rows=12)
    _materialise(io_manager, [table], "a", rows=1, refuse=True)
    assert len(pd.read_parquet(tmp_path / "table/a.parquet")) == 12
    assert len(pd.read_parquet(tmp_path / "table/a.refused.parquet")) == 1
    _materialise(io_manager, [table], "b", rows=3)  # "c" never stored
    _materialise(io_manager, [together])
    assert pd.read_parquet(tmp_path / "together.parquet").to_dict("list") == {
        "part": ["a", "b"],
        "rows": [12, 3],
    }

    _materialise(io_manager, [table], "a", rows=11)  # passed again: the refused one is gone
    assert len(pd.read_parquet(tmp_path / "table/a.parquet")) == 11
    assert not (tmp_path / "table/a.refused.parquet").exists()


@dg.asset(partitions_def=PARTS)
def wide() -> pd.DataFrame:
    return pd.DataFrame({"id": ["x", "y"], "geometry": ["POINT", "POINT"], "notes": ["long", "text"]})


@dg.asset(ins={"tables": dg.AssetIn("wide", metadata={"columns": ["id", "geometry", "absent"]})})
def narrow(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.DataFrame(
        {"part": sorted(tables), "columns": [",".join(tables[p].columns) for p in sorted(tables)]}
    )


def test_an_input_naming_its_columns_reads_only_those_the_tables_have(tmp_path):
    io_manager = ParquetIOManager(base_path=str(tmp_path))
    for partition in ("a", "b"):
        assert dg.materialize([wide], partition_key=partition, resources={"io_manager": io_manager}).success
    assert dg.materialize([wide, narrow], selection=[narrow], resources={"io_manager": io_manager}).success
    assert pd.read_parquet(tmp_path / "narrow.parquet").to_dict("list") == {
        "part": ["a", "b"],
        "columns": ["id,geometry", "id,geometry"],  # "notes" not read; "absent" is in no table
    }
