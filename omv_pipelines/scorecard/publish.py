"""The scorecard as open data: `wallonie-ouvrir-ma-ville-tableau-de-bord`, one row per commune × dataset,
in its own Table Schema (`tableau_de_bord.schema.json`), through the same targets as every dataset."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import pandas as pd

from omv_pipelines.publish.metadata import LANGUAGE
from omv_pipelines.publish.targets import Publication, Target
from omv_pipelines.region import TIMEZONE
from omv_pipelines.schemas import THEMES, DatasetSchema
from omv_pipelines.scorecard.model import STATE_LABELS, Scorecard

SCORECARD_DATASET_ID = "wallonie-ouvrir-ma-ville-tableau-de-bord"
SCHEMA_FILE = "tableau_de_bord.schema.json"
PUBLISHER = "Ouvrir ma ville — communes wallonnes"


@cache
def scorecard_schema() -> DatasetSchema:
    descriptor = json.loads(resources.files(__package__).joinpath(SCHEMA_FILE).read_text("utf-8"))
    omv = descriptor["omv"]
    return DatasetSchema(key=f"{omv['theme']}/{omv['dataset']}", title=omv["title"], descriptor=descriptor)


def scorecard_table(scorecard: Scorecard) -> pd.DataFrame:
    """The per commune × dataset table in the schema's columns and order."""
    d = scorecard.datasets
    communes = scorecard.communes.set_index("ins_code")
    table = pd.DataFrame(
        {
            "id": d["ins_code"] + "-" + d["dataset"].str.split("/").str[1],
            "ins_code": d["ins_code"],
            "municipality": d["municipality"],
            "theme": d["theme"].map(THEMES),
            "dataset": d["dataset"],
            "dataset_title": d["dataset_title"],
            "dataset_id": d["dataset_id"].replace("", pd.NA),
            "provided": d["provided"],
            "state": d["state"].map(STATE_LABELS),
            "source_kind": d["source_kind"].replace("", pd.NA),
            "rows_online": d["rows_online"],
            "rows_rejected": d["rows_rejected"],
            "top_reasons": d["top_reasons"].replace("", pd.NA),
            "completeness": d["completeness"],
            "points_outside_commune": d["points_outside_commune"],
            "last_success": d["last_success"],
            "days_since_success": d["days_since_success"],
            "dataset_score": d["score"],
            "datasets_provided": d["ins_code"].map(communes["datasets_provided"]),
            "commune_score": d["ins_code"].map(communes["score"]),
            "scorecard_date": pd.Timestamp(scorecard.now.date()),
        }
    )
    return table[scorecard_schema().field_names].reset_index(drop=True)


def scorecard_metadata(scorecard: Scorecard) -> dict[str, object]:
    schema = scorecard_schema()
    return {
        "title": schema.title,
        "description": schema.descriptor["description"]
        + " Formule du score : voir la description du champ dataset_score.",
        "keyword": ["ouvrir ma ville", "tableau de bord", "qualité des données", "wallonie"],
        "publisher": PUBLISHER,
        "language": LANGUAGE,
        "timezone": TIMEZONE,
        "communes": int(len(scorecard.communes)),
        "scorecard_built_at": scorecard.now.isoformat(timespec="seconds"),
    }


def publish_scorecard(target: Target, scorecard: Scorecard) -> Publication:
    """Publish the scorecard with `target` (ExportTarget or OdwbTarget), like any dataset."""
    return target.publish(
        scorecard_table(scorecard),
        scorecard_schema(),
        dataset_id=SCORECARD_DATASET_ID,
        metadata=scorecard_metadata(scorecard),
    )
