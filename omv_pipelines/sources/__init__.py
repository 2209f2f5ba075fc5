"""Sources: a configuration in, a source-shaped table (with provenance columns) out.

Each module owns one kind (`sql`, `spreadsheet`, `wfs`) and its configuration model; `harvest` picks
the right one. Sources know nothing of schemas or communes.
"""

from __future__ import annotations

from pathlib import Path

from omv_pipelines.sources.base import Harvest, SourceError


def harvest(
    config,
    *,
    source_id: str,
    base_dir: Path | None = None,
    state_dir: Path | None = None,
    full_refresh: bool = False,
) -> Harvest:
    """Read one configured source (SqlSource, SpreadsheetSource or WfsSource).

    With a `state_dir`, a SQL source with `incremental` settings reads only what changed since its last
    harvest (everything when `full_refresh`), and a spreadsheet URL is not downloaded again while the
    server says it is unchanged.
    """
    if config.kind == "sql" and config.incremental is not None and state_dir is not None:
        from omv_pipelines.sources.incremental import harvest_incremental

        return harvest_incremental(
            config, source_id=source_id, base_dir=base_dir, state_dir=state_dir, full_refresh=full_refresh
        )
    if config.kind == "spreadsheet":
        from omv_pipelines.sources.spreadsheet import harvest_spreadsheet

        return harvest_spreadsheet(config, source_id=source_id, base_dir=base_dir, state_dir=state_dir)
    if config.kind == "sql":
        from omv_pipelines.sources.sql import harvest_sql as read
    elif config.kind == "wfs":
        from omv_pipelines.sources.wfs import harvest_wfs as read
    else:  # pragma: no cover - the catalogue's discriminated union prevents it
        raise SourceError(source_id, f"unknown source kind {config.kind!r}")
    return read(config, source_id=source_id, base_dir=base_dir)


__all__ = ["Harvest", "SourceError", "harvest"]
