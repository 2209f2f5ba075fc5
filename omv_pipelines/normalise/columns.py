"""Which source column feeds each schema field: names matched loosely, the mapping obeyed, the rest noted.

One resolver per normalisation, so that every field (typed, geometry or id) is looked up by the same rule
and the result can say which columns were used and which the schema does not know.
"""

from __future__ import annotations

import re

import pandas as pd

from omv_pipelines.errors import OmvError
from omv_pipelines.normalise import cast
from omv_pipelines.normalise.config import Mapping
from omv_pipelines.schemas import DatasetSchema
from omv_pipelines.sources.base import GEOMETRY, PROVENANCE_COLUMNS


class MappingError(OmvError, ValueError):
    """The mapping cannot be applied to this source at all (e.g. a mapped column does not exist)."""


def column_key(name: str) -> str:
    """Column names are matched ignoring case, accents, spaces and punctuation ('N° police' ~ 'n_police')."""
    return re.sub(r"[^a-z0-9]", "", cast.fold_one(name))


class ColumnResolver:
    """Finds the source column for each schema field and remembers which ones were used."""

    def __init__(self, raw: pd.DataFrame, schema: DatasetSchema, mapping: Mapping):
        self.raw = raw
        self.mapping = mapping
        self.by_key: dict[str, str] = {}
        for column in raw.columns:
            if column not in PROVENANCE_COLUMNS:
                self.by_key.setdefault(column_key(str(column)), column)
        self.used: dict[str, str] = {}
        self.consumed: set[str] = set()
        unknown_fields = set(mapping.columns) - set(schema.field_names)
        if unknown_fields:
            raise MappingError(
                f"mapping.columns names field(s) not in the schema {schema.key}: "
                f"{', '.join(sorted(unknown_fields))}; "
                f"fields are: {', '.join(schema.field_names)}"
            )
        for field_name in mapping.columns:
            self.source_column(mapping.columns[field_name], field_name)  # fail early on a missing column

    def source_column(self, name: str, for_field: str) -> str:
        if name in self.raw.columns:
            return name
        found = self.by_key.get(column_key(name))
        if found is None:
            available = ", ".join(str(c) for c in self.raw.columns if c not in PROVENANCE_COLUMNS)
            raise MappingError(
                f"field {for_field!r} is mapped to column {name!r}, which the source does not have; "
                f"its columns are: {available}"
            )
        return found

    def take(self, column: str, for_field: str) -> pd.Series:
        self.used[for_field] = column
        self.consumed.add(column)
        return self.raw[column]

    def find(self, field_name: str) -> str | None:
        if field_name in self.mapping.columns:
            return self.source_column(self.mapping.columns[field_name], field_name)
        return self.by_key.get(column_key(field_name))

    def series(self, field_name: str) -> pd.Series:
        if field_name in self.mapping.constants:
            return pd.Series(self.mapping.constants[field_name], index=self.raw.index)
        column = self.find(field_name)
        if column is None:
            return pd.Series(pd.NA, index=self.raw.index, dtype="string")
        return self.take(column, field_name)

    def constant_or(self, field_name: str, default: str) -> pd.Series:
        """Commune fields: the source's values when it has them (then checked), else the commune's."""
        if field_name not in self.mapping.constants and self.find(field_name) is not None:
            values = cast.as_text(self.series(field_name))
            return values.fillna(default)
        return pd.Series(
            self.mapping.constants.get(field_name, default), index=self.raw.index, dtype="string"
        )

    def unused(self) -> list[str]:
        ignored = {GEOMETRY}
        return [
            str(c)
            for c in self.raw.columns
            if c not in PROVENANCE_COLUMNS and c not in self.consumed and c not in ignored
        ]


def apply_vocabulary(values: pd.Series, vocabulary: dict) -> pd.Series:
    """Replace listed source values (matched ignoring case and accents); others are kept as they are."""
    by_key = {cast.fold_one(k): v for k, v in vocabulary.items()}
    text = cast.as_text(values)
    replaced = cast.fold(text).map(by_key)
    return replaced.where(replaced.notna(), text).astype("string") if replaced.notna().any() else text
