"""Registry of the thematic datasets and their Table Schemas, keyed by "theme/dataset".

The schema files are the registry: every `schemas/<theme>/<dataset>.schema.json` declares itself in its
`omv` block (theme, dataset, French title). Adding a dataset is adding its schema file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

# The programme's three themes, in the order they are shown, with their French names.
THEMES = {
    "mobility": "Mobilité",
    "resilience": "Ville résiliente",
    "participation": "Participation citoyenne",
}


def _discover() -> dict[str, dict[str, Any]]:
    """Every shipped schema file, keyed "theme/dataset", checked against its own place in the tree."""
    found: dict[str, dict[str, Any]] = {}
    root = resources.files(__name__)
    for theme in THEMES:
        for entry in sorted(root.joinpath(theme).iterdir(), key=lambda e: e.name):
            if not entry.name.endswith(".schema.json"):
                continue
            descriptor = json.loads(entry.read_text("utf-8"))
            omv = descriptor.get("omv", {})
            key = f"{omv.get('theme')}/{omv.get('dataset')}"
            if key != f"{theme}/{entry.name.removesuffix('.schema.json')}" or not omv.get("title"):
                raise ValueError(
                    f"schema file {theme}/{entry.name}: its 'omv' block must say theme {theme!r}, "
                    "the file's dataset name and a title"
                )
            found[key] = descriptor
    return found


_DESCRIPTORS = _discover()
# "theme/dataset" → human title (French, as shown to communes and on ODWB).
DATASETS: dict[str, str] = {key: d["omv"]["title"] for key, d in _DESCRIPTORS.items()}


class UnknownDataset(KeyError):
    def __str__(self) -> str:
        return f"unknown dataset {self.args[0]!r}; known datasets: {', '.join(sorted(DATASETS))}"


@dataclass(frozen=True)
class DatasetSchema:
    """A dataset's Table Schema with the shortcuts the mapping engine and publishers need."""

    key: str  # "theme/dataset"
    title: str
    descriptor: dict[str, Any]

    @property
    def theme(self) -> str:
        return self.key.split("/")[0]

    @property
    def name(self) -> str:
        return self.key.split("/")[1]

    @property
    def fields(self) -> list[dict[str, Any]]:
        return self.descriptor["fields"]

    @property
    def field_names(self) -> list[str]:
        return [f["name"] for f in self.fields]

    @property
    def primary_key(self) -> str | None:
        pk = self.descriptor.get("primaryKey")
        return pk[0] if isinstance(pk, list) else pk

    @property
    def standard(self) -> dict[str, Any] | None:
        """Attribution to the standard this schema follows (None for the project's own schemas)."""
        return self.descriptor.get("standard")


@cache
def get_schema(key: str) -> DatasetSchema:
    if key not in DATASETS:
        raise UnknownDataset(key)
    return DatasetSchema(key=key, title=DATASETS[key], descriptor=_DESCRIPTORS[key])
