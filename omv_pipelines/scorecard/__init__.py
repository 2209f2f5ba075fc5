"""The programme's scorecard (issue #14): per commune × dataset state, quality and freshness, and one
score per commune. Dagster-free; `omv_pipelines.report` renders it as a static HTML report."""

from omv_pipelines.scorecard.files import from_export_folder
from omv_pipelines.scorecard.model import (
    STATE_LABELS,
    STATES,
    DatasetState,
    Scorecard,
    build_scorecard,
    dataset_score,
    freshness,
    rejects_from_report,
)
from omv_pipelines.scorecard.publish import (
    SCORECARD_DATASET_ID,
    publish_scorecard,
    scorecard_schema,
    scorecard_table,
)

__all__ = [
    "SCORECARD_DATASET_ID",
    "STATES",
    "STATE_LABELS",
    "DatasetState",
    "Scorecard",
    "build_scorecard",
    "dataset_score",
    "freshness",
    "from_export_folder",
    "publish_scorecard",
    "rejects_from_report",
    "scorecard_schema",
    "scorecard_table",
]
