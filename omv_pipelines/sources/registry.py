"""The source kinds, in one mapping: kind name → configuration model and harvest function.

Everything that lists kinds derives from `KINDS`: the catalogue's `Source` union (and so its JSON
Schema), the dispatch in `omv_pipelines.sources.harvest`, and the error naming the known kinds. A kind
is a package `omv_pipelines/sources/<kind>/` with a `config` module (pydantic only: the catalogue
imports it) and a harvest function, named here as a path and imported only when a source is read, so
that heavy libraries (SQLAlchemy, openpyxl, lxml, pyproj) stay out of the code location's load.

A harvest function takes the configuration and the keywords `source_id`, `base_dir`, `state_dir` and
`full_refresh`, and returns a `Harvest`.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import BaseModel, Field

from omv_pipelines.sources.spreadsheet.config import SpreadsheetSource
from omv_pipelines.sources.sql.config import SqlSource
from omv_pipelines.sources.wfs.config import WfsSource

if TYPE_CHECKING:
    from collections.abc import Callable

    from omv_pipelines.sources.base import Harvest


@dataclass(frozen=True)
class Kind:
    config: type[BaseModel]  # its `kind` field is a Literal of the kind's name, the union's discriminator
    harvest: str  # "module:function", imported when a source of this kind is read

    def harvest_function(self) -> Callable[..., Harvest]:
        module, _, name = self.harvest.partition(":")
        return getattr(import_module(module), name)


KINDS: dict[str, Kind] = {
    "sql": Kind(SqlSource, "omv_pipelines.sources.sql.harvest:harvest_source"),
    "spreadsheet": Kind(SpreadsheetSource, "omv_pipelines.sources.spreadsheet.harvest:harvest_spreadsheet"),
    "wfs": Kind(WfsSource, "omv_pipelines.sources.wfs.harvest:harvest_wfs"),
}

# The `source:` of a catalogue dataset: one of the kinds' configurations, told apart by `kind`. Built at
# run time from KINDS, so a type checker sees any configuration.
if TYPE_CHECKING:
    Source = Any
else:
    Source = Annotated[Union[tuple(k.config for k in KINDS.values())], Field(discriminator="kind")]  # noqa: UP007


def known_kinds() -> str:
    """The kind names as a person reads them: 'sql, spreadsheet or wfs'."""
    names = list(KINDS)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
