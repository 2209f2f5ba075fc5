"""Record ids: '<ins_code>-<local number>', from the mapping's id template, the source's id or the row.

Apart because the id is needed before any check runs (every problem names its record) and its template
language (`{column}` parts, `{ins_code}`) is a small grammar of its own.
"""

from __future__ import annotations

import string

import pandas as pd

from omv_pipelines.catalog.communes import Commune
from omv_pipelines.normalise import cast
from omv_pipelines.normalise.columns import ColumnResolver
from omv_pipelines.normalise.config import Mapping
from omv_pipelines.sources.base import SOURCE_ROW


def record_ids(
    raw, resolver: ColumnResolver, mapping: Mapping, commune: Commune, id_field: str | None
) -> pd.Series:
    """'<ins_code>-<local number>' from the id template, the source's id column, or the row number."""
    prefix = commune.ins_code + "-"
    if mapping.id:
        local = pd.Series("", index=raw.index, dtype="string")
        missing = pd.Series(False, index=raw.index)
        for literal, column, _, _ in string.Formatter().parse(mapping.id):
            local = local + literal
            if column is None:
                continue
            if column == "ins_code":
                part = pd.Series(commune.ins_code, index=raw.index, dtype="string")
            else:
                part = cast.as_text(
                    resolver.take(resolver.source_column(column, id_field or "id"), id_field or "id")
                )
            missing |= part.isna()
            local = local + part.fillna("")
        ids = local.where(~missing)
        has_prefix = "{ins_code}" in mapping.id
    elif id_field and resolver.find(id_field) is not None:
        ids = cast.as_text(resolver.series(id_field))
        has_prefix = False
    else:
        ids = raw[SOURCE_ROW].astype("string")
        has_prefix = False
    if not has_prefix:
        # An id that already carries an INS code keeps it: another commune's code is then reported
        # (id_prefix) instead of being hidden behind ours.
        ids = ids.where(ids.str.match(r"\d{5}-").fillna(False), prefix + ids)
    return ids
