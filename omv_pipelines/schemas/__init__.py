"""Registry of the thematic datasets and their Table Schemas, keyed by "theme/dataset".

Adding a dataset is a schema file under `schemas/<theme>/<dataset>.schema.json` plus one line below.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

THEMES = {
    "mobility": "Mobilité",
    "resilience": "Ville résiliente",
    "participation": "Participation citoyenne",
}

# "theme/dataset" → human title (French, as shown to communes and on ODWB).
DATASETS: dict[str, str] = {
    "mobility/stationnements_velos": "Stationnements vélos",
    "mobility/emplacements_pmr": "Emplacements de stationnement PMR",
    "mobility/travaux_voiries": "Travaux de voiries",
    "resilience/defibrillateurs": "Défibrillateurs",
    "resilience/equipements_collectifs": "Équipements collectifs",
    "participation/processus_participatifs": "Processus participatifs",
    "participation/projets_budget_participatif": "Projets de budget participatif",
}


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

    def field(self, name: str) -> dict[str, Any]:
        for f in self.fields:
            if f["name"] == name:
                return f
        raise KeyError(name)


@lru_cache(maxsize=None)
def get_schema(key: str) -> DatasetSchema:
    if key not in DATASETS:
        raise UnknownDataset(key)
    theme, name = key.split("/")
    text = resources.files(__name__).joinpath(theme, f"{name}.schema.json").read_text("utf-8")
    return DatasetSchema(key=key, title=DATASETS[key], descriptor=json.loads(text))
