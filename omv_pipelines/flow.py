"""The programme's flow for one commune and one dataset, free of Dagster: harvest → normalise → publish.

Dagster assets and the `omv` command line both call these functions, so a preview run behaves exactly
like a scheduled one. Errors carry the commune, the dataset and the source, and say what to do.
Publishing is a target's job (`publish/targets.py`); this module only builds what it is given
(the table, the dataset id, the metadata).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from omv_pipelines.catalog.loader import CatalogEntry
from omv_pipelines.errors import OmvError
from omv_pipelines.normalise import MappingError, NormaliseResult, normalise
from omv_pipelines.publish.metadata import dataset_metadata
from omv_pipelines.schemas import DatasetSchema, get_schema
from omv_pipelines.sources import Harvest, SourceError, harvest

REGIONAL_AREA = "Wallonie"
REGIONAL_DATASET_ID = "wallonie-{dataset}"


class FlowError(OmvError, RuntimeError):
    """A step failed for one commune and dataset; the message names both and says what to do.

    Not retryable: sources already retried transient errors with backoff, so what reaches here needs
    a person (a wrong URL, a mapping typo, a server that keeps refusing).
    """

    def __init__(self, ins_code: str, commune: str, dataset: str, message: str):
        self.ins_code, self.commune, self.dataset = ins_code, commune, dataset
        super().__init__(
            f"{commune} ({ins_code}) — {dataset}: {message}",
            commune=commune,
            ins_code=ins_code,
            dataset=dataset,
        )


@dataclass
class Harvested:
    frame: pd.DataFrame
    harvests: list[Harvest] = field(default_factory=list)
    duration_s: float = 0.0


def source_id(ins_code: str, dataset_key: str, index: int, kind: str) -> str:
    return f"{ins_code}/{dataset_key}#{index + 1}({kind})"


def harvest_dataset(
    entry: CatalogEntry, dataset_key: str, *, state_dir: Path | None = None, full_refresh: bool = False
) -> Harvested:
    """Read every source of the dataset and stack them (sources share the mapping).

    `state_dir` is where sources remember what they read last time (incremental SQL, unchanged
    spreadsheet URLs); `full_refresh` makes incremental sources read everything again.
    """
    config = entry.config
    started = time.perf_counter()
    harvests = []
    for index, source in enumerate(config.datasets[dataset_key].sources):
        sid = source_id(config.ins_code, dataset_key, index, source.kind)
        try:
            harvests.append(
                harvest(
                    source,
                    source_id=sid,
                    base_dir=entry.base_dir,
                    state_dir=state_dir,
                    full_refresh=full_refresh,
                )
            )
        except SourceError as exc:
            raise FlowError(config.ins_code, config.commune.name, dataset_key, str(exc)) from exc
    frame = (
        pd.concat([h.frame for h in harvests], ignore_index=True) if len(harvests) > 1 else harvests[0].frame
    )
    return Harvested(frame=frame, harvests=harvests, duration_s=time.perf_counter() - started)


def normalise_dataset(entry: CatalogEntry, dataset_key: str, raw: pd.DataFrame) -> NormaliseResult:
    config = entry.config
    try:
        return normalise(
            raw,
            get_schema(dataset_key),
            config.datasets[dataset_key].mapping,
            config.commune,
            bbox=config.bbox,
        )
    except MappingError as exc:
        raise FlowError(
            config.ins_code,
            config.commune.name,
            dataset_key,
            f"{exc} — fix the mapping in {entry.path.name}",
        ) from exc


def report_table(result: NormaliseResult) -> pd.DataFrame:
    """Errors (rows rejected) then warnings (rows kept), for the commune to act on."""
    report = pd.concat([result.rejected, result.warnings], ignore_index=True)
    order = pd.to_numeric(report["source_row"], errors="coerce")
    return (
        report.assign(_order=order)
        .sort_values(["source_id", "_order", "severity"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def commune_metadata(entry: CatalogEntry, schema: DatasetSchema) -> dict[str, object]:
    config = entry.config
    contact = config.contact
    return dataset_metadata(
        schema,
        publisher=config.publisher,
        area=config.commune.name,
        contact_name=contact.name if contact else None,
        contact_email=contact.email if contact else None,
    )


def regional_metadata(schema: DatasetSchema) -> dict[str, object]:
    return dataset_metadata(schema, publisher="Ouvrir ma ville — communes wallonnes", area=REGIONAL_AREA)


def regional_dataset_id(dataset_key: str) -> str:
    return REGIONAL_DATASET_ID.format(dataset=dataset_key.split("/")[1].replace("_", "-"))


def consolidate(tables: dict[str, pd.DataFrame], schema: DatasetSchema) -> pd.DataFrame:
    """All communes' tables in one (for the regional dataset: each one's last good publication), in INS code
    order, with the schema's columns."""
    frames = [tables[code] for code in sorted(tables) if not tables[code].empty]
    if not frames:
        return pd.DataFrame({name: pd.Series(dtype="string") for name in schema.field_names})
    return pd.concat(frames, ignore_index=True)[schema.field_names]
