"""Sources: a configuration in, a source-shaped table (with provenance columns) out.

Each kind (`sql`, `spreadsheet`, `wfs`) is a package holding its configuration model and its harvesting
code; `registry.KINDS` lists them and `harvest` reads any of them. Sources know nothing of schemas or
communes.
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
    """Read one configured source of any registered kind.

    With a `state_dir`, a SQL source with `incremental` settings reads only what changed since its last
    harvest (everything when `full_refresh`), and a spreadsheet URL is not downloaded again while the
    server says it is unchanged.
    """
    from omv_pipelines.sources.registry import KINDS, known_kinds

    kind = KINDS.get(config.kind)
    if kind is None:  # pragma: no cover - the catalogue's discriminated union prevents it
        raise SourceError(source_id, f"unknown source kind {config.kind!r}", f"use {known_kinds()}")
    read = kind.harvest_function()
    return read(
        config, source_id=source_id, base_dir=base_dir, state_dir=state_dir, full_refresh=full_refresh
    )


__all__ = ["Harvest", "SourceError", "harvest"]
