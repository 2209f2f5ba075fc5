"""The problem table a normalisation hands back: its columns, its bilingual messages, how it is collected.

Kept apart from the checks so that every check (typing, geometry, constraints) writes problems the same
way, and the report's columns are defined in one place.
"""

from __future__ import annotations

import pandas as pd

from omv_pipelines.sources.base import SOURCE_ID, SOURCE_ROW

PROBLEM_COLUMNS = [
    "source_id",
    "source_row",
    "record_id",
    "field",
    "severity",
    "error_type",
    "message",
    "raw_value",
]


def bilingual(french, english):
    """A report message: French first (the data officers' language), then the English after ' — '.
    Either part may be a Series (one text per row) or a str."""
    return french + " — " + english


class Problems:
    """Collects problem masks per field, then builds the long table in one go."""

    def __init__(self, raw: pd.DataFrame, record_ids: pd.Series):
        self.raw = raw
        self.record_ids = record_ids
        self.parts: list[pd.DataFrame] = []

    def add(self, mask: pd.Series, field_name: str, error_type: str, message, raw_value, severity="error"):
        mask = mask.fillna(False).astype(bool)
        if not mask.any():
            return
        index = mask[mask].index

        def pick(value):
            return (
                value.loc[index].astype("string")
                if isinstance(value, pd.Series)
                else pd.Series(value, index=index, dtype="string")
            )

        self.parts.append(
            pd.DataFrame(
                {
                    "source_id": self.raw.loc[index, SOURCE_ID].astype("string"),
                    "source_row": self.raw.loc[index, SOURCE_ROW].astype("string"),
                    "record_id": self.record_ids.loc[index].astype("string"),
                    "field": field_name,
                    "severity": severity,
                    "error_type": error_type,
                    "message": pick(message),
                    "raw_value": pick(raw_value),
                },
                index=index,
            )
        )

    def table(self, severity: str) -> pd.DataFrame:
        parts = [p for p in self.parts if (p["severity"] == severity).all()]
        if not parts:
            return pd.DataFrame({c: pd.Series(dtype="string") for c in PROBLEM_COLUMNS})
        return pd.concat(parts).astype("string")[PROBLEM_COLUMNS]
