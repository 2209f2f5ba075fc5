"""The programme's scorecard: per commune × dataset what is online, how good and how fresh; per commune
its coverage and one quality score. Free of Dagster: the inputs are `DatasetState`s, built from the
export folder (`scorecard.files`) or, in the Dagster asset, from the run and asset records.

The score (README, "Scorecard and report"), for a dataset a commune provides:

    validity     = rows online / (rows online + rows rejected)            (0 when nothing is online)
    completeness = share of the schema's optional fields filled in the rows online   (0 when none)
    freshness    = 1 up to FRESH_DAYS after the last successful publication, then linearly down
                   to 0 at STALE_DAYS (0 when never published)
    dataset score = 100 × (0.5 × validity + 0.25 × completeness + 0.25 × freshness)

and the commune's score is the mean of its provided datasets' scores. Each term only grows with more
valid rows, fewer rejected ones, more optional fields filled and a more recent publication, so the score
does too. Coverage (datasets provided out of 7) is kept apart: the score says how good, not how much.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from omv_pipelines.catalog.communes import all_communes
from omv_pipelines.schemas import DATASETS, get_schema

STATES = ("published", "unchanged", "blocked", "failed", "not_published", "not_provided")
# What each state means, in French, for the report and the published schema.
STATE_LABELS = {
    "published": "publié",
    "unchanged": "inchangé",
    "blocked": "bloqué",
    "failed": "en échec",
    "not_published": "jamais publié",
    "not_provided": "non fourni",
}
FRESH_DAYS = 2.0
STALE_DAYS = 30.0
WEIGHTS = {"validity": 0.5, "completeness": 0.25, "freshness": 0.25}
TOP_REASONS = 3

DATASET_COLUMNS = [
    "ins_code",
    "municipality",
    "dataset",
    "dataset_title",
    "theme",
    "dataset_id",
    "provided",
    "state",
    "source_kind",
    "rows_online",
    "rows_rejected",
    "top_reasons",
    "completeness",
    "emptiest_fields",
    "points_outside_commune",
    "last_success",
    "days_since_success",
    "score",
]
COMMUNE_COLUMNS = [
    "ins_code",
    "municipality",
    "datasets_provided",
    "datasets_total",
    "coverage",
    "datasets_online",
    "datasets_blocked",
    "datasets_failed",
    "rows_online",
    "rows_rejected",
    "points_outside_commune",
    "completeness",
    "oldest_success_days",
    "score",
]


@dataclass
class DatasetState:
    """One commune's dataset as the last night left it: the scorecard's only input."""

    ins_code: str
    dataset: str  # "theme/dataset"
    provided: bool
    state: str  # one of STATES
    rows_online: int = 0
    rows_rejected: int = 0  # source rows rejected by the last validation
    rejected_reasons: dict[str, int] = field(default_factory=dict)  # error_type → problems
    published: pd.DataFrame | None = None  # the table online (schema columns), for completeness and points
    quarantine: pd.DataFrame | None = None  # the validation report: errors and warnings, PROBLEM_COLUMNS
    last_success: datetime | None = None  # last time the target confirmed this table online (tz-aware)
    source_kind: str | None = None  # sql, spreadsheet, wfs (several: "sql+wfs")
    dataset_id: str | None = None  # the published dataset's id (file name in the export folder)

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"state {self.state!r} is not one of {', '.join(STATES)}")
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}")


@dataclass
class Scorecard:
    datasets: pd.DataFrame  # one row per commune × dataset (DATASET_COLUMNS)
    communes: pd.DataFrame  # one row per commune (COMMUNE_COLUMNS)
    states: list[DatasetState]
    now: datetime

    def __post_init__(self) -> None:
        self._by_key = {(s.ins_code, s.dataset): s for s in self.states}

    def state(self, ins_code: str, dataset: str) -> DatasetState | None:
        return self._by_key.get((ins_code, dataset))

    @cached_property
    def published_rows(self) -> dict[str, Stacked]:
        """Per dataset, the tables online of every commune stacked once (for fill rates and maps)."""
        return {
            dataset: stacked
            for dataset in DATASETS
            if (stacked := Stacked.of([s for s in self.states if s.dataset == dataset], "published"))
        }

    @cached_property
    def problems(self) -> Stacked | None:
        """Every validation report stacked once, in the states' order (commune, dataset)."""
        return Stacked.of(self.states, "quarantine")


