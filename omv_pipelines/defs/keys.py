"""The asset keys of each dataset, and the way back from a key to its dataset.

raw/<theme>/<dataset>          harvested, source-shaped (per commune)
<theme>/<dataset>              the shared schema, valid rows only (per commune)
quarantine/<theme>/<dataset>   rejected rows and warnings, with reasons (per commune)
odwb/<theme>/<dataset>         the publication (per commune)
regional/<theme>/<dataset>     all communes together, published too
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
            raw=dg.AssetKey(["raw", theme, name]),
            table=dg.AssetKey([theme, name]),
            quarantine=dg.AssetKey(["quarantine", theme, name]),
            odwb=dg.AssetKey(["odwb", theme, name]),
            regional=dg.AssetKey(["regional", theme, name]),
        )

    @property
    def commune_keys(self) -> list[dg.AssetKey]:
        """What a commune's run materialises for this dataset (everything but the regional table)."""
        return [self.raw, self.table, self.quarantine, self.odwb]


def all_dataset_keys() -> list[DatasetKeys]:
    return [DatasetKeys.of(dataset) for dataset in DATASETS]


@cache
def _dataset_by_key() -> dict[dg.AssetKey, str]:
    return {key: keys.dataset for keys in all_dataset_keys() for key in (*keys.commune_keys, keys.regional)}


def dataset_of(key: dg.AssetKey) -> str | None:
    """The dataset ("theme/dataset") an asset key belongs to, or None for a key that is not ours."""
    return _dataset_by_key().get(key)
