"""The asset keys of each dataset, and the way back from a key to its dataset.

raw/<theme>/<dataset>_raw                   harvested, source-shaped (per commune)
<theme>/<dataset>                           the shared schema, valid rows only (per commune)
quarantine/<theme>/<dataset>_quarantine     rejected rows and warnings, with reasons (per commune)
odwb/<theme>/<dataset>_publication          the publication (per commune)
regional/<theme>/<dataset>_regional         all communes together, published too

The asset graph labels a node with its key's last component: each of the five says what it is without
hovering (`defibrillateurs_raw`, `defibrillateurs`, `defibrillateurs_quarantine`, …).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import dagster as dg

from omv_pipelines.schemas import DATASETS


@dataclass(frozen=True)
class DatasetKeys:
    """The five asset keys of one dataset ("theme/dataset")."""

    dataset: str
    raw: dg.AssetKey
    table: dg.AssetKey
    quarantine: dg.AssetKey
    odwb: dg.AssetKey
    regional: dg.AssetKey

    @staticmethod
    @cache
    def of(dataset: str) -> DatasetKeys:
        theme, name = dataset.split("/")
        return DatasetKeys(
            dataset=dataset,
            raw=dg.AssetKey(["raw", theme, f"{name}_raw"]),
            table=dg.AssetKey([theme, name]),
            quarantine=dg.AssetKey(["quarantine", theme, f"{name}_quarantine"]),
            odwb=dg.AssetKey(["odwb", theme, f"{name}_publication"]),
            regional=dg.AssetKey(["regional", theme, f"{name}_regional"]),
        )

    @property
    def commune_keys(self) -> list[dg.AssetKey]:
        """What a commune's run materialises for this dataset (everything but the regional table)."""
        return [self.raw, self.table, self.quarantine, self.odwb]


def all_commune_keys() -> list[dg.AssetKey]:
    """Every asset a commune's run materialises: all datasets' (those it does not provide too, as empty
    'not provided' materialisations; see assets.py)."""
    return [key for keys in all_dataset_keys() for key in keys.commune_keys]


def all_dataset_keys() -> list[DatasetKeys]:
    return [DatasetKeys.of(dataset) for dataset in DATASETS]


@cache
def _dataset_by_key() -> dict[dg.AssetKey, str]:
    return {key: keys.dataset for keys in all_dataset_keys() for key in (*keys.commune_keys, keys.regional)}


def dataset_of(key: dg.AssetKey) -> str | None:
    """The dataset ("theme/dataset") an asset key belongs to, or None for a key that is not ours."""
    return _dataset_by_key().get(key)