@dataclass(frozen=True)
class Stacked:
    """Tables of several states one under the other: `frame` and, per row, the index of its state in
    `states` (`owner`); `start`/`stop` give each state's slice. One pandas operation then serves all
    communes, where one per commune × dataset costs milliseconds each."""

    frame: pd.DataFrame
    states: list[DatasetState]
    owner: np.ndarray
    start: np.ndarray
    stop: np.ndarray

    @classmethod
    def of(cls, states: list[DatasetState], attribute: str) -> Stacked | None:
        kept = []
        for state in states:
            table = getattr(state, attribute)
            if table is not None and len(table) and (attribute != "published" or state.rows_online):
                kept.append((state, table))
        if not kept:
            return None
        lengths = np.array([len(table) for _, table in kept])
        stop = np.cumsum(lengths)
        frame = pd.concat([table for _, table in kept], ignore_index=True)
        owner = np.repeat(np.arange(len(kept)), lengths)
        return cls(frame, [state for state, _ in kept], owner, stop - lengths, stop)

    def text(self, column: str) -> np.ndarray:
        """A column as an object array of str ("" when missing or absent)."""
        if column not in self.frame.columns:
            return np.full(len(self.frame), "", dtype=object)
        return self.frame[column].astype("string").fillna("").to_numpy(dtype=object)

    def filled(self, column: str) -> np.ndarray:
        """Per row: is the cell non-empty (a missing column counts as empty)."""
        if column not in self.frame.columns:
            return np.zeros(len(self.frame), dtype=bool)
        values = self.frame[column]
        present = values.notna().to_numpy(dtype=bool, copy=True)
        if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
            present &= (values.astype("string").fillna("") != "").to_numpy(dtype=bool)
        return present

    def per_state_sum(self, values: np.ndarray) -> np.ndarray:
        """Sum of `values` (rows × …) per state, in `states`' order."""
        return np.add.reduceat(values, self.start, axis=0)


def rejects_from_report(report: pd.DataFrame | None) -> tuple[int, dict[str, int]]:
    """Source rows rejected and problems per error type, from a validation report (errors only)."""
    if report is None or report.empty or "severity" not in report.columns:
        return 0, {}
    errors = report[report["severity"].astype("string") == "error"]
    rows = int(errors[["source_id", "source_row"]].drop_duplicates().shape[0])
    reasons = Counter(errors["error_type"].astype("string").fillna("?"))
    return rows, dict(reasons.most_common())


def optional_fields(dataset: str) -> list[str]:
    """The schema's fields not marked required: the recommended ones, whose filling is measured."""
    return [
        f["name"] for f in get_schema(dataset).fields if not f.get("constraints", {}).get("required", False)
    ]


def fill_rates(table: pd.DataFrame | None, fields: list[str]) -> pd.Series:
    """Share of rows with a non-empty value, per field (a field missing from the table counts as empty).

    One numpy pass over the whole block of cells: per-column pandas calls cost ~3 ms each, which over
    261 communes × 7 datasets × 30 fields is most of the budget."""
    if table is None or table.empty or not fields:
        return pd.Series(0.0, index=fields, dtype="float64")
    rates = np.zeros(len(fields))
    for i, name in enumerate(fields):
        if name in table.columns:
            cells = table[name].to_numpy(dtype=object, na_value="")
            rates[i] = np.count_nonzero(cells != "") / len(cells)
    return pd.Series(rates, index=fields, dtype="float64")


def freshness(days: float | None) -> float:
    if days is None or np.isnan(days):
        return 0.0
    return float(min(1.0, max(0.0, 1 - (days - FRESH_DAYS) / (STALE_DAYS - FRESH_DAYS))))


def dataset_score(rows_online: int, rows_rejected: int, completeness: float, days: float | None) -> float:
    """0–100; see the module docstring (and the README) for the formula."""
    if rows_online <= 0:
        return 0.0
    validity = rows_online / (rows_online + max(rows_rejected, 0))
    value = (
        WEIGHTS["validity"] * validity
        + WEIGHTS["completeness"] * min(max(completeness, 0.0), 1.0)
        + WEIGHTS["freshness"] * freshness(days)
    )
    return round(100 * value, 1)


def _commune_name(ins_code: str) -> str:
    commune = all_communes().get(ins_code)
    return commune.name if commune else ins_code


def _fill_rates(card: Scorecard, dataset: str, fields: list[str]) -> dict[int, np.ndarray]:
    """id(state) → fill rate of each of `fields`, for the states of `dataset` with rows online."""
    stacked = card.published_rows.get(dataset)
    if stacked is None or not fields:
        return {}
    filled = np.column_stack([stacked.filled(name) for name in fields])
    lengths = (stacked.stop - stacked.start)[:, None]
    rates = stacked.per_state_sum(filled.astype("int64")) / lengths
    return {id(state): rates[i] for i, state in enumerate(stacked.states)}


def _outside_counts(card: Scorecard) -> dict[int, int]:
    """id(state) → problems of type outside_commune in its validation report."""
    stacked = card.problems
    if stacked is None:
        return {}
    outside = (stacked.text("error_type") == "outside_commune").astype("int64")
    counts = stacked.per_state_sum(outside)
    return {id(state): int(counts[i]) for i, state in enumerate(stacked.states)}


def _emptiest(fields: list[str], rates: np.ndarray) -> str:
    below = np.flatnonzero(rates < 1)
    lowest = below[np.argsort(rates[below], kind="stable")][:TOP_REASONS]
    return "; ".join(f"{fields[i]} ({rates[i]:.0%})" for i in lowest)


def _dataset_row(
    state: DatasetState, now: datetime, rates: dict[int, np.ndarray], outside: dict[int, int]
) -> dict[str, Any]:
    schema = get_schema(state.dataset)
    days = None
    if state.last_success is not None:
        days = round((now - state.last_success).total_seconds() / 86400, 2)
    completeness = float("nan")
    emptiest = ""
    if state.provided:
        optional = optional_fields(state.dataset)
        filled = rates.get(id(state), np.zeros(len(optional)))
        completeness = round(float(filled.mean()), 3) if len(optional) else 1.0
        if state.rows_online:
            emptiest = _emptiest(optional, filled)
    reasons = sorted(state.rejected_reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_REASONS]
    return {
        "ins_code": state.ins_code,
        "municipality": _commune_name(state.ins_code),
        "dataset": state.dataset,
        "dataset_title": schema.title,
        "theme": schema.theme,
        "dataset_id": state.dataset_id or "",
        "provided": state.provided,
        "state": state.state,
        "source_kind": state.source_kind or "",
        "rows_online": int(state.rows_online),
        "rows_rejected": int(state.rows_rejected),
        "top_reasons": "; ".join(f"{kind} ({count})" for kind, count in reasons),
        "completeness": completeness,
        "emptiest_fields": emptiest,
        "points_outside_commune": outside.get(id(state), 0),
        "last_success": pd.Timestamp(state.last_success) if state.last_success else pd.NaT,
        "days_since_success": float("nan") if days is None else days,
        "score": (
            dataset_score(state.rows_online, state.rows_rejected, completeness, days)
            if state.provided
            else float("nan")
        ),
    }


def build_scorecard(states: list[DatasetState], now: datetime) -> Scorecard:
    """The two tables from the states; `now` (tz-aware) is when freshness is measured.

    The tables online and the validation reports are stacked once per dataset (`Scorecard.published_rows`,
    `Scorecard.problems`, reused by the report), so fill rates and outside points are a few numpy
    operations for all communes rather than pandas calls per commune × dataset."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (e.g. datetime.now(timezone.utc))")
    order = {key: i for i, key in enumerate(DATASETS)}
    states = sorted(states, key=lambda s: (s.ins_code, order[s.dataset]))
    card = Scorecard(
        pd.DataFrame(columns=DATASET_COLUMNS), pd.DataFrame(columns=COMMUNE_COLUMNS), states, now
    )
    rates: dict[int, np.ndarray] = {}
    for dataset in DATASETS:
        rates |= _fill_rates(card, dataset, optional_fields(dataset))
    outside = _outside_counts(card)
    datasets = pd.DataFrame([_dataset_row(s, now, rates, outside) for s in states], columns=DATASET_COLUMNS)
    datasets["last_success"] = pd.to_datetime(datasets["last_success"], utc=True)
    for column in ("rows_online", "rows_rejected", "points_outside_commune"):
        datasets[column] = datasets[column].astype("int64")
    for column in ("completeness", "days_since_success", "score"):
        datasets[column] = datasets[column].astype("float64")
    datasets["provided"] = datasets["provided"].astype(bool)
    card.datasets, card.communes = datasets, _communes(datasets)
    return card


def _communes(datasets: pd.DataFrame) -> pd.DataFrame:
    if datasets.empty:
        return pd.DataFrame(columns=COMMUNE_COLUMNS)
    provided = datasets[datasets["provided"]]
    grouped = provided.groupby("ins_code", sort=True)
    names = datasets.groupby("ins_code", sort=True)["municipality"].first()
    result = pd.DataFrame(index=names.index)
    result["municipality"] = names
    result["datasets_provided"] = grouped.size().reindex(names.index, fill_value=0).astype("int64")
    result["datasets_total"] = len(DATASETS)
    result["coverage"] = (result["datasets_provided"] / len(DATASETS)).round(3)
    counts = {
        "datasets_online": provided["rows_online"] > 0,
        "datasets_blocked": provided["state"] == "blocked",
        "datasets_failed": provided["state"].isin(["failed", "not_published"]),
    }
    for column, mask in counts.items():
        result[column] = mask.groupby(provided["ins_code"]).sum().reindex(names.index, fill_value=0)
        result[column] = result[column].astype("int64")
    for column in ("rows_online", "rows_rejected", "points_outside_commune"):
        result[column] = grouped[column].sum().reindex(names.index, fill_value=0).astype("int64")
    result["completeness"] = grouped["completeness"].mean().reindex(names.index).round(3)
    result["oldest_success_days"] = grouped["days_since_success"].max().reindex(names.index)
    result["score"] = grouped["score"].mean().reindex(names.index).round(1)
    return result.reset_index()[COMMUNE_COLUMNS]
